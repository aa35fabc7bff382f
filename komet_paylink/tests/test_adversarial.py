"""Attacks on the payment links: each case asserts that nothing changed."""

import json
import logging
import secrets
import time
from unittest.mock import patch
from urllib.parse import quote

from odoo.sql_db import Cursor
from odoo.tests import HttpCase, tagged
from odoo.tests.common import JsonRpcException
from odoo.tools import mute_logger

from odoo.addons.komet_paylink import utils
from odoo.addons.komet_paylink.models.payment_transaction import PaymentTransaction

from .common import PaylinkStripeCommon
from .stripe_fake import event_payload, make_event, sign_payload


@tagged("post_install", "-at_install")
class TestAdversarial(PaylinkStripeCommon, HttpCase):
    def _state(self, link):
        link.invalidate_recordset()
        return (link.state, link.opened_at, link.expires_at, len(link.transaction_ids))

    def _post_without_page(self, path, session_page_token):
        page = self.url_open(f"/pay/{session_page_token}")
        return self._post_form(path, page)

    # === TOKENS === #

    def test_malformed_and_unknown_tokens_are_refused_identically(self):
        """Test that tokens of every wrong shape, an unknown well-formed one and a revoked one
        open nothing and get one same 404.

        One token of each shape is enough here: each shape takes one path (refused by
        `utils.is_well_formed_token` before any lookup, or a hash lookup that finds nothing),
        and a thousand more of a shape would repeat that path over HTTP at a second each. The
        fuzz of the check itself, on 10,000 random inputs, is in tests_fast/test_helpers.py,
        where it costs milliseconds."""
        link, token = self._send_link()
        before = self._state(link)
        changed = "B" if token[0] == "A" else "A"
        bad_tokens = (
            utils.generate_token(),  # right shape, never issued
            changed + token[1:],  # one character off a live token
            token[:-1],  # too short
            token + "A",  # too long
            token[:-1] + "!",  # a character outside the alphabet
            token[:-1] + "\u00e9",  # not ASCII
            secrets.token_hex(16),  # another alphabet and length
            utils.hash_token(token),  # the stored form of a live token
            "%2e%2e" + secrets.token_urlsafe(20),  # encoded path traversal
        )
        bodies = set()
        for bad in bad_tokens:
            with self.subTest(bad=bad):
                self.assertFalse(self.Paylink._paylink_find_by_token(bad))
                # Odoo's router may first redirect a path it normalises; where it lands is
                # the same.
                response = self.url_open(f"/pay/{quote(bad, safe='%')}")
                self.assertEqual(response.status_code, 404)
                bodies.add(response.text)
        revoked_link, revoked_token = self._send_link(self.other_sales_invoice)
        revoked_link.action_revoke()
        bodies.add(self.url_open(f"/pay/{revoked_token}").text)
        self.assertEqual(len(bodies), 1)
        self.assertEqual(self._state(link), before)

    def test_closed_tokens_cannot_pay(self):
        """Test that revoked, expired and paid links open no checkout."""
        page_link, page_token = self._send_link(self.other_sales_invoice)
        page = self.url_open(f"/pay/{page_token}")
        revoked, revoked_token = self._send_link()
        revoked.action_revoke()
        response = self._post_form(f"/pay/{revoked_token}/checkout", page)
        self.assertEqual(response.status_code, 404)
        self.assertFalse(revoked.transaction_ids)
        paid, paid_token = self._send_link()
        paid._paylink_mark_paid()
        response = self._post_form(f"/pay/{paid_token}/checkout", page)
        self.assertEqual(response.status_code, 200)
        self.assertNotIn('name="pay"', response.text)
        self.assertFalse(paid.transaction_ids)
        self.assertFalse(self.stripe.requests)
        self.assertEqual(page_link.state, "sent")

    def test_a_token_only_ever_pays_its_own_invoice(self):
        """Test that invoice A's token shows and charges A, whatever the request says of B."""
        __, token = self._send_link(self.invoice)
        page = self.url_open(f"/pay/{token}")
        self.assertIn(self.invoice.name, page.text)
        self.assertNotIn(self.other_sales_invoice.name, page.text)
        other = {
            "move_id": str(self.other_sales_invoice.id),
            "invoice_id": str(self.other_sales_invoice.id),
        }
        # Partial payments are off: an amount is refused, and nothing is asked of Stripe.
        refused = self._post_form(f"/pay/{token}/checkout", page, amount="420.00", **other)
        self.assertEqual(refused.status_code, 400)
        self.assertFalse(self.stripe.requests)
        self._post_form(f"/pay/{token}/checkout", page, **other)
        params = self.stripe.last_request("/v1/checkout/sessions")["params"]
        self.assertEqual(params["line_items"][0]["price_data"]["unit_amount"], "115000")
        self.assertIn(
            self.invoice.name, params["line_items"][0]["price_data"]["product_data"]["name"]
        )
        self.assertFalse(self.other_sales_invoice.transaction_ids)

    # === WEBHOOKS === #

    def _paid_event(self):
        link, __, __ = self._open_checkout()
        transaction = link.transaction_ids
        return (
            link,
            transaction,
            make_event("checkout.session.completed", self._pay_session(transaction)),
        )

    def assertUnbooked(self, link):
        self.assertNotEqual(link.state, "paid")
        self.assertFalse(link.transaction_ids.payment_id)
        self.assertEqual(self.invoice.payment_state, "not_paid")

    def _raw_delivery(self, payload, headers):
        return self.url_open("/komet_paylink/webhook/stripe", data=payload, headers=headers)

    def test_webhook_without_signature_header(self):
        """Test that an event with no Stripe-Signature header is refused."""
        link, __, event = self._paid_event()
        response = self._raw_delivery(event_payload(event), {"Content-Type": "application/json"})
        self.assertEqual(response.status_code, 400)
        self.assertUnbooked(link)

    def test_webhook_reserialised_body(self):
        """Test that a body re-serialised after signing no longer verifies."""
        link, __, event = self._paid_event()
        payload = event_payload(event)
        header = sign_payload(payload, self.webhook_secret)
        reserialised = json.dumps(json.loads(payload), indent=2).encode()
        response = self._raw_delivery(
            reserialised, {"Stripe-Signature": header, "Content-Type": "application/json"}
        )
        self.assertEqual(response.status_code, 400)
        self.assertUnbooked(link)

    def test_webhook_future_timestamp(self):
        """Test that a signature dated more than 300 seconds ahead is refused."""
        link, __, event = self._paid_event()
        response = self._deliver(event, timestamp=int(time.time()) + 400)
        self.assertEqual(response.status_code, 400)
        self.assertUnbooked(link)

    def test_webhook_unknown_reference(self):
        """Test that a well-signed event for a session we never opened changes nothing."""
        link, transaction, event = self._paid_event()
        event["data"]["object"]["id"] = "cs_test_not_ours"
        event["data"]["object"]["client_reference_id"] = "SOMEONE/ELSE"
        response = self._deliver(event)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.json()["outcome"], "ignored")
        self.assertUnbooked(link)

    def test_async_succeeded_before_completed(self):
        """Test that `async_payment_succeeded` arriving before `completed` books once."""
        link, transaction, completed = self._paid_event()
        session = self.stripe.sessions[transaction.provider_reference]
        self._deliver(make_event("checkout.session.async_payment_succeeded", session))
        self._deliver(completed)
        self.assertEqual(link.state, "paid")
        self.assertEqual(len(transaction.payment_id), 1)
        self.assertEqual(self.invoice.amount_residual, 0.0)

    @mute_logger("odoo.sql_db", "odoo.service.model")
    def test_serialization_failure_during_booking_is_retried(self):
        """Test that a PostgreSQL serialization conflict while booking is retried by Odoo and
        books exactly one payment."""
        link, transaction, event = self._paid_event()
        original_lock = PaymentTransaction._paylink_lock
        calls = []

        def conflicting_lock(self_tx):
            calls.append(1)
            if len(calls) == 1:
                # A real serialization failure, as a concurrent booking would raise.
                self_tx.env.cr.execute(
                    "DO $$ BEGIN RAISE EXCEPTION 'concurrent update'"
                    " USING ERRCODE = '40001'; END $$"
                )
            return original_lock(self_tx)

        with patch.object(PaymentTransaction, "_paylink_lock", conflicting_lock):
            response = self._deliver(event)
        self.assertEqual(response.status_code, 200)
        self.assertGreaterEqual(len(calls), 2)
        self.assertEqual(len(transaction.payment_id), 1)
        self.assertEqual(link.state, "paid")

    @mute_logger("odoo.sql_db")
    def test_delivery_during_another_booking_is_retried_later(self):
        """Test that a delivery finding the transaction locked by another booking is answered
        503 without waiting or booking, and that Stripe's next delivery books it once."""
        link, transaction, event = self._paid_event()
        original_execute = Cursor.execute

        def locked_elsewhere(cursor, query, *args, **kwargs):
            if "FOR UPDATE NOWAIT" in str(query):
                # What PostgreSQL answers while another delivery holds the row lock.
                query, args = (
                    "DO $$ BEGIN RAISE EXCEPTION 'row locked' USING ERRCODE = '55P03'; END $$",
                    (),
                )
            return original_execute(cursor, query, *args, **kwargs)

        with patch.object(Cursor, "execute", locked_elsewhere):
            response = self._deliver(event)
        self.assertEqual(response.status_code, 503)
        self.assertUnbooked(link)
        self.assertFalse(
            self.env["komet.paylink.event"].sudo().search([("stripe_event_id", "=", event["id"])])
        )

        response = self._deliver(event)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.json()["outcome"], "done")
        self.assertEqual(len(transaction.payment_id), 1)
        self.assertEqual(link.state, "paid")
        self.assertIn(self.invoice.payment_state, ("paid", "in_payment"))

        response = self._deliver(make_event("checkout.session.completed", event["data"]["object"]))
        self.assertEqual(response.json()["outcome"], "unchanged")
        self.assertEqual(len(transaction.payment_id), 1)

    # === ACCESS === #

    @mute_logger("odoo.http")
    def test_public_rpc_cannot_touch_links_or_secrets(self):
        """Test that anonymous JSON-RPC can neither send, revoke nor read links or secrets."""
        link, __ = self._send_link()
        calls = (
            ("komet.paylink", "create", [{"move_id": self.invoice.id}]),
            ("komet.paylink", "action_revoke", [[link.id]]),
            ("komet.paylink", "search_read", [[], ["state", "amount"]]),
            ("payment.provider", "read", [[self.provider.id], ["komet_stripe_secret_key"]]),
            ("res.config.settings", "create", [{"komet_paylink_stripe_secret_key": "sk_live_x"}]),
        )
        for model, method, args in calls:
            with self.subTest(model=model, method=method), self.assertRaises(JsonRpcException):
                self.make_jsonrpc_request(
                    f"/web/dataset/call_kw/{model}/{method}",
                    {"model": model, "method": method, "args": args, "kwargs": {}},
                )
        self.assertEqual(link.state, "sent")
        self.assertEqual(self.provider.sudo().komet_stripe_secret_key, self.secret_key)

    @mute_logger("odoo.http")
    def test_portal_and_role_users_cannot_read_the_secrets(self):
        """Test that a portal user and the role members cannot read the Stripe secrets."""
        for login in ("test_portal", "test_cashier", "test_admin", "test_plain"):
            self.authenticate(login, login)
            with self.subTest(login=login), self.assertRaises(JsonRpcException) as caught:
                self.make_jsonrpc_request(
                    "/web/dataset/call_kw/payment.provider/read",
                    {
                        "model": "payment.provider",
                        "method": "read",
                        "args": [[self.provider.id], ["komet_stripe_webhook_secret"]],
                        "kwargs": {},
                    },
                )
            self.assertEqual(str(caught.exception), "odoo.exceptions.AccessError")

    # === LEAKS === #

    def test_no_token_or_secret_reaches_the_logs(self):
        """Test that a whole flow, from sending to booking and renewal, logs no token or key."""
        records = []

        class Collect(logging.Handler):
            def emit(self, record):
                records.append(self.format(record))

        handler = Collect(level=logging.DEBUG)
        root = logging.getLogger()
        root.addHandler(handler)
        try:
            link, token, response = self._open_checkout()
            transaction = link.transaction_ids
            self.url_open(f"/pay/{token}")
            self.url_open(f"/pay/{token}/pdf")
            self.url_open(f"/pay/return?session_id={transaction.provider_reference}")
            event = make_event("checkout.session.completed", self._pay_session(transaction))
            self._deliver(event)
            self._deliver(event, secret="whsec_wrong")
        finally:
            root.removeHandler(handler)
        log = "\n".join(records)
        self.assertIn("/pay/***", log, "the request log was captured, masked")
        for secret in (token, self.secret_key, self.webhook_secret):
            self.assertNotIn(secret, log)
