import re
from datetime import timedelta

from freezegun import freeze_time

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import HttpCase, tagged

from odoo.addons.komet_paylink.exceptions import PaylinkRateLimited, PaylinkSuperseded

from .common import PaylinkHttpCommon


@tagged("post_install", "-at_install")
class TestRenewal(PaylinkHttpCommon, HttpCase):
    """Only a document's newest link may ask for a new one, within rate limits per document
    and per client address; a link nobody opens expires after the unopened lifetime."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.provider._paylink_set_account(demo_mode=True)

    def _mail_count(self):
        return self.env["mail.mail"].sudo().search_count([("model", "=", "komet.paylink")])

    def _link_count(self, document=None):
        document = document or self.invoice
        return self.Paylink.sudo().search_count([("move_id", "=", document.id)])

    def _note_count(self, document=None):
        document = document or self.invoice
        return len(
            document.message_ids.filtered(
                lambda message: "asked for a new payment link" in (message.body or "")
            )
        )

    def _token_from_email(self, link):
        mail = (
            self.env["mail.mail"]
            .sudo()
            .search([("model", "=", "komet.paylink"), ("res_id", "=", link.id)])
        )
        return re.search(r"/pay/([A-Za-z0-9_-]{43})", mail.body_html).group(1)

    def _expired_link(self, document=None):
        """Send a link and let its customer open it: it expires 24 hours later."""
        link, token = self._send_link(document)
        link._paylink_register_open()
        return link, token

    def test_older_link_cannot_renew_and_says_when_and_where_the_newer_went(self):
        """Test that once a link was renewed, the old link's page says when and to which
        (masked) address the newer link went, offers no renewal, and that a request from it
        sends no link, no email and no chatter note."""
        link, token = self._expired_link()
        now = fields.Datetime.now()
        with freeze_time(now + timedelta(hours=25)):
            page = self.url_open(f"/pay/{token}")
            self.assertEqual(self._post_form(f"/pay/{token}/renew", page).status_code, 200)
        newer_link = self.Paylink.sudo().search([("renewed_from_id", "=", link.id)])
        self.assertEqual(newer_link.state, "sent")
        counts = (self._link_count(), self._mail_count(), self._note_count())

        # Days later the customer clicks the old email again.
        with freeze_time(now + timedelta(days=4)):
            old_page = self.url_open(f"/pay/{token}")
            again = self._post_form(f"/pay/{token}/renew", page)
        for response in (old_page, again):
            self.assertEqual(response.status_code, 410)
            self.assertPayHeaders(response)
            self.assertIn("A newer payment link was sent on", response.text)
            self.assertIn(newer_link.sent_at.strftime("%m/%d/%Y"), response.text)
            self.assertIn("c***@example.com", response.text)
            self.assertNotIn("customer@example.com", response.text)
            self.assertNotIn(f"/pay/{token}/renew", response.text)
        self.assertEqual((self._link_count(), self._mail_count(), self._note_count()), counts)
        self.assertEqual(newer_link.state, "sent", "the newer link the customer uses stays open")

    def test_no_new_link_while_the_company_cannot_take_payment(self):
        """Test that an expired link asks for no new link while its company's provider is
        disabled: a clear refusal, no link, no email."""
        link, __ = self._expired_link()
        link._paylink_mark_expired()
        self.provider.state = "disabled"
        counts = (self._link_count(), self._mail_count(), self._note_count())
        with self.assertRaisesRegex(UserError, "cannot send a new payment link"):
            link._paylink_request_renewal("198.51.100.7")
        self.assertEqual((self._link_count(), self._mail_count(), self._note_count()), counts)

    def test_older_link_cannot_renew_after_staff_sent_a_newer_one(self):
        """Test that an expired link whose document got a newer link from staff (in any state)
        refuses to renew and changes nothing."""
        link, __ = self._expired_link()
        link._paylink_mark_expired()
        newer_link, __ = self._send_link()
        newer_link.action_revoke()
        counts = (self._link_count(), self._mail_count(), self._note_count())
        with self.assertRaisesRegex(PaylinkSuperseded, r"c\*\*\*@example\.com"):
            link._paylink_request_renewal("198.51.100.7")
        self.assertEqual((self._link_count(), self._mail_count(), self._note_count()), counts)
        self.assertFalse(link.renewal_requested_at)

    def test_newest_link_renewed_minutes_ago_is_refused_with_429(self):
        """Test that the document's newest link cannot ask again within the cooldown after a
        renewal (429, a clear message, nothing sent)."""
        link, token = self._expired_link()
        with freeze_time(fields.Datetime.now() + timedelta(hours=25)):
            page = self.url_open(f"/pay/{token}")
            self.assertEqual(self._post_form(f"/pay/{token}/renew", page).status_code, 200)
            newer_link = self.Paylink.sudo().search([("renewed_from_id", "=", link.id)])
            newer_token = self._token_from_email(newer_link)
            # The new link is closed at once, as the scheduled action would.
            newer_link._paylink_mark_expired()
            counts = (self._link_count(), self._mail_count(), self._note_count())
            newer_page = self.url_open(f"/pay/{newer_token}")
            self.assertIn(f"/pay/{newer_token}/renew", newer_page.text)
            refused = self._post_form(f"/pay/{newer_token}/renew", newer_page)
        self.assertEqual(refused.status_code, 429)
        self.assertPayHeaders(refused)
        self.assertIn("A new link was sent a few minutes ago", refused.text)
        self.assertEqual((self._link_count(), self._mail_count(), self._note_count()), counts)

    def test_renewals_are_rate_limited_per_client_address(self):
        """Test that one client address gets at most five new links an hour, across
        documents: the sixth answers 429 and sends nothing, while another address still may;
        only a hash of the address is kept."""
        invoices = [
            self._paylink_posted_invoice(self.role_users["sales"], 100.0 + i) for i in range(6)
        ]
        tokens = [self._expired_link(invoice)[1] for invoice in invoices]
        with freeze_time(fields.Datetime.now() + timedelta(hours=25)):
            for token in tokens[:5]:
                page = self.url_open(f"/pay/{token}")
                self.assertEqual(self._post_form(f"/pay/{token}/renew", page).status_code, 200)
            mails = self._mail_count()
            page = self.url_open(f"/pay/{tokens[5]}")
            refused = self._post_form(f"/pay/{tokens[5]}/renew", page)
            self.assertEqual(refused.status_code, 429)
            self.assertPayHeaders(refused)
            self.assertIn("Too many new links were requested from your network", refused.text)
            self.assertEqual(self._link_count(invoices[5]), 1)
            self.assertEqual(self._mail_count(), mails)
            sixth = self.Paylink._paylink_find_by_token(tokens[5])
            with self.assertRaises(PaylinkRateLimited):
                sixth._paylink_request_renewal("127.0.0.1")
            self.assertEqual(sixth._paylink_request_renewal("203.0.113.9"), "c***@example.com")
        self.assertEqual(self._link_count(invoices[5]), 2)
        self.assertEqual(self._mail_count(), mails + 1)
        hashes = self.Paylink.sudo().search([("renewal_client_hash", "!=", False)])
        self.assertEqual(len(hashes), 6)
        for stored in hashes.mapped("renewal_client_hash"):
            self.assertNotIn("127.0.0.1", stored)
            self.assertNotIn("203.0.113.9", stored)

    def test_link_nobody_opened_answers_410_after_the_unopened_days_and_can_be_renewed(self):
        """Test that a link nobody opened works for 30 days after sending, then answers 410
        with the renewal form, and that renewing it emails a new link."""
        link, token = self._send_link()
        sent_at = link.sent_at
        with freeze_time(sent_at + timedelta(days=29, hours=23)):
            self.assertEqual(self.url_open(f"/pay/{token}").status_code, 200)
        with freeze_time(sent_at + timedelta(days=30)):
            page = self.url_open(f"/pay/{token}")
            self.assertEqual(page.status_code, 410)
            self.assertPayHeaders(page)
            self.assertIn("This payment link has expired", page.text)
            self.assertNotIn('name="pay"', page.text)
            self.assertNotIn(f"/pay/{token}/pdf", page.text)
            self.assertEqual(self.url_open(f"/pay/{token}/pdf").status_code, 410)
            mails = self._mail_count()
            renewed = self._post_form(f"/pay/{token}/renew", page)
        self.assertEqual(renewed.status_code, 200)
        self.assertIn("A new payment link was sent to", renewed.text)
        self.assertIn("c***@example.com", renewed.text)
        self.assertEqual(link.state, "expired")
        self.assertFalse(link.opened_at)
        new_link = self.Paylink.sudo().search([("renewed_from_id", "=", link.id)])
        self.assertEqual(new_link.state, "sent")
        self.assertEqual(self._mail_count(), mails + 1)

    def test_unopened_days_come_from_the_settings(self):
        """Test that the unopened lifetime follows the setting."""
        self.env["ir.config_parameter"].sudo().set_param("komet_paylink.unopened_days", "3")
        link, token = self._send_link()
        with freeze_time(link.sent_at + timedelta(days=3)):
            self.assertEqual(self.url_open(f"/pay/{token}").status_code, 410)
