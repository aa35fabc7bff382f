from odoo import models


class AccountMoveLine(models.Model):
    _inherit = "account.move.line"

    def reconcile(self):
        """Override of `account` to follow a payment or credit note on invoices that have a
        live payment link: the link closes when nothing is left to pay, and a Checkout
        Session opened for an amount no longer due is expired."""
        res = super().reconcile()
        self.move_id._paylink_sync_links()
        return res

    def remove_move_reconcile(self):
        """Override of `account` to expire Checkout Sessions opened for an amount that an
        unreconciliation changed."""
        moves = (
            self.matched_debit_ids.debit_move_id + self.matched_credit_ids.credit_move_id
        ).move_id
        res = super().remove_move_reconcile()
        (self.move_id | moves)._paylink_sync_links()
        return res
