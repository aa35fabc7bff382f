from odoo.exceptions import UserError
from odoo.tests import HttpCase, tagged

from .common import PaylinkCommon


@tagged("post_install", "-at_install")
class TestOptOut(PaylinkCommon, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["ir.config_parameter"].sudo().set_param("komet_paylink.send_by_default", "True")
        cls.quiet_company = cls.env["res.partner"].create(
            {
                "name": "Quiet Company",
                "is_company": True,
                "email": "accounts@quiet.example.com",
                "invoice_sending_method": "email",
            }
        )
        cls.quiet_contact = cls.env["res.partner"].create(
            {
                "name": "Quiet Contact",
                "parent_id": cls.quiet_company.id,
                "email": "contact@quiet.example.com",
                "invoice_sending_method": "email",
            }
        )
        cls.quiet_company.komet_paylink_opt_out = True
        cls.quiet_invoice = cls._quiet_invoice(cls.quiet_company)
        cls.contact_invoice = cls._quiet_invoice(cls.quiet_contact)
        cls.cashier = cls.role_users["cashier"]
        cls.customer.invoice_sending_method = "email"

    @classmethod
    def _quiet_invoice(cls, partner):
        invoice = cls.init_invoice("out_invoice", partner=partner, amounts=[300.0], taxes=[])
        invoice.action_post()
        return invoice

    def _links(self, invoice):
        return self.Paylink.sudo().search([("move_id", "=", invoice.id)])

    def _sent_mail(self, invoice):
        return (
            self.env["mail.mail"]
            .sudo()
            .search(
                [("model", "=", "account.move"), ("res_id", "=", invoice.id)],
                order="id desc",
                limit=1,
            )
        )

    def test_contacts_follow_their_company(self):
        """Test that the opt-out is the company's: its contacts follow it, and the reason
        names the company."""
        self.assertTrue(self.quiet_contact.komet_paylink_opt_out)
        new_contact = self.env["res.partner"].create(
            {"name": "New Contact", "parent_id": self.quiet_company.id}
        )
        self.assertTrue(new_contact.komet_paylink_opt_out)
        self.assertEqual(
            new_contact._paylink_opt_out_reason(),
            "Quiet Company asked not to receive payment links.",
        )
        self.assertFalse(self.customer._paylink_opt_out_reason())
        self.quiet_company.komet_paylink_opt_out = False
        self.assertFalse(self.quiet_contact.komet_paylink_opt_out)
        self.assertFalse(self.quiet_contact._paylink_opt_out_reason())

    def test_creating_a_link_is_refused(self):
        """Test that no way of making a link gets past the opt-out: a user, Odoo itself, a
        contact of the company."""
        for invoice in (self.quiet_invoice, self.contact_invoice):
            with self.assertRaisesRegex(UserError, "asked not to receive payment links"):
                self.Paylink.with_user(self.cashier).create({"move_id": invoice.id})
            with self.assertRaisesRegex(UserError, "asked not to receive payment links"):
                self.Paylink.sudo().create({"move_id": invoice.id})
            self.assertFalse(self._links(invoice))

    def test_send_dialog_says_why_and_sends_no_link(self):
        """Test that the Send dialog starts without the box, says why, and that even a forced
        box sends the invoice without a link."""
        wizard = self._send_dialog(self.contact_invoice)
        self.assertTrue(wizard.komet_paylink_can_send)
        self.assertFalse(wizard.komet_paylink_include)
        self.assertTrue(wizard.komet_paylink_opt_out)
        self.assertIn(
            "Quiet Company asked not to receive payment links",
            wizard.alerts["komet_paylink_opt_out"]["message"],
        )
        forced = self._send_dialog(self.contact_invoice, komet_paylink_include=True)
        forced.action_send_and_print()
        mail = self._sent_mail(self.contact_invoice)
        self.assertTrue(mail, "the invoice is emailed")
        self.assertNotIn("/pay/", mail.body_html)
        self.assertFalse(self._links(self.contact_invoice))

    def test_batch_dialog_says_which_go_without_link(self):
        wizard = (
            self.env["account.move.send.batch.wizard"]
            .with_user(self.cashier)
            .with_context(
                active_model="account.move",
                active_ids=(self.quiet_invoice | self.invoice).ids,
                mail_notify_force_send=False,
            )
            .create({})
        )
        self.assertTrue(wizard.komet_paylink_include)
        message = wizard.alerts["komet_paylink_opt_out"]["message"]
        self.assertIn(self.quiet_invoice.name, message)
        self.assertNotIn(self.invoice.name, message)
        wizard.action_send_and_print(force_synchronous=True)
        self.assertFalse(self._links(self.quiet_invoice))
        self.assertTrue(self._links(self.invoice), "the other customer still gets a link")
        self.assertNotIn("/pay/", self._sent_mail(self.quiet_invoice).body_html)

    def test_automatic_sending_sends_the_invoice_without_link(self):
        """Test that Odoo's own sending, which always adds a link, leaves it out for a
        customer who opted out but still emails the invoice."""
        root = self.env.ref("base.user_root")
        invoices = self.quiet_invoice | self.invoice
        # Queued by Odoo itself: the role checked is of who queues, not of the author named.
        invoices.with_user(root).sending_data = {
            "author_user_id": root.id,
            "author_partner_id": root.partner_id.id,
        }
        cron = self.env.ref("account.ir_cron_account_move_send")
        cron.ir_actions_server_id.with_user(cron.user_id).with_context(
            mail_notify_force_send=False
        ).run()
        self.assertFalse(self.quiet_invoice.sending_data)
        mail = self._sent_mail(self.quiet_invoice)
        self.assertTrue(mail, "the invoice is emailed")
        self.assertNotIn("/pay/", mail.body_html)
        self.assertFalse(self._links(self.quiet_invoice))
        self.assertIn("/pay/", self._sent_mail(self.invoice).body_html)

    def test_sale_order_email_says_why_and_carries_no_link(self):
        """Test that a sale order's email to a customer who opted out goes without a link, even
        with the box forced, and that the composer says why."""
        order = self._paylink_confirmed_order(self.quiet_contact)
        sales = self.role_users["sales"]
        action = order.with_user(sales).action_quotation_send()
        Composer = (
            self.env["mail.compose.message"]
            .with_user(sales)
            .with_context(**action["context"], mail_notify_force_send=False)
        )
        composer = Composer.create({})
        self.assertFalse(composer.komet_paylink_include)
        self.assertEqual(
            composer.komet_paylink_opt_out_reason,
            "Quiet Company asked not to receive payment links.",
        )
        Composer.create({"komet_paylink_include": True}).action_send_mail()
        message = self.env["mail.message"].search(
            [("model", "=", "sale.order"), ("res_id", "=", order.id)], order="id desc", limit=1
        )
        self.assertTrue(message, "the order is emailed")
        self.assertNotIn("/pay/", message.body)
        self.assertFalse(self.Paylink.sudo().search([("sale_order_id", "=", order.id)]))

    def test_renewal_request_is_refused(self):
        """Test that a customer who opted out after a link was sent cannot get a new one from
        its expired page: the page says to contact us."""
        link = self.Paylink.sudo().create({"move_id": self.invoice.id})
        link._paylink_mark_expired()
        self.customer.komet_paylink_opt_out = True
        with self.assertRaisesRegex(UserError, "contact us"):
            link._paylink_request_renewal("203.0.113.9")
        self.assertEqual(self._links(self.invoice), link)

    def test_partner_form_shows_the_opt_out(self):
        arch = self.env["res.partner"].get_view(view_type="form")["arch"]
        self.assertIn('name="komet_paylink_opt_out"', arch)
