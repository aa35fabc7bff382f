"""Pure helpers of komet_paylink: no ORM, safe to unit-test without Odoo."""

import hashlib
import hmac
import html
import io
import ipaddress
import re
import secrets
from datetime import timedelta, timezone
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal, InvalidOperation
from urllib.parse import urlsplit

import arabic_reshaper
import qrcode
from bidi import get_display
from markupsafe import Markup

from . import const

_PAY_PATH_TOKEN = re.compile(rf"({re.escape(const.PAY_ROUTE_PREFIX)}/)[^/?#\s\"]+")


def shorten(text, limit=const.STRIPE_TEXT_MAX_LENGTH):
    """`text` cut to `limit` characters, marked with an ellipsis where it was cut."""
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


def parse_ids(values, limit=const.STATEMENT_MAX_INVOICES):
    """Record ids from a request's form values, or None when any is not a positive integer
    (or there are more than `limit`): a request's ids are never trusted further."""
    if len(values) > limit:
        return None
    ids = []
    for value in values:
        if not isinstance(value, str) or not value.isascii() or not value.isdigit():
            return None
        if len(value) > 12 or int(value) == 0:
            return None
        ids.append(int(value))
    return ids


def address_lines(name, address):
    """The lines of a postal address under `name`, without blank lines or the name twice."""
    return [name] + [line for line in address.splitlines() if line.strip() and line != name]


# A statement's page lists up to 300 invoices, each with a checkbox and a PDF link. QWeb escapes
# every attribute of an element that has a dynamic one (ten escapes for a checkbox), which was
# half the cost of those rows: these two tags are written here, from an id that is an integer.


def statement_checkbox_html(invoice_id, checked=True):
    """The checkbox that sends `invoice_id` as one of a statement's `invoice_ids`."""
    ticked = ' checked="checked"' if checked else ""
    return Markup(  # noqa: S704 - an integer, and constants
        '<input class="form-check-input" type="checkbox" name="invoice_ids" '
        f'value="{int(invoice_id)}"{ticked}/>'
    )


def statement_pdf_link_html(pdf_url, invoice_id, text):
    """The link, reading `text`, to the PDF of `invoice_id` under `pdf_url`, in a new tab."""
    return Markup(  # noqa: S704 - escaped here (Markup's own % escaping costs 5 times more)
        f'<a class="small ms-4" href="{html.escape(pdf_url)}?invoice={int(invoice_id)}" '
        f'target="_blank" rel="noopener noreferrer">{html.escape(text)}</a>'
    )


def group_digits(digits, grouping, separator):
    """`digits` with `separator` between its groups, as a language's grouping gives their sizes
    from the right (Odoo's res.lang `grouping`): 0 repeats the last size, -1 ends grouping."""
    rest, groups, size = digits[::-1], [], len(digits)
    for count in grouping:
        if not rest or count == -1:
            break
        if count == 0:
            groups += [rest[i : i + size] for i in range(0, len(rest), size)]
            rest = ""
            break
        groups.append(rest[:count])
        rest, size = rest[count:], count
    if rest:
        groups.append(rest)
    return separator.join(group[::-1] for group in reversed(groups))


def format_number(value, decimals, grouping, thousands_sep, decimal_point):
    """`value` with `decimals` decimals, written as a language writes numbers (Odoo's
    res.lang.format with grouping)."""
    sign, whole, fraction = re.fullmatch(r"(-?)(\d+)\.?(\d*)", f"{value:.{decimals}f}").groups()
    whole = sign + group_digits(whole, grouping, thousands_sep)
    return f"{whole}{decimal_point}{fraction}" if fraction else whole


def format_money(number, symbol, symbol_before):
    """A formatted `number` with its currency `symbol`, unbroken, as Odoo's format_amount
    writes it."""
    number = number.replace(" ", "\N{NO-BREAK SPACE}")
    number = number.replace("-", "-\N{ZERO WIDTH NO-BREAK SPACE}")
    symbol = symbol or ""
    if symbol_before:
        return f"{symbol}\N{NO-BREAK SPACE}{number}"
    return f"{number}\N{NO-BREAK SPACE}{symbol}"


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


def parse_positive_int(value, default):
    """Read a setting defensively: a positive whole number, else the default."""
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return default
    return number if number > 0 else default


def parse_lifetime_hours(value, default=const.DEFAULT_LIFETIME_HOURS):
    """Read a lifetime setting defensively: a positive whole number of hours, else the default."""
    return parse_positive_int(value, default)


def parse_unopened_days(value, default=const.DEFAULT_UNOPENED_DAYS):
    """Read the lifetime of an unopened link defensively: a positive whole number of days,
    else the default."""
    return parse_positive_int(value, default)


def parse_reminder_days(value):
    """Read the reminder steps: comma-separated whole numbers of days after the due date.

    Spaces, duplicates and order do not matter, and zero or negative days are ignored; empty
    means no reminders.

    :return: the steps, a sorted tuple of distinct positive ints.
    :raise ValueError: a part is not a whole number (e.g. ``3,x``).
    """
    steps = set()
    for part in str(value or "").split(","):
        part = part.strip()
        if not part:
            continue
        if not re.fullmatch(r"[+-]?\d+", part):
            raise ValueError(part)
        if int(part) > 0:
            steps.add(int(part))
    return tuple(sorted(steps))


def format_reminder_days(steps):
    """The stored form of reminder steps: ``3,10,30``, or an empty string."""
    return ",".join(str(step) for step in steps)


def reminder_step_reached(steps, days_overdue):
    """The highest step an invoice `days_overdue` days past its due date has reached, or 0."""
    return max((step for step in steps if step <= days_overdue), default=0)


def reminder_step_to_send(steps, due_date, today, since=None, last_step=0):
    """The reminder step to send `today` for an invoice due on `due_date`, or 0: the highest
    step reached, when it is above the last one sent (`last_step`: after a missed run only the
    highest step goes, never the smaller ones later) and was reached on or after `since`, the
    day reminders were switched on (a step passed before that is never sent late: switching
    reminders on mails no backlog)."""
    step = reminder_step_reached(steps, (today - due_date).days)
    if step <= last_step or (since and due_date + timedelta(days=step) < since):
        return 0
    return step


def unopened_deadline(sent_at, unopened_days):
    """Return when a link sent at `sent_at` stops working if nobody opens it."""
    return sent_at + timedelta(days=unopened_days)


def with_frame_ancestors_none(csp):
    """Return a Content-Security-Policy that refuses every framing, keeping the other
    directives of `csp` (which may be empty) and replacing any `frame-ancestors` one."""
    directives = [
        directive.strip()
        for directive in (csp or "").split(";")
        if directive.strip() and directive.split()[0].lower() != "frame-ancestors"
    ]
    return "; ".join([*directives, const.PAY_PAGE_FRAME_ANCESTORS])


def mask_pay_tokens(text):
    """Hide link tokens in a URL or log line: `/pay/<token>/x` becomes `/pay/***/x`."""
    return _PAY_PATH_TOKEN.sub(r"\1***", text)


def is_stripe_secret_key(key):
    """Tell whether `key` looks like a Stripe secret or restricted API key."""
    return isinstance(key, str) and key.startswith(("sk_test_", "sk_live_", "rk_test_", "rk_live_"))


def is_test_mode_key(key):
    """A test key accepts only events and sessions with `livemode: false`; a live key, the
    reverse."""
    return key.startswith(("sk_test_", "rk_test_"))


def secret_hint(secret):
    """Show which secret is set without showing it: its kind and last four characters."""
    if not secret:
        return ""
    kind = secret.rsplit("_", 1)[0] + "_" if "_" in secret else ""
    return f"{kind}…{secret[-4:]}"


def stripe_decimals(currency_code):
    """Return the number of decimals Stripe uses for a currency's minor units."""
    code = currency_code.upper()
    if code in const.STRIPE_ZERO_DECIMAL_CURRENCIES:
        return 0
    if code in const.STRIPE_THREE_DECIMAL_CURRENCIES:
        return 3
    return 2


def to_stripe_minor_units(amount, currency_code):
    """Express `amount` in Stripe's minor units of the currency, as an integer.

    Three-decimal currencies must end with a zero for Stripe: they are rounded to the nearest
    ten minor units, as Stripe's documentation asks.
    """
    decimals = stripe_decimals(currency_code)
    minor = int((Decimal(str(amount)) * (10**decimals)).quantize(Decimal(1), ROUND_HALF_UP))
    if decimals == 3:
        minor = int((Decimal(minor) / 10).quantize(Decimal(1), ROUND_HALF_UP)) * 10
    return minor


def is_stripe_checkout_url(url):
    """Tell whether `url` is a page of Stripe Checkout, over HTTPS."""
    parts = urlsplit(url or "")
    return parts.scheme == "https" and parts.hostname == const.STRIPE_CHECKOUT_HOST


def checkout_expiry(now_ts, link_expires_ts):
    """Return the Checkout Session's `expires_at` (Unix time) so that it never outlives the link,
    or None when the link has less than Stripe's minimum session life left."""
    expires = now_ts + const.CHECKOUT_MAX_LIFETIME_SECONDS
    if link_expires_ts is not None:
        expires = min(expires, int(link_expires_ts))
    if expires - now_ts < const.CHECKOUT_MIN_LIFETIME_SECONDS:
        return None
    return int(expires)


def idempotency_key(dbname, reference):
    """A Stripe idempotency key for one attempt at opening a transaction's checkout: the SDK's
    network retries reuse it, so Stripe opens one session. Each attempt gets a fresh key, as
    Stripe replays a failed answer to a key it has seen. It tells nothing of the database or
    the transaction."""
    digest = hashlib.sha256(f"{dbname}:{reference}:{secrets.token_hex(16)}".encode()).hexdigest()
    return f"komet_paylink_{digest[:40]}"


def to_timestamp(naive_utc):
    """Unix time of a naive UTC datetime, as Odoo stores them."""
    return int(naive_utc.replace(tzinfo=timezone.utc).timestamp())


def rate_limit_client_key(address):
    """The part of a client address that rate limits count: the whole IPv4 address, the /64
    network of an IPv6 one (a single host is given a whole /64), anything else as it came."""
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return address or ""
    if ip.version == 6:
        if ip.ipv4_mapped:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def mask_email(email):
    """Show enough of an address for a customer to recognise it: `j***@example.com`."""
    local, sep, domain = (email or "").partition("@")
    if not sep:
        return ""
    return f"{local[:1]}***@{domain}"


def qr_png(text):
    """A QR code of `text` as PNG bytes."""
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=6, border=2)
    qr.add_data(text)
    qr.make(fit=True)
    buffer = io.BytesIO()
    qr.make_image().save(buffer, format="PNG")
    return buffer.getvalue()


def signature_timestamp_is_fresh(signature_header, now, tolerance):
    """Tell whether a `Stripe-Signature` header's timestamp `t=` lies within `tolerance`
    seconds of `now`, in the past or the future."""
    for item in (signature_header or "").split(","):
        key, __, value = item.strip().partition("=")
        if key == "t":
            try:
                return abs(now - int(value)) <= tolerance
            except ValueError:
                return False
    return False


def session_mismatch(session, *, session_id, reference, livemode, currency, minor_amount):
    """Why a Checkout Session read back from Stripe is not the one a transaction expects
    (its id, reference, mode, currency and amount in minor units), or False when it is."""
    checks = (
        (session.get("id") == session_id, "session id"),
        (session.get("client_reference_id") == reference, "reference"),
        (bool(session.get("livemode")) == livemode, "mode"),
        ((session.get("currency") or "").upper() == currency, "currency"),
        (session.get("amount_total") == minor_amount, "amount"),
    )
    wrong = [name for ok, name in checks if not ok]
    return ", ".join(wrong) if wrong else False


def statement_reference_prefix(names):
    """A short transaction reference for a payment of several documents: the first name, in
    order, and how many more (Stripe takes 200 characters of `client_reference_id`; joined names
    of a few dozen invoices do not fit)."""
    first = min(names)
    return first if len(names) == 1 else f"{first} +{len(names) - 1}"


def cron_run_budget(limit_time_real_cron, limit_time_real, share=const.CRON_RUN_LIMIT_SHARE):
    """Seconds a scheduler run of a job may spend before it leaves the rest to the next run,
    from Odoo's options: `limit_time_real_cron` (-1: that of `limit_time_real`; 0: none).
    None when no limit applies."""
    limit = limit_time_real if limit_time_real_cron == -1 else limit_time_real_cron
    return limit * share if limit and limit > 0 else None


def stripe_checkout_locale(lang_code):
    """Stripe Checkout's `locale` for an Odoo language code (`fr_FR` → `fr`, `pt_BR` → `pt-BR`,
    `es_MX` → `es-419`), or `auto` when Stripe has no such language."""
    if not lang_code:
        return const.STRIPE_CHECKOUT_LOCALE_AUTO
    tag = lang_code.split("@")[0].replace("_", "-")
    language, __, region = tag.partition("-")
    if language == "es" and region not in ("", "ES"):
        tag = "es-419"  # Odoo's Spanish of every American country
    for candidate in (tag, language):
        if candidate in const.STRIPE_CHECKOUT_LOCALES:
            return candidate
    return const.STRIPE_CHECKOUT_LOCALE_AUTO


RTL_CHARACTERS = re.compile("[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufefc]")  # Hebrew, Arabic


def visual_order(line):
    """`line` as a PDF draws it left to right: right-to-left words (Hebrew, Arabic, e.g. the
    dirham's sign د.إ) in visual order and Arabic letters joined, as a browser would show
    them; any other line unchanged."""
    if not RTL_CHARACTERS.search(line):
        return line
    return get_display(arabic_reshaper.reshape(line))


def partial_minimum(due, decimals, min_percent, currency_code):
    """The least a customer may pay of `due` at once: `min_percent` of it, rounded up to the
    currency's `decimals`, and never less than Stripe's minimum charge in that currency (nor
    more than `due` itself, which is always accepted)."""
    due = Decimal(str(due))
    step = Decimal(1).scaleb(-decimals)
    minimum = (due * Decimal(str(min_percent or 0)) / 100).quantize(step, ROUND_CEILING)
    stripe_minimum = Decimal(const.STRIPE_MINIMUM_CHARGE.get(currency_code.upper(), "0"))
    return min(max(minimum, stripe_minimum, step), due)


def split_oldest_first(amount, residuals, decimals):
    """What a payment of `amount` pays of invoices owing `residuals`, oldest first, in the
    currency's `decimals`: the oldest in full, the rest on the first it does not cover, none of
    the newer ones (as Decimals, one per invoice)."""
    step = Decimal(1).scaleb(-decimals)
    left = Decimal(str(amount)).quantize(step)
    parts = []
    for residual in residuals:
        part = max(min(left, Decimal(str(residual)).quantize(step)), Decimal(0))
        parts.append(part)
        left -= part
    return parts


def check_partial_amount(text, *, due, decimals, min_percent, currency_code):
    """Read the amount a customer typed to pay part of `due`, in a currency of `decimals`.

    Accepts digits with one decimal point or comma (no signs, exponents or thousands
    separators) and at most `decimals` decimals.

    :return: (the amount as a Decimal, None), or (None, one of `const.PARTIAL_*`).
    """
    cleaned = (text or "").strip().replace(",", ".")
    if not re.fullmatch(r"-?(\d+(\.\d*)?|\.\d+)", cleaned):
        return None, const.PARTIAL_NOT_A_NUMBER
    try:
        amount = Decimal(cleaned)
    except InvalidOperation:  # pragma: no cover - the pattern only lets numbers through
        return None, const.PARTIAL_NOT_A_NUMBER
    if amount <= 0:
        return None, const.PARTIAL_NOT_POSITIVE
    if amount != amount.quantize(Decimal(1).scaleb(-decimals), ROUND_HALF_UP):
        return None, const.PARTIAL_PRECISION
    if amount > Decimal(str(due)).quantize(Decimal(1).scaleb(-decimals), ROUND_HALF_UP):
        return None, const.PARTIAL_ABOVE_DUE
    if amount < partial_minimum(due, decimals, min_percent, currency_code):
        return None, const.PARTIAL_BELOW_MINIMUM
    return amount, None
