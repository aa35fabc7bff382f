"""18.0.1.3.0: the reminder job moves from `komet.paylink` to `account.move`.

Its scheduled action is `noupdate` data: an upgrade would keep calling the old method."""

from odoo import SUPERUSER_ID, api


def migrate(cr, version):
    if not version:
        return
    env = api.Environment(cr, SUPERUSER_ID, {})
    cron = env.ref("komet_paylink.ir_cron_send_reminders", raise_if_not_found=False)
    if cron:
        cron.write(
            {
                "model_id": env.ref("account.model_account_move").id,
                "code": "model._cron_paylink_send_reminders()",
            }
        )
