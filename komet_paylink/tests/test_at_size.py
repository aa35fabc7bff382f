from datetime import timedelta

from freezegun import freeze_time

from odoo import Command, fields
from odoo.tests import HttpCase, tagged

from .common import PaylinkStripeCommon


@tagged("post_install", "-at_install")
class TestAtSize(PaylinkStripeCommon, HttpCase):
    """What a wholesaler's real sizes and a customer's bursts of clicks meet."""

    def _invoices(self, count, amount=10.0, partner=None):
        """`count` posted invoices of the customer (or `partner`), made in one go."""
        invoices = self.env["account.move"].create(
            [
                {
                    "move_type": "out_invoice",
                    "partner_id": (partner or self.customer).id,
                    "invoice_date": fields.Date.today(),
                    "invoice_line_ids": [
                        Command.create({"name": "Crate", "quantity": 1, "price_unit": amount})
                    ],
                }
                for __ in range(count)
            ]
        )
        invoices.action_post()
        return invoices

    def _statement(self, invoices):
        link = self.Paylink.with_user(self.role_users["cashier"]).create(
            {"move_ids": [Command.set(invoices.ids)]}
        )
        return link, link.url.rsplit("/", 1)[1]

    def _page_queries(self, token):
        """The SQL queries of the statement page, once Odoo's caches are warm."""
        self.url_open(f"/pay/{token}")
        start = self.cr.sql_log_count
        response = self.url_open(f"/pay/{token}")
        self.assertEqual(response.status_code, 200)
        return self.cr.sql_log_count - start

    def _pay(self, token, invoices):
        page = self.url_open(f"/pay/{token}")
        return self._post_form(
            f"/pay/{token}/checkout", page, invoice_ids=[str(move.id) for move in invoices]
        )

    def _stripe_calls(self):
        return [request for request in self.stripe.requests if request["path"].startswith("/v1/")]

    def test_a_300_invoice_statement_is_listed_and_paid_in_one_session(self):
        """Test that a statement of 300 invoices lists them all with as many queries as a
        statement of 3, and is paid in one Checkout Session whose reference Stripe takes."""
        # Another customer's: a new statement replaces the customer's live one.
        other = self.env["res.partner"].create({"name": "Small Buyer", "email": "s@example.com"})
        small, __ = self._statement(self._invoices(3, partner=other))
        invoices = self._invoices(300)
        link, token = self._statement(invoices)
        small_token = small.url.rsplit("/", 1)[1]
        self.assertEqual(self._page_queries(token), self._page_queries(small_token))
        page = self.url_open(f"/pay/{token}")
        self.assertEqual(page.text.count('name="invoice_ids"'), 300)
        response = self._pay(token, invoices)
        self.assertEqual(response.status_code, 303)
        transaction = link.transaction_ids
        self.assertEqual(transaction.invoice_ids, invoices)
        self.assertEqual(transaction.amount, 3000.0)
        session = self.stripe.sessions[transaction.provider_reference]
        self.assertLessEqual(len(session["client_reference_id"]), 200)
        self.assertEqual(session["client_reference_id"], transaction.reference)
        self.assertIn(min(invoices.mapped("name")), transaction.reference)
        self.assertEqual(session["amount_total"], 300000)

    def test_a_burst_of_pay_presses_asks_stripe_nothing(self):
        """Test that presses of Pay within seconds of a checkout make no Stripe call: the same
        choice goes back to the session just opened, another choice is asked to wait; after
        the pause, Pay works again."""
        first, second = self._invoices(2)
        link, token = self._statement(first | second)
        opened = self._pay(token, first)
        self.assertEqual(opened.status_code, 303)
        calls = len(self._stripe_calls())
        again = self._pay(token, first)
        self.assertEqual(again.status_code, 303)
        self.assertEqual(again.headers["Location"], opened.headers["Location"])
        other = self._pay(token, second)
        self.assertEqual(other.status_code, 429)
        self.assertIn("Please wait", other.text)
        self.assertEqual(len(self._stripe_calls()), calls)
        self.assertEqual(len(link.transaction_ids), 1)
        with freeze_time(fields.Datetime.now() + timedelta(seconds=11)):
            later = self._pay(token, second)
        self.assertEqual(later.status_code, 303)
        self.assertEqual(len(link.transaction_ids), 2)
