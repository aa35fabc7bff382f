import re
from datetime import timedelta
from urllib.parse import urlsplit

from freezegun import freeze_time

from odoo import fields
from odoo.tests import HttpCase, tagged

from .common import PaylinkStripeCommon
from .stripe_fake import make_event


@tagged("post_install", "-at_install")
class TestPartialPayment(PaylinkStripeCommon, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company.write(
            {"komet_paylink_partial_payments": True, "komet_paylink_partial_min_percent": 10.0}
        )

    def _pay_amount(self, token, amount):
        page = self.url_open(f"/pay/{token}")
        return self._post_form(f"/pay/{token}/checkout", page, amount=amount)

    def _book(self, transaction, payment_intent="pi_test_1"):
        session = self._pay_session(transaction, payment_intent=payment_intent)
        event = make_event("checkout.session.completed", session)
        self.assertEqual(self._deliver(event).status_code, 200)

    def test_page_offers_another_amount_as_a_plain_form_field(self):
        """Test that the page offers "Pay another amount" as a form field named `amount`,
        beside paying everything, with the range it accepts."""
        __, token = self._send_link()
        page = self.url_open(f"/pay/{token}")
        self.assertEqual(page.status_code, 200)
        self.assertIn("Pay another amount", page.text)
        self.assertIn('name="amount"', page.text)
        self.assertIn("o_komet_paylink_pay", page.text)
        self.assertIn("115.00", page.text, "the minimum: 10% of 1,150.00")

    def test_partial_payment_books_partial_and_the_link_stays_payable(self):
        """Test that paying part books a payment of that amount, leaves the invoice partial
        with its residual reduced, and the link payable for the rest."""
        link, token = self._send_link()
        response = self._pay_amount(token, "400.00")
        self.assertEqual(response.status_code, 303)
        transaction = link.transaction_ids
        self.assertEqual(transaction.amount, 400.0)
        item = self.stripe.last_request("/v1/checkout/sessions")["params"]["line_items"][0]
        self.assertEqual(item["price_data"]["unit_amount"], "40000")
        self._book(transaction)
        self.assertEqual(transaction.state, "done")
        self.assertEqual(self.invoice.payment_state, "partial")
        self.assertEqual(self.invoice.amount_residual, 750.0)
        self.assertNotEqual(link.state, "paid")
        page = self.url_open(f"/pay/{token}")
        self.assertEqual(page.status_code, 200)
        self.assertIn("o_komet_paylink_pay", page.text)
        self.assertIn("750.00", page.text)
        self.assertNotIn("o_komet_paylink_receipt", page.text)
        rest = self._post_form(f"/pay/{token}/checkout", page)
        self.assertEqual(rest.status_code, 303)
        self.assertEqual((link.transaction_ids - transaction).amount, 750.0)

    def test_try_again_after_a_cancelled_partial_checkout_pays_the_same_part(self):
        """Test that Try again after cancelling the checkout of a part pays that part again,
        not everything."""
        link, token = self._send_link()
        self.assertEqual(self._pay_amount(token, "400").status_code, 303)
        attempt = link.transaction_ids
        cancel = urlsplit(self.stripe.sessions[attempt.provider_reference]["cancel_url"])
        back = self.url_open(f"{cancel.path}?{cancel.query}")
        attempt_id = re.search(r'name="attempt" value="(\d+)"', back.text).group(1)
        retried = self._post_form("/pay/return/retry", back, attempt=attempt_id)
        self.assertEqual(retried.status_code, 303)
        self.assertEqual(
            retried.headers["Location"], self.stripe.sessions[attempt.provider_reference]["url"]
        )
        self.stripe.set_session(attempt.provider_reference, status="expired")
        with freeze_time(fields.Datetime.now() + timedelta(seconds=11)):
            retried = self._post_form("/pay/return/retry", back, attempt=attempt_id)
        self.assertEqual(retried.status_code, 303)
        self.assertEqual((link.transaction_ids - attempt).amount, 400.0)

    def test_paying_the_rest_closes_the_link_as_paid(self):
        """Test that a partial payment then the rest leave the invoice paid and the link
        paid."""
        link, token = self._send_link()
        self._pay_amount(token, "150")
        self._book(link.transaction_ids)
        page = self.url_open(f"/pay/{token}")
        self._post_form(f"/pay/{token}/checkout", page)
        rest = link.transaction_ids.filtered(lambda tx: tx.state == "draft")
        self.assertEqual(rest.amount, 1000.0)
        self._book(rest, payment_intent="pi_test_2")
        self.assertIn(self.invoice.payment_state, ("paid", "in_payment"))
        self.assertEqual(link.state, "paid")

    def test_refused_amounts_change_nothing_and_say_why(self):
        """Test that an amount below the minimum, above what is due, negative, zero, in the
        wrong precision, not a number or empty changes nothing and says why."""
        link, token = self._send_link()
        cases = [
            ("100", "must be at least"),
            ("114.99", "must be at least"),
            ("1150.01", "cannot be more than"),
            ("-50", "must be more than zero"),
            ("0", "must be more than zero"),
            ("200.125", "at most 2 decimals"),
            ("1e3", "as a number"),
            ("two hundred", "as a number"),
            ("", "as a number"),
        ]
        for amount, reason in cases:
            with self.subTest(amount=amount):
                response = self._pay_amount(token, amount)
                self.assertEqual(response.status_code, 400)
                self.assertIn(reason, response.text)
                self.assertIn("Pay another amount", response.text, "the form is shown again")
        self.assertFalse(link.transaction_ids)
        self.assertFalse(self.stripe.requests)
        self.assertEqual(link.state, "sent", "a refused amount is not the first open")
        self.assertEqual(self.invoice.amount_residual, 1150.0)

    def test_the_whole_amount_due_is_accepted_as_an_amount(self):
        """Test that typing exactly what is due pays everything, with a comma as decimal
        point."""
        link, token = self._send_link()
        response = self._pay_amount(token, "1150,00")
        self.assertEqual(response.status_code, 303)
        self._book(link.transaction_ids)
        self.assertIn(self.invoice.payment_state, ("paid", "in_payment"))
        self.assertEqual(link.state, "paid")

    def test_setting_off_refuses_an_amount(self):
        """Test that with partial payments off the page offers no other amount and an
        `amount` posted anyway is refused, changing nothing."""
        self.company.komet_paylink_partial_payments = False
        link, token = self._send_link()
        page = self.url_open(f"/pay/{token}")
        self.assertNotIn("Pay another amount", page.text)
        self.assertNotIn('name="amount"', page.text)
        response = self._post_form(f"/pay/{token}/checkout", page, amount="400")
        self.assertEqual(response.status_code, 400)
        self.assertIn("whole amount due only", response.text)
        self.assertFalse(link.transaction_ids)
        self.assertEqual(link.state, "sent")

    def test_minimum_is_never_below_stripes_minimum_charge(self):
        """Test that on a small invoice the minimum is Stripe's minimum charge, not the
        percentage."""
        invoice = self._paylink_posted_invoice(self.role_users["sales"], 3.0)
        link, token = self._send_link(invoice)
        currency = invoice.currency_id.name
        self.assertEqual(currency, "USD")
        response = self._pay_amount(token, "0.30")
        self.assertEqual(response.status_code, 400)
        self.assertIn("must be at least", response.text)
        self.assertFalse(link.transaction_ids)
        self.assertEqual(self._pay_amount(token, "0.50").status_code, 303)
