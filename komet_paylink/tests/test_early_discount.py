import re
from datetime import timedelta

from freezegun import freeze_time

from odoo import fields
from odoo.tests import HttpCase, tagged

from .common import PaylinkHttpCommon


@tagged("post_install", "-at_install")
class TestEarlyPaymentDiscount(PaylinkHttpCommon, HttpCase):
    """The page says what an early-payment discount saves and until when, as Odoo computes
    it."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.term = cls.env["account.payment.term"].create(
            {
                "name": "2% within 10 days, net 30",
                "early_discount": True,
                "discount_percentage": 2,
                "discount_days": 10,
                "line_ids": [(0, 0, {"value": "percent", "value_amount": 100, "nb_days": 30})],
            }
        )
        cls.today = fields.Date.today()
        cls.discounted = cls.init_invoice(
            "out_invoice",
            partner=cls.customer,
            invoice_date=cls.today,
            amounts=[1000.0],
            taxes=[],
        )
        cls.discounted.invoice_payment_term_id = cls.term
        cls.discounted.invoice_user_id = cls.role_users["sales"]
        cls.discounted.action_post()
        cls.discount_date = cls.today + timedelta(days=10)

    def test_page_says_until_when_the_discount_holds_and_what_it_saves(self):
        """Test that the page of an invoice whose early-payment discount holds asks for the
        discounted amount and says until when and how much it saves, as Odoo computes it."""
        next_payment = self.discounted._get_invoice_next_payment_values()
        self.assertEqual(next_payment["installment_state"], "epd")
        self.assertEqual(next_payment["amount_due"], 980.0)
        self.assertEqual(next_payment["epd_discount_amount_currency"], 20.0)
        self.assertEqual(next_payment["discount_date"], str(self.discount_date))
        __, token = self._send_link(self.discounted)
        page = self.url_open(f"/pay/{token}")
        self.assertEqual(page.status_code, 200)
        text = re.sub(r"[ \t\n]+", " ", page.text)
        date_text = self.discount_date.strftime("%m/%d/%Y")
        self.assertRegex(
            text,
            rf"Pay <strong>\$\xa0980\.00</strong> by <strong>{date_text}</strong> and save "
            r"<strong>\$\xa020\.00</strong> \(early-payment discount\)",
        )
        self.assertRegex(text, r"Pay \$\xa0980\.00 </button>")

    def test_after_the_discount_date_the_page_shows_the_full_amount(self):
        """Test that once the discount date has passed the page asks for the full amount and
        says nothing of a discount."""
        __, token = self._send_link(self.discounted)
        with freeze_time(self.today + timedelta(days=11)):
            page = self.url_open(f"/pay/{token}")
        self.assertEqual(page.status_code, 200)
        self.assertIn("1,000.00", page.text)
        self.assertNotIn("980.00", page.text)
        self.assertNotIn("early-payment discount", page.text)
        self.assertNotIn("o_komet_paylink_early_discount", page.text)

    def test_discount_line_in_the_customers_language(self):
        """Test that a French customer reads the discount's amounts and date as Odoo writes
        them in French."""
        self._load_french()
        self.customer.lang = "fr_FR"
        __, token = self._send_link(self.discounted)
        page = self.url_open(f"/pay/{token}")
        line = page.text.split("o_komet_paylink_early_discount", 1)[1].split("</p>", 1)[0]
        self.assertIn(self.discount_date.strftime("%d/%m/%Y"), line)
        self.assertRegex(line, r"980,00")
        self.assertRegex(line, r"20,00")

    def test_a_partly_paid_invoice_shows_no_discount_as_odoo_grants_none(self):
        """Test that once part of the invoice is paid, Odoo grants no discount any more, and
        the page shows the residual without a discount line."""
        self.env["account.payment.register"].with_context(
            active_model="account.move", active_ids=self.discounted.ids
        ).create({"amount": 100.0})._create_payments()
        self.assertNotEqual(
            self.discounted._get_invoice_next_payment_values()["installment_state"], "epd"
        )
        __, token = self._send_link(self.discounted)
        page = self.url_open(f"/pay/{token}")
        self.assertIn("900.00", page.text)
        self.assertNotIn("o_komet_paylink_early_discount", page.text)

    def test_invoice_without_discount_shows_no_discount_line(self):
        """Test that the page of an invoice without an early-payment discount says nothing of
        one."""
        __, token = self._send_link()
        page = self.url_open(f"/pay/{token}")
        self.assertNotIn("o_komet_paylink_early_discount", page.text)

    def test_page_with_a_discount_costs_at_most_8_queries(self):
        """Test that the active page of an invoice with an early-payment discount stays within
        the page's budget of 8 SQL queries."""
        __, token = self._send_link(self.discounted)
        self.url_open(f"/pay/{token}")  # Odoo's caches warm
        with self.assertQueryCount(8):
            response = self.url_open(f"/pay/{token}")
        self.assertIn("o_komet_paylink_early_discount", response.text)

    def test_page_with_a_discount_has_no_accessibility_violation(self):
        """Test that axe-core finds no WCAG 2.1 A/AA violation on the page with its discount
        line and the field to pay another amount."""
        self.company.komet_paylink_partial_payments = True
        __, token = self._send_link(self.discounted)
        self.assertNoAxeViolations(f"/pay/{token}")
