from odoo import api, fields, models


class AccountMoveSendWizard(models.TransientModel):
    _inherit = "account.move.send.wizard"

    komet_paylink_include = fields.Boolean(
        string="Payment Link",
        help="Put a Pay now button and a QR code in the email and its PDF.",
        compute="_compute_komet_paylink_include",
        store=True,
        readonly=False,
    )
    komet_paylink_can_send = fields.Boolean(compute="_compute_komet_paylink_can_send")
    komet_paylink_opt_out = fields.Boolean(compute="_compute_komet_paylink_opt_out")

    # === COMPUTE METHODS === #

    @api.depends("move_id")
    def _compute_komet_paylink_include(self):
        for wizard in self:
            wizard.komet_paylink_include = self._paylink_default_include(wizard.move_id)

    @api.depends("move_id")
    def _compute_komet_paylink_can_send(self):
        for wizard in self:
            wizard.komet_paylink_can_send = wizard.move_id._paylink_user_may_send()

    @api.depends("move_id")
    def _compute_komet_paylink_opt_out(self):
        for wizard in self:
            wizard.komet_paylink_opt_out = bool(wizard.move_id.partner_id._paylink_opt_out_reason())

    @api.depends("komet_paylink_include")
    def _compute_alerts(self):
        """Override of `account` to follow the Payment Link box: `_get_alerts` reads it."""
        return super()._compute_alerts()

    # === BUSINESS METHODS === #

    def _get_sending_settings(self):
        """Override of `account` to pass the Payment Link choice on to the sending."""
        settings = super()._get_sending_settings()
        settings["komet_paylink_include"] = self.komet_paylink_include
        return settings
