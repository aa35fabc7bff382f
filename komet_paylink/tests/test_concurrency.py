import threading
import time
from unittest.mock import patch

import psycopg2

from odoo import SUPERUSER_ID, api
from odoo.tests import TransactionCase, tagged


@tagged("post_install", "-at_install")
class TestConcurrentPresses(TransactionCase):
    """Real concurrency: each press runs in its own committed transaction, as two requests of
    a threaded Odoo would, not on the test cursor that HttpCase shares between requests."""

    def _committed_link(self):
        """A link for the demo invoice, on the demo company's provider (in demo mode),
        committed so that other cursors see it; removed again after the test."""
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            invoice = env.ref("komet_paylink.demo_invoice_cornershop")
            provider = env["payment.provider"]._paylink_provider_for(invoice.company_id)
            self.assertTrue(provider.komet_demo_mode, "the demo data's provider simulates Stripe")
            cr.execute("SELECT coalesce(max(id), 0) FROM mail_message")
            last_message_id = cr.fetchone()[0]
            link = env["komet.paylink"].create({"move_id": invoice.id})
            cr.commit()  # pylint: disable=invalid-commit
        self.addCleanup(self._remove_committed, link.id, last_message_id)
        return link.id

    def _remove_committed(self, link_id, last_message_id):
        with self.registry.cursor() as cr:
            cr.execute("DELETE FROM payment_transaction WHERE komet_paylink_id = %s", [link_id])
            cr.execute("DELETE FROM komet_paylink WHERE id = %s", [link_id])
            cr.execute("DELETE FROM mail_message WHERE id > %s", [last_message_id])
            cr.commit()  # pylint: disable=invalid-commit

    def _press_at_once(self, link_id, presses=2):
        """Press Pay `presses` times at the same instant; return the URLs and the errors."""
        barrier = threading.Barrier(presses)
        urls, errors = [], []

        def press():
            # As Odoo serves a request: a serialization failure is retried from the start in a
            # new transaction (Odoo's own `retrying` needs the registry lock the tests hold).
            try:
                for attempt in range(5):
                    with self.registry.cursor() as cr:
                        cr.transaction = api.Transaction(self.registry)
                        env = api.Environment(cr, SUPERUSER_ID, {})
                        if not attempt:
                            barrier.wait(timeout=30)
                        try:
                            url = env["komet.paylink"].browse(link_id)._paylink_start_checkout()
                            cr.commit()  # pylint: disable=invalid-commit
                        except psycopg2.errors.SerializationFailure:
                            cr.rollback()
                            continue
                        urls.append(url)
                        return
                errors.append("still conflicting after 5 attempts")
            except Exception as error:  # reported by the assertion below
                errors.append(repr(error))

        demo_model = type(self.env["komet.paylink.demo"])
        create_session = demo_model._create_session

        def slow_create_session(model, provider, params):
            # Widen the window in which a second press could open a second session.
            time.sleep(0.5)
            return create_session(model, provider, params)

        with patch.object(demo_model, "_create_session", slow_create_session):
            threads = [threading.Thread(target=press) for __ in range(presses)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
        return urls, errors

    def test_two_presses_at_the_same_instant_open_one_session(self):
        """Test that two presses of Pay at the same instant open one Checkout Session and
        send both to it."""
        link_id = self._committed_link()
        urls, errors = self._press_at_once(link_id)
        self.assertFalse(errors)
        self.assertEqual(len(urls), 2)
        self.assertEqual(len(set(urls)), 1, "both presses go to the same session")
        with self.registry.cursor() as cr:
            cr.execute(
                "SELECT count(*) FROM payment_transaction "
                "WHERE komet_paylink_id = %s AND provider_reference IS NOT NULL",
                [link_id],
            )
            self.assertEqual(cr.fetchone()[0], 1, "one Checkout Session")
