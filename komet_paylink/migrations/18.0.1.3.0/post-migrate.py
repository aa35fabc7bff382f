"""18.0.1.3.0: the reminder job moves from `komet.paylink` to `account.move`, and reminders
become each company's.

- The job's scheduled action is `noupdate` data: an upgrade would keep calling the old method.
- The one reminder setting of all companies becomes each company's, on from today.
- Each invoice keeps the step it was last reminded at: read from the reminder links.
"""

from odoo import SUPERUSER_ID, api, fields

OLD_REMINDER_DAYS_PARAM = "komet_paylink.reminder_days"


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
    parameters = env["ir.config_parameter"].sudo()
    days = parameters.get_param(OLD_REMINDER_DAYS_PARAM)
    if days:
        env["res.company"].search([]).write(
            {
                "komet_paylink_reminder_days": days,
                "komet_paylink_reminders_since": fields.Date.context_today(env.user),
            }
        )
    parameters.search([("key", "=", OLD_REMINDER_DAYS_PARAM)]).unlink()
    cr.execute(
        """
        UPDATE account_move move SET komet_paylink_reminder_step = reminded.step
          FROM (SELECT move_id, max(reminder_days) AS step FROM komet_paylink
                 WHERE reminder_days > 0 GROUP BY move_id) reminded
         WHERE reminded.move_id = move.id
        """
    )
