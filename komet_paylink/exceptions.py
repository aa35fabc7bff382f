"""The exceptions of komet_paylink: pure Python, no ORM."""

from odoo.exceptions import UserError, ValidationError


class PaylinkRateLimited(UserError):
    """A customer asked faster than allowed: new links, or presses of Pay."""


class PaylinkProcessing(UserError):
    """A payment of the document is being confirmed: no link opens another checkout."""


class PaylinkBadAmount(UserError):
    """The amount a customer typed to pay part of what is due is refused: nothing changed."""


class PaylinkSuperseded(UserError):
    """A customer asked for a new link from a link that a newer one already replaced."""


class PaylinkSessionMissing(ValidationError):
    """Stripe does not know a Checkout Session: it was made in another mode or with another
    account (demo, test, live), so it can never be paid through this one."""


class PaylinkRetryLater(Exception):
    """A webhook event that cannot be processed yet: answer 5xx so that Stripe retries."""
