from odoo.exceptions import ValidationError
from odoo.modules.migration import load_script
from odoo.tests import HttpCase, tagged
from odoo.tools import SQL, mute_logger

from .common import PaylinkCommon, PaylinkStripeCommon
from .stripe_fake import make_event


@tagged("post_install", "-at_install")
class TestProviderModes(PaylinkCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # As on a new database: no Stripe account, no demo mode.
        cls.env["payment.provider"]._paylink_provider_for(cls.company)._paylink_set_account(
            demo_mode=False
        )

    def _provider(self):
        return self.env["payment.provider"]._paylink_provider_for(self.company)

    def test_provider_declares_partial_refunds(self):
        """Test that Odoo's refund screens see refunds as supported, in full or in part."""
        provider = self._provider()
        self.assertEqual(provider.support_refund, "partial")
        self.assertEqual(provider.payment_method_ids.support_refund, "partial")

    def test_each_state_follows_the_key(self):
        """Test that the provider is disabled without a key, in test mode with a test key and
        enabled with a live key, and that no state contradicts the key."""
        provider = self._provider()
        self.assertEqual(provider.state, "disabled")
        provider._paylink_set_account(secret_key="sk_test_51Mode0001")
        self.assertEqual(provider.state, "test")
        self.assertFalse(provider._paylink_is_live())
        with self.assertRaises(ValidationError):
            provider.state = "enabled"
        provider._paylink_set_account(secret_key="sk_live_51Mode0002")
        self.assertEqual(provider.state, "enabled")
        self.assertTrue(provider._paylink_is_live())
        with self.assertRaises(ValidationError):
            provider.state = "test"
        provider.state = "disabled"
        self.assertTrue(provider._paylink_is_live(), "a disabled provider keeps its key's mode")

    def test_disabled_provider_opens_no_checkout(self):
        """Test that a disabled provider makes Pay refuse with a clear message."""
        link, __ = self._send_link()
        with self.assertRaisesRegex(Exception, "not available"):
            link._paylink_start_checkout()
        self.assertFalse(link.transaction_ids)

    def test_migration_moves_the_keys_from_the_company(self):
        """Test that a database with the Stripe keys on the company keeps working after the
        upgrade: the keys land on the company's provider and leave the company table."""
        cr = self.env.cr
        for column in ("komet_paylink_stripe_secret_key", "komet_paylink_stripe_webhook_secret"):
            cr.execute(SQL("ALTER TABLE res_company ADD COLUMN %s varchar", SQL.identifier(column)))
        cr.execute(
            "UPDATE res_company SET komet_paylink_stripe_secret_key = %s, "
            "komet_paylink_stripe_webhook_secret = %s WHERE id = %s",
            ["sk_live_51Migrated0001", "whsec_migrated0001", self.company.id],
        )
        self.env["ir.config_parameter"].set_param("komet_paylink.demo_mode", "True")
        migration = load_script(
            "komet_paylink/migrations/18.0.1.1.0/post-migrate.py", "komet_paylink_18_0_1_1_0"
        )
        migration.migrate(cr, "18.0.1.0.0")
        provider = self._provider().sudo()
        self.assertEqual(provider.komet_stripe_secret_key, "sk_live_51Migrated0001")
        self.assertEqual(provider.komet_stripe_webhook_secret, "whsec_migrated0001")
        self.assertEqual(provider.state, "enabled")
        self.assertFalse(provider.komet_demo_mode, "never demo mode with a live key")
        cr.execute(
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'res_company' "
            "AND column_name LIKE 'komet_paylink_stripe%%'"
        )
        self.assertEqual(cr.fetchone()[0], 0, "no secret is left on the company table")
        self.assertFalse(self.env["ir.config_parameter"].get_param("komet_paylink.demo_mode"))


@tagged("post_install", "-at_install")
class TestProviderStripe(PaylinkStripeCommon, HttpCase):
    def _paid_transaction(self):
        link, __, __ = self._open_checkout()
        transaction = link.transaction_ids
        session = self._pay_session(transaction)
        response = self._deliver(make_event("checkout.session.completed", session))
        self.assertEqual(response.json()["outcome"], "done")
        return transaction

    def _charge(self, transaction):
        return {
            "id": f"ch_{transaction.komet_stripe_payment_intent}",
            "object": "charge",
            "payment_intent": transaction.komet_stripe_payment_intent,
            "livemode": False,
        }

    def _refund_transactions(self, transaction):
        return transaction.child_transaction_ids.filtered(lambda tx: tx.operation == "refund")

    def test_refund_from_odoo_reaches_stripe(self):
        """Test that a partial refund from Odoo's payment screen goes to Stripe through the
        SDK with an idempotency key, and is recorded as a refund payment."""
        transaction = self._paid_transaction()
        payment = transaction.payment_id
        self.assertEqual(payment.amount_available_for_refund, 1150.0)
        wizard = (
            self.env["payment.refund.wizard"]
            .with_user(self.role_users["admin"])
            .with_context(active_model="account.payment", active_id=payment.id)
            .create({"amount_to_refund": 300.0})
        )
        self.assertEqual(wizard.support_refund, "partial")
        wizard.action_refund()
        request = self.stripe.last_request("/v1/refunds")
        self.assertEqual(request["method"], "POST")
        self.assertEqual(request["params"]["payment_intent"], "pi_test_1")
        self.assertEqual(request["params"]["amount"], "30000")
        self.assertTrue(request["headers"].get("idempotency-key"))
        refund_tx = self._refund_transactions(transaction)
        self.assertEqual(refund_tx.state, "done")
        self.assertEqual(refund_tx.amount, -300.0)
        self.assertEqual(refund_tx.payment_id.amount, 300.0)
        self.assertEqual(refund_tx.payment_id.payment_type, "outbound")
        payment.invalidate_recordset(["amount_available_for_refund"])
        self.assertEqual(payment.amount_available_for_refund, 850.0)
        self.assertIn(
            "Refund of", " ".join(self._paylink_chatter_bodies(self.invoice)), "chatter note"
        )
        # Stripe then announces the same refund: nothing more is recorded.
        self._deliver(make_event("charge.refunded", self._charge(transaction)))
        self.assertEqual(len(self._refund_transactions(transaction)), 1)

    def test_dashboard_refund_delivered_twice_is_recorded_once(self):
        """Test that a refund made in Stripe's dashboard is recorded once in Odoo, however
        often `charge.refunded` is delivered."""
        transaction = self._paid_transaction()
        refund = self.stripe.add_refund("pi_test_1", 115000)
        for __ in range(2):
            response = self._deliver(make_event("charge.refunded", self._charge(transaction)))
            self.assertEqual(response.status_code, 200)
        refund_tx = self._refund_transactions(transaction)
        self.assertEqual(len(refund_tx), 1)
        self.assertEqual(refund_tx.provider_reference, refund["id"])
        self.assertEqual(refund_tx.state, "done")
        self.assertEqual(refund_tx.payment_id.amount, 1150.0)
        bodies = " ".join(self._paylink_chatter_bodies(self.invoice))
        self.assertEqual(bodies.count(refund["id"]), 1, "one chatter note for the refund")

    def test_dispute_creates_an_activity_for_the_cashiers(self):
        """Test that a dispute gives the cashiers a to-do on the invoice, once."""
        transaction = self._paid_transaction()
        dispute = {
            "id": "dp_test_1",
            "object": "dispute",
            "payment_intent": "pi_test_1",
            "charge": "ch_pi_test_1",
            "amount": 115000,
            "reason": "fraudulent",
            "livemode": False,
        }
        event = make_event("charge.dispute.created", dispute)
        self.assertEqual(self._deliver(event).json()["outcome"], "dispute")
        self.assertEqual(self._deliver(event).json()["outcome"], "duplicate")
        activities = self.invoice.activity_ids.filtered(lambda a: "disputed" in a.summary)
        self.assertEqual(activities.user_id, self.role_users["cashier"])
        self.assertIn("dp_test_1", activities.note)
        self.assertEqual(transaction.state, "done")

    def test_live_key_never_goes_to_the_api_base(self):
        """Test that with a live key the configured API base is ignored: the key is never
        sent to the fake."""
        self.provider._paylink_set_account(secret_key="sk_live_51NeverToTheFake")
        client = self.provider._paylink_stripe_client()
        self.assertNotIn("127.0.0.1", str(client._requestor.base_addresses))
        link, token = self._send_link()
        page = self.url_open(f"/pay/{token}")
        with mute_logger("odoo.addons.komet_paylink.models.payment_provider"):
            response = self._post_form(f"/pay/{token}/checkout", page)
        self.assertNotEqual(response.status_code, 303)
        self.assertFalse(self.stripe.requests, "the fake received nothing")

    def test_test_key_uses_the_api_base(self):
        """Test that with a test key the configured API base is used."""
        client = self.provider._paylink_stripe_client()
        self.assertIn(self.stripe.base_url, str(client._requestor.base_addresses))

    def test_two_companies_sharing_one_stripe_account_both_get_their_events(self):
        """Test that one webhook secret shared by two companies' providers books each
        company's payment."""
        other_company = self.setup_other_company(name="Sister Wholesaler")["company"]
        other_provider = self.env["payment.provider"]._paylink_provider_for(other_company)
        other_provider._paylink_set_account(
            secret_key=self.secret_key, webhook_secret=self.webhook_secret
        )
        other_invoice = self._paylink_posted_invoice(
            self.role_users["sales"], 99.0, company=other_company
        )
        for invoice in (self.invoice, other_invoice):
            with self.subTest(company=invoice.company_id.name):
                link, token = self._send_link(invoice, user=self.env.user)
                page = self.url_open(f"/pay/{token}")
                self.assertEqual(self._post_form(f"/pay/{token}/checkout", page).status_code, 303)
                transaction = link.transaction_ids
                self.assertEqual(transaction.provider_id.company_id, invoice.company_id)
                session = self._pay_session(transaction)
                outcome = self._deliver(make_event("checkout.session.completed", session))
                self.assertEqual(outcome.json()["outcome"], "done")
                self.assertEqual(link.state, "paid")
                self.assertIn(invoice.payment_state, ("paid", "in_payment"))
