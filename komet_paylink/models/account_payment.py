from odoo import models


class AccountPayment(models.Model):
    _inherit = "account.payment"

    def action_post(self):
        """Override of `account` to follow a payment registered on invoices that have a live
        payment link (Odoo 18 may record it without reconciling any journal item)."""
        res = super().action_post()
        (self.invoice_ids | self.reconciled_invoice_ids)._paylink_sync_links()
        return res
