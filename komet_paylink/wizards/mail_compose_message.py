from markupsafe import Markup

from odoo import _, api, fields, models
from odoo.exceptions import UserError


class MailComposeMessage(models.TransientModel):
    _inherit = "mail.compose.message"

    komet_paylink_include = fields.Boolean(
        string="Payment Link",
        help="Attach the order's invoices with a Pay now button, or, with no invoice to pay "
        "yet, a link that prepays the order.",
        compute="_compute_komet_paylink_include",
        store=True,
        readonly=False,
    )
    komet_paylink_can_send = fields.Boolean(compute="_compute_komet_paylink_can_send")
    komet_paylink_opt_out_reason = fields.Char(
        string="No Payment Link", compute="_compute_komet_paylink_opt_out_reason"
    )

    # === COMPUTE METHODS === #

    @api.depends("model", "res_ids")
    def _compute_komet_paylink_include(self):
        for composer in self:
            orders = composer._paylink_orders()
            composer.komet_paylink_include = (
                bool(orders)
                and self.env["account.move.send"]._paylink_send_by_default()
                and self.env["komet.paylink"]._paylink_user_may_send(orders)
                and all(
                    order._paylink_invoices_to_pay() or not order._paylink_unpayable_reason()
                    for order in orders
                )
                and not any(order.partner_id._paylink_opt_out_reason() for order in orders)
            )

    @api.depends("model", "res_ids")
    def _compute_komet_paylink_can_send(self):
        for composer in self:
            orders = composer._paylink_orders()
            composer.komet_paylink_can_send = bool(orders) and self.env[
                "komet.paylink"
            ]._paylink_user_may_send(orders)

    @api.depends("model", "res_ids")
    def _compute_komet_paylink_opt_out_reason(self):
        """Say why the email of a customer who opted out carries no payment link."""
        for composer in self:
            reasons = {
                order.partner_id._paylink_opt_out_reason() for order in composer._paylink_orders()
            } - {False}
            composer.komet_paylink_opt_out_reason = " ".join(sorted(reasons)) or False

    # === BUSINESS METHODS === #

    def _paylink_orders(self):
        self.ensure_one()
        if self.model != "sale.order" or self.composition_mode != "comment":
            return self.env["sale.order"]
        return self.env["sale.order"].browse(self._evaluate_res_ids())

    def _action_send_mail_comment(self, res_ids):
        """Override of `mail` to add the payment links to a sale order's email."""
        if self.komet_paylink_include and self.model == "sale.order":
            for order in self.env["sale.order"].browse(res_ids):
                # A customer who opted out gets the email without a link.
                if not order.partner_id._paylink_opt_out_reason():
                    self._paylink_add_links(order)
        return super()._action_send_mail_comment(res_ids)

    def _paylink_add_links(self, order):
        """Attach each invoice of the order that has an amount due, with its Pay now button;
        with none, add a link that prepays the order itself."""
        Paylink = self.env["komet.paylink"]
        invoices = order._paylink_invoices_to_pay()
        buttons = []
        if invoices:
            for invoice in invoices:
                link = Paylink.create({"move_id": invoice.id})
                filename, pdf_content = invoice._paylink_render_pdf(link.url)
                self.attachment_ids += self.env["ir.attachment"].create(
                    {
                        "name": filename,
                        "raw": pdf_content,
                        "mimetype": "application/pdf",
                        "res_model": "mail.compose.message",
                        "res_id": 0,
                    }
                )
                buttons.append(
                    Paylink._paylink_email_button(
                        link.url, invoice.amount_residual, invoice.currency_id, invoice.name
                    )
                )
        else:
            reason = order._paylink_unpayable_reason()
            if reason:
                raise UserError(_("No payment link can be sent: %(reason)s", reason=reason))
            link = Paylink.create({"sale_order_id": order.id})
            buttons.append(
                Paylink._paylink_email_button(link.url, link.amount, link.currency_id, order.name)
            )
        self.body = Markup("").join([self.body or Markup(""), *buttons])
