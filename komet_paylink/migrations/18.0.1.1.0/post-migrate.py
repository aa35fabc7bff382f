"""18.0.1.1.0: the Stripe account moves from the company to its payment provider.

The keys stored on `res.company` go to the company's `komet_paylink` provider, whose mode
follows the key; the global demo-mode parameter becomes the demo mode of every provider without
a live key; the old columns and parameter are dropped so that no secret is left behind.
"""

import logging

from odoo import SUPERUSER_ID, api
from odoo.tools import SQL

_logger = logging.getLogger(__name__)

OLD_COLUMNS = ("komet_paylink_stripe_secret_key", "komet_paylink_stripe_webhook_secret")
OLD_DEMO_PARAM = "komet_paylink.demo_mode"


def migrate(cr, version):
    if not version:
        return
    env = api.Environment(cr, SUPERUSER_ID, {})
    _move_company_keys(env)
    _move_demo_mode(env)
    env.ref("komet_paylink.payment_method_komet_checkout").support_refund = "partial"


def _move_company_keys(env):
    cr = env.cr
    cr.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_name = 'res_company' AND column_name IN %s",
        [OLD_COLUMNS],
    )
    if {row[0] for row in cr.fetchall()} != set(OLD_COLUMNS):
        return
    cr.execute(
        "SELECT id, komet_paylink_stripe_secret_key, komet_paylink_stripe_webhook_secret "
        "FROM res_company "
        "WHERE komet_paylink_stripe_secret_key IS NOT NULL "
        "OR komet_paylink_stripe_webhook_secret IS NOT NULL"
    )
    for company_id, secret_key, webhook_secret in cr.fetchall():
        company = env["res.company"].browse(company_id)
        provider = env["payment.provider"]._paylink_provider_for(company)
        provider.komet_demo_mode = False
        provider._paylink_set_account(secret_key=secret_key, webhook_secret=webhook_secret)
        _logger.info("Moved the Stripe account of company %s to its provider.", company_id)
    for column in OLD_COLUMNS:
        cr.execute(SQL("ALTER TABLE res_company DROP COLUMN %s", SQL.identifier(column)))


def _move_demo_mode(env):
    parameters = env["ir.config_parameter"].sudo()
    demo_mode = parameters.get_param(OLD_DEMO_PARAM)
    if demo_mode is False:
        return
    if demo_mode.strip().lower() in ("1", "true", "yes", "on"):
        providers = env["payment.provider"].search([("code", "=", "komet_paylink")])
        for provider in providers.filtered(lambda p: not p._paylink_is_live()):
            provider._paylink_set_account(demo_mode=True)
    parameters.search([("key", "=", OLD_DEMO_PARAM)]).unlink()
