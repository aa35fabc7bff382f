import itertools
import threading
import time
from datetime import date, timedelta
from unittest.mock import patch

from odoo import SUPERUSER_ID, Command, api
from odoo.exceptions import UserError
from odoo.service.model import PG_CONCURRENCY_EXCEPTIONS_TO_RETRY
from odoo.tests import TransactionCase, tagged
from odoo.tools import mute_logger

from ..exceptions import PaylinkRateLimited, PaylinkRetryLater, PaylinkSuperseded


@tagged("post_install", "-at_install")
class TestConcurrency(TransactionCase):
    """Real concurrency: each request runs in its own committed transaction, as in a threaded
    Odoo, not on the test cursor that HttpCase shares between requests (threads on that one
    cursor take turns: they prove nothing about concurrency). The demo data's invoice and
    provider (in demo mode) are used, and what the test commits is removed."""

    def setUp(self):
        super().setUp()
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            invoice = env.ref("komet_paylink.demo_invoice_cornershop")
            provider = env["payment.provider"]._paylink_provider_for(invoice.company_id)
            self.assertTrue(provider.komet_demo_mode, "the demo data's provider simulates Stripe")
            cr.execute("SELECT coalesce(max(id), 0) FROM mail_message")
            last_message_id = cr.fetchone()[0]
            self.link_id = env["komet.paylink"].create({"move_id": invoice.id}).id
            self.invoice_id = invoice.id
            cr.commit()  # pylint: disable=invalid-commit
        self.addCleanup(self._remove_committed, last_message_id)

    def _remove_committed(self, last_message_id):
        """Remove the link of `setUp` and the links made after it, with their payments."""
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            payments = env["account.payment"].search(
                [("payment_transaction_id.komet_paylink_id", ">=", self.link_id)]
            )
            payments.action_draft()
            payments.unlink()
            cr.execute(
                "DELETE FROM payment_transaction WHERE komet_paylink_id >= %s", [self.link_id]
            )
            cr.execute("DELETE FROM komet_paylink WHERE id >= %s", [self.link_id])
            cr.execute("DELETE FROM mail_message WHERE id > %s", [last_message_id])
            cr.commit()  # pylint: disable=invalid-commit

    def _at_once(self, action, times=2):
        """Run `action(env)` `times` times at the same instant, each in its own transaction
        (or each action of a list of actions once). As Odoo and Stripe would: a serialization
        failure or a deadlock is retried from the start (Odoo's own `retrying` needs the
        registry lock the test runner holds), and an answer "retry later" is delivered again.
        Return the results and the errors."""
        actions = list(action) if isinstance(action, (list, tuple)) else [action] * times
        barrier = threading.Barrier(len(actions))
        results, errors = [], []

        def run(action):
            deadline = time.monotonic() + 60
            try:
                for attempt in itertools.count():
                    if time.monotonic() > deadline:
                        errors.append(f"still conflicting after {attempt} attempts")
                        return
                    with self.registry.cursor() as cr:
                        cr.transaction = api.Transaction(self.registry)
                        env = api.Environment(cr, SUPERUSER_ID, {})
                        if not attempt:
                            barrier.wait(timeout=30)
                        try:
                            result = action(env)
                            cr.commit()  # pylint: disable=invalid-commit
                        except (*PG_CONCURRENCY_EXCEPTIONS_TO_RETRY, PaylinkRetryLater):
                            cr.rollback()
                            time.sleep(0.2)
                            continue
                        results.append(result)
                        return
            except Exception as error:  # reported by the assertions
                errors.append(repr(error))

        threads = [threading.Thread(target=run, args=(action,)) for action in actions]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=90)
        return results, errors

    def _slowly(self, model_name, method_name):
        """Slow a method down, to widen the window in which two requests overlap."""
        model_class = type(self.env[model_name])
        method = getattr(model_class, method_name)

        def slow(*args, **kwargs):
            time.sleep(0.5)
            return method(*args, **kwargs)

        return patch.object(model_class, method_name, slow)

    def _assert_booked_once(self):
        """One payment for the link, committed; the invoice and the link paid."""
        payments = self._count(
            "SELECT count(*) FROM account_payment p JOIN payment_transaction t "
            "ON t.id = p.payment_transaction_id WHERE t.komet_paylink_id = %s"
        )
        self.assertEqual(payments, 1)
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            self.assertEqual(self._link(env).state, "paid")
            self.assertIn(
                env["account.move"].browse(self.invoice_id).payment_state, ("paid", "in_payment")
            )

    def _count(self, query, record_id=None):
        """The count `query` finds for the link of `setUp`, or for `record_id`."""
        with self.registry.cursor() as cr:
            cr.execute(query, [record_id or self.link_id])
            return cr.fetchone()[0]

    def _committed(self, action):
        """Run `action(env)` alone in its own committed transaction; return its result."""
        (result,), errors = self._at_once(action, times=1)
        self.assertFalse(errors)
        return result

    def _link(self, env):
        return env["komet.paylink"].browse(self.link_id)

    def _live_links(self):
        return self._count(
            "SELECT count(*) FROM komet_paylink WHERE state IN ('sent', 'opened') AND move_id = "
            "(SELECT move_id FROM komet_paylink WHERE id = %s)"
        )

    def test_two_presses_at_the_same_instant_open_one_session(self):
        """Test that two presses of Pay at the same instant open one Checkout Session and
        send both to it."""
        with self._slowly("komet.paylink.demo", "_create_session"):
            urls, errors = self._at_once(
                lambda env: env["komet.paylink"].browse(self.link_id)._paylink_start_checkout()
            )
        self.assertFalse(errors)
        self.assertEqual(len(urls), 2)
        self.assertEqual(len(set(urls)), 1, "both presses go to the same session")
        sessions = self._count(
            "SELECT count(*) FROM payment_transaction "
            "WHERE komet_paylink_id = %s AND provider_reference IS NOT NULL"
        )
        self.assertEqual(sessions, 1)

    def test_pay_on_a_statement_and_on_the_invoice_link_at_once_leaves_one_checkout(self):
        """Test that Pay pressed at the same instant on a statement link and on the invoice's
        own link, for the same invoice, leaves one open Checkout Session for it: the second
        waits for the first, then expires its session."""
        statement_id = self._committed(
            lambda env: (
                env["komet.paylink"].create({"move_ids": [Command.set([self.invoice_id])]}).id
            )
        )
        with self._slowly("komet.paylink.demo", "_create_session"):
            urls, errors = self._at_once(
                [
                    lambda env: env["komet.paylink"].browse(self.link_id)._paylink_start_checkout(),
                    lambda env: (
                        env["komet.paylink"]
                        .browse(statement_id)
                        ._paylink_start_checkout([self.invoice_id])
                    ),
                ]
            )
        self.assertFalse(errors)
        self.assertEqual(len(urls), 2)
        open_checkouts = self._count(
            "SELECT count(*) FROM payment_transaction t "
            "JOIN account_invoice_transaction_rel r ON r.transaction_id = t.id "
            "WHERE r.invoice_id = %s AND t.state = 'draft' AND t.provider_reference IS NOT NULL",
            self.invoice_id,
        )
        self.assertEqual(open_checkouts, 1)

    def test_two_confirmations_at_the_same_instant_book_one_payment(self):
        """Test that a payment confirmed twice at the same instant (a double click on the
        checkout, two deliveries of its events) books one payment and pays the invoice."""
        self._at_once(
            lambda env: env["komet.paylink"].browse(self.link_id)._paylink_start_checkout(),
            times=1,
        )

        def confirm(env):
            transaction = env["komet.paylink"].browse(self.link_id).transaction_ids
            env["komet.paylink.demo"]._pay(transaction)
            return transaction.state

        with self._slowly("payment.transaction", "_post_process"):
            states, errors = self._at_once(confirm)
        self.assertFalse(errors)
        self.assertEqual(states, ["done", "done"])
        self._assert_booked_once()

    @mute_logger("odoo.sql_db")  # the conflicts, retried or refused
    def test_a_press_of_pay_while_the_webhook_books_opens_no_second_session(self):
        """Test that a press of Pay at the instant the webhook books the payment of the open
        session opens no second session: one payment is booked, the invoice and the link are
        paid, and the press goes to the session being paid or is refused (the link is paid)."""
        session_url = self._committed(lambda env: self._link(env)._paylink_start_checkout())

        def press(env):
            try:
                return ("press", self._link(env)._paylink_start_checkout())
            except UserError as error:
                env.cr.rollback()
                return ("press refused", str(error))

        def book(env):
            transaction = self._link(env).transaction_ids
            env["komet.paylink.demo"]._pay(transaction)
            return ("booking", transaction.state)

        with self._slowly("payment.transaction", "_post_process"):
            results, errors = self._at_once([press, book])
        self.assertFalse(errors)
        results = dict(results)
        self.assertEqual(results["booking"], "done")
        if "press" in results:
            self.assertEqual(results["press"], session_url, "the press goes to the same session")
        sessions = self._count(
            "SELECT count(*) FROM payment_transaction "
            "WHERE komet_paylink_id = %s AND provider_reference IS NOT NULL"
        )
        self.assertEqual(sessions, 1)
        self._assert_booked_once()

    @mute_logger("odoo.sql_db")  # the conflicts, retried or refused
    def test_two_sends_of_a_first_link_at_the_same_instant_leave_one_live_link(self):
        """Test that two staff sending a link for an invoice without a live one at the same
        instant (neither transaction sees the other's link to revoke) leave one live link:
        the exclusion constraint `one_live_invoice_link` refuses the second, or, when the two
        inserts deadlock on it, the one PostgreSQL aborts is retried as Odoo does and revokes
        the first one's link."""
        self._committed(lambda env: self._link(env).action_revoke())

        def send(env):
            return env["komet.paylink"].create({"move_id": self.invoice_id}).id

        with self._slowly("account.move", "_paylink_revoke_live_links"):
            link_ids, errors = self._at_once(send)
        self.assertTrue(link_ids, errors)
        self.assertEqual(len(link_ids) + len(errors), 2)
        for error in errors:
            self.assertIn("one_live_invoice_link", error)
        self.assertEqual(self._live_links(), 1)

    @mute_logger("odoo.sql_db")  # the conflicts, retried or refused
    def test_two_sends_replacing_a_live_link_at_the_same_instant_leave_one_live_link(self):
        """Test that two staff sending a new link for an invoice with a live one at the same
        instant both succeed, the second after the first (it revokes the first's link), and
        leave one live link."""

        def send(env):
            return env["komet.paylink"].create({"move_id": self.invoice_id}).id

        with self._slowly("account.move", "_paylink_revoke_live_links"):
            link_ids, errors = self._at_once(send)
        self.assertFalse(errors)
        self.assertEqual(len(link_ids), 2)
        self.assertEqual(self._live_links(), 1)
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            self.assertEqual(self._link(env).state, "revoked")
            live = env["komet.paylink"].search(
                [("move_id", "=", self.invoice_id), ("state", "=", "sent")]
            )
            self.assertEqual(live.id, max(link_ids), "the last one sent is the live one")

    @mute_logger("odoo.sql_db")  # the conflicts, retried or refused
    def test_two_statement_links_sent_at_the_same_instant_leave_one_live(self):
        """Test that two staff sending a statement link to one customer at the same instant
        leave one live statement link (the exclusion constraint `one_live_statement_link`, or
        the retried one revoking the other's)."""
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            customer_id = env.ref("komet_paylink.demo_partner_greengrocer").id

        def send(env):
            # The mails stay queued (see the renewal test below).
            env = env(context={"mail_notify_force_send": False})
            customer = env["res.partner"].browse(customer_id)
            customer.action_komet_paylink_send_statement()
            return customer_id

        with self._slowly("account.move", "_paylink_revoke_live_links"):
            results, errors = self._at_once(send)
        self.assertTrue(results, errors)
        for error in errors:
            self.assertIn("one_live_statement_link", error)
        live = self._count(
            "SELECT count(*) FROM komet_paylink WHERE is_statement AND state IN ('sent', "
            "'opened') AND partner_id = %s",
            customer_id,
        )
        self.assertEqual(live, 1)

    @mute_logger("odoo.sql_db")  # the conflicts, retried or refused
    def test_two_renewals_from_one_expired_link_at_the_same_instant_make_one_link(self):
        """Test that a customer asking twice at the same instant for a new link from one
        expired link gets one new link, and the second request is refused."""
        self._committed(lambda env: self._link(env)._paylink_mark_expired())

        def renew(env):
            # Mails are sent after the commit only by a request's thread (Odoo's own sending
            # needs the registry lock the test runner holds): here they stay queued.
            env = env(context={"mail_notify_force_send": False})
            try:
                return self._link(env)._paylink_request_renewal("203.0.113.7")
            except (PaylinkSuperseded, PaylinkRateLimited) as error:
                return type(error).__name__

        with self._slowly("komet.paylink", "_paylink_check_renewal_allowed"):
            answers, errors = self._at_once(renew)
        self.assertFalse(errors)
        self.assertEqual(len(answers), 2)
        self.assertEqual(
            len([answer for answer in answers if "@" in answer]), 1, "one renewal sent"
        )
        renewed = self._count("SELECT count(*) FROM komet_paylink WHERE renewed_from_id = %s")
        self.assertEqual(renewed, 1)
        self.assertEqual(self._live_links(), 1)

    def _overdue_invoices_committed(self, count, days_overdue):
        """`count` invoices of a new customer of the demo company, `days_overdue` days past
        due, committed, and that company reminding at that step only; undone at cleanup."""
        today = date.today()

        def make(env):
            company = env.ref("komet_paylink.demo_invoice_cornershop").company_id
            saved = (company.komet_paylink_reminder_days, company.komet_paylink_reminders_since)
            self.addCleanup(self._restore_reminders, company.id, *saved)
            company.write(
                {
                    "komet_paylink_reminder_days": str(days_overdue),
                    "komet_paylink_reminders_since": date(2000, 1, 1),
                }
            )
            customer = env["res.partner"].create(
                {"name": "Concurrent Late Payer", "email": "concurrent@example.com"}
            )
            due = today - timedelta(days=days_overdue)
            invoices = env["account.move"].create(
                [
                    {
                        "move_type": "out_invoice",
                        "company_id": company.id,
                        "partner_id": customer.id,
                        "invoice_date": due,
                        "invoice_date_due": due,
                        "invoice_line_ids": [
                            Command.create({"name": "Crate", "quantity": 1, "price_unit": 50})
                        ],
                    }
                    for __ in range(count)
                ]
            )
            invoices.action_post()
            self.addCleanup(self._remove_invoices, invoices.ids)
            return invoices.ids

        return self._committed(make)

    def _restore_reminders(self, company_id, days, since):
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            env["res.company"].browse(company_id).write(
                {"komet_paylink_reminder_days": days, "komet_paylink_reminders_since": since}
            )
            cr.commit()  # pylint: disable=invalid-commit

    def _remove_invoices(self, invoice_ids):
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            cr.execute("DELETE FROM komet_paylink WHERE move_id IN %s", [tuple(invoice_ids)])
            invoices = env["account.move"].browse(invoice_ids)
            invoices.button_draft()
            invoices.with_context(force_delete=True).unlink()
            cr.commit()  # pylint: disable=invalid-commit

    def test_two_reminder_runs_at_the_same_instant_remind_each_invoice_once(self):
        """Test that the reminder job run twice at the same instant (a scheduled run and a
        manual one, two workers) emails each overdue invoice once."""
        invoice_ids = self._overdue_invoices_committed(3, days_overdue=400)

        def run(env):
            moves = env["account.move"].with_context(mail_notify_force_send=False)
            moves._cron_paylink_send_reminders()

        with self._slowly("account.move", "_paylink_send_reminder"):
            __, errors = self._at_once(run)
        self.assertFalse(errors)
        for invoice_id in invoice_ids:
            reminders = self._count(
                "SELECT count(*) FROM komet_paylink WHERE move_id = %s AND reminder_days = 400",
                invoice_id,
            )
            self.assertEqual(reminders, 1, "each invoice reminded once")
