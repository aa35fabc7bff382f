import logging

from odoo import _, api, fields, models
from odoo.exceptions import ValidationError

from .. import const, utils

_logger = logging.getLogger(__name__)


class ResCompany(models.Model):
    _inherit = "res.company"

    komet_paylink_sender_group_ids = fields.Many2many(
        string="Roles That May Send Payment Links",
        comodel_name="res.groups",
        relation="komet_paylink_company_sender_group_rel",
        column1="company_id",
        column2="group_id",
        default=lambda self: self._paylink_default_sender_groups(),
    )
    komet_paylink_reminder_days = fields.Char(
        string="Payment Reminders (Days Overdue)",
        help="Days after the due date when an overdue invoice is emailed again with a fresh "
        "payment link, comma-separated (e.g. 3,10,30). Empty means no reminders.",
    )
    komet_paylink_reminders_since = fields.Date(
        string="Payment Reminders Since",
        help="When reminders were switched on: a step an invoice passed before that day is "
        "never sent, so that switching reminders on mails no backlog.",
        readonly=True,
    )
    komet_paylink_partial_payments = fields.Boolean(
        string="Customers May Pay Part of an Invoice",
        help="The payment page of an invoice offers to pay another amount than everything due, "
        "of at least the minimum; the link stays payable for the rest.",
    )
    komet_paylink_partial_min_percent = fields.Float(
        string="Minimum Partial Payment (% of the Amount Due)",
        help="The least a customer may pay at once, in percent of what is due now; never less "
        "than Stripe's minimum charge in the invoice's currency.",
        default=const.DEFAULT_PARTIAL_MIN_PERCENT,
    )

    # === CONSTRAINT METHODS === #

    @api.constrains("komet_paylink_partial_min_percent")
    def _check_komet_paylink_partial_min_percent(self):
        for company in self:
            if not 0 <= company.komet_paylink_partial_min_percent <= 100:
                raise ValidationError(
                    _("The minimum partial payment is a percentage between 0 and 100.")
                )

    # === CRUD METHODS === #

    @api.model_create_multi
    def create(self, vals_list):
        """Override of `base` to store reminder days in one form and note when they start."""
        for vals in vals_list:
            if vals.get("komet_paylink_reminder_days"):
                vals["komet_paylink_reminder_days"] = self._paylink_clean_reminder_days(
                    vals["komet_paylink_reminder_days"]
                )
                vals.setdefault("komet_paylink_reminders_since", fields.Date.context_today(self))
        return super().create(vals_list)

    def write(self, vals):
        """Override of `base` to store reminder days in one form (sorted, distinct: 3,10,30)
        and note the day they are switched on (forgotten when switched off)."""
        if "komet_paylink_reminder_days" not in vals:
            return super().write(vals)
        days = self._paylink_clean_reminder_days(vals["komet_paylink_reminder_days"])
        switched_on = self.filtered(lambda company: not company.komet_paylink_reminder_days)
        vals = {**vals, "komet_paylink_reminder_days": days}
        if not days:
            vals["komet_paylink_reminders_since"] = False
        res = super().write(vals)
        if days and switched_on and "komet_paylink_reminders_since" not in vals:
            switched_on.komet_paylink_reminders_since = fields.Date.context_today(self)
        return res

    # === BUSINESS METHODS === #

    @api.model
    def _paylink_default_sender_groups(self):
        groups = self.env["res.groups"]
        for xmlid in const.ROLE_XMLIDS:
            groups |= self.env.ref(xmlid, raise_if_not_found=False) or groups
        return groups

    @api.model
    def _paylink_clean_reminder_days(self, value):
        """Reminder days in their stored form, e.g. 3,10,30, or False for none.

        :raise ValidationError: the value is not a list of whole numbers of days.
        """
        try:
            return utils.format_reminder_days(utils.parse_reminder_days(value)) or False
        except ValueError:
            raise ValidationError(
                _(
                    "Payment reminders: %(value)s is not a list of days; write whole numbers "
                    "of days after the due date separated by commas, e.g. 3,10,30.",
                    value=value,
                )
            ) from None

    def _paylink_reminder_steps(self):
        """The company's reminder steps, e.g. (3, 10, 30); none when off, or unreadable (a
        value edited by hand outside the form stops reminders rather than guess)."""
        self.ensure_one()
        try:
            return utils.parse_reminder_days(self.komet_paylink_reminder_days)
        except ValueError:
            _logger.warning("Payment reminders of company %s are off: unreadable days.", self.id)
            return ()

    def _paylink_payment_unavailable_reason(self):
        """Why the company cannot take online payment yet, or False: its payment-link provider
        is missing or disabled, so a link would only say "not available"."""
        self.ensure_one()
        provider = self.env["payment.provider"]._paylink_provider_for(self, create=False)
        if provider and provider.state != "disabled":
            return False
        return _(
            "%(company)s takes no online payment yet: set up Stripe, or demo mode, in Settings "
            "> Invoicing > Komet Payments.",
            company=self.name,
        )

    def _paylink_reset_sender_groups(self):
        self.komet_paylink_sender_group_ids = self._paylink_default_sender_groups()
