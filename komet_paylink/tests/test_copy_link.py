from urllib.parse import urlsplit

from odoo.exceptions import AccessError, UserError
from odoo.tests import Form, HttpCase, tagged

from .common import PaylinkCommon


@tagged("post_install", "-at_install")
class TestCopyPaymentLink(PaylinkCommon, HttpCase):
    def _copy(self, document, user=None):
        """Press Copy Payment Link on `document` as `user` (a cashier by default); return the
        URL the dialog shows."""
        action = document.with_user(user or self.role_users["cashier"])
        action = action.action_komet_paylink_copy_link()
        self.assertEqual(action["res_model"], "komet.paylink.share.wizard")
        self.assertEqual(action["target"], "new")
        wizard = Form(self.env[action["res_model"]].with_context(**action["context"]))
        return wizard.url

    def test_copy_gives_a_working_link_and_closes_the_old_one(self):
        """Test that Copy Payment Link makes a fresh link whose page works, revokes the older
        one, and says in the chatter that a link was shared by hand."""
        old_link, old_token = self._send_link()
        url = self._copy(self.invoice)
        self.assertIn("/pay/", url)
        self.assertEqual(old_link.state, "revoked")
        self.assertEqual(self.url_open(f"/pay/{old_token}").status_code, 404)
        page = self.url_open(urlsplit(url).path)
        self.assertEqual(page.status_code, 200)
        self.assertIn("o_komet_paylink_pay", page.text)
        new_link = self.Paylink.sudo().search([("move_id", "=", self.invoice.id)], order="id desc")
        self.assertEqual(new_link[0].state, "sent")
        self.assertTrue(
            any("shared by hand" in body for body in self._paylink_chatter_bodies(self.invoice))
        )

    def test_copy_on_a_sale_order(self):
        """Test that a sale order's Copy Payment Link gives a working link."""
        order = self._paylink_confirmed_order()
        url = self._copy(order, self.role_users["sales"])
        self.assertEqual(self.url_open(urlsplit(url).path).status_code, 200)
        self.assertTrue(
            any("shared by hand" in body for body in self._paylink_chatter_bodies(order))
        )

    def test_each_role_may_copy_a_link(self):
        """Test that each of the five roles may copy a link of a document of theirs."""
        for role, user in self.role_users.items():
            invoice = self.other_sales_invoice if role == "sales_allocations" else self.invoice
            with self.subTest(role=role):
                self.assertIn("/pay/", self._copy(invoice, user))

    def test_opted_out_customer_is_refused(self):
        """Test that no link is copied for a customer who opted out of payment links."""
        self.customer.komet_paylink_opt_out = True
        with self.assertRaises(UserError):
            self._copy(self.invoice)
        self.assertFalse(self.Paylink.sudo().search([("move_id", "=", self.invoice.id)]))

    def test_users_outside_the_roles_are_refused(self):
        """Test that a user outside the five roles may not copy a link, and nothing changes."""
        old_link, __ = self._send_link()
        with self.assertRaises(AccessError):
            self._copy(self.invoice, self.plain_user)
        self.assertEqual(old_link.state, "sent")
