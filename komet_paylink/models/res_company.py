from odoo import api, fields, models

from .. import const


class ResCompany(models.Model):
    _inherit = "res.company"

    komet_paylink_sender_group_ids = fields.Many2many(
        string="Roles That May Send Payment Links",
        comodel_name="res.groups",
        relation="komet_paylink_company_sender_group_rel",
        column1="company_id",
        column2="group_id",
        default=lambda self: self._paylink_default_sender_groups(),
    )

    # === BUSINESS METHODS === #

    @api.model
    def _paylink_default_sender_groups(self):
        groups = self.env["res.groups"]
        for xmlid in const.ROLE_XMLIDS:
            groups |= self.env.ref(xmlid, raise_if_not_found=False) or groups
        return groups

    def _paylink_reset_sender_groups(self):
        self.komet_paylink_sender_group_ids = self._paylink_default_sender_groups()
