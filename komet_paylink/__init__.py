from . import controllers
from . import models
from . import wizards

from odoo.addons.payment import reset_payment_provider, setup_provider

from .const import PROVIDER_CODE


def post_init_hook(env):
    """Register the payment method of the links' provider, and let every existing company's
    five roles send links, as new companies do by default."""
    setup_provider(env, PROVIDER_CODE)
    env["res.company"].search([])._paylink_reset_sender_groups()


def uninstall_hook(env):
    reset_payment_provider(env, PROVIDER_CODE)
