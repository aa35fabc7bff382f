from datetime import timedelta

from freezegun import freeze_time

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import tagged

from odoo.addons.komet_paylink import utils

from .common import PaylinkCommon


@tagged("post_install", "-at_install")
class TestLinkLifecycle(PaylinkCommon):
    def test_token_is_never_stored_in_clear(self):
        """Test that only a hash of the token is kept and the URL is not readable later."""
        link, token = self._send_link()
        self.assertGreaterEqual(len(token), 22, "at least 128 bits of randomness")
        self.assertTrue(link.url.startswith(link.company_id.get_base_url() + "/pay/"))
        self.env.cr.execute("SELECT * FROM komet_paylink WHERE id = %s", [link.id])
        row = self.env.cr.fetchone()
        self.assertNotIn(token, [str(value) for value in row])
        self.assertEqual(link.sudo().token_hash, utils.hash_token(token))
        link.invalidate_recordset()
        self.assertFalse(link.url)
        self.assertEqual(self.Paylink._paylink_find_by_token(token), link)

    def test_find_by_token_refuses_unknown_and_malformed_tokens(self):
        """Test that an unknown or malformed token finds no link."""
        link, token = self._send_link()
        for bad in ("", "x", token[:-1], token + "A", token[:-1] + "!", utils.hash_token(token)):
            with self.subTest(bad=bad):
                self.assertFalse(self.Paylink._paylink_find_by_token(bad))

    def test_link_starts_sent_with_the_amount_due(self):
        """Test that a new link is sent, not ticking, and carries the invoice's amount due."""
        link, __ = self._send_link()
        self.assertEqual(link.state, "sent")
        self.assertEqual(link.amount, self.invoice.amount_residual)
        self.assertEqual(link.currency_id, self.invoice.currency_id)
        self.assertEqual(link.partner_id, self.customer)
        self.assertEqual(link.user_id, self.role_users["sales"])
        self.assertFalse(link.opened_at)
        self.assertFalse(link.expires_at)
        self.assertTrue(link.sent_at)
        self.assertTrue(
            any(
                "sent to Wholesale Customer" in body
                for body in self._paylink_chatter_bodies(self.invoice)
            )
        )

    def test_first_open_starts_a_24_hour_clock_that_reopening_does_not_extend(self):
        """Test that the first open starts the lifetime and a later open keeps the same expiry."""
        link, __ = self._send_link()
        with freeze_time("2026-03-01 10:00:00"):
            self.assertTrue(link._paylink_register_open())
        self.assertEqual(link.state, "opened")
        self.assertEqual(link.opened_at, fields.Datetime.to_datetime("2026-03-01 10:00:00"))
        self.assertEqual(link.expires_at, fields.Datetime.to_datetime("2026-03-02 10:00:00"))
        with freeze_time("2026-03-02 09:00:00"):
            self.assertTrue(link._paylink_register_open())
        self.assertEqual(link.expires_at, fields.Datetime.to_datetime("2026-03-02 10:00:00"))
        with freeze_time("2026-03-02 10:00:01"):
            self.assertFalse(link._paylink_register_open())
        self.assertEqual(link.state, "expired")

    def test_lifetime_setting_is_honoured(self):
        """Test that the lifetime in hours comes from the settings."""
        self.env["ir.config_parameter"].sudo().set_param("komet_paylink.lifetime_hours", "48")
        link, __ = self._send_link()
        with freeze_time("2026-03-01 10:00:00"):
            link._paylink_register_open()
        self.assertEqual(link.expires_at - link.opened_at, timedelta(hours=48))

    def test_cron_expires_only_overdue_opened_links(self):
        """Test that the scheduled action expires opened links past their lifetime, only them."""
        never_opened, __ = self._send_link(self.other_sales_invoice)
        overdue, __ = self._send_link()
        with freeze_time("2026-03-01 10:00:00"):
            overdue._paylink_register_open()
        cron = self.env.ref("komet_paylink.ir_cron_expire_links")
        with freeze_time("2026-03-02 09:59:00"):
            cron.method_direct_trigger()
        self.assertEqual(overdue.state, "opened")
        with freeze_time("2026-03-02 10:00:00"):
            cron.method_direct_trigger()
        self.assertEqual(overdue.state, "expired")
        self.assertEqual(overdue.expired_at, fields.Datetime.to_datetime("2026-03-02 10:00:00"))
        self.assertEqual(never_opened.state, "sent", "a link nobody opened is not ticking")
        self.assertTrue(
            any("expired" in body for body in self._paylink_chatter_bodies(self.invoice))
        )

    def test_cron_expires_links_nobody_opened_within_the_unopened_days(self):
        """Test that the scheduled action expires a link nobody opened once
        `komet_paylink_unopened_days` have passed since it was sent, and not before."""
        self.env["ir.config_parameter"].sudo().set_param("komet_paylink.unopened_days", "10")
        with freeze_time("2026-03-01 10:00:00"):
            unopened, __ = self._send_link()
        cron = self.env.ref("komet_paylink.ir_cron_expire_links")
        with freeze_time("2026-03-11 09:59:00"):
            cron.method_direct_trigger()
        self.assertEqual(unopened.state, "sent")
        with freeze_time("2026-03-11 10:00:00"):
            cron.method_direct_trigger()
        self.assertEqual(unopened.state, "expired")
        self.assertFalse(unopened.opened_at)

    def test_first_open_after_the_unopened_days_does_not_open_the_link(self):
        """Test that a customer's first action after the unopened lifetime expires the link
        instead of starting its clock."""
        with freeze_time("2026-03-01 10:00:00"):
            link, __ = self._send_link()
        with freeze_time("2026-03-31 10:00:00"):
            self.assertFalse(link._paylink_register_open())
        self.assertEqual(link.state, "expired")
        self.assertFalse(link.opened_at)

    def test_revocation_closes_the_link(self):
        """Test that a revoked link is no longer active and cannot be opened."""
        link, __ = self._send_link()
        link.action_revoke()
        self.assertEqual(link.state, "revoked")
        self.assertTrue(link.revoked_at)
        self.assertFalse(link._paylink_register_open())
        self.assertEqual(link.state, "revoked")
        self.assertTrue(
            any("revoked" in body for body in self._paylink_chatter_bodies(self.invoice))
        )

    def test_a_new_link_revokes_the_older_one(self):
        """Test that sending a new link for a document revokes its older live links."""
        first, __ = self._send_link()
        second, __ = self._send_link()
        self.assertEqual(first.state, "revoked")
        self.assertEqual(second.state, "sent")
        self.assertEqual(self.invoice.komet_paylink_count, 2)

    def test_paid_link_stays_paid(self):
        """Test that a paid link cannot be revoked or reopened."""
        link, __ = self._send_link()
        link._paylink_register_open()
        link.sudo()._paylink_mark_paid()
        link.action_revoke()
        self.assertEqual(link.state, "paid")
        self.assertTrue(link.paid_at)
        self.assertFalse(link._paylink_register_open())

    def test_documents_with_nothing_to_pay_get_no_link(self):
        """Test that draft, cancelled, paid and zero invoices are refused with a reason."""
        draft = self.init_invoice("out_invoice", partner=self.customer, amounts=[10.0], taxes=[])
        cancelled = self.init_invoice(
            "out_invoice", partner=self.customer, amounts=[10.0], taxes=[]
        )
        cancelled.button_cancel()
        paid = self._paylink_posted_invoice(self.role_users["sales"], 30.0)
        self.env["account.payment.register"].with_context(
            active_model="account.move", active_ids=paid.ids
        ).create({})._create_payments()
        zero = self._paylink_posted_invoice(self.role_users["sales"], 0.0)
        for document, reason in (
            (draft, "draft"),
            (cancelled, "cancelled"),
            (paid, "already paid"),
            (zero, "nothing to pay"),
        ):
            with self.subTest(reason=reason), self.assertRaisesRegex(UserError, reason):
                self._send_link(document)
        self.assertFalse(
            self.Paylink.sudo().search([("move_id", "in", (draft | cancelled | paid | zero).ids)])
        )

    def test_sale_order_link_pays_the_order(self):
        """Test that a confirmed order with no invoice gets a link for its total."""
        order = self.env["sale.order"].create(
            {
                "partner_id": self.customer.id,
                "user_id": self.role_users["sales"].id,
                "order_line": [
                    fields.Command.create({"product_id": self.product_a.id, "product_uom_qty": 2})
                ],
            }
        )
        order.action_confirm()
        link, __ = self._send_link(order)
        self.assertEqual(link.sale_order_id, order)
        self.assertEqual(link.amount, order.amount_total)
        self.assertEqual(order.komet_paylink_count, 1)
