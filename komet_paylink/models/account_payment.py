from odoo import fields, models
from odoo.tools import SQL

RECEIPT_REPORT = "account.report_payment_receipt"


class AccountPayment(models.Model):
    _inherit = "account.payment"

    komet_paylink_receipt_id = fields.Many2one(
        string="Payment Link Receipt",
        comodel_name="ir.attachment",
        help="Odoo's payment receipt of this payment, as the customer downloads it from the "
        "payment link they paid with: rendered on the first download, then kept.",
        readonly=True,
        copy=False,
    )

    # === ACTION METHODS === #

    def action_post(self):
        """Override of `account` to follow a payment registered on invoices that have a live
        payment link (Odoo 18 may record it without reconciling any journal item)."""
        res = super().action_post()
        (self.invoice_ids | self.reconciled_invoice_ids)._paylink_sync_links()
        self._paylink_send_confirmation()
        return res

    # === BUSINESS METHODS === #

    def _paylink_send_confirmation(self):
        """Email the customer what they paid through a payment link, in their language, once:
        when the payment of the link's transaction is posted (never for a refund)."""
        paid_through_links = self.sudo().filtered(
            lambda payment: (
                payment.payment_transaction_id.komet_paylink_id
                and payment.payment_transaction_id.operation != "refund"
                and payment.payment_type == "inbound"
                and payment.partner_id.email
            )
        )
        if paid_through_links:
            template = self.env.ref("komet_paylink.mail_template_paylink_paid").sudo()
            for payment in paid_through_links:
                template.send_mail(payment.id)

    def _paylink_receipt_pdf(self):
        """Odoo's own payment receipt of this payment (`account.report_payment_receipt`, in
        its customer's language), as a paid link's page offers it: rendered on the first
        download, kept as an attachment of the payment and served from there afterwards, never
        rendered twice. Two first downloads at once take turns on the payment's row: the second
        waits, and on Odoo's retry serves what the first kept.

        :return: (pdf bytes, file name)
        """
        self.ensure_one()
        payment = self.sudo()
        if not payment.komet_paylink_receipt_id:
            self.env.cr.execute(
                SQL("SELECT id FROM account_payment WHERE id = %s FOR UPDATE", payment.id)
            )
            payment.invalidate_recordset(["komet_paylink_receipt_id"])
        attachment = payment.komet_paylink_receipt_id
        if not attachment:
            pdf = (
                self.env["ir.actions.report"]
                .sudo()
                ._render_qweb_pdf(RECEIPT_REPORT, payment.ids)[0]
            )
            attachment = attachment.create(
                {
                    "name": f"{(payment.name or str(payment.id)).replace('/', '_')}.pdf",
                    "raw": pdf,
                    "mimetype": "application/pdf",
                    "res_model": payment._name,
                    "res_id": payment.id,
                }
            )
            payment.komet_paylink_receipt_id = attachment
        return attachment.raw, attachment.name
