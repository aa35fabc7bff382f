import re
from datetime import timedelta
from urllib.parse import urlsplit

from freezegun import freeze_time

from odoo import Command, fields
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import HttpCase, tagged
from odoo.tools import mute_logger

from .common import PaylinkStripeCommon
from .stripe_fake import make_event


@tagged("post_install", "-at_install")
class TestOneWayToPay(PaylinkStripeCommon, HttpCase):
    """The money rules between the links of one document: the payable document decides, and
    no second way to pay opens while money is on its way."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.other_customer = cls.env["res.partner"].create(
            {"name": "Other Wholesale", "email": "other@example.com", "street": "9 Other Street"}
        )

    # === HELPERS === #

    def _open_sessions(self, invoice):
        """The Checkout Sessions Stripe holds open for `invoice`, through any link."""
        references = invoice.transaction_ids.filtered("provider_reference").mapped(
            "provider_reference"
        )
        sessions = self.stripe.sessions
        return [ref for ref in references if sessions.get(ref, {}).get("status") == "open"]

    def _statement(self, invoices):
        """A statement link for `invoices`, made by a cashier; its link and token."""
        link = self.Paylink.with_user(self.role_users["cashier"]).create(
            {"move_ids": [Command.set(invoices.ids)]}
        )
        return link, link.url.rsplit("/", 1)[1]

    def _pay(self, token, invoices=None):
        page = self.url_open(f"/pay/{token}")
        data = {"invoice_ids": [str(invoice.id) for invoice in invoices]} if invoices else {}
        return self._post_form(f"/pay/{token}/checkout", page, **data)

    def _make_pending(self, transaction):
        """Stripe reports the customer's bank debit started: confirmed days later."""
        session = self._pay_session(transaction, payment_status="unpaid")
        self._deliver(make_event("checkout.session.completed", session))
        self.assertEqual(transaction.state, "pending")
        return session

    def _later(self):
        """Past the throttle of a burst of Pay presses (`CHECKOUT_THROTTLE_SECONDS`)."""
        return freeze_time(fields.Datetime.now() + timedelta(seconds=11))

    def _move_to_other_customer(self, invoice, **changes):
        invoice.button_draft()
        invoice.write({"partner_id": self.other_customer.id, **changes})
        invoice.action_post()

    # === 1. A BANK DEBIT ON ITS WAY === #

    def test_pending_debit_past_expiry_says_being_confirmed_and_opens_no_other_way(self):
        """Test that a link whose bank debit is being confirmed still says so a day later,
        instead of "expired": no new link can be asked for or sent, and the debit is booked
        once when it settles."""
        link, token, __ = self._open_checkout()
        session = self._make_pending(link.transaction_ids)
        self.assertTrue(self.invoice.komet_paylink_processing_since)
        with freeze_time(fields.Datetime.now() + timedelta(hours=25)):
            page = self.url_open(f"/pay/{token}")
            self.assertEqual(page.status_code, 200)
            self.assertIn("o_komet_paylink_processing", page.text)
            self.assertIn("since", page.text)
            self.assertNotIn('name="renew"', page.text)
            self.assertNotIn('name="pay"', page.text)
            __, other_token = self._send_link(
                self._paylink_posted_invoice(self.role_users["sales"], 10.0)
            )
            form_page = self.url_open(f"/pay/{other_token}")
            renewed = self._post_form(f"/pay/{token}/renew", form_page)
            self.assertIn("o_komet_paylink_processing", renewed.text)
            with self.assertRaisesRegex(UserError, "cannot be renewed"):
                link._paylink_request_renewal("203.0.113.9")
            self.assertEqual(self.Paylink.search_count([("move_id", "=", self.invoice.id)]), 1)
            # No person nor job may send another link meanwhile.
            with self.assertRaisesRegex(UserError, "being confirmed"):
                self._send_link()
            dialog = self._send_dialog(self.invoice, komet_paylink_include=True)
            self.assertIn("being confirmed", str(dialog.alerts))
            self.assertIn("being confirmed", self.invoice._paylink_unsendable_reason())
        session = self._pay_session(link.transaction_ids)
        self._deliver(make_event("checkout.session.async_payment_succeeded", session))
        self.assertIn(self.invoice.payment_state, ("paid", "in_payment"))
        self.assertEqual(len(link.transaction_ids.payment_id), 1)
        self.assertFalse(self.invoice.komet_paylink_processing_since)

    def test_failed_debit_lets_the_expired_link_be_renewed(self):
        """Test that once the bank refuses the debit, the expired link offers a new one."""
        link, token, __ = self._open_checkout()
        session = self._make_pending(link.transaction_ids)
        self._deliver(make_event("checkout.session.async_payment_failed", session))
        self.assertEqual(link.transaction_ids.state, "error")
        with freeze_time(fields.Datetime.now() + timedelta(hours=25)):
            page = self.url_open(f"/pay/{token}")
            self.assertEqual(page.status_code, 410)
            self.assertIn('name="renew"', page.text)

    def test_a_debit_through_the_statement_blocks_the_invoices_own_link(self):
        """Test that a payment being confirmed through a statement link makes the invoice's own
        link say so, and Pay on it open nothing."""
        other = self._paylink_posted_invoice(self.role_users["sales"], 80.0)
        invoice_link, invoice_token = self._send_link()
        statement, statement_token = self._statement(self.invoice | other)
        self.assertEqual(self._pay(statement_token, self.invoice).status_code, 303)
        self._make_pending(statement.transaction_ids)
        page = self.url_open(f"/pay/{invoice_token}")
        self.assertIn("o_komet_paylink_processing", page.text)
        self.assertNotIn('name="pay"', page.text)
        with self.assertRaisesRegex(UserError, "being confirmed"):
            invoice_link._paylink_start_checkout()
        self.assertFalse(invoice_link.transaction_ids)
        # The statement goes on for its other invoice only.
        page = self.url_open(f"/pay/{statement_token}")
        self.assertIn("Payment being confirmed", page.text)
        self.assertIn(f'value="{other.id}"', page.text)
        self.assertNotIn(f'value="{self.invoice.id}"', page.text)

    # === 2. TWO LIVE LINKS, ONE OPEN CHECKOUT === #

    def test_statement_and_invoice_link_never_hold_two_open_checkouts(self):
        """Test that Pay on a statement and Pay on the invoice's own link leave one open
        Checkout Session for the invoice at any time: each expires the other's."""
        __, invoice_token = self._send_link()
        statement, statement_token = self._statement(self.invoice)
        self.assertEqual(self._pay(invoice_token).status_code, 303)
        self.assertEqual(len(self._open_sessions(self.invoice)), 1)
        response = self._pay(statement_token, self.invoice)
        self.assertEqual(response.status_code, 303)
        self.assertEqual(
            self._open_sessions(self.invoice), [statement.transaction_ids.provider_reference]
        )
        self.assertEqual(self._pay(invoice_token).status_code, 303)
        self.assertEqual(len(self._open_sessions(self.invoice)), 1)
        self.assertEqual(statement.transaction_ids.state, "cancel")

    def test_a_completed_checkout_on_the_statement_stops_pay_on_the_invoice_link(self):
        """Test that a statement session the customer already paid, before its webhook came,
        makes Pay on the invoice's own link say the payment is being confirmed."""
        link, __ = self._send_link()
        statement, statement_token = self._statement(self.invoice)
        self._pay(statement_token, self.invoice)
        self._pay_session(statement.transaction_ids)
        with self.assertRaisesRegex(UserError, "being confirmed"):
            link._paylink_start_checkout()
        self.assertFalse(link.transaction_ids)

    def test_an_orders_link_closes_when_its_invoice_takes_over(self):
        """Test that posting the invoice of an order closes the order's live link and expires
        its open session: the invoice's link takes the payment, never both."""
        order = self._paylink_confirmed_order(quantity=2)
        order_link, order_token, response = self._open_checkout(order)
        self.assertEqual(response.status_code, 303)
        invoice = order._create_invoices()
        invoice.action_post()
        self.assertEqual(order_link.state, "revoked")
        self.assertEqual(order_link.transaction_ids.state, "cancel")
        self.assertFalse(self._open_sessions(invoice))
        self.assertIn(invoice.name, str(self._paylink_chatter_bodies(order)))
        self.assertEqual(self.url_open(f"/pay/{order_token}").status_code, 404)
        with self.assertRaisesRegex(UserError, "invoiced"):
            self._send_link(order)
        invoice_link, __ = self._send_link(invoice)
        self.assertEqual(invoice_link.amount, invoice.amount_residual)

    # === 3. A DOCUMENT THAT LEFT ITS CUSTOMER === #

    def test_an_invoice_moved_to_another_customer_drops_out_of_the_statement(self):
        """Test that an invoice reset to draft and posted for another customer leaves the first
        customer's statement: not listed, no PDF, not charged."""
        other = self._paylink_posted_invoice(self.role_users["sales"], 80.0)
        statement, token = self._statement(self.invoice | other)
        self.invoice.invoice_pdf_report_id = self.env["ir.attachment"].create(
            {"name": "INV.pdf", "raw": b"%PDF-1.4 test", "mimetype": "application/pdf"}
        )
        self._move_to_other_customer(self.invoice)
        self.assertEqual(statement.partner_id, self.customer)
        page = self.url_open(f"/pay/{token}")
        self.assertEqual(page.status_code, 200)
        self.assertNotIn(self.invoice.name, page.text)
        self.assertIn(other.name, page.text)
        pdf = self.url_open(f"/pay/{token}/pdf?invoice={self.invoice.id}")
        self.assertEqual(pdf.status_code, 404)
        refused = self._pay(token, self.invoice | other)
        self.assertEqual(refused.status_code, 200)
        self.assertIn("not on this statement", refused.text)
        self.assertEqual(self._pay(token, other).status_code, 303)
        self.assertEqual(statement.transaction_ids.invoice_ids, other)
        self.assertEqual(statement.transaction_ids.amount, 80.0)

    def test_an_invoice_moved_to_another_currency_drops_out_of_the_statement(self):
        """Test that a statement never charges two currencies in one payment."""
        other = self._paylink_posted_invoice(self.role_users["sales"], 80.0)
        statement, token = self._statement(self.invoice | other)
        self.invoice.button_draft()
        self.invoice.currency_id = self.setup_other_currency("EUR")
        self.invoice.action_post()
        self.assertEqual(statement._paylink_documents(), other)
        self.assertEqual(statement._paylink_amount_due(), 80.0)
        self.assertNotIn(self.invoice.name, self.url_open(f"/pay/{token}").text)

    def test_expired_link_of_an_invoice_moved_to_another_customer_shows_and_mails_nothing(self):
        """Test that an expired link of an invoice now billed to another customer answers 404:
        it never shows the new customer's address, nor mails them a new link."""
        link, token = self._send_link()
        link._paylink_register_open()
        link._paylink_mark_expired()
        self._move_to_other_customer(self.invoice)
        page = self.url_open(f"/pay/{token}")
        self.assertEqual(page.status_code, 404)
        self.assertNotIn("Other Street", page.text)
        mails = self.env["mail.mail"].search_count([])
        renew = self.url_open(
            f"/pay/{token}/renew", data={"csrf_token": "x"}, allow_redirects=False
        )
        self.assertNotEqual(renew.status_code, 200)
        self.assertEqual(self.env["mail.mail"].search_count([]), mails)
        with self.assertRaises(UserError):
            link._paylink_request_renewal("203.0.113.9")
        self.assertEqual(self.Paylink.search_count([("move_id", "=", self.invoice.id)]), 1)

    # === 4. ANOTHER PROVIDER'S TRANSACTION === #

    def test_billing_users_cannot_attach_a_transaction_to_a_link(self):
        """Test that no Billing user can tie another provider's transaction to a link (which
        would make its page say "being confirmed" forever), and no code can either."""
        link, __ = self._send_link()
        billing = self._paylink_new_user(
            "test_billing_attach", "base.group_user,account.group_account_invoice"
        )
        provider = (
            self.env["payment.provider"].sudo().search([("code", "!=", "komet_paylink")], limit=1)
        )
        values = {
            "provider_id": provider.id,
            "payment_method_id": provider.payment_method_ids[:1].id
            or self.env.ref("payment.payment_method_unknown").id,
            "amount": 10.0,
            "currency_id": self.invoice.currency_id.id,
            "partner_id": self.customer.id,
            "reference": "KOMET-ATTACH-1",
        }
        Transaction = self.env["payment.transaction"].with_user(billing)
        with self.assertRaises(AccessError):
            Transaction.create({**values, "komet_paylink_id": link.id})
        other_tx = self.env["payment.transaction"].sudo().create(values)
        with self.assertRaises(AccessError):
            other_tx.with_user(billing).write({"komet_paylink_id": link.id})
        with self.assertRaises(ValidationError):
            other_tx.write({"komet_paylink_id": link.id})
        self.assertFalse(link.transaction_ids)

    # === 5. A SESSION OF ANOTHER MODE OR ACCOUNT === #

    def test_a_session_stripe_does_not_know_never_blocks_pay(self):
        """Test that after a switch of Stripe account or mode, a session the new account does
        not know is closed on our side, and Pay opens a new one instead of answering 503."""
        link, token, first = self._open_checkout()
        old_tx = link.transaction_ids
        del self.stripe.sessions[old_tx.provider_reference]
        with mute_logger("odoo.addons.komet_paylink.models.payment_provider"), self._later():
            second = self._pay(token)
        self.assertEqual(second.status_code, 303)
        self.assertNotEqual(second.headers["Location"], first.headers["Location"])
        self.assertEqual(old_tx.state, "cancel")
        self.assertEqual(len(self._open_sessions(self.invoice)), 1)

    def test_expiring_a_session_stripe_does_not_know_ends(self):
        """Test that the retry of session expiry stops for a session the account does not know,
        rather than run for ever."""
        link, __, __ = self._open_checkout()
        transaction = link.transaction_ids
        self.stripe.fail_next(500, count=1, should_retry=False)
        with mute_logger("odoo.addons.komet_paylink.models.payment_provider"):
            link.action_revoke()
        self.assertTrue(transaction.komet_expire_pending)
        del self.stripe.sessions[transaction.provider_reference]
        with mute_logger("odoo.addons.komet_paylink.models.payment_provider"):
            self.Paylink._cron_expire_links()
        self.assertFalse(transaction.komet_expire_pending)
        self.assertEqual(transaction.state, "cancel")

    def test_a_webhook_about_a_session_stripe_does_not_know_is_answered(self):
        """Test that a signed event whose session the account does not know is answered 2xx
        and changes nothing, rather than be retried by Stripe for days."""
        link, __, __ = self._open_checkout()
        session = self._pay_session(link.transaction_ids)
        del self.stripe.sessions[session["id"]]
        with mute_logger("odoo.addons.komet_paylink.models.payment_provider"):
            response = self._deliver(make_event("checkout.session.completed", session))
        self.assertEqual(response.status_code, 200)
        self.assertEqual(link.transaction_ids.state, "draft")
        self.assertEqual(self.invoice.payment_state, "not_paid")

    # === 6. THE RETURN PAGE === #

    def test_return_page_speaks_of_the_attempt_that_came_back(self):
        """Test that an older failed attempt does not make the return page say "declined"
        while the attempt that came back is being confirmed."""
        link, token, __ = self._open_checkout()
        first = link.transaction_ids
        session = self._make_pending(first)
        self._deliver(make_event("checkout.session.async_payment_failed", session))
        self.assertEqual(first.state, "error")
        self.assertEqual(self._pay(token).status_code, 303)
        second = link.transaction_ids - first
        self._make_pending(second)
        page = self.url_open(f"/pay/return?session_id={second.provider_reference}")
        self.assertIn("o_komet_paylink_processing", page.text)
        self.assertNotIn("declined", page.text)
        page = self.url_open(f"/pay/return?session_id={first.provider_reference}")
        self.assertIn("declined", page.text)

    def test_retry_after_a_cancelled_statement_checkout_pays_the_same_invoices(self):
        """Test that Try again after cancelling a statement checkout opens a checkout for the
        invoices that attempt was for."""
        other = self._paylink_posted_invoice(self.role_users["sales"], 80.0)
        statement, token = self._statement(self.invoice | other)
        self.assertEqual(self._pay(token, other).status_code, 303)
        attempt = statement.transaction_ids
        cancel_url = self.stripe.sessions[attempt.provider_reference]["cancel_url"]
        cancel = urlsplit(cancel_url)
        back = self.url_open(f"{cancel.path}?{cancel.query}")
        self.assertIn("o_komet_paylink_cancelled", back.text)
        attempt_id = re.search(r'name="attempt" value="(\d+)"', back.text).group(1)
        self.assertEqual(attempt_id, str(attempt.id))
        # The session is still open at Stripe: Try again goes back to it.
        retried = self._post_form("/pay/return/retry", back, attempt=attempt_id)
        self.assertEqual(retried.status_code, 303)
        self.assertEqual(
            retried.headers["Location"], self.stripe.sessions[attempt.provider_reference]["url"]
        )
        # Once it expired, Try again opens one for the same invoice, not the whole statement.
        self.stripe.set_session(attempt.provider_reference, status="expired")
        with self._later():
            retried = self._post_form("/pay/return/retry", back, attempt=attempt_id)
        self.assertEqual(retried.status_code, 303)
        new = statement.transaction_ids - attempt
        self.assertEqual(new.invoice_ids, other)
        self.assertEqual(new.amount, 80.0)

    # === 7. AN INTERNAL NOTE === #

    def test_an_internal_note_on_an_order_sends_and_revokes_no_link(self):
        """Test that "Log note" on a sale order, with links sent by default, neither offers
        the Payment Link box nor revokes the customer's live link."""
        self.env["ir.config_parameter"].sudo().set_param("komet_paylink.send_by_default", "True")
        order = self._paylink_confirmed_order()
        link, __ = self._send_link(order)
        composer = (
            self.env["mail.compose.message"]
            .with_user(self.role_users["cashier"])
            .with_context(
                default_model="sale.order",
                default_res_ids=order.ids,
                default_composition_mode="comment",
                default_subtype_xmlid="mail.mt_note",
            )
            .create({"body": "Customer called, will pay Friday."})
        )
        self.assertTrue(composer.subtype_is_log)
        self.assertFalse(composer.komet_paylink_include)
        self.assertFalse(composer.komet_paylink_can_send)
        composer.komet_paylink_include = True
        composer.action_send_mail()
        self.assertEqual(link.state, "sent")
        self.assertEqual(self.Paylink.search_count([("sale_order_id", "=", order.id)]), 1)
