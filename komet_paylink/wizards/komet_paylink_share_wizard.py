from odoo import fields, models


class KometPaylinkShareWizard(models.TransientModel):
    """Shows a payment link made to share by hand (SMS, chat): its URL, once. Never saved:
    the URL only travels in the action that opens it, as Odoo keeps only the token's hash."""

    _name = "komet.paylink.share.wizard"
    _description = "Share a Payment Link"

    url = fields.Char(string="Payment Link", readonly=True)
    link_id = fields.Many2one(comodel_name="komet.paylink", readonly=True)
