from odoo import Command
from odoo.tests import HttpCase, tagged

from .common import PaylinkHttpCommon


@tagged("post_install", "-at_install")
class TestPaymentTour(PaylinkHttpCommon, HttpCase):
    def test_customer_pays_in_demo_mode_from_link_to_receipt(self):
        """Test in Chromium that a customer goes from the emailed link to the paid receipt."""
        self._set_demo_mode(True)
        link, token = self._send_link()
        self.start_tour(f"/pay/{token}", "komet_paylink_demo_payment", login=None)
        self.assertEqual(link.state, "paid")
        self.assertIn(self.invoice.payment_state, ("paid", "in_payment"))

    def test_customer_pays_part_of_a_statement_in_demo_mode(self):
        """Test in Chromium that a customer unticks one invoice of a statement link and pays
        the others."""
        self._set_demo_mode(True)
        invoices = self.invoice | self._paylink_posted_invoice(self.role_users["sales"], 80.0)
        newest = self._paylink_posted_invoice(self.role_users["sales"], 30.0)
        link = self.Paylink.with_user(self.role_users["cashier"]).create(
            {"move_ids": [Command.set((invoices | newest).ids)]}
        )
        token = link.url.rsplit("/", 1)[1]
        self.start_tour(f"/pay/{token}", "komet_paylink_statement_payment", login=None)
        self.assertEqual(link.state, "paid")
        for invoice in invoices:
            self.assertIn(invoice.payment_state, ("paid", "in_payment"))
        self.assertEqual(newest.payment_state, "not_paid")
