import base64
from datetime import timedelta
from unittest.mock import patch

from freezegun import freeze_time

from odoo import fields
from odoo.exceptions import ValidationError
from odoo.tests import HttpCase, tagged
from odoo.tools import mute_logger

from odoo.addons.base.models.ir_actions_report import IrActionsReport
from odoo.addons.komet_paylink.models.komet_paylink import KometPaylink

from .common import PaylinkHttpCommon


@tagged("post_install", "-at_install")
class TestPayHeaders(PaylinkHttpCommon, HttpCase):
    """Every response under /pay/ carries SPEC section 8's headers and refuses framing; the
    PDF is a stored copy."""

    def test_headers_on_the_page_and_the_303_to_checkout(self):
        """Test that the page and Pay's 303 redirect carry the headers."""
        self._set_demo_mode(True)
        __, token = self._send_link()
        page = self.url_open(f"/pay/{token}")
        self.assertEqual(page.status_code, 200)
        self.assertPayHeaders(page)
        redirect = self._post_form(f"/pay/{token}/checkout", page)
        self.assertEqual(redirect.status_code, 303)
        self.assertPayHeaders(redirect)

    @mute_logger("odoo.http")
    def test_headers_on_csrf_failures(self):
        """Test that a POST with a missing or wrong CSRF token answers 400 with the headers,
        and changes nothing."""
        link, token = self._send_link()
        for data in ({"pay": "1"}, {"pay": "1", "csrf_token": "forged"}):
            for action in ("checkout", "renew"):
                with self.subTest(data=data, action=action):
                    response = self.url_open(
                        f"/pay/{token}/{action}", data=data, allow_redirects=False
                    )
                    self.assertEqual(response.status_code, 400)
                    self.assertPayHeaders(response)
        self.assertEqual(link.state, "sent")

    def test_headers_on_404_whatever_the_method(self):
        """Test that unknown tokens and paths answer 404 with the headers, for any method."""
        unknown = "A" * 43
        responses = [
            self.url_open(f"/pay/{unknown}"),
            self.url_open(f"/pay/{unknown}/pdf"),
            self.url_open("/pay/short/deeper"),
        ]
        for method in ("PUT", "DELETE", "PATCH"):
            responses.append(self.opener.request(method, self.base_url() + f"/pay/{unknown}"))
        for response in responses:
            self.assertEqual(response.status_code, 404)
            self.assertPayHeaders(response)
        self.assertEqual(len({response.text for response in responses}), 1)

    def test_headers_on_410_and_429(self):
        """Test that an expired link's 410 and a refused renewal's 429 carry the headers."""
        self._set_demo_mode(True)  # the company takes payment: the renewal is refused for its rate
        link, token = self._send_link()
        link._paylink_register_open()
        with freeze_time(fields.Datetime.now() + timedelta(hours=25)):
            page = self.url_open(f"/pay/{token}")
            self.assertEqual(page.status_code, 410)
            self.assertPayHeaders(page)
            with patch("odoo.addons.komet_paylink.const.RENEWAL_MAX_PER_CLIENT", 0):
                refused = self._post_form(f"/pay/{token}/renew", page)
        self.assertEqual(refused.status_code, 429)
        self.assertPayHeaders(refused)

    def test_headers_on_503(self):
        """Test that Pay answers 503 with the headers when Stripe cannot be reached."""
        __, token = self._send_link()
        page = self.url_open(f"/pay/{token}")
        unreachable = ValidationError("Stripe could not be reached. Please try again.")
        with patch.object(KometPaylink, "_paylink_start_checkout", side_effect=unreachable):
            response = self._post_form(f"/pay/{token}/checkout", page)
        self.assertEqual(response.status_code, 503)
        self.assertPayHeaders(response)

    def test_pdf_is_rendered_once_and_served_from_the_stored_copy(self):
        """Test that downloading the PDF again serves the stored copy: one rendering for any
        number of downloads, with the headers each time."""
        __, token = self._send_link()
        render = IrActionsReport._render_qweb_pdf
        with patch.object(
            IrActionsReport, "_render_qweb_pdf", side_effect=render, autospec=True
        ) as rendered:
            responses = [self.url_open(f"/pay/{token}/pdf", timeout=60) for __ in range(3)]
        self.assertEqual(rendered.call_count, 1)
        for response in responses:
            self.assertEqual(response.status_code, 200)
            self.assertEqual(response.headers["Content-Type"], "application/pdf")
            self.assertPayHeaders(response)
        self.assertEqual(len({response.content for response in responses}), 1)
        self.assertIn(self.invoice.name.encode(), responses[0].content)

    def test_pdf_serves_the_invoice_pdf_odoo_keeps(self):
        """Test that an invoice with its own stored PDF is served that file, without
        rendering."""
        self.invoice.invoice_pdf_report_file = base64.b64encode(b"%PDF-1.4 the invoice Odoo keeps")
        __, token = self._send_link()
        with patch.object(IrActionsReport, "_render_qweb_pdf") as rendered:
            response = self.url_open(f"/pay/{token}/pdf")
        rendered.assert_not_called()
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.content, b"%PDF-1.4 the invoice Odoo keeps")
        self.assertPayHeaders(response)

    @mute_logger("odoo.http")
    def test_headers_on_a_server_error(self):
        """Test that a route that fails answers 500 with the headers."""
        __, token = self._send_link()
        with patch.object(IrActionsReport, "_render_qweb_pdf", side_effect=RuntimeError("boom")):
            response = self.url_open(f"/pay/{token}/pdf")
        self.assertEqual(response.status_code, 500)
        self.assertPayHeaders(response)
