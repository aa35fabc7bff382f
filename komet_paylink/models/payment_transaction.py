import logging
from datetime import timedelta

import psycopg2

from odoo import Command, _, api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError

from odoo.addons.payment import utils as payment_utils

from .. import const, utils
from ..exceptions import (
    PaylinkProcessing,
    PaylinkRateLimited,
    PaylinkRetryLater,
    PaylinkSessionMissing,
)

_logger = logging.getLogger(__name__)


class PaymentTransaction(models.Model):
    _inherit = "payment.transaction"

    komet_paylink_id = fields.Many2one(
        string="Payment Link",
        comodel_name="komet.paylink",
        readonly=True,
        index="btree_not_null",
        copy=False,
    )
    komet_expire_pending = fields.Boolean(
        string="Checkout Session To Expire",
        help="The link closed while Stripe could not be reached: the scheduled action expires "
        "the Checkout Session at Stripe as soon as it can.",
        readonly=True,
        copy=False,
    )
    komet_checkout_url = fields.Char(
        string="Checkout Page",
        help="The Checkout page Stripe returned for this transaction's session; kept only to "
        "send a burst of Pay presses back to it without asking Stripe again.",
        readonly=True,
        copy=False,
    )
    komet_stripe_payment_intent = fields.Char(
        string="Stripe PaymentIntent",
        help="The PaymentIntent of the paid Checkout Session: refunds and disputes refer to it.",
        readonly=True,
        index="btree_not_null",
        copy=False,
    )

    # === CRUD METHODS === #

    @api.model_create_multi
    def create(self, vals_list):
        """Override of `payment` to let only the payment-link flow itself (as the superuser)
        make transactions of the links' provider: Billing users may create transactions."""
        if not self.env.su:
            provider_ids = {vals.get("provider_id") for vals in vals_list}
            providers = self.env["payment.provider"].sudo().browse(provider_ids - {None})
            if any(vals.get("komet_paylink_id") for vals in vals_list) or (
                const.PROVIDER_CODE in providers.mapped("code")
            ):
                raise AccessError(_("Payment-link transactions are made by payment links only."))
        return super().create(vals_list)

    def write(self, vals):
        """Override of `payment` to keep what decides where a customer is sent and what they
        pay out of reach of users: Billing users may write transactions, but neither those of
        payment links nor which link a transaction belongs to."""
        if not self.env.su and (
            "komet_paylink_id" in vals
            or any(tx.provider_code == const.PROVIDER_CODE for tx in self)
        ):
            raise AccessError(_("Payment-link transactions cannot be changed by hand."))
        return super().write(vals)

    # === CONSTRAINT METHODS === #

    @api.constrains("komet_paylink_id", "provider_id")
    def _check_komet_paylink_provider(self):
        """Only a transaction of the links' own provider belongs to a link."""
        for tx in self.filtered("komet_paylink_id"):
            if tx.provider_code != const.PROVIDER_CODE:
                raise ValidationError(
                    _("Only payment-link transactions can belong to a payment link.")
                )

    # === BUSINESS METHODS - PAYMENT FLOW === #

    def _send_refund_request(self, amount_to_refund=None):
        """Override of `payment` to refund through Stripe, from Odoo's own payment screens."""
        refund_tx = super()._send_refund_request(amount_to_refund=amount_to_refund)
        if self.provider_code != const.PROVIDER_CODE:
            return refund_tx
        if not self.komet_stripe_payment_intent:
            raise ValidationError(
                _("Stripe has no payment to refund for %(ref)s.", ref=self.reference)
            )
        # Held until this refund is recorded: a `charge.refunded` delivery for it waits, then
        # finds it, and never records it a second time.
        self._paylink_lock(for_refund=True)
        refund = self.provider_id._paylink_refund(self, refund_tx)
        refund_tx._handle_notification_data(const.PROVIDER_CODE, {"refund": refund})
        return refund_tx

    def _get_tx_from_notification_data(self, provider_code, notification_data):
        """Override of `payment` to find the transaction a verified Stripe event is about,
        among the providers whose webhook secret signed it.

        :return: the transaction, or nothing when the event is about none of ours.
        """
        tx = super()._get_tx_from_notification_data(provider_code, notification_data)
        if provider_code != const.PROVIDER_CODE or len(tx) == 1:
            return tx
        stripe_object = notification_data["object"]
        domain = [
            ("provider_code", "=", const.PROVIDER_CODE),
            ("provider_id", "in", notification_data["provider_ids"]),
        ]
        if notification_data["event_type"] in const.CHECKOUT_EVENT_TYPES:
            domain.append(("provider_reference", "=", stripe_object.get("id")))
        else:
            domain += [
                ("komet_stripe_payment_intent", "=", stripe_object.get("payment_intent")),
                ("operation", "!=", "refund"),
            ]
        return self.search(domain, limit=1)

    def _process_notification_data(self, notification_data):
        """Override of `payment` to bring the transaction in line with what Stripe reports.

        `notification_data` holds what Stripe answered when asked, never an event's own copy:
        'session', 'refunds' (of the payment), 'refund' (for a refund transaction) or
        'dispute'. Idempotent whatever the order or number of events; what was done is left in
        `notification_data['outcome']`, for the event log.

        :raise ValidationError: the session does not match the transaction; nothing changed.
        """
        super()._process_notification_data(notification_data)
        if self.provider_code != const.PROVIDER_CODE:
            return
        if self.operation == "refund":
            notification_data["outcome"] = self._paylink_apply_refund(notification_data["refund"])
            return
        self._paylink_lock()
        if "session" in notification_data:
            outcome = self._paylink_apply_checkout_session(
                notification_data["session"], notification_data.get("event_type")
            )
        elif "refunds" in notification_data:
            outcome = self._paylink_record_refunds(notification_data["refunds"])
        else:
            outcome = self._paylink_record_dispute(notification_data["dispute"])
        notification_data["outcome"] = outcome

    # === BUSINESS METHODS - CHECKOUT === #

    def _paylink_lock(self, for_refund=False):
        """Lock the transaction row so that two deliveries never book it at once: one that finds
        it locked is answered 503 (Stripe delivers it again) rather than hold a connection, and
        one that started before the other committed fails to serialize and is retried by Odoo.
        A refund request waits for the lock and updates the row, so that a delivery which
        started before it is retried and sees the refund.

        :raise PaylinkRetryLater: another delivery is booking this transaction.
        """
        self.ensure_one()
        if for_refund:
            self.env.cr.execute(
                "UPDATE payment_transaction SET write_date = now() at time zone 'UTC' "
                "WHERE id = %s",
                [self.id],
            )
            return
        try:
            with self.env.cr.savepoint(flush=False):
                self.env.cr.execute(
                    "SELECT id FROM payment_transaction WHERE id = %s FOR UPDATE NOWAIT",
                    [self.id],
                    log_exceptions=False,
                )
        except psycopg2.errors.LockNotAvailable as error:
            raise PaylinkRetryLater(f"transaction {self.reference} is being booked") from error
        self.invalidate_recordset()

    def _paylink_apply_checkout_session(self, session, event_type):
        """Apply a Checkout Session as Stripe reports it now, through Odoo's state machine.

        :return: 'done', 'pending', 'error', 'cancel' or 'unchanged'.
        :raise ValidationError: the session does not match the transaction.
        """
        mismatch = utils.session_mismatch(
            session,
            session_id=self.provider_reference,
            reference=self.reference,
            livemode=self.provider_id._paylink_is_live(),
            currency=self.currency_id.name,
            minor_amount=utils.to_stripe_minor_units(self.amount, self.currency_id.name),
        )
        if mismatch:
            _logger.warning(
                "Checkout Session of transaction %s does not match it (%s); nothing booked.",
                self.reference,
                mismatch,
            )
            if session.get("payment_status") == "paid" and self.state != "error":
                self._paylink_reject_taken_payment(mismatch)
            return "rejected"
        status = (session.get("status"), session.get("payment_status"))
        if status in const.CHECKOUT_STATUS_MAPPING["done"]:
            payment_intent = session.get("payment_intent")
            if isinstance(payment_intent, dict):
                payment_intent = payment_intent.get("id")
            if payment_intent and not self.komet_stripe_payment_intent:
                self.komet_stripe_payment_intent = payment_intent
            if self.state == "done" and self.is_post_processed:
                return "unchanged"
            self._paylink_book()
            return "done"
        if event_type == const.ASYNC_PAYMENT_FAILED_EVENT_TYPE:
            self._set_error(_("The customer's bank refused the payment."))
            return "error" if self.state == "error" else "unchanged"
        if status in const.CHECKOUT_STATUS_MAPPING["pending"]:
            self._set_pending(_("Waiting for the customer's bank to confirm the payment."))
            return "pending" if self.state == "pending" else "unchanged"
        if status in const.CHECKOUT_STATUS_MAPPING["cancel"]:
            self._set_canceled(_("The checkout expired before the customer paid."))
            return "cancel" if self.state == "cancel" else "unchanged"
        return "unchanged"

    def _paylink_book(self):
        """Book a payment Stripe took, once. Money that lands on a closed link is booked too:
        on its document while that is still open, else as the customer's credit (a draft or
        cancelled invoice is never posted by it). What exceeds the amount due stays the
        customer's credit, with a to-do for the cashiers."""
        link = self.komet_paylink_id
        documents = self._paylink_documents()
        # Open, and still the link's customer's: the money this payment is for.
        open_documents = documents.filtered(
            lambda document: not document._paylink_closed_reason(link)
        )
        due = link._paylink_amount_due(open_documents)
        if open_documents != documents:
            # Reconciled with what is still open only; Odoo would post a draft invoice.
            field = "invoice_ids" if documents._name == "account.move" else "sale_order_ids"
            self.write({field: [Command.set(open_documents.ids)]})
        if self.state != "done":
            # Even a session expired on our side may have been paid an instant before.
            self._set_done(extra_allowed_states=("cancel",))
        if open_documents and self.currency_id.compare_amounts(self.amount, due) >= 0:
            # Before Odoo reconciles, so that the reconciliation sees the link paid, not "paid
            # another way". A partial payment leaves the link payable for the rest.
            link._paylink_mark_paid()
        # Booked now, not by Odoo's post-processing cron: the invoice is reconciled when
        # Stripe's webhook is answered.
        if not self.is_post_processed:
            self._post_process()
        if self.currency_id.compare_amounts(self.amount, due) > 0:
            documents._paylink_notify_cashiers(
                _("Payment kept as customer credit: %(ref)s", ref=self.reference),
                _(
                    "%(amount)s was paid through a payment link for %(documents)s, which had "
                    "%(due)s left to pay. The difference is kept as the customer's credit on "
                    "payment %(payment)s: reconcile it with another invoice or refund it.",
                    amount=self.currency_id.format(self.amount),
                    documents=", ".join(documents.mapped("display_name")) or "-",
                    due=self.currency_id.format(due),
                    payment=self.payment_id.display_name or self.reference,
                ),
            )

    def _paylink_reject_taken_payment(self, mismatch):
        """Stripe took money for a session that does not match its transaction: nothing is
        booked, and a person must look."""
        self._set_error(
            _(
                "Stripe reports a payment that does not match this transaction (%(what)s).",
                what=mismatch,
            )
        )
        self._paylink_documents()._paylink_notify_cashiers(
            _("Payment refused by the checks: %(ref)s", ref=self.reference),
            _(
                "Stripe took a payment for %(ref)s (Checkout Session %(session)s) that does not "
                "match it: %(what)s. Nothing was booked. Check the payment in your Stripe "
                "Dashboard, then refund it there or record it by hand.",
                ref=self.reference,
                session=self.provider_reference,
                what=mismatch,
            ),
        )

    @api.model
    def _paylink_checkout_url(self, link, amount, documents):
        """Where `link` sends the customer to pay `amount` of `documents`: its open session for
        exactly that (see `_paylink_reuse_checkout`), or a new one.

        :raise UserError: the link expires too soon for a session, or online payment is off.
        """
        url = self._paylink_throttled_url(link, amount, documents)
        url = url or documents._paylink_open_checkouts()._paylink_reuse_checkout(
            amount, documents, reusable=link.sudo().transaction_ids
        )
        if url:
            return url
        expires_at = utils.checkout_expiry(
            utils.to_timestamp(fields.Datetime.now()), utils.to_timestamp(link.expires_at)
        )
        if expires_at is None:
            raise UserError(
                _("This payment link expires in less than 30 minutes: ask for a new one.")
            )
        # Stripe unreachable: forget the transaction, keep the customer's first open.
        with self.env.cr.savepoint():
            transaction = self._paylink_create_for_link(link, amount, documents)
            return transaction._paylink_open_checkout_session(expires_at)

    @api.model
    def _paylink_throttled_url(self, link, amount, documents):
        """Within `CHECKOUT_THROTTLE_SECONDS` of `link`'s last checkout, ask Stripe nothing:
        the URL of the session just opened for the same choice (False out of the window).

        :raise PaylinkRateLimited: another choice within the window.
        """
        since = fields.Datetime.now() - timedelta(seconds=const.CHECKOUT_THROTTLE_SECONDS)
        recent = link.sudo().transaction_ids.filtered(
            lambda tx: tx.state == "draft" and tx.create_date > since
        )
        if not recent:
            return False
        same = recent.filtered(
            lambda tx: (
                tx.komet_checkout_url
                and tx._paylink_documents() == documents
                and not tx.currency_id.compare_amounts(tx.amount, amount)
            )
        )[:1]
        if not same:
            raise PaylinkRateLimited(_("Please wait a few seconds before you try again."))
        return same.komet_checkout_url

    @api.model
    def _paylink_create_for_link(self, link, amount, documents):
        """A draft transaction of `link` for `amount` of `documents`, on the provider of the
        link's company."""
        provider = self.env["payment.provider"]._paylink_provider_for(link.company_id)
        if provider.state == "disabled":
            raise UserError(_("Online payment is not available at the moment. Please contact us."))
        field = "invoice_ids" if documents._name == "account.move" else "sale_order_ids"
        transactions = self.sudo()
        return transactions.create(
            {
                "provider_id": provider.id,
                "payment_method_id": self.env.ref("komet_paylink.payment_method_komet_checkout").id,
                # Several documents: a short reference of our own, within Stripe's limits.
                "reference": transactions._compute_reference(
                    provider.code,
                    prefix=utils.statement_reference_prefix(documents.mapped("name")),
                ),
                "amount": amount,
                "currency_id": link.currency_id.id,
                "partner_id": link.partner_id.id,
                "operation": "online_redirect",
                "komet_paylink_id": link.id,
                field: [Command.set(documents.ids)],
            }
        )

    def _paylink_checkout_params(self, expires_at):
        """The Checkout Session to ask Stripe for, in the customer's language: the amount is
        this transaction's (from the database), no link token is ever part of it, and the return
        page knows the attempt by its session or its transaction."""
        self.ensure_one()
        base_url = self.company_id.get_base_url()
        # What the customer and the Stripe Dashboard see: the documents' numbers.
        description = utils.shorten(", ".join(self._paylink_documents().mapped("name")))
        # For less than is due: which invoices are paid, and which keeps the rest.
        due = self.komet_paylink_id._paylink_amount_due(self.invoice_ids)
        note = self.invoice_ids._paylink_part_payment_note(self.amount, due)
        part_payment = {"description": utils.shorten(note)} if note else {}
        return {
            "mode": "payment",
            "client_reference_id": self.reference,
            "customer_email": self.partner_email or None,
            "expires_at": expires_at,
            "locale": utils.stripe_checkout_locale(self.partner_lang),
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": self.currency_id.name.lower(),
                        "unit_amount": utils.to_stripe_minor_units(
                            self.amount, self.currency_id.name
                        ),
                        "product_data": {"name": description, **part_payment},
                    },
                }
            ],
            "metadata": {"odoo_reference": self.reference},
            "payment_intent_data": {
                "description": description,
                "metadata": {"odoo_reference": self.reference},
            },
            "success_url": f"{base_url}{const.RETURN_ROUTE}?session_id={{CHECKOUT_SESSION_ID}}",
            "cancel_url": f"{base_url}{const.RETURN_ROUTE}?cancelled=1&attempt={self.id}",
        }

    def _paylink_open_checkout_session(self, expires_at):
        """Create the transaction's Checkout Session and return the URL to send the customer
        to."""
        self.ensure_one()
        session = self.provider_id._paylink_stripe_request(
            "checkout.sessions",
            "create",
            params=self._paylink_checkout_params(expires_at),
            # A fresh key per attempt: Stripe replays a failed answer to a key it has seen, and
            # a rolled-back attempt gives the next one the same transaction reference.
            idempotency_key=utils.idempotency_key(self.env.cr.dbname, self.reference),
        )
        url = self._paylink_checked_checkout_url(session)
        self.write({"provider_reference": session["id"], "komet_checkout_url": url})
        return url

    def _paylink_checked_checkout_url(self, session):
        """The URL of a Checkout Session Stripe just returned, where a live provider may send a
        customer only if it is Stripe Checkout's own."""
        url = session.get("url")
        if not url or (
            self.provider_id._paylink_is_live() and not utils.is_stripe_checkout_url(url)
        ):
            raise ValidationError(_("The payment service returned no usable checkout page."))
        return url

    def _paylink_reuse_checkout(self, amount, documents, reusable):
        """Among these open checkouts of `documents` (through any link), return the URL of the
        one for `amount` and exactly `documents` among `reusable` (the paying link's own), read
        back from Stripe (never a stored address), or False. Every other one is expired first,
        so that one live way to pay the same money is left.

        :raise PaylinkProcessing: a session is complete but its webhook has not come yet.
        :raise ValidationError: Stripe could not be reached, or refused to expire a session.
        """
        url = False
        now = utils.to_timestamp(fields.Datetime.now())
        for tx in self.sudo().filtered(lambda tx: tx.state == "draft" and tx.provider_reference):
            try:
                session = tx.provider_id._paylink_stripe_request(
                    "checkout.sessions", "retrieve", tx.provider_reference
                )
            except PaylinkSessionMissing:
                tx._set_canceled(_("Stripe does not know this Checkout Session any more."))
                continue
            if session.get("status") == "complete":
                raise PaylinkProcessing(
                    _("Your payment is being confirmed: you do not need to pay again.")
                )
            if (
                not url
                and tx in reusable
                and tx._paylink_documents() == documents
                and session.get("status") == "open"
                and session.get("amount_total")
                == utils.to_stripe_minor_units(amount, tx.currency_id.name)
                and (session.get("expires_at") or 0) > now + const.CHECKOUT_REUSE_MARGIN_SECONDS
            ):
                url = tx._paylink_checked_checkout_url(session)
                continue
            tx._paylink_expire_sessions()
            if tx.komet_expire_pending:
                # Stripe unreachable: the old session may still be open, so no second one.
                raise ValidationError(
                    _("The payment service could not be reached. Please try again in a moment.")
                )
        return url

    def _paylink_expire_sessions(self, keep_amount=None):
        """Expire the open Checkout Sessions of these transactions at Stripe, but for those of
        `keep_amount`. While Stripe cannot be reached, the scheduled action tries again."""
        for tx in self.sudo().filtered(lambda tx: tx.state == "draft" and tx.provider_reference):
            provider = tx.provider_id
            try:
                session = provider._paylink_stripe_request(
                    "checkout.sessions", "retrieve", tx.provider_reference
                )
                if keep_amount is not None and session.get(
                    "amount_total"
                ) == utils.to_stripe_minor_units(keep_amount, tx.currency_id.name):
                    continue
                if session.get("status") == "open":
                    session = provider._paylink_stripe_request(
                        "checkout.sessions",
                        "expire",
                        tx.provider_reference,
                        idempotency_key=payment_utils.generate_idempotency_key(
                            tx, scope="checkout.sessions.expire"
                        ),
                    )
            except PaylinkSessionMissing:
                # Made in another mode or account (demo, test, live): it can never be paid here.
                session = {"status": "expired"}
            except ValidationError:
                tx.komet_expire_pending = True
                continue
            if tx.komet_expire_pending:
                tx.komet_expire_pending = False
            if session.get("status") == "expired":
                tx._set_canceled(_("The Checkout Session was closed with its link."))

    # === BUSINESS METHODS - REFUNDS AND DISPUTES === #

    def _paylink_record_refunds(self, refunds):
        """Record the refunds Stripe lists for this payment: one refund transaction and payment
        each, made in Stripe's dashboard or from Odoo, however often the event is delivered.

        :return: 'refunded' or 'unchanged'.
        """
        self.ensure_one()
        refund_txs = self.child_transaction_ids.filtered(lambda tx: tx.operation == "refund")
        outcome = "unchanged"
        for refund in refunds:
            refund_tx = refund_txs.filtered(lambda tx, r=refund: tx.provider_reference == r["id"])
            if not refund_tx:
                if refund.get("status") in const.REFUND_STATUS_MAPPING["error"]:
                    continue
                amount = payment_utils.to_major_currency_units(
                    refund["amount"],
                    self.currency_id,
                    arbitrary_decimal_number=utils.stripe_decimals(self.currency_id.name),
                )
                refund_tx = self._create_child_transaction(amount, is_refund=True)
            notification_data = {"refund": refund}
            refund_tx._handle_notification_data(const.PROVIDER_CODE, notification_data)
            if notification_data["outcome"] != "unchanged":
                outcome = "refunded"
        return outcome

    def _paylink_apply_refund(self, refund):
        """Apply a Refund as Stripe reports it to this refund transaction; return 'done',
        'pending', 'error' or 'unchanged'."""
        self.ensure_one()
        self.provider_reference = refund.get("id")
        status = refund.get("status")
        if status in const.REFUND_STATUS_MAPPING["done"]:
            if self.state == "done":
                return "unchanged"
            self._set_done()
            self._post_process()
            self.source_transaction_id._paylink_documents()._paylink_log(
                _(
                    "Refund of %(amount)s recorded (Stripe refund %(refund)s).",
                    amount=self.currency_id.format(-self.amount),
                    refund=self.provider_reference,
                )
            )
            return "done"
        if status in const.REFUND_STATUS_MAPPING["pending"]:
            if self.state == "pending":
                return "unchanged"
            self._set_pending()
            return "pending" if self.state == "pending" else "unchanged"
        if self.state == "error":
            return "unchanged"
        self._set_error(
            _(
                "The refund did not go through. Check it in your Stripe Dashboard and address any "
                "accounting difference."
            ),
            extra_allowed_states=("done",),
        )
        return "error"

    def _paylink_record_dispute(self, dispute):
        """Tell the cashiers that the customer disputes this payment; return 'dispute'."""
        self.ensure_one()
        amount = payment_utils.to_major_currency_units(
            dispute.get("amount") or 0,
            self.currency_id,
            arbitrary_decimal_number=utils.stripe_decimals(self.currency_id.name),
        )
        self._paylink_documents()._paylink_notify_cashiers(
            _("Payment disputed: %(ref)s", ref=self.reference),
            _(
                "The customer disputed %(amount)s of payment %(ref)s at their bank (reason: "
                "%(reason)s). Answer the dispute %(dispute)s in your Stripe Dashboard before its "
                "deadline; Stripe has withheld the amount meanwhile.",
                amount=self.currency_id.format(amount),
                ref=self.reference,
                reason=dispute.get("reason") or _("not given"),
                dispute=dispute.get("id") or "",
            ),
        )
        return "dispute"

    def _paylink_documents(self):
        """The documents this transaction pays: its invoices, else its orders."""
        self.ensure_one()
        return (
            self.invoice_ids
            or self.sale_order_ids
            or self.komet_paylink_id._paylink_linked_documents()
        )
