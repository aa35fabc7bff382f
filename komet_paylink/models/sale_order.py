from odoo import _, api, fields, models

from ..const import ROLE_GROUPS


class SaleOrder(models.Model):
    _inherit = "sale.order"

    komet_paylink_ids = fields.One2many(
        string="Payment Links",
        comodel_name="komet.paylink",
        inverse_name="sale_order_id",
        groups=ROLE_GROUPS,
    )
    komet_paylink_count = fields.Integer(
        string="Payment Link Count",
        compute="_compute_komet_paylink_count",
        groups=ROLE_GROUPS,
    )

    # === COMPUTE METHODS === #

    @api.depends("komet_paylink_ids")
    def _compute_komet_paylink_count(self):
        for order in self:
            order.komet_paylink_count = len(order.komet_paylink_ids)

    # === ACTION METHODS === #

    def action_view_komet_paylinks(self):
        self.ensure_one()
        return self.env["komet.paylink"]._paylink_list_action([("sale_order_id", "=", self.id)])

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

    def _paylink_bill_to(self):
        self.ensure_one()
        return self.partner_invoice_id

    def _paylink_page_details(self):
        """What the payment page shows of the order: the invoice address, its dates, its
        product lines (dicts: name, quantity, subtotal) and the amount due."""
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

    def _paylink_unpayable_reason(self):
        """Return why this order cannot get a payment link, or False when it can."""
        self.ensure_one()
        if self.state == "cancel":
            return _("Order %(name)s is cancelled.", name=self.display_name)
        if self.currency_id.compare_amounts(self._paylink_amount_due(), 0) <= 0:
            return _("Order %(name)s has nothing left to pay.", name=self.display_name)
        return False

    def _paylink_invoices_to_pay(self):
        """The posted customer invoices of the orders that still have an amount due."""
        return self.invoice_ids.filtered(
            lambda move: move.move_type == "out_invoice" and not move._paylink_unpayable_reason()
        )
