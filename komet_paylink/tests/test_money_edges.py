from datetime import timedelta

from freezegun import freeze_time

from odoo import fields
from odoo.exceptions import AccessError, UserError
from odoo.tests import HttpCase, tagged
from odoo.tools import mute_logger

from .common import PaylinkStripeCommon
from .stripe_fake import make_event


@tagged("post_install", "-at_install")
class TestMoneyEdges(PaylinkStripeCommon, HttpCase):
    """The edges where money could be charged twice, charged when not due, or lost."""

    def _session_posts(self):
        return [
            request
            for request in self.stripe.requests
            if request["method"] == "POST" and request["path"] == "/v1/checkout/sessions"
        ]

    def _later(self):
        """Past the throttle of a burst of Pay presses (`CHECKOUT_THROTTLE_SECONDS`)."""
        return freeze_time(fields.Datetime.now() + timedelta(seconds=11))

    def _register_bank_payment(self, invoice, amount):
        self.env["account.payment.register"].with_context(
            active_model="account.move", active_ids=invoice.ids
        ).create({"amount": amount})._create_payments()

    def _cashier_activities(self, document, word):
        return document.activity_ids.filtered(
            lambda activity: (
                word in (activity.summary or "") and activity.user_id == self.role_users["cashier"]
            )
        )

    # === ONE OPEN SESSION PER LINK === #

    def test_pay_twice_reuses_the_open_session(self):
        """Test that pressing Pay again later (past the throttle of a burst) while the amount
        is unchanged reuses the open Checkout Session, whose URL is read back from Stripe."""
        link, token, first = self._open_checkout()
        page = self.url_open(f"/pay/{token}")
        with self._later():
            second = self._post_form(f"/pay/{token}/checkout", page)
        self.assertEqual(second.status_code, 303)
        self.assertEqual(second.headers["Location"], first.headers["Location"])
        self.assertEqual(len(self._session_posts()), 1)
        session_id = link.transaction_ids.provider_reference
        self.assertEqual(second.headers["Location"], self.stripe.sessions[session_id]["url"])
        self.assertEqual(
            self.stripe.last_request(f"/v1/checkout/sessions/{session_id}")["method"], "GET"
        )

    def test_stripe_unreachable_on_pay_again_opens_no_second_session(self):
        """Test that when Stripe cannot say whether the open session is still open, Pay
        answers 503 and opens no second session beside it."""
        link, token, __ = self._open_checkout()
        page = self.url_open(f"/pay/{token}")
        self.stripe.fail_next(500, count=1, should_retry=False)
        with mute_logger("odoo.addons.komet_paylink.models.payment_provider"), self._later():
            response = self._post_form(f"/pay/{token}/checkout", page)
        self.assertEqual(response.status_code, 503)
        self.assertEqual(len(self._session_posts()), 1)
        self.assertEqual(len(link.transaction_ids), 1)

    def test_processing_payment_opens_no_session_and_says_since_when(self):
        """Test that while a bank debit is processing the page says so and Pay opens no
        session."""
        link, token, __ = self._open_checkout()
        session = self._pay_session(link.transaction_ids, payment_status="unpaid")
        self._deliver(make_event("checkout.session.completed", session))
        self.assertEqual(link.transaction_ids.state, "pending")
        page = self.url_open(f"/pay/{token}")
        self.assertEqual(page.status_code, 200)
        self.assertIn("o_komet_paylink_processing", page.text)
        self.assertIn("since", page.text)
        self.assertNotIn('name="pay"', page.text)
        with self.assertRaisesRegex(UserError, "being confirmed"):
            link._paylink_start_checkout()
        self.assertEqual(len(self._session_posts()), 1)

    def test_completed_session_without_its_webhook_yet_opens_no_other(self):
        """Test that a session Stripe reports complete, before its webhook came, makes Pay
        say the payment is being confirmed rather than open a second session."""
        link, token, __ = self._open_checkout()
        self._pay_session(link.transaction_ids)
        # Past the throttle of a burst, which sends a press back to the page just opened.
        with self.assertRaisesRegex(UserError, "being confirmed"), self._later():
            link._paylink_start_checkout()
        self.assertEqual(len(self._session_posts()), 1)

    # === CLOSING A LINK CLOSES ITS SESSIONS === #

    def assertSessionExpired(self, transaction):
        self.assertEqual(self.stripe.sessions[transaction.provider_reference]["status"], "expired")
        self.assertEqual(transaction.state, "cancel")

    def test_revoking_expires_the_open_session(self):
        """Test that a revoked link's open Checkout Session is expired at Stripe."""
        link, __, __ = self._open_checkout()
        link.with_user(self.role_users["cashier"]).action_revoke()
        self.assertSessionExpired(link.transaction_ids)

    def test_a_newer_link_expires_the_older_links_session(self):
        """Test that sending a new link expires the open session of the link it replaces."""
        link, __, __ = self._open_checkout()
        self._send_link()
        self.assertEqual(link.state, "revoked")
        self.assertSessionExpired(link.transaction_ids)

    def test_expiry_expires_the_open_session(self):
        """Test that a link expired by the scheduled action has its session expired."""
        link, __, __ = self._open_checkout()
        link.sudo().expires_at = "2000-01-01 00:00:00"
        self.env["komet.paylink"]._cron_expire_links()
        self.assertEqual(link.state, "expired")
        self.assertSessionExpired(link.transaction_ids)

    def test_reset_to_draft_expires_the_open_session(self):
        """Test that resetting the invoice to draft closes the link and its session."""
        link, __, __ = self._open_checkout()
        self.invoice.button_draft()
        self.assertEqual(link.state, "revoked")
        self.assertSessionExpired(link.transaction_ids)

    def test_paid_by_bank_transfer_closes_the_link_and_its_session(self):
        """Test that an invoice paid another way closes its link and expires its session."""
        link, token, __ = self._open_checkout()
        self._register_bank_payment(self.invoice, 1150.0)
        self.assertEqual(link.state, "revoked")
        self.assertSessionExpired(link.transaction_ids)
        self.assertEqual(self.url_open(f"/pay/{token}").status_code, 404)

    def test_a_full_credit_note_closes_the_link_and_its_session(self):
        """Test that crediting the invoice in full closes its link and its session."""
        link, __, __ = self._open_checkout()
        reversal = (
            self.env["account.move.reversal"]
            .with_context(active_model="account.move", active_ids=self.invoice.ids)
            .create({"journal_id": self.invoice.journal_id.id, "reason": "returned"})
        )
        reversal.modify_moves()
        self.assertEqual(link.state, "revoked")
        self.assertSessionExpired(link.transaction_ids)

    def test_closing_while_stripe_is_down_is_retried_by_the_scheduled_action(self):
        """Test that a session Stripe could not be asked to expire is expired later by the
        scheduled action."""
        link, __, __ = self._open_checkout()
        transaction = link.transaction_ids
        self.stripe.fail_next(500, count=1, should_retry=False)
        with mute_logger("odoo.addons.komet_paylink.models.payment_provider"):
            link.with_user(self.role_users["cashier"]).action_revoke()
        self.assertEqual(link.state, "revoked")
        self.assertTrue(transaction.komet_expire_pending)
        self.assertEqual(self.stripe.sessions[transaction.provider_reference]["status"], "open")
        self.env["komet.paylink"]._cron_expire_links()
        self.assertSessionExpired(transaction)
        self.assertFalse(transaction.komet_expire_pending)

    # === MONEY ON A CLOSED LINK === #

    def test_money_on_a_revoked_link_of_an_open_invoice_is_booked_on_it(self):
        """Test that a payment Stripe took an instant before the link was revoked is booked
        once on the still-open invoice."""
        link, __, __ = self._open_checkout()
        transaction = link.transaction_ids
        link.with_user(self.role_users["cashier"]).action_revoke()
        session = self._pay_session(transaction, status="complete")
        response = self._deliver(make_event("checkout.session.completed", session))
        self.assertEqual(response.json()["outcome"], "done")
        self.assertEqual(transaction.state, "done")
        self.assertIn(self.invoice.payment_state, ("paid", "in_payment"))
        self.assertEqual(link.state, "paid")
        self.assertEqual(len(transaction.payment_id), 1)

    def test_money_on_a_link_of_an_invoice_paid_another_way_is_kept_as_credit(self):
        """Test that a payment landing after the invoice was paid by bank transfer is kept as
        the customer's credit, with a to-do for the cashiers, and never lost."""
        link, __, __ = self._open_checkout()
        transaction = link.transaction_ids
        self._register_bank_payment(self.invoice, 1150.0)
        session = self._pay_session(transaction, status="complete")
        self._deliver(make_event("checkout.session.completed", session))
        self.assertEqual(transaction.state, "done")
        payment = transaction.payment_id
        self.assertEqual(payment.amount, 1150.0)
        self.assertEqual(payment.partner_id, self.customer)
        self.assertFalse(payment.reconciled_invoice_ids, "kept as credit, not on the invoice")
        activities = self._cashier_activities(self.invoice, "customer credit")
        self.assertEqual(len(activities), 1)
        self.assertIn(transaction.reference, activities.summary)

    def test_money_on_a_link_of_a_draft_invoice_never_posts_it(self):
        """Test that a payment landing on a link of an invoice reset to draft keeps the
        invoice in draft."""
        link, __, __ = self._open_checkout()
        transaction = link.transaction_ids
        self.invoice.button_draft()
        session = self._pay_session(transaction, status="complete")
        self._deliver(make_event("checkout.session.completed", session))
        self.assertEqual(self.invoice.state, "draft")
        self.assertEqual(transaction.state, "done")
        self.assertEqual(transaction.payment_id.amount, 1150.0)
        self.assertTrue(self._cashier_activities(self.invoice, "customer credit"))

    # === THE AMOUNT DUE NOW === #

    def test_a_partial_bank_payment_changes_the_amount_and_expires_the_old_session(self):
        """Test that after a partial bank payment the page shows the new amount, the old
        session is expired and Pay opens one for the new amount."""
        link, token, __ = self._open_checkout()
        old_transaction = link.transaction_ids
        self._register_bank_payment(self.invoice, 150.0)
        self.assertEqual(link.state, "opened", "the link stays: 1,000.00 is still due")
        self.assertSessionExpired(old_transaction)
        page = self.url_open(f"/pay/{token}")
        self.assertIn("1,000.00", page.text)
        response = self._post_form(f"/pay/{token}/checkout", page)
        self.assertEqual(response.status_code, 303)
        new_transaction = link.transaction_ids - old_transaction
        self.assertEqual(new_transaction.amount, 1000.0)
        unit_amount = self._session_posts()[-1]["params"]["line_items"][0]["price_data"]
        self.assertEqual(unit_amount["unit_amount"], "100000")

    def test_an_early_payment_discount_is_what_is_due(self):
        """Test that an invoice with an early-payment discount is paid at the discounted
        amount and booked in full, as Odoo's own invoice payment does."""
        term = self.env["account.payment.term"].create(
            {
                "name": "2% within 10 days",
                "early_discount": True,
                "discount_percentage": 2,
                "discount_days": 10,
                "line_ids": [(0, 0, {"value": "percent", "value_amount": 100, "nb_days": 30})],
            }
        )
        invoice = self.init_invoice(
            "out_invoice",
            partner=self.customer,
            invoice_date=fields.Date.today(),
            amounts=[1000.0],
            taxes=[],
        )
        invoice.invoice_payment_term_id = term
        invoice.action_post()
        link, __, response = self._open_checkout(invoice)
        self.assertEqual(response.status_code, 303)
        transaction = link.transaction_ids
        self.assertEqual(transaction.amount, 980.0)
        self._deliver(make_event("checkout.session.completed", self._pay_session(transaction)))
        self.assertIn(invoice.payment_state, ("paid", "in_payment"))

    def test_an_order_whose_invoice_was_paid_by_bank_gets_no_link(self):
        """Test that a sale order whose invoice was paid by bank transfer has nothing left to
        pay, and no link says why."""
        order = self.env["sale.order"].create(
            {
                "partner_id": self.customer.id,
                "user_id": self.role_users["sales"].id,
                "order_line": [
                    (
                        0,
                        0,
                        {"product_id": self.product_a.id, "product_uom_qty": 1, "price_unit": 500},
                    )
                ],
            }
        )
        order.action_confirm()
        invoice = order._create_invoices()
        invoice.action_post()
        self._register_bank_payment(invoice, invoice.amount_total)
        self.assertEqual(order._paylink_amount_due(), 0.0)
        with self.assertRaisesRegex(UserError, "nothing left to pay"):
            self._send_link(order)

    # === WHERE THE CUSTOMER IS SENT, WHAT THEY PAY === #

    def test_billing_users_cannot_alter_payment_link_transactions(self):
        """Test that a co-worker with Billing rights and none of the five roles can neither
        change nor make the transactions that decide where Pay sends the customer."""
        link, __, __ = self._open_checkout()
        transaction = link.transaction_ids.with_user(self.plain_user)
        for values in (
            {"provider_reference": "cs_attacker"},
            {"amount": 1.0},
            {"state": "draft"},
        ):
            with self.subTest(values=values), self.assertRaises(AccessError):
                transaction.write(values)
        with self.assertRaises(AccessError):
            self.env["payment.transaction"].with_user(self.plain_user).create(
                {
                    "provider_id": self.provider.id,
                    "payment_method_id": transaction.payment_method_id.id,
                    "amount": 1.0,
                    "currency_id": transaction.currency_id.id,
                    "partner_id": self.customer.id,
                    "komet_paylink_id": link.id,
                }
            )
        self.assertEqual(link.transaction_ids.amount, 1150.0)

    # === REJECTED PAYMENTS REACH A PERSON === #

    def test_a_paid_session_refused_by_the_checks_reaches_the_cashiers(self):
        """Test that money Stripe took for a session that fails the checks sets the
        transaction in error and gives the cashiers a to-do, once."""
        link, __, __ = self._open_checkout()
        transaction = link.transaction_ids
        session = self._pay_session(transaction, amount_total=100)
        with mute_logger("odoo.addons.komet_paylink.models.payment_transaction"):
            for __ in range(2):
                response = self._deliver(make_event("checkout.session.completed", session))
                self.assertEqual(response.json()["outcome"], "rejected")
        self.assertEqual(transaction.state, "error")
        self.assertEqual(self.invoice.payment_state, "not_paid")
        activities = self._cashier_activities(self.invoice, "refused")
        self.assertEqual(len(activities), 1)
        self.assertIn("amount", activities.note)
