from odoo import _, api, fields, models
from odoo.exceptions import ValidationError

from .. import const, utils


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    # The Stripe account is the company's payment provider's: these fields are the short way to
    # it. The secrets are written through them but never read back, so that a settings page
    # never carries a secret to the browser.
    komet_paylink_provider_id = fields.Many2one(
        string="Payment Links Provider",
        comodel_name="payment.provider",
        compute="_compute_komet_paylink_provider_id",
    )
    komet_paylink_stripe_secret_key = fields.Char(
        string="Stripe Secret Key",
        compute="_compute_komet_paylink_secrets",
        inverse="_inverse_komet_paylink_provider_values",
        groups="base.group_system",
    )
    komet_paylink_stripe_webhook_secret = fields.Char(
        string="Stripe Webhook Signing Secret",
        compute="_compute_komet_paylink_secrets",
        inverse="_inverse_komet_paylink_provider_values",
        groups="base.group_system",
    )
    komet_paylink_demo_mode = fields.Boolean(
        string="Payment Links Demo Mode",
        help="Replace Stripe with a local simulated checkout, to show the whole flow without a "
        "Stripe account. Refused while a live key is set.",
        compute="_compute_komet_paylink_demo_mode",
        inverse="_inverse_komet_paylink_provider_values",
    )
    komet_paylink_stripe_key_hint = fields.Char(
        related="komet_paylink_provider_id.komet_stripe_key_hint"
    )
    komet_paylink_webhook_secret_hint = fields.Char(
        related="komet_paylink_provider_id.komet_webhook_secret_hint"
    )
    komet_paylink_provider_state = fields.Selection(related="komet_paylink_provider_id.state")
    komet_paylink_webhook_url = fields.Char(related="komet_paylink_provider_id.komet_webhook_url")
    komet_paylink_lifetime_hours = fields.Integer(
        string="Payment Link Lifetime (Hours)",
        help="How long a payment link works after the customer first opens it.",
        config_parameter=const.PARAM_LIFETIME_HOURS,
        default=const.DEFAULT_LIFETIME_HOURS,
    )
    komet_paylink_unopened_days = fields.Integer(
        string="Unopened Payment Link Lifetime (Days)",
        help="A payment link nobody opens stops working this many days after it was sent; the "
        "customer can then ask for a new one.",
        config_parameter=const.PARAM_UNOPENED_DAYS,
        default=const.DEFAULT_UNOPENED_DAYS,
    )
    komet_paylink_send_by_default = fields.Boolean(
        string="Send Payment Links By Default",
        config_parameter=const.PARAM_SEND_BY_DEFAULT,
    )
    komet_paylink_reminder_days = fields.Char(
        related="company_id.komet_paylink_reminder_days", readonly=False
    )
    komet_paylink_partial_payments = fields.Boolean(
        related="company_id.komet_paylink_partial_payments", readonly=False
    )
    komet_paylink_partial_min_percent = fields.Float(
        related="company_id.komet_paylink_partial_min_percent", readonly=False
    )
    komet_paylink_reminder_preview = fields.Integer(
        string="Invoices The Next Reminder Run Emails",
        compute="_compute_komet_paylink_reminder_preview",
    )
    komet_paylink_stripe_api_base = fields.Char(
        string="Stripe API Base Address",
        help="Leave empty to use Stripe. Set only for tests or a local fake of the Stripe API.",
        config_parameter=const.PARAM_STRIPE_API_BASE,
    )
    komet_paylink_sender_group_ids = fields.Many2many(
        related="company_id.komet_paylink_sender_group_ids",
        readonly=False,
        domain=lambda self: [
            ("id", "in", self.env["res.company"]._paylink_default_sender_groups().ids)
        ],
    )

    # === COMPUTE METHODS === #

    @api.depends("company_id")
    def _compute_komet_paylink_provider_id(self):
        for settings in self:
            settings.komet_paylink_provider_id = self.env["payment.provider"]._paylink_provider_for(
                settings.company_id, create=False
            )

    @api.depends("company_id", "komet_paylink_reminder_days")
    def _compute_komet_paylink_reminder_preview(self):
        """How many invoices the next reminder run would email with the days being typed,
        before they are saved: no surprise mass mailing."""
        today = fields.Date.context_today(self)
        for settings in self:
            try:
                steps = utils.parse_reminder_days(settings.komet_paylink_reminder_days)
            except ValueError:
                steps = ()
            company = settings.company_id
            settings.komet_paylink_reminder_preview = len(
                self.env["account.move"]._paylink_reminders_due(
                    company, steps, company.komet_paylink_reminders_since or today
                )
            )

    def _compute_komet_paylink_secrets(self):
        self.komet_paylink_stripe_secret_key = False
        self.komet_paylink_stripe_webhook_secret = False

    @api.depends("company_id")
    def _compute_komet_paylink_demo_mode(self):
        for settings in self:
            settings.komet_paylink_demo_mode = settings.komet_paylink_provider_id.komet_demo_mode

    def _inverse_komet_paylink_provider_values(self):
        """Write the Stripe account on the company's provider: an empty key field keeps the
        stored key, and the key's prefix sets the provider's mode."""
        for settings in self:
            provider = self.env["payment.provider"]._paylink_provider_for(settings.company_id)
            provider._paylink_set_account(
                secret_key=settings.komet_paylink_stripe_secret_key,
                webhook_secret=settings.komet_paylink_stripe_webhook_secret,
                demo_mode=settings.komet_paylink_demo_mode,
            )

    # === ACTION METHODS === #

    def action_komet_paylink_open_provider(self):
        self.ensure_one()
        return self.komet_paylink_provider_id._get_records_action()

    # === CONSTRAINT METHODS === #

    @api.constrains("komet_paylink_lifetime_hours")
    def _check_komet_paylink_lifetime_hours(self):
        for settings in self:
            if settings.komet_paylink_lifetime_hours <= 0:
                raise ValidationError(_("A payment link must live at least one hour."))

    @api.constrains("komet_paylink_unopened_days")
    def _check_komet_paylink_unopened_days(self):
        for settings in self:
            if settings.komet_paylink_unopened_days <= 0:
                raise ValidationError(_("An unopened payment link must live at least one day."))
