from unittest.mock import patch

from odoo.exceptions import ValidationError
from odoo.modules.migration import load_script
from odoo.tests import HttpCase, tagged
from odoo.tools import mute_logger

from odoo.addons.account.models.account_payment import AccountPayment

from .common import PaylinkStripeCommon
from .stripe_fake import make_event

EVENT_LOGGER = "odoo.addons.komet_paylink.models.komet_paylink_event"


@tagged("post_install", "-at_install")
class TestMoneyEvents(PaylinkStripeCommon, HttpCase):
    """No money event is lost: early, changing, refused or twice-received events."""

    def _paid_at_stripe(self, payment_intent="pi_test_1"):
        """A link whose customer paid at Stripe; its completed event not delivered yet."""
        link, __, __ = self._open_checkout()
        transaction = link.transaction_ids
        session = self._pay_session(transaction, payment_intent=payment_intent)
        return transaction, make_event("checkout.session.completed", session)

    def _charge_event(self, event_type, payment_intent="pi_test_1"):
        charge = {
            "id": f"ch_{payment_intent}",
            "object": "charge",
            "payment_intent": payment_intent,
            "livemode": False,
        }
        return make_event(event_type, charge)

    def _refund_txs(self, transaction):
        return transaction.child_transaction_ids.filtered(lambda tx: tx.operation == "refund")

    def _events(self, event):
        return self.env["komet.paylink.event"].search([("stripe_event_id", "=", event["id"])])

    def test_a_refund_before_its_payment_is_retried_until_the_payment_is_booked(self):
        """Test that a refund event arriving before its payment is booked answers 503 and is
        not stored, so that Stripe delivers it again, and is recorded once the payment is."""
        transaction, completed = self._paid_at_stripe()
        self.stripe.add_refund("pi_test_1", 20000)
        refunded = self._charge_event("charge.refunded")
        with mute_logger(EVENT_LOGGER):
            response = self._deliver(refunded)
        self.assertEqual(response.status_code, 503)
        self.assertFalse(self._events(refunded), "not stored: Stripe's retry is processed")
        self.assertEqual(self._deliver(completed).json()["outcome"], "done")
        response = self._deliver(refunded)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.json()["outcome"], "refunded")
        refund_tx = self._refund_txs(transaction)
        self.assertEqual(refund_tx.state, "done")
        self.assertEqual(refund_tx.payment_id.amount, 200.0)

    def test_a_dispute_before_its_payment_is_retried(self):
        """Test that a dispute arriving before its payment is booked answers 503, then gives
        the cashiers their to-do once the payment is booked."""
        __, completed = self._paid_at_stripe()
        dispute = {
            "id": "dp_test_1",
            "object": "dispute",
            "payment_intent": "pi_test_1",
            "amount": 115000,
            "reason": "fraudulent",
            "livemode": False,
        }
        event = make_event("charge.dispute.created", dispute)
        with mute_logger(EVENT_LOGGER):
            self.assertEqual(self._deliver(event).status_code, 503)
        self._deliver(completed)
        self.assertEqual(self._deliver(event).json()["outcome"], "dispute")
        self.assertTrue(self.invoice.activity_ids.filtered(lambda a: "disputed" in a.summary))

    def test_a_pending_refund_that_later_fails_is_followed(self):
        """Test that a pending refund (a bank debit's) is recorded pending, then in error when
        Stripe reports it failed through `charge.refund.updated`, and the invoice stays paid."""
        transaction, completed = self._paid_at_stripe()
        self._deliver(completed)
        refund = self.stripe.add_refund("pi_test_1", 115000, status="pending")
        self.assertEqual(
            self._deliver(self._charge_event("charge.refunded")).json()["outcome"], "refunded"
        )
        refund_tx = self._refund_txs(transaction)
        self.assertEqual(refund_tx.state, "pending")
        self.assertFalse(refund_tx.payment_id, "nothing booked while the refund is pending")
        failed = self.stripe.set_refund(refund["id"], status="failed")
        response = self._deliver(make_event("charge.refund.updated", failed))
        self.assertEqual(response.json()["outcome"], "refunded")
        self.assertEqual(refund_tx.state, "error")
        self.assertFalse(refund_tx.payment_id)
        self.assertIn(self.invoice.payment_state, ("paid", "in_payment"))

    def test_a_pending_refund_that_succeeds_is_booked(self):
        """Test that a pending refund becomes done, with its payment, when Stripe reports it
        succeeded."""
        transaction, completed = self._paid_at_stripe()
        self._deliver(completed)
        refund = self.stripe.add_refund("pi_test_1", 30000, status="pending")
        self._deliver(self._charge_event("charge.refunded"))
        succeeded = self.stripe.set_refund(refund["id"], status="succeeded")
        self._deliver(make_event("charge.refund.updated", succeeded))
        refund_tx = self._refund_txs(transaction)
        self.assertEqual(refund_tx.state, "done")
        self.assertEqual(refund_tx.payment_id.amount, 300.0)

    def test_a_booking_refused_by_validation_is_a_todo_then_replayed(self):
        """Test that a payment whose booking Odoo's validation refuses books nothing, gives
        the cashiers a to-do saying what to fix, and is booked when its event is replayed."""
        transaction, completed = self._paid_at_stripe()
        refusal = ValidationError("The journal Bank has no outstanding receipts account.")
        with (
            patch.object(AccountPayment, "action_post", side_effect=refusal),
            mute_logger(EVENT_LOGGER),
        ):
            response = self._deliver(completed)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.json()["outcome"], "failed")
        self.assertFalse(transaction.payment_id)
        self.assertEqual(self.invoice.payment_state, "not_paid")
        activity = self.invoice.activity_ids.filtered(lambda a: "not booked" in a.summary)
        self.assertEqual(activity.user_id, self.role_users["cashier"])
        self.assertIn("no outstanding receipts account", activity.note)
        event = self._events(completed)
        self.assertEqual(event.outcome, "failed")
        self.assertIn("outstanding receipts", event.error)
        self.assertEqual(self._deliver(completed).json()["outcome"], "duplicate")
        event.with_user(self.role_users["cashier"]).action_replay()
        self.assertEqual(event.outcome, "done")
        self.assertFalse(event.error)
        self.assertEqual(transaction.state, "done")
        self.assertEqual(transaction.payment_id.amount, 1150.0)
        self.assertIn(self.invoice.payment_state, ("paid", "in_payment"))

    def test_two_endpoints_of_one_account_each_receive_the_event(self):
        """Test that the same event reaching first another company's endpoint (its own
        secret, the same Stripe account) is still booked by the endpoint it belongs to."""
        other_company = self.setup_other_company(name="Sister Wholesaler")["company"]
        other_provider = self.env["payment.provider"]._paylink_provider_for(other_company)
        other_secret = "whsec_komet_other_endpoint"
        other_provider._paylink_set_account(secret_key=self.secret_key, webhook_secret=other_secret)
        transaction, completed = self._paid_at_stripe()
        first = self._deliver(completed, secret=other_secret)
        self.assertEqual(first.json()["outcome"], "ignored")
        self.assertEqual(transaction.state, "draft")
        second = self._deliver(completed)
        self.assertEqual(second.json()["outcome"], "done")
        self.assertEqual(transaction.state, "done")
        events = self._events(completed)
        self.assertEqual(events.provider_id, self.provider | other_provider)
        self.assertEqual(self._deliver(completed).json()["outcome"], "duplicate")

    def test_migration_gives_stored_events_their_provider(self):
        """Test that the events stored before events were kept per provider get their
        company's provider on upgrade, and stay duplicates of a new delivery."""
        transaction, completed = self._paid_at_stripe()
        self._deliver(completed)
        event = self._events(completed)
        self.env.cr.execute(
            "UPDATE komet_paylink_event SET provider_id = NULL, transaction_id = NULL "
            "WHERE id = %s",
            [event.id],
        )
        migration = load_script(
            "komet_paylink/migrations/18.0.1.4.0/post-migrate.py", "komet_paylink_18_0_1_4_0"
        )
        migration.migrate(self.env.cr, "18.0.1.3.0")
        event.invalidate_recordset()
        self.assertEqual(event.provider_id, self.provider)
        self.assertEqual(self._deliver(completed).json()["outcome"], "duplicate")
        self.assertEqual(transaction.state, "done")
