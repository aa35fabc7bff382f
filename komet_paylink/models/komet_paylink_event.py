import json
import logging

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError

from .. import const
from ..exceptions import PaylinkRetryLater, PaylinkSessionMissing

_logger = logging.getLogger(__name__)


class KometPaylinkEvent(models.Model):
    _name = "komet.paylink.event"
    _description = "Stripe Webhook Event"
    _order = "id desc"

    # One Stripe account may have an endpoint per company, each with its own secret: the same
    # event reaches each, and each provider stores and acts on it once.
    _sql_constraints = [
        (
            "stripe_event_id_unique",
            "UNIQUE(provider_id, stripe_event_id)",
            "A Stripe event is stored once per receiving provider.",
        ),
    ]

    stripe_event_id = fields.Char(required=True, readonly=True)
    event_type = fields.Char(string="Type", required=True, readonly=True)
    livemode = fields.Boolean(string="Live", readonly=True)
    provider_id = fields.Many2one(
        string="Receiving Provider", comodel_name="payment.provider", readonly=True, index=True
    )
    company_id = fields.Many2one(comodel_name="res.company", required=True, readonly=True)
    transaction_id = fields.Many2one(comodel_name="payment.transaction", readonly=True)
    outcome = fields.Char(readonly=True)
    error = fields.Text(
        string="What To Fix",
        help="Why Odoo refused to book this event: fix it, then replay the event.",
        readonly=True,
    )
    payload = fields.Text(
        string="Stripe Object",
        help="The object the signed event was about, as Stripe sent it: replaying the event reads "
        "Stripe's current state back again from it.",
        readonly=True,
    )

    # === ACTION METHODS === #

    def action_replay(self):
        """Process a stored event again, once what stopped its booking is fixed."""
        self.ensure_one()
        user = self.env.user
        if not (
            user.has_group("komet_paylink.group_role_cashier")
            or user.has_group("komet_paylink.group_role_admin")
        ):
            raise AccessError(_("Only cashiers and payment-link admins may replay Stripe events."))
        self.check_access("read")
        event_sudo = self.sudo()
        if event_sudo.outcome != const.OUTCOME_FAILED or not event_sudo.transaction_id:
            raise UserError(_("Only an event whose booking failed can be replayed."))
        try:
            outcome = event_sudo._paylink_process(event_sudo._paylink_secret_mates())
        except PaylinkRetryLater as error:
            raise UserError(
                _("The payment service could not be reached. Please try again in a moment.")
            ) from error
        if outcome == const.OUTCOME_FAILED:
            raise UserError(
                _("The event still cannot be booked: %(error)s", error=event_sudo.error)
            )
        return outcome

    # === BUSINESS METHODS === #

    @api.model
    def _paylink_receive(self, payload, signature_header):
        """Handle one webhook delivery: verify, de-duplicate per receiving provider, then
        process (see `_paylink_process`).

        :return: the outcome, for the response and the event log.
        :raise ValidationError: bad signature or payload (answer 400).
        :raise PaylinkRetryLater: Stripe could not be asked yet, another delivery is booking
                                  the same transaction, or the event refers to a payment not
                                  booked yet (answer 503: Stripe delivers it again).
        """
        event, providers = self.env["payment.provider"]._paylink_verify_webhook(
            payload, signature_header
        )
        # Signed by Stripe: from here on the event may be looked up and acted upon.
        events_sudo = self.sudo()
        event_type = event.get("type")
        if event_type not in const.HANDLED_EVENT_TYPES:
            return "ignored"
        stripe_object = (event.get("data") or {}).get("object") or {}
        if not isinstance(stripe_object.get("id"), str) or not event.get("id"):
            raise ValidationError(self.env._("Malformed Stripe event."))
        livemode = bool(event.get("livemode"))
        providers = providers.filtered(lambda provider: provider._paylink_is_live() == livemode)
        if not providers:
            _logger.warning("Stripe event %s ignored: its mode is not the key's.", event["id"])
            return "ignored"
        event_record = events_sudo._paylink_store(event, providers[0])
        if not event_record:
            return "duplicate"
        return event_record._paylink_process(providers, event_type, stripe_object)

    def _paylink_process(self, providers, event_type=None, stripe_object=None):
        """Act on this stored event through Odoo's notification flow
        (`_get_tx_from_notification_data`, `_process_notification_data`), after reading
        Stripe's side back. A booking that Odoo's validation refuses is rolled back, logged and
        left to the cashiers as a to-do; the event can then be replayed.

        :param providers: the providers whose webhook secret signed the event.
        :param event_type: the event's type and `stripe_object` its object, as just received
                           (else read from the stored event, to replay it).
        :return: the outcome, also written on the event.
        """
        self.ensure_one()
        if event_type is None:
            event_type, stripe_object = self.event_type, json.loads(self.payload or "{}")
        if event_type == const.PAYOUT_PAID_EVENT_TYPE:
            return self._paylink_process_payout(providers[:1], stripe_object)
        notification_data = {
            "event_type": event_type,
            "object": stripe_object,
            "provider_ids": providers.ids,
        }
        transaction = self.env["payment.transaction"]._get_tx_from_notification_data(
            const.PROVIDER_CODE, notification_data
        )
        if not transaction:
            if event_type not in const.CHECKOUT_EVENT_TYPES:
                self._paylink_check_not_early(providers, stripe_object)
            self.outcome = "unknown reference"
            return "ignored"
        try:
            notification_data.update(
                self._paylink_read_back(transaction, event_type, stripe_object)
            )
        except PaylinkSessionMissing:
            # Made in another mode or account: no delivery will ever find it here.
            self.outcome = "unknown session"
            return "ignored"
        except ValidationError as error:
            raise PaylinkRetryLater(str(error)) from error
        error_message = False
        try:
            with self.env.cr.savepoint():
                transaction._process_notification_data(notification_data)
            outcome = notification_data["outcome"]
        except UserError as error:
            # A journal, payment method or lock date that refuses the booking: nothing is
            # booked, and retrying without a person's fix would fail the same way.
            _logger.exception(
                "Stripe event %s could not be booked on transaction %s",
                self.stripe_event_id,
                transaction.reference,
            )
            outcome, error_message = const.OUTCOME_FAILED, str(error)
            self._paylink_notify_failure(transaction, error_message)
        # Written after the processing locked the transaction: written before, the reference to
        # a transaction that another delivery just booked fails to serialize.
        self.write(
            {
                "transaction_id": transaction.id,
                "company_id": transaction.company_id.id,
                "outcome": outcome,
                "error": error_message,
            }
        )
        return outcome

    def _paylink_process_payout(self, provider, stripe_object):
        """Book a paid payout (see `komet.paylink.payout._paylink_book`); one that Odoo's
        validation refuses is left to the cashiers on the payout, to book again."""
        # As the provider's company: the request's (the public user's) may be another one.
        payout = (
            self.env["komet.paylink.payout"]
            .with_company(provider.company_id)
            ._paylink_get(provider, stripe_object["id"])
        )
        error_message = False
        try:
            with self.env.cr.savepoint():
                outcome = payout._paylink_book() if payout.state != "booked" else "unchanged"
        except UserError as error:
            _logger.exception("Stripe payout %s could not be booked", payout.name)
            outcome, error_message = const.OUTCOME_FAILED, str(error)
            payout._paylink_to_check([{"id": payout.name, "type": error_message}])
        self.write({"outcome": outcome, "error": error_message})
        return outcome

    def _paylink_notify_failure(self, transaction, error_message):
        """Give the cashiers a to-do saying what refused the booking, and how to replay it."""
        transaction._paylink_documents()._paylink_notify_cashiers(
            _("Stripe payment not booked: %(ref)s", ref=transaction.reference),
            _(
                "Stripe event %(event)s (%(type)s) for %(ref)s could not be booked: %(error)s "
                "Fix this, then replay the event from Accounting > Customers > Stripe Events.",
                event=self.stripe_event_id,
                type=self.event_type,
                ref=transaction.reference,
                error=error_message,
            ),
        )

    def _paylink_check_not_early(self, providers, stripe_object):
        """An event about a charge none of our booked payments knows (a refund or dispute that
        arrived before its payment's checkout event): when Stripe says the payment is one of
        ours, not booked yet, answer 503 until it is, so that Stripe delivers it again.

        :raise PaylinkRetryLater: the payment is ours and not booked yet, or Stripe could not
                                  be asked.
        """
        payment_intent = stripe_object.get("payment_intent")
        if isinstance(payment_intent, dict):
            payment_intent = payment_intent.get("id")
        if not payment_intent or not isinstance(payment_intent, str):
            return
        try:
            intent = providers[0]._paylink_stripe_request(
                "payment_intents", "retrieve", payment_intent
            )
        except ValidationError as error:
            raise PaylinkRetryLater(str(error)) from error
        reference = (intent.get("metadata") or {}).get("odoo_reference")
        if not reference:
            return
        waiting = self.env["payment.transaction"].search_count(
            [
                ("reference", "=", reference),
                ("provider_id", "in", providers.ids),
                ("state", "!=", "error"),
            ],
            limit=1,
        )
        if waiting:
            _logger.info(
                "Stripe event %s refers to payment %s, not booked yet: Stripe will deliver it "
                "again.",
                self.stripe_event_id,
                reference,
            )
            raise PaylinkRetryLater(f"payment {reference} is not booked yet")

    def _paylink_secret_mates(self):
        """The providers that share the webhook secret of the one that received this event."""
        self.ensure_one()
        provider = self.provider_id.sudo()
        if not provider.komet_stripe_webhook_secret:
            return provider
        return provider.search(
            [
                ("code", "=", const.PROVIDER_CODE),
                ("komet_stripe_webhook_secret", "=", provider.komet_stripe_webhook_secret),
            ]
        )

    @api.model
    def _paylink_read_back(self, transaction, event_type, stripe_object):
        """Ask Stripe for the current state of what a verified event is about: the event's own
        copy may be stale, late or out of order.

        :return: the notification data `_process_notification_data` acts on.
        :raise ValidationError: Stripe could not be reached.
        """
        provider = transaction.provider_id
        if event_type in const.CHECKOUT_EVENT_TYPES:
            session = provider._paylink_stripe_request(
                "checkout.sessions", "retrieve", transaction.provider_reference
            )
            return {"session": session}
        if event_type in const.REFUND_EVENT_TYPES:
            # Every refund of the payment, as Stripe reports it now: a pending one that became
            # done or failed is followed as a new one is recorded.
            refunds = provider._paylink_stripe_request(
                "refunds",
                "list",
                params={"payment_intent": transaction.komet_stripe_payment_intent, "limit": 100},
            )
            return {"refunds": refunds.get("data") or []}
        # A dispute only asks a person to act: the signed event says enough.
        return {"dispute": stripe_object}

    @api.model
    def _paylink_store(self, event, provider):
        """Store the event once for `provider`; return it, or nothing when it was stored
        already.

        A concurrent delivery of the same event waits here for the first one's transaction,
        then finds it stored, or gets a serialization failure that Odoo retries (and that is
        not worth an ERROR line: the exception itself still reaches Odoo).
        """
        self.env.cr.execute(
            """
            INSERT INTO komet_paylink_event
                (stripe_event_id, event_type, livemode, provider_id, company_id, payload,
                 create_uid, create_date, write_uid, write_date)
            VALUES (%s, %s, %s, %s, %s, %s,
                    %s, now() at time zone 'UTC', %s, now() at time zone 'UTC')
            ON CONFLICT (provider_id, stripe_event_id) DO NOTHING
            RETURNING id
            """,
            [
                event["id"],
                event["type"],
                bool(event.get("livemode")),
                provider.id,
                provider.company_id.id,
                json.dumps(event["data"]["object"]),
                self.env.uid,
                self.env.uid,
            ],
            log_exceptions=False,
        )
        row = self.env.cr.fetchone()
        return self.browse(row[0]) if row else self.browse()
