import io
import subprocess
import tempfile
from pathlib import Path

from PyPDF2 import PdfReader

from odoo import Command
from odoo.exceptions import AccessError, UserError
from odoo.tests import HttpCase, tagged

from .common import PaylinkHttpCommon


def pdf_link_uris(pdf_content):
    """The URLs of the clickable links of a PDF."""
    uris = []
    for page in PdfReader(io.BytesIO(pdf_content)).pages:
        for annotation in page.get("/Annots") or []:
            action = annotation.get_object().get("/A") or {}
            if "/URI" in action:
                uris.append(str(action["/URI"]))
    return uris


def pdf_qr_codes(pdf_content):
    """Decode every QR code of a PDF's pages, as a phone camera would."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, "doc.pdf")
        path.write_bytes(pdf_content)
        subprocess.run(
            ["pdftoppm", "-r", "200", "-png", str(path), str(Path(folder, "page"))], check=True
        )
        decoded = []
        for image in sorted(Path(folder).glob("page*.png")):
            result = subprocess.run(
                ["zbarimg", "--quiet", "--raw", str(image)], capture_output=True, text=True
            )
            decoded += result.stdout.split()
        return decoded


@tagged("post_install", "-at_install")
class TestSending(PaylinkHttpCommon, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.customer.invoice_sending_method = "email"

    def _send_wizard(self, invoice, user=None, **values):
        wizard = (
            self.env["account.move.send.wizard"]
            .with_user(user or self.role_users["cashier"])
            .with_context(
                active_model="account.move",
                active_ids=invoice.ids,
                force_report_rendering=True,
                mail_notify_force_send=False,
            )
            .create(values)
        )
        return wizard

    def _sent_mail(self, record):
        return (
            self.env["mail.mail"]
            .sudo()
            .search(
                [("model", "=", record._name), ("res_id", "=", record.id)], order="id desc", limit=1
            )
        )

    def _mail_pdf(self, mail):
        pdfs = mail.attachment_ids.filtered(lambda a: a.mimetype == "application/pdf")
        self.assertEqual(len(pdfs), 1, "the email carries one PDF")
        return pdfs.raw

    def _live_link(self, invoice):
        return self.Paylink.sudo().search(
            [("move_id", "=", invoice.id), ("state", "=", "sent")], limit=1
        )

    def assertEmailCarriesLink(self, mail):
        """The email body has a Pay now button and its PDF a clickable link and a QR code of
        the same URL, which opens the active payment page."""
        self.assertIn("Pay now", mail.body_html)
        pdf = self._mail_pdf(mail)
        self.assertTrue(pdf.startswith(b"%PDF"), "rendered by wkhtmltopdf")
        uris = [uri for uri in pdf_link_uris(pdf) if "/pay/" in uri]
        self.assertEqual(len(uris), 1)
        url = uris[0]
        self.assertIn(f'href="{url}"', mail.body_html)
        self.assertEqual(pdf_qr_codes(pdf), [url])
        # Debian's wkhtmltopdf leaves no extractable text in the PDF: the wording is checked
        # on the HTML rendering of the same report, with the same link.
        invoice = self.env["account.move"].browse(mail.res_id)
        html = (
            self.env["ir.actions.report"]
            .with_context(komet_paylink_urls={invoice.id: url})
            ._render_qweb_html("account.account_invoices", invoice.ids)[0]
            .decode()
        )
        block = html.split('id="komet_paylink"', 1)[1].split('id="payment_term"', 1)[0]
        self.assertIn("Pay now", block)
        self.assertIn("24 hours", block)
        self.assertIn("after you first open it", block)
        self.assertIn(f"{invoice.amount_residual:,.2f}", block)
        page = self.url_open(url.replace(self.base_url(), ""))
        self.assertEqual(page.status_code, 200)
        return url

    def test_single_send_carries_the_link_in_body_and_pdf(self):
        """Test that the Send dialog with Payment Link emails a button, a PDF link and a QR."""
        wizard = self._send_wizard(self.invoice, komet_paylink_include=True)
        self.assertTrue(wizard.komet_paylink_can_send)
        wizard.action_send_and_print()
        mail = self._sent_mail(self.invoice)
        self.assertEqual(mail.recipient_ids, self.customer)
        self.assertEmailCarriesLink(mail)
        self.assertTrue(self._live_link(self.invoice))
        self.assertTrue(self.invoice.is_move_sent)

    def test_plain_print_and_send_without_link_have_no_button(self):
        """Test that a plain Print, and a send without the box, show no button and no QR."""
        self._send_wizard(self.invoice, komet_paylink_include=False).action_send_and_print()
        mail = self._sent_mail(self.invoice)
        self.assertNotIn("/pay/", mail.body_html)
        pdf = self._mail_pdf(mail)
        self.assertFalse([uri for uri in pdf_link_uris(pdf) if "/pay/" in uri])
        self.assertEqual(pdf_qr_codes(pdf), [])
        printed = (
            self.env["ir.actions.report"]
            .with_context(force_report_rendering=True)
            ._render_qweb_pdf("account.account_invoices", self.invoice.ids)[0]
        )
        self.assertFalse([uri for uri in pdf_link_uris(printed) if "/pay/" in uri])
        self.assertEqual(pdf_qr_codes(printed), [])
        printed_html = self.env["ir.actions.report"]._render_qweb_html(
            "account.account_invoices", self.invoice.ids
        )[0]
        self.assertNotIn(b"Pay now", printed_html)
        self.assertFalse(self.Paylink.sudo().search([("move_id", "=", self.invoice.id)]))

    def test_the_kept_invoice_pdf_has_no_link(self):
        """Test that the PDF Odoo keeps for the invoice is the plain one, not the email's."""
        self._send_wizard(self.invoice, komet_paylink_include=True).action_send_and_print()
        kept = self.invoice.invoice_pdf_report_id
        self.assertTrue(kept)
        self.assertFalse([uri for uri in pdf_link_uris(kept.raw) if "/pay/" in uri])
        self.assertEqual(pdf_qr_codes(kept.raw), [])

    def test_batch_send_carries_the_link(self):
        """Test that the batch dialog, sent at once, emails the link."""
        wizard = (
            self.env["account.move.send.batch.wizard"]
            .with_user(self.role_users["cashier"])
            .with_context(
                active_model="account.move",
                active_ids=self.invoice.ids,
                force_report_rendering=True,
                mail_notify_force_send=False,
            )
            .create({})
        )
        self.assertTrue(wizard.komet_paylink_include)
        wizard.action_send_and_print(force_synchronous=True)
        self.assertEmailCarriesLink(self._sent_mail(self.invoice))

    def test_scheduled_action_always_carries_the_link(self):
        """Test that invoices sent by the scheduled action carry a link whatever the setting,
        even when a user outside the roles asked for the background sending."""
        self.env["ir.config_parameter"].sudo().set_param("komet_paylink.send_by_default", "False")
        wizard = (
            self.env["account.move.send.batch.wizard"]
            .with_user(self.plain_user)
            .with_context(active_model="account.move", active_ids=self.invoice.ids)
            .create({"komet_paylink_include": False})
        )
        wizard.action_send_and_print()
        self.assertTrue(self.invoice.sending_data)
        self.env["account.move"].with_context(
            force_report_rendering=True, mail_notify_force_send=False
        )._cron_account_move_send()
        self.assertFalse(self.invoice.sending_data)
        self.assertEmailCarriesLink(self._sent_mail(self.invoice))

    def test_default_setting_checks_the_box_for_pending_invoices(self):
        """Test that 'Send payment links by default' pre-checks the box for pending invoices."""
        self.assertFalse(self._send_wizard(self.invoice).komet_paylink_include)
        self.env["ir.config_parameter"].sudo().set_param("komet_paylink.send_by_default", "True")
        self.assertTrue(self._send_wizard(self.invoice).komet_paylink_include)
        paid = self._paylink_posted_invoice(self.role_users["sales"], 30.0)
        self.env["account.payment.register"].with_context(
            active_model="account.move", active_ids=paid.ids
        ).create({})._create_payments()
        self.assertFalse(self._send_wizard(paid).komet_paylink_include)

    def test_users_outside_the_roles_neither_see_nor_send(self):
        """Test that a user outside the roles does not see the box and cannot force it."""
        wizard = self._send_wizard(self.invoice, user=self.plain_user)
        self.assertFalse(wizard.komet_paylink_can_send)
        wizard.komet_paylink_include = True
        with self.assertRaises(AccessError):
            wizard.action_send_and_print()
        self.assertFalse(self.Paylink.sudo().search([("move_id", "=", self.invoice.id)]))

    def test_resending_revokes_the_older_link(self):
        """Test that a second email with a link revokes the first link."""
        self._send_wizard(self.invoice, komet_paylink_include=True).action_send_and_print()
        first = self._live_link(self.invoice)
        self._send_wizard(self.invoice, komet_paylink_include=True).action_send_and_print()
        self.assertEqual(first.state, "revoked")
        self.assertEqual(len(self._live_link(self.invoice)), 1)
        self.assertNotEqual(self._live_link(self.invoice), first)

    def test_nothing_to_pay_is_refused_with_the_reason(self):
        """Test that the dialog refuses a link for a paid invoice and says why."""
        paid = self._paylink_posted_invoice(self.role_users["sales"], 30.0)
        self.env["account.payment.register"].with_context(
            active_model="account.move", active_ids=paid.ids
        ).create({})._create_payments()
        wizard = self._send_wizard(paid, komet_paylink_include=True)
        self.assertIn("already paid", str(wizard.alerts))
        with self.assertRaisesRegex(UserError, "already paid"):
            wizard.action_send_and_print()
        self.assertFalse(self.Paylink.sudo().search([("move_id", "=", paid.id)]))


@tagged("post_install", "-at_install")
class TestSendingSaleOrder(PaylinkHttpCommon, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.order = cls.env["sale.order"].create(
            {
                "partner_id": cls.customer.id,
                "user_id": cls.role_users["sales"].id,
                "order_line": [
                    Command.create(
                        {"product_id": cls.product_a.id, "product_uom_qty": 2, "tax_id": False}
                    )
                ],
            }
        )
        cls.order.action_confirm()

    def _send_order(self, include=True):
        action = self.order.with_user(self.role_users["sales"]).action_quotation_send()
        composer = (
            self.env["mail.compose.message"]
            .with_user(self.role_users["sales"])
            .with_context(
                **action["context"], force_report_rendering=True, mail_notify_force_send=False
            )
            .create({"komet_paylink_include": include})
        )
        self.assertTrue(composer.komet_paylink_can_send)
        composer.action_send_mail()
        return self.env["mail.message"].search(
            [
                ("model", "=", "sale.order"),
                ("res_id", "=", self.order.id),
                ("message_type", "=", "comment"),
            ],
            order="id desc",
            limit=1,
        )

    def test_order_with_an_invoice_sends_the_invoice_with_its_button(self):
        """Test that an invoiced order's email carries the invoice PDF with its Pay now link."""
        invoice = self.order._create_invoices()
        invoice.action_post()
        message = self._send_order()
        self.assertIn("Pay now", message.body)
        pdfs = message.attachment_ids.filtered(
            lambda a: (
                a.name.startswith(invoice._get_invoice_report_filename()[:3])
                and a.mimetype == "application/pdf"
            )
        )
        link = self.Paylink.sudo().search([("move_id", "=", invoice.id), ("state", "=", "sent")])
        self.assertTrue(link)
        invoice_pdf = [
            a for a in message.attachment_ids if a.name == invoice._get_invoice_report_filename()
        ]
        self.assertEqual(len(invoice_pdf), 1)
        uris = [uri for uri in pdf_link_uris(invoice_pdf[0].raw) if "/pay/" in uri]
        self.assertEqual(len(uris), 1)
        self.assertEqual(pdf_qr_codes(invoice_pdf[0].raw), uris)
        self.assertIn(uris[0], message.body)
        del pdfs

    def test_order_without_invoice_is_prepaid_then_reconciled_with_its_invoice(self):
        """Test that an order with no invoice gets a prepayment link, and once paid its
        payment settles the invoice posted later."""
        self._set_demo_mode(True)
        message = self._send_order()
        self.assertIn("Pay now", message.body)
        link = self.Paylink.sudo().search([("sale_order_id", "=", self.order.id)])
        self.assertEqual(link.amount, self.order.amount_total)
        url = message.body.split('href="', 1)[1].split('"', 1)[0]
        self.assertIn("/pay/", url)
        path = url.replace(self.base_url(), "")
        page = self.url_open(path)
        demo_url = self._post_form(f"{path}/checkout", page).headers["Location"]
        demo_page = self.url_open(demo_url)
        self._post_form(f"{demo_url}/pay", demo_page)
        self.assertEqual(link.state, "paid")
        self.assertEqual(link.transaction_ids.payment_id.amount, self.order.amount_total)
        invoice = self.order._create_invoices()
        invoice.action_post()
        self.assertIn(invoice.payment_state, ("paid", "in_payment"))


@tagged("post_install", "-at_install")
class TestSendingEntryPoints(PaylinkHttpCommon, HttpCase):
    def test_email_docs_opens_the_send_dialog_with_the_box(self):
        """Test that the invoice list's Email Docs button opens the Send dialog with the box."""
        list_view = self.env.ref("account.view_out_invoice_tree")
        arch = self.env["account.move"].get_view(list_view.id, "list")["arch"]
        self.assertIn('name="action_komet_paylink_email_docs"', arch)
        self.assertIn("Email Docs", arch)
        action = self.invoice.with_user(
            self.role_users["cashier"]
        ).action_komet_paylink_email_docs()
        self.assertEqual(action["res_model"], "account.move.send.wizard")
        wizard = (
            self.env[action["res_model"]]
            .with_user(self.role_users["cashier"])
            .with_context(**action["context"])
            .create({})
        )
        self.assertEqual(wizard.move_id, self.invoice)
        self.assertTrue(wizard.komet_paylink_can_send)
        form = self.env["account.move.send.wizard"].get_view(view_type="form")["arch"]
        self.assertIn('name="komet_paylink_include"', form)

    def test_sale_order_list_has_email_docs(self):
        """Test that the sale order list has the Email Docs button too."""
        arch = self.env["sale.order"].get_view(self.env.ref("sale.view_order_tree").id, "list")[
            "arch"
        ]
        self.assertIn("Email Docs", arch)

    def test_batch_and_order_entry_points_refuse_users_outside_the_roles(self):
        """Test that the batch dialog and the order's email refuse a user outside the roles."""
        batch = (
            self.env["account.move.send.batch.wizard"]
            .with_user(self.plain_user)
            .with_context(active_model="account.move", active_ids=self.invoice.ids)
            .create({"komet_paylink_include": True})
        )
        self.assertFalse(batch.komet_paylink_can_send)
        with self.assertRaises(AccessError):
            batch.action_send_and_print(force_synchronous=True)
        order = self.env["sale.order"].create(
            {
                "partner_id": self.customer.id,
                "order_line": [Command.create({"product_id": self.product_a.id})],
            }
        )
        order.action_confirm()
        salesman = self._paylink_new_user(
            "test_salesman_no_role", "base.group_user,sales_team.group_sale_salesman_all_leads"
        )
        action = order.with_user(salesman).action_quotation_send()
        composer = (
            self.env["mail.compose.message"]
            .with_user(salesman)
            .with_context(**action["context"], mail_notify_force_send=False)
            .create({"komet_paylink_include": True})
        )
        self.assertFalse(composer.komet_paylink_can_send)
        with self.assertRaises(AccessError):
            composer.action_send_mail()
        self.assertFalse(self.Paylink.sudo().search([("sale_order_id", "=", order.id)]))
