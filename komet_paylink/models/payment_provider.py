import hashlib
import logging
import time

import stripe

from odoo import _, api, fields, models
from odoo.exceptions import ValidationError

from odoo.addons.payment import utils as payment_utils

from .. import const, utils
from ..exceptions import PaylinkSessionMissing

_logger = logging.getLogger(__name__)

# One SDK client per provider and key, reused across requests for its connection pool. The SDK's
# RequestsClient keeps one HTTP session per thread, so a client may serve several threads.
_stripe_clients = {}


class PaymentProvider(models.Model):
    _inherit = "payment.provider"

    code = fields.Selection(
        selection_add=[(const.PROVIDER_CODE, "Komet Payment Links (Stripe Checkout)")],
        ondelete={const.PROVIDER_CODE: "set default"},
    )
    komet_stripe_secret_key = fields.Char(
        string="Stripe Secret Key",
        help="sk_test_… puts the provider in test mode, sk_live_… enables it.",
        groups="base.group_system",
        copy=False,
    )
    komet_stripe_webhook_secret = fields.Char(
        string="Stripe Webhook Signing Secret",
        help="The signing secret (whsec_…) of the endpoint added in Stripe for the webhook URL.",
        groups="base.group_system",
        copy=False,
    )
    komet_stripe_key_hint = fields.Char(
        string="Secret Key In Use",
        compute="_compute_komet_secret_hints",
        groups="base.group_system",
    )
    komet_webhook_secret_hint = fields.Char(
        string="Webhook Secret In Use",
        compute="_compute_komet_secret_hints",
        groups="base.group_system",
    )
    komet_webhook_url = fields.Char(
        string="Webhook URL",
        help="The endpoint to add in Stripe (Developers > Webhooks), with the Checkout Session, "
        "charge.refunded and charge.dispute.created events.",
        compute="_compute_komet_webhook_url",
    )
    komet_stripe_fee_account_id = fields.Many2one(
        string="Stripe Fees Account",
        comodel_name="account.account",
        help="The expense account of the fees Stripe keeps on each payment and payout. Empty: "
        "the chart of accounts' bank fees account, else the company's first expense account.",
        domain="[('account_type', 'in', ('expense', 'expense_direct_cost'))]",
        check_company=True,
        copy=False,
    )
    komet_payout_journal_id = fields.Many2one(
        string="Payouts Bank Journal",
        comodel_name="account.journal",
        help="The bank journal whose account receives Stripe's payouts. Empty: the company's "
        "first bank journal.",
        domain="[('type', '=', 'bank')]",
        check_company=True,
        copy=False,
    )
    komet_demo_mode = fields.Boolean(
        string="Demo Mode",
        help="A local simulated checkout replaces Stripe, to show the whole flow without a Stripe "
        "account. Refused while a live key is set.",
        copy=False,
    )

    # === COMPUTE METHODS === #

    def _compute_feature_support_fields(self):
        """Override of `payment` to declare refunds, full or partial, from Odoo's payments."""
        res = super()._compute_feature_support_fields()
        ours = self.filtered(lambda provider: provider.code == const.PROVIDER_CODE)
        ours.support_refund = "partial"
        return res

    @api.depends("komet_stripe_secret_key", "komet_stripe_webhook_secret")
    def _compute_komet_secret_hints(self):
        for provider in self:
            provider.komet_stripe_key_hint = utils.secret_hint(provider.komet_stripe_secret_key)
            provider.komet_webhook_secret_hint = utils.secret_hint(
                provider.komet_stripe_webhook_secret
            )

    @api.depends("code", "company_id")
    def _compute_komet_webhook_url(self):
        for provider in self:
            provider.komet_webhook_url = (
                f"{provider.company_id.get_base_url()}{const.WEBHOOK_ROUTE}"
                if provider.code == const.PROVIDER_CODE
                else False
            )

    # === CONSTRAINT METHODS === #

    @api.constrains("state", "komet_stripe_secret_key", "komet_demo_mode")
    def _check_komet_mode_matches_key(self):
        """The mode is the key's: test with a test key, enabled with a live key; demo mode only
        without a live key."""
        for provider in self.filtered(lambda p: p.code == const.PROVIDER_CODE).sudo():
            key = provider.komet_stripe_secret_key
            live_key = bool(key) and not utils.is_test_mode_key(key)
            if provider.komet_demo_mode and (live_key or provider.state == "enabled"):
                raise ValidationError(
                    _("Demo mode is refused while a live Stripe key is set: remove the key first.")
                )
            if key and not utils.is_stripe_secret_key(key):
                raise ValidationError(
                    _(
                        "A Stripe secret key starts with sk_test_ or sk_live_ (or rk_ for a "
                        "restricted key)."
                    )
                )
            if provider.state == "enabled" and not live_key:
                raise ValidationError(
                    _(
                        "%(provider)s can be enabled only with a live key (sk_live_…).",
                        provider=provider.name,
                    )
                )
            if provider.state == "test" and live_key:
                raise ValidationError(
                    _(
                        "%(provider)s has a live key: it cannot be in test mode. Use a test key "
                        "(sk_test_…) or enable it.",
                        provider=provider.name,
                    )
                )

    @api.constrains("komet_stripe_webhook_secret")
    def _check_komet_webhook_secret(self):
        for provider in self.sudo():
            secret = provider.komet_stripe_webhook_secret
            if secret and not secret.startswith("whsec_"):
                raise ValidationError(_("A Stripe webhook signing secret starts with whsec_."))

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
    def _paylink_provider_for(self, company, create=True):
        """Return the company's payment-link provider, made from the template one if missing
        (and `create`)."""
        provider = self.sudo().search(
            [("code", "=", const.PROVIDER_CODE), ("company_id", "=", company.id)], limit=1
        )
        if not provider and create:
            template = self.env.ref("komet_paylink.payment_provider_komet_paylink").sudo()
            provider = template.copy({"company_id": company.id, "state": "disabled"})
        return provider

    def _paylink_is_live(self):
        """Whether this provider takes real money: only events and sessions of the same mode
        are accepted."""
        self.ensure_one()
        if self.state != "disabled":
            return self.state == "enabled"
        key = self.sudo().komet_stripe_secret_key
        return bool(key) and not utils.is_test_mode_key(key)

    def _paylink_set_account(self, secret_key=None, webhook_secret=None, demo_mode=None):
        """Set the Stripe account as the Settings block does: the key's prefix sets the mode."""
        self.ensure_one()
        values = {}
        if secret_key:
            secret_key = secret_key.strip()
            values["komet_stripe_secret_key"] = secret_key
            if utils.is_stripe_secret_key(secret_key):
                values["state"] = "test" if utils.is_test_mode_key(secret_key) else "enabled"
        if webhook_secret:
            values["komet_stripe_webhook_secret"] = webhook_secret.strip()
        if demo_mode is not None:
            values["komet_demo_mode"] = demo_mode
            has_key = values.get("komet_stripe_secret_key") or self.sudo().komet_stripe_secret_key
            if demo_mode and self.state == "disabled" and "state" not in values:
                values["state"] = "test"
            elif not demo_mode and not has_key:
                values["state"] = "disabled"
        self.sudo().write(values)

    def _paylink_fee_account(self):
        """The expense account of Stripe's fees: the provider's, else the chart's bank fees
        account, else the company's first expense account."""
        self.ensure_one()
        if self.komet_stripe_fee_account_id:
            return self.komet_stripe_fee_account_id
        company = self.company_id
        account = (
            self.env["account.chart.template"]
            .with_company(company)
            .ref("expense_finance", raise_if_not_found=False)
        )
        if account:
            return account
        accounts = self.env["account.account"].sudo().with_company(company)
        domain = [
            *accounts._check_company_domain(company),
            ("account_type", "=", "expense"),
            ("active", "=", True),
        ]
        return accounts.search(domain, order="code", limit=1)

    def _paylink_payout_journal(self):
        """The bank journal that receives Stripe's payouts."""
        self.ensure_one()
        if self.komet_payout_journal_id:
            return self.komet_payout_journal_id
        journals = self.env["account.journal"].sudo()
        return (
            journals.search(
                [
                    *journals._check_company_domain(self.company_id),
                    ("type", "=", "bank"),
                    ("id", "!=", self.journal_id.id),
                ],
                limit=1,
            )
            or self.journal_id
        )

    # === STRIPE GATEWAY === #

    def _paylink_stripe_client(self):
        """This provider's Stripe client, never the SDK's global state.

        The API base address of `komet_paylink.stripe_api_base` (tests, local fakes) is honoured
        only in test mode: a live key is never sent anywhere but Stripe.
        """
        self.ensure_one()
        secret_key = self.sudo().komet_stripe_secret_key
        if not secret_key:
            raise ValidationError(
                _("Online payment is not set up for %(company)s.", company=self.company_id.name)
            )
        api_base = None
        if utils.is_test_mode_key(secret_key):
            param = self.env["ir.config_parameter"].sudo().get_param(const.PARAM_STRIPE_API_BASE)
            api_base = param.rstrip("/") if param else None
        cache_key = (
            self.env.cr.dbname,
            self.id,
            hashlib.sha256(secret_key.encode()).hexdigest(),
            api_base,
        )
        client = _stripe_clients.get(cache_key)
        if client is None:
            options = {
                "max_network_retries": 1,
                "http_client": stripe.RequestsClient(timeout=const.STRIPE_TIMEOUT_SECONDS),
            }
            if api_base:
                options["base_addresses"] = {"api": api_base}
            client = _stripe_clients[cache_key] = stripe.StripeClient(secret_key, **options)
        return client

    def _paylink_stripe_request(self, resource, action, *args, params=None, idempotency_key=None):
        """Make every call to Stripe for this provider: each POST carries an idempotency key,
        and SDK errors become a `ValidationError` that says nothing of the keys.

        In demo mode the simulated Stripe of `komet.paylink.demo` answers instead.

        :param str resource: a service of the SDK's `v1` namespace, e.g. 'checkout.sessions'.
        :param str action: 'create', 'retrieve', 'list' or 'expire'.
        :return: the Stripe object, as a dict.
        :raise PaylinkSessionMissing: Stripe does not know the Checkout Session asked for.
        :raise ValidationError: Stripe could not be reached or refused the request.
        """
        self.ensure_one()
        if (resource, action) not in const.STRIPE_OPERATIONS:
            raise ValueError(f"Unknown Stripe operation {resource}.{action}.")
        is_post = action in ("create", "expire")
        if is_post and not idempotency_key:
            raise ValueError("Stripe POST requests need an idempotency key.")
        if self.komet_demo_mode:
            return self.env["komet.paylink.demo"]._stripe_request(
                self, resource, action, *args, params=params
            )
        service = self._paylink_stripe_client().v1
        for name in resource.split("."):
            service = getattr(service, name)
        options = {"idempotency_key": idempotency_key} if is_post else {}
        try:
            result = getattr(service, action)(*args, params=params or {}, options=options)
        except stripe.StripeError as error:
            if resource == "checkout.sessions" and error.http_status == 404:
                raise PaylinkSessionMissing(
                    _("The payment service does not know this checkout.")
                ) from error
            _logger.warning(
                "Stripe %s.%s failed for provider %s: %s (HTTP %s)",
                resource,
                action,
                self.id,
                type(error).__name__,
                error.http_status,
            )
            raise ValidationError(
                _("The payment service could not be reached. Please try again in a moment.")
            ) from error
        return result.to_dict()

    def _paylink_refund(self, payment_tx, refund_tx):
        """Ask Stripe to refund `refund_tx`'s amount of `payment_tx`, once: the same refund
        asked again (a lost answer, a double click) is not made twice.

        :return: the Refund, as Stripe returned it.
        """
        self.ensure_one()
        minor_amount = utils.to_stripe_minor_units(-refund_tx.amount, refund_tx.currency_id.name)
        return self._paylink_stripe_request(
            "refunds",
            "create",
            params={
                "payment_intent": payment_tx.komet_stripe_payment_intent,
                "amount": minor_amount,
                "metadata": {"odoo_reference": refund_tx.reference},
            },
            idempotency_key=payment_utils.generate_idempotency_key(
                payment_tx, scope=f"refund:{minor_amount}:{len(payment_tx.child_transaction_ids)}"
            ),
        )

    def _paylink_balance_transaction(self, payment_intent):
        """The balance transaction of `payment_intent`'s charge, as Stripe reports it: gross,
        fee, net, currency and exchange rate of the money that reached the Stripe balance; or
        None when there is none (yet, or in demo mode).

        :raise ValidationError: Stripe could not be reached.
        """
        self.ensure_one()
        intent = self._paylink_stripe_request(
            "payment_intents",
            "retrieve",
            payment_intent,
            params={"expand": ["latest_charge.balance_transaction"]},
        )
        charge = intent.get("latest_charge")
        balance_transaction = isinstance(charge, dict) and charge.get("balance_transaction")
        return balance_transaction if isinstance(balance_transaction, dict) else None

    def _paylink_payout_lines(self, payout_id):
        """The payout and every balance transaction it pays out (their sources expanded), as
        Stripe lists them, all pages.

        :raise ValidationError: Stripe could not be reached.
        """
        self.ensure_one()
        payout = self._paylink_stripe_request("payouts", "retrieve", payout_id)
        lines, params = [], {"payout": payout_id, "limit": 100, "expand": ["data.source"]}
        while True:
            page = self._paylink_stripe_request("balance_transactions", "list", params=params)
            lines += page.get("data") or []
            if not page.get("has_more") or not lines:
                return payout, lines
            params = {**params, "starting_after": lines[-1]["id"]}

    @api.model
    def _paylink_verify_webhook(self, payload, signature_header):
        """Verify a webhook's signature against each provider's signing secret, before anything
        of the event is looked up. Return the event and every provider that shares the secret
        that signed it (companies may share one Stripe account).

        The SDK refuses signatures older than its tolerance; a signature dated in the future
        beyond the same tolerance is refused too, so a leaked one cannot be kept for later.

        :raise ValidationError: when no secret is set or none verifies the signature.
        """
        if not utils.signature_timestamp_is_fresh(
            signature_header, time.time(), const.WEBHOOK_TOLERANCE_SECONDS
        ):
            raise ValidationError(_("Invalid Stripe signature."))
        providers = self.sudo().search(
            [
                ("code", "=", const.PROVIDER_CODE),
                ("komet_stripe_webhook_secret", "!=", False),
            ]
        )
        for secret in set(providers.mapped("komet_stripe_webhook_secret")):
            try:
                event = stripe.Webhook.construct_event(
                    payload, signature_header, secret, tolerance=const.WEBHOOK_TOLERANCE_SECONDS
                )
            except (stripe.SignatureVerificationError, ValueError):
                continue
            return event.to_dict(), providers.filtered(
                lambda provider, s=secret: provider.komet_stripe_webhook_secret == s
            )
        raise ValidationError(_("Invalid Stripe signature."))
