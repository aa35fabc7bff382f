from odoo.exceptions import AccessError, ValidationError
from odoo.tests import tagged

from .common import PaylinkCommon


@tagged("post_install", "-at_install")
class TestSettings(PaylinkCommon):
    def _save_settings(self, values):
        self.env["res.config.settings"].create(values).execute()

    def test_stripe_secrets_are_saved_but_never_read_back(self):
        """Test that the Stripe keys are stored for the company and never shown in clear."""
        self._save_settings(
            {
                "komet_paylink_stripe_secret_key": "sk_test_51Abcdefghijklmnop1234",
                "komet_paylink_stripe_webhook_secret": "whsec_secretvalue9876",
            }
        )
        self.assertEqual(
            self.company.sudo().komet_paylink_stripe_secret_key, "sk_test_51Abcdefghijklmnop1234"
        )
        settings = self.env["res.config.settings"].create({})
        self.assertFalse(settings.komet_paylink_stripe_secret_key)
        self.assertFalse(settings.komet_paylink_stripe_webhook_secret)
        self.assertEqual(settings.komet_paylink_stripe_key_hint, "sk_test_…1234")
        self.assertEqual(settings.komet_paylink_webhook_secret_hint, "whsec_…9876")

    def test_the_key_sets_the_provider_mode(self):
        """Test that a live key puts the company's provider live, and a test key in test mode."""
        self._save_settings({"komet_paylink_stripe_secret_key": "sk_live_51Live0000"})
        provider = self.env["payment.provider"]._paylink_provider_for(self.company)
        self.assertEqual(provider.state, "enabled")
        self.assertFalse(provider.is_published, "kept off Odoo's own payment forms")
        self._save_settings({"komet_paylink_stripe_secret_key": "sk_test_51Test0000"})
        self.assertEqual(provider.state, "test")

    def test_saving_without_typing_a_key_keeps_it(self):
        """Test that saving the settings with the key fields left empty keeps the stored keys."""
        self._save_settings({"komet_paylink_stripe_secret_key": "sk_live_keepme0001"})
        self._save_settings({"komet_paylink_lifetime_hours": 12})
        self.assertEqual(self.company.sudo().komet_paylink_stripe_secret_key, "sk_live_keepme0001")
        self.assertEqual(
            self.env["ir.config_parameter"].sudo().get_param("komet_paylink.lifetime_hours"), "12"
        )

    def test_malformed_keys_are_refused(self):
        """Test that a value that is not a Stripe key is refused and nothing is stored."""
        with self.assertRaises(ValidationError):
            self._save_settings({"komet_paylink_stripe_secret_key": "pk_test_publishable"})
        with self.assertRaises(ValidationError):
            self._save_settings({"komet_paylink_stripe_webhook_secret": "not-a-secret"})
        self.assertFalse(self.company.sudo().komet_paylink_stripe_secret_key)

    def test_lifetime_must_be_positive(self):
        """Test that a lifetime of zero hours is refused."""
        with self.assertRaises(ValidationError):
            self._save_settings({"komet_paylink_lifetime_hours": 0})

    def test_secrets_are_readable_only_by_admins(self):
        """Test that a role member who is not a Settings admin cannot read the Stripe keys."""
        self.company.sudo().komet_paylink_stripe_secret_key = "sk_test_hidden0001"
        for role, user in self.role_users.items():
            with self.subTest(role=role), self.assertRaises(AccessError):
                self.company.with_user(user).read(["komet_paylink_stripe_secret_key"])

    def test_defaults(self):
        """Test the defaults: 24 hours, not by default, demo mode off, Stripe's own API."""
        settings = self.env["res.config.settings"].create({})
        self.assertEqual(settings.komet_paylink_lifetime_hours, 24)
        self.assertFalse(settings.komet_paylink_send_by_default)
        self.assertFalse(settings.komet_paylink_stripe_api_base)
