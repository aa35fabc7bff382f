from odoo import _, api, fields, models


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
        """Checked for the users whose role may send links, who see the box."""
        for wizard in self:
            wizard.komet_paylink_include = self.env["komet.paylink"]._paylink_user_may_send(
                wizard.move_ids
            )

    @api.depends("move_ids")
    def _compute_komet_paylink_can_send(self):
        for wizard in self:
            wizard.komet_paylink_can_send = self.env["komet.paylink"]._paylink_user_may_send(
                wizard.move_ids
            )

    @api.depends("komet_paylink_include")
    def _compute_alerts(self):
        """Override of `account` to list the invoices that will go without a link."""
        res = super()._compute_alerts()
        for wizard in self.filtered("komet_paylink_include"):
            unpayable = wizard.move_ids.filtered(lambda move: move._paylink_unpayable_reason())
            if unpayable:
                wizard.alerts = {
                    **(wizard.alerts or {}),
                    "komet_paylink_nothing_to_pay": {
                        "level": "warning",
                        "message": _(
                            "These invoices have nothing to pay and will be sent without a "
                            "payment link: %(names)s",
                            names=", ".join(unpayable.mapped("display_name")),
                        ),
                    },
                }
        for wizard in self:
            opted_out = wizard.move_ids.filtered(
                lambda move: move.partner_id._paylink_opt_out_reason()
            )
            if opted_out:
                wizard.alerts = {
                    **(wizard.alerts or {}),
                    "komet_paylink_opt_out": {
                        "level": "info",
                        "message": _(
                            "These customers asked not to receive payment links; their "
                            "invoices are sent without one: %(names)s",
                            names=", ".join(opted_out.mapped("display_name")),
                        ),
                    },
                }
        return res

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
