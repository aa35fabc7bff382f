"""Pure helpers of komet_paylink: no ORM, safe to unit-test without Odoo."""

import hashlib
import hmac
import re
import secrets
from datetime import timedelta

from . import const

_PAY_PATH_TOKEN = re.compile(r"(%s/)[^/?#\s\"]+" % re.escape(const.PAY_ROUTE_PREFIX))


def generate_token():
    """Return a new random link token (256 bits, URL-safe)."""
    return secrets.token_urlsafe(const.TOKEN_BYTES)


def is_well_formed_token(token):
    """Tell whether `token` has the shape of a token we issue, before any database lookup."""
    return (
        isinstance(token, str)
        and len(token) == const.TOKEN_LENGTH
        and set(token) <= const.TOKEN_ALPHABET
    )


def hash_token(token):
    """Return the hex SHA-256 of a token: the only form in which a token is stored."""
    return hashlib.sha256(token.encode()).hexdigest()


def token_matches(token, token_hash):
    """Compare a presented token with a stored hash in constant time."""
    if not is_well_formed_token(token) or not token_hash:
        return False
    return hmac.compare_digest(hash_token(token), token_hash)


def compute_expiry(opened_at, lifetime_hours):
    """Return when a link opened at `opened_at` stops working."""
    return opened_at + timedelta(hours=lifetime_hours)


def parse_lifetime_hours(value, default=const.DEFAULT_LIFETIME_HOURS):
    """Read a lifetime setting defensively: a positive whole number of hours, else the default."""
    try:
        hours = int(str(value).strip())
    except (TypeError, ValueError):
        return default
    return hours if hours > 0 else default


def mask_pay_tokens(text):
    """Hide link tokens in a URL or log line: `/pay/<token>/x` becomes `/pay/***/x`."""
    return _PAY_PATH_TOKEN.sub(r"\1***", text)


def is_stripe_secret_key(key):
    """Tell whether `key` looks like a Stripe secret or restricted API key."""
    return isinstance(key, str) and key.startswith(("sk_test_", "sk_live_", "rk_test_", "rk_live_"))


def is_test_mode_key(key):
    """A test key accepts only events and sessions with `livemode: false`, a live key the reverse."""
    return key.startswith(("sk_test_", "rk_test_"))


def secret_hint(secret):
    """Show which secret is set without showing it: its kind and last four characters."""
    if not secret:
        return ""
    kind = secret.rsplit("_", 1)[0] + "_" if "_" in secret else ""
    return f"{kind}…{secret[-4:]}"
