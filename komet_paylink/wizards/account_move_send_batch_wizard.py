from odoo import api, fields, models


class AccountMoveSendBatchWizard(models.TransientModel):
    _inherit = "account.move.send.batch.wizard"

    komet_paylink_include = fields.Boolean(
        string="Payment Link",
        help="Put a Pay now button and a QR code in each email and its PDF, also when the "
        "invoices are sent in the background.",
        compute="_compute_komet_paylink_include",
        store=True,
        readonly=False,
    )
    komet_paylink_can_send = fields.Boolean(compute="_compute_komet_paylink_can_send")

    # === COMPUTE METHODS === #

    @api.depends("move_ids")
    def _compute_komet_paylink_include(self):
        """Checked for the users whose role may send links, who see the box, when the
        invoices' companies take payment."""
        for wizard in self:
            wizard.komet_paylink_include = wizard.move_ids._paylink_user_may_send() and not any(
                company._paylink_payment_unavailable_reason()
                for company in wizard.move_ids.company_id
            )

    @api.depends("move_ids")
    def _compute_komet_paylink_can_send(self):
        for wizard in self:
            wizard.komet_paylink_can_send = wizard.move_ids._paylink_user_may_send()

    @api.depends("komet_paylink_include")
    def _compute_alerts(self):
        """Override of `account` to follow the Payment Link box: `_get_alerts` reads it."""
        return super()._compute_alerts()

    # === ACTION METHODS === #

    def action_send_and_print(self, force_synchronous=False, allow_fallback_pdf=False):
        """Override of `account` to pass the Payment Link choice on: to a synchronous send, or,
        for the background sending, in each invoice's `sending_data` beside its author."""
        if not force_synchronous:
            res = super().action_send_and_print(allow_fallback_pdf=allow_fallback_pdf)
            # Odoo queued every invoice with the same data: its author.
            self.move_ids.sending_data = {
                **self.move_ids[:1].sending_data,
                "komet_paylink_include": self.komet_paylink_include,
            }
            return res
        self.ensure_one()
        if self.alerts:
            self._raise_danger_alerts(self.alerts)
        self.env["account.move.send"]._generate_and_send_invoices(
            self.move_ids,
            allow_fallback_pdf=allow_fallback_pdf,
            komet_paylink_include=self.komet_paylink_include,
        )
        return None
