from odoo import _, api, fields, models


class ResPartner(models.Model):
    _inherit = "res.partner"

    komet_paylink_opt_out = fields.Boolean(
        string="Never send payment links",
        help="No payment link is ever sent to this customer: the Send dialogs say so, automatic "
        "sending and reminders leave the link out, and statement links are refused. Decided on "
        "the company: its contacts follow it. Links sent before keep working until they "
        "expire.",
    )

    # === BUSINESS METHODS === #

    @api.model
    def _commercial_fields(self):
        """Override of `base`: the contacts of a company follow its payment link opt-out."""
        return [*super()._commercial_fields(), "komet_paylink_opt_out"]

    def _paylink_opt_out_reason(self):
        """Return why no payment link may be sent to this customer, or False when it may: its
        commercial partner asked not to receive them."""
        commercial_partner = self.sudo().commercial_partner_id[:1]
        if not commercial_partner.komet_paylink_opt_out:
            return False
        return _(
            "%(partner)s asked not to receive payment links.",
            partner=commercial_partner.display_name,
        )
