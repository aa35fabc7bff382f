import logging
import time

import stripe

from odoo import _, api, fields, models
from odoo.exceptions import ValidationError

from .. import const, utils

_logger = logging.getLogger(__name__)


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
    komet_paylink_stripe_secret_key = fields.Char(
        string="Stripe Secret Key", groups="base.group_system", copy=False
    )
    komet_paylink_stripe_webhook_secret = fields.Char(
        string="Stripe Webhook Signing Secret", groups="base.group_system", copy=False
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

    # === STRIPE === #

    def _paylink_stripe_client(self):
        """A Stripe client for this company's account, never the SDK's global state."""
        self.ensure_one()
        secret_key = self.sudo().komet_paylink_stripe_secret_key
        if not secret_key:
            raise ValidationError(
                _("Online payment is not set up for %(company)s.", company=self.name)
            )
        options = {
            "max_network_retries": 1,
            "http_client": stripe.RequestsClient(timeout=const.STRIPE_TIMEOUT_SECONDS),
        }
        api_base = self.env["ir.config_parameter"].sudo().get_param(const.PARAM_STRIPE_API_BASE)
        if api_base:
            options["base_addresses"] = {"api": api_base.rstrip("/")}
        return stripe.StripeClient(secret_key, **options)

    def _paylink_stripe_request(
        self, operation, params=None, session_id=None, idempotency_key=None
    ):
        """Make every call to Stripe: each POST carries an idempotency key, and SDK errors become
        a `ValidationError` that says nothing of the keys.

        :param str operation: 'create_checkout_session' or 'retrieve_checkout_session'.
        :return: the Checkout Session, as a dict.
        """
        self.ensure_one()
        sessions = self._paylink_stripe_client().v1.checkout.sessions
        try:
            if operation == "create_checkout_session":
                if not idempotency_key:
                    raise ValueError("Stripe POST requests need an idempotency key.")
                session = sessions.create(
                    params=params, options={"idempotency_key": idempotency_key}
                )
            elif operation == "retrieve_checkout_session":
                session = sessions.retrieve(session_id)
            else:
                raise ValueError(f"Unknown Stripe operation {operation!r}.")
        except stripe.StripeError as error:
            _logger.warning(
                "Stripe %s failed for company %s: %s (HTTP %s)",
                operation,
                self.id,
                type(error).__name__,
                error.http_status,
            )
            raise ValidationError(
                _("The payment service could not be reached. Please try again in a moment.")
            ) from error
        return session.to_dict()

    @api.model
    def _paylink_verify_webhook(self, payload, signature_header):
        """Verify a webhook's signature against each company's signing secret, before anything
        of the event is looked up. Return the event and the company whose secret signed it.

        The SDK refuses signatures older than its tolerance; a signature dated in the future
        beyond the same tolerance is refused too, so a leaked one cannot be kept for later.

        :raise ValidationError: when no secret is set or none verifies the signature.
        """
        if not utils.signature_timestamp_is_fresh(
            signature_header, time.time(), const.WEBHOOK_TOLERANCE_SECONDS
        ):
            raise ValidationError(_("Invalid Stripe signature."))
        companies = self.sudo().search([("komet_paylink_stripe_webhook_secret", "!=", False)])
        for company in companies:
            try:
                event = stripe.Webhook.construct_event(
                    payload,
                    signature_header,
                    company.komet_paylink_stripe_webhook_secret,
                    tolerance=const.WEBHOOK_TOLERANCE_SECONDS,
                )
            except (stripe.SignatureVerificationError, ValueError):
                continue
            return event.to_dict(), company
        raise ValidationError(_("Invalid Stripe signature."))
