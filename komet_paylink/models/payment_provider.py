from odoo import api, fields, models
from odoo.tools import str2bool

from .. import const


class PaymentProvider(models.Model):
    _inherit = "payment.provider"

    code = fields.Selection(
        selection_add=[(const.PROVIDER_CODE, "Komet Payment Links (Stripe Checkout)")],
        ondelete={const.PROVIDER_CODE: "set default"},
    )

    # === BUSINESS METHODS === #

    @api.model
    def _get_compatible_providers(self, *args, **kwargs):
        """Override of `payment` to keep payment links' provider off Odoo's own payment forms:
        it only serves the `/pay/` pages, which drive Stripe Checkout themselves."""
        providers = super()._get_compatible_providers(*args, **kwargs)
        return providers.filtered(lambda provider: provider.code != const.PROVIDER_CODE)

    def _get_default_payment_method_codes(self):
        """Override of `payment` to return the default payment method codes."""
        default_codes = super()._get_default_payment_method_codes()
        if self.code != const.PROVIDER_CODE:
            return default_codes
        return {const.PAYMENT_METHOD_CODE}

    @api.model
    def _paylink_provider_for(self, company):
        """Return the company's payment-link provider, made from the template one if missing."""
        provider = self.sudo().search(
            [("code", "=", const.PROVIDER_CODE), ("company_id", "=", company.id)], limit=1
        )
        if not provider:
            template = self.env.ref("komet_paylink.payment_provider_komet_paylink").sudo()
            provider = template.copy({"company_id": company.id, "state": template.state})
        return provider

    @api.model
    def _paylink_is_demo(self):
        """Demo mode: a local simulated checkout replaces Stripe. Off unless switched on."""
        param = self.env["ir.config_parameter"].sudo().get_param(const.PARAM_DEMO_MODE)
        return str2bool(param or "False", default=False)
