import base64
import logging

import werkzeug.exceptions

from odoo import models
from odoo.exceptions import UserError
from odoo.tools.image import image_data_uri

from odoo.addons.account.tools.structured_reference import (
    is_valid_structured_reference_iso,
    sanitize_structured_reference,
)

from .. import utils

_logger = logging.getLogger(__name__)


class ResPartnerBank(models.Model):
    _inherit = "res.partner.bank"

    def _paylink_transfer_qr(self, amount, currency, reference, debtor, qr_method=None):
        """The payment QR code of a transfer of `amount` in `currency` to this account, with
        `reference` as the communication, from `debtor`, by `qr_method` (by default the first
        of Odoo's methods that can make one), as a data URI; or None when none can.

        As `build_qr_code_base64`, but a plain QR code is drawn crisp: Odoo's drawing, 128
        pixels without a quiet zone, leaves hairlines between the modules that some readers
        stumble on. Codes with a mask (the Swiss cross) are Odoo's."""
        self.ensure_one()
        # The EPC code's structured field takes an ISO 11649 (RF) creditor reference only,
        # without spaces; any other reference goes as free text, which banks match as well.
        structured = None
        if is_valid_structured_reference_iso(reference):
            structured = sanitize_structured_reference(reference)
        try:
            vals = self._build_qr_code_vals(
                amount,
                reference,
                structured,
                currency,
                debtor,
                qr_method=qr_method,
                silent_errors=True,
            )
            params = vals and self._get_qr_code_generation_params(**vals)
            if not params:
                return None
            if params.get("barcode_type") == "QR" and not params.get("mask"):
                return image_data_uri(base64.b64encode(utils.qr_png(params["value"])))
            return self._get_qr_code_base64(**vals) or None
        except (UserError, ValueError, werkzeug.exceptions.HTTPException):
            _logger.info("No payment QR code for bank account %s: it cannot be drawn.", self.id)
            return None
