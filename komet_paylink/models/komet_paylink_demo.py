import secrets

from odoo import api, models

from .. import const, utils
from ..exceptions import PaylinkSessionMissing


class KometPaylinkDemo(models.AbstractModel):
    """The simulated Stripe of demo mode, for a database without a Stripe account.

    Only a provider in demo mode reaches it, and a provider with a live key cannot be in demo
    mode. It answers the provider's Stripe calls as Stripe would, and its checkout page books
    through the same notification flow as Stripe's webhook.
    """

    _name = "komet.paylink.demo"
    _description = "Payment Links Demo Checkout"

    # === GATEWAY === #

    @api.model
    def _stripe_request(self, provider, resource, action, *args, params=None):
        """Answer `payment.provider._paylink_stripe_request` for a provider in demo mode."""
        if (resource, action) == ("checkout.sessions", "create"):
            return self._create_session(provider, params)
        if resource == "checkout.sessions":
            transaction = self._find_transaction(args[0])
            if not transaction:
                # As Stripe answers for a session of another mode or account.
                raise PaylinkSessionMissing(
                    self.env._("The payment service does not know this checkout.")
                )
            session = self._session(transaction)
            if action == "expire":
                session.update(status="expired", url=None)
            return session
        if (resource, action) == ("refunds", "create"):
            return {
                "id": f"re_demo_{secrets.token_hex(12)}",
                "object": "refund",
                "amount": params["amount"],
                "status": "succeeded",
                "payment_intent": params["payment_intent"],
            }
        return {"object": "list", "data": [], "has_more": False}

    @api.model
    def _create_session(self, provider, params):
        session_id = f"cs_demo_{secrets.token_hex(16)}"
        line = params["line_items"][0]["price_data"]
        return {
            "id": session_id,
            "object": "checkout.session",
            "url": self._checkout_url(provider, session_id),
            "client_reference_id": params["client_reference_id"],
            "livemode": False,
            "currency": line["currency"],
            "amount_total": line["unit_amount"],
            "expires_at": params["expires_at"],
            "status": "open",
            "payment_status": "unpaid",
            "payment_intent": None,
        }

    @api.model
    def _checkout_url(self, provider, session_id):
        return f"{provider.company_id.get_base_url()}{const.DEMO_CHECKOUT_ROUTE}/{session_id}"

    @api.model
    def _session(self, transaction, paid=False):
        """The Checkout Session of a demo transaction, as Stripe would report it."""
        if paid or transaction.state == "done":
            status = ("complete", "paid")
        elif transaction.state == "cancel":
            status = ("expired", "unpaid")
        else:
            status = ("open", "unpaid")
        link = transaction.komet_paylink_id
        expires_at = (
            utils.to_timestamp(transaction.create_date) + const.CHECKOUT_MAX_LIFETIME_SECONDS
        )
        if link.expires_at:
            expires_at = min(expires_at, utils.to_timestamp(link.expires_at))
        return {
            "id": transaction.provider_reference,
            "object": "checkout.session",
            "url": self._checkout_url(transaction.provider_id, transaction.provider_reference),
            "expires_at": expires_at,
            "client_reference_id": transaction.reference,
            "livemode": False,
            "currency": transaction.currency_id.name.lower(),
            "amount_total": utils.to_stripe_minor_units(
                transaction.amount, transaction.currency_id.name
            ),
            "status": status[0],
            "payment_status": status[1],
            "payment_intent": f"pi_demo_{transaction.id}" if status[1] == "paid" else None,
        }

    # === CHECKOUT PAGE === #

    @api.model
    def _find_transaction(self, session_id):
        """The transaction a simulated checkout page serves, only while its provider is in
        demo mode."""
        if not isinstance(session_id, str) or not session_id.startswith("cs_demo_"):
            return self.env["payment.transaction"]
        transaction = (
            self.env["payment.transaction"]
            .sudo()
            .search(
                [
                    ("provider_code", "=", const.PROVIDER_CODE),
                    ("provider_reference", "=", session_id),
                ],
                limit=1,
            )
        )
        return transaction if transaction.provider_id.komet_demo_mode else transaction.browse()

    @api.model
    def _pay(self, transaction):
        """Simulate a paid checkout through the webhook's own booking path."""
        transaction._handle_notification_data(
            const.PROVIDER_CODE,
            {
                "event_type": "checkout.session.completed",
                "session": self._session(transaction, paid=True),
            },
        )
