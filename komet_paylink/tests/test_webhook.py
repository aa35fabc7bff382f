import time

from odoo.tests import HttpCase, tagged
from odoo.tools import mute_logger

from .common import PaylinkStripeCommon
from .stripe_fake import make_event


@tagged("post_install", "-at_install")
class TestWebhook(PaylinkStripeCommon, HttpCase):
    def _checkout_transaction(self):
        link, __, __ = self._open_checkout()
        return link, link.transaction_ids

    def _payments(self):
        return self.env["account.payment"].search(
            [("payment_transaction_id.komet_paylink_id", "!=", False)]
        )

    def assertNothingBooked(self, link):
        self.assertNotEqual(link.state, "paid")
        self.assertEqual(self.invoice.payment_state, "not_paid")
        self.assertFalse(link.transaction_ids.payment_id)

    def test_completed_and_paid_books_the_payment_once(self):
        """Test that a signed completed event books one payment and reconciles the invoice."""
        link, transaction = self._checkout_transaction()
        session = self._pay_session(transaction)
        response = self._deliver(make_event("checkout.session.completed", session))
        self.assertEqual(response.status_code, 200)
        self.assertEqual(link.state, "paid")
        self.assertEqual(transaction.state, "done")
        self.assertEqual(transaction.payment_id.amount, 1150.0)
        self.assertIn(self.invoice.payment_state, ("paid", "in_payment"))
        self.assertEqual(self.invoice.amount_residual, 0.0)
        self.assertTrue(
            any("Payment link paid" in body for body in self._paylink_chatter_bodies(self.invoice))
        )
        retrieve = self.stripe.last_request(
            f"/v1/checkout/sessions/{transaction.provider_reference}"
        )
        self.assertEqual(retrieve["method"], "GET", "the session is read back from Stripe")

    def test_duplicate_event_books_nothing_more(self):
        """Test that the same event delivered twice is stored once and books one payment."""
        link, transaction = self._checkout_transaction()
        event = make_event("checkout.session.completed", self._pay_session(transaction))
        self.assertEqual(self._deliver(event).status_code, 200)
        second = self._deliver(event)
        self.assertEqual(second.status_code, 200)
        self.assertEqual(second.json()["outcome"], "duplicate")
        self.assertEqual(len(self._payments()), 1)
        self.assertEqual(
            self.env["komet.paylink.event"].search_count([("stripe_event_id", "=", event["id"])]), 1
        )

    def test_forged_signature_is_refused(self):
        """Test that an event signed with another secret answers 400 and changes nothing."""
        link, transaction = self._checkout_transaction()
        event = make_event("checkout.session.completed", self._pay_session(transaction))
        response = self._deliver(event, secret="whsec_attacker")
        self.assertEqual(response.status_code, 400)
        self.assertNothingBooked(link)
        self.assertFalse(self.env["komet.paylink.event"].search([]))

    def test_stale_signature_is_refused(self):
        """Test that an event signed more than 300 seconds ago answers 400."""
        link, transaction = self._checkout_transaction()
        event = make_event("checkout.session.completed", self._pay_session(transaction))
        response = self._deliver(event, timestamp=int(time.time()) - 301)
        self.assertEqual(response.status_code, 400)
        self.assertNothingBooked(link)

    def test_malformed_or_missing_header_is_refused(self):
        """Test that a malformed or missing signature header answers 400."""
        link, transaction = self._checkout_transaction()
        event = make_event("checkout.session.completed", self._pay_session(transaction))
        for header in ("", "garbage", "t=abc,v1=", f"t={int(time.time())}"):
            with self.subTest(header=header):
                self.assertEqual(self._deliver(event, header=header).status_code, 400)
        self.assertNothingBooked(link)

    def test_no_secret_configured_refuses_every_event(self):
        """Test that with no webhook secret set, even a well-signed event is refused."""
        link, transaction = self._checkout_transaction()
        self.provider.sudo().komet_stripe_webhook_secret = False
        event = make_event("checkout.session.completed", self._pay_session(transaction))
        self.assertEqual(self._deliver(event).status_code, 400)
        self.assertNothingBooked(link)

    def test_amount_or_currency_mismatch_books_nothing(self):
        """Test that a session whose amount or currency differs from the link books nothing."""
        link, transaction = self._checkout_transaction()
        for changes in ({"amount_total": 100}, {"currency": "jpy"}):
            with (
                self.subTest(changes=changes),
                mute_logger("odoo.addons.komet_paylink.models.payment_transaction"),
            ):
                session = self._pay_session(transaction, **changes)
                response = self._deliver(make_event("checkout.session.completed", session))
                self.assertEqual(response.status_code, 200)
                self.assertEqual(response.json()["outcome"], "rejected")
        self.assertNothingBooked(link)

    def test_event_payload_is_not_trusted(self):
        """Test that a paid event whose session Stripe still reports unpaid books nothing."""
        link, transaction = self._checkout_transaction()
        forged_session = dict(self.stripe.sessions[transaction.provider_reference])
        forged_session.update(status="complete", payment_status="paid")
        response = self._deliver(make_event("checkout.session.completed", forged_session))
        self.assertEqual(response.status_code, 200)
        self.assertNothingBooked(link)

    def test_test_mode_event_against_live_keys_is_ignored(self):
        """Test that a test-mode event is ignored when the company runs on live keys."""
        link, transaction = self._checkout_transaction()
        event = make_event("checkout.session.completed", self._pay_session(transaction))
        self.provider._paylink_set_account(secret_key="sk_live_51KometLiveKey0000")
        with mute_logger("odoo.addons.komet_paylink.models.komet_paylink_event"):
            response = self._deliver(event)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.json()["outcome"], "ignored")
        self.assertNothingBooked(link)

    def test_async_payment_succeeds_later(self):
        """Test that a bank debit is pending at completion and booked when it succeeds."""
        link, transaction = self._checkout_transaction()
        session = self._pay_session(transaction, payment_status="unpaid")
        self._deliver(make_event("checkout.session.completed", session))
        self.assertEqual(transaction.state, "pending")
        self.assertNothingBooked(link)
        session = self._pay_session(transaction)
        self._deliver(make_event("checkout.session.async_payment_succeeded", session))
        self.assertEqual(transaction.state, "done")
        self.assertEqual(link.state, "paid")
        self.assertEqual(len(self._payments()), 1)

    def test_async_payment_failure_books_nothing(self):
        """Test that a failed bank debit leaves the invoice unpaid and the link payable."""
        link, transaction = self._checkout_transaction()
        session = self._pay_session(transaction, payment_status="unpaid")
        self._deliver(make_event("checkout.session.completed", session))
        self._deliver(make_event("checkout.session.async_payment_failed", session))
        self.assertEqual(transaction.state, "error")
        self.assertNothingBooked(link)
        self.assertEqual(link._paylink_page_state(), "active")

    def test_expired_after_completed_changes_nothing(self):
        """Test that an `expired` event arriving after the payment leaves it booked."""
        link, transaction = self._checkout_transaction()
        session = self._pay_session(transaction)
        self._deliver(make_event("checkout.session.completed", session))
        self._deliver(make_event("checkout.session.expired", session))
        self.assertEqual(transaction.state, "done")
        self.assertEqual(link.state, "paid")
        self.assertEqual(len(self._payments()), 1)

    def test_expired_session_cancels_the_transaction(self):
        """Test that an expired, unpaid session cancels its transaction and books nothing."""
        link, transaction = self._checkout_transaction()
        self.stripe.set_session(transaction.provider_reference, status="expired")
        session = self.stripe.sessions[transaction.provider_reference]
        self._deliver(make_event("checkout.session.expired", session))
        self.assertEqual(transaction.state, "cancel")
        self.assertNothingBooked(link)

    def test_stripe_unreachable_answers_503_and_a_retry_books(self):
        """Test that an event that cannot be checked yet answers 503 and is booked on retry."""
        link, transaction = self._checkout_transaction()
        event = make_event("checkout.session.completed", self._pay_session(transaction))
        self.stripe.fail_next(500, count=2)
        with mute_logger("odoo.addons.komet_paylink.models.payment_provider"):
            response = self._deliver(event)
        self.assertEqual(response.status_code, 503)
        self.assertNothingBooked(link)
        self.assertEqual(self._deliver(event).status_code, 200)
        self.assertEqual(link.state, "paid")

    def test_unhandled_event_types_are_acknowledged(self):
        """Test that an event type we do not handle answers 2xx and changes nothing."""
        link, transaction = self._checkout_transaction()
        session = self._pay_session(transaction)
        response = self._deliver(make_event("payment_intent.succeeded", session))
        self.assertEqual(response.status_code, 200)
        self.assertNothingBooked(link)

    def test_money_taken_after_the_link_expired_is_booked(self):
        """Test that a payment Stripe took is booked even if the link expired meanwhile."""
        link, transaction = self._checkout_transaction()
        link._paylink_mark_expired()
        session = self._pay_session(transaction)
        self._deliver(make_event("checkout.session.completed", session))
        self.assertEqual(transaction.state, "done")
        self.assertEqual(transaction.payment_id.amount, 1150.0)
        self.assertIn(self.invoice.payment_state, ("paid", "in_payment"))
