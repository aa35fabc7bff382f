"""A small fake of the Stripe API for the komet_paylink tests: pure standard library, no Odoo.

`FakeStripeServer` answers the Checkout Session calls the addon makes through the official SDK
(`stripe.StripeClient(key, base_addresses={"api": fake.base_url})`) on 127.0.0.1, which the
Odoo test framework lets through while it blocks every other outgoing request. It records each
request, keeps the sessions it created, honours idempotency keys as Stripe does, and can be told
to fail. `sign_payload`, `make_event` and `event_payload` build webhook deliveries that
`stripe.Webhook.construct_event` accepts.

    with FakeStripeServer() as fake:
        ...  # point the addon at fake.base_url, create a session
        fake.set_session(session_id, status="complete", payment_status="paid")
        payload = event_payload(make_event("checkout.session.completed", fake.sessions[sid]))
        header = sign_payload(payload, "whsec_test")
"""

import copy
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote, urlsplit

try:
    from .stripe_fake_money import FakeStripeMoneyMixin
except ImportError:  # imported by its path, outside Odoo (bench/driver.py)
    from stripe_fake_money import FakeStripeMoneyMixin

API_VERSION = "2024-06-20"
SESSIONS_PATH = "/v1/checkout/sessions"
REFUNDS_PATH = "/v1/refunds"
BALANCE_TRANSACTIONS_PATH = "/v1/balance_transactions"

# Stripe's bounds on a Checkout Session's `expires_at`, measured from its creation; the fake
# allows a little slack for the time the request takes to arrive.
MIN_SESSION_LIFETIME = 30 * 60
MAX_SESSION_LIFETIME = 24 * 60 * 60
EXPIRES_AT_SLACK = 10

# The `locale` values Stripe accepts for a Checkout Session (its API reference); anything else
# is refused with a 400, as Stripe does. Kept here apart from the addon's list on purpose.
CHECKOUT_LOCALES = frozenset(
    (
        "auto bg cs da de el en en-GB es es-419 et fi fil fr fr-CA hi-IN hr hu id it ja ko lt lv "
        "ms mt nb nl pl pt pt-BR ro ru sk sl sv th tr vi zh zh-HK zh-TW"
    ).split()
)

_KEY_PATTERN = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_BRACKETS = re.compile(r"\[([^\[\]]*)\]")
_SESSION_PATH = re.compile(r"^/v1/checkout/sessions/([^/]+)(/expire)?$")
_INTENT_PATH = re.compile(r"^/v1/payment_intents/([^/]+)$")
_PAYOUT_PATH = re.compile(r"^/v1/payouts/([^/]+)$")


# === ENCODING === #


def decode_form(pairs):
    """Decode Stripe's form encoding into nested dicts and lists; values stay strings.

    `line_items[0][price_data][unit_amount]=115000` becomes
    `{"line_items": [{"price_data": {"unit_amount": "115000"}}]}`. A level whose keys are
    exactly 0..n-1 becomes a list; `a[]=x` appends to `a`.

    :param pairs: a query string / form body (str or bytes), or a list of (key, value) pairs.
    """
    if isinstance(pairs, bytes):
        pairs = pairs.decode("utf-8")
    if isinstance(pairs, str):
        pairs = parse_qsl(pairs, keep_blank_values=True)
    root = {}
    for key, value in pairs:
        match = _KEY_PATTERN.match(key)
        path = [match.group(1), *_BRACKETS.findall(match.group(2))] if match else [key]
        node = root
        for index, part in enumerate(path):
            if part == "":
                part = str(len(node))
            if index == len(path) - 1:
                node[part] = value
            else:
                child = node.get(part)
                if not isinstance(child, dict):
                    child = node[part] = {}
                node = child
    return _listify(root)


def _listify(node):
    if not isinstance(node, dict):
        return node
    items = {key: _listify(value) for key, value in node.items()}
    if items and set(items) == {str(i) for i in range(len(items))}:
        return [items[str(i)] for i in range(len(items))]
    return items


def sign_payload(payload, secret, timestamp=None):
    """The `Stripe-Signature` header Stripe sends with `payload` signed by `secret`."""
    if isinstance(payload, (bytes, bytearray)):
        payload = bytes(payload).decode("utf-8")
    timestamp = int(time.time()) if timestamp is None else int(timestamp)
    signature = hmac.new(
        secret.encode("utf-8"), f"{timestamp}.{payload}".encode(), hashlib.sha256
    ).hexdigest()
    return f"t={timestamp},v1={signature}"


def make_event(event_type, session, event_id=None, livemode=None, created=None):
    """A Stripe Event (snapshot payload) carrying a copy of `session`."""
    return {
        "id": event_id or f"evt_{secrets.token_hex(12)}",
        "object": "event",
        "type": event_type,
        "livemode": bool(session.get("livemode")) if livemode is None else livemode,
        "created": created or int(time.time()),
        "api_version": API_VERSION,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "data": {"object": copy.deepcopy(session)},
    }


def event_payload(event):
    """The body Stripe posts for `event`: compact JSON, UTF-8."""
    return json.dumps(event, separators=(",", ":")).encode("utf-8")


def error_body(error_type, message, code=None, param=None):
    """An error response body in Stripe's shape."""
    error = {"type": error_type, "message": message}
    if code:
        error["code"] = code
    if param:
        error["param"] = param
    return {"error": error}


class StripeFakeError(Exception):
    """An error response of the fake: HTTP status and Stripe-shaped body."""

    def __init__(self, status, error_type, message, code=None, param=None):
        super().__init__(message)
        self.status = status
        self.body = error_body(error_type, message, code=code, param=param)


def _invalid(message, param=None, code="parameter_invalid"):
    return StripeFakeError(400, "invalid_request_error", message, code=code, param=param)


# === SERVER === #


class _Handler(BaseHTTPRequestHandler):
    server_version = "FakeStripe/1.0"

    def do_GET(self):
        self._dispatch()

    def do_POST(self):
        self._dispatch()

    def do_DELETE(self):
        self._dispatch()

    def _dispatch(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, payload, headers = self.server.fake._handle(
            self.command, self.path, self.headers, body
        )
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        """Keep the test output clean: no request log on stderr."""


class FakeStripeServer(FakeStripeMoneyMixin):
    """A fake Stripe API on 127.0.0.1 (random port), served from a daemon thread.

    Attributes the tests read: `base_url`, `requests` (each a dict with method, path, query,
    headers with lowercased names, params, body), `sessions` (id -> session dict), `refunds`
    (id -> refund dict), `balance_transactions` (id -> balance transaction), `payouts`.
    Set `strict = False` to skip the parameter checks Stripe makes on session creation.

    A paid session's PaymentIntent, its Charge and the Charge's balance transaction are made
    when first asked for, in the shapes of Stripe's API reference; the fee Stripe takes is
    `fee_fixed` minor units plus `fee_percent` of the amount (none by default).
    """

    def __init__(self, strict=True):
        self.strict = strict
        self.requests = []
        self.sessions = {}
        self.refunds = {}
        self.balance_transactions = {}
        self.payouts = {}
        self.fee_fixed = 0
        self.fee_percent = 0
        self._intent_metadata = {}
        self._idempotency = {}
        self._failures = []
        self._lock = threading.RLock()
        self._httpd = None
        self._thread = None
        self.base_url = None

    # --- lifecycle --- #

    def start(self):
        if self._httpd is None:
            self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
            self._httpd.daemon_threads = True
            self._httpd.fake = self
            host, port = self._httpd.server_address[:2]
            self.base_url = f"http://{host}:{port}"
            self._thread = threading.Thread(
                target=self._httpd.serve_forever, name="fake-stripe", daemon=True
            )
            self._thread.start()
        return self

    def stop(self):
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(timeout=5)
            self._httpd = self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    # --- test controls --- #

    def reset(self):
        """Forget every request, session, idempotency key and pending failure."""
        with self._lock:
            self.requests.clear()
            self.sessions.clear()
            self.refunds.clear()
            self.balance_transactions.clear()
            self.payouts.clear()
            self._intent_metadata.clear()
            self.fee_fixed = self.fee_percent = 0
            self._idempotency.clear()
            self._failures.clear()

    def set_session(self, session_id, **changes):
        """Change a stored session, e.g. `status="complete", payment_status="paid"`."""
        with self._lock:
            session = self.sessions[session_id]
            session.update(changes)
            return copy.deepcopy(session)

    def add_refund(self, payment_intent, amount, status="succeeded"):
        """Refund a payment as from Stripe's dashboard; return the refund."""
        with self._lock:
            refund = self._new_refund(payment_intent, amount, status, {})
            return copy.deepcopy(refund)

    def last_request(self, path_prefix=None):
        """The latest request recorded, or the latest whose path starts with `path_prefix`."""
        with self._lock:
            for request in reversed(self.requests):
                if path_prefix is None or request["path"].startswith(path_prefix):
                    return request
        return None

    def fail_next(
        self, status=500, count=1, error_type="api_error", message=None, should_retry=None
    ):
        """Answer the next `count` requests (any path) with `status` and a Stripe error body.

        The SDK retries a 5xx or 409 up to `max_network_retries` times (0.5 s apart or more),
        unless the response says otherwise: `should_retry=False` sends
        `Stripe-Should-Retry: false`, as Stripe does on most 500s.
        """
        headers = {}
        if should_retry is not None:
            headers["Stripe-Should-Retry"] = "true" if should_retry else "false"
        failure = StripeFakeError(
            status, error_type, message or "An unknown error occurred (simulated by the fake)."
        )
        with self._lock:
            self._failures.extend([(failure, headers)] * count)

    # --- request handling --- #

    def _handle(self, method, raw_path, raw_headers, body):
        url = urlsplit(raw_path)
        headers = {name.lower(): value for name, value in raw_headers.items()}
        body_text = body.decode("utf-8", errors="replace")
        query = decode_form(url.query)
        params = decode_form(body_text) if method == "POST" else query
        record = {
            "method": method,
            "path": url.path,
            "query": query,
            "headers": headers,
            "params": params,
            "body": body_text,
        }
        response_headers = {"Request-Id": f"req_{secrets.token_hex(7)}"}
        idempotency_key = headers.get("idempotency-key")
        if idempotency_key:
            response_headers["Idempotency-Key"] = idempotency_key
        with self._lock:
            self.requests.append(record)
            try:
                if self._failures:
                    failure, extra_headers = self._failures.pop(0)
                    response_headers.update(extra_headers)
                    raise failure
                api_key = self._authenticate(headers)
                status, payload = self._route(
                    method, url.path, params, api_key, idempotency_key, response_headers
                )
            except StripeFakeError as error:
                status, payload = error.status, error.body
        return status, payload, response_headers

    def _authenticate(self, headers):
        authorization = headers.get("authorization", "")
        scheme, _sep, api_key = authorization.partition(" ")
        api_key = api_key.strip()
        if scheme.lower() != "bearer" or not api_key or api_key == "None":
            raise StripeFakeError(
                401,
                "invalid_request_error",
                "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                "YOUR_SECRET_KEY').",
            )
        if api_key.startswith("pk_"):
            raise StripeFakeError(
                401,
                "invalid_request_error",
                "This API call cannot be made with a publishable API key. Please use a secret "
                "API key.",
            )
        return api_key

    def _route(self, method, path, params, api_key, idempotency_key, response_headers):
        if path.rstrip("/") == SESSIONS_PATH and method == "POST":
            return self._create_session(params, api_key, idempotency_key, response_headers)
        match = _SESSION_PATH.match(path)
        if match and method == "GET" and not match.group(2):
            return 200, copy.deepcopy(self._get_session(unquote(match.group(1))))
        if match and method == "POST" and match.group(2):
            return 200, self._expire_session(unquote(match.group(1)))
        if path.rstrip("/") == REFUNDS_PATH and method == "POST":
            return self._create_refund(params, api_key, idempotency_key, response_headers)
        if path.rstrip("/") == REFUNDS_PATH and method == "GET":
            refunds = [
                copy.deepcopy(refund)
                for refund in self.refunds.values()
                if refund["payment_intent"] == params.get("payment_intent")
            ]
            return 200, {"object": "list", "data": refunds[::-1], "has_more": False}
        match = _INTENT_PATH.match(path)
        if match and method == "GET":
            return 200, self._get_intent(unquote(match.group(1)), params.get("expand") or [])
        match = _PAYOUT_PATH.match(path)
        if match and method == "GET":
            payout = self.payouts.get(unquote(match.group(1)))
            if payout is None:
                raise self._missing(f"No such payout: '{match.group(1)}'", "id")
            return 200, copy.deepcopy(payout)
        if path.rstrip("/") == BALANCE_TRANSACTIONS_PATH and method == "GET":
            return 200, self._list_balance_transactions(params)
        raise StripeFakeError(
            404,
            "invalid_request_error",
            f"Unrecognized request URL ({method}: {path}). (The Stripe fake only knows "
            "Checkout Sessions and Refunds.)",
        )

    def _missing(self, message, param):
        return StripeFakeError(
            404, "invalid_request_error", message, code="resource_missing", param=param
        )

    def _get_session(self, session_id):
        session = self.sessions.get(session_id)
        if session is None:
            raise StripeFakeError(
                404,
                "invalid_request_error",
                f"No such checkout.session: '{session_id}'",
                code="resource_missing",
                param="session",
            )
        return session

    def _expire_session(self, session_id):
        session = self._get_session(session_id)
        if session["status"] != "open":
            raise _invalid(
                f"This Checkout Session ({session_id}) is not in an expirable state: its "
                f"status is {session['status']}.",
                code="checkout_session_not_expirable",
            )
        session.update(status="expired", url=None)
        return copy.deepcopy(session)

    def _create_refund(self, params, api_key, idempotency_key, response_headers):
        scope = (api_key, idempotency_key)
        if idempotency_key and scope in self._idempotency:
            response_headers["Idempotent-Replayed"] = "true"
            return 200, copy.deepcopy(self.refunds[self._idempotency[scope][1]])
        payment_intent = params.get("payment_intent")
        paid = [
            session
            for session in self.sessions.values()
            if session.get("payment_intent") == payment_intent
            and session.get("payment_status") == "paid"
        ]
        if not payment_intent or not paid:
            raise _invalid(f"No such payment_intent: '{payment_intent}'", "payment_intent")
        _check_integer(params.get("amount"), "amount")
        amount = int(params["amount"])
        refunded = sum(
            refund["amount"]
            for refund in self.refunds.values()
            if refund["payment_intent"] == payment_intent and refund["status"] != "failed"
        )
        if amount <= 0 or amount + refunded > paid[0]["amount_total"]:
            raise _invalid(
                f"Refund amount ({amount}) is greater than the unrefunded amount on the charge.",
                "amount",
                code="amount_too_large",
            )
        refund = self._new_refund(payment_intent, amount, "succeeded", params.get("metadata") or {})
        if idempotency_key:
            self._idempotency[scope] = (copy.deepcopy(params), refund["id"])
        return 200, copy.deepcopy(refund)

    def _create_session(self, params, api_key, idempotency_key, response_headers):
        scope = (api_key, idempotency_key)
        if idempotency_key and scope in self._idempotency:
            first_params, session_id = self._idempotency[scope]
            if first_params != params:
                raise StripeFakeError(
                    400,
                    "idempotency_error",
                    "Keys for idempotent requests can only be used with the same parameters "
                    "they were first used with. Try using a key other than "
                    f"'{idempotency_key}' if you meant to execute a different request.",
                )
            response_headers["Idempotent-Replayed"] = "true"
            return 200, copy.deepcopy(self.sessions[session_id])
        livemode = api_key.startswith(("sk_live_", "rk_live_"))
        now = int(time.time())
        if self.strict:
            self._check_session_params(params, now)
        line_items = params.get("line_items") or []
        amount = sum(_line_item_amount(item) for item in line_items if isinstance(item, dict))
        currency = params.get("currency") or next(
            (
                item["price_data"].get("currency")
                for item in line_items
                if isinstance(item, dict) and isinstance(item.get("price_data"), dict)
            ),
            None,
        )
        session_id = f"cs_{'live' if livemode else 'test'}_{secrets.token_hex(12)}"
        expires_at = params.get("expires_at")
        session = {
            "id": session_id,
            "object": "checkout.session",
            "url": f"https://checkout.stripe.test/c/pay/{session_id}",
            "amount_subtotal": amount,
            "amount_total": amount,
            "currency": currency.lower() if currency else None,
            "client_reference_id": params.get("client_reference_id"),
            "customer": None,
            "customer_email": params.get("customer_email"),
            "metadata": dict(params.get("metadata") or {}),
            "mode": params.get("mode"),
            "created": now,
            "expires_at": int(expires_at) if expires_at else now + MAX_SESSION_LIFETIME,
            "livemode": livemode,
            "status": "open",
            "payment_status": "unpaid",
            "payment_intent": None,
            "payment_method_types": list(params.get("payment_method_types") or ["card"]),
            "success_url": params.get("success_url"),
            "cancel_url": params.get("cancel_url"),
            "ui_mode": params.get("ui_mode") or "hosted",
        }
        self.sessions[session_id] = session
        intent_data = params.get("payment_intent_data")
        if isinstance(intent_data, dict):
            self._intent_metadata[session_id] = dict(intent_data.get("metadata") or {})
        if idempotency_key:
            self._idempotency[scope] = (copy.deepcopy(params), session_id)
        return 200, copy.deepcopy(session)

    def _check_session_params(self, params, now):
        """The checks Stripe makes that the addon could plausibly fail."""
        mode = params.get("mode")
        if mode not in (None, "payment", "setup", "subscription"):
            raise _invalid("Invalid mode: must be one of payment, setup, or subscription", "mode")
        locale = params.get("locale")
        if locale is not None and locale not in CHECKOUT_LOCALES:
            raise _invalid(
                f"Invalid locale: must be one of {', '.join(sorted(CHECKOUT_LOCALES))}", "locale"
            )
        line_items = params.get("line_items")
        if mode in (None, "payment") and not line_items:
            raise _invalid("You must provide at least one line item.", "line_items")
        if line_items and not isinstance(line_items, list):
            raise _invalid("Invalid array", "line_items")
        for index, item in enumerate(line_items or []):
            prefix = f"line_items[{index}]"
            if not isinstance(item, dict):
                raise _invalid("Invalid object", prefix)
            _check_integer(item.get("quantity", "1"), f"{prefix}[quantity]")
            price_data = item.get("price_data")
            if isinstance(price_data, dict):
                _check_integer(price_data.get("unit_amount"), f"{prefix}[price_data][unit_amount]")
                product = price_data.get("product_data")
                if isinstance(product, dict) and not product.get("name"):
                    param = f"{prefix}[price_data][product_data][name]"
                    raise _invalid(f"Missing required param: {param}.", param)
                currency = price_data.get("currency") or ""
                if not re.fullmatch(r"[A-Za-z]{3}", currency):
                    raise _invalid(
                        f"Invalid currency: {currency}", f"{prefix}[price_data][currency]"
                    )
            elif not item.get("price"):
                raise _invalid("You must specify either `price` or `price_data`.", prefix)
        expires_at = params.get("expires_at")
        if expires_at is not None:
            _check_integer(expires_at, "expires_at")
            lifetime = int(expires_at) - now
            if lifetime < MIN_SESSION_LIFETIME - EXPIRES_AT_SLACK:
                raise _invalid(
                    "The `expires_at` timestamp must be at least 30 minutes from Checkout "
                    "Session creation.",
                    "expires_at",
                )
            if lifetime > MAX_SESSION_LIFETIME + EXPIRES_AT_SLACK:
                raise _invalid(
                    "The `expires_at` timestamp must be less than 24 hours from Checkout "
                    "Session creation.",
                    "expires_at",
                )
        reference = params.get("client_reference_id")
        if reference is not None and not 1 <= len(reference) <= 200:
            raise _invalid(
                "Invalid client_reference_id: 1 to 200 characters", "client_reference_id"
            )
        _check_metadata(params.get("metadata"), "metadata")
        intent_data = params.get("payment_intent_data")
        if isinstance(intent_data, dict):
            _check_metadata(intent_data.get("metadata"), "payment_intent_data[metadata]")


def _check_metadata(metadata, param):
    """Stripe's limits on metadata: at most 50 keys of 40 characters, values of 500."""
    if metadata is None:
        return
    if not isinstance(metadata, dict) or len(metadata) > 50:
        raise _invalid("Invalid metadata: a hash of at most 50 keys", param)
    for key, value in metadata.items():
        if len(key) > 40 or not isinstance(value, str) or len(value) > 500:
            raise _invalid(
                "Metadata keys are at most 40 characters and values at most 500.",
                f"{param}[{key}]",
            )


def _check_integer(value, param):
    if not isinstance(value, str) or not re.fullmatch(r"-?\d+", value):
        raise _invalid(f"Invalid integer: {value}", param)


def _line_item_amount(item):
    price_data = item.get("price_data")
    if not isinstance(price_data, dict):
        return 0
    try:
        return int(price_data.get("unit_amount") or 0) * int(item.get("quantity") or 1)
    except ValueError:
        return 0
