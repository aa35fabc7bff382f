import html
import io
import json
import logging
import os
import re
import tempfile
from datetime import timedelta
from pathlib import Path

from PyPDF2 import PdfReader

from odoo import Command
from odoo.modules.module import get_module_path
from odoo.tests import new_test_user
from odoo.tools.translate import TranslationImporter

from odoo.addons.account.tests.common import AccountTestInvoicingCommon

from .stripe_fake import FakeStripeServer, event_payload, sign_payload

# axe-core, fetched by scripts/setup (`npm pack axe-core@4`).
AXE_JS = Path(
    os.environ.get("KOMET_AXE_JS")
    or Path.home() / ".cache" / "komet_paylink" / "axe-core" / "axe.min.js"
)
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]

ROLES = ("admin", "cashier", "sales", "sales_allocations", "sales_manager")

# The Odoo groups a member of each role works with, besides the role itself.
ROLE_BASE_GROUPS = {
    "admin": "base.group_user,account.group_account_manager,sales_team.group_sale_manager",
    "cashier": "base.group_user,account.group_account_invoice",
    "sales": "base.group_user,sales_team.group_sale_salesman",
    "sales_allocations": "base.group_user,sales_team.group_sale_salesman",
    "sales_manager": "base.group_user,sales_team.group_sale_manager,account.group_account_invoice",
}


def pdf_pay_links(pdf_content):
    """The payment-link URLs of a PDF's clickable links."""
    uris = []
    for page in PdfReader(io.BytesIO(pdf_content)).pages:
        for annotation in page.get("/Annots") or []:
            action = annotation.get_object().get("/A") or {}
            if "/pay/" in str(action.get("/URI", "")):
                uris.append(str(action["/URI"]))
    return uris


def pdf_text(pdf_content):
    """The text a PDF's pages show (Debian's wkhtmltopdf leaves none of its own)."""
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf_content)).pages)


def plain_spaces(text):
    """What `text` (HTML or a PDF's text) reads as: without tags, with the no-break spaces
    Odoo writes amounts with and line breaks as plain spaces."""
    text = html.unescape(re.sub(r"<[^>]+>", "", text))
    return " ".join(text.replace("\u00a0", " ").replace("\u202f", " ").split())


class PaylinkCommon(AccountTestInvoicingCommon):
    """One user per role, a plain internal user, a portal user, a customer and invoices."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Paylink = cls.env["komet.paylink"]
        # The company takes payment (demo mode): links are mailed only then.
        cls.env["payment.provider"]._paylink_provider_for(cls.company)._paylink_set_account(
            demo_mode=True
        )
        cls.role_users = {
            role: cls._paylink_new_user(
                f"test_{role}", f"{ROLE_BASE_GROUPS[role]},komet_paylink.group_role_{role}"
            )
            for role in ROLES
        }
        cls.plain_user = cls._paylink_new_user(
            "test_plain", "base.group_user,account.group_account_invoice"
        )
        cls.portal_user = cls._paylink_new_user("test_portal", "base.group_portal")
        cls.public_user = cls.env.ref("base.public_user").sudo()
        cls.customer = cls.env["res.partner"].create(
            {"name": "Wholesale Customer", "email": "customer@example.com"}
        )
        cls.invoice = cls._paylink_posted_invoice(cls.role_users["sales"], 1150.0)
        cls.other_sales_invoice = cls._paylink_posted_invoice(
            cls.role_users["sales_allocations"], 420.0
        )

    @classmethod
    def _paylink_new_user(cls, login, groups):
        return new_test_user(
            cls.env,
            login=login,
            password=login,
            groups=groups,
            company_id=cls.company.id,
            company_ids=[cls.company.id],
        )

    @classmethod
    def _paylink_posted_invoice(cls, salesperson, amount, company=None):
        invoice = cls.init_invoice(
            "out_invoice", partner=cls.customer, amounts=[amount], taxes=[], company=company
        )
        invoice.invoice_user_id = salesperson
        invoice.action_post()
        return invoice

    @classmethod
    def _paylink_dated_invoice(
        cls, amount, invoice_date, partner, salesperson=None, due_days=30, currency=None
    ):
        """A posted, untaxed invoice of `partner` dated `invoice_date` and due `due_days`
        later, by `salesperson` (by default the Sales role's user)."""
        invoice = cls.init_invoice(
            "out_invoice",
            partner=partner,
            amounts=[amount],
            taxes=[],
            invoice_date=invoice_date,
            currency=currency,
        )
        invoice.invoice_user_id = salesperson or cls.role_users["sales"]
        invoice.invoice_date_due = invoice_date + timedelta(days=due_days)
        invoice.action_post()
        return invoice

    def _paylink_confirmed_order(self, partner=None, quantity=1):
        """A confirmed sale order of `quantity` product_a, untaxed, by the Sales role's user,
        for `partner` (by default the customer)."""
        order = self.env["sale.order"].create(
            {
                "partner_id": (partner or self.customer).id,
                "user_id": self.role_users["sales"].id,
                "order_line": [
                    Command.create(
                        {
                            "product_id": self.product_a.id,
                            "product_uom_qty": quantity,
                            "tax_id": False,
                        }
                    )
                ],
            }
        )
        order.action_confirm()
        return order

    def _load_french(self):
        """Activate French and load the addon's fr.po as it is: Odoo's own loader merges a .po
        with the addon's .pot, which is regenerated only at release, and would drop the terms
        added since."""
        self.env["res.lang"]._activate_lang("fr_FR")
        po_path = Path(get_module_path("komet_paylink")) / "i18n" / "fr.po"
        # A name that does not end in .po: no merge with the .pot.
        with tempfile.NamedTemporaryFile(suffix=".po.txt") as po_file:
            po_file.write(po_path.read_bytes())
            po_file.flush()
            po_file.seek(0)
            importer = TranslationImporter(self.env.cr, verbose=False)
            importer.load(po_file, "po", "fr_FR")
            importer.save(overwrite=True)

    def _paylink_chatter_bodies(self, document):
        return document.message_ids.mapped("body")

    # === SENDING === #

    def _send_link(self, document=None, user=None, by_email=False):
        """Send a payment link for `document` (the invoice by default) as `user` (a cashier by
        default), the one way every test sends one. Return the link and its token, which only
        the sending ever knows.

        :param bool by_email: send through Odoo's email of the document with the Payment Link
            box checked: the Send dialog of an invoice, the email composer of a sale order. Else
            the link alone is made, as every sending path does (the tests about the link, the
            page and the payment need no email).
        """
        document = document or self.invoice
        user = user or self.role_users["cashier"]
        if not by_email:
            field = "move_id" if document._name == "account.move" else "sale_order_id"
            link = self.Paylink.with_user(user).create({field: document.id})
            return link, link.url.rsplit("/", 1)[1]
        last_link = self.Paylink.sudo().search([], order="id desc", limit=1)
        if document._name == "account.move":
            self._send_dialog(document, user, komet_paylink_include=True).action_send_and_print()
        else:
            action = document.with_user(user).action_quotation_send()
            self.env["mail.compose.message"].with_user(user).with_context(
                **action["context"], force_report_rendering=True, mail_notify_force_send=False
            ).create({"komet_paylink_include": True}).action_send_mail()
        link = self.Paylink.sudo().search([("id", ">", last_link.id or 0)])
        self.assertEqual(len(link), 1, "one link per sending")
        body = self._last_email(document).body
        token = re.search(r'href="[^"]*/pay/([A-Za-z0-9_-]+)"', body).group(1)
        self.assertEqual(self.Paylink._paylink_find_by_token(token), link, "the emailed link")
        return link, token

    def _send_dialog(self, invoice, user=None, **values):
        """Open the invoice's Send dialog as `user` (a cashier by default), with `values`."""
        return (
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

    def _last_email(self, document):
        """The last email posted on `document`."""
        return self.env["mail.message"].search(
            [
                ("model", "=", document._name),
                ("res_id", "=", document.id),
                ("message_type", "=", "comment"),
            ],
            order="id desc",
            limit=1,
        )


class PaylinkHttpCommon(PaylinkCommon):
    """Helpers to walk the public pages as a customer would, with their session and CSRF."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.provider = cls.env["payment.provider"]._paylink_provider_for(cls.company)
        cls.provider._paylink_set_account(demo_mode=False)

    def _csrf_token(self, html):
        match = re.search(r'name="csrf_token" value="([^"]+)"', html)
        self.assertTrue(match, "the page has a CSRF-protected form")
        return match.group(1)

    def _post_form(self, url, page, **data):
        """Submit the page's form as a browser would: the CSRF token comes from the page."""
        return self.url_open(
            url, data={"csrf_token": self._csrf_token(page.text), **data}, allow_redirects=False
        )

    def _set_demo_mode(self, enabled):
        self.provider._paylink_set_account(demo_mode=enabled)

    def assertNoAxeViolations(self, url_path):
        """Open `url_path` in Chromium and run axe-core's WCAG 2.0/2.1 A and AA rules on it;
        fail on any violation (listed with the nodes' selectors)."""
        if not AXE_JS.is_file():
            self.fail(f"axe-core is missing at {AXE_JS}: run scripts/setup (or set KOMET_AXE_JS)")
        check = """
            axe.run(document, {runOnly: {type: 'tag', values: AXE_TAGS}}).then((result) => {
                const found = result.violations.map((v) => ({
                    id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(' ')),
                }));
                if (found.length) {
                    console.error('axe violations: ' + JSON.stringify(found));
                } else {
                    console.log('test successful');
                }
            });
        """.replace("AXE_TAGS", json.dumps(AXE_TAGS))
        # Quiet: the browser's log would print axe-core's whole source (its errors still show).
        browser_logger = logging.getLogger(f"{type(self).__module__}.{type(self).__name__}")
        level = browser_logger.level
        browser_logger.setLevel(logging.WARNING)
        try:
            self.browser_js(
                url_path,
                AXE_JS.read_text() + "\n;" + check,
                # Odoo's public root mounted (its services fetched what they need), if any.
                ready="typeof odoo === 'undefined' || !!odoo.__WOWL_DEBUG__",
                login=None,
            )
        finally:
            browser_logger.setLevel(level)

    def assertPayHeaders(self, response):
        self.assertEqual(response.headers.get("Referrer-Policy"), "no-referrer")
        self.assertEqual(response.headers.get("X-Robots-Tag"), "noindex")
        self.assertEqual(response.headers.get("Cache-Control"), "no-store")
        self.assertEqual(response.headers.get("X-Frame-Options"), "DENY")
        self.assertIn("frame-ancestors 'none'", response.headers.get("Content-Security-Policy", ""))


class PaylinkStripeCommon(PaylinkHttpCommon):
    """A fake Stripe API on loopback, selected through `komet_paylink.stripe_api_base`."""

    secret_key = "sk_test_51KometFakeKey0000"
    webhook_secret = "whsec_komet_test_secret"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.stripe = FakeStripeServer()
        cls.stripe.start()
        cls.addClassCleanup(cls.stripe.stop)
        cls.env["ir.config_parameter"].sudo().set_param(
            "komet_paylink.stripe_api_base", cls.stripe.base_url
        )
        cls.provider._paylink_set_account(
            secret_key=cls.secret_key, webhook_secret=cls.webhook_secret
        )

    def setUp(self):
        super().setUp()
        self.stripe.reset()

    def _open_checkout(self, document=None):
        """Send a link, open its page and press Pay; return the link, token and response."""
        link, token = self._send_link(document)
        page = self.url_open(f"/pay/{token}")
        return link, token, self._post_form(f"/pay/{token}/checkout", page)

    def _deliver(self, event, secret=None, timestamp=None, header=None):
        payload = event_payload(event)
        if header is None:
            header = sign_payload(payload, secret or self.webhook_secret, timestamp=timestamp)
        return self.url_open(
            "/komet_paylink/webhook/stripe",
            data=payload,
            headers={"Stripe-Signature": header, "Content-Type": "application/json"},
        )

    def _pay_session(self, transaction, **changes):
        """Make Stripe's side of the session paid, as after the customer paid."""
        values = {"status": "complete", "payment_status": "paid", "payment_intent": "pi_test_1"}
        self.stripe.set_session(transaction.provider_reference, **(values | changes))
        return self.stripe.sessions[transaction.provider_reference]
