from odoo import _, fields, models

from ..const import ROLE_GROUPS


class SaleOrder(models.Model):
    _name = "sale.order"
    _inherit = ["sale.order", "komet.paylink.document.mixin"]

    _paylink_link_field = "sale_order_id"
    _paylink_bill_to_field = "partner_invoice_id"
    _paylink_report = "sale.action_report_saleorder"

    komet_paylink_ids = fields.One2many(
        string="Payment Links",
        comodel_name="komet.paylink",
        inverse_name="sale_order_id",
        groups=ROLE_GROUPS,
    )

    # === BUSINESS METHODS === #

    def _paylink_amount_due(self):
        """The order's total, less everything its invoices received by any method (payments,
        credit notes), less its own online payments not reconciled with them yet (a
        prepayment)."""
        self.ensure_one()
        invoices = self.invoice_ids.filtered(
            lambda move: move.state == "posted" and move.move_type == "out_invoice"
        )
        received = sum(
            move.currency_id._convert(
                move.amount_total - move.amount_residual,
                self.currency_id,
                self.company_id,
                move.invoice_date or fields.Date.context_today(self),
            )
            for move in invoices
        )
        own_transactions = self.transaction_ids.filtered(
            lambda tx: (
                tx.state in ("authorized", "done")
                and tx.operation != "refund"
                and not tx.payment_id.reconciled_invoice_ids & invoices
            )
        )
        return self.amount_total - received - sum(own_transactions.mapped("amount"))

    def _paylink_state_reason(self):
        """Override of `komet.paylink.document.mixin`: cancelled, nothing left to pay, or
        invoiced: once a posted invoice of the order is open, that invoice takes the payment,
        and the order's own link closes (two links would take the same money)."""
        self.ensure_one()
        if self.state == "cancel":
            return _("Order %(name)s is cancelled.", name=self.display_name)
        invoices = self._paylink_open_invoices()
        if invoices:
            return _(
                "Order %(name)s is invoiced: pay its invoice %(invoices)s instead.",
                name=self.display_name,
                invoices=", ".join(invoices.mapped("name")),
            )
        if self.currency_id.compare_amounts(self._paylink_amount_due(), 0) <= 0:
            return _("Order %(name)s has nothing left to pay.", name=self.display_name)
        return False

    def _paylink_open_invoices(self):
        """The order's posted customer invoices that still take a payment."""
        self.ensure_one()
        return self.sudo().invoice_ids.filtered(
            lambda move: move.move_type == "out_invoice" and not move._paylink_state_reason()
        )

    def _paylink_page_details(self):
        """Override of `komet.paylink.document.mixin`: the invoice address, the order's date
        and validity, its product lines."""
        self.ensure_one()
        lines = self.order_line.filtered(lambda line: not line.display_type)
        return {
            "bill_to": self._paylink_bill_to(),
            "document_date": fields.Date.context_today(self, self.date_order),
            "document_due_date": self.validity_date,
            "due_date_label": _("Valid until"),
            "amount_due": self._paylink_amount_due(),
            "lines": [
                {
                    "name": line.name,
                    "quantity": line.product_uom_qty,
                    "subtotal": line.price_subtotal,
                }
                for line in lines
            ],
        }
