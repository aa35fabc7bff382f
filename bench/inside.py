"""The benchmark's parts that run inside Odoo, as a click-odoo script: bench/driver.py runs one
phase at a time on the benchmark's database and reads the JSON line it prints last.

    PYTHONPATH=$ODOO python bench/inside.py -c odoo.conf -d DB PHASE 'JSON PARAMETERS'
"""

import io
import json
import time

import click
import click_odoo

from odoo import Command
from odoo.tools.pdf import PdfFileReader

RESULT_MARK = "BENCH_RESULT "


def pdf_uris(raw):
    """The URLs of a PDF's clickable links (its annotations), as a PDF reader sees them."""
    uris = []
    for page in PdfFileReader(io.BytesIO(raw), strict=False).pages:
        for annotation in page.get("/Annots") or []:
            action = annotation.get_object().get("/A") or {}
            if "/URI" in action:
                uris.append(str(action["/URI"]))
    return uris


def customer(env):
    """A demo customer company with an email address (Deco Addict in Odoo's demo data)."""
    domain = [("customer_rank", ">", 0), ("email", "!=", False), ("is_company", "=", True)]
    partner = env["res.partner"].search(domain, order="id", limit=1)
    if not partner:
        raise click.ClickException("no demo customer with an email address")
    return partner


def posted_invoices(env, count, label, partner=None, cycle=None):
    """`count` posted invoices of one line; amounts repeat every `cycle` invoices."""
    line = {"quantity": 1, "tax_ids": [Command.clear()]}
    invoices = env["account.move"].create(
        [
            {
                "move_type": "out_invoice",
                "partner_id": (partner or customer(env)).id,
                "invoice_line_ids": [
                    Command.create(
                        {
                            **line,
                            "name": f"Benchmark {label} {index + 1}",
                            "price_unit": 1000.0 + index % (cycle or count),
                        }
                    )
                ],
            }
            for index in range(count)
        ]
    )
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
        "company_id": provider.company_id.id,
    }


def pdf(env, invoice_id, url, runs, out):
    """Render times of the invoice PDF with the Pay box and without (Odoo's own), alternating
    after one warm-up each. wkhtmltopdf fetches the CSS from the running server (report.url)."""
    invoice = env["account.move"].browse(invoice_id)
    renders = {
        "plain": lambda: env["ir.actions.report"]._render_qweb_pdf(
            "account.account_invoices", invoice.ids
        )[0],
        "link": lambda: invoice._paylink_render_pdf(url)[1],
    }
    times, pdfs = {"plain": [], "link": []}, {}
    for run in range(runs + 1):  # run 0 warms templates, assets and wkhtmltopdf up
        for name, render in renders.items():
            start = time.perf_counter()
            pdfs[name] = render()
            if run:
                times[name].append(time.perf_counter() - start)
    for name, raw in pdfs.items():  # kept in bench/out/ to look at
        with open(f"{out}/invoice_{name}.pdf", "wb") as handle:
            handle.write(raw)
    return {
        "runs": times,
        "sizes": {name: len(raw) for name, raw in pdfs.items()},
        "url_in_link_pdf": pdf_uris(pdfs["link"]) == [url],
    }


def send(env, sizes):
    """Odoo's send path, with a link against Odoo's own send without one, on twin invoices in
    one run: one invoice per call, interleaved and alternating which goes first (as the Send
    dialog and the scheduled action do), then a batch of N in one call each way."""
    # Queued emails (no SMTP here), on the whole environment: Odoo posts the message through
    # the invoice's own environment.
    env = env(context=dict(env.context, mail_notify_force_send=False))
    partner = customer(env)

    def send_one(invoices, with_link):
        env.flush_all()
        queries, start = env.cr.sql_log_count, time.perf_counter()
        env["account.move.send"]._generate_and_send_invoices(
            invoices, sending_methods=["email"], komet_paylink_include=with_link
        )
        env.flush_all()
        seconds = time.perf_counter() - start
        env.cr.commit()  # pylint: disable=invalid-commit
        return env.cr.sql_log_count - queries, seconds

    def twins(size, label):
        """Invoice i without a link and invoice i + size with one: same lines and amounts."""
        invoices = posted_invoices(env, 2 * size, label, partner, cycle=size)
        env.cr.commit()  # pylint: disable=invalid-commit
        return invoices[:size], invoices[size:]

    def check(invoices, with_link):
        """Each invoice: one queued email; with a link, one link 'sent' and its URL in the
        emailed PDF; without, no link. Returns (good, up to 3 problems)."""
        links = env["komet.paylink"].search([("move_id", "in", invoices.ids)])
        mails = env["mail.mail"].search(
            [("model", "=", "account.move"), ("res_id", "in", invoices.ids)]
        )
        good, problems = 0, []
        for invoice in invoices:
            own_links = links.filtered(lambda link, invoice=invoice: link.move_id == invoice)
            own_mails = mails.filtered(lambda mail, invoice=invoice: mail.res_id == invoice.id)
            pdfs = own_mails.attachment_ids.filtered(lambda a: a.mimetype == "application/pdf")
            link_ok = not own_links
            if with_link:
                link_ok = (
                    len(own_links) == 1
                    and own_links.state == "sent"
                    and len(pdfs) == 1
                    and any("/pay/" in uri for uri in pdf_uris(pdfs.raw))
                )
            if link_ok and len(own_mails) == 1 and own_mails.state == "outgoing":
                good += 1
            elif len(problems) < 3:
                problems.append(
                    f"{invoice.name}: links {own_links.mapped('state')}, "
                    f"mails {own_mails.mapped('state')}, PDFs {len(pdfs)}"
                )
        return good, problems

    def checked(result, plain, linked):
        (good, problems), (good_plain, problems_plain) = check(linked, True), check(plain, False)
        return {**result, "good": good + good_plain, "problems": problems + problems_plain}

    warm_plain, warm_linked = twins(2, "send warm-up")  # templates, reports, caches
    send_one(warm_plain, False)
    send_one(warm_linked, True)
    results = {}
    for size in sizes:
        plain, linked = twins(size, f"send {size}")
        measures = {way: {"queries": [], "seconds": []} for way in ("plain", "link")}
        for index, pair in enumerate(zip(plain, linked, strict=True)):
            for invoice in pair if index % 2 == 0 else reversed(pair):
                way = "link" if invoice in linked else "plain"
                queries, seconds = send_one(invoice, way == "link")
                measures[way]["queries"].append(queries)
                measures[way]["seconds"].append(seconds)
        results[str(size)] = checked(measures, plain, linked)
        plain, linked = twins(size, f"batch {size}")
        batch = {}
        for invoices, way in ((plain, "plain"), (linked, "link")):
            queries, seconds = send_one(invoices, way == "link")
            batch[way] = {"queries": queries, "seconds": seconds}
        results[f"batch {size}"] = checked(batch, plain, linked)
    return results


def webhook(env, count):
    """Links with a Checkout Session each, opened through the driver's fake Stripe API."""
    invoices = posted_invoices(env, count, "webhook")
    links = env["komet.paylink"].create([{"move_id": invoice.id} for invoice in invoices])
    sessions = []
    for link in links:
        link._paylink_start_checkout()
        transaction = link.transaction_ids[:1]
        sessions.append(
            {
                "session_id": transaction.provider_reference,
                "transaction_id": transaction.id,
                "invoice_id": link.move_id.id,
                "link_id": link.id,
            }
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


PHASES = {phase.__name__: phase for phase in (prepare, pdf, send, webhook, booked)}


@click.command()
@click_odoo.env_options(with_rollback=False, default_log_level="warn")
@click.argument("phase", type=click.Choice(sorted(PHASES)))
@click.argument("parameters")
def main(env, phase, parameters):
    """Run one PHASE with its JSON PARAMETERS; print its result as a JSON line; commit."""
    result = PHASES[phase](env, **json.loads(parameters))
    click.echo(RESULT_MARK + json.dumps(result))


if __name__ == "__main__":
    main()
