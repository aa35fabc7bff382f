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
