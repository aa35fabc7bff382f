import itertools
from datetime import date, timedelta
from unittest.mock import patch

from freezegun import freeze_time

from odoo import fields
from odoo.exceptions import ValidationError
from odoo.tests import HttpCase, tagged
from odoo.tools import config

from ..models import ir_cron
from .common import PaylinkCommon, PaylinkHttpCommon, pdf_pay_links

DUE = date(2026, 1, 5)


class WorkerKilled(BaseException):
    """What a prefork worker's time limit does to a run: it stops, whatever it was doing."""


@tagged("post_install", "-at_install")
class TestReminders(PaylinkCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.late_customer = cls.env["res.partner"].create(
            {"name": "Late Payer", "email": "late@example.com"}
        )
        # Only the invoices of this test's customer may be reminded: the others of the
        # database (demo data, other classes) belong to customers who opted out.
        cls.env["res.partner"].search([("id", "!=", cls.late_customer.id)]).write(
            {"komet_paylink_opt_out": True}
        )
        # On since before the invoices' first step: no step is skipped as backlog.
        cls.company.write(
            {"komet_paylink_reminder_days": "3,10,30", "komet_paylink_reminders_since": DUE}
        )

    def _late_invoice(self, partner=None, amount=500.0, due=DUE):
        invoice = self.init_invoice(
            "out_invoice",
            partner=partner or self.late_customer,
            invoice_date=due,
            amounts=[amount],
            taxes=[],
        )
        invoice.invoice_date_due = due
        invoice.action_post()
        self.assertEqual(invoice.invoice_date_due, due)
        return invoice

    def _run_reminders(self, days_after_due):
        """Run the scheduled action as its user, `days_after_due` days after the due date."""
        cron = self.env.ref("komet_paylink.ir_cron_send_reminders")
        with freeze_time(DUE + timedelta(days=days_after_due, hours=6)):
            cron.ir_actions_server_id.with_user(cron.user_id).with_context(
                mail_notify_force_send=False
            ).run()

    def _reminder_links(self, invoice):
        return self.Paylink.sudo().search(
            [("move_id", "=", invoice.id), ("reminder_days", ">", 0)], order="id"
        )

    def _mails(self, invoice):
        return (
            self.env["mail.mail"]
            .sudo()
            .search([("model", "=", "account.move"), ("res_id", "=", invoice.id)], order="id")
        )

    def test_one_reminder_per_step_with_a_fresh_link(self):
        """Test that each step sends one email with a new link, the older link revoked, and
        that running again within a step sends nothing."""
        invoice = self._late_invoice()
        self._run_reminders(2)
        self.assertFalse(self._reminder_links(invoice), "not overdue enough yet")
        self.assertFalse(self._mails(invoice))

        self._run_reminders(3)
        self._run_reminders(3)
        self._run_reminders(9)
        link = self._reminder_links(invoice)
        self.assertEqual(link.mapped("reminder_days"), [3])
        self.assertEqual(link.state, "sent")
        mail = self._mails(invoice)
        self.assertEqual(len(mail), 1, "one email for the step, however often the action runs")
        self.assertEqual(mail.recipient_ids, self.late_customer)
        self.assertIn("/pay/", mail.body_html)
        self.assertIn("Pay now", mail.body_html)
        self.assertIn("Reminder", mail.subject)
        self.assertIn("is still unpaid", mail.body_html)
        self.assertTrue(
            any(
                "Payment reminder (3 days overdue)" in body
                for body in self._paylink_chatter_bodies(invoice)
            )
        )

        self._run_reminders(10)
        links = self._reminder_links(invoice)
        self.assertEqual(links.mapped("reminder_days"), [3, 10])
        self.assertEqual(links.mapped("state"), ["revoked", "sent"], "the older link is revoked")
        self.assertEqual(len(self._mails(invoice)), 2)
        self.assertTrue(
            any(
                "Payment reminder (10 days overdue)" in body
                for body in self._paylink_chatter_bodies(invoice)
            )
        )

    def test_a_missed_run_sends_only_the_highest_step_reached(self):
        """Test that an invoice first seen 12 days overdue gets the 10-day reminder only, and
        never the 3-day one afterwards."""
        invoice = self._late_invoice()
        self._run_reminders(12)
        self._run_reminders(13)
        self._run_reminders(29)
        self.assertEqual(self._reminder_links(invoice).mapped("reminder_days"), [10])
        self.assertEqual(len(self._mails(invoice)), 1)
        self._run_reminders(45)
        self.assertEqual(self._reminder_links(invoice).mapped("reminder_days"), [10, 30])

    def test_a_killed_run_resumes_without_reminding_twice(self):
        """Test that a run killed in the middle of a batch (the worker's time limit) loses that
        batch only, and that the next runs remind every invoice exactly once."""
        invoices = [self._late_invoice() for __ in range(5)]
        AccountMove = self.env.registry["account.move"]
        original = AccountMove._paylink_send_reminder
        calls = []

        def killed_on_the_second(move, days):
            calls.append(move)
            if len(calls) == 2:
                raise WorkerKilled
            return original(move, days)

        Move = self.env["account.move"].with_context(mail_notify_force_send=False)
        with freeze_time(DUE + timedelta(days=3, hours=6)):
            Move._cron_paylink_send_reminders(batch_size=2)
            with self.assertRaises(WorkerKilled), self.env.cr.savepoint():
                with patch.object(AccountMove, "_paylink_send_reminder", killed_on_the_second):
                    Move._cron_paylink_send_reminders(batch_size=2)
            self.env.invalidate_all()
            for __ in range(3):
                Move._cron_paylink_send_reminders(batch_size=2)
        for invoice in invoices:
            self.assertEqual(self._reminder_links(invoice).mapped("reminder_days"), [3])
            self.assertEqual(len(self._mails(invoice)), 1)
            self.assertEqual(invoice.komet_paylink_reminder_step, 3)

    def test_a_run_leaves_the_rest_to_the_next_once_its_time_is_spent(self):
        """Test that under the scheduler a run stops taking invoices once it has used its share
        of the cron worker's time limit (before the watchdog kills it), says what it did and
        triggers the next run, which goes on: every invoice is reminded exactly once."""
        invoices = [self._late_invoice() for __ in range(3)]
        cron = self.env.ref("komet_paylink.ir_cron_send_reminders")
        self.env["ir.cron.trigger"].search([("cron_id", "=", cron.id)]).unlink()
        progress = self.env["ir.cron.progress"].create({"cron_id": cron.id})
        Move = self.env["account.move"].with_context(
            mail_notify_force_send=False, ir_cron_progress_id=progress.id, cron_id=cron.id
        )
        clock = itertools.count(0, 10)  # each look at the clock comes 10 s after the last
        reminded_per_run = []
        with (
            freeze_time(DUE + timedelta(days=3, hours=6)),
            patch.dict(config.options, {"limit_time_real_cron": 50}),  # 25 s for a run
            patch.object(ir_cron.time, "monotonic", lambda: next(clock)),
        ):
            while len(reminded_per_run) < 5 and any(
                not invoice.komet_paylink_reminder_step for invoice in invoices
            ):
                ir_cron._RUN_STARTED.clear()  # a new run, on a new cursor
                before = sum(bool(self._reminder_links(invoice)) for invoice in invoices)
                Move._cron_paylink_send_reminders()
                Move._cron_paylink_send_reminders()  # the same run: its time is spent
                after = sum(bool(self._reminder_links(invoice)) for invoice in invoices)
                reminded_per_run.append(after - before)
                self.assertEqual(progress.done, 1)
                self.assertEqual(progress.remaining, len(invoices) - after)
                triggered = self.env["ir.cron.trigger"].search([("cron_id", "=", cron.id)])
                self.assertTrue(triggered, "the next run is triggered")
                triggered.unlink()
        self.assertEqual(reminded_per_run, [1, 1, 1])
        for invoice in invoices:
            self.assertEqual(self._reminder_links(invoice).mapped("reminder_days"), [3])
            self.assertEqual(len(self._mails(invoice)), 1)

    def test_switching_reminders_on_mails_no_backlog(self):
        """Test that switching reminders on sends no step an invoice passed before, that the
        settings say how many invoices the next run emails before saving, and that a step
        reached from then on is sent."""
        old = self._late_invoice(due=DUE)
        fresh = self._late_invoice(due=DUE + timedelta(days=37))
        self.company.komet_paylink_reminder_days = False
        with freeze_time(DUE + timedelta(days=40, hours=6)):
            settings = self.env["res.config.settings"].new({})
            settings.komet_paylink_reminder_days = "3,10,30"
            self.assertEqual(settings.komet_paylink_reminder_preview, 1)
            self.company.komet_paylink_reminder_days = "3,10,30"
            self.assertEqual(self.company.komet_paylink_reminders_since, DUE + timedelta(days=40))
        self._run_reminders(40)
        self.assertFalse(self._reminder_links(old))
        self.assertEqual(self._reminder_links(fresh).mapped("reminder_days"), [3])

    def test_reminder_days_are_each_companys(self):
        """Test that a company without reminder days reminds nobody, whatever another's."""
        other_company = self.setup_other_company()["company"]
        self.env.user.company_ids |= other_company
        invoice = self.init_invoice(
            "out_invoice",
            partner=self.late_customer,
            invoice_date=DUE,
            amounts=[100.0],
            taxes=[],
            company=other_company,
        )
        invoice.invoice_date_due = DUE
        invoice.action_post()
        self.assertFalse(other_company.komet_paylink_reminder_days)
        self._run_reminders(30)
        self.assertFalse(self._reminder_links(invoice))

    def test_no_reminder_for_a_company_that_cannot_take_payment(self):
        """Test that a company whose payment provider is disabled mails no reminder (its
        customer's Pay would only say "not available"), and that the settings count none;
        once it takes payment again, the invoice is reminded."""
        invoice = self._late_invoice()
        provider = self.env["payment.provider"]._paylink_provider_for(self.company)
        provider.state = "disabled"
        with freeze_time(DUE + timedelta(days=3, hours=6)):
            settings = self.env["res.config.settings"].new({})
            settings.komet_paylink_reminder_days = "3,10,30"
            self.assertEqual(settings.komet_paylink_reminder_preview, 0)
        self._run_reminders(3)
        self.assertFalse(self._reminder_links(invoice))
        self.assertFalse(self._mails(invoice))
        provider._paylink_set_account(demo_mode=True)
        self._run_reminders(3)
        self.assertEqual(self._reminder_links(invoice).mapped("reminder_days"), [3])

    def test_no_reminder_while_a_payment_is_being_confirmed(self):
        """Test that an overdue invoice whose bank debit is being confirmed gets no reminder
        (and so no second way to pay), and gets one once the debit failed."""
        invoice = self._late_invoice()
        provider = self.env["payment.provider"]._paylink_provider_for(invoice.company_id)
        provider._paylink_set_account(demo_mode=True)
        link = self.Paylink.sudo().create({"move_id": invoice.id})
        transaction = self.env["payment.transaction"]._paylink_create_for_link(
            link, link.amount, invoice
        )
        transaction._set_pending()
        self._run_reminders(3)
        self.assertFalse(self._reminder_links(invoice))
        transaction._set_error("refused")
        self._run_reminders(3)
        self.assertEqual(self._reminder_links(invoice).mapped("reminder_days"), [3])

    def test_no_reminder_after_payment(self):
        """Test that a paid invoice gets no more reminders."""
        invoice = self._late_invoice()
        self._run_reminders(3)
        self.assertEqual(len(self._mails(invoice)), 1)
        self.env["account.payment.register"].with_context(
            active_model="account.move", active_ids=invoice.ids
        ).create({})._create_payments()
        self.assertIn(invoice.payment_state, ("paid", "in_payment"))
        self._run_reminders(10)
        self._run_reminders(30)
        self.assertEqual(self._reminder_links(invoice).mapped("reminder_days"), [3])
        self.assertEqual(len(self._mails(invoice)), 1)

    def test_a_partly_paid_invoice_is_reminded_of_what_is_left(self):
        invoice = self._late_invoice(amount=500.0)
        self.env["account.payment.register"].with_context(
            active_model="account.move", active_ids=invoice.ids
        ).create({"amount": 200.0})._create_payments()
        self._run_reminders(3)
        link = self._reminder_links(invoice)
        self.assertEqual(link.amount, 300.0)

    def test_no_reminder_for_a_customer_who_opted_out(self):
        """Test that the contact of a company that opted out gets no reminder."""
        company = self.env["res.partner"].create(
            {"name": "Quiet Company", "is_company": True, "komet_paylink_opt_out": True}
        )
        contact = self.env["res.partner"].create(
            {"name": "Quiet Contact", "parent_id": company.id, "email": "quiet@example.com"}
        )
        invoice = self._late_invoice(partner=contact)
        self._run_reminders(30)
        self.assertFalse(self.Paylink.sudo().search([("move_id", "=", invoice.id)]))
        self.assertFalse(self._mails(invoice))

    def test_no_reminder_when_the_setting_is_empty(self):
        self.company.komet_paylink_reminder_days = False
        invoice = self._late_invoice()
        self._run_reminders(30)
        self.assertFalse(self._mails(invoice))

    def test_one_failing_invoice_does_not_stop_the_others(self):
        first, second = self._late_invoice(), self._late_invoice()
        AccountMove = self.env.registry["account.move"]
        original = AccountMove._paylink_send_reminder

        def send_reminder(move, days):
            if move == first:
                raise ValueError("mail server down")
            return original(move, days)

        self.patch(AccountMove, "_paylink_send_reminder", send_reminder)
        with self.assertLogs("odoo.addons.komet_paylink.models.account_move", "ERROR"):
            self._run_reminders(3)
        self.assertFalse(self._reminder_links(first))
        self.assertEqual(self._reminder_links(second).mapped("reminder_days"), [3])

    def test_queries_per_invoice_are_constant(self):
        """Test that each reminded invoice costs the same number of queries, however many the
        run sends."""
        self._late_invoice()
        self._run_reminders(3)  # warm-up: templates, reports and caches
        counts = {}
        # Each batch falls due a day after the previous one, and is reminded 3 days later: the
        # earlier invoices are then still at the step they were reminded of.
        for shift, count in ((1, 2), (2, 4), (3, 6)):
            invoices = self.env["account.move"].concat(
                *(self._late_invoice(due=DUE + timedelta(days=shift)) for __ in range(count))
            )
            self.env.invalidate_all()
            start = self.env.cr.sql_log_count
            self._run_reminders(shift + 3)
            counts[count] = self.env.cr.sql_log_count - start
            for invoice in invoices:
                self.assertEqual(self._reminder_links(invoice).mapped("reminder_days"), [3])
        # Two more invoices cost the same queries whether the run sends 2, 4 or 6.
        self.assertAlmostEqual(counts[4] - counts[2], counts[6] - counts[4], delta=2, msg=counts)
        per_invoice = (counts[6] - counts[2]) / 4
        self.assertLessEqual(per_invoice, 60, counts)

    def test_link_list_shows_the_reminder_step(self):
        for view_type in ("list", "form"):
            arch = self.Paylink.get_view(view_type=view_type)["arch"]
            self.assertIn('name="reminder_days"', arch)
        self.assertEqual(self.Paylink._fields["reminder_days"].string, "Reminder (days overdue)")


@tagged("post_install", "-at_install")
class TestReminderSettings(PaylinkCommon):
    def test_reminder_days_round_trip(self):
        """Test that the setting is stored tidy and read back."""
        self.env["res.config.settings"].create(
            {"komet_paylink_reminder_days": " 30,3, 10,3"}
        ).execute()
        self.assertEqual(self.env.company.komet_paylink_reminder_days, "3,10,30")
        self.assertEqual(self.env.company.komet_paylink_reminders_since, fields.Date.today())
        self.assertEqual(
            self.env["res.config.settings"].create({}).komet_paylink_reminder_days, "3,10,30"
        )
        self.env["res.config.settings"].create({"komet_paylink_reminder_days": False}).execute()
        self.assertFalse(self.env["res.config.settings"].create({}).komet_paylink_reminder_days)
        self.assertEqual(self.env.company._paylink_reminder_steps(), ())

    def test_invalid_reminder_days_are_refused(self):
        self.env["res.config.settings"].create({"komet_paylink_reminder_days": "3,10"}).execute()
        with self.assertRaisesRegex(ValidationError, "not a list of days"):
            self.env["res.config.settings"].create({"komet_paylink_reminder_days": "3,x"})
        self.assertEqual(self.env.company.komet_paylink_reminder_days, "3,10")


@tagged("post_install", "-at_install")
class TestReminderPdf(PaylinkHttpCommon, HttpCase):
    """The reminder's PDF, rendered by wkhtmltopdf, which needs the HTTP server (and real
    time: the invoice is due three days before today)."""

    def test_the_reminder_pdf_carries_the_pay_box(self):
        """Test that the reminder is Odoo's invoice email: the invoice PDF, with the Pay now
        link of the new payment link."""
        self._set_demo_mode(True)
        customer = self.env["res.partner"].create({"name": "Late Payer", "email": "l@example.com"})
        self.env["res.partner"].search([("id", "!=", customer.id)]).write(
            {"komet_paylink_opt_out": True}
        )
        self.env.company.komet_paylink_reminder_days = "3"
        due = fields.Date.context_today(self.env.user) - timedelta(days=3)
        invoice = self.init_invoice(
            "out_invoice", partner=customer, invoice_date=due, amounts=[80.0], taxes=[]
        )
        invoice.invoice_date_due = due
        invoice.action_post()
        cron = self.env.ref("komet_paylink.ir_cron_send_reminders")
        cron.ir_actions_server_id.with_user(cron.user_id).with_context(
            mail_notify_force_send=False, force_report_rendering=True
        ).run()
        mail = (
            self.env["mail.mail"]
            .sudo()
            .search([("model", "=", "account.move"), ("res_id", "=", invoice.id)])
        )
        self.assertEqual(len(mail), 1)
        pdfs = mail.attachment_ids.filtered(lambda a: a.mimetype == "application/pdf")
        self.assertEqual(len(pdfs), 1)
        self.assertTrue(pdfs.raw.startswith(b"%PDF"))
        uris = pdf_pay_links(pdfs.raw)
        self.assertEqual(len(uris), 1)
        self.assertIn(f'href="{uris[0]}"', mail.body_html)
