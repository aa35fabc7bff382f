"""Benchmark of komet_paylink against Odoo's own pages, on a real Odoo 18 and PostgreSQL.

Run it through `bench/run` (which runs scripts/setup, finds Odoo and uses the project's venv):

    bench/run [--keep] [--quick]

In one run it creates a database `komet_bench_<random>` with demo data and komet_paylink,
starts Odoo on a free port of 127.0.0.1 (threaded, --workers=0), and measures:

1. the payment page `GET /pay/<token>` against Odoo's portal invoice page
   `GET /my/invoices/<id>?access_token=<token>` (same invoice, anonymous): SQL queries per
   request (read from Odoo's request log), client latency p50/p99 over sequential requests and
   under 10 concurrent clients;
2. the invoice PDF with the Pay now button and QR code against the plain invoice PDF;
3. sending invoices with a link against Odoo's own send of twin invoices without one, in one
   run: N=5 and N=50 invoices one per call, then a batch of N in one call each way; SQL
   queries and seconds;
4. Stripe webhooks (fake Stripe API of komet_paylink/tests/stripe_fake.py in this process):
   latency per event, then concurrent deliveries for one session, which must book one payment.

Targets (a FAIL in the table, exit 1): the page's queries and p50 latencies not above the
portal page's; the PDF with the link at most 5 % slower; sending with a link at most 1.1 times
the seconds and 1.2 times the queries of Odoo's own send without one, one per call and in a
batch; the same queries per invoice at both N; each invoice emailed once, with a link one link
'sent' and its URL in the emailed PDF; every webhook delivery answered 2xx,
or 503 when another delivery was booking the same session (Stripe delivers it again: the bench
does too, and then wants 2xx); the concurrently delivered session booked exactly once.

It prints one table (also written to bench/out/results.md) and exits 1 when a target is
missed, 3 when the benchmark itself could not run. The database and its filestore are dropped
at the end unless --keep; the logs stay in bench/out/.
"""

import argparse
import importlib.util
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import traceback
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import requests
from psycopg2 import sql

REPO = Path(__file__).resolve().parent.parent
OUT_DIR = REPO / "bench" / "out"
STRIPE_FAKE = REPO / "komet_paylink" / "tests" / "stripe_fake.py"
FILESTORE_ROOT = Path.home() / ".local" / "share" / "Odoo" / "filestore"

# The sizes the brief asks for; --quick shrinks them for a smoke run of the script itself.
FULL = {
    "page_requests": 200,
    "concurrent_clients": 10,
    "concurrent_requests": 300,
    "pdf_runs": 7,
    "send_sizes": (5, 50),
    "webhook_sessions": 40,
    "concurrent_deliveries": 50,
}
QUICK = {
    "page_requests": 20,
    "concurrent_clients": 4,
    "concurrent_requests": 20,
    "pdf_runs": 1,
    "send_sizes": (2, 4),
    "webhook_sessions": 5,
    "concurrent_deliveries": 10,
}
WARMUP_REQUESTS = 10
PDF_TARGET_RATIO = 1.05
# Sending with a link against Odoo's own send of a like invoice without one.
SEND_TIME_TARGET = 1.1
SEND_QUERY_TARGET = 1.2
# Fake test-mode secrets, known only to the fake Stripe API and the throwaway database.
STRIPE_SECRET_KEY = "sk_test_bench_komet_paylink_0000"  # noqa: S105
STRIPE_WEBHOOK_SECRET = "whsec_bench_komet_paylink_0000"  # noqa: S105
WEBHOOK_ROUTE = "/komet_paylink/webhook/stripe"
HTTP_TIMEOUT = 120

# Odoo's request log line ends with `"GET /path HTTP/1.1" 200 - <queries> <query s> <other s>`.
REQUEST_LOG = re.compile(
    r'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/[\d.]+" (?P<status>\d{3}) \S+ '
    r"(?P<queries>\d+) (?P<query_time>[\d.]+) (?P<other_time>[\d.]+)"
)
# What Odoo logs when it retries a request after a serialization failure, or gives up.
RETRY_LOG = re.compile(r"tries left, try again in")
GAVE_UP_LOG = re.compile(r"maximum number of tries reached")
# What Odoo logs when a request finds every connection of its pool (db_maxconn) in use.
POOL_FULL_LOG = "The Connection Pool Is Full"
# The first line of each record of Odoo's log: "2024-11-25 04:12:23,512 <pid> <LEVEL> ...".
LOG_RECORD_START = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ")

RESULT_MARK = "BENCH_RESULT "


class BenchError(Exception):
    """The benchmark could not run (as opposed to a target being missed)."""


def log(message):
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# === ODOO SHELL SCRIPTS === #
# Each runs in `odoo-bin shell` (which executes its stdin with `env` as superuser), after a
# prelude that defines `params` and the helpers below, and reports with `emit(...)`.

SHELL_HELPERS = """
import json
import time

from odoo import Command


def emit(value):
    print(RESULT_MARK + json.dumps(value), flush=True)


def pdf_uris(raw):
    # The URLs of a PDF's clickable links (its annotations), as a PDF reader sees them.
    import io

    from odoo.tools.pdf import PdfFileReader

    uris = []
    for page in PdfFileReader(io.BytesIO(raw), strict=False).pages:
        for annotation in page.get("/Annots") or []:
            action = annotation.get_object().get("/A") or {}
            if "/URI" in action:
                uris.append(str(action["/URI"]))
    return uris


def bench_customer():
    # A demo customer company with an email address (Deco Addict in Odoo's demo data).
    partner = env["res.partner"].search(
        [("customer_rank", ">", 0), ("email", "!=", False), ("is_company", "=", True)],
        order="id",
        limit=1,
    )
    if not partner:
        raise RuntimeError("no demo customer with an email address")
    return partner


def bench_invoices(partner, count, label):
    invoices = env["account.move"].create(
        [
            {
                "move_type": "out_invoice",
                "partner_id": partner.id,
                "invoice_line_ids": [
                    Command.create(
                        {
                            "name": f"Benchmark {label} {index + 1}",
                            "quantity": 1,
                            "price_unit": 1000.0 + index,
                            "tax_ids": [Command.clear()],
                        }
                    )
                ],
            }
            for index in range(count)
        ]
    )
    invoices.action_post()
    return invoices
"""

# Before the server starts (so that it caches nothing stale): the system parameters, the
# company's Stripe secrets, and the invoice both pages show, with its portal token and link.
PREPARE_SCRIPT = """
parameters = env["ir.config_parameter"].sudo()
for key, value in (
    ("web.base.url", params["base_url"]),
    ("web.base.url.freeze", "True"),
    ("report.url", params["base_url"]),
    ("komet_paylink.stripe_api_base", params["stripe_api_base"]),
):
    parameters.set_param(key, value)
provider = env["payment.provider"]._paylink_provider_for(env.ref("base.main_company"))
provider._paylink_set_account(
    secret_key=params["stripe_secret_key"],
    webhook_secret=params["stripe_webhook_secret"],
    demo_mode=False,
)
invoice = bench_invoices(bench_customer(), 1, "page")
access_token = invoice._portal_ensure_token()
link = env["komet.paylink"].create({"move_id": invoice.id})
url = link.url  # readable only now, right after create
env.cr.commit()
emit(
    {
        "invoice_id": invoice.id,
        "invoice_name": invoice.name,
        "access_token": access_token,
        "link_url": url,
        "company_id": provider.company_id.id,
    }
)
"""

# While the server runs: wkhtmltopdf fetches the report's CSS from it (report.url).
PDF_SCRIPT = """
invoice = env["account.move"].browse(params["invoice_id"])
reports = env["ir.actions.report"]


def plain():
    return reports._render_qweb_pdf("account.account_invoices", invoice.ids)[0]


def with_link():
    return invoice._paylink_render_pdf(params["url"])[1]


def timed(render):
    start = time.perf_counter()
    pdf = render()
    return time.perf_counter() - start, pdf


timed(plain)  # warm-up: templates, assets, wkhtmltopdf
timed(with_link)
runs = {"plain": [], "link": []}
pdfs = {}
for __ in range(params["runs"]):
    for name, render in (("plain", plain), ("link", with_link)):
        seconds, pdfs[name] = timed(render)
        runs[name].append(seconds)
for name, pdf in pdfs.items():  # kept in bench/out/ to look at
    with open(f"{params['out']}/invoice_{name}.pdf", "wb") as handle:
        handle.write(pdf)
emit(
    {
        "runs": runs,
        "sizes": {name: len(pdf) for name, pdf in pdfs.items()},
        "url_in_link_pdf": pdf_uris(pdfs["link"]) == [params["url"]],
    }
)
"""

# Odoo's send path, with a link against Odoo's own send without one, on twin invoices (same
# customer, lines and amounts) in one run: one invoice per call, interleaved and alternating
# which goes first, as the Send dialog and the scheduled action do; then a batch of N
# invoices in one call each way, as the batch dialog does.
SEND_SCRIPT = """
# Queue the emails (no SMTP here): on the whole environment, since Odoo posts the message
# through the invoice's own environment, not the sender's.
env = env(context=dict(env.context, mail_notify_force_send=False))
sender = env["account.move.send"]
partner = bench_customer()


def send(invoices, include):
    env.flush_all()
    queries = env.cr.sql_log_count
    start = time.perf_counter()
    sender._generate_and_send_invoices(
        invoices, sending_methods=["email"], komet_paylink_include=include
    )
    env.flush_all()
    seconds = time.perf_counter() - start
    env.cr.commit()
    return env.cr.sql_log_count - queries, seconds


def check(invoices, with_link):
    # Each invoice: one queued email; with a link, exactly one link in state 'sent' and the
    # URL in the emailed PDF; without, no link.
    links = env["komet.paylink"].search([("move_id", "in", invoices.ids)])
    mails = env["mail.mail"].search(
        [("model", "=", "account.move"), ("res_id", "in", invoices.ids)]
    )
    good = 0
    problems = []
    for invoice in invoices:
        own_links = links.filtered(lambda link: link.move_id == invoice)
        own_mails = mails.filtered(lambda mail: mail.res_id == invoice.id)
        pdfs = own_mails.attachment_ids.filtered(lambda a: a.mimetype == "application/pdf")
        if with_link:
            link_ok = (
                len(own_links) == 1
                and own_links.state == "sent"
                and len(pdfs) == 1
                and any("/pay/" in uri for uri in pdf_uris(pdfs.raw))
            )
        else:
            link_ok = not own_links
        if link_ok and len(own_mails) == 1 and own_mails.state == "outgoing":
            good += 1
        elif len(problems) < 3:
            problems.append(
                f"{invoice.name}: links {own_links.mapped('state')}, "
                f"mails {own_mails.mapped('state')}, PDFs {len(pdfs)}"
            )
    return good, problems


def twins(size, label):
    invoices = bench_invoices(partner, 2 * size, label)
    env.cr.commit()
    # Invoice i without a link and invoice i + size with one have the same lines and amounts.
    plain = invoices[:size]
    linked = invoices[size:]
    for a, b in zip(plain, linked):
        b.invoice_line_ids.price_unit = a.invoice_line_ids.price_unit
    env.cr.commit()
    return plain, linked


# Templates, reports, caches and the renderer's ability to split one render of several
# invoices, so that no measure pays for them.
warm_plain, warm_linked = twins(2, "send warm-up")
send(warm_plain, False)
send(warm_linked, True)
results = {}
for size in params["sizes"]:
    plain, linked = twins(size, f"send {size}")
    measures = {"plain": {"queries": [], "seconds": []}, "link": {"queries": [], "seconds": []}}
    for index, (a, b) in enumerate(zip(plain, linked)):
        order = ((a, "plain"), (b, "link")) if index % 2 == 0 else ((b, "link"), (a, "plain"))
        for invoice, way in order:
            count, elapsed = send(invoice, way == "link")
            measures[way]["queries"].append(count)
            measures[way]["seconds"].append(elapsed)
    good, problems = check(linked, True)
    good_plain, problems_plain = check(plain, False)
    results[str(size)] = {
        **measures,
        "good": good + good_plain,
        "problems": problems + problems_plain,
    }
    plain, linked = twins(size, f"batch {size}")
    batch = {}
    for invoices, way in ((plain, "plain"), (linked, "link")):
        count, elapsed = send(invoices, way == "link")
        batch[way] = {"queries": count, "seconds": elapsed}
    good, problems = check(linked, True)
    good_plain, problems_plain = check(plain, False)
    results[f"batch {size}"] = {
        **batch,
        "good": good + good_plain,
        "problems": problems + problems_plain,
    }
emit(results)
"""

# Links with a Checkout Session each, created through the fake Stripe API of the driver.
WEBHOOK_SCRIPT = """
invoices = bench_invoices(bench_customer(), params["count"], "webhook")
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
env.cr.commit()
emit(sessions)
"""


# === STATISTICS === #


def percentile(values, q):
    """The q-th percentile (0-100) of `values`, interpolated between the closest ranks."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def ms(seconds):
    return f"{seconds * 1000:.1f} ms"


def ratio(ours, reference):
    return ours / reference if reference else float("nan")


@dataclass
class Row:
    measure: str
    ours: str
    reference: str = "—"
    target: str = "—"
    passed: bool | None = None  # None: for information, no target

    @property
    def verdict(self):
        return {True: "PASS", False: "FAIL", None: "—"}[self.passed]


def markdown_table(rows):
    header = ("measure", "komet_paylink", "Odoo reference", "ratio/target", "pass/fail")
    cells = [header] + [(r.measure, r.ours, r.reference, r.target, r.verdict) for r in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(header))]

    def line(values):
        return "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)) + " |"

    separator = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), separator] + [line(values) for values in cells[1:]])


# === THE BENCHMARK === #


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def load_stripe_fake():
    """komet_paylink/tests/stripe_fake.py, imported by path: it is standard library only."""
    spec = importlib.util.spec_from_file_location("komet_stripe_fake", STRIPE_FAKE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def new_session():
    session = requests.Session()
    session.trust_env = False  # loopback only: no proxy from the environment
    return session


class Benchmark:
    def __init__(self, args):
        self.odoo_dir = Path(args.odoo).resolve()
        self.keep = args.keep
        self.sizes = QUICK if args.quick else FULL
        self.quick = args.quick
        self.db = f"komet_bench_{secrets.token_hex(4)}"
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.out = OUT_DIR
        self.server_log = self.out / "server.log"
        self.server = None
        self.db_created = False
        self.stripe = load_stripe_fake()
        self.fake = None
        self.page = {}
        self.rows = []
        self.timings = {}
        self.raw = {}  # what the Odoo shells reported, written to bench/out/raw.json

    # --- Odoo processes --- #

    def odoo_args(self, *command):
        return [
            sys.executable,
            str(self.odoo_dir / "odoo-bin"),
            *command,
            f"--config={self.out / 'odoo.conf'}",  # empty: no ~/.odoorc changes the run
            "-d",
            self.db,
            f"--addons-path={self.odoo_dir / 'addons'},{REPO}",
        ]

    def install(self):
        log(f"creating {self.db} with demo data and komet_paylink (about a minute)")
        self.db_created = True  # from here on, the database may exist: drop it at the end
        command = self.odoo_args() + [
            "-i",
            "komet_paylink",
            "--without-demo=",  # demo data whatever a configuration says
            "--stop-after-init",
            "--log-level=warn",
            f"--logfile={self.out / 'install.log'}",
        ]
        self.run_logged("install", command)

    def run_logged(self, name, command, stdin=None):
        """Run an Odoo command, its output into bench/out/<name>.out; return its stdout."""
        result = subprocess.run(
            command,
            input=stdin,
            capture_output=True,
            text=True,
            cwd=self.out,
            check=False,
        )
        (self.out / f"{name}.out").write_text(result.stdout + result.stderr)
        if result.returncode:
            tail = (result.stdout + result.stderr).strip().splitlines()[-25:]
            raise BenchError(
                f"{name} failed (exit {result.returncode}); its output, in "
                f"{self.out / (name + '.out')}, ends with:\n" + "\n".join(tail)
            )
        return result.stdout

    def shell(self, name, script, **params):
        """Run `script` in an odoo-bin shell on the database; return what it emitted."""
        prelude = (
            f"RESULT_MARK = {RESULT_MARK!r}\n"
            f"params = __import__('json').loads({json.dumps(params)!r})\n"
        )
        command = self.odoo_args("shell") + ["--no-http", "--log-level=warn"]
        stdout = self.run_logged(name, command, stdin=prelude + SHELL_HELPERS + script)
        for line in stdout.splitlines():
            if line.startswith(RESULT_MARK):
                return json.loads(line[len(RESULT_MARK) :])
        raise BenchError(f"{name}: the Odoo shell reported nothing (see {self.out / name}.out)")

    def start_server(self):
        log(f"starting Odoo on {self.base_url} (log: {self.server_log})")
        command = self.odoo_args() + [
            f"--db-filter=^{re.escape(self.db)}$",
            "--http-interface=127.0.0.1",
            f"--http-port={self.port}",
            "--workers=0",
            "--max-cron-threads=0",
            "--log-level=info",
            f"--logfile={self.server_log}",
        ]
        with open(self.out / "server.out", "w") as output:
            self.server = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                cwd=self.out,
                start_new_session=True,  # Ctrl-C reaches us; we stop the server ourselves
            )
        deadline = time.monotonic() + 120
        with new_session() as client:
            while time.monotonic() < deadline:
                if self.server.poll() is not None:
                    raise BenchError(f"Odoo stopped at start (see {self.server_log})")
                try:
                    if client.get(f"{self.base_url}/web/health", timeout=5).ok:
                        return
                except requests.ConnectionError:
                    pass
                time.sleep(0.5)
        raise BenchError(f"Odoo did not answer on {self.base_url} within 120 s")

    def stop_server(self):
        if self.server is None or self.server.poll() is not None:
            return
        log(f"stopping Odoo (pid {self.server.pid})")
        self.server.terminate()
        try:
            self.server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.server.kill()
            self.server.wait(timeout=10)

    def drop_database(self):
        if self.keep:
            log(f"kept the database {self.db} and its filestore (--keep)")
            return
        log(f"dropping the database {self.db} and its filestore")
        connection = psycopg2.connect(dbname="postgres")
        connection.autocommit = True
        try:
            with connection.cursor() as cursor:
                cursor.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(self.db)
                    )
                )
        finally:
            connection.close()
        shutil.rmtree(FILESTORE_ROOT / self.db, ignore_errors=True)

    def cleanup(self):
        try:
            self.stop_server()
        finally:
            if self.fake is not None:
                self.fake.stop()
            if self.db_created:
                self.drop_database()

    def query_db(self, query, params=None):
        connection = psycopg2.connect(dbname=self.db)
        try:
            with connection.cursor() as cursor:
                cursor.execute(query, params)
                return cursor.fetchall()
        finally:
            connection.close()

    def log_offset(self):
        return self.server_log.stat().st_size if self.server_log.exists() else 0

    def log_since(self, offset):
        time.sleep(0.5)  # Odoo logs a request just after it sent the response
        with open(self.server_log, encoding="utf-8", errors="replace") as handle:
            handle.seek(offset)
            return handle.read().splitlines()

    def request_log(self, offset):
        """(method, path, status, queries) of each request Odoo logged since `offset`."""
        entries = []
        for line in self.log_since(offset):
            match = REQUEST_LOG.search(line)
            if match:
                entries.append(
                    (
                        match["method"],
                        match["path"],
                        int(match["status"]),
                        int(match["queries"]),
                    )
                )
        return entries

    # --- the phases --- #

    def run(self):
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "odoo.conf").write_text("[options]\n")
        for stale in (
            "server.log",
            "results.md",
            "raw.json",
            "invoice_plain.pdf",
            "invoice_link.pdf",
        ):
            (self.out / stale).unlink(missing_ok=True)
        started = time.perf_counter()
        self.fake = self.stripe.FakeStripeServer().start()
        self.install()
        self.timings["install"] = time.perf_counter() - started
        log("setting up: system parameters, Stripe secrets, the invoice of the page measures")
        self.page = self.shell(
            "prepare",
            PREPARE_SCRIPT,
            base_url=self.base_url,
            stripe_api_base=self.fake.base_url,
            stripe_secret_key=STRIPE_SECRET_KEY,
            stripe_webhook_secret=STRIPE_WEBHOOK_SECRET,
        )
        self.start_server()
        self.timings["setup"] = time.perf_counter() - started - self.timings["install"]
        for name, phase in (
            ("pages", self.bench_pages),
            ("pdf", self.bench_pdf),
            ("send", self.bench_send),
            ("webhooks", self.bench_webhooks),
        ):
            phase_start = time.perf_counter()
            phase()
            self.timings[name] = time.perf_counter() - phase_start
        self.rows.append(self.server_errors_row())
        self.timings["total"] = time.perf_counter() - started
        return self.rows

    def server_errors_row(self):
        """The ERROR records of the server's whole log, by cause, for information. Odoo logs
        as an ERROR ("bad query") each serialization failure it then retries, unless the query
        asked it not to (komet_paylink's row lock and event store do)."""
        causes = Counter()
        record = []
        for line in [*self.log_since(0), "0000-00-00 00:00:00,000 end"]:
            if LOG_RECORD_START.match(line):
                if record and " ERROR " in record[0]:
                    text = "\n".join(record)
                    if POOL_FULL_LOG in text:  # may follow a serialization failure
                        causes["connection pool full (HTTP 500)"] += 1
                    elif "could not serialize access" in text:
                        causes["serialization failures, retried"] += 1
                    else:
                        causes["other"] += 1
                record = []
            record.append(line)
        detail = ", ".join(f"{n} {cause}" for cause, n in causes.most_common())
        return Row(
            "Server log: ERROR records over the run",
            f"{sum(causes.values())}" + (f" ({detail})" if detail else ""),
        )

    def page_urls(self):
        portal = f"/my/invoices/{self.page['invoice_id']}?access_token={self.page['access_token']}"
        return {"ours": self.page["link_url"], "odoo": f"{self.base_url}{portal}"}, portal

    def bench_pages(self):
        urls, portal_path = self.page_urls()
        sizes = self.sizes

        def fetch(client, page):
            start = time.perf_counter()
            response = client.get(urls[page], timeout=HTTP_TIMEOUT, allow_redirects=False)
            elapsed = time.perf_counter() - start
            if response.status_code != 200:
                raise BenchError(f"GET {page} page answered {response.status_code}")
            return elapsed

        log(f"pages: warm-up ({WARMUP_REQUESTS} requests each)")
        with new_session() as client:
            for __ in range(WARMUP_REQUESTS):
                for page in urls:
                    fetch(client, page)
            text = client.get(urls["ours"], timeout=HTTP_TIMEOUT).text
            if self.page["invoice_name"] not in text:
                raise BenchError("the payment page does not show the invoice")

            count = sizes["page_requests"]
            log(f"pages: {count} sequential requests each, interleaved")
            offset = self.log_offset()
            sequential = {"ours": [], "odoo": []}
            for index in range(count):
                order = ("ours", "odoo") if index % 2 == 0 else ("odoo", "ours")
                for page in order:
                    sequential[page].append(fetch(client, page))
        queries = {"ours": [], "odoo": []}
        pay_paths = {"/pay/***", urls["ours"].removeprefix(self.base_url)}
        for method, path, status, count_ in self.request_log(offset):
            if method == "GET" and status == 200:
                if path in pay_paths:
                    queries["ours"].append(count_)
                elif path == portal_path:
                    queries["odoo"].append(count_)
        for page, values in queries.items():
            if len(values) != count:
                raise BenchError(
                    f"found {len(values)} log lines of the {page} page for {count} requests"
                )

        clients = sizes["concurrent_clients"]
        per_client = sizes["concurrent_requests"] // clients
        log(f"pages: {clients} concurrent clients, {per_client * clients} requests per page")
        barrier = threading.Barrier(clients)

        def client_run(number):
            times = {"ours": [], "odoo": []}
            with new_session() as client:
                fetch(client, "ours")  # its own session cookie, as a new visitor gets
                barrier.wait()
                for index in range(per_client):
                    first = (index + number) % 2 == 0
                    for page in ("ours", "odoo") if first else ("odoo", "ours"):
                        times[page].append(fetch(client, page))
            return times

        concurrent = {"ours": [], "odoo": []}
        with ThreadPoolExecutor(max_workers=clients) as pool:
            for times in pool.map(client_run, range(clients)):
                for page, values in times.items():
                    concurrent[page].extend(values)

        self.raw["pages"] = {
            "queries": queries,
            "sequential_seconds": sequential,
            "concurrent_seconds": concurrent,
        }
        q_ours, q_odoo = statistics.median(queries["ours"]), statistics.median(queries["odoo"])
        spread = {
            page: f" ({min(v)}-{max(v)})" if min(v) != max(v) else "" for page, v in queries.items()
        }
        self.rows.append(
            Row(
                "Page: SQL queries per request (median)",
                f"{q_ours:g}{spread['ours']}",
                f"{q_odoo:g}{spread['odoo']}",
                f"{ratio(q_ours, q_odoo):.2f} (≤ 1)",
                q_ours <= q_odoo,
            )
        )
        for label, samples in (
            (f"{count} sequential", sequential),
            (f"{clients} concurrent clients", concurrent),
        ):
            for q, has_target in ((50, True), (99, False)):
                ours = percentile(samples["ours"], q)
                odoo = percentile(samples["odoo"], q)
                self.rows.append(
                    Row(
                        f"Page: p{q} latency, {label}",
                        ms(ours),
                        ms(odoo),
                        f"{ratio(ours, odoo):.2f}" + (" (≤ 1)" if has_target else ""),
                        ours <= odoo if has_target else None,
                    )
                )

    def bench_pdf(self):
        runs = self.sizes["pdf_runs"]
        log(f"PDF: {runs} renders each, alternating, after one warm-up each")
        result = self.shell(
            "pdf",
            PDF_SCRIPT,
            invoice_id=self.page["invoice_id"],
            url=self.page["link_url"],
            runs=runs,
            out=str(self.out),
        )
        self.raw["pdf"] = result
        plain = statistics.median(result["runs"]["plain"])
        link = statistics.median(result["runs"]["link"])
        value = ratio(link, plain)
        self.rows.append(
            Row(
                "PDF: invoice render time (median)",
                f"{link:.3f} s",
                f"{plain:.3f} s (plain)",
                f"{value:.3f} (≤ {PDF_TARGET_RATIO})",
                value <= PDF_TARGET_RATIO,
            )
        )
        self.rows.append(
            Row(
                "PDF: the link is in the PDF; size",
                f"{'yes' if result['url_in_link_pdf'] else 'NO'}; "
                f"{result['sizes']['link'] // 1024} KiB",
                f"{result['sizes']['plain'] // 1024} KiB (plain)",
                "link present",
                bool(result["url_in_link_pdf"]),
            )
        )

    def bench_send(self):
        small, large = self.sizes["send_sizes"]
        log(
            f"send: N={small} then N={large} twin invoices, one per call, with a link and "
            "without, then a batch of N in one call each way (minutes)"
        )
        result = self.shell("send", SEND_SCRIPT, sizes=[small, large])
        self.raw["send"] = result
        for size in (small, large):
            data = result[str(size)]
            plain_q = statistics.mean(data["plain"]["queries"])
            link_q = statistics.mean(data["link"]["queries"])
            plain_s = statistics.mean(data["plain"]["seconds"])
            link_s = statistics.mean(data["link"]["seconds"])
            self.rows.append(
                Row(
                    f"Send: seconds per invoice, N={size}, one per call",
                    f"{link_s:.3f} s (link)",
                    f"{plain_s:.3f} s (Odoo, no link)",
                    f"{ratio(link_s, plain_s):.3f} (≤ {SEND_TIME_TARGET})",
                    ratio(link_s, plain_s) <= SEND_TIME_TARGET,
                )
            )
            self.rows.append(
                Row(
                    f"Send: SQL queries per invoice, N={size}, one per call",
                    f"{link_q:.1f} (link)",
                    f"{plain_q:.1f} (Odoo, no link)",
                    f"{ratio(link_q, plain_q):.3f} (≤ {SEND_QUERY_TARGET})",
                    ratio(link_q, plain_q) <= SEND_QUERY_TARGET,
                )
            )
        for size in (small, large):
            batch = result[f"batch {size}"]
            self.rows.append(
                Row(
                    f"Send: batch of {size} in one call, seconds",
                    f"{batch['link']['seconds']:.2f} s (link)",
                    f"{batch['plain']['seconds']:.2f} s (Odoo, no link)",
                    f"{ratio(batch['link']['seconds'], batch['plain']['seconds']):.3f}"
                    f" (≤ {SEND_TIME_TARGET})",
                    ratio(batch["link"]["seconds"], batch["plain"]["seconds"]) <= SEND_TIME_TARGET,
                )
            )
            self.rows.append(
                Row(
                    f"Send: batch of {size} in one call, SQL queries",
                    f"{batch['link']['queries']} (link)",
                    f"{batch['plain']['queries']} (Odoo, no link)",
                    f"{ratio(batch['link']['queries'], batch['plain']['queries']):.3f}"
                    f" (≤ {SEND_QUERY_TARGET})",
                    ratio(batch["link"]["queries"], batch["plain"]["queries"]) <= SEND_QUERY_TARGET,
                )
            )
        # Same cost per invoice at both sizes: no query that grows with the batch or the
        # number of links and emails already in the database.
        per_invoice = {size: result[str(size)]["link"]["queries"] for size in (small, large)}
        self.rows.append(
            Row(
                f"Send: SQL queries per invoice with a link, N={large} against N={small}",
                f"{statistics.mean(per_invoice[large]):.1f} (median "
                f"{statistics.median(per_invoice[large]):g})",
                f"{statistics.mean(per_invoice[small]):.1f} (median "
                f"{statistics.median(per_invoice[small]):g})",
                "same at both N",
                statistics.median(per_invoice[large]) == statistics.median(per_invoice[small]),
            )
        )
        keys = [str(small), str(large), f"batch {small}", f"batch {large}"]
        total = 4 * (small + large)
        good = sum(result[key]["good"] for key in keys)
        problems = [problem for key in keys for problem in result[key]["problems"]]
        self.rows.append(
            Row(
                "Send: each invoice emailed once; with a link, one link 'sent', in its PDF",
                f"{good}/{total}" + (f" ({'; '.join(problems[:3])})" if problems else ""),
                target=f"{total}/{total}",
                passed=good == total,
            )
        )

    def deliver(self, client, payload, header):
        """POST one signed event; return (HTTP status, outcome or error, seconds)."""
        start = time.perf_counter()
        response = client.post(
            f"{self.base_url}{WEBHOOK_ROUTE}",
            data=payload,
            headers={"Stripe-Signature": header, "Content-Type": "application/json"},
            timeout=HTTP_TIMEOUT,
        )
        elapsed = time.perf_counter() - start
        try:
            body = response.json()
            outcome = body.get("outcome") or body.get("error")
        except ValueError:  # Odoo's own error page
            outcome = f"HTTP {response.status_code}"
        return response.status_code, outcome, elapsed

    def signed(self, session, event_id=None):
        event = self.stripe.make_event("checkout.session.completed", session, event_id=event_id)
        payload = self.stripe.event_payload(event)
        return payload, self.stripe.sign_payload(payload, STRIPE_WEBHOOK_SECRET)

    def concurrent_round(self, label, deliveries):
        """POST every (payload, header) at once, each from its own thread and connection;
        return a table row, the results and what Odoo logged meanwhile."""
        barrier = threading.Barrier(len(deliveries))

        def one(delivery):
            with new_session() as client:
                barrier.wait()
                return self.deliver(client, *delivery)

        offset = self.log_offset()
        with ThreadPoolExecutor(max_workers=len(deliveries)) as pool:
            results = list(pool.map(one, deliveries))
        lines = self.log_since(offset)
        codes = Counter(status for status, __, __ in results)
        outcomes = Counter(outcome for __, outcome, __ in results)
        retries = sum(bool(RETRY_LOG.search(line)) for line in lines)
        gave_up = sum(bool(GAVE_UP_LOG.search(line)) for line in lines)
        pool_full = sum(POOL_FULL_LOG in line for line in lines)
        notes = [f"{retries} serialization retries"]
        if gave_up:
            notes.append(f"{gave_up} gave up")
        if pool_full:
            notes.append(f"{pool_full} × connection pool full")
        row = Row(
            f"Webhook: {label}",
            ", ".join(f"{n}×{code}" for code, n in sorted(codes.items()))
            + ": "
            + ", ".join(f"{n} {outcome}" for outcome, n in outcomes.most_common())
            + f"; slowest {ms(max(elapsed for __, __, elapsed in results))}"
            + f" ({'; '.join(notes)})",
            target="2xx, or 503 to retry",
            passed=all(200 <= code < 300 or code == 503 for code in codes),
        )
        return row, results

    def redeliver(self, label, deliveries, results):
        """Deliver again, one after the other as Stripe would, what was answered 503."""
        retried = [
            delivery
            for delivery, (status, __, __) in zip(deliveries, results, strict=True)
            if status == 503
        ]
        codes, outcomes = Counter(), Counter()
        with new_session() as client:
            for delivery in retried:
                status, outcome, __ = self.deliver(client, *delivery)
                codes[status] += 1
                outcomes[outcome] += 1
        return Row(
            f"Webhook: {label}, the 503s delivered again",
            (
                ", ".join(f"{n}×{code}" for code, n in sorted(codes.items()))
                + ": "
                + ", ".join(f"{n} {outcome}" for outcome, n in outcomes.most_common())
            )
            if retried
            else "none to deliver again",
            target="all 2xx",
            passed=all(200 <= code < 300 for code in codes),
        )

    def bench_webhooks(self):
        count = self.sizes["webhook_sessions"]
        parallel = self.sizes["concurrent_deliveries"]
        log(f"webhooks: {count} Checkout Sessions through the fake Stripe API")
        sessions = self.shell("webhook", WEBHOOK_SCRIPT, count=count)
        for item in sessions:
            if not item["session_id"] or item["session_id"] not in self.fake.sessions:
                raise BenchError(f"no Checkout Session in the fake for {item}")
            self.fake.set_session(
                item["session_id"], status="complete", payment_status="paid", payment_intent="pi_x"
            )

        *sequential, last = sessions
        log(f"webhooks: {len(sequential)} sequential deliveries")
        offset = self.log_offset()
        statuses, latencies = Counter(), []
        with new_session() as client:
            for item in sequential:
                status, __, elapsed = self.deliver(
                    client, *self.signed(self.fake.sessions[item["session_id"]])
                )
                statuses[status] += 1
                latencies.append(elapsed)
        webhook_queries = [
            queries
            for method, path, __, queries in self.request_log(offset)
            if method == "POST" and path == WEBHOOK_ROUTE
        ]

        # The different event ids go first, while the session is not booked yet: they race to
        # book it. The copies of one event then race on storing it once (de-duplication).
        session = self.fake.sessions[last["session_id"]]
        log(f"webhooks: {parallel} concurrent deliveries of {parallel} event ids, one session")
        distinct_label = f"{parallel} concurrent, {parallel} event ids"
        distinct_deliveries = [self.signed(session) for __ in range(parallel)]
        distinct_row, distinct = self.concurrent_round(distinct_label, distinct_deliveries)
        distinct_retry_row = self.redeliver(distinct_label, distinct_deliveries, distinct)
        log(f"webhooks: {parallel} concurrent deliveries of one same event")
        same_label = f"{parallel} concurrent, one same event"
        same_deliveries = [self.signed(session)] * parallel
        same_row, same = self.concurrent_round(same_label, same_deliveries)
        same_retry_row = self.redeliver(same_label, same_deliveries, same)
        self.raw["webhooks"] = {
            "sequential_seconds": latencies,
            "sequential_queries": webhook_queries,
            "concurrent_event_ids": distinct,
            "concurrent_same_event": same,
        }

        booked = dict(
            self.query_db(
                "SELECT t.id, count(p.id) FROM payment_transaction t"
                " LEFT JOIN account_payment p ON p.payment_transaction_id = t.id"
                " WHERE t.id = ANY(%s) GROUP BY t.id",
                ([item["transaction_id"] for item in sessions],),
            )
        )
        link_states = dict(
            self.query_db(
                "SELECT id, state FROM komet_paylink WHERE id = ANY(%s)",
                ([item["link_id"] for item in sessions],),
            )
        )
        sequential_ok = sum(
            booked.get(item["transaction_id"]) == 1 and link_states.get(item["link_id"]) == "paid"
            for item in sequential
        )
        last_payments = booked.get(last["transaction_id"], 0)

        self.rows.append(
            Row(
                f"Webhook: p50 / p99 per event, {len(sequential)} sequential",
                f"{ms(percentile(latencies, 50))} / {ms(percentile(latencies, 99))}",
            )
        )
        self.rows.append(
            Row(
                "Webhook: SQL queries per event (median)",
                f"{statistics.median(webhook_queries):g}" if webhook_queries else "?",
            )
        )
        self.rows.append(
            Row(
                f"Webhook: {len(sequential)} sequential: statuses; booked once",
                ", ".join(f"{n}×{code}" for code, n in sorted(statuses.items()))
                + f"; {sequential_ok}/{len(sequential)} booked",
                target="all 2xx; all booked once",
                passed=all(200 <= code < 300 for code in statuses)
                and sequential_ok == len(sequential),
            )
        )
        self.rows += [distinct_row, distinct_retry_row, same_row, same_retry_row]
        self.rows.append(
            Row(
                "Webhook: payments of the concurrently delivered session",
                f"{last_payments} (link {link_states.get(last['link_id'])})",
                target="exactly 1",
                passed=last_payments == 1,
            )
        )


# === ENTRY POINT === #


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="bench/run", description="Benchmark komet_paylink against Odoo's own pages."
    )
    parser.add_argument("--odoo", required=True, help="the Odoo 18.0 source tree (bench/run)")
    parser.add_argument(
        "--keep", action="store_true", help="keep the database and its filestore at the end"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny sizes, to check the script itself: its numbers mean nothing",
    )
    return parser.parse_args(argv)


def odoo_version(odoo_dir):
    match = re.search(
        r"^version_info = \(([^)]*)\)", (odoo_dir / "odoo" / "release.py").read_text(), re.M
    )
    if not match:
        return "?"
    major, minor, *__ = (part.strip() for part in match.group(1).split(","))
    return f"{major}.{minor}"


def write_results(bench, table, passed):
    cores = os.cpu_count()
    header = [
        "# komet_paylink benchmark",
        "",
        f"- date: {time.strftime('%Y-%m-%d %H:%M %Z')}; machine: {platform.machine()}, "
        f"{cores} cores, Python {platform.python_version()}",
        f"- Odoo {odoo_version(bench.odoo_dir)} at {bench.odoo_dir}; database {bench.db} "
        "(demo data); server --workers=0 (threaded)",
        "- run time: "
        + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in bench.timings.items()),
    ]
    if bench.quick:
        header.append("- **--quick run: tiny sizes, the numbers mean nothing**")
    text = "\n".join(header) + "\n\n" + table + "\n\n"
    text += f"Result: {'all targets met' if passed else 'TARGET MISSED'}\n"
    (OUT_DIR / "results.md").write_text(text)


def main(argv=None):
    args = parse_args(argv)

    def terminate(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGHUP, terminate)
    bench = Benchmark(args)
    try:
        rows = bench.run()
    except BenchError as error:
        log(f"ERROR: {error}")
        return 3
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    except Exception:  # a bug of the benchmark: say where, still clean up (finally)
        traceback.print_exc()
        return 3
    finally:
        bench.cleanup()
    table = markdown_table(rows)
    passed = all(row.passed is not False for row in rows)
    write_results(bench, table, passed)
    (OUT_DIR / "raw.json").write_text(json.dumps(bench.raw, indent=1))
    print()
    print(table)
    print()
    verdict = "all targets met" if passed else "TARGET MISSED"
    print(f"[bench] {verdict}; Markdown in {OUT_DIR / 'results.md'}, logs in {OUT_DIR}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
