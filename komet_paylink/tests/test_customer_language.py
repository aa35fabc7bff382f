from datetime import timedelta

from freezegun import freeze_time

from odoo import fields
from odoo.tests import HttpCase, tagged

from .common import PaylinkStripeCommon, pdf_text, plain_spaces


@tagged("post_install", "-at_install")
class TestCustomerLanguage(PaylinkStripeCommon, HttpCase):
    """What the customer receives is in their language, amounts written as Odoo writes them
    there, and the Pay box draws their currency's sign."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.customer.invoice_sending_method = "email"
        cls.euro = cls.env.ref("base.EUR")
        cls.rupee = cls.env.ref("base.INR")
        (cls.euro | cls.rupee).active = True

    def _invoice(self, amount, currency):
        invoice = self.init_invoice(
            "out_invoice", partner=self.customer, amounts=[amount], taxes=[], currency=currency
        )
        invoice.action_post()
        return invoice

    def _sent_mail(self, invoice):
        return (
            self.env["mail.mail"]
            .sudo()
            .search([("model", "=", invoice._name), ("res_id", "=", invoice.id)], limit=1)
        )

    def _emailed_pdf(self, mail):
        (pdf,) = mail.attachment_ids.filtered(lambda a: a.mimetype == "application/pdf")
        self.assertTrue(pdf.raw.startswith(b"%PDF"), "rendered by wkhtmltopdf")
        return pdf.raw

    def test_french_customer_gets_the_pay_block_and_pay_box_in_french(self):
        """Test that a French customer's email Pay block and PDF Pay box read "Payer", with
        the amount written "1 234,50 €" as Odoo writes it in French."""
        self._load_french()
        self.customer.lang = "fr_FR"
        invoice = self._invoice(1234.5, self.euro)
        self._send_link(invoice, by_email=True)
        mail = self._sent_mail(invoice)
        body = plain_spaces(mail.body_html)
        self.assertIn("Payer maintenant", body)
        self.assertIn("1 234,50 € à payer", body)
        self.assertIn("Le lien est actif", body)
        self.assertNotIn("Pay now", body)
        self.assertNotIn("due.", body)
        box = plain_spaces(pdf_text(self._emailed_pdf(mail)))
        self.assertIn("Payer en ligne", box)
        self.assertIn("Payer maintenant", box)
        self.assertIn(f"Facture {invoice.name} : 1 234,50 € à payer", box)
        self.assertNotIn("Pay now", box)

    def test_the_sender_language_does_not_leak_into_a_french_email(self):
        """Test that a sender working in English sends the French customer's Pay block in
        French, and an English customer's in English."""
        self._load_french()
        self.role_users["cashier"].lang = "en_US"
        self.customer.lang = "fr_FR"
        invoice = self._invoice(1234.5, self.euro)
        self._send_link(invoice, by_email=True)
        self.assertIn("Payer maintenant", self._sent_mail(invoice).body_html)
        self.customer.lang = "en_US"
        english = self._invoice(1234.5, self.euro)
        self._send_link(english, by_email=True)
        body = plain_spaces(self._sent_mail(english).body_html)
        self.assertIn("Pay now", body)
        self.assertIn("1,234.50 € due", body)

    def test_rupee_invoice_pay_box_shows_the_rupee_sign(self):
        """Test that an Indian-rupee invoice's Pay box shows "₹", read back from the PDF."""
        invoice = self._invoice(1234.5, self.rupee)
        self._send_link(invoice, by_email=True)
        box = plain_spaces(pdf_text(self._emailed_pdf(self._sent_mail(invoice))))
        self.assertIn("₹", box)
        self.assertIn(f"{invoice.name}: ₹ 1,234.50 due", box)
        self.assertNotIn("?", box.split("Pay online", 1)[1])

    def test_checkout_session_speaks_the_customers_language(self):
        """Test that the Checkout Session carries the customer's language (locale=fr), and
        `auto` for a language Stripe Checkout does not have."""
        self._load_french()
        self.customer.lang = "fr_FR"
        link, __, response = self._open_checkout()
        self.assertEqual(response.status_code, 303)
        params = self.stripe.last_request("/v1/checkout/sessions")["params"]
        self.assertEqual(params["locale"], "fr")
        self.env["res.lang"]._activate_lang("uk_UA")
        self.customer.lang = "uk_UA"
        __, __, response = self._open_checkout(self._invoice(80.0, self.euro))
        self.assertEqual(response.status_code, 303)
        params = self.stripe.last_request("/v1/checkout/sessions")["params"]
        self.assertEqual(params["locale"], "auto")

    def test_a_message_of_the_page_is_in_the_customers_language(self):
        """Test that what the model answers the customer on the page (here: the link expires
        too soon to pay) is in the customer's language."""
        self._load_french()
        self.customer.lang = "fr_FR"
        link, token = self._send_link()
        page = self.url_open(f"/pay/{token}")
        link._paylink_register_open()
        with freeze_time(fields.Datetime.now() + timedelta(hours=23, minutes=45)):
            response = self._post_form(f"/pay/{token}/checkout", page)
        self.assertEqual(response.status_code, 200)
        self.assertIn("expire dans moins de 30 minutes", response.text)
        self.assertNotIn("less than 30 minutes", response.text)

    def test_renewal_email_is_in_the_customers_language(self):
        """Test that the email of a fresh link (renewal) is in the customer's language, its
        amount written as Odoo writes it there."""
        self._load_french()
        self.customer.lang = "fr_FR"
        invoice = self._invoice(1234.5, self.euro)
        invoice.sudo()._paylink_email_new_link(reminder_days=0)
        mail = self.env["mail.mail"].sudo().search([], order="id desc", limit=1)
        self.assertIn("Payer maintenant", mail.body_html)
        self.assertIn("1 234,50 €", plain_spaces(mail.body_html))
        self.assertNotIn("Pay now", mail.body_html)
        self.assertNotIn("your payment link", mail.subject)

    def test_reminder_is_in_the_customers_language(self):
        """Test that a payment reminder's subject, text and Pay block are in the customer's
        language, its amount and due date written as Odoo writes them there."""
        self._load_french()
        self.customer.lang = "fr_FR"
        invoice = self._invoice(1234.5, self.euro)
        invoice.with_context(mail_notify_force_send=False)._paylink_send_reminder(3)
        mail = self._sent_mail(invoice)
        self.assertTrue(mail.subject.startswith("Rappel : "), mail.subject)
        body = plain_spaces(mail.body_html)
        due = invoice.invoice_date_due.strftime("%d/%m/%Y")
        self.assertIn(f"la facture {invoice.name} était due le {due} et 1 234,50 €", body)
        self.assertIn("Payer maintenant", body)
        self.assertNotIn("Pay now", body)

    def test_log_note_on_an_invoice_leaves_the_live_link_untouched(self):
        """Test that "Log note" on an invoice, with links sent by default, neither makes nor
        revokes a payment link."""
        self.env["ir.config_parameter"].sudo().set_param("komet_paylink.send_by_default", "True")
        link, __ = self._send_link(self.invoice)
        composer = (
            self.env["mail.compose.message"]
            .with_user(self.role_users["cashier"])
            .with_context(
                default_model="account.move",
                default_res_ids=self.invoice.ids,
                default_composition_mode="comment",
                default_subtype_xmlid="mail.mt_note",
            )
            .create({"body": "Customer called, will pay Friday."})
        )
        self.assertTrue(composer.subtype_is_log)
        self.assertFalse(composer.komet_paylink_include)
        composer.komet_paylink_include = True
        composer.action_send_mail()
        self.invoice.with_user(self.role_users["cashier"]).message_post(
            body="Second note", message_type="comment", subtype_xmlid="mail.mt_note"
        )
        self.assertEqual(link.state, "sent")
        self.assertEqual(self.Paylink.sudo().search([("move_id", "=", self.invoice.id)]), link)
        note = self.invoice.message_ids[:1]
        self.assertNotIn("/pay/", note.body)
