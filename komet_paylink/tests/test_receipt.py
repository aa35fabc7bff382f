from unittest.mock import patch

from odoo.tests import HttpCase, tagged

from odoo.addons.base.models.ir_actions_report import IrActionsReport

from .common import PaylinkStripeCommon, plain_spaces
from .stripe_fake import make_event


@tagged("post_install", "-at_install")
class TestReceipt(PaylinkStripeCommon, HttpCase):
    """A paid link offers Odoo's payment receipt of its payment, rendered once; the customer
    is told by email what was paid."""

    def _paid_link(self):
        """Pay the invoice's link through Checkout and a signed webhook, as a customer would;
        return the link, its token and the booked payment."""
        link, token, __ = self._open_checkout()
        transaction = link.transaction_ids
        session = self._pay_session(transaction)
        response = self._deliver(make_event("checkout.session.completed", session))
        self.assertEqual(response.status_code, 200)
        self.assertEqual(link.state, "paid")
        return link, token, transaction.payment_id

    def test_paid_page_offers_the_receipt_and_the_route_serves_it_once_rendered(self):
        """Test that the paid page offers the receipt of the payment, that its route serves a
        PDF, and that the receipt is rendered once, then kept on the payment."""
        link, token, payment = self._paid_link()
        page = self.url_open(f"/pay/{token}")
        self.assertEqual(page.status_code, 200)
        receipt_url = f"/pay/{token}/receipt?payment={payment.id}"
        self.assertIn(receipt_url, page.text.replace("&amp;", "&"))
        self.assertIn("Download the receipt", page.text)
        self.assertNotIn('name="pay"', page.text)
        render = IrActionsReport._render_qweb_pdf
        with patch.object(
            IrActionsReport, "_render_qweb_pdf", autospec=True, side_effect=render
        ) as renders:
            first = self.url_open(receipt_url)
            second = self.url_open(f"/pay/{token}/receipt")
        self.assertEqual(renders.call_count, 1, "rendered once, then served from the payment")
        self.assertEqual(renders.call_args.args[1], "account.report_payment_receipt")
        for response in (first, second):
            self.assertEqual(response.status_code, 200)
            self.assertEqual(response.headers["Content-Type"], "application/pdf")
            self.assertPayHeaders(response)
            # Under test, Odoo renders reports as HTML unless told otherwise.
            self.assertIn(payment.name.encode(), response.content)
        self.assertEqual(second.content, first.content)
        kept = payment.komet_paylink_receipt_id
        self.assertEqual((kept.res_model, kept.res_id), ("account.payment", payment.id))

    def test_the_receipt_is_a_real_pdf_of_odoos_payment_receipt(self):
        """Test that the receipt served is Odoo's payment receipt as a PDF, with the amount."""
        link, token, payment = self._paid_link()
        pdf, filename = payment.with_context(force_report_rendering=True)._paylink_receipt_pdf()
        self.assertTrue(pdf.startswith(b"%PDF"))
        self.assertTrue(filename.endswith(".pdf"))
        response = self.url_open(f"/pay/{token}/receipt")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.content, pdf, "the kept receipt, not a second render")

    def test_no_receipt_before_payment_nor_for_a_bad_token(self):
        """Test that the receipt route answers 404, as an unknown token, for a link not paid,
        a bad token and a payment that is not the link's."""
        __, token = self._send_link()
        not_found = self.url_open("/pay/not-a-token/receipt")
        self.assertEqual(not_found.status_code, 404)
        unpaid = self.url_open(f"/pay/{token}/receipt")
        self.assertEqual(unpaid.status_code, 404)
        self.assertEqual(unpaid.text, not_found.text)
        link, paid_token, payment = self._paid_link()
        other = self.url_open(f"/pay/{paid_token}/receipt?payment={payment.id + 1000}")
        self.assertEqual(other.status_code, 404)
        self.assertEqual(self.url_open(f"/pay/{paid_token}/receipt?payment=x").status_code, 404)

    def test_confirmation_email_says_what_was_paid_in_the_customers_language(self):
        """Test that a payment through a link emails the customer what was paid, in French
        for a French customer."""
        self._load_french()
        self.customer.lang = "fr_FR"
        __, __, payment = self._paid_link()
        mail = (
            self.env["mail.mail"]
            .sudo()
            .search([("model", "=", "account.payment"), ("res_id", "=", payment.id)])
        )
        self.assertEqual(len(mail), 1)
        self.assertEqual(mail.recipient_ids, self.customer)
        text = plain_spaces(mail.body_html)
        self.assertIn("Nous avons bien reçu votre paiement de", text)
        self.assertIn("1 150,00", text)
        self.assertIn(self.invoice.name, text)
        self.assertIn("paiement reçu", mail.subject)
