import base64
import re
import subprocess
import tempfile
from datetime import timedelta

from freezegun import freeze_time

from odoo import Command, fields
from odoo.tests import HttpCase, tagged

from .common import PaylinkHttpCommon, PaylinkStripeCommon, pdf_text, plain_spaces

# A Belgian IBAN (SEPA), as in Odoo's own tests of the SEPA QR code.
IBAN = "BE15001559627230"
# The pay page with a bank-transfer QR code, as the customer first opens it: the page's 8
# queries, plus the bank account, its bank's BIC and the SEPA zone's countries that Odoo reads
# to make the code. Measured on 2026-12-04: see `test_active_page_with_a_bank_qr_query_budget`.
QUERY_BUDGET_PAGE_WITH_BANK_QR = 12
QUERY_BUDGET_PAGE = 8  # without a code: as test_query_budgets' active page


def decode_qr(data_uri):
    """The text of the QR code in `data_uri` (a base64 PNG), read by zbarimg (Debian's
    zbar-tools, which scripts/setup installs) as a banking app reads it."""
    prefix = "data:image/png;base64,"
    assert data_uri.startswith(prefix), data_uri[:40]
    with tempfile.NamedTemporaryFile(suffix=".png") as png:
        png.write(base64.b64decode(data_uri[len(prefix) :]))
        png.flush()
        result = subprocess.run(
            ["zbarimg", "--raw", "-q", png.name], capture_output=True, text=True, check=True
        )
    return result.stdout.rstrip("\n")


class BankTransferCommon(PaylinkHttpCommon):
    """A company that prints payment QR codes on its invoices, with a SEPA bank account."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.euro = cls.env.ref("base.EUR")
        cls.euro.active = True
        cls.company.qr_code = True
        cls.iban_account = cls.env["res.partner.bank"].create(
            {"acc_number": IBAN, "partner_id": cls.company.partner_id.id}
        )

    def setUp(self):
        super().setUp()
        methods = dict(self.env["res.partner.bank"].get_available_qr_methods_in_sequence())
        self.assertIn(
            "sct_qr", methods, "account_qr_code_sepa must be installed (a dependency of the addon)"
        )

    def _invoice(self, amount=1150.0, currency=None, bank=None):
        invoice = self.init_invoice(
            "out_invoice",
            partner=self.customer,
            amounts=[amount],
            taxes=[],
            currency=currency or self.euro,
        )
        invoice.partner_bank_id = bank or self.iban_account
        invoice.invoice_user_id = self.role_users["sales"]
        invoice.action_post()
        return invoice

    def _bank_qr(self, page):
        """The data URI of the page's bank-transfer QR code and its alt text, or None."""
        tag = re.search(r"<img[^>]*o_komet_paylink_bank_qr[^>]*>", page)
        if not tag:
            return None
        src = re.search(r'src="(data:image/png;base64,[A-Za-z0-9+/=]+)"', tag.group(0))
        alt = re.search(r'alt="([^"]*)"', tag.group(0))
        self.assertTrue(src, "the QR code is an inline PNG")
        return src.group(1), alt and alt.group(1)


@tagged("post_install", "-at_install")
class TestBankTransferPage(BankTransferCommon, HttpCase):
    def test_euro_invoice_page_shows_a_sepa_qr_code_of_what_is_due(self):
        """Test that the page of a euro invoice paid to an IBAN shows a labelled bank QR code
        that a banking app reads as a SEPA transfer of the amount due to that IBAN, with the
        invoice's payment reference, and says that nothing is booked from the page."""
        invoice = self._invoice()
        __, token = self._send_link(invoice)
        page = self.url_open(f"/pay/{token}").text
        self.assertIn("Pay from your banking app", page)
        self.assertIn("we match your transfer to the invoice", page)
        data_uri, alt = self._bank_qr(page)
        self.assertIn(invoice.payment_reference, alt)
        self.assertIn(IBAN, alt.replace(" ", ""))
        lines = decode_qr(data_uri).split("\n")
        self.assertEqual(lines[:4], ["BCD", "002", "1", "SCT"])
        self.assertIn(IBAN, lines)
        self.assertIn("EUR1150.0", lines)
        self.assertTrue(invoice.payment_reference)
        self.assertIn(invoice.payment_reference, lines)
        self.assertFalse(invoice.qr_code_method, "the page writes nothing on the invoice")

    def test_bank_qr_carries_what_is_due_now(self):
        """Test that the bank QR code of a partly paid invoice is for what is left to pay."""
        invoice = self._invoice(amount=500.0)
        self.env["account.payment.register"].with_context(
            active_model="account.move", active_ids=invoice.ids
        ).create({"amount": 200.0, "currency_id": self.euro.id})._create_payments()
        self.assertEqual(invoice.amount_residual, 300.0)
        __, token = self._send_link(invoice)
        data_uri, __ = self._bank_qr(self.url_open(f"/pay/{token}").text)
        self.assertIn("EUR300.0", decode_qr(data_uri).split("\n"))

    def test_rf_creditor_reference_goes_in_the_structured_field(self):
        """Test that an ISO 11649 (RF) payment reference is the code's structured reference,
        as the EPC standard wants it."""
        journal = self.company_data["default_journal_sale"]
        journal.invoice_reference_model = "euro"
        invoice = self._invoice()
        self.assertTrue(invoice.payment_reference.startswith("RF"))
        __, token = self._send_link(invoice)
        data_uri, __ = self._bank_qr(self.url_open(f"/pay/{token}").text)
        lines = decode_qr(data_uri).split("\n")
        self.assertEqual(lines[9], invoice.payment_reference.replace(" ", ""))

    def test_no_bank_qr_for_a_non_euro_invoice(self):
        """Test that an invoice in another currency than the euro gets no bank QR code when no
        other QR method can make one."""
        usd = self.env.ref("base.USD")
        usd.active = True
        invoice = self._invoice(currency=usd)
        __, token = self._send_link(invoice)
        page = self.url_open(f"/pay/{token}").text
        self.assertIn('name="pay"', page)
        self.assertNotIn("Pay from your banking app", page)

    def test_no_bank_qr_for_a_bank_account_without_iban(self):
        """Test that an invoice paid to an account that is not an IBAN gets no bank QR code."""
        account = self.env["res.partner.bank"].create(
            {"acc_number": "0012345678", "partner_id": self.company.partner_id.id}
        )
        __, token = self._send_link(self._invoice(bank=account))
        page = self.url_open(f"/pay/{token}").text
        self.assertIn('name="pay"', page)
        self.assertNotIn("Pay from your banking app", page)

    def test_bank_qr_also_when_the_company_prints_none_on_its_pdfs(self):
        """Test that the page offers the bank transfer whenever the invoice's bank account can
        make a code, even for a company that prints no payment QR code on its invoice PDFs."""
        self.company.qr_code = False
        invoice = self._invoice()
        __, token = self._send_link(invoice)
        page = self.url_open(f"/pay/{token}").text
        self.assertIn("Pay from your banking app", page)
        self.assertIn(IBAN, decode_qr(self._bank_qr(page)[0]))

    def test_no_bank_qr_on_a_statement(self):
        """Test that a statement link shows no bank QR code: one transfer carries the
        reference of one invoice."""
        invoices = self._invoice() | self._invoice(amount=80.0)
        link = self.Paylink.with_user(self.role_users["cashier"]).create(
            {"move_ids": [Command.set(invoices.ids)]}
        )
        page = self.url_open(f"/pay/{link.url.rsplit('/', 1)[1]}").text
        self.assertIn("Pay the ticked invoices", page)
        self.assertNotIn("Pay from your banking app", page)

    def test_no_bank_qr_for_a_sale_order(self):
        """Test that the page of a sale order's link (a prepayment, in euros) shows no bank QR
        code: only an invoice carries the reference a transfer is matched by."""
        pricelist = self.env["product.pricelist"].create(
            {"name": "Euros", "currency_id": self.euro.id}
        )
        order = self.env["sale.order"].create(
            {
                "partner_id": self.customer.id,
                "pricelist_id": pricelist.id,
                "user_id": self.role_users["sales"].id,
                "order_line": [Command.create({"product_id": self.product_a.id})],
            }
        )
        order.action_confirm()
        __, token = self._send_link(order)
        page = self.url_open(f"/pay/{token}").text
        self.assertIn('name="pay"', page)
        self.assertNotIn("Pay from your banking app", page)

    def test_no_bank_qr_on_a_paid_or_expired_page(self):
        """Test that the page of a paid link, or of an expired one, shows no bank QR code."""
        paid_link, paid_token = self._send_link(self._invoice())
        paid_link._paylink_mark_paid()
        expired_link, expired_token = self._send_link(self._invoice())
        expired_link._paylink_register_open()
        pages = [self.url_open(f"/pay/{paid_token}")]
        with freeze_time(fields.Datetime.now() + timedelta(hours=25)):
            pages.append(self.url_open(f"/pay/{expired_token}"))
        self.assertEqual([page.status_code for page in pages], [200, 410])
        for page in pages:
            self.assertNotIn("Pay from your banking app", page.text)

    def test_active_page_with_a_bank_qr_query_budget(self):
        """Test that the page of an active link with a bank QR code stays within its query
        budget (the page without one keeps its own 8, see test_pay_page_details)."""
        __, token = self._send_link(self._invoice())
        self.url_open(f"/pay/{token}")  # Odoo's caches warm
        __, token = self._send_link(self._invoice())
        with self.assertQueryCount(QUERY_BUDGET_PAGE_WITH_BANK_QR):
            page = self.url_open(f"/pay/{token}").text
        self.assertIn("o_komet_paylink_bank_qr", page)

    def test_other_currencies_ask_for_no_code_unless_the_company_shows_them(self):
        """Test that an invoice in another currency, with a bank account, costs the page no
        query for a code while the company shows no payment QR codes on its invoices (and
        that the page offers none)."""
        self.company.qr_code = False
        usd = self.env.ref("base.USD")
        usd.active = True
        __, token = self._send_link(self._invoice(currency=usd))
        self.url_open(f"/pay/{token}")  # Odoo's caches warm
        __, token = self._send_link(self._invoice(currency=usd))
        with self.assertQueryCount(QUERY_BUDGET_PAGE):
            page = self.url_open(f"/pay/{token}").text
        self.assertIn('name="pay"', page)
        self.assertNotIn("Pay from your banking app", page)

    def test_page_with_a_bank_qr_has_no_accessibility_violation(self):
        """Test that the active page with a bank QR code has no accessibility violation."""
        __, token = self._send_link(self._invoice())
        self.assertIn("o_komet_paylink_bank_qr", self.url_open(f"/pay/{token}").text)
        self.assertNoAxeViolations(f"/pay/{token}")


@tagged("post_install", "-at_install")
class TestBankTransferPdf(BankTransferCommon, PaylinkStripeCommon, HttpCase):
    """The emailed PDF may carry two QR codes: Odoo's for a banking app, ours for the phone's
    camera (odoo/odoo#162991). Each says which."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.customer.invoice_sending_method = "email"

    def _emailed_pdf_text(self, invoice):
        self._send_link(invoice, by_email=True)
        mail = (
            self.env["mail.mail"]
            .sudo()
            .search([("model", "=", invoice._name), ("res_id", "=", invoice.id)], limit=1)
        )
        (pdf,) = mail.attachment_ids.filtered(lambda a: a.mimetype == "application/pdf")
        self.assertTrue(pdf.raw.startswith(b"%PDF"), "rendered by wkhtmltopdf")
        return plain_spaces(pdf_text(pdf.raw))

    def test_pay_box_qr_code_is_labelled_for_the_phone_camera(self):
        """Test that the Pay box's QR code says it is scanned with the phone's camera to pay by
        card or online, and Odoo's bank QR code on the same invoice that it is for a banking
        app."""
        invoice = self._invoice()
        text = self._emailed_pdf_text(invoice)
        self.assertIn("Scan with your phone's camera to pay by card or online", text)
        self.assertIn("not with a banking app", text)
        # Debian's wkhtmltopdf leaves no text of Odoo's pages in the PDF: read their HTML.
        html = (
            self.env["ir.actions.report"]
            ._render_qweb_html("account.account_invoices", invoice.ids)[0]
            .decode()
        )
        self.assertIn('src="data:image/png;base64,', html, "Odoo prints its bank QR code")
        self.assertIn(
            "Scan this QR Code with your banking application",
            plain_spaces(re.sub(r"<br\s*/?>", " ", html)),
        )

    def test_pay_box_qr_label_is_in_the_customer_language(self):
        """Test that a French customer's Pay box labels its QR code in French."""
        self._load_french()
        self.customer.lang = "fr_FR"
        text = self._emailed_pdf_text(self._invoice())
        self.assertIn("Scannez avec l'appareil photo de votre téléphone", text)
        self.assertIn("pour payer par carte ou en ligne", text)
        self.assertNotIn("Scan with your phone's camera", text)
