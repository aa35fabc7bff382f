from odoo import Command
from odoo.tests import HttpCase, tagged
from odoo.tools import mute_logger

from .common import PaylinkStripeCommon
from .stripe_fake import make_event


@tagged("post_install", "-at_install")
class TestFeesPayouts(PaylinkStripeCommon, HttpCase):
    """Every cent of Stripe in the books: fees booked with each payment, payouts moved to the
    bank so that their statement line reconciles in one step."""

    def setUp(self):
        super().setUp()
        # 2.9 % + 0.30, as Stripe's standard European card price.
        self.stripe.fee_fixed, self.stripe.fee_percent = 30, 2.9

    def _pay(self, invoice, payment_intent):
        link, __, __ = self._open_checkout(invoice)
        transaction = link.transaction_ids
        session = self._pay_session(transaction, payment_intent=payment_intent)
        response = self._deliver(make_event("checkout.session.completed", session))
        self.assertEqual(response.json()["outcome"], "done")
        return transaction

    def _outstanding_line(self, payment):
        return payment.move_id.line_ids.filtered(
            lambda line: line.account_id == payment.outstanding_account_id
        )

    def test_a_paid_invoice_books_the_fee_and_the_outstanding_line_carries_the_net(self):
        """Test that a payment's Stripe fee, read from its balance transaction, is booked on
        the fees account, the outstanding line is the net, and the invoice is paid in full."""
        transaction = self._pay(self.invoice, "pi_fee_1")
        payment = transaction.payment_id
        txn = self.stripe.charge_balance_transaction("pi_fee_1")
        self.assertEqual(txn["fee"], 3365)
        self.assertEqual(payment.komet_stripe_fee, 33.65)
        self.assertEqual(payment.komet_stripe_balance_transaction, txn["id"])
        self.assertEqual(payment.amount, 1116.35)
        self.assertEqual(self._outstanding_line(payment).balance, 1116.35)
        fee_account = self.provider._paylink_fee_account()
        self.assertTrue(fee_account)
        fee_line = payment.move_id.line_ids.filtered(lambda line: line.account_id == fee_account)
        self.assertEqual(fee_line.balance, 33.65)
        self.assertEqual(self.invoice.amount_residual, 0.0)
        self.assertIn(self.invoice.payment_state, ("paid", "in_payment"))
        self.assertEqual(payment.amount_available_for_refund, 1150.0, "refundable in full")

    def test_the_provider_fee_account_is_used(self):
        """Test that the fees account set on the provider is the one booked."""
        account = self.company_data["default_account_expense"]
        self.provider.komet_stripe_fee_account_id = account
        payment = self._pay(self.invoice, "pi_fee_2").payment_id
        self.assertEqual(
            payment.move_id.line_ids.filtered(lambda line: line.account_id == account).balance,
            33.65,
        )

    def _payout_event(self, payout):
        return make_event("payout.paid", payout)

    def test_a_payout_reconciles_with_its_bank_statement_line_in_one_step(self):
        """Test that a payout of three payments, one refund and a Stripe fee is booked as one
        entry that settles each payment's and the refund's outstanding line and the fee, and
        whose bank line matches the payout's statement line exactly."""
        invoices = [self.invoice] + [
            self._paylink_posted_invoice(self.role_users["sales"], amount)
            for amount in (200.0, 99.99)
        ]
        transactions = [
            self._pay(invoice, f"pi_payout_{index}") for index, invoice in enumerate(invoices)
        ]
        refund = self.stripe.add_refund("pi_payout_1", 5000)
        charge = {"id": "ch_pi_payout_1", "object": "charge", "payment_intent": "pi_payout_1"}
        self._deliver(make_event("charge.refunded", charge | {"livemode": False}))
        refund_tx = transactions[1].child_transaction_ids
        self.assertEqual(refund_tx.state, "done")
        monthly_fee = self.stripe.add_fee(500, description="Radar fees")
        payout = self.stripe.make_payout(
            [
                *(self.stripe.charge_balance_transaction(f"pi_payout_{i}")["id"] for i in range(3)),
                refund["balance_transaction"],
                monthly_fee["id"],
            ]
        )
        event = self._payout_event(payout)
        response = self._deliver(event)
        self.assertEqual(response.json()["outcome"], "payout booked")
        record = self.env["komet.paylink.payout"].search([("name", "=", payout["id"])])
        self.assertEqual(record.state, "booked")
        self.assertEqual(record.amount, payout["amount"] / 100)
        move = record.move_id
        self.assertEqual(move.state, "posted")
        for payment in (*(tx.payment_id for tx in transactions), refund_tx.payment_id):
            self.assertTrue(self._outstanding_line(payment).reconciled, payment.name)
        fee_account = self.provider._paylink_fee_account()
        self.assertEqual(
            sum(
                move.line_ids.filtered(lambda line: line.account_id == fee_account).mapped(
                    "balance"
                )
            ),
            5.0,
        )
        bank_line = move.line_ids.filtered(
            lambda line: line.account_id.reconcile and not line.reconciled
        )
        self.assertEqual(len(bank_line), 1)
        self.assertEqual(bank_line.balance, payout["amount"] / 100)
        # The payout on the bank statement: one click matches it with the payout's bank line.
        journal = self.provider._paylink_payout_journal()
        statement_line = self.env["account.bank.statement.line"].create(
            {
                "journal_id": journal.id,
                "payment_ref": f"STRIPE PAYOUT {payout['id']}",
                "amount": payout["amount"] / 100,
            }
        )
        suspense = statement_line.move_id.line_ids.filtered(
            lambda line: line.account_id == journal.suspense_account_id
        )
        statement_line.move_id.with_context(skip_readonly_check=True).write(
            {"line_ids": [Command.update(suspense.id, {"account_id": bank_line.account_id.id})]}
        )
        (suspense | bank_line).reconcile()
        self.assertTrue(statement_line.is_reconciled)
        self.assertTrue(bank_line.reconciled)
        self.assertEqual(self._deliver(event).json()["outcome"], "duplicate")
        another_delivery = self._payout_event(payout)
        self.assertEqual(self._deliver(another_delivery).json()["outcome"], "unchanged")
        self.assertEqual(record.move_id, move, "booked once")

    def test_a_payout_with_a_line_matching_nothing_is_a_todo(self):
        """Test that a payout one of whose lines matches nothing booked is not booked but
        left to the cashiers, and is booked once that line can be accounted for."""
        self._pay(self.invoice, "pi_known")
        dispute = self.stripe.add_dispute_withdrawal("pi_known", 115000)
        unknown = self.stripe._new_balance_transaction(
            -1234, "usd", "adjustment", "other_adjustment", "adj_unknown"
        )
        payout = self.stripe.make_payout(
            [self.stripe.charge_balance_transaction("pi_known")["id"], dispute["id"], unknown["id"]]
        )
        with mute_logger("odoo.addons.komet_paylink.models.komet_paylink_payout"):
            response = self._deliver(self._payout_event(payout))
        self.assertEqual(response.json()["outcome"], "to check")
        record = self.env["komet.paylink.payout"].search([("name", "=", payout["id"])])
        self.assertEqual(record.state, "to_check")
        self.assertFalse(record.move_id)
        self.assertIn(unknown["id"], record.unknown_lines)
        self.assertNotIn(dispute["id"], record.unknown_lines, "a dispute is accounted for")
        activity = record.with_user(self.role_users["cashier"]).activity_ids
        self.assertEqual(activity.user_id, self.role_users["cashier"])
        self.assertIn(unknown["id"], activity.note)
