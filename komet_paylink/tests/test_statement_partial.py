import re
from datetime import date, timedelta
from urllib.parse import urlsplit

from freezegun import freeze_time

from odoo import Command, fields
from odoo.tests import HttpCase, tagged
from odoo.tools import format_amount

from .common import PaylinkStripeCommon
from .stripe_fake import make_event


@tagged("post_install", "-at_install")
class TestStatementPartialPayment(PaylinkStripeCommon, HttpCase):
    """A statement's customer pays part of the ticked invoices: oldest first."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company.write(
            {"komet_paylink_partial_payments": True, "komet_paylink_partial_min_percent": 10.0}
        )
        cls.statement_customer = cls.env["res.partner"].create(
            {"name": "Statement Wholesale", "email": "statement@example.com"}
        )
        # The oldest is due last: Odoo, which reconciles by due date, would pay B first.
        cls.invoice_a = cls._statement_invoice(100.0, date(2026, 1, 1), due_days=90)
        cls.invoice_b = cls._statement_invoice(200.0, date(2026, 2, 1), due_days=14)
        cls.invoice_c = cls._statement_invoice(300.0, date(2026, 3, 1), due_days=30)
        cls.statement_invoices = cls.invoice_a | cls.invoice_b | cls.invoice_c

    @classmethod
    def _statement_invoice(cls, amount, invoice_date, due_days=30, partner=None):
        partner = partner or cls.statement_customer
        return cls._paylink_dated_invoice(amount, invoice_date, partner, due_days=due_days)

    def _statement(self, invoices=None):
        link = self.Paylink.with_user(self.role_users["cashier"]).create(
            {"move_ids": [Command.set((invoices or self.statement_invoices).ids)]}
        )
        return link, link.url.rsplit("/", 1)[1]

    def _pay(self, token, invoices, **data):
        page = self.url_open(f"/pay/{token}")
        return self._post_form(
            f"/pay/{token}/checkout", page, invoice_ids=[str(move.id) for move in invoices], **data
        )

    def _book(self, transaction, payment_intent="pi_test_1"):
        session = self._pay_session(transaction, payment_intent=payment_intent)
        response = self._deliver(make_event("checkout.session.completed", session))
        self.assertEqual(response.status_code, 200)

    def _money(self, amount):
        return format_amount(self.env, amount, self.statement_invoices.currency_id)

    def _row(self, page_text, invoice):
        """The statement row of `invoice` on the page."""
        rows = re.findall(
            r'<li class="[^"]*o_komet_paylink_statement_invoice.*?</li>', page_text, re.S
        )
        return next(row for row in rows if invoice.name in row)

    def test_statement_page_offers_another_amount_in_the_invoices_form(self):
        """Test that the statement page offers "Pay another amount" as a plain field of the
        form that holds the ticked invoices, with its range and the rule of what it pays."""
        __, token = self._statement()
        page = self.url_open(f"/pay/{token}")
        self.assertEqual(page.status_code, 200)
        self.assertIn("Pay another amount", page.text)
        form = re.search(r"<form[^>]*/checkout\".*?</form>", page.text, re.S).group(0)
        self.assertIn('name="invoice_ids"', form)
        self.assertIn('name="amount"', form)
        self.assertNotRegex(form, r'name="amount"[^>]*required')
        self.assertIn("60.00", page.text, "the minimum: 10% of 600.00, every invoice ticked")
        self.assertIn("600.00", page.text)
        self.assertIn("oldest", page.text)
        self.assertIn("stays on the newest ticked invoice", page.text)
        self.assertIn("the next page names before you pay", page.text)

    def test_part_of_a_statement_pays_the_oldest_invoices_first(self):
        """Test that an amount covering the oldest invoice and part of the next pays the
        oldest in full, the next in part, leaves the newest untouched and the link payable
        for the rest, even when Odoo would pay the one due first."""
        link, token = self._statement()
        response = self._pay(token, self.statement_invoices, amount="250.00")
        self.assertEqual(response.status_code, 303)
        transaction = link.transaction_ids
        self.assertEqual(transaction.amount, 250.0)
        self.assertEqual(transaction.invoice_ids, self.statement_invoices)
        item = self.stripe.last_request("/v1/checkout/sessions")["params"]["line_items"][0]
        self.assertEqual(item["price_data"]["unit_amount"], "25000")
        # Checkout names, before the customer pays, which invoice keeps the rest.
        self.assertEqual(
            item["price_data"]["product_data"]["description"],
            f"Paid in full: {self.invoice_a.name}. {self._money(150.0)} of {self.invoice_b.name} "
            f"paid: {self._money(50.0)} stays on it.",
        )
        self._book(transaction)
        self.assertEqual(transaction.state, "done")
        self.assertIn(self.invoice_a.payment_state, ("paid", "in_payment"))
        self.assertEqual(self.invoice_a.amount_residual, 0.0)
        self.assertEqual(self.invoice_b.payment_state, "partial")
        self.assertEqual(self.invoice_b.amount_residual, 50.0)
        self.assertEqual(self.invoice_c.payment_state, "not_paid")
        self.assertEqual(self.invoice_c.amount_residual, 300.0)
        self.assertNotEqual(link.state, "paid")
        page = self.url_open(f"/pay/{token}")
        self.assertEqual(page.status_code, 200)
        self.assertIn("Paid or closed", self._row(page.text, self.invoice_a))
        self.assertIn("50.00", self._row(page.text, self.invoice_b))
        self.assertIn("300.00", self._row(page.text, self.invoice_c))
        self.assertEqual(len(re.findall(r'name="invoice_ids"', page.text)), 2)
        self.assertIn("350.00", page.text, "the total left to pay")
        rest = self._pay(token, self.invoice_b | self.invoice_c)
        self.assertEqual(rest.status_code, 303)
        self.assertEqual((link.transaction_ids - transaction).amount, 350.0)

    def test_the_amount_pays_only_the_ticked_invoices_oldest_first(self):
        """Test that with the oldest invoice unticked, an amount pays the next ticked one in
        full and leaves the rest on the newest, the unticked one untouched."""
        link, token = self._statement()
        response = self._pay(token, self.invoice_b | self.invoice_c, amount="260")
        self.assertEqual(response.status_code, 303)
        self._book(link.transaction_ids)
        self.assertEqual(self.invoice_a.payment_state, "not_paid")
        self.assertIn(self.invoice_b.payment_state, ("paid", "in_payment"))
        self.assertEqual(self.invoice_c.payment_state, "partial")
        self.assertEqual(self.invoice_c.amount_residual, 240.0)

    def test_the_whole_ticked_total_typed_pays_them_and_closes_the_link(self):
        """Test that typing the whole total pays every invoice and the link is paid."""
        link, token = self._statement()
        self.assertEqual(self._pay(token, self.statement_invoices, amount="600").status_code, 303)
        self._book(link.transaction_ids)
        for invoice in self.statement_invoices:
            self.assertIn(invoice.payment_state, ("paid", "in_payment"))
        self.assertEqual(link.state, "paid")

    def test_refused_amounts_change_nothing_and_keep_the_choice(self):
        """Test that an amount below the minimum or above the total of the ticked invoices,
        in the wrong precision or not a number is refused with the reason (400), changes
        nothing, and the page shows the same ticks and amount again."""
        link, token = self._statement()
        newest = self.invoice_c  # alone ticked: 300.00 due, at least 30.00
        cases = [
            ("29.99", "must be at least"),
            ("300.01", "cannot be more than"),
            ("12.345", "at most 2 decimals"),
            ("lots", "as a number"),
            ("-40", "must be more than zero"),
        ]
        for amount, reason in cases:
            with self.subTest(amount=amount):
                response = self._pay(token, newest, amount=amount)
                self.assertEqual(response.status_code, 400)
                self.assertIn(reason, response.text)
                self.assertIn(f'value="{amount}"', response.text)
                checked = re.findall(r'<input[^>]*name="invoice_ids"[^>]*>', response.text)
                self.assertEqual(
                    [str(newest.id) in box for box in checked if "checked" in box], [True]
                )
        self.assertFalse(link.transaction_ids)
        self.assertFalse(self.stripe.last_request("/v1/checkout/sessions"))
        self.assertEqual(link.state, "sent")
        self.assertEqual(self._pay(token, newest, amount="30").status_code, 303)

    def test_an_empty_amount_pays_the_ticked_invoices_in_full(self):
        """Test that the statement's form, which always sends the field, pays the ticked
        invoices in full when it is left empty, and that "Pay this amount" asks for one."""
        link, token = self._statement()
        asked = self._pay(token, self.invoice_a | self.invoice_b, amount="", pay_amount="1")
        self.assertEqual(asked.status_code, 400)
        self.assertIn("as a number", asked.text)
        self.assertFalse(link.transaction_ids)
        response = self._pay(token, self.invoice_a | self.invoice_b, amount=" ")
        self.assertEqual(response.status_code, 303)
        self.assertEqual(link.transaction_ids.amount, 300.0)

    def test_try_again_after_a_cancelled_checkout_pays_the_same_part(self):
        """Test that Try again after cancelling the checkout of part of a statement pays the
        same part of the same invoices."""
        link, token = self._statement()
        self.assertEqual(
            self._pay(token, self.invoice_b | self.invoice_c, amount="120").status_code, 303
        )
        attempt = link.transaction_ids
        self.stripe.set_session(attempt.provider_reference, status="expired")
        cancel = urlsplit(self.stripe.sessions[attempt.provider_reference]["cancel_url"])
        back = self.url_open(f"{cancel.path}?{cancel.query}")
        attempt_id = re.search(r'name="attempt" value="(\d+)"', back.text).group(1)
        with freeze_time(fields.Datetime.now() + timedelta(seconds=11)):
            retried = self._post_form("/pay/return/retry", back, attempt=attempt_id)
        self.assertEqual(retried.status_code, 303)
        again = link.transaction_ids - attempt
        self.assertEqual(again.amount, 120.0)
        self.assertEqual(again.invoice_ids, self.invoice_b | self.invoice_c)

    def test_partial_payments_off_a_statement_refuses_an_amount(self):
        """Test that with partial payments off the statement page offers no other amount and
        an `amount` posted anyway is refused, changing nothing."""
        self.company.komet_paylink_partial_payments = False
        link, token = self._statement()
        page = self.url_open(f"/pay/{token}")
        self.assertNotIn("Pay another amount", page.text)
        self.assertNotIn('name="amount"', page.text)
        response = self._pay(token, self.invoice_a, amount="50")
        self.assertEqual(response.status_code, 400)
        self.assertIn("ticked invoices in full", response.text)
        self.assertFalse(link.transaction_ids)

    def test_statement_page_queries_do_not_grow_with_its_invoices(self):
        """Test that the statement page, with the amount field, costs as many queries for six
        invoices as for three."""
        __, small_token = self._statement()

        def page_queries(token):
            self.url_open(f"/pay/{token}")
            start = self.cr.sql_log_count
            response = self.url_open(f"/pay/{token}")
            self.assertIn('name="amount"', response.text)
            return self.cr.sql_log_count - start

        small = page_queries(small_token)
        more = self.env["account.move"]
        for month in range(4, 7):
            more |= self._statement_invoice(50.0, date(2026, month, 1))
        __, big_token = self._statement(self.statement_invoices | more)
        self.assertEqual(page_queries(big_token), small)

    def test_statement_page_with_another_amount_has_no_accessibility_violation(self):
        """Test that axe-core finds no WCAG 2.1 A/AA violation on a statement page that offers
        another amount, nor on it once part is paid."""
        link, token = self._statement()
        self.assertNoAxeViolations(f"/pay/{token}")
        self._pay(token, self.statement_invoices, amount="250")
        self._book(link.transaction_ids)
        self.assertNoAxeViolations(f"/pay/{token}")

    def test_checkout_names_what_stays_unpaid_only_for_a_part(self):
        """Test that Checkout's description says which invoice keeps the rest only when the
        customer pays less than the ticked invoices owe: none for everything, and the part of
        the oldest alone when the amount does not cover it."""
        link, token = self._statement()
        self.assertEqual(self._pay(token, self.invoice_a | self.invoice_c).status_code, 303)
        item = self.stripe.last_request("/v1/checkout/sessions")["params"]["line_items"][0]
        self.assertNotIn("description", item["price_data"]["product_data"])
        with freeze_time(fields.Datetime.now() + timedelta(seconds=11)):  # past the throttle
            response = self._pay(token, self.invoice_a | self.invoice_c, amount="60.00")
        self.assertEqual(response.status_code, 303)
        item = self.stripe.last_request("/v1/checkout/sessions")["params"]["line_items"][0]
        self.assertEqual(
            item["price_data"]["product_data"]["description"],
            f"{self._money(60.0)} of {self.invoice_a.name} paid: {self._money(40.0)} stays on it.",
        )
