import itertools
import threading
import time
from unittest.mock import patch

import psycopg2

from odoo import SUPERUSER_ID, api
from odoo.tests import TransactionCase, tagged

from ..models.komet_paylink_event import PaylinkRetryLater


@tagged("post_install", "-at_install")
class TestConcurrency(TransactionCase):
    """Real concurrency: each request runs in its own committed transaction, as in a threaded
    Odoo, not on the test cursor that HttpCase shares between requests. The demo data's
    invoice and provider (in demo mode) are used, and what the test commits is removed."""

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
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            payments = env["account.payment"].search(
                [("payment_transaction_id.komet_paylink_id", "=", self.link_id)]
            )
            payments.action_draft()
            payments.unlink()
            cr.execute(
                "DELETE FROM payment_transaction WHERE komet_paylink_id = %s", [self.link_id]
            )
            cr.execute("DELETE FROM komet_paylink WHERE id = %s", [self.link_id])
            cr.execute("DELETE FROM mail_message WHERE id > %s", [last_message_id])
            cr.commit()  # pylint: disable=invalid-commit

    def _at_once(self, action, times=2):
        """Run `action(env)` `times` times at the same instant, each in its own transaction.
        As Odoo and Stripe would: a serialization failure is retried from the start (Odoo's
        own `retrying` needs the registry lock the test runner holds), and an answer "retry
        later" is delivered again. Return the results and the errors."""
        barrier = threading.Barrier(times)
        results, errors = [], []

        def run():
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
                        except (psycopg2.errors.SerializationFailure, PaylinkRetryLater):
                            cr.rollback()
                            time.sleep(0.2)
                            continue
                        results.append(result)
                        return
            except Exception as error:  # reported by the assertions
                errors.append(repr(error))

        threads = [threading.Thread(target=run) for __ in range(times)]
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

    def _count(self, query):
        with self.registry.cursor() as cr:
            cr.execute(query, [self.link_id])
            return cr.fetchone()[0]

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
        payments = self._count(
            "SELECT count(*) FROM account_payment p JOIN payment_transaction t "
            "ON t.id = p.payment_transaction_id WHERE t.komet_paylink_id = %s"
        )
        self.assertEqual(payments, 1)
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            self.assertIn(
                env["account.move"].browse(self.invoice_id).payment_state, ("paid", "in_payment")
            )
            self.assertEqual(env["komet.paylink"].browse(self.link_id).state, "paid")
