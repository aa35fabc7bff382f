"""The money side of the Stripe fake: PaymentIntents, Charges, balance transactions and
payouts, in the shapes of Stripe's API reference (`balance_transaction`: amount, fee,
fee_details, net, exchange_rate, reporting_category, source, status, type; `payout`: amount,
arrival_date, automatic, balance_transaction, status...). Pure standard library; mixed into
`FakeStripeServer`, whose lock guards every method here.
"""

import copy
import secrets
import time


class FakeStripeMoneyMixin:
    # --- test controls --- #

    def set_refund(self, refund_id, **changes):
        """Change a stored refund, e.g. `status="failed"` for a bank debit refund that failed."""
        with self._lock:
            refund = self.refunds[refund_id]
            refund.update(changes)
            if changes.get("status") in ("failed", "canceled") and refund["balance_transaction"]:
                # Stripe gives the money back to the balance: a refund_failure transaction.
                self._new_balance_transaction(
                    refund["amount"],
                    refund["currency"],
                    "refund_failure",
                    "refund_failure",
                    refund_id,
                )
            return copy.deepcopy(refund)

    def charge_balance_transaction(self, payment_intent):
        """The balance transaction of the charge of `payment_intent` (made if need be)."""
        with self._lock:
            return copy.deepcopy(self._charge(payment_intent)["balance_transaction"])

    def add_fee(self, amount, currency="usd", description="Stripe fees"):
        """A fee Stripe takes from the balance on its own (e.g. a monthly fee)."""
        with self._lock:
            return copy.deepcopy(
                self._new_balance_transaction(
                    -amount, currency, "stripe_fee", "fee", None, description=description
                )
            )

    def add_dispute_withdrawal(self, payment_intent, amount, fee=1500):
        """A dispute that withdraws `amount` of a charge, and Stripe's dispute fee."""
        with self._lock:
            charge = self._charge(payment_intent)
            return copy.deepcopy(
                self._new_balance_transaction(
                    -amount,
                    charge["currency"],
                    "adjustment",
                    "dispute",
                    f"du_{secrets.token_hex(12)}",
                    fee=fee,
                    description=f"Chargeback withdrawal for {charge['id']}",
                )
            )

    def make_payout(self, balance_transaction_ids, currency="usd"):
        """Pay out these balance transactions, as an automatic payout: return the payout."""
        with self._lock:
            included = [self.balance_transactions[txn_id] for txn_id in balance_transaction_ids]
            amount = sum(txn["net"] for txn in included)
            payout_id = f"po_{secrets.token_hex(12)}"
            now = int(time.time())
            own = self._new_balance_transaction(-amount, currency, "payout", "payout", payout_id)
            payout = {
                "id": payout_id,
                "object": "payout",
                "amount": amount,
                "arrival_date": now,
                "automatic": True,
                "balance_transaction": own["id"],
                "created": now,
                "currency": currency,
                "description": "STRIPE PAYOUT",
                "destination": "ba_fake_bank_account",
                "failure_balance_transaction": None,
                "failure_code": None,
                "failure_message": None,
                "livemode": False,
                "metadata": {},
                "method": "standard",
                "source_type": "card",
                "statement_descriptor": None,
                "status": "paid",
                "type": "bank_account",
            }
            self.payouts[payout_id] = payout
            for txn in [*included, own]:
                txn["_payout"] = payout_id
            return copy.deepcopy(payout)

    # --- PaymentIntents, Charges, balance transactions --- #

    def _paid_session(self, payment_intent):
        for session in self.sessions.values():
            if session.get("payment_intent") == payment_intent:
                return session
        raise self._missing(f"No such payment_intent: '{payment_intent}'", "intent")

    def _charge(self, payment_intent):
        session = self._paid_session(payment_intent)
        charge_id = f"ch_{payment_intent}"
        txn = next(
            (txn for txn in self.balance_transactions.values() if txn["source"] == charge_id),
            None,
        )
        amount = session["amount_total"]
        if txn is None:
            fee = int(self.fee_fixed + round(amount * self.fee_percent / 100))
            txn = self._new_balance_transaction(
                amount,
                session["currency"],
                "charge",
                "charge",
                charge_id,
                fee=fee,
                description=session["metadata"].get("odoo_reference"),
            )
        refunded = sum(
            refund["amount"]
            for refund in self.refunds.values()
            if refund["payment_intent"] == payment_intent and refund["status"] == "succeeded"
        )
        return {
            "id": charge_id,
            "object": "charge",
            "amount": amount,
            "amount_captured": amount,
            "amount_refunded": refunded,
            "balance_transaction": self._public_txn(txn),
            "captured": True,
            "created": session["created"],
            "currency": session["currency"],
            "livemode": session["livemode"],
            "metadata": dict(self._intent_metadata.get(session["id"]) or {}),
            "paid": session["payment_status"] == "paid",
            "payment_intent": payment_intent,
            "refunded": refunded >= amount,
            "status": "succeeded" if session["payment_status"] == "paid" else "pending",
        }

    def _get_intent(self, payment_intent, expand):
        session = self._paid_session(payment_intent)
        paid = session["payment_status"] == "paid"
        charge = self._charge(payment_intent) if paid else None
        if charge and "latest_charge.balance_transaction" not in expand:
            charge["balance_transaction"] = charge["balance_transaction"]["id"]
        latest_charge = (
            charge
            if charge and any(item.startswith("latest_charge") for item in expand)
            else (charge and charge["id"])
        )
        return copy.deepcopy(
            {
                "id": payment_intent,
                "object": "payment_intent",
                "amount": session["amount_total"],
                "amount_received": session["amount_total"] if paid else 0,
                "currency": session["currency"],
                "created": session["created"],
                "latest_charge": latest_charge,
                "livemode": session["livemode"],
                "metadata": dict(self._intent_metadata.get(session["id"]) or {}),
                "status": "succeeded" if paid else "processing",
            }
        )

    def _new_balance_transaction(
        self, amount, currency, txn_type, category, source, fee=0, description=None
    ):
        now = int(time.time())
        txn = {
            "id": f"txn_{secrets.token_hex(12)}",
            "object": "balance_transaction",
            "amount": amount,
            "available_on": now + 2 * 24 * 3600,
            "created": now,
            "currency": currency,
            "description": description,
            "exchange_rate": None,
            "fee": fee,
            "fee_details": [
                {
                    "amount": fee,
                    "application": None,
                    "currency": currency,
                    "description": "Stripe processing fees",
                    "type": "stripe_fee",
                }
            ]
            if fee
            else [],
            "net": amount - fee,
            "reporting_category": category,
            "source": source,
            "status": "pending",
            "type": txn_type,
            "_payout": None,
        }
        self.balance_transactions[txn["id"]] = txn
        return txn

    def _list_balance_transactions(self, params):
        payout = params.get("payout")
        expand = params.get("expand") or []
        data = [
            self._public_txn(txn, "data.source" in expand)
            for txn in self.balance_transactions.values()
            if not payout or txn["_payout"] == payout
        ]
        data = data[::-1]
        starting_after = params.get("starting_after")
        if starting_after:
            ids = [txn["id"] for txn in data]
            data = data[ids.index(starting_after) + 1 :] if starting_after in ids else []
        limit = int(params.get("limit") or 10)
        return {
            "object": "list",
            "data": copy.deepcopy(data[:limit]),
            "has_more": len(data) > limit,
            "url": "/v1/balance_transactions",
        }

    def _public_txn(self, txn, expand_source=False):
        """A balance transaction as Stripe shows it; its source expanded when asked."""
        public = {key: value for key, value in txn.items() if not key.startswith("_")}
        source = public["source"]
        if expand_source and source:
            if source.startswith("ch_"):
                charge = self._charge(source[len("ch_") :])
                charge["balance_transaction"] = charge["balance_transaction"]["id"]
                public["source"] = charge
            elif source in self.refunds:
                public["source"] = copy.deepcopy(self.refunds[source])
        return public

    def _new_refund(self, payment_intent, amount, status, metadata):
        refund = {
            "id": f"re_{secrets.token_hex(12)}",
            "object": "refund",
            "amount": amount,
            "payment_intent": payment_intent,
            "charge": f"ch_{payment_intent}",
            "metadata": dict(metadata),
            "status": status,
            "created": int(time.time()),
            "currency": None,
            "balance_transaction": None,
        }
        session = next(
            (s for s in self.sessions.values() if s.get("payment_intent") == payment_intent), None
        )
        if session is not None:
            refund["currency"] = session["currency"]
            if status in ("succeeded", "pending"):
                # Stripe debits the balance when the refund is made, pending or not.
                refund["balance_transaction"] = self._new_balance_transaction(
                    -amount, session["currency"], "refund", "refund", refund["id"]
                )["id"]
        self.refunds[refund["id"]] = refund
        return refund
