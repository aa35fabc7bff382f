import base64
import re
from datetime import date, timedelta

from freezegun import freeze_time

from odoo import Command, fields
from odoo.exceptions import AccessError, UserError
from odoo.tests import HttpCase, tagged

from .common import PaylinkStripeCommon
from .stripe_fake import make_event


@tagged("post_install", "-at_install")
class TestStatementLink(PaylinkStripeCommon, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.statement_customer = cls.env["res.partner"].create(
            {"name": "Statement Wholesale", "email": "statement@example.com"}
        )
        sales = cls.role_users["sales"]
        # Made newest first: the page must list them oldest first.
        cls.invoice_c = cls._statement_invoice(300.0, date(2026, 3, 1), sales)
        cls.invoice_b = cls._statement_invoice(200.0, date(2026, 2, 1), sales)
        cls.invoice_a = cls._statement_invoice(100.0, date(2026, 1, 1), sales)
        cls.statement_invoices = cls.invoice_a | cls.invoice_b | cls.invoice_c

    @classmethod
    def _statement_invoice(cls, amount, invoice_date, salesperson, partner=None, currency=None):
        partner = partner or cls.statement_customer
        return cls._paylink_dated_invoice(
            amount, invoice_date, partner, salesperson, currency=currency
        )

    def _send_statement(self, user=None):
        """Send a statement link from the customer's form; return the link and its token,
        read from the email the customer receives."""
        partner = self.statement_customer.with_user(user or self.role_users["cashier"])
        action = partner.action_komet_paylink_send_statement()
        self.assertEqual(action["params"]["type"], "success")
        link = self.Paylink.search([("partner_id", "=", self.statement_customer.id)], limit=1)
        mail = self.env["mail.mail"].search(
            [("model", "=", "komet.paylink"), ("res_id", "=", link.id)]
        )
        self.assertEqual(len(mail), 1)
        token = re.search(r"/pay/([A-Za-z0-9_-]{43})", mail.body_html).group(1)
        return link, token, mail

    def _pay_ticked(self, token, invoices):
        page = self.url_open(f"/pay/{token}")
        return self.url_open(
            f"/pay/{token}/checkout",
            data={
                "csrf_token": self._csrf_token(page.text),
                "invoice_ids": [str(invoice.id) for invoice in invoices],
            },
            allow_redirects=False,
        )

    def _book(self, transaction):
        event = make_event("checkout.session.completed", self._pay_session(transaction))
        response = self._deliver(event)
        self.assertEqual(response.status_code, 200)
        return response

    def test_statement_from_the_customer_lists_their_open_invoices(self):
        """Test that the customer's form sends one link for their open invoices, by email."""
        link, __, mail = self._send_statement()
        self.assertEqual(link.move_ids, self.statement_invoices)
        self.assertFalse(link.move_id)
        self.assertFalse(link.sale_order_id)
        self.assertEqual(link.state, "sent")
        self.assertEqual(link.amount, 600.0)
        self.assertEqual(link.partner_id, self.statement_customer)
        self.assertEqual(mail.email_to or mail.recipient_ids.email, "statement@example.com")
        for invoice in self.statement_invoices:
            self.assertIn(invoice.name, mail.body_html)
            self.assertTrue(
                any("Payment link for" in body for body in self._paylink_chatter_bodies(invoice))
            )

    def test_page_lists_invoices_oldest_first_all_ticked(self):
        """Test that the page lists number, dates and amount due, oldest first, all ticked."""
        __, token, __ = self._send_statement()
        page = self.url_open(f"/pay/{token}")
        self.assertEqual(page.status_code, 200)
        self.assertPayHeaders(page)
        positions = [page.text.index(invoice.name) for invoice in self.statement_invoices]
        self.assertEqual(positions, sorted(positions), "oldest invoice first")
        checkboxes = re.findall(r'<input[^>]*name="invoice_ids"[^>]*>', page.text)
        self.assertEqual(len(checkboxes), 3)
        self.assertTrue(all("checked" in box for box in checkboxes))
        self.assertIn("600.00", page.text)
        self.assertIn("01/31/2026", page.text, "the due date of the oldest invoice")

    def test_statement_paid_partly_reconciles_the_ticked_invoices_only(self):
        """Test that two of three ticked invoices are paid by one session and one booking."""
        link, token, __ = self._send_statement()
        response = self._pay_ticked(token, self.invoice_a | self.invoice_c)
        self.assertEqual(response.status_code, 303)
        transaction = link.transaction_ids
        self.assertEqual(transaction.amount, 400.0)
        self.assertEqual(transaction.invoice_ids, self.invoice_a | self.invoice_c)
        params = self.stripe.last_request("/v1/checkout/sessions")["params"]
        self.assertEqual(params["line_items"][0]["price_data"]["unit_amount"], "40000")
        self.assertIn(
            self.invoice_a.name, params["line_items"][0]["price_data"]["product_data"]["name"]
        )
        self.assertNotIn(token, str(params))
        self._book(transaction)
        self.assertEqual(link.state, "paid")
        self.assertEqual(len(transaction.payment_id), 1)
        self.assertIn(self.invoice_a.payment_state, ("paid", "in_payment"))
        self.assertIn(self.invoice_c.payment_state, ("paid", "in_payment"))
        self.assertEqual(self.invoice_b.payment_state, "not_paid")
        self.assertEqual(self.invoice_b.amount_residual, 200.0)
        receipt = self.url_open(f"/pay/{token}")
        self.assertEqual(receipt.status_code, 200)
        self.assertIn("Paid.", receipt.text)
        self.assertNotIn('name="invoice_ids"', receipt.text)

    def test_a_tampered_choice_opens_no_checkout(self):
        """Test that an invoice id not on the statement, or none, or garbage, is refused."""
        other_customer_invoice = self.invoice
        link, token, __ = self._send_statement()
        for invoice_ids, status in (
            ([str(other_customer_invoice.id)], 200),
            ([], 200),
            (["1 OR 1=1"], 400),
        ):
            page = self.url_open(f"/pay/{token}")
            response = self.url_open(
                f"/pay/{token}/checkout",
                data={"csrf_token": self._csrf_token(page.text), "invoice_ids": invoice_ids},
                allow_redirects=False,
            )
            self.assertEqual(response.status_code, status)
            self.assertFalse(self.stripe.requests)
            self.assertFalse(link.transaction_ids)
        self.assertEqual(other_customer_invoice.payment_state, "not_paid")

    def test_a_new_selection_replaces_the_open_session(self):
        """Test that ticking other invoices (past the throttle of a burst) expires the session
        opened for the first choice."""
        link, token, __ = self._send_statement()
        first = self._pay_ticked(token, self.statement_invoices)
        with freeze_time(fields.Datetime.now() + timedelta(seconds=11)):
            second = self._pay_ticked(token, self.invoice_a)
        self.assertNotEqual(first.headers["Location"], second.headers["Location"])
        first_tx, second_tx = link.transaction_ids.sorted("id")
        self.assertEqual(first_tx.state, "cancel")
        self.assertEqual(self.stripe.sessions[first_tx.provider_reference]["status"], "expired")
        self.assertEqual(second_tx.amount, 100.0)
        again = self._pay_ticked(token, self.invoice_a)
        self.assertEqual(again.headers["Location"], second.headers["Location"])

    def test_an_invoice_also_paid_by_its_own_link_is_not_paid_twice(self):
        """Test that an invoice paid through its own link meanwhile leaves the excess as the
        customer's credit, with a to-do for the cashiers, and the other invoice reconciled."""
        link, token, __ = self._send_statement()
        self._pay_ticked(token, self.invoice_a | self.invoice_b)
        statement_tx = link.transaction_ids
        single_link, single_token = self._send_link(self.invoice_a)
        self._post_form(f"/pay/{single_token}/checkout", self.url_open(f"/pay/{single_token}"))
        self._book(single_link.transaction_ids)
        self.assertIn(self.invoice_a.payment_state, ("paid", "in_payment"))
        # The statement's session, for A and B, is paid too before it could be expired.
        self.stripe.sessions[statement_tx.provider_reference]["status"] = "open"
        self._book(statement_tx)
        self.assertEqual(statement_tx.state, "done")
        self.assertIn(self.invoice_b.payment_state, ("paid", "in_payment"))
        self.assertEqual(self.invoice_a.amount_residual, 0.0)
        payment = statement_tx.payment_id
        self.assertEqual(payment.amount, 300.0)
        credit = payment.move_id.line_ids.filtered(
            lambda line: line.account_id.account_type == "asset_receivable"
        )
        self.assertAlmostEqual(credit.amount_residual, -100.0)
        activities = self.invoice_b.activity_ids | self.invoice_a.activity_ids
        self.assertTrue(any("customer credit" in (a.summary or "") for a in activities))

    def test_an_invoice_paid_another_way_leaves_the_statement_open_for_the_rest(self):
        """Test that a statement link lives on while one of its invoices is left to pay, and
        closes when none is."""
        link, token, __ = self._send_statement()
        for invoice in self.invoice_a | self.invoice_b:
            self.env["account.payment.register"].with_context(
                active_model="account.move", active_ids=invoice.ids
            ).create({})._create_payments()
        self.assertEqual(link.state, "sent")
        page = self.url_open(f"/pay/{token}")
        self.assertEqual(len(re.findall(r'name="invoice_ids"', page.text)), 1)
        self.env["account.payment.register"].with_context(
            active_model="account.move", active_ids=self.invoice_c.ids
        ).create({})._create_payments()
        # As a single link of an invoice paid another way: closed, and its URL says so no more.
        self.assertEqual(link.state, "revoked")
        self.assertEqual(self.url_open(f"/pay/{token}").status_code, 404)

    def test_statement_from_the_invoice_list_for_one_customer_and_currency(self):
        """Test that the list's selection sends one link, and a mixed selection is refused."""
        cashier = self.role_users["cashier"]
        action = (
            (self.invoice_a | self.invoice_b)
            .with_user(cashier)
            .action_komet_paylink_send_statement()
        )
        self.assertEqual(action["params"]["type"], "success")
        link = self.Paylink.search([("move_ids", "!=", False)], limit=1)
        self.assertEqual(link.move_ids, self.invoice_a | self.invoice_b)
        with self.assertRaisesRegex(UserError, "one customer"):
            (self.invoice_c | self.invoice).with_user(cashier).action_komet_paylink_send_statement()
        other_currency = self._statement_invoice(
            50.0,
            date(2026, 4, 1),
            self.role_users["sales"],
            currency=self.setup_other_currency("EUR"),
        )
        with self.assertRaisesRegex(UserError, "one currency"):
            (self.invoice_c | other_currency).with_user(
                cashier
            ).action_komet_paylink_send_statement()
        self.invoice_c.button_draft()
        with self.assertRaisesRegex(UserError, "draft"):
            self.invoice_c.with_user(cashier).action_komet_paylink_send_statement()
        self.assertEqual(link.state, "sent", "refused requests changed nothing")

    def test_only_the_five_roles_send_statements(self):
        """Test that a user outside the roles cannot send a statement link, and a Sales user
        sends one for their own invoices only."""
        with self.assertRaises(AccessError):
            self.statement_customer.with_user(self.plain_user).action_komet_paylink_send_statement()
        self._statement_invoice(70.0, date(2026, 4, 1), self.role_users["sales_allocations"])
        link, __, __ = self._send_statement(user=self.role_users["sales"])
        self.assertEqual(link.move_ids, self.statement_invoices)
        self.assertEqual(link.with_user(self.role_users["sales"]).user_id, self.role_users["sales"])

    def test_a_new_statement_replaces_the_live_one(self):
        """Test that a second statement link for the customer revokes the first one."""
        first, first_token, __ = self._send_statement()
        second, __, __ = self._send_statement()
        self.assertEqual(first.state, "revoked")
        self.assertEqual(second.state, "sent")
        self.assertEqual(self.url_open(f"/pay/{first_token}").status_code, 404)

    def test_expired_statement_renews_with_what_is_left_to_pay(self):
        """Test that an expired statement link asks for a new one with its open invoices."""
        link, token, __ = self._send_statement()
        page = self.url_open(f"/pay/{token}")
        link._paylink_register_open()
        self.env["account.payment.register"].with_context(
            active_model="account.move", active_ids=self.invoice_a.ids
        ).create({})._create_payments()
        with freeze_time(fields.Datetime.now() + timedelta(hours=25)):
            expired = self.url_open(f"/pay/{token}")
            self.assertEqual(expired.status_code, 410)
            renewed = self._post_form(f"/pay/{token}/renew", expired)
        self.assertEqual(renewed.status_code, 200)
        new_link = self.Paylink.search([("renewed_from_id", "=", link.id)])
        self.assertEqual(new_link.move_ids, self.invoice_b | self.invoice_c)
        self.assertEqual(new_link.amount, 500.0)
        self.assertTrue(page.ok)

    def test_no_statement_for_a_customer_who_opted_out(self):
        """Test that a customer who asked for no payment links gets no statement link."""
        self.statement_customer.komet_paylink_opt_out = True
        with self.assertRaisesRegex(UserError, "asked not to receive payment links"):
            self.statement_customer.with_user(
                self.role_users["cashier"]
            ).action_komet_paylink_send_statement()
        self.assertFalse(self.Paylink.search([("partner_id", "=", self.statement_customer.id)]))

    def test_which_invoices_can_be_paid_is_asked_at_once_and_agrees_with_each_reason(self):
        """Test that a statement's payable invoices, asked of the database in one query, are
        those whose own reason says they can be paid (open or partly paid; not paid another
        way, cancelled, reset to draft, moved to another customer, nor with a payment on its
        way), and that the page ticks those, lists the rest as they are, and links each
        invoice's PDF that Odoo keeps."""
        sales = self.role_users["sales"]
        partly, paid, cancelled, drafted, confirming, moved = (
            self._statement_invoice(50.0 + day, date(2026, 4, day), sales) for day in range(1, 7)
        )
        invoices = (
            self.statement_invoices | partly | paid | cancelled | drafted | confirming | moved
        )
        link = self.Paylink.with_user(self.role_users["cashier"]).create(
            {"move_ids": [Command.set(invoices.ids)]}
        )
        token = link.url.rsplit("/", 1)[1]
        for invoice, amount in ((partly, 20.0), (paid, paid.amount_residual)):
            self.env["account.payment.register"].with_context(
                active_model="account.move", active_ids=invoice.ids
            ).create({"amount": amount})._create_payments()
        cancelled.button_draft()
        cancelled.button_cancel()
        drafted.button_draft()
        moved.button_draft()
        moved.partner_id = self.env["res.partner"].create({"name": "Someone Else"})
        moved.action_post()
        # A bank debit of one invoice, started through the statement: confirmed days later.
        self.assertEqual(self._pay_ticked(token, confirming).status_code, 303)
        debit = make_event(
            "checkout.session.completed",
            self._pay_session(link.transaction_ids, payment_status="unpaid"),
        )
        self.assertEqual(self._deliver(debit).status_code, 200)
        self.assertTrue(confirming.komet_paylink_processing_since)
        self.invoice_a.invoice_pdf_report_file = base64.b64encode(b"%PDF-1.4 kept by Odoo")

        documents = link._paylink_documents()
        self.assertEqual(documents, invoices - cancelled - drafted - moved)
        reasons = {invoice: invoice._paylink_unpayable_reason(link) for invoice in documents}
        payable = link._paylink_payable_documents()
        self.assertEqual(payable, documents.filtered(lambda invoice: not reasons[invoice]))
        self.assertEqual(payable, self.statement_invoices | partly)

        page = self.url_open(f"/pay/{token}")
        self.assertEqual(page.status_code, 200)
        ticked = re.findall(r'<input[^>]*name="invoice_ids" value="(\d+)"[^>]*checked', page.text)
        self.assertEqual(sorted(map(int, ticked)), sorted(payable.ids))
        self.assertIn("Payment being confirmed", page.text)
        self.assertIn("Paid or closed", page.text)
        self.assertNotIn(moved.name, page.text)
        positions = [page.text.index(invoice.name) for invoice in documents.sorted("invoice_date")]
        self.assertEqual(positions, sorted(positions), "oldest invoice first")
        pdf_links = re.findall(r'href="(/pay/[^"]+/pdf\?invoice=\d+)"', page.text)
        self.assertEqual(pdf_links, [f"/pay/{token}/pdf?invoice={self.invoice_a.id}"])
        self.assertIn(f"Download the PDF of {self.invoice_a.name}", page.text)
        pdf = self.url_open(pdf_links[0])
        self.assertEqual(pdf.status_code, 200)
        self.assertEqual(pdf.content, b"%PDF-1.4 kept by Odoo")
        self.assertNoAxeViolations(f"/pay/{token}")

    def test_statement_page_has_no_accessibility_violation(self):
        """Test that axe-core finds no WCAG 2.1 A/AA violation on a statement link's page, and
        on its receipt once part of it is paid."""
        link, token, __ = self._send_statement()
        self.assertNoAxeViolations(f"/pay/{token}")
        self._pay_ticked(token, self.invoice_b)
        self._book(link.transaction_ids)
        self.assertNoAxeViolations(f"/pay/{token}")
