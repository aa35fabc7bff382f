import subprocess
import tempfile
from pathlib import Path

from odoo import Command
from odoo.exceptions import AccessError, UserError
from odoo.tests import HttpCase, tagged

from .common import PaylinkHttpCommon, pdf_pay_links, pdf_text


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
        cls.provider._paylink_set_account(demo_mode=True)

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
        uris = pdf_pay_links(pdf)
        self.assertEqual(len(uris), 1)
        url = uris[0]
        self.assertIn(f'href="{url}"', mail.body_html)
        self.assertEqual(pdf_qr_codes(pdf), [url])
        # The Pay box is drawn on the PDF Odoo rendered: its text is in the emailed PDF.
        invoice = self.env["account.move"].browse(mail.res_id)
        box = pdf_text(pdf)
        self.assertIn("Pay now", box)
        self.assertIn("active for 24 hours after you first open it", box)
        self.assertIn(invoice.name, box)
        self.assertIn(f"{invoice.amount_residual:,.2f}", box)
        page = self.url_open(url.replace(self.base_url(), ""))
        self.assertEqual(page.status_code, 200)
        return url

    def test_single_send_carries_the_link_in_body_and_pdf(self):
        """Test that the Send dialog with Payment Link emails a button, a PDF link and a QR."""
        self.assertTrue(self._send_dialog(self.invoice).komet_paylink_can_send)
        link, token = self._send_link(self.invoice, by_email=True)
        mail = self._sent_mail(self.invoice)
        self.assertEqual(mail.recipient_ids, self.customer)
        self.assertTrue(self.assertEmailCarriesLink(mail).endswith(f"/pay/{token}"))
        self.assertEqual(self._live_link(self.invoice), link)
        self.assertTrue(self.invoice.is_move_sent)

    def test_plain_print_and_send_without_link_have_no_button(self):
        """Test that a plain Print, and a send without the box, show no button and no QR."""
        self._send_dialog(self.invoice, komet_paylink_include=False).action_send_and_print()
        mail = self._sent_mail(self.invoice)
        self.assertNotIn("/pay/", mail.body_html)
        pdf = self._mail_pdf(mail)
        self.assertFalse(pdf_pay_links(pdf))
        self.assertEqual(pdf_qr_codes(pdf), [])
        printed = (
            self.env["ir.actions.report"]
            .with_context(force_report_rendering=True)
            ._render_qweb_pdf("account.account_invoices", self.invoice.ids)[0]
        )
        self.assertFalse(pdf_pay_links(printed))
        self.assertEqual(pdf_qr_codes(printed), [])
        printed_html = self.env["ir.actions.report"]._render_qweb_html(
            "account.account_invoices", self.invoice.ids
        )[0]
        self.assertNotIn(b"Pay now", printed_html)
        self.assertFalse(self.Paylink.sudo().search([("move_id", "=", self.invoice.id)]))

    def test_the_kept_invoice_pdf_has_no_link(self):
        """Test that the PDF Odoo keeps for the invoice is the plain one, not the email's."""
        self._send_link(self.invoice, by_email=True)
        kept = self.invoice.invoice_pdf_report_id
        self.assertTrue(kept)
        self.assertFalse(pdf_pay_links(kept.raw))
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

    def _queue_batch(self, invoices, user, **values):
        """Queue `invoices` for the background sending from the batch dialog, as `user`."""
        wizard = (
            self.env["account.move.send.batch.wizard"]
            .with_user(user)
            .with_context(active_model="account.move", active_ids=invoices.ids)
            .create(values)
        )
        wizard.action_send_and_print()
        self.assertTrue(all(invoices.mapped("sending_data")))
        return wizard

    def _run_scheduled_action(self):
        """Run the code of Odoo's scheduled action that sends the queued invoices, as its user,
        with real PDFs (its direct trigger would drop this context)."""
        cron = self.env.ref("account.ir_cron_account_move_send")
        cron.ir_actions_server_id.with_user(cron.user_id).with_context(
            force_report_rendering=True, mail_notify_force_send=False
        ).run()

    def _new_invoices(self, count):
        return self.env["account.move"].concat(
            *(
                self._paylink_posted_invoice(self.role_users["sales"], 100.0 * (index + 1))
                for index in range(count)
            )
        )

    def assertSentWithoutLink(self, invoice):
        mail = self._sent_mail(invoice)
        self.assertTrue(mail, "the invoice is emailed")
        self.assertNotIn("/pay/", mail.body_html)
        pdf = self._mail_pdf(mail)
        self.assertFalse(pdf_pay_links(pdf))
        self.assertEqual(pdf_qr_codes(pdf), [])
        self.assertFalse(self.Paylink.sudo().search([("move_id", "=", invoice.id)]))

    def test_scheduled_action_without_a_person_always_carries_the_link(self):
        """Test that invoices Odoo queues with no person behind them carry a link whatever the
        setting and the box."""
        self.env["ir.config_parameter"].sudo().set_param("komet_paylink.send_by_default", "False")
        self._queue_batch(self.invoice, self.env.ref("base.user_root"), komet_paylink_include=False)
        self._run_scheduled_action()
        self.assertFalse(self.invoice.sending_data)
        self.assertEmailCarriesLink(self._sent_mail(self.invoice))

    def test_no_link_is_mailed_for_a_company_that_cannot_take_payment(self):
        """Test that while the company's provider is disabled, Odoo's automatic send and the
        Send dialog mail the invoice without a link, the dialog saying why; a link made by hand
        then is still refused by the page's Pay as "not available"."""
        self.provider.state = "disabled"
        self._queue_batch(self.invoice, self.env.ref("base.user_root"))
        self._run_scheduled_action()
        self.assertSentWithoutLink(self.invoice)
        invoice = self._new_invoices(1)
        wizard = self._send_dialog(invoice, komet_paylink_include=True)
        alert = wizard.alerts["komet_paylink_no_payment"]
        self.assertEqual(alert["level"], "warning")
        self.assertIn("takes no online payment yet", alert["message"])
        wizard.action_send_and_print()
        self.assertSentWithoutLink(invoice)

    def test_background_batch_follows_its_author_box(self):
        """Test that a batch queued with the Payment Link box sends every invoice with its
        link through the scheduled action, and one queued without it sends none."""
        with_box, without_box = self._new_invoices(2), self._new_invoices(2)
        wizard = self._queue_batch(with_box, self.role_users["cashier"])
        self.assertTrue(wizard.komet_paylink_can_send)
        self.assertTrue(wizard.komet_paylink_include, "checked for a user who may send")
        self._queue_batch(without_box, self.role_users["cashier"], komet_paylink_include=False)
        self._run_scheduled_action()
        self.assertFalse((with_box + without_box).filtered("sending_data"))
        urls = {self.assertEmailCarriesLink(self._sent_mail(invoice)) for invoice in with_box}
        self.assertEqual(len(urls), 2, "one link per invoice")
        for invoice in without_box:
            self.assertSentWithoutLink(invoice)

    def test_a_forged_background_author_makes_no_link(self):
        """Test that a Billing user outside the roles who writes `sending_data` naming Odoo
        itself, or a cashier, as the author gets no link from the background sending: the role
        checked is the one of who queued it, and who queued it cannot be written."""
        cashier = self.role_users["cashier"]
        for author in (self.env.ref("base.user_root"), cashier):
            with self.subTest(author=author.login):
                invoice = self._new_invoices(1)
                invoice.with_user(self.plain_user).sending_data = {
                    "author_user_id": author.id,
                    "author_partner_id": author.partner_id.id,
                    "komet_paylink_include": True,
                }
                self.assertEqual(invoice.komet_paylink_send_queued_by, self.plain_user)
                with self.assertRaises(AccessError):
                    invoice.with_user(self.plain_user).komet_paylink_send_queued_by = author
                self._run_scheduled_action()
                self.assertSentWithoutLink(invoice)

    def test_background_batch_of_a_user_outside_the_roles_has_no_link(self):
        """Test that a batch queued by a user outside the roles goes without links, even with
        the box forced."""
        wizard = self._queue_batch(self.invoice, self.plain_user, komet_paylink_include=True)
        self.assertFalse(wizard.komet_paylink_can_send)
        self._run_scheduled_action()
        self.assertSentWithoutLink(self.invoice)

    def test_background_batch_of_a_role_the_company_does_not_allow_has_no_link(self):
        """Test that a batch queued by a role the company's settings leave out goes without
        links."""
        self._queue_batch(self.invoice, self.role_users["cashier"], komet_paylink_include=True)
        self.company.komet_paylink_sender_group_ids -= self.env.ref(
            "komet_paylink.group_role_cashier"
        )
        self._run_scheduled_action()
        self.assertSentWithoutLink(self.invoice)

    def test_no_link_for_an_email_that_does_not_go_out(self):
        """Test that a batch invoice whose customer has no email address gets no email and no
        link, while the other invoice of the batch is sent with its link."""
        silent_customer = self.env["res.partner"].create({"name": "No Email Customer"})
        silent = self.init_invoice(
            "out_invoice", partner=silent_customer, amounts=[300.0], taxes=[]
        )
        silent.action_post()
        self._queue_batch(self.invoice + silent, self.role_users["cashier"])
        self._run_scheduled_action()
        self.assertEmailCarriesLink(self._sent_mail(self.invoice))
        self.assertTrue(silent.invoice_pdf_report_id)
        self.assertFalse(self._sent_mail(silent))
        self.assertFalse(self.Paylink.sudo().search([("move_id", "=", silent.id)]))

    def test_synchronous_batch_sends_each_invoice_with_its_link(self):
        """Test that a batch of several invoices sent at once (one render call that Debian's
        wkhtmltopdf cannot split) emails each invoice its own PDF and link."""
        invoices = self._new_invoices(2)
        (
            self.env["account.move.send.batch.wizard"]
            .with_user(self.role_users["cashier"])
            .with_context(
                active_model="account.move",
                active_ids=invoices.ids,
                force_report_rendering=True,
                mail_notify_force_send=False,
            )
            .create({})
            .action_send_and_print(force_synchronous=True)
        )
        urls = {self.assertEmailCarriesLink(self._sent_mail(invoice)) for invoice in invoices}
        self.assertEqual(len(urls), 2)
        self.assertTrue(all(invoices.mapped("invoice_pdf_report_id")))

    def test_email_docs_and_a_list_selection_send_end_to_end(self):
        """Test that the invoice list's Email Docs button sends one invoice with its link, and
        that several rows selected in the list are sent with theirs in the background."""
        cashier = self.role_users["cashier"]
        action = self.invoice.with_user(cashier).action_komet_paylink_email_docs()
        (
            self.env[action["res_model"]]
            .with_user(cashier)
            .with_context(
                **action["context"], force_report_rendering=True, mail_notify_force_send=False
            )
            .create({"komet_paylink_include": True})
            .action_send_and_print()
        )
        self.assertEmailCarriesLink(self._sent_mail(self.invoice))

        selection = self._new_invoices(2)
        action = selection.with_user(cashier).action_send_and_print()
        self.assertEqual(action["res_model"], "account.move.send.batch.wizard")
        wizard = self.env[action["res_model"]].with_user(cashier).with_context(**action["context"])
        wizard.create({}).action_send_and_print()
        self._run_scheduled_action()
        for invoice in selection:
            self.assertEmailCarriesLink(self._sent_mail(invoice))

    def test_default_setting_checks_the_box_for_pending_invoices(self):
        """Test that 'Send payment links by default' pre-checks the box for pending invoices."""
        self.assertFalse(self._send_dialog(self.invoice).komet_paylink_include)
        self.env["ir.config_parameter"].sudo().set_param("komet_paylink.send_by_default", "True")
        self.assertTrue(self._send_dialog(self.invoice).komet_paylink_include)
        paid = self._paylink_posted_invoice(self.role_users["sales"], 30.0)
        self.env["account.payment.register"].with_context(
            active_model="account.move", active_ids=paid.ids
        ).create({})._create_payments()
        self.assertFalse(self._send_dialog(paid).komet_paylink_include)

    def test_users_outside_the_roles_neither_see_nor_send(self):
        """Test that a user outside the roles does not see the box and cannot force it."""
        self.assertFalse(
            self._send_dialog(self.invoice, user=self.plain_user).komet_paylink_can_send
        )
        with self.assertRaises(AccessError):
            self._send_link(self.invoice, user=self.plain_user, by_email=True)
        self.assertFalse(self.Paylink.sudo().search([("move_id", "=", self.invoice.id)]))

    def test_resending_revokes_the_older_link(self):
        """Test that a second email with a link revokes the first link."""
        first, __ = self._send_link(self.invoice, by_email=True)
        second, __ = self._send_link(self.invoice, by_email=True)
        self.assertEqual(first.state, "revoked")
        self.assertEqual(self._live_link(self.invoice), second)
        self.assertNotEqual(second, first)

    def test_nothing_to_pay_is_refused_with_the_reason(self):
        """Test that the dialog refuses a link for a paid invoice and says why."""
        paid = self._paylink_posted_invoice(self.role_users["sales"], 30.0)
        self.env["account.payment.register"].with_context(
            active_model="account.move", active_ids=paid.ids
        ).create({})._create_payments()
        wizard = self._send_dialog(paid, komet_paylink_include=True)
        self.assertIn("already paid", str(wizard.alerts))
        with self.assertRaisesRegex(UserError, "already paid"):
            self._send_link(paid, by_email=True)
        self.assertFalse(self.Paylink.sudo().search([("move_id", "=", paid.id)]))


@tagged("post_install", "-at_install")
class TestSendingSaleOrder(PaylinkHttpCommon, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.provider._paylink_set_account(demo_mode=True)
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

    def test_order_with_an_invoice_sends_the_invoice_with_its_button(self):
        """Test that an invoiced order's email carries the invoice PDF with its Pay now link."""
        invoice = self.order._create_invoices()
        invoice.action_post()
        self._send_link(self.order, user=self.role_users["sales"], by_email=True)
        message = self._last_email(self.order)
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
        uris = pdf_pay_links(invoice_pdf[0].raw)
        self.assertEqual(len(uris), 1)
        self.assertEqual(pdf_qr_codes(invoice_pdf[0].raw), uris)
        self.assertIn(uris[0], message.body)
        del pdfs

    def test_order_without_invoice_is_prepaid_then_reconciled_with_its_invoice(self):
        """Test that an order with no invoice gets a prepayment link, and once paid its
        payment settles the invoice posted later."""
        self._set_demo_mode(True)
        __, token = self._send_link(self.order, user=self.role_users["sales"], by_email=True)
        message = self._last_email(self.order)
        self.assertIn("Pay now", message.body)
        link = self.Paylink.sudo().search([("sale_order_id", "=", self.order.id)])
        self.assertEqual(link.amount, self.order.amount_total)
        path = f"/pay/{token}"
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
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.provider._paylink_set_account(demo_mode=True)

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
