"""Constants of komet_paylink: pure Python, no ORM."""

# A link token carries 256 random bits, URL-safe base64 without padding (43 characters).
TOKEN_BYTES = 32
TOKEN_LENGTH = 43
TOKEN_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")

DEFAULT_LIFETIME_HOURS = 24
# A link nobody opens stops working this many days after it was sent.
DEFAULT_UNOPENED_DAYS = 30

# The public routes; the controller, the models (to build URLs) and the tests share them.
PAY_ROUTE_PREFIX = "/pay"
WEBHOOK_ROUTE = "/komet_paylink/webhook/stripe"
RETURN_ROUTE = f"{PAY_ROUTE_PREFIX}/return"
DEMO_CHECKOUT_ROUTE = f"{PAY_ROUTE_PREFIX}/demo"

# System parameters behind the settings.
PARAM_LIFETIME_HOURS = "komet_paylink.lifetime_hours"
PARAM_UNOPENED_DAYS = "komet_paylink.unopened_days"
PARAM_SEND_BY_DEFAULT = "komet_paylink.send_by_default"
PARAM_STRIPE_API_BASE = "komet_paylink.stripe_api_base"

# The link states, in the order a link lives them.
STATE_SENT = "sent"
STATE_OPENED = "opened"
STATE_PAID = "paid"
STATE_EXPIRED = "expired"
STATE_REVOKED = "revoked"
ACTIVE_STATES = (STATE_SENT, STATE_OPENED)

# What the public page shows of a link: the form to pay, a payment being confirmed, the
# receipt, the request for a new link, or the one 404 body of unknown and revoked tokens.
PAGE_ACTIVE = "active"
PAGE_PROCESSING = "processing"
PAGE_PAID = "paid"
PAGE_EXPIRED = "expired"
PAGE_GONE = "gone"

# What the page after Checkout says of the attempt that came back.
RETURN_PAID = "paid"
RETURN_PROCESSING = "processing"
RETURN_CANCELLED = "cancelled"
RETURN_FAILED = "failed"
RETURN_CLOSED = "closed"
# The transaction states that mean a payment of a document is on its way (a bank debit is
# confirmed days later): while one exists, no link offers Pay for the document. As Odoo's own
# portal (`account_payment`'s `_has_to_be_paid`), a transfer announced by the customer (the
# providers without an online flow) does not count.
PROCESSING_TX_STATES = ("pending", "authorized")
# The order a statement lists its invoices and a payment of part of them pays them, oldest
# first (as `account.move._paylink_oldest_first` sorts them).
STATEMENT_INVOICE_ORDER = "invoice_date, id"
# The invoices `account.move._paylink_state_reason` and `_paylink_processing_reason` leave
# payable, as a domain: a statement asks it of hundreds of invoices in one query.
PAYABLE_INVOICE_DOMAIN = [
    ("move_type", "=", "out_invoice"),
    ("state", "=", "posted"),
    ("payment_state", "not in", ("paid", "in_payment", "reversed")),
    ("amount_residual", ">", 0),
    ("komet_paylink_processing_since", "=", False),
]
OFFLINE_PROVIDER_CODES = ("none", "custom")

# The XML ids of the five roles, in the order the settings list them.
ROLE_XMLIDS = (
    "komet_paylink.group_role_admin",
    "komet_paylink.group_role_cashier",
    "komet_paylink.group_role_sales",
    "komet_paylink.group_role_sales_allocations",
    "komet_paylink.group_role_sales_manager",
)
# The `groups=` attribute of fields and buttons that only the five roles see.
ROLE_GROUPS = ",".join(ROLE_XMLIDS)

PROVIDER_CODE = "komet_paylink"
PAYMENT_METHOD_CODE = "komet_checkout"

# Stripe's minor units differ from ISO 4217 for some currencies: see Stripe's "Supported
# currencies". Every other currency is sent with two decimals, ISK included.
STRIPE_ZERO_DECIMAL_CURRENCIES = frozenset(
    "BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF XOF XPF".split()
)
STRIPE_THREE_DECIMAL_CURRENCIES = frozenset("BHD JOD KWD OMR TND".split())
# Stripe's minimum charge per currency, in major units (Stripe's "Supported currencies",
# "Minimum and maximum charge amounts"): a smaller partial payment is refused on the page.
STRIPE_MINIMUM_CHARGE = {
    "USD": "0.50", "AED": "2.00", "AUD": "0.50", "BGN": "1.00", "BRL": "0.50", "CAD": "0.50",
    "CHF": "0.50", "CZK": "15.00", "DKK": "2.50", "EUR": "0.50", "GBP": "0.30", "HKD": "4.00",
    "HUF": "175.00", "INR": "0.50", "JPY": "50", "MXN": "10", "MYR": "2", "NOK": "3.00",
    "NZD": "0.50", "PLN": "2.00", "RON": "2.00", "SEK": "3.00", "SGD": "0.50", "THB": "10",
}  # fmt: skip

# Partial payments: the default minimum, in percent of the amount due now, and why an amount
# typed on the page is refused (see `utils.check_partial_amount`).
DEFAULT_PARTIAL_MIN_PERCENT = 10.0
PARTIAL_NOT_A_NUMBER = "not_a_number"
PARTIAL_PRECISION = "precision"
PARTIAL_NOT_POSITIVE = "not_positive"
PARTIAL_BELOW_MINIMUM = "below_minimum"
PARTIAL_ABOVE_DUE = "above_due"

# Stripe refuses a Checkout Session that expires sooner than 30 minutes or later than 24 hours.
CHECKOUT_MIN_LIFETIME_SECONDS = 30 * 60
CHECKOUT_MAX_LIFETIME_SECONDS = 24 * 60 * 60
# What Stripe shows of a Checkout Session's product name and description, kept readable.
STRIPE_TEXT_MAX_LENGTH = 250
# A statement link lists, and one payment pays, at most this many invoices: a customer's
# real open items, and what one form and one page serve at a constant cost.
STATEMENT_MAX_INVOICES = 300
# The payment page lists a document's first lines; its PDF has them all.
PAY_PAGE_MAX_LINES = 5
# The columns the payment page reads of the link, in the query that finds it by its token.
PAY_PAGE_LINK_FIELDS = [
    "token_hash",
    "state",
    "is_statement",
    "move_id",
    "sale_order_id",
    "partner_id",
    "company_id",
    "currency_id",
    "amount",
    "sent_at",
    "expires_at",
    "paid_at",
]
# The columns the payment page reads of the records it shows (see `_paylink_fetch_page_fields`).
PAY_PAGE_MOVE_FIELDS = [
    "name",
    "move_type",
    "state",
    "payment_state",
    "partner_id",
    "company_id",
    "currency_id",
    "commercial_partner_id",
    "invoice_date",
    "invoice_date_due",
    "amount_untaxed",
    "amount_tax",
    "amount_total",
    "amount_residual",
    "komet_paylink_processing_since",
    # The bank-transfer QR code (see `account.move._paylink_bank_transfer`).
    "partner_bank_id",
    "payment_reference",
    "qr_code_method",
]
PAY_PAGE_CURRENCY_FIELDS = ["name", "symbol", "position", "rounding", "decimal_places"]
PAY_PAGE_COMPANY_FIELDS = [
    "name",
    "partner_id",
    "currency_id",
    "email",
    "phone",
    "komet_paylink_partial_payments",
    "komet_paylink_partial_min_percent",
    "qr_code",
]
PAY_PAGE_PARTNER_FIELDS = [
    "name",
    "lang",
    "tz",
    "email",
    "phone",
    "website",
    "type",
    "parent_id",
    "is_company",
    "company_name",
    "commercial_company_name",
    "commercial_partner_id",
    "street",
    "street2",
    "zip",
    "city",
    "state_id",
    "country_id",
]
# Within this many seconds of a link's last checkout, Pay asks Stripe nothing: the same choice
# goes back to the session just opened, another one is asked to wait.
CHECKOUT_THROTTLE_SECONDS = 10
# An open Checkout Session is reused only while it has at least this long to live.
CHECKOUT_REUSE_MARGIN_SECONDS = 5 * 60
# Where a live provider may send a customer: Stripe Checkout's own pages.
STRIPE_CHECKOUT_HOST = "checkout.stripe.com"

# The Stripe API calls the provider makes, as (SDK `v1` service, method).
STRIPE_OPERATIONS = frozenset(
    {
        ("checkout.sessions", "create"),
        ("checkout.sessions", "retrieve"),
        ("checkout.sessions", "expire"),
        ("refunds", "create"),
        ("refunds", "list"),
        ("payment_intents", "retrieve"),
        ("balance_transactions", "list"),
        ("payouts", "retrieve"),
    }
)

# The events the webhook acts on: a Checkout Session's, then refunds and disputes of its charge.
CHECKOUT_EVENT_TYPES = frozenset(
    {
        "checkout.session.completed",
        "checkout.session.async_payment_succeeded",
        "checkout.session.async_payment_failed",
        "checkout.session.expired",
    }
)
REFUND_EVENT_TYPE = "charge.refunded"
# A refund's status changed (a pending bank-debit refund succeeded or failed): the payment's
# refunds are read back and followed, as for `charge.refunded`.
REFUND_EVENT_TYPES = frozenset({REFUND_EVENT_TYPE, "charge.refund.updated", "refund.updated"})
DISPUTE_EVENT_TYPE = "charge.dispute.created"
ASYNC_PAYMENT_FAILED_EVENT_TYPE = "checkout.session.async_payment_failed"
PAYOUT_PAID_EVENT_TYPE = "payout.paid"
HANDLED_EVENT_TYPES = (
    CHECKOUT_EVENT_TYPES
    | REFUND_EVENT_TYPES
    | {
        DISPUTE_EVENT_TYPE,
        PAYOUT_PAID_EVENT_TYPE,
    }
)
# What the event log says of an event whose booking failed Odoo's validation: a person fixes
# the cause, then replays it.
OUTCOME_FAILED = "failed"

# Transaction states for a Checkout Session's (status, payment_status), read back from Stripe.
# A complete but unpaid session is a bank debit that settles later (pending), unless Stripe
# reported it failed (`checkout.session.async_payment_failed`: error).
CHECKOUT_STATUS_MAPPING = {
    "done": (("complete", "paid"), ("complete", "no_payment_required")),
    "pending": (("complete", "unpaid"),),
    "cancel": (("expired", "unpaid"), ("expired", "no_payment_required")),
}
# Transaction states for a Refund's status.
REFUND_STATUS_MAPPING = {
    "done": ("succeeded",),
    "pending": ("pending", "requires_action"),
    "error": ("failed", "canceled"),
}
WEBHOOK_TOLERANCE_SECONDS = 300
STRIPE_TIMEOUT_SECONDS = 20

# Scheduled jobs work in batches of this many records, each committed on its own and the job
# retriggered until done (Odoo's cron progress API): a run killed by the worker's time limit
# loses one batch at most. A reminder costs about 1.5 s (its PDF): ten fit any time limit.
REMINDER_BATCH_SIZE = 10
EXPIRY_BATCH_SIZE = 50
# Odoo calls a job that reports progress up to ten times in one run, with no word to the
# watchdog of the prefork cron worker in between, and a worker woken from its sleep has already
# used part of its real-time limit: a run stops taking batches once it has used this share of
# the limit, and retriggers itself (see `ir.cron`).
CRON_RUN_LIMIT_SHARE = 0.25

# A customer may ask for a new link for a document once in this many minutes.
RENEWAL_COOLDOWN_MINUTES = 10

# One client address may ask for at most this many new links (all documents together) in
# this many minutes.
RENEWAL_MAX_PER_CLIENT = 5
RENEWAL_CLIENT_WINDOW_MINUTES = 60

# The PDF a link's page offers is a stored copy: rendered again only when its document changed
# since, and at most once in this many minutes.
PDF_RERENDER_MIN_MINUTES = 10

# Headers of every response under /pay/: the URL is a bearer credential, and no other site may
# frame the page (with `PAY_PAGE_FRAME_ANCESTORS` in the Content-Security-Policy).
PAY_PAGE_HEADERS = {
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}
PAY_PAGE_FRAME_ANCESTORS = "frame-ancestors 'none'"

# The languages Stripe Checkout is displayed in (`locale` of a Checkout Session, Stripe's API
# reference and the SDK's type of it); for any other, `auto`: the customer's browser decides.
STRIPE_CHECKOUT_LOCALES = frozenset(
    (
        "auto bg cs da de el en en-GB es es-419 et fi fil fr fr-CA hi-IN hr hu id it ja ko lt lv "
        "ms mt nb nl pl pt pt-BR ro ru sk sl sv th tr vi zh zh-HK zh-TW"
    ).split()
)
STRIPE_CHECKOUT_LOCALE_AUTO = "auto"
