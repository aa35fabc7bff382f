from datetime import timedelta

from freezegun import freeze_time

from odoo import fields
from odoo.tests import HttpCase, tagged

from .common import PaylinkHttpCommon


@tagged("post_install", "-at_install")
class TestPayPage(PaylinkHttpCommon, HttpCase):
    def test_active_link_shows_the_document_and_one_pay_button(self):
        """Test that an active link's page shows company, document, amount, PDF and Pay."""
        __, token = self._send_link()
        response = self.url_open(f"/pay/{token}")
        self.assertEqual(response.status_code, 200)
        self.assertPayHeaders(response)
        page = response.text
        self.assertIn(self.company.name, page)
        self.assertIn(self.invoice.name, page)
        self.assertIn("1,150.00", page)
        self.assertIn(f"/pay/{token}/pdf", page)
        self.assertEqual(page.count('name="pay"'), 1)
        self.assertIn('name="viewport"', page)
        self.assertNotIn('<script src="http', page, "no third-party script")

    def test_get_and_head_change_nothing(self):
        """Test that mail scanners' GET and HEAD requests do not start the link's clock."""
        link, token = self._send_link()
        self.url_open(f"/pay/{token}")
        self.url_open(f"/pay/{token}", head=True)
        link.invalidate_recordset()
        self.assertEqual(link.state, "sent")
        self.assertFalse(link.opened_at)
        self.assertFalse(link.expires_at)

    def test_unknown_malformed_and_revoked_tokens_get_the_same_404(self):
        """Test that unknown, malformed and revoked tokens are answered identically."""
        link, token = self._send_link()
        link.action_revoke()
        unknown = "A" * 43
        responses = [
            self.url_open(f"/pay/{unknown}"),
            self.url_open("/pay/short"),
            self.url_open(f"/pay/{token}"),
            self.url_open(f"/pay/{token}/pdf"),
            self.url_open(f"/pay/{token}/some/deeper/path"),
        ]
        for response in responses:
            self.assertEqual(response.status_code, 404)
            self.assertPayHeaders(response)
        self.assertEqual(len({response.text for response in responses}), 1)
        self.assertNotIn(token, responses[2].text)

    def test_expired_link_answers_410_with_a_renewal_form(self):
        """Test that an expired link answers 410 and offers to request a new link."""
        link, token = self._send_link()
        link._paylink_register_open()
        with freeze_time(fields.Datetime.now() + timedelta(hours=25)):
            response = self.url_open(f"/pay/{token}")
        self.assertEqual(response.status_code, 410)
        self.assertPayHeaders(response)
        self.assertIn(f"/pay/{token}/renew", response.text)
        self.assertIn("Request a new link", response.text)
        self.assertNotIn('name="pay"', response.text)

    def test_paid_link_shows_a_receipt(self):
        """Test that a paid link shows a receipt and no second Pay button."""
        link, token = self._send_link()
        link._paylink_mark_paid()
        response = self.url_open(f"/pay/{token}")
        self.assertEqual(response.status_code, 200)
        self.assertIn("o_komet_paylink_receipt", response.text)
        self.assertNotIn('name="pay"', response.text)

    def test_pdf_download(self):
        """Test that the page's PDF link serves the invoice PDF."""
        __, token = self._send_link()
        response = self.url_open(f"/pay/{token}/pdf", timeout=60)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.headers["Content-Type"], "application/pdf")
        # Under test, Odoo renders reports as HTML unless told otherwise; the sending tests
        # render real PDFs.
        self.assertIn(self.invoice.name.encode(), response.content)
        self.assertPayHeaders(response)

    def test_first_post_starts_the_clock_and_later_ones_do_not_extend_it(self):
        """Test that the first POST opens the link for 24 hours and a second keeps the expiry."""
        self._set_demo_mode(True)
        link, token = self._send_link()
        page = self.url_open(f"/pay/{token}")
        response = self._post_form(f"/pay/{token}/checkout", page)
        self.assertEqual(response.status_code, 303)
        self.assertEqual(link.state, "opened")
        self.assertEqual(link.expires_at - link.opened_at, timedelta(hours=24))
        first_expiry = link.expires_at
        with freeze_time(fields.Datetime.now() + timedelta(hours=2)):
            self._post_form(f"/pay/{token}/checkout", page)
        self.assertEqual(link.expires_at, first_expiry)

    def test_checkout_on_an_expired_link_changes_nothing(self):
        """Test that Pay on an expired link answers 410 and opens no checkout."""
        self._set_demo_mode(True)
        link, token = self._send_link()
        page = self.url_open(f"/pay/{token}")
        link._paylink_register_open()
        with freeze_time(fields.Datetime.now() + timedelta(hours=25)):
            response = self._post_form(f"/pay/{token}/checkout", page)
        self.assertEqual(response.status_code, 410)
        self.assertFalse(link.transaction_ids)

    def test_tampered_amount_in_the_request_is_refused_or_ignored(self):
        """Test that an amount posted while partial payments are off is refused, charging
        nothing, and that a posted currency is ignored: the database decides."""
        self._set_demo_mode(True)
        link, token = self._send_link()
        page = self.url_open(f"/pay/{token}")
        response = self._post_form(f"/pay/{token}/checkout", page, amount="1.00", currency="JPY")
        self.assertEqual(response.status_code, 400)
        self.assertFalse(link.transaction_ids)
        self._post_form(f"/pay/{token}/checkout", page, currency="JPY")
        self.assertEqual(link.transaction_ids.amount, 1150.0)
        self.assertEqual(link.transaction_ids.currency_id, self.invoice.currency_id)

    def test_demo_checkout_books_the_payment_and_shows_the_receipt(self):
        """Test the whole demo flow: Pay, simulated checkout, booked payment, receipt."""
        self._set_demo_mode(True)
        link, token = self._send_link()
        page = self.url_open(f"/pay/{token}")
        response = self._post_form(f"/pay/{token}/checkout", page)
        self.assertEqual(response.status_code, 303)
        demo_url = response.headers["Location"]
        self.assertIn("/pay/demo/cs_demo_", demo_url)
        demo_page = self.url_open(demo_url)
        self.assertEqual(demo_page.status_code, 200)
        response = self._post_form(f"{demo_url}/pay", demo_page)
        self.assertEqual(response.status_code, 303)
        back = self.url_open(response.headers["Location"])
        self.assertIn("o_komet_paylink_receipt", back.text)
        self.assertEqual(link.state, "paid")
        self.assertIn(self.invoice.payment_state, ("paid", "in_payment"))
        payment = link.transaction_ids.payment_id
        self.assertEqual(payment.state, "paid" if payment.state == "paid" else "in_process")
        self.assertEqual(payment.amount, 1150.0)
        self.assertIn("Payment link paid", " ".join(self._paylink_chatter_bodies(self.invoice)))
        receipt = self.url_open(f"/pay/{token}")
        self.assertEqual(receipt.status_code, 200)
        self.assertNotIn('name="pay"', receipt.text)

    def test_demo_checkout_is_closed_unless_demo_mode_is_on(self):
        """Test that the simulated checkout does not exist when demo mode is off."""
        self._set_demo_mode(True)
        link, token = self._send_link()
        page = self.url_open(f"/pay/{token}")
        demo_url = self._post_form(f"/pay/{token}/checkout", page).headers["Location"]
        self._set_demo_mode(False)
        self.assertEqual(self.url_open(demo_url).status_code, 404)
        self.assertEqual(link.state, "opened")

    def test_return_page_never_books_anything(self):
        """Test that coming back from Checkout says processing and books nothing by itself."""
        self._set_demo_mode(True)
        link, token = self._send_link()
        page = self.url_open(f"/pay/{token}")
        demo_url = self._post_form(f"/pay/{token}/checkout", page).headers["Location"]
        session_id = demo_url.rsplit("/", 1)[1]
        back = self.url_open(f"/pay/return?session_id={session_id}")
        self.assertEqual(back.status_code, 200)
        self.assertPayHeaders(back)
        self.assertIn("o_komet_paylink_processing", back.text)
        self.assertEqual(link.state, "opened")
        self.assertEqual(self.invoice.payment_state, "not_paid")
        cancelled = self.url_open("/pay/return?cancelled=1")
        self.assertIn("o_komet_paylink_retry", cancelled.text)

    def test_renewal_emails_a_fresh_link_to_the_address_on_file(self):
        """Test that an expired link's customer gets a new link at the invoice's address."""
        self._set_demo_mode(True)
        link, token = self._send_link()
        link._paylink_register_open()
        with freeze_time(fields.Datetime.now() + timedelta(hours=25)):
            page = self.url_open(f"/pay/{token}")
            response = self._post_form(f"/pay/{token}/renew", page, email="attacker@example.com")
        self.assertEqual(response.status_code, 200)
        self.assertIn("c***@example.com", response.text)
        new_link = self.Paylink.sudo().search([("renewed_from_id", "=", link.id)])
        self.assertEqual(new_link.state, "sent")
        self.assertEqual(link.state, "expired")
        mail = (
            self.env["mail.mail"]
            .sudo()
            .search([("model", "=", "komet.paylink"), ("res_id", "=", new_link.id)])
        )
        self.assertEqual(mail.recipient_ids, self.customer)
        self.assertIn("/pay/", mail.body_html)
        self.assertIn("Pay now", mail.body_html)
        self.assertNotIn("attacker@example.com", mail.email_to or "")
        note = self.invoice.message_ids.filtered(
            lambda message: "asked for a new payment link" in (message.body or "")
        )
        self.assertIn(self.role_users["sales"].partner_id, note.partner_ids)

    def test_second_renewal_from_the_same_link_sends_nothing(self):
        """Test that asking again from a link that was just renewed sends no second link: the
        page says where the newer one went."""
        self._set_demo_mode(True)
        link, token = self._send_link()
        link._paylink_register_open()
        with freeze_time(fields.Datetime.now() + timedelta(hours=25)):
            page = self.url_open(f"/pay/{token}")
            self.assertEqual(self._post_form(f"/pay/{token}/renew", page).status_code, 200)
            second = self._post_form(f"/pay/{token}/renew", page)
        self.assertEqual(second.status_code, 410)
        self.assertIn("A newer payment link was sent on", second.text)
        self.assertEqual(self.Paylink.sudo().search_count([("renewed_from_id", "=", link.id)]), 1)

    def test_page_speaks_the_customers_language(self):
        """Test that the page is rendered in the customer's language."""
        self.env["res.lang"]._activate_lang("fr_FR")
        self.customer.lang = "fr_FR"
        __, token = self._send_link()
        response = self.url_open(f"/pay/{token}")
        self.assertEqual(response.status_code, 200)
        self.assertIn('lang="fr-FR"', response.text)
