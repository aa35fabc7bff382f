import time
from datetime import timedelta

from freezegun import freeze_time

from odoo import fields
from odoo.tests import HttpCase, tagged
from odoo.tools import mute_logger

from odoo.addons.komet_paylink import utils

from .common import PaylinkStripeCommon


@tagged("post_install", "-at_install")
class TestStripeCheckout(PaylinkStripeCommon, HttpCase):
    def test_pay_creates_a_checkout_session_for_the_amount_due(self):
        """Test that Pay opens a Stripe Checkout Session for the amount due, and redirects."""
        link, token, response = self._open_checkout()
        self.assertEqual(response.status_code, 303)
        transaction = link.transaction_ids
        self.assertEqual(
            response.headers["Location"],
            self.stripe.sessions[transaction.provider_reference]["url"],
        )
        request = self.stripe.last_request("/v1/checkout/sessions")
        params = request["params"]
        item = params["line_items"][0]
        self.assertEqual(item["price_data"]["unit_amount"], "115000")
        self.assertEqual(item["price_data"]["currency"], self.invoice.currency_id.name.lower())
        self.assertEqual(item["quantity"], "1")
        self.assertEqual(params["mode"], "payment")
        self.assertEqual(params["client_reference_id"], transaction.reference)
        self.assertTrue(request["headers"]["idempotency-key"].startswith("komet_paylink_"))
        self.assertEqual(request["headers"]["authorization"], f"Bearer {self.secret_key}")
        self.assertNotIn(token, str(request["body"]))
        self.assertNotIn(token, str(request["params"]))
        self.assertEqual(transaction.amount, 1150.0)
        self.assertEqual(transaction.state, "draft")

    def test_session_never_outlives_the_link(self):
        """Test that the session expires no later than the link, and at least 30 minutes on."""
        link, __, __ = self._open_checkout()
        expires_at = int(self.stripe.last_request("/v1/checkout/sessions")["params"]["expires_at"])
        self.assertLessEqual(expires_at, utils.to_timestamp(link.expires_at))
        self.assertGreaterEqual(expires_at, int(time.time()) + 29 * 60)

    def test_a_link_about_to_expire_opens_no_session(self):
        """Test that Pay on a link with less than 30 minutes left opens no session."""
        link, token = self._send_link()
        page = self.url_open(f"/pay/{token}")
        link._paylink_register_open()
        with freeze_time(fields.Datetime.now() + timedelta(hours=23, minutes=45)):
            response = self._post_form(f"/pay/{token}/checkout", page)
        self.assertEqual(response.status_code, 200)
        self.assertIn("less than 30 minutes", response.text)
        self.assertFalse(self.stripe.requests)
        self.assertFalse(link.transaction_ids)

    def test_pressing_pay_twice_reuses_the_open_session(self):
        """Test that a second Pay goes back to the same session instead of opening another."""
        link, token, first = self._open_checkout()
        page = self.url_open(f"/pay/{token}")
        second = self._post_form(f"/pay/{token}/checkout", page)
        self.assertEqual(second.headers["Location"], first.headers["Location"])
        self.assertEqual(len(link.transaction_ids), 1)
        creates = [r for r in self.stripe.requests if r["method"] == "POST"]
        self.assertEqual(len(creates), 1)

    def test_stripe_down_leaves_nothing_behind_and_a_retry_succeeds(self):
        """Test that a Stripe failure shows an error, keeps no transaction, and a retry works."""
        self.stripe.fail_next(500, count=2)
        with mute_logger("odoo.addons.komet_paylink.models.payment_provider"):
            link, token, response = self._open_checkout()
        self.assertEqual(response.status_code, 503)
        self.assertIn("could not be reached", response.text)
        self.assertFalse(link.transaction_ids)
        self.assertEqual(link.state, "opened", "the customer's first open still counts")
        page = self.url_open(f"/pay/{token}")
        retry = self._post_form(f"/pay/{token}/checkout", page)
        self.assertEqual(retry.status_code, 303)
        self.assertEqual(len(link.transaction_ids), 1)

    def test_zero_decimal_currency_is_sent_in_whole_units(self):
        """Test that a JPY invoice is sent to Stripe without minor units."""
        jpy = self.setup_other_currency("JPY", rounding=1.0)
        invoice = self.init_invoice(
            "out_invoice", partner=self.customer, amounts=[1150.0], taxes=[], currency=jpy
        )
        invoice.invoice_user_id = self.role_users["sales"]
        invoice.action_post()
        self._open_checkout(invoice)
        item = self.stripe.last_request("/v1/checkout/sessions")["params"]["line_items"][0]
        self.assertEqual(item["price_data"]["currency"], "jpy")
        self.assertEqual(item["price_data"]["unit_amount"], "1150")

    def test_three_decimal_currency_ends_with_a_zero(self):
        """Test that a KWD invoice is sent in fils, rounded to a multiple of ten."""
        kwd = self.setup_other_currency("KWD", rounding=0.001)
        invoice = self.init_invoice(
            "out_invoice", partner=self.customer, amounts=[12.345], taxes=[], currency=kwd
        )
        invoice.invoice_user_id = self.role_users["sales"]
        invoice.action_post()
        self._open_checkout(invoice)
        item = self.stripe.last_request("/v1/checkout/sessions")["params"]["line_items"][0]
        self.assertEqual(item["price_data"]["currency"], "kwd")
        self.assertEqual(item["price_data"]["unit_amount"], "12350")
