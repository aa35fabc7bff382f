import time
import weakref

from odoo import models
from odoo.tools import config

from .. import utils

# When the scheduler's current run of a job began, by the run's cursor (one per run).
_RUN_STARTED = weakref.WeakKeyDictionary()


class IrCron(models.Model):
    _inherit = "ir.cron"

    def _paylink_run_is_over(self):
        """Whether the scheduler's current run of the job has used its share of the cron
        worker's real-time limit (see `utils.cron_run_budget`); never outside the scheduler
        (a run by hand, *Run Manually*, has no `cron_id` in its context).

        Odoo runs a job that reports progress up to ten times in a row in one run, and a
        prefork cron worker that runs past `limit_time_real_cron` is killed: its batch rolls
        back, and the worker Odoo starts instead sleeps a minute before it looks for jobs. A
        job stops taking batches once this says so, and triggers itself: the worker then
        reports to its watchdog, and is woken at once for the next run.
        """
        if not self.env.context.get("cron_id"):
            return False
        budget = utils.cron_run_budget(config["limit_time_real_cron"], config["limit_time_real"])
        if not budget:
            return False
        started = _RUN_STARTED.setdefault(self.env.cr, time.monotonic())
        return time.monotonic() - started > budget
