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

    @api.depends("model", "res_ids", "subtype_id")
    def _compute_komet_paylink_include(self):
        for composer in self:
            orders = composer._paylink_orders()
            composer.komet_paylink_include = (
                bool(orders)
                and self.env["account.move.send"]._paylink_send_by_default()
                and orders._paylink_user_may_send()
                and all(
                    order._paylink_open_invoices() or not order._paylink_unsendable_reason()
                    for order in orders
                )
                and not any(order.partner_id._paylink_opt_out_reason() for order in orders)
            )

    @api.depends("model", "res_ids", "subtype_id")
    def _compute_komet_paylink_can_send(self):
        for composer in self:
            orders = composer._paylink_orders()
            composer.komet_paylink_can_send = bool(orders) and orders._paylink_user_may_send()

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
        """The sale orders a message to the customer goes to; none for an internal note, which
        must never send, nor revoke, a customer's link."""
        self.ensure_one()
        if self.model != "sale.order" or self.composition_mode != "comment" or self.subtype_is_log:
            return self.env["sale.order"]
        return self.env["sale.order"].browse(self._evaluate_res_ids())

    def _action_send_mail_comment(self, res_ids):
        """Override of `mail` to add the payment links to a sale order's email."""
        if self.komet_paylink_include and self._paylink_orders():
            for order in self.env["sale.order"].browse(res_ids):
                # A customer who opted out gets the email without a link.
                if not order.partner_id._paylink_opt_out_reason():
                    self._paylink_add_links(order)
        return super()._action_send_mail_comment(res_ids)

    def _paylink_add_links(self, order):
        """Attach each open invoice of the order with its Pay now button, through the one
        pipeline of every sending (`account.move._paylink_email_parts`); with no invoice yet,
        add a link that prepays the order itself."""
        Paylink = self.env["komet.paylink"]
        invoices = order._paylink_open_invoices()
        documents = invoices or order
        reasons = [document._paylink_unsendable_reason() for document in documents]
        if all(reasons):
            raise UserError(_("No payment link can be sent: %(reason)s", reason=reasons[0]))
        buttons = []
        # In the order's customer's language, as Odoo's own email of the order.
        lang = order._paylink_customer_lang()
        for document, reason in zip(documents, reasons, strict=True):
            if reason:
                continue
            link = Paylink.create({document._paylink_link_field: document.id})
            if document._name == "sale.order":
                buttons.append(document._paylink_email_button(link, label=document.name, lang=lang))
                continue
            (filename, pdf_content), button = document._paylink_email_parts(
                link, label=document.name, lang=lang
            )
            buttons.append(button)
            self.attachment_ids += self.env["ir.attachment"].create(
                {
                    "name": filename,
                    "raw": pdf_content,
                    "mimetype": "application/pdf",
                    "res_model": "mail.compose.message",
                    "res_id": 0,
                }
            )
        self.body = Markup("").join([self.body or Markup(""), *buttons])
