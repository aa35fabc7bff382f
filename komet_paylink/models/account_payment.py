import logging

from odoo import _, api, fields, models
from odoo.exceptions import ValidationError
from odoo.tools import SQL

from odoo.addons.payment import utils as payment_utils

from .. import const, utils
from ..exceptions import PaylinkRetryLater

_logger = logging.getLogger(__name__)

RECEIPT_REPORT = "account.report_payment_receipt"


class AccountPayment(models.Model):
    _inherit = "account.payment"

    komet_stripe_fee = fields.Monetary(
        string="Stripe Fee",
        help="What Stripe kept of this payment, booked on the provider's fees account: the "
        "payment's amount is the net Stripe pays out.",
        readonly=True,
        copy=False,
    )
    komet_stripe_exchange_rate = fields.Float(
        string="Stripe Exchange Rate",
        help="The rate at which Stripe converted the payment into its balance's currency, if it "
        "did.",
        digits=0,
        readonly=True,
        copy=False,
    )
    komet_stripe_balance_transaction = fields.Char(
        string="Stripe Balance Transaction", readonly=True, copy=False, index="btree_not_null"
    )
    komet_paylink_receipt_id = fields.Many2one(
        string="Payment Link Receipt",
        comodel_name="ir.attachment",
        help="Odoo's payment receipt of this payment, as the customer downloads it from the "
        "payment link they paid with: rendered on the first download, then kept.",
        readonly=True,
        copy=False,
    )

    # === COMPUTE METHODS === #

    def _compute_amount_available_for_refund(self):
        """Override of `account_payment`: the customer paid the gross amount, fee included, and
        may be refunded all of it."""
        res = super()._compute_amount_available_for_refund()
        for payment in self.filtered("komet_stripe_fee"):
            if payment.amount_available_for_refund:
                payment.amount_available_for_refund += payment.komet_stripe_fee
        return res

    # === CRUD METHODS === #

    @api.model_create_multi
    def create(self, vals_list):
        """Override of `account` to book Stripe's fee of a payment-link payment on the fees
        account: the outstanding line carries the net Stripe pays out, and the customer's
        invoice is still paid in full."""
        vals_list = [self._paylink_with_stripe_fee(vals) for vals in vals_list]
        return super().create(vals_list)

    # === ACTION METHODS === #

    def action_post(self):
        """Override of `account` to follow a payment registered on invoices that have a live
        payment link (Odoo 18 may record it without reconciling any journal item), and to pay
        a statement link's invoices oldest first."""
        res = super().action_post()
        self._paylink_reconcile_oldest_first()
        (self.invoice_ids | self.reconciled_invoice_ids)._paylink_sync_links()
        self._paylink_send_confirmation()
        return res

    # === BUSINESS METHODS === #

    @api.model
    def _paylink_with_stripe_fee(self, vals):
        """`vals` of a payment made by a payment-link transaction, with the fee Stripe kept
        (read from the charge's balance transaction) as a write-off line on the fees account
        and the net as the amount.

        :raise PaylinkRetryLater: Stripe could not be asked (the webhook is delivered again).
        """
        tx = self.env["payment.transaction"].sudo().browse(vals.get("payment_transaction_id"))
        if (
            not tx
            or tx.provider_code != const.PROVIDER_CODE
            or tx.operation == "refund"
            or vals.get("payment_type") != "inbound"
            or not tx.komet_stripe_payment_intent
        ):
            return vals
        try:
            txn = tx.provider_id._paylink_balance_transaction(tx.komet_stripe_payment_intent)
        except ValidationError as error:
            raise PaylinkRetryLater(str(error)) from error
        if not txn:
            return vals
        vals = {
            **vals,
            "komet_stripe_balance_transaction": txn.get("id"),
            "komet_stripe_exchange_rate": txn.get("exchange_rate") or 0.0,
        }
        if not txn.get("fee"):
            return vals
        currency = self.env["res.currency"].browse(vals["currency_id"])
        fee = self._paylink_from_stripe_amount(txn, txn["fee"], currency)
        if (
            currency.compare_amounts(fee, 0) <= 0
            or currency.compare_amounts(fee, vals["amount"]) >= 0
        ):
            return vals
        company = self.env["res.company"].browse(vals.get("company_id")) or tx.company_id
        account = tx.provider_id._paylink_fee_account()
        if not account:
            raise ValidationError(
                _(
                    "No expense account to book Stripe's fees on for %(company)s: set one on "
                    "the payment provider %(provider)s.",
                    company=company.name,
                    provider=tx.provider_id.name,
                )
            )
        write_off = {
            "name": _("Stripe fee of %(ref)s", ref=tx.reference),
            "account_id": account.id,
            "partner_id": vals.get("partner_id"),
            "currency_id": currency.id,
            "amount_currency": fee,
            "balance": currency._convert(
                fee,
                company.currency_id,
                company,
                vals.get("date") or fields.Date.context_today(self),
            ),
        }
        return {
            **vals,
            "amount": vals["amount"] - fee,
            "komet_stripe_fee": fee,
            "write_off_line_vals": [*(vals.get("write_off_line_vals") or []), write_off],
        }

    @api.model
    def _paylink_from_stripe_amount(self, txn, minor_amount, currency):
        """`minor_amount` of balance transaction `txn` (in its currency's minor units) in
        `currency`: at Stripe's own exchange rate when Stripe converted the payment."""
        code = (txn.get("currency") or "").upper()
        txn_currency = (
            currency
            if code == currency.name
            else self.env["res.currency"]
            .with_context(active_test=False)
            .search([("name", "=", code)], limit=1)
        )
        if not txn_currency:
            return 0.0
        amount = payment_utils.to_major_currency_units(
            minor_amount,
            txn_currency,
            arbitrary_decimal_number=utils.stripe_decimals(txn_currency.name),
        )
        if txn_currency == currency:
            return amount
        if txn.get("exchange_rate"):
            return currency.round(amount / txn["exchange_rate"])
        return txn_currency._convert(
            amount, currency, self.env.company, fields.Date.context_today(self)
        )

    def _paylink_reconcile_oldest_first(self):
        """Reconcile the payment of a statement link's transaction with its invoices one after
        the other, oldest first, as the page promises: for a part of their total, the oldest
        are paid and the rest stays on the newest. Odoo reconciles the transaction's payment
        right after posting it, by due date, which can differ from the statement's order (an
        older invoice due later); what is reconciled here is left out of that."""
        for payment in self.sudo().filtered(
            lambda payment: (
                payment.payment_transaction_id.komet_paylink_id.is_statement
                and payment.payment_type == "inbound"
                and payment.move_id
            )
        ):
            account = payment.destination_account_id
            payment_lines = payment.move_id.line_ids.filtered(
                lambda line, account=account: line.account_id == account and not line.reconciled
            )
            invoices = payment.payment_transaction_id.invoice_ids.filtered(
                lambda move: move.state == "posted"
            )
            plan = [
                payment_lines
                + invoice.line_ids.filtered(
                    lambda line, account=account: line.account_id == account and not line.reconciled
                )
                for invoice in invoices._paylink_oldest_first()
            ]
            if payment_lines and plan:
                # One sub-plan: its steps in order, each seeing what the one before used.
                payment_lines._reconcile_plan([plan])

    def _paylink_send_confirmation(self):
        """Email the customer what they paid through a payment link, in their language, once:
        when the payment of the link's transaction is posted (never for a refund)."""
        paid_through_links = self.sudo().filtered(
            lambda payment: (
                payment.payment_transaction_id.komet_paylink_id
                and payment.payment_transaction_id.operation != "refund"
                and payment.payment_type == "inbound"
                and payment.partner_id.email
            )
        )
        if paid_through_links:
            template = self.env.ref("komet_paylink.mail_template_paylink_paid").sudo()
            for payment in paid_through_links:
                template.send_mail(payment.id)

    def _paylink_receipt_pdf(self):
        """Odoo's own payment receipt of this payment (`account.report_payment_receipt`, in
        its customer's language), as a paid link's page offers it: rendered on the first
        download, kept as an attachment of the payment and served from there afterwards, never
        rendered twice. Two first downloads at once take turns on the payment's row: the second
        waits, and on Odoo's retry serves what the first kept.

        :return: (pdf bytes, file name)
        """
        self.ensure_one()
        payment = self.sudo()
        if not payment.komet_paylink_receipt_id:
            self.env.cr.execute(
                SQL("SELECT id FROM account_payment WHERE id = %s FOR UPDATE", payment.id)
            )
            payment.invalidate_recordset(["komet_paylink_receipt_id"])
        attachment = payment.komet_paylink_receipt_id
        if not attachment:
            pdf = (
                self.env["ir.actions.report"]
                .sudo()
                ._render_qweb_pdf(RECEIPT_REPORT, payment.ids)[0]
            )
            attachment = attachment.create(
                {
                    "name": f"{(payment.name or str(payment.id)).replace('/', '_')}.pdf",
                    "raw": pdf,
                    "mimetype": "application/pdf",
                    "res_model": payment._name,
                    "res_id": payment.id,
                }
            )
            payment.komet_paylink_receipt_id = attachment
        return attachment.raw, attachment.name
