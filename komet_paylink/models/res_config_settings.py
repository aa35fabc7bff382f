from odoo import _, api, fields, models
from odoo.exceptions import ValidationError

from .. import const, utils


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    # The Stripe secrets are written through these fields but never read back into them, so
    # that a settings page never carries a secret to the browser.
    komet_paylink_stripe_secret_key = fields.Char(
        string="Stripe Secret Key",
        compute="_compute_komet_paylink_secrets",
        inverse="_inverse_komet_paylink_stripe_secret_key",
        groups="base.group_system",
    )
    komet_paylink_stripe_webhook_secret = fields.Char(
        string="Stripe Webhook Signing Secret",
        compute="_compute_komet_paylink_secrets",
        inverse="_inverse_komet_paylink_stripe_webhook_secret",
        groups="base.group_system",
    )
    komet_paylink_stripe_key_hint = fields.Char(
        string="Stripe Key In Use",
        compute="_compute_komet_paylink_secret_hints",
        groups="base.group_system",
    )
    komet_paylink_webhook_secret_hint = fields.Char(
        string="Webhook Secret In Use",
        compute="_compute_komet_paylink_secret_hints",
        groups="base.group_system",
    )
    komet_paylink_lifetime_hours = fields.Integer(
        string="Payment Link Lifetime (Hours)",
        help="How long a payment link works after the customer first opens it.",
        config_parameter=const.PARAM_LIFETIME_HOURS,
        default=const.DEFAULT_LIFETIME_HOURS,
    )
    komet_paylink_send_by_default = fields.Boolean(
        string="Send Payment Links By Default",
        config_parameter=const.PARAM_SEND_BY_DEFAULT,
    )
    komet_paylink_demo_mode = fields.Boolean(
        string="Payment Links Demo Mode",
        help="Replace Stripe with a local simulated checkout, to show the whole flow without a "
        "Stripe account. Never switch it on in production.",
        config_parameter=const.PARAM_DEMO_MODE,
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

    def _compute_komet_paylink_secrets(self):
        self.komet_paylink_stripe_secret_key = False
        self.komet_paylink_stripe_webhook_secret = False

    @api.depends("company_id")
    def _compute_komet_paylink_secret_hints(self):
        for settings in self:
            company = settings.company_id.sudo()
            settings.komet_paylink_stripe_key_hint = utils.secret_hint(
                company.komet_paylink_stripe_secret_key
            )
            settings.komet_paylink_webhook_secret_hint = utils.secret_hint(
                company.komet_paylink_stripe_webhook_secret
            )

    def _inverse_komet_paylink_stripe_secret_key(self):
        for settings in self.filtered("komet_paylink_stripe_secret_key"):
            key = settings.komet_paylink_stripe_secret_key.strip()
            if not utils.is_stripe_secret_key(key):
                raise ValidationError(
                    _(
                        "A Stripe secret key starts with sk_test_ or sk_live_ (or rk_ for a "
                        "restricted key)."
                    )
                )
            settings.company_id.sudo().komet_paylink_stripe_secret_key = key
            # Payments taken with a test key are flagged as test payments, as Odoo's own
            # providers do.
            provider = self.env["payment.provider"]._paylink_provider_for(settings.company_id)
            provider.state = "test" if utils.is_test_mode_key(key) else "enabled"

    def _inverse_komet_paylink_stripe_webhook_secret(self):
        for settings in self.filtered("komet_paylink_stripe_webhook_secret"):
            secret = settings.komet_paylink_stripe_webhook_secret.strip()
            if not secret.startswith("whsec_"):
                raise ValidationError(_("A Stripe webhook signing secret starts with whsec_."))
            settings.company_id.sudo().komet_paylink_stripe_webhook_secret = secret

    # === CONSTRAINT METHODS === #

    @api.constrains("komet_paylink_lifetime_hours")
    def _check_komet_paylink_lifetime_hours(self):
        for settings in self:
            if settings.komet_paylink_lifetime_hours <= 0:
                raise ValidationError(_("A payment link must live at least one hour."))
