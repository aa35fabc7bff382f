"""The benchmark's parts that run inside Odoo, as a click-odoo script: bench/driver.py runs one
phase at a time on the benchmark's database and reads the JSON line it prints last.

    PYTHONPATH=$ODOO python bench/inside.py -c odoo.conf -d DB PHASE 'JSON PARAMETERS'
"""

import base64
import io
import json
import time
from datetime import timedelta
from pathlib import Path

import click
import click_odoo

from odoo import Command, fields
from odoo.tools.pdf import PdfFileReader


def pdf_uris(raw):
    """The URLs of a PDF's clickable links (its annotations), as a PDF reader sees them."""
    uris = []
    for page in PdfFileReader(io.BytesIO(raw), strict=False).pages:
        for annotation in page.get("/Annots") or []:
            action = annotation.get_object().get("/A") or {}
            if "/URI" in action:
                uris.append(str(action["/URI"]))
    return uris


def posted_invoices(env, count, label, cycle=None):
    """`count` posted invoices of one line for a demo customer company with an email address
    (Deco Addict); amounts repeat every `cycle` invoices."""
    domain = [("customer_rank", ">", 0), ("email", "!=", False), ("is_company", "=", True)]
    partner = env["res.partner"].search(domain, order="id", limit=1).ensure_one()

    def values(index):
        price = 1000.0 + index % (cycle or count)
        line = {"name": f"Benchmark {label} {index + 1}", "price_unit": price}
        lines = [Command.create({**line, "tax_ids": [Command.clear()]})]
        return {"move_type": "out_invoice", "partner_id": partner.id, "invoice_line_ids": lines}

    invoices = env["account.move"].create([values(index) for index in range(count)])
    invoices.action_post()
    return invoices


def prepare(env, base_url, stripe_api_base, secret_key, webhook_secret):
    """Before the server starts (so that it caches nothing stale): the system parameters, the
    company's Stripe secrets, and the invoice both pages show, with its portal token and link."""
    parameters = env["ir.config_parameter"].sudo()
    parameters.set_param("web.base.url", base_url)
    parameters.set_param("web.base.url.freeze", "True")
    parameters.set_param("report.url", base_url)
    parameters.set_param("komet_paylink.stripe_api_base", stripe_api_base)
    provider = env["payment.provider"]._paylink_provider_for(env.ref("base.main_company"))
    provider._paylink_set_account(
        secret_key=secret_key, webhook_secret=webhook_secret, demo_mode=False
    )
    invoice = posted_invoices(env, 1, "page")
    access_token = invoice._portal_ensure_token()
    link = env["komet.paylink"].create({"move_id": invoice.id})
    return {
        "invoice_id": invoice.id,
        "invoice_name": invoice.name,
        "access_token": access_token,
        "link_url": link.url,  # readable only now, right after create
    }


def pdf(env, invoice_id, url, runs):
    """Render times of the invoice PDF with the Pay box and without (Odoo's own), alternating
    after one warm-up each. wkhtmltopdf fetches the CSS from the running server (report.url)."""
    invoice = env["account.move"].browse(invoice_id)
    report = env["ir.actions.report"]
    renders = {
        "plain": lambda: report._render_qweb_pdf("account.account_invoices", invoice.ids)[0],
        "link": lambda: invoice._paylink_stamp_pdf(
            url,
            invoice._paylink_amount_due(),
            report._render_qweb_pdf("account.account_invoices", invoice.ids)[0],
        ),
    }
    times, pdfs = {"plain": [], "link": []}, {}
    for run in range(runs + 1):  # run 0 warms templates, assets and wkhtmltopdf up
        for name, render in renders.items():
            start = time.perf_counter()
            pdfs[name] = render()
            times[name] += [time.perf_counter() - start] if run else []
    for name, raw in pdfs.items():  # kept in bench/out/ to look at
        Path(__file__).with_name("out").joinpath(f"invoice_{name}.pdf").write_bytes(raw)
    sizes = {name: len(raw) for name, raw in pdfs.items()}
    return {"runs": times, "sizes": sizes, "url_in_link_pdf": pdf_uris(pdfs["link"]) == [url]}


def send(env, sizes):
    """Odoo's send path, with a link against Odoo's own send without one, on twin invoices (same
    lines and amounts) in one run: one invoice per call, interleaved and alternating which goes
    first (as the Send dialog and the scheduled action do), then a batch of N in one call each
    way. Per size and way: the SQL queries and seconds of each call, and checks of the result."""
    # Queued emails (no SMTP here), on the whole environment: Odoo posts the message through
    # the invoice's own environment.
    env = env(context=dict(env.context, mail_notify_force_send=False))

    def twins(size, label):
        invoices = posted_invoices(env, 2 * size, label, cycle=size)
        env.cr.commit()  # pylint: disable=invalid-commit
        return {"plain": invoices[:size], "link": invoices[size:]}

    def send_into(measures, way, invoices):
        env.flush_all()
        queries, start = env.cr.sql_log_count, time.perf_counter()
        env["account.move.send"]._generate_and_send_invoices(
            invoices, sending_methods=["email"], komet_paylink_include=way == "link"
        )
        env.flush_all()
        measures[way]["seconds"].append(time.perf_counter() - start)
        env.cr.commit()  # pylint: disable=invalid-commit
        measures[way]["queries"].append(env.cr.sql_log_count - queries)

    def check(twins):
        """Each invoice: one queued email; with a link, one link 'sent' and its URL in the
        emailed PDF; without, no link."""
        good, problems = 0, []
        for way, invoices in twins.items():
            for invoice in invoices:
                links = env["komet.paylink"].search([("move_id", "=", invoice.id)])
                mails = env["mail.mail"].search(
                    [("model", "=", "account.move"), ("res_id", "=", invoice.id)]
                )
                pdfs = mails.attachment_ids.filtered(lambda a: a.mimetype == "application/pdf")
                ok = len(mails) == 1 and mails.state == "outgoing"
                if way == "plain":
                    ok = ok and not links
                else:
                    in_pdf = len(pdfs) == 1 and any("/pay/" in u for u in pdf_uris(pdfs.raw))
                    ok = ok and in_pdf and len(links) == 1 and links.state == "sent"
                good += ok
                if not ok:
                    problems.append(
                        f"{invoice.name}: links {links.mapped('state')}, "
                        f"mails {mails.mapped('state')}, PDFs {len(pdfs)}"
                    )
        return {"good": good, "problems": problems[:3]}

    measures = {way: {"queries": [], "seconds": []} for way in ("plain", "link")}
    for way, invoices in twins(2, "warm-up").items():  # templates, reports, caches
        send_into(measures, way, invoices)
    results = {}
    for size in sizes:
        for key in (str(size), f"batch {size}"):
            invoices = twins(size, key)
            measures = {way: {"queries": [], "seconds": []} for way in invoices}
            if key.startswith("batch"):
                for way, batch in invoices.items():
                    send_into(measures, way, batch)
            else:
                for index in range(size):
                    for way in ("plain", "link")[:: -1 if index % 2 else 1]:
                        send_into(measures, way, invoices[way][index])
            results[key] = {**measures, **check(invoices)}
    return results


def webhook(env, count):
    """Links with a Checkout Session each, opened through the driver's fake Stripe API."""
    invoices = posted_invoices(env, count, "webhook")
    links = env["komet.paylink"].create([{"move_id": invoice.id} for invoice in invoices])
    sessions = []
    for link in links:
        link._paylink_start_checkout()
        tx = link.transaction_ids[:1]
        sessions.append(
            {"session_id": tx.provider_reference, "transaction_id": tx.id, "link_id": link.id}
        )
    return sessions


def booked(env, sessions):
    """For each session: the payments its transaction booked, and the state of its link."""
    payments = env["account.payment"].with_context(active_test=False)
    return [
        [
            payments.search_count([("payment_transaction_id", "=", item["transaction_id"])]),
            env["komet.paylink"].browse(item["link_id"]).state,
        ]
        for item in sessions
    ]


REMINDER_STEP = 3  # the company's reminder days in these phases: "3"


def new_customer(env, name):
    return env["res.partner"].create(
        {"name": name, "email": f"{name.lower().replace(' ', '.')}@example.com", "is_company": 1}
    )


def overdue_invoices(env, count, label):
    """`count` posted invoices of a new customer, due `REMINDER_STEP` days ago, with reminders
    on for the company since then: each is due for one reminder now, and nothing else is
    (the customers of other invoices due for one opt out)."""
    today = fields.Date.context_today(env.user)
    due = today - timedelta(days=REMINDER_STEP)
    company = env.ref("base.main_company")
    company.write({"komet_paylink_reminder_days": str(REMINDER_STEP)})
    company.komet_paylink_reminders_since = due
    customer = new_customer(env, f"Bench late payer {label}")
    lines = [Command.create({"name": label, "price_unit": 700.0, "tax_ids": [Command.clear()]})]
    invoices = env["account.move"].create(
        [
            {
                "move_type": "out_invoice",
                "partner_id": customer.id,
                "invoice_date": due,
                "invoice_date_due": due,
                "invoice_line_ids": lines,
            }
            for __ in range(count)
        ]
    )
    invoices.action_post()
    invoices.invoice_date_due = due
    due_now = env["account.move"]._paylink_reminders_due(company, (REMINDER_STEP,), due)
    others = [invoice for invoice, __ in due_now if invoice not in invoices]
    env["account.move"].concat(*others).commercial_partner_id.komet_paylink_opt_out = True
    env.cr.commit()  # pylint: disable=invalid-commit
    return invoices


def reminded(env, invoice_ids):
    """For each invoice: its reminder links and its emails."""
    return [
        [
            env["komet.paylink"].search_count(
                [("move_id", "=", invoice_id), ("reminder_days", "=", REMINDER_STEP)]
            ),
            env["mail.mail"].search_count(
                [("model", "=", "account.move"), ("res_id", "=", invoice_id)]
            ),
        ]
        for invoice_id in invoice_ids
    ]


def reminders(env, size):
    """A reminder run per invoice against Odoo's own send per invoice, on twin invoices (same
    line and amount), in one process: runs of the scheduled action's code (a batch each),
    interleaved with as many of Odoo's sends (one invoice per call, no link)."""
    env = env(context=dict(env.context, mail_notify_force_send=False))
    late = overdue_invoices(env, size, "reminders")
    plain = list(overdue_invoices(env, size, "plain").with_env(env))
    late.commercial_partner_id.komet_paylink_opt_out = False
    plain[0].commercial_partner_id.komet_paylink_opt_out = True  # never reminded
    measures = {way: {"queries": [], "seconds": [], "invoices": []} for way in ("link", "plain")}
    Move = env["account.move"]

    def measure(way, work):
        env.flush_all()
        queries, start = env.cr.sql_log_count, time.perf_counter()
        count = work()
        env.flush_all()
        measures[way]["seconds"].append(time.perf_counter() - start)
        env.cr.commit()  # pylint: disable=invalid-commit
        measures[way]["queries"].append(env.cr.sql_log_count - queries)
        measures[way]["invoices"].append(count)

    def one_run():
        before = sum(links for links, __ in reminded(env, late.ids))
        Move._cron_paylink_send_reminders()
        return sum(links for links, __ in reminded(env, late.ids)) - before

    def sends(count):
        for __ in range(count):
            invoice = plain.pop()
            env["account.move.send"]._generate_and_send_invoices(
                invoice, sending_methods=["email"], komet_paylink_include=False
            )
        return count

    while plain:
        measure("link", one_run)
        count = measures["link"]["invoices"][-1]
        if not count:
            break
        measure("plain", lambda count=count: sends(min(count, len(plain))))
    return {**measures, "reminded": reminded(env, late.ids)}


def statements(env, sizes):
    """A statement link for each size: a new customer with that many open invoices, sent (Odoo
    keeps the PDF of each)."""
    found = {}
    for size in sizes:
        customer = new_customer(env, f"Bench statement {size}")
        line = {"name": "Statement", "price_unit": 90.0, "tax_ids": [Command.clear()]}
        invoices = env["account.move"].create(
            [
                {
                    "move_type": "out_invoice",
                    "partner_id": customer.id,
                    "invoice_line_ids": [Command.create(line)],
                }
                for __ in range(size)
            ]
        )
        invoices.action_post()
        # Sent invoices, as a customer's statement lists them: Odoo keeps a PDF of each.
        for invoice in invoices:
            invoice.invoice_pdf_report_file = base64.b64encode(b"%PDF-1.4 " + invoice.name.encode())
        link = env["komet.paylink"].create({"move_ids": [Command.set(invoices.ids)]})
        found[str(size)] = {"url": link.url, "invoices": len(link.move_ids)}
    return found


def ledger(env, count, customers=100, batch=500):
    """`count` more posted invoices, spread over `customers` new customers, committed a batch
    at a time: a wholesaler's receivables ledger."""
    partners = [new_customer(env, f"Bench ledger {index}") for index in range(customers)]
    line = {"name": "Ledger", "price_unit": 250.0, "tax_ids": [Command.clear()]}
    for start in range(0, count, batch):
        invoices = env["account.move"].create(
            [
                {
                    "move_type": "out_invoice",
                    "partner_id": partners[index % customers].id,
                    "invoice_line_ids": [Command.create(line)],
                }
                for index in range(start, min(start + batch, count))
            ]
        )
        invoices.action_post()
        env.cr.commit()  # pylint: disable=invalid-commit
    return {
        "posted": env["account.move"].search_count(
            [("move_type", "=", "out_invoice"), ("state", "=", "posted")]
        )
    }


def backlog(env, count):
    """`count` overdue invoices due for a reminder, for the prefork cron worker."""
    return overdue_invoices(env, count, "backlog").ids


def trigger_reminders(env):
    """Wake the cron workers for the reminder job, as Odoo's own jobs are (a trigger)."""
    env.ref("komet_paylink.ir_cron_send_reminders")._trigger()
    return True


PHASES = {
    phase.__name__: phase
    for phase in (
        prepare,
        pdf,
        send,
        webhook,
        booked,
        reminders,
        statements,
        ledger,
        backlog,
        trigger_reminders,
        reminded,
    )
}


@click.command()
@click_odoo.env_options(with_rollback=False, default_log_level="warn")
@click.argument("phase", type=click.Choice(sorted(PHASES)))
@click.argument("parameters")
def main(env, phase, parameters):
    """Run one PHASE with its JSON PARAMETERS; print its result as a JSON line; commit."""
    result = PHASES[phase](env, **json.loads(parameters))
    click.echo("BENCH_RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
