from odoo.exceptions import AccessError, ValidationError
from odoo.tests import tagged

from .common import PaylinkCommon


@tagged("post_install", "-at_install")
class TestSettings(PaylinkCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # As on a new database: no Stripe account, no demo mode.
        cls.env["payment.provider"]._paylink_provider_for(cls.company)._paylink_set_account(
            demo_mode=False
        )

    def _save_settings(self, values):
        self.env["res.config.settings"].create(values).execute()

    def _provider(self):
        return self.env["payment.provider"]._paylink_provider_for(self.company)

    def test_stripe_secrets_are_saved_but_never_read_back(self):
        """Test that the Stripe keys land on the company's provider and are never shown in
        clear."""
        self._save_settings(
            {
                "komet_paylink_stripe_secret_key": "sk_test_51Abcdefghijklmnop1234",
                "komet_paylink_stripe_webhook_secret": "whsec_secretvalue9876",
            }
        )
        provider = self._provider().sudo()
        self.assertEqual(provider.komet_stripe_secret_key, "sk_test_51Abcdefghijklmnop1234")
        self.assertEqual(provider.komet_stripe_webhook_secret, "whsec_secretvalue9876")
        self.assertEqual(provider.company_id, self.company)
        settings = self.env["res.config.settings"].create({})
        self.assertFalse(settings.komet_paylink_stripe_secret_key)
        self.assertFalse(settings.komet_paylink_stripe_webhook_secret)
        self.assertEqual(settings.komet_paylink_stripe_key_hint, "sk_test_…1234")
        self.assertEqual(settings.komet_paylink_webhook_secret_hint, "whsec_…9876")

    def test_the_key_sets_the_provider_mode(self):
        """Test that a live key puts the company's provider live, and a test key in test mode."""
        self._save_settings({"komet_paylink_stripe_secret_key": "sk_live_51Live0000"})
        provider = self._provider()
        self.assertEqual(provider.state, "enabled")
        self.assertFalse(provider.is_published, "kept off Odoo's own payment forms")
        self._save_settings({"komet_paylink_stripe_secret_key": "sk_test_51Test0000"})
        self.assertEqual(provider.state, "test")

    def test_saving_without_typing_a_key_keeps_it(self):
        """Test that saving the settings with the key fields left empty keeps the stored keys."""
        self._save_settings({"komet_paylink_stripe_secret_key": "sk_live_keepme0001"})
        self._save_settings({"komet_paylink_lifetime_hours": 12})
        self.assertEqual(self._provider().sudo().komet_stripe_secret_key, "sk_live_keepme0001")
        self.assertEqual(
            self.env["ir.config_parameter"].sudo().get_param("komet_paylink.lifetime_hours"), "12"
        )

    def test_malformed_keys_are_refused(self):
        """Test that a value that is not a Stripe key is refused and nothing is stored."""
        with self.assertRaises(ValidationError):
            self._save_settings({"komet_paylink_stripe_secret_key": "pk_test_publishable"})
        with self.assertRaises(ValidationError):
            self._save_settings({"komet_paylink_stripe_webhook_secret": "not-a-secret"})
        self.assertFalse(self._provider().sudo().komet_stripe_secret_key)

    def test_lifetime_must_be_positive(self):
        """Test that a lifetime of zero hours is refused."""
        with self.assertRaises(ValidationError):
            self._save_settings({"komet_paylink_lifetime_hours": 0})

    def test_unopened_lifetime_is_30_days_by_default_and_must_be_positive(self):
        """Test that the lifetime of an unopened link is 30 days by default, is saved in its
        system parameter and refuses zero or fewer days."""
        self.assertEqual(self.env["res.config.settings"].create({}).komet_paylink_unopened_days, 30)
        self._save_settings({"komet_paylink_unopened_days": 7})
        self.assertEqual(
            self.env["ir.config_parameter"].sudo().get_param("komet_paylink.unopened_days"), "7"
        )
        for days in (0, -1):
            with self.subTest(days=days), self.assertRaises(ValidationError):
                self._save_settings({"komet_paylink_unopened_days": days})

    def test_secrets_are_readable_only_by_admins(self):
        """Test that a role member who is not a Settings admin cannot read the Stripe keys."""
        provider = self._provider()
        provider._paylink_set_account(secret_key="sk_test_hidden0001")
        for role, user in self.role_users.items():
            for field in ("komet_stripe_secret_key", "komet_stripe_webhook_secret"):
                with self.subTest(role=role, field=field), self.assertRaises(AccessError):
                    provider.with_user(user).read([field])

    def test_defaults(self):
        """Test the defaults: 24 hours, not by default, demo mode off, Stripe's own API."""
        settings = self.env["res.config.settings"].create({})
        self.assertEqual(settings.komet_paylink_lifetime_hours, 24)
        self.assertFalse(settings.komet_paylink_send_by_default)
        self.assertFalse(settings.komet_paylink_stripe_api_base)
        self.assertFalse(settings.komet_paylink_demo_mode)

    def test_demo_mode_is_the_providers_and_refused_with_a_live_key(self):
        """Test that demo mode is set on the company's provider (in test mode), and refused
        while a live key is set."""
        self._save_settings({"komet_paylink_demo_mode": True})
        provider = self._provider()
        self.assertTrue(provider.komet_demo_mode)
        self.assertEqual(provider.state, "test")
        self.assertTrue(self.env["res.config.settings"].create({}).komet_paylink_demo_mode)
        with self.assertRaises(ValidationError):
            self._save_settings({"komet_paylink_stripe_secret_key": "sk_live_51Live0000"})
        self.assertFalse(provider.sudo().komet_stripe_secret_key)
        self._save_settings(
            {"komet_paylink_demo_mode": False, "komet_paylink_stripe_secret_key": "sk_live_51L00"}
        )
        self.assertEqual(provider.state, "enabled")
        with self.assertRaises(ValidationError):
            self._save_settings({"komet_paylink_demo_mode": True})
        self.assertFalse(provider.komet_demo_mode)

    def test_the_provider_shows_its_webhook_address(self):
        """Test that the settings and the provider give the webhook address to paste in
        Stripe, and the mode."""
        self._save_settings({"komet_paylink_stripe_secret_key": "sk_test_51Test0000"})
        settings = self.env["res.config.settings"].create({})
        expected = f"{self.company.get_base_url()}/komet_paylink/webhook/stripe"
        self.assertEqual(settings.komet_paylink_webhook_url, expected)
        self.assertEqual(self._provider().komet_webhook_url, expected)
        self.assertEqual(settings.komet_paylink_provider_state, "test")

    def test_partial_payments_are_off_by_default_and_saved_per_company(self):
        """Test that partial payments start off, and the setting and its minimum percent are
        saved on the company."""
        settings = self.env["res.config.settings"].create({})
        self.assertFalse(settings.komet_paylink_partial_payments)
        self.assertEqual(settings.komet_paylink_partial_min_percent, 10.0)
        self._save_settings(
            {"komet_paylink_partial_payments": True, "komet_paylink_partial_min_percent": 25.0}
        )
        self.assertTrue(self.company.komet_paylink_partial_payments)
        self.assertEqual(self.company.komet_paylink_partial_min_percent, 25.0)
        with self.assertRaises(ValidationError):
            self._save_settings({"komet_paylink_partial_min_percent": 150.0})
