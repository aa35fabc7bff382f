"""Constants of komet_paylink: pure Python, no ORM."""

# A link token carries 256 random bits, URL-safe base64 without padding (43 characters).
TOKEN_BYTES = 32
TOKEN_LENGTH = 43
TOKEN_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")

DEFAULT_LIFETIME_HOURS = 24

# The public routes; the controller, the models (to build URLs) and the tests share them.
PAY_ROUTE_PREFIX = "/pay"
WEBHOOK_ROUTE = "/komet_paylink/webhook/stripe"

# System parameters behind the settings.
PARAM_LIFETIME_HOURS = "komet_paylink.lifetime_hours"
PARAM_SEND_BY_DEFAULT = "komet_paylink.send_by_default"
PARAM_DEMO_MODE = "komet_paylink.demo_mode"
PARAM_STRIPE_API_BASE = "komet_paylink.stripe_api_base"

# The link states, in the order a link lives them.
STATE_SENT = "sent"
STATE_OPENED = "opened"
STATE_PAID = "paid"
STATE_EXPIRED = "expired"
STATE_REVOKED = "revoked"
ACTIVE_STATES = (STATE_SENT, STATE_OPENED)

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
