from datetime import date, datetime

from odoo import Command, fields
from odoo.tests import HttpCase, tagged
from odoo.tools import format_amount, format_date, format_datetime, formatLang

from .. import const
from ..controllers import page_values
from .common import PaylinkCommon, PaylinkHttpCommon


@tagged("post_install", "-at_install")
class TestPayPageDetails(PaylinkHttpCommon, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.customer.write(
            {
                "street": "12 Rue des Lilas",
                "zip": "69002",
                "city": "Lyon",
                "country_id": cls.env.ref("base.fr").id,
            }
        )
        cls.company.write(
            {"phone": "+33 4 00 00 00 00", "email": "billing@example.com", "website": "example.com"}
        )

    def test_page_shows_bill_to_dates_lines_totals_and_contact(self):
        """Test that the page shows whom the invoice is for, its dates, lines, totals and whom
        to ask."""
        __, token = self._send_link()
        page = self.url_open(f"/pay/{token}").text
        self.assertIn("Bill to", page)
        self.assertIn("Wholesale Customer", page)
        self.assertIn("12 Rue des Lilas", page)
        self.assertIn("Lyon", page)
        self.assertIn(self.invoice.invoice_date.strftime("%m/%d/%Y"), page)
        self.assertIn("Due date", page)
        self.assertIn(self.invoice.invoice_line_ids[0].name, page)
        self.assertIn("Untaxed amount", page)
        self.assertIn("+33 4 00 00 00 00", page)
        self.assertIn("billing@example.com", page)
        self.assertEqual(page.count('name="pay"'), 1)

    def test_long_invoice_shows_its_first_lines_and_how_many_more(self):
        """Test that an invoice of many lines lists its first five and says how many more the
        PDF has."""
        invoice = self.init_invoice(
            "out_invoice", partner=self.customer, amounts=[10.0] * 8, taxes=[]
        )
        invoice.invoice_line_ids = [
            Command.update(line.id, {"name": f"Line number {index}"})
            for index, line in enumerate(invoice.invoice_line_ids, start=1)
        ]
        invoice.action_post()
        __, token = self._send_link(invoice)
        page = self.url_open(f"/pay/{token}").text
        self.assertIn("Line number 5", page)
        self.assertNotIn("Line number 6", page)
        self.assertIn("o_komet_paylink_more_lines", page)
        self.assertRegex(page, r"and\s+3\s+more line")

    def test_page_in_french_for_a_french_customer(self):
        """Test that a French customer reads the page in French, with French dates and
        amounts."""
        self._load_french()
        self.customer.lang = "fr_FR"
        __, token = self._send_link()
        page = self.url_open(f"/pay/{token}").text
        self.assertIn('lang="fr-FR"', page)
        self.assertIn("Facturé à", page)
        self.assertIn("Montant dû", page)
        self.assertIn("Télécharger le PDF", page)
        self.assertIn("Payer", page)
        self.assertIn(self.invoice.invoice_date.strftime("%d/%m/%Y"), page)
        self.assertRegex(page, r"1[\s\u202f\xa0]?150,00")
        self.assertNotIn("Amount due", page)

    def test_processing_page_says_the_payment_is_being_confirmed(self):
        """Test that while a payment is being confirmed the page says so and offers no Pay."""
        self._set_demo_mode(True)
        link, token = self._send_link()
        link._paylink_register_open()
        self.env["payment.transaction"]._paylink_create_for_link(
            link, link.amount, link._paylink_documents()
        )._set_pending()
        page = self.url_open(f"/pay/{token}").text
        self.assertIn("Payment being confirmed", page)
        self.assertIn("You do not need to pay again", page)
        self.assertNotIn('name="pay"', page)


@tagged("post_install", "-at_install")
class TestPayPageFormatting(PaylinkCommon):
    def test_page_writes_amounts_quantities_and_dates_as_odoo_does(self):
        """Test that the page writes amounts, quantities, dates and times exactly as Odoo's own
        formatting does, in languages that group digits and write dates differently, for a
        currency written before and one written after the amount."""
        link, __ = self._send_link()
        currencies = self.env.ref("base.USD") | self.env.ref("base.EUR")
        self.assertEqual(set(currencies.mapped("position")), {"before", "after"})
        amounts = [0.0, 0.5, -0.004, 7.125, -1234.567, 41750.0, 12345678.9]
        for code in ("en_US", "fr_FR", "en_IN", "hi_IN"):
            self.env["res.lang"]._activate_lang(code)
            env = self.env(context=dict(self.env.context, lang=code, tz="Asia/Kolkata"))
            formatters = page_values.page_formatters(env, link.partner_id, link.currency_id)
            for currency in currencies:
                for amount in amounts:
                    self.assertEqual(
                        formatters["format_money"](amount, currency),
                        format_amount(env, amount, currency),
                        f"{amount} {currency.name} in {code}",
                    )
            for quantity in (1.0, 0.333333, 12500.5):
                self.assertEqual(
                    formatters["format_quantity"](quantity),
                    formatLang(env, quantity, dp="Product Unit of Measure"),
                )
            self.assertEqual(
                formatters["format_page_date"](date(2026, 1, 31)),
                format_date(env, date(2026, 1, 31)),
            )
            moment = datetime(2026, 11, 25, 21, 54, 25)
            self.assertEqual(
                formatters["format_page_datetime"](moment),
                format_datetime(env, moment, tz="Asia/Kolkata", dt_format=False),
            )
            self.assertEqual(formatters["format_page_date"](False), "")


@tagged("post_install", "-at_install")
class TestPayPageQueries(PaylinkHttpCommon, HttpCase):
    def test_active_page_costs_at_most_8_queries(self):
        """Test that the page of an active link, as the customer first opens it, costs 8 SQL
        queries at most (Odoo's portal invoice page costs about 30)."""
        __, token = self._send_link()
        self.url_open(f"/pay/{token}")  # Odoo's caches warm
        with self.assertQueryCount(8):
            response = self.url_open(f"/pay/{token}")
        self.assertEqual(response.status_code, 200)
        self.assertIn('name="pay"', response.text)

    def test_opened_active_page_costs_at_most_9_queries(self):
        """Test that the page of an active link opened before, which may have a payment being
        confirmed, costs one query more at most."""
        link, token = self._send_link()
        link._paylink_register_open()
        self.url_open(f"/pay/{token}")
        with self.assertQueryCount(9):
            response = self.url_open(f"/pay/{token}")
        self.assertIn('name="pay"', response.text)


@tagged("post_install", "-at_install")
class TestPayPageAccessibility(PaylinkHttpCommon, HttpCase):
    """axe-core's WCAG 2.0/2.1 A and AA rules on every state of the page, in Chromium."""

    def test_active_page(self):
        """Test that the active page has no accessibility violation."""
        __, token = self._send_link()
        self.assertNoAxeViolations(f"/pay/{token}")

    def test_active_page_with_another_amount_and_an_instalment(self):
        """Test that the active page offering another amount and an instalment has no
        accessibility violation."""
        self.company.komet_paylink_partial_payments = True
        term = self.env["account.payment.term"].create(
            {
                "name": "Half now, half in 30 days",
                "line_ids": [
                    Command.create({"value": "percent", "value_amount": 50.0, "nb_days": 0}),
                    Command.create({"value": "percent", "value_amount": 50.0, "nb_days": 30}),
                ],
            }
        )
        invoice = self.init_invoice(
            "out_invoice",
            partner=self.customer,
            amounts=[1000.0],
            taxes=[],
            invoice_date=fields.Date.today(),
        )
        invoice.write({"invoice_payment_term_id": term.id})
        invoice.invoice_user_id = self.role_users["sales"]
        invoice.action_post()
        __, token = self._send_link(invoice)
        page = self.url_open(f"/pay/{token}")
        self.assertIn('name="amount"', page.text)
        self.assertIn('name="instalment"', page.text)
        self.assertNoAxeViolations(f"/pay/{token}")

    def test_paid_page(self):
        """Test that the paid page has no accessibility violation."""
        link, token = self._send_link()
        link._paylink_mark_paid()
        self.assertNoAxeViolations(f"/pay/{token}")

    def test_expired_page(self):
        """Test that the expired page has no accessibility violation."""
        link, token = self._send_link()
        link._paylink_mark_expired()
        self.assertNoAxeViolations(f"/pay/{token}")

    def test_processing_page(self):
        """Test that the processing page has no accessibility violation."""
        self._set_demo_mode(True)
        link, token = self._send_link()
        link._paylink_register_open()
        self.env["payment.transaction"]._paylink_create_for_link(
            link, link.amount, link._paylink_documents()
        )._set_pending()
        self.assertNoAxeViolations(f"/pay/{token}")

    def test_not_found_page(self):
        """Test that the 404 page has no accessibility violation."""
        self.assertNoAxeViolations("/pay/" + "A" * 43)

    def test_sale_order_page(self):
        """Test that the page of a sale order's link has no accessibility violation."""
        order = self._paylink_confirmed_order(quantity=2)
        link = self.Paylink.with_user(self.role_users["sales"]).create({"sale_order_id": order.id})
        path = "/pay/" + link.url.rsplit("/", 1)[1]
        self.assertIn(order.name, self.url_open(path).text)
        self.assertNoAxeViolations(path)

    def test_return_pages(self):
        """Test that the pages after Checkout (back from it, and cancelled) have no
        accessibility violation."""
        self.assertNoAxeViolations(const.RETURN_ROUTE)
        self.assertNoAxeViolations(f"{const.RETURN_ROUTE}?cancelled=1")
