from odoo import Command, fields
from odoo.tests import HttpCase, tagged

from .common import PaylinkStripeCommon
from .stripe_fake import make_event


@tagged("post_install", "-at_install")
class TestInstalments(PaylinkStripeCommon, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.two_instalments = cls.env["account.payment.term"].create(
            {
                "name": "30% now, 70% in 30 days",
                "line_ids": [
                    Command.create({"value": "percent", "value_amount": 30.0, "nb_days": 0}),
                    Command.create({"value": "percent", "value_amount": 70.0, "nb_days": 30}),
                ],
            }
        )
        # Dated today: the first instalment is due today, the second in 30 days.
        cls.instalment_invoice = cls.init_invoice(
            "out_invoice",
            partner=cls.customer,
            amounts=[1000.0],
            taxes=[],
            invoice_date=fields.Date.today(),
        )
        cls.instalment_invoice.invoice_payment_term_id = cls.two_instalments
        cls.instalment_invoice.invoice_user_id = cls.role_users["sales"]
        cls.instalment_invoice.action_post()

    def test_instalment_invoice_charges_the_instalment_and_stays_payable(self):
        """Test that an invoice whose payment terms have instalments offers to pay the
        instalment due, charges it, books it as partial and leaves the link payable."""
        link, token = self._send_link(self.instalment_invoice)
        page = self.url_open(f"/pay/{token}")
        self.assertIn("Pay the instalment due", page.text)
        self.assertIn("300.00", page.text)
        response = self._post_form(f"/pay/{token}/checkout", page, instalment="1")
        self.assertEqual(response.status_code, 303)
        transaction = link.transaction_ids
        self.assertEqual(transaction.amount, 300.0)
        event = make_event("checkout.session.completed", self._pay_session(transaction))
        self.assertEqual(self._deliver(event).status_code, 200)
        self.assertEqual(self.instalment_invoice.payment_state, "partial")
        self.assertEqual(self.instalment_invoice.amount_residual, 700.0)
        self.assertNotEqual(link.state, "paid")
        page = self.url_open(f"/pay/{token}")
        self.assertIn("o_komet_paylink_pay", page.text)
        self.assertNotIn("Pay the instalment due", page.text, "the last instalment is the rest")

    def test_pay_everything_still_pays_the_whole_invoice(self):
        """Test that Pay (everything) on an instalment invoice charges the whole residual."""
        link, token = self._send_link(self.instalment_invoice)
        page = self.url_open(f"/pay/{token}")
        self.assertEqual(self._post_form(f"/pay/{token}/checkout", page).status_code, 303)
        self.assertEqual(link.transaction_ids.amount, 1000.0)

    def test_an_invoice_without_instalments_refuses_an_instalment(self):
        """Test that an invoice paid in one go offers no instalment and refuses one."""
        link, token = self._send_link()
        page = self.url_open(f"/pay/{token}")
        self.assertNotIn("Pay the instalment due", page.text)
        response = self._post_form(f"/pay/{token}/checkout", page, instalment="1")
        self.assertEqual(response.status_code, 400)
        self.assertIn("No instalment is due on its own", response.text)
        self.assertFalse(link.transaction_ids)
