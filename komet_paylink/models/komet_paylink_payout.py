import logging
from datetime import UTC, datetime

from odoo import Command, _, api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError

from odoo.addons.payment import utils as payment_utils

from .. import utils
from ..exceptions import PaylinkRetryLater

_logger = logging.getLogger(__name__)


class KometPaylinkPayout(models.Model):
    _name = "komet.paylink.payout"
    _description = "Stripe Payout"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "id desc"

    _sql_constraints = [
        (
            "stripe_payout_unique",
            "UNIQUE(provider_id, name)",
            "A Stripe payout is recorded once per provider.",
        ),
    ]

    name = fields.Char(string="Stripe Payout", required=True, readonly=True)
    provider_id = fields.Many2one(comodel_name="payment.provider", required=True, readonly=True)
    company_id = fields.Many2one(
        comodel_name="res.company", related="provider_id.company_id", store=True
    )
    currency_id = fields.Many2one(comodel_name="res.currency", readonly=True)
    amount = fields.Monetary(readonly=True)
    arrival_date = fields.Date(readonly=True)
    state = fields.Selection(
        selection=[("to_check", "To Check"), ("booked", "Booked")],
        default="to_check",
        required=True,
        readonly=True,
        tracking=True,
    )
    move_id = fields.Many2one(
        string="Journal Entry", comodel_name="account.move", readonly=True, copy=False
    )
    unknown_lines = fields.Text(
        string="Lines To Check",
        help="The lines of the payout that match nothing booked in Odoo: record them, then book "
        "the payout again.",
        readonly=True,
    )

    # === ACTION METHODS === #

    def action_book(self):
        """Book the payout again, once its unknown lines are recorded."""
        self.ensure_one()
        user = self.env.user
        if not (
            user.has_group("komet_paylink.group_role_cashier")
            or user.has_group("komet_paylink.group_role_admin")
        ):
            raise AccessError(_("Only cashiers and payment-link admins may book Stripe payouts."))
        self.check_access("read")
        try:
            return self.sudo().with_company(self.company_id)._paylink_book()
        except PaylinkRetryLater as error:
            raise UserError(
                _("The payment service could not be reached. Please try again in a moment.")
            ) from error

    # === BUSINESS METHODS === #

    @api.model
    def _paylink_get(self, provider, payout_id):
        """The record of Stripe payout `payout_id` received by `provider`, made once."""
        payouts = self.sudo()
        return payouts.search(
            [("provider_id", "=", provider.id), ("name", "=", payout_id)], limit=1
        ) or payouts.create({"provider_id": provider.id, "name": payout_id})

    def _paylink_book(self):
        """Book the payout: one entry that moves the net of each of its balance transactions
        from the Stripe outstanding account to the bank journal's outstanding account, each
        payment's and refund's outstanding line reconciled, fees and disputes on the fees
        account. A line that matches nothing booked makes it a to-do, never a guess.

        :return: 'payout booked', 'to check' or 'unchanged'.
        :raise PaylinkRetryLater: Stripe could not be asked.
        """
        self.ensure_one()
        provider = self.provider_id
        try:
            payout, lines = provider._paylink_payout_lines(self.name)
        except ValidationError as error:
            raise PaylinkRetryLater(str(error)) from error
        if payout.get("status") != "paid":
            return "unchanged"
        currency = self._paylink_currency(payout.get("currency"))
        self.write(
            {
                "currency_id": currency.id,
                "amount": self._paylink_major(payout.get("amount") or 0, currency),
                "arrival_date": datetime.fromtimestamp(payout["arrival_date"], tz=UTC).date()
                if payout.get("arrival_date")
                else fields.Date.context_today(self),
            }
        )
        line_vals, to_reconcile, unknown = [], [], []
        for line in lines:
            if line.get("type") == "payout":
                continue
            matched = self._paylink_line_vals(line, currency)
            if matched is None:
                unknown.append(line)
                continue
            vals, counterpart = matched
            if counterpart:
                # The first item settles `counterpart`: reconciled with it once posted.
                to_reconcile.append((len(line_vals), counterpart))
            line_vals += vals
        company_currency = self.company_id.currency_id
        total = -sum(vals["balance"] for vals in line_vals)
        expected = currency._convert(
            self.amount, company_currency, self.company_id, self.arrival_date
        )
        if not unknown and company_currency.compare_amounts(total, expected):
            unknown.append({"id": payout.get("balance_transaction"), "type": "payout", "net": 0})
        if unknown:
            return self._paylink_to_check(unknown)
        bank_account = self._paylink_bank_outstanding_account()
        line_vals.append(
            {
                "name": _("Stripe payout %(payout)s", payout=self.name),
                "account_id": bank_account.id,
                "currency_id": currency.id,
                "amount_currency": self.amount,
                "balance": total,
            }
        )
        move = self.env["account.move"].create(
            {
                "move_type": "entry",
                "journal_id": self._paylink_journal().id,
                "date": self.arrival_date,
                "ref": _("Stripe payout %(payout)s", payout=self.name),
                "line_ids": [Command.create(vals) for vals in line_vals],
            }
        )
        move.action_post()
        items = move.line_ids.sorted("id")
        for index, counterpart in to_reconcile:
            (items[index] | counterpart).reconcile()
        self.write({"state": "booked", "move_id": move.id, "unknown_lines": False})
        self.activity_ids.action_feedback(feedback=_("Payout booked."))
        return "payout booked"

    def _paylink_line_vals(self, line, currency):
        """The journal items of one balance transaction of the payout, and the outstanding
        lines to reconcile them with (as (sequence, line) pairs), or None when it matches
        nothing booked in Odoo."""
        line_type = line.get("type")
        category = line.get("reporting_category")
        net = self._paylink_major(line.get("net") or 0, currency)
        source = line.get("source")
        source_id = source.get("id") if isinstance(source, dict) else source
        transactions = self.env["payment.transaction"].sudo()
        provider = self.provider_id
        if line_type in ("charge", "payment"):
            payment_intent = isinstance(source, dict) and source.get("payment_intent")
            tx = payment_intent and transactions.search(
                [
                    ("provider_id", "=", provider.id),
                    ("komet_stripe_payment_intent", "=", payment_intent),
                    ("operation", "!=", "refund"),
                    ("state", "=", "done"),
                ],
                limit=1,
            )
            return self._paylink_settle_vals(tx.payment_id, net, currency, line) if tx else None
        if line_type == "refund" or category == "refund":
            tx = transactions.search(
                [
                    ("provider_id", "=", provider.id),
                    ("provider_reference", "=", source_id),
                    ("operation", "=", "refund"),
                ],
                limit=1,
            )
            if tx and tx.state == "done":
                return self._paylink_settle_vals(tx.payment_id, net, currency, line)
            if tx and tx.state == "error":
                return self._paylink_fee_vals(
                    net, currency, _("Failed refund %(refund)s", refund=source_id)
                ), None
            return None
        if line_type == "refund_failure" or category == "refund_failure":
            tx = transactions.search(
                [("provider_reference", "=", source_id), ("operation", "=", "refund")], limit=1
            )
            if tx and tx.state == "error":
                label = _("Failed refund %(refund)s given back", refund=source_id)
                return self._paylink_fee_vals(net, currency, label), None
            return None
        if category == "fee" or line_type in ("stripe_fee", "network_cost", "tax"):
            label = line.get("description") or _("Stripe fees")
            return self._paylink_fee_vals(net, currency, label), None
        if category in ("dispute", "dispute_reversal"):
            label = _(
                "Dispute %(dispute)s: %(what)s",
                dispute=source_id,
                what=line.get("description") or category,
            )
            return self._paylink_fee_vals(net, currency, label), None
        return None

    def _paylink_settle_vals(self, payment, net, currency, line):
        """Settle `payment`'s open outstanding line: its residual moved out of the Stripe
        outstanding account; what Stripe paid out differently (a fee not booked with the
        payment) goes to the fees account."""
        outstanding = payment.move_id.line_ids.filtered(
            lambda aml: aml.account_id == payment.outstanding_account_id and not aml.reconciled
        )[:1]
        if not payment or not outstanding:
            return None
        company = self.company_id
        vals = [
            {
                "name": line.get("description") or outstanding.name,
                "account_id": outstanding.account_id.id,
                "partner_id": outstanding.partner_id.id,
                "currency_id": outstanding.currency_id.id,
                "amount_currency": -outstanding.amount_residual_currency,
                "balance": -outstanding.amount_residual,
            }
        ]
        net_balance = currency._convert(net, company.currency_id, company, self.arrival_date)
        difference = outstanding.amount_residual - net_balance
        if not company.currency_id.is_zero(difference):
            vals += self._paylink_fee_vals(
                difference,
                company.currency_id,
                _("Stripe fee of %(payment)s", payment=payment.name),
                balance=True,
            )
        return vals, outstanding

    def _paylink_fee_vals(self, amount, currency, label, balance=False):
        """A journal item on the fees account for `amount` of the payout's balance: a debit
        for what Stripe took (a negative net), a credit for what it gave back."""
        company = self.company_id
        account = self.provider_id._paylink_fee_account()
        if not account:
            raise ValidationError(_("Set the Stripe fees account on the payment provider."))
        if balance:
            amount_balance = amount
        else:
            amount = -amount
            amount_balance = currency._convert(
                amount, company.currency_id, company, self.arrival_date
            )
        return [
            {
                "name": label,
                "account_id": account.id,
                "currency_id": currency.id,
                "amount_currency": amount,
                "balance": amount_balance,
            }
        ]

    def _paylink_to_check(self, unknown):
        """Leave the payout to a person: which lines match nothing booked."""
        listed = "\n".join(
            f"{line.get('id')} ({line.get('type')}, {line.get('reporting_category') or '-'}): "
            f"{line.get('net')} {line.get('currency') or ''}"
            for line in unknown
        )
        self.write({"state": "to_check", "unknown_lines": listed})
        summary = _("Stripe payout to check: %(payout)s", payout=self.name)
        if not self.activity_ids.filtered(lambda activity: activity.summary == summary):
            note = _(
                "Stripe paid out %(amount)s (payout %(payout)s), but these of its lines match "
                "nothing booked in Odoo: %(lines)s. Record them (or the payments they belong "
                "to), then press Book on the payout.",
                amount=self.currency_id.format(self.amount),
                payout=self.name,
                lines=listed,
            )
            users = self.env.ref("komet_paylink.group_role_cashier").sudo().users.filtered(
                lambda user: self.company_id in user.company_ids and not user.share
            ) or self.env.ref("base.user_admin")
            for user in users:
                self.activity_schedule(
                    "mail.mail_activity_data_todo", summary=summary, note=note, user_id=user.id
                )
        _logger.warning("Stripe payout %s has lines matching nothing booked", self.name)
        return "to check"

    def _paylink_bank_outstanding_account(self):
        """The outstanding receipts account of the payouts bank journal, as Odoo's payments
        on it would use."""
        journal = self.provider_id._paylink_payout_journal()
        method_line = journal.inbound_payment_method_line_ids.filtered("payment_account_id")[:1]
        company = self.company_id
        chart = self.env["account.chart.template"].with_context(
            allowed_company_ids=company.root_id.ids
        )
        account = (
            method_line.payment_account_id
            or chart.ref("account_journal_payment_debit_account_id", raise_if_not_found=False)
            or company.transfer_account_id
        )
        if not account:
            raise ValidationError(
                _(
                    "Set an outstanding receipts account on the bank journal %(journal)s.",
                    journal=journal.name,
                )
            )
        return account

    def _paylink_journal(self):
        """The journal of the payout entry: the provider's own (Stripe) journal."""
        journal = self.provider_id.journal_id
        if journal:
            return journal
        journals = self.env["account.journal"].sudo()
        return journals.search(
            [*journals._check_company_domain(self.company_id), ("type", "=", "general")], limit=1
        )

    def _paylink_currency(self, code):
        currency = (
            self.env["res.currency"]
            .with_context(active_test=False)
            .search([("name", "=", (code or "").upper())], limit=1)
        )
        return currency or self.company_id.currency_id

    @api.model
    def _paylink_major(self, minor_amount, currency):
        return payment_utils.to_major_currency_units(
            minor_amount, currency, arbitrary_decimal_number=utils.stripe_decimals(currency.name)
        )
