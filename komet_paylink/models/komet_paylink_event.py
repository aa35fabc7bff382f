import logging

from odoo import api, fields, models
from odoo.exceptions import ValidationError

from .. import const
from ..exceptions import PaylinkRetryLater, PaylinkSessionMissing

_logger = logging.getLogger(__name__)


class KometPaylinkEvent(models.Model):
    _name = "komet.paylink.event"
    _description = "Stripe Webhook Event"
    _order = "id desc"

    _sql_constraints = [
        ("stripe_event_id_unique", "UNIQUE(stripe_event_id)", "A Stripe event is stored once."),
    ]

    stripe_event_id = fields.Char(required=True, readonly=True)
    event_type = fields.Char(string="Type", required=True, readonly=True)
    livemode = fields.Boolean(string="Live", readonly=True)
    company_id = fields.Many2one(comodel_name="res.company", required=True, readonly=True)
    transaction_id = fields.Many2one(comodel_name="payment.transaction", readonly=True)
    outcome = fields.Char(readonly=True)

    # === BUSINESS METHODS === #

    @api.model
    def _paylink_receive(self, payload, signature_header):
        """Handle one webhook delivery: verify, de-duplicate, read Stripe's side back, then
        Odoo's notification flow (`_get_tx_from_notification_data`,
        `_process_notification_data`).

        :return: the outcome, for the response and the event log.
        :raise ValidationError: bad signature or payload (answer 400).
        :raise PaylinkRetryLater: Stripe could not be asked yet, or another delivery is booking
                                  the same transaction (answer 503).
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
        event_record = events_sudo._paylink_store(event, providers[0].company_id)
        if not event_record:
            return "duplicate"
        notification_data = {
            "event_type": event_type,
            "object": stripe_object,
            "provider_ids": providers.ids,
        }
        transactions = events_sudo.env["payment.transaction"]
        transaction = transactions._get_tx_from_notification_data(
            const.PROVIDER_CODE, notification_data
        )
        if not transaction:
            event_record.outcome = "unknown reference"
            return "ignored"
        try:
            notification_data.update(
                self._paylink_read_back(transaction, event_type, stripe_object)
            )
        except PaylinkSessionMissing:
            # Made in another mode or account: no delivery will ever find it here.
            event_record.outcome = "unknown session"
            return "ignored"
        except ValidationError as error:
            raise PaylinkRetryLater(str(error)) from error
        try:
            with self.env.cr.savepoint():
                transaction._process_notification_data(notification_data)
            outcome = notification_data["outcome"]
        except ValidationError:
            outcome = "rejected"
        # Written after the processing locked the transaction: written before, the reference to
        # a transaction that another delivery just booked fails to serialize.
        event_record.write(
            {
                "transaction_id": transaction.id,
                "company_id": transaction.company_id.id,
                "outcome": outcome,
            }
        )
        return outcome

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
        if event_type == const.REFUND_EVENT_TYPE:
            refunds = provider._paylink_stripe_request(
                "refunds",
                "list",
                params={"payment_intent": transaction.komet_stripe_payment_intent, "limit": 100},
            )
            return {"refunds": refunds.get("data") or []}
        # A dispute only asks a person to act: the signed event says enough.
        return {"dispute": stripe_object}

    @api.model
    def _paylink_store(self, event, company):
        """Store the event once; return it, or nothing when it was stored already.

        A concurrent delivery of the same event waits here for the first one's transaction,
        then finds it stored, or gets a serialization failure that Odoo retries (and that is
        not worth an ERROR line: the exception itself still reaches Odoo).
        """
        self.env.cr.execute(
            """
            INSERT INTO komet_paylink_event
                (stripe_event_id, event_type, livemode, company_id,
                 create_uid, create_date, write_uid, write_date)
            VALUES (%s, %s, %s, %s, %s, now() at time zone 'UTC', %s, now() at time zone 'UTC')
            ON CONFLICT (stripe_event_id) DO NOTHING
            RETURNING id
            """,
            [
                event["id"],
                event["type"],
                bool(event.get("livemode")),
                company.id,
                self.env.uid,
                self.env.uid,
            ],
            log_exceptions=False,
        )
        row = self.env.cr.fetchone()
        return self.browse(row[0]) if row else self.browse()
