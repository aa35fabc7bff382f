import logging

import psycopg2

from odoo import _, api, fields, models
from odoo.exceptions import ValidationError

from .. import const, utils
from .komet_paylink_event import PaylinkRetryLater

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
    komet_checkout_url = fields.Char(string="Checkout URL", readonly=True, copy=False)
    komet_checkout_expires_at = fields.Datetime(
        string="Checkout Expires On", readonly=True, copy=False
    )

    # === BUSINESS METHODS === #

    def _paylink_lock(self):
        """Lock the transaction row so that two deliveries never book it at once.

        A delivery that finds the row locked does not wait on it, holding a database connection
        while the other one books: it is answered 503 and Stripe delivers it again later. A
        delivery that started before the other one committed gets a serialization failure,
        which Odoo retries; neither is an error worth logging.

        :raise PaylinkRetryLater: another delivery is booking this transaction.
        """
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

    def _paylink_session_mismatch(self, session):
        """Return why a Checkout Session read back from Stripe does not match this
        transaction, or False when it does."""
        self.ensure_one()
        currency_code = self.currency_id.name
        test_mode = utils.is_test_mode_key(
            self.company_id.sudo().komet_paylink_stripe_secret_key or ""
        )
        if self.provider_id._paylink_is_demo():
            test_mode = True
        checks = (
            (session.get("id") == self.provider_reference, "session id"),
            (session.get("client_reference_id") == self.reference, "reference"),
            (bool(session.get("livemode")) != test_mode, "mode"),
            ((session.get("currency") or "").upper() == currency_code, "currency"),
            (
                session.get("amount_total")
                == utils.to_stripe_minor_units(self.amount, currency_code),
                "amount",
            ),
        )
        wrong = [name for ok, name in checks if not ok]
        return ", ".join(wrong) if wrong else False

    def _paylink_apply_checkout_session(self, session, event_type):
        """Bring the transaction, the payment and the link in line with the Checkout Session as
        Stripe reports it now. Idempotent: whatever the order or number of events, a paid
        session books one payment.

        :return: what was done, for the event log: 'done', 'pending', 'error', 'cancel',
                 'rejected' or 'unchanged'.
        """
        self.ensure_one()
        self._paylink_lock()
        mismatch = self._paylink_session_mismatch(session)
        if mismatch:
            _logger.warning(
                "Checkout Session of transaction %s does not match it (%s); nothing booked.",
                self.reference,
                mismatch,
            )
            return "rejected"
        status, payment_status = session.get("status"), session.get("payment_status")
        if status == "complete" and payment_status in ("paid", "no_payment_required"):
            booked = self.state != "done" or not self.is_post_processed
            if self.state != "done":
                self._set_done()
            if not self.is_post_processed:
                self._post_process()
            self.komet_paylink_id._paylink_mark_paid()
            return "done" if booked else "unchanged"
        if event_type == "checkout.session.async_payment_failed":
            self._set_error(_("The customer's bank refused the payment."))
            return "error" if self.state == "error" else "unchanged"
        if status == "complete":
            self._set_pending(_("Waiting for the customer's bank to confirm the payment."))
            return "pending" if self.state == "pending" else "unchanged"
        if status == "expired":
            self._set_canceled(_("The checkout expired before the customer paid."))
            return "cancel" if self.state == "cancel" else "unchanged"
        return "unchanged"

    def _paylink_checkout_params(self, link, expires_at):
        """The Checkout Session to ask Stripe for: the amount comes from this transaction,
        which took it from the database, and no link token is ever part of it."""
        self.ensure_one()
        base_url = link.company_id.get_base_url()
        document = link._paylink_document()
        return {
            "mode": "payment",
            "client_reference_id": self.reference,
            "customer_email": self.partner_email or None,
            "expires_at": expires_at,
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": self.currency_id.name.lower(),
                        "unit_amount": utils.to_stripe_minor_units(
                            self.amount, self.currency_id.name
                        ),
                        "product_data": {"name": document.name},
                    },
                }
            ],
            "metadata": {"odoo_reference": self.reference},
            "payment_intent_data": {
                "description": document.name,
                "metadata": {"odoo_reference": self.reference},
            },
            "success_url": f"{base_url}{const.RETURN_ROUTE}?session_id={{CHECKOUT_SESSION_ID}}",
            "cancel_url": f"{base_url}{const.RETURN_ROUTE}?cancelled=1",
        }

    def _paylink_open_checkout_session(self, link, expires_at):
        """Create the transaction's Checkout Session (or its simulated twin in demo mode) and
        return the URL to send the customer to."""
        self.ensure_one()
        if self.provider_id._paylink_is_demo():
            session = {"id": utils.generate_demo_session_id(), "url": None}
        else:
            params = self._paylink_checkout_params(link, expires_at)
            session = link.company_id._paylink_stripe_request(
                "create_checkout_session",
                params=params,
                idempotency_key=utils.idempotency_key(self.env.cr.dbname, self.reference),
            )
        url = (
            session["url"]
            or f"{link.company_id.get_base_url()}{const.DEMO_CHECKOUT_ROUTE}/{session['id']}"
        )
        self.write(
            {
                "provider_reference": session["id"],
                "komet_checkout_url": url,
                "komet_checkout_expires_at": fields.Datetime.to_datetime(
                    utils.utc_from_timestamp(expires_at)
                ),
            }
        )
        return url

    def _paylink_demo_session(self, paid):
        """The Checkout Session that demo mode simulates: what Stripe would report."""
        self.ensure_one()
        if not self.provider_id._paylink_is_demo():
            raise ValidationError(_("Demo mode is off."))
        return {
            "id": self.provider_reference,
            "client_reference_id": self.reference,
            "livemode": False,
            "currency": self.currency_id.name.lower(),
            "amount_total": utils.to_stripe_minor_units(self.amount, self.currency_id.name),
            "status": "complete" if paid else "expired",
            "payment_status": "paid" if paid else "unpaid",
        }

    @api.model
    def _paylink_demo_find(self, session_id):
        """The demo transaction a simulated checkout page serves, only while demo mode is on."""
        if not self.env["payment.provider"]._paylink_is_demo() or not session_id.startswith(
            "cs_demo_"
        ):
            return self.browse()
        return self.sudo().search(
            [("provider_code", "=", const.PROVIDER_CODE), ("provider_reference", "=", session_id)],
            limit=1,
        )

    def _paylink_demo_pay(self):
        """Simulate a paid checkout through the webhook's own booking path."""
        self.ensure_one()
        return self._paylink_apply_checkout_session(
            self._paylink_demo_session(paid=True), "checkout.session.completed"
        )
