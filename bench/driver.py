"""Benchmark of komet_paylink against Odoo's own pages, on a real Odoo 18 and PostgreSQL: run
through `bench/run [--keep] [--quick]`, which passes the Odoo found. A fresh database with demo
data, an Odoo server on a free port (--workers=0), bench/inside.py (click-odoo) for what runs in
Odoo, komet_paylink/tests/stripe_fake.py for the Stripe API. Measures the payment page against
the portal invoice page, the PDF with the link against the plain one, sending with a link against
Odoo's own send, and webhooks; prints one table (also in bench/out/results.md).
"""

import json
import os
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
from collections import Counter, namedtuple
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
FILESTORE = Path.home() / ".local/share/Odoo/filestore"  # Odoo's default data_dir
OUT = REPO / "bench" / "out"
FULL = {"pages": 200, "clients": 10, "concurrent": 300, "pdfs": 7, "sends": (5, 50)}
FULL |= {"sessions": 40, "deliveries": 50, "reminders": 30, "statement": (3, 300)}
FULL |= {"ledger": 10_000, "backlog": 80}
QUICK = {"pages": 20, "clients": 4, "concurrent": 20, "pdfs": 1, "sends": (2, 4)}
QUICK |= {"sessions": 5, "deliveries": 10, "reminders": 4, "statement": (3, 30)}
QUICK |= {"ledger": 300, "backlog": 12}
WARMUP, TIMEOUT = 10, 120
PDF_TARGET, SEND_TIME_TARGET, SEND_QUERY_TARGET = 1.05, 1.1, 1.2
REMINDER_TARGET, STATEMENT_TARGET, LEDGER_TARGET = 1.1, 2, 1.2
# The prefork trial of the reminder job: Odoo's options, and how long it may take at most.
PREFORK = "--workers=2 --max-cron-threads=1 --limit-time-real-cron=25 --log-level=info"
PREFORK_DEADLINE, RETRIGGER_AFTER = 900, 60
# Fake test-mode secrets, known only to the fake Stripe API and the throwaway database.
SECRET_KEY = "sk_test_bench_komet_paylink_0000"  # noqa: S105
WEBHOOK_SECRET = "whsec_bench_komet_paylink_0000"  # noqa: S105
WEBHOOK_ROUTE = "/komet_paylink/webhook/stripe"
# Odoo's request log line ends with `"GET /path HTTP/1.1" 200 - <queries> <query s> <other s>`.
REQUEST_LOG = re.compile(r'"([A-Z]+) (\S+) HTTP/[\d.]+" \d{3} \S+ (\d+) [\d.]+ [\d.]+')
RECORD_START = r"\n(?=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} )"
POOL_FULL = "The Connection Pool Is Full"
# What the server logs when it retries a transaction, gives up, or has no database connection.
RETRIES, GAVE_UP = "try again in", "maximum number of tries reached"
# One row of the table; passed is None for a row given for information, with no target.
Row = namedtuple("Row", "measure ours reference target passed", defaults=("—", "—", None))


class BenchError(Exception):
    """The benchmark could not run (as opposed to a target being missed)."""


def log(message):
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def percentile(values, q):
    """The q-th percentile (1-99), interpolated between the closest ranks."""
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def ms(seconds):
    return f"{seconds * 1000:.1f} ms"


def timed(call, *args, **kwargs):
    """(what call(*args, **kwargs) returns, the seconds it took)."""
    start = time.perf_counter()
    return call(*args, **kwargs), time.perf_counter() - start


def tally(values):
    return ", ".join(f"{n}×{value}" for value, n in sorted(Counter(values).items()))


def answers(results):
    """Deliveries' (status, outcome, seconds): "2×200, 1×503: 2 done, 1 retry later"."""
    outcomes = Counter(outcome for __, outcome, __ in results).most_common()
    statuses = tally(status for status, __, __ in results)
    return f"{statuses}: {', '.join(f'{n} {outcome}' for outcome, n in outcomes)}"


def compared(measure, ours, reference, shown, limit, digits=3):
    """A row comparing `ours` with Odoo's `reference` (numbers, then as `shown`): ratio ≤ limit."""
    value = ours / reference if reference else float("nan")
    return Row(measure, *shown, f"{value:.{digits}f} (≤ {limit})", value <= limit)


def markdown_table(rows):
    verdicts = {True: "PASS", False: "FAIL", None: "—"}
    cells = [("measure", "komet_paylink", "Odoo reference", "ratio/target", "pass/fail")]
    cells += [(*row[:4], verdicts[row.passed]) for row in rows]
    widths = [max(map(len, column)) for column in zip(*cells, strict=True)]
    lines = ["| " + " | ".join(map(str.ljust, line, widths)) + " |" for line in cells]
    lines.insert(1, "|" + "|".join("-" * (width + 2) for width in widths) + "|")
    return "\n".join(lines)


def at_once(items, work, before=None):
    """work(client, item) for each item, each in its own thread and HTTP session, all released
    together (after before(client), if given); their results in order."""
    barrier = threading.Barrier(len(items))

    def one(item):
        with requests.Session() as client:
            if before:
                before(client)
            barrier.wait()
            return work(client, item)

    with ThreadPoolExecutor(max_workers=len(items)) as pool:
        return list(pool.map(one, items))


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Benchmark:
    def __init__(self, odoo, quick, keep):
        self.odoo, self.quick, self.keep = Path(odoo).resolve(), quick, keep
        self.sizes = QUICK if quick else FULL
        self.db = f"komet_bench_{secrets.token_hex(4)}"
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        sys.path.insert(0, str(REPO / "komet_paylink" / "tests"))
        import stripe_fake  # the tests' fake Stripe API (standard library only)

        self.stripe = stripe_fake
        self.fake = self.log_file = None
        self.servers, self.databases = [], [self.db]
        self.rows, self.raw = [], {}

    def command(self, script, *args, db=None):
        """odoo-bin or bench/inside.py on the database, with bench/out/odoo.conf."""
        path = self.odoo / "odoo-bin" if script == "odoo-bin" else REPO / "bench" / script
        config = f"--config={OUT / 'odoo.conf'}"
        return [sys.executable, str(path), config, "-d", db or self.db, *args]

    def run_logged(self, name, command):
        """Run a command, its output into bench/out/<name>.out; return its stdout."""
        env = dict(os.environ, PYTHONPATH=str(self.odoo))
        result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        (OUT / f"{name}.out").write_text(result.stdout + result.stderr)
        if result.returncode:
            tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-25:])
            raise BenchError(f"{name} failed (exit {result.returncode}), see {OUT}:\n{tail}")
        return result.stdout

    def inside(self, phase, db=None, **parameters):
        """Run a phase of bench/inside.py in Odoo on the database; return its result."""
        command = self.command("inside.py", phase, json.dumps(parameters), db=db)
        stdout = self.run_logged(phase, command)
        results = [line for line in stdout.splitlines() if line.startswith("BENCH_RESULT ")]
        if not results:
            raise BenchError(f"{phase}: bench/inside.py reported nothing (see {OUT}/{phase}.out)")
        return json.loads(results[-1].removeprefix("BENCH_RESULT "))

    def start_server(
        self,
        options="--workers=0 --max-cron-threads=0 --log-level=info",
        name="server.log",
        db=None,
    ):
        """Serve `db` (the benchmark's database by default): on the benchmark's port, or on a
        free one for another database; return its base URL."""
        db = db or self.db
        base_url = self.base_url if db == self.db else f"http://127.0.0.1:{free_port()}"
        log(f"starting Odoo on {base_url} (log: {OUT / name})")
        options = f"--http-interface=127.0.0.1 {options}"
        command = self.command("odoo-bin", *options.split(), f"--db-filter=^{db}$", db=db)
        command += [f"--http-port={base_url.rsplit(':', 1)[1]}", f"--logfile={OUT / name}"]
        server = subprocess.Popen(command, stdin=subprocess.DEVNULL, start_new_session=True)
        self.servers.append(server)
        deadline = time.monotonic() + 120
        with requests.Session() as client:
            while time.monotonic() < deadline and server.poll() is None:
                try:
                    if client.get(f"{base_url}/web/health", timeout=5).ok:
                        if db == self.db:
                            self.log_file = open(OUT / name, encoding="utf-8", errors="replace")
                        return base_url
                except requests.ConnectionError:
                    pass
                time.sleep(0.5)
        raise BenchError(f"Odoo did not answer on {base_url} (see {OUT / name})")

    def stop_servers(self):
        for server in self.servers:
            os.killpg(server.pid, signal.SIGKILL)  # throwaway servers: nothing to save
            server.wait()
        self.servers = []

    def cleanup(self):
        self.stop_servers()
        if self.fake:
            self.fake.stop()
        if self.keep:
            log(f"kept the database {self.db} and its filestore (--keep)")
            return
        for db in self.databases:
            log(f"dropping the database {db} and its filestore")
            subprocess.run(["dropdb", "--if-exists", "--force", db], check=False)
            shutil.rmtree(FILESTORE / db, ignore_errors=True)

    def server_log(self):
        """What the server logged since the last call."""
        time.sleep(0.5)  # Odoo logs a request just after it sent the response
        return self.log_file.read()

    @staticmethod
    def queries(text, method, *paths):
        """The SQL queries of each request `method path` (one of `paths`) in Odoo's log `text`."""
        found = map(REQUEST_LOG.search, text.splitlines())
        return [int(m[3]) for m in found if m and m[1] == method and m[2] in paths]

    def run(self):
        OUT.mkdir(exist_ok=True)
        for stale in ("server.log", "ledger.log", "prefork.log", "results.md", "raw.json"):
            (OUT / stale).unlink(missing_ok=True)
        (OUT / "odoo.conf").write_text(f"[options]\naddons_path = {self.odoo / 'addons'},{REPO}\n")
        self.fake = self.stripe.FakeStripeServer().start()
        log(f"creating {self.db} with demo data and komet_paylink (about a minute)")
        install = "-i komet_paylink --without-demo= --stop-after-init --log-level=warn".split()
        self.run_logged(
            "install", self.command("odoo-bin", *install, f"--logfile={OUT}/install.log")
        )
        log("setting up: system parameters, Stripe secrets, the invoice of the page measures")
        keys = {"secret_key": SECRET_KEY, "webhook_secret": WEBHOOK_SECRET}
        self.page = self.inside(
            "prepare", base_url=self.base_url, stripe_api_base=self.fake.base_url, **keys
        )
        self.start_server()
        for phase in (self.bench_pages, self.bench_pdf, self.bench_send, self.bench_webhooks):
            phase()
        for phase in (self.bench_reminders, self.bench_statements, self.bench_ledger):
            phase()
        self.rows.append(self.server_errors_row())
        self.bench_prefork()

    def server_errors_row(self):
        """The ERROR records of the server's log by cause (Odoo logs as an ERROR each
        serialization failure it then retries, unless the query asked it not to)."""
        causes = Counter()
        for record in re.split(RECORD_START, (OUT / "server.log").read_text(errors="replace")):
            if " ERROR " in record.partition("\n")[0]:
                if POOL_FULL in record:  # may follow a serialization failure
                    causes["connection pool full (HTTP 500)"] += 1
                elif "could not serialize access" in record:
                    causes["serialization failures, retried"] += 1
                else:
                    causes["other"] += 1
        detail = ", ".join(f"{n} {cause}" for cause, n in causes.most_common())
        shown = f"{causes.total()} ({detail})" if causes else "0"
        return Row("Server log: ERROR records over the run", shown)

    @staticmethod
    def in_turn(client, urls, count, times, first=0):
        """`count` GETs of each of `urls` ({name: url}), interleaved, alternating which goes
        first; each one's seconds appended to `times[name]`."""
        names = list(urls)
        for index in range(first, first + count):
            for name in names[:: -1 if index % 2 else 1]:
                response, seconds = timed(
                    client.get, urls[name], timeout=TIMEOUT, allow_redirects=False
                )
                if response.status_code != 200:
                    raise BenchError(f"GET {name} page answered {response.status_code}")
                times[name].append(seconds)

    def bench_pages(self):
        page, count, clients = self.page, self.sizes["pages"], self.sizes["clients"]
        portal = f"/my/invoices/{page['invoice_id']}?access_token={page['access_token']}"
        urls = {"ours": page["link_url"], "odoo": self.base_url + portal}
        sequential, concurrent = {"ours": [], "odoo": []}, {"ours": [], "odoo": []}

        def in_turn(client, count, times, first=0):
            self.in_turn(client, urls, count, times, first)

        log(f"pages: warm-up ({WARMUP} requests each), then {count} sequential each, interleaved")
        with requests.Session() as client:
            in_turn(client, WARMUP, {"ours": [], "odoo": []})
            if page["invoice_name"] not in client.get(urls["ours"], timeout=TIMEOUT).text:
                raise BenchError("the payment page does not show the invoice")
            self.server_log()
            in_turn(client, count, sequential)
        pay_paths = ("/pay/***", urls["ours"].removeprefix(self.base_url))
        text = self.server_log()
        queries = {"ours": self.queries(text, "GET", *pay_paths)}
        queries["odoo"] = self.queries(text, "GET", portal)
        if any(len(values) != count for values in queries.values()):
            raise BenchError(f"not {count} log lines of each page: {queries}")

        per_client = self.sizes["concurrent"] // clients
        log(f"pages: {clients} concurrent clients, {per_client * clients} requests per page")
        at_once(
            range(clients),
            lambda client, number: in_turn(client, per_client, concurrent, first=number),
            before=lambda client: client.get(urls["ours"], timeout=TIMEOUT),  # a new visitor
        )
        self.raw["pages"] = {"queries": queries, "sequential": sequential, "concurrent": concurrent}

        def median_spread(values):
            spread = f" ({min(values)}-{max(values)})" if min(values) != max(values) else ""
            return f"{statistics.median(values):g}{spread}"

        medians = [statistics.median(queries[name]) for name in ("ours", "odoo")]
        shown = [median_spread(queries[name]) for name in ("ours", "odoo")]
        self.rows.append(compared("Page: SQL queries per request (median)", *medians, shown, 1, 2))
        # SPEC: half the time of Odoo's portal page, one request at a time; under load, no more.
        for label, times, limit in (
            (f"{count} sequential", sequential, 0.5),
            (f"{clients} concurrent clients", concurrent, 1),
        ):
            ours, odoo = (percentile(times[name], 50) for name in ("ours", "odoo"))
            measure = f"Page: p50 latency, {label}"
            self.rows.append(compared(measure, ours, odoo, (ms(ours), ms(odoo)), limit, 2))
            ours, odoo = (percentile(times[name], 99) for name in ("ours", "odoo"))
            self.rows.append(
                Row(f"Page: p99 latency, {label}", ms(ours), ms(odoo), f"{ours / odoo:.2f}")
            )

    def bench_pdf(self):
        log(f"PDF: {self.sizes['pdfs']} renders each, alternating, after one warm-up each")
        url, invoice_id = self.page["link_url"], self.page["invoice_id"]
        result = self.raw["pdf"] = self.inside(
            "pdf", invoice_id=invoice_id, url=url, runs=self.sizes["pdfs"]
        )
        link, plain = (statistics.median(result["runs"][way]) for way in ("link", "plain"))
        shown = (f"{link:.3f} s", f"{plain:.3f} s (plain)")
        self.rows.append(
            compared("PDF: invoice render time (median)", link, plain, shown, PDF_TARGET)
        )
        found, kib = result["url_in_link_pdf"], {k: v // 1024 for k, v in result["sizes"].items()}
        shown = (f"{'yes' if found else 'NO'}; {kib['link']} KiB", f"{kib['plain']} KiB (plain)")
        self.rows.append(Row("PDF: the link is in the PDF; size", *shown, "link present", found))

    def bench_send(self):
        small, large = self.sizes["sends"]
        log(f"send: N={small} then N={large} twin invoices, one per call, then in batches")
        result = self.raw["send"] = self.inside("send", sizes=[small, large])

        def rows(label, part, digits):  # with a link against Odoo's own send; means of calls
            for key, limit, unit, d in (
                ("seconds", SEND_TIME_TARGET, " s", digits),
                ("queries", SEND_QUERY_TARGET, "", digits - 2),
            ):
                link, plain = (statistics.mean(part[way][key]) for way in ("link", "plain"))
                shown = (f"{link:.{d}f}{unit} (link)", f"{plain:.{d}f}{unit} (Odoo, no link)")
                measure = label.format("SQL queries" if key == "queries" else "seconds")
                self.rows.append(compared(f"Send: {measure}", link, plain, shown, limit))

        for size in (small, large):
            rows(f"{{}} per invoice, N={size}, one per call", result[str(size)], 3)
        for size in (small, large):
            rows(f"batch of {size} in one call, {{}}", result[f"batch {size}"], 2)
        # Same cost per invoice at both sizes: no query that grows with the batch or the
        # number of links and emails already in the database.
        queries = [result[str(size)]["link"]["queries"] for size in (large, small)]
        shown = [f"{statistics.mean(q):.1f} (median {statistics.median(q):g})" for q in queries]
        measure = f"Send: SQL queries per invoice with a link, N={large} against N={small}"
        same = statistics.median(queries[0]) == statistics.median(queries[1])
        self.rows.append(Row(measure, *shown, "same at both N", same))
        total, good = 4 * (small + large), sum(part["good"] for part in result.values())
        problems = "; ".join([p for part in result.values() for p in part["problems"]][:3])
        measure = "Send: each invoice emailed once; with a link, one link 'sent', in its PDF"
        shown = f"{good}/{total}" + (f" ({problems})" if problems else "")
        self.rows.append(Row(measure, shown, target=f"{total}/{total}", passed=good == total))

    def deliver(self, client, delivery):
        """POST one signed event (payload, signature); return (status, outcome, seconds)."""
        payload, signature = delivery
        headers = {"Stripe-Signature": signature, "Content-Type": "application/json"}
        url = self.base_url + WEBHOOK_ROUTE
        response, seconds = timed(client.post, url, data=payload, headers=headers, timeout=TIMEOUT)
        try:
            body = response.json()
            outcome = body.get("outcome") or body.get("error")
        except ValueError:  # Odoo's own error page
            outcome = f"HTTP {response.status_code}"
        return response.status_code, outcome, seconds

    def signed(self, session):
        event = self.stripe.make_event("checkout.session.completed", session)
        payload = self.stripe.event_payload(event)
        return payload, self.stripe.sign_payload(payload, WEBHOOK_SECRET)

    def concurrent_rows(self, label, deliveries):
        """POST every delivery at once, each from its own thread and connection, then deliver
        again one by one, as Stripe would, those answered 503; two rows."""
        self.server_log()
        results = self.raw["webhooks"][label] = at_once(deliveries, self.deliver)
        text = self.server_log()
        notes = [f"{text.count(RETRIES)} serialization retries"]
        notes += [f"{text.count(GAVE_UP)} gave up"] if GAVE_UP in text else []
        notes += [f"{text.count(POOL_FULL)} × connection pool full"] if POOL_FULL in text else []
        slowest = ms(max(seconds for __, __, seconds in results))
        again = [d for d, result in zip(deliveries, results, strict=True) if result[0] == 503]
        with requests.Session() as client:
            retried = [self.deliver(client, delivery) for delivery in again]
        shown = f"{answers(results)}; slowest {slowest} ({'; '.join(notes)})"
        passed = all(200 <= status < 300 or status == 503 for status, __, __ in results)
        first = Row(f"Webhook: {label}", shown, "—", "2xx, or 503 to retry", passed)
        shown = answers(retried) if again else "none to deliver again"
        passed = all(200 <= status < 300 for status, __, __ in retried)
        return [
            first,
            Row(f"Webhook: {label}, the 503s delivered again", shown, "—", "all 2xx", passed),
        ]

    def bench_webhooks(self):
        count, parallel = self.sizes["sessions"], self.sizes["deliveries"]
        log(f"webhooks: {count} Checkout Sessions through the fake Stripe API")
        sessions = self.inside("webhook", count=count)
        paid = {"status": "complete", "payment_status": "paid", "payment_intent": "pi_x"}
        for item in sessions:
            self.fake.set_session(item["session_id"], **paid)
        *sequential, last = (self.fake.sessions[item["session_id"]] for item in sessions)
        n = len(sequential)
        log(f"webhooks: {n} sequential deliveries")
        self.server_log()
        with requests.Session() as client:
            results = [self.deliver(client, self.signed(session)) for session in sequential]
        statuses, latencies = [r[0] for r in results], [r[2] for r in results]
        queries = self.queries(self.server_log(), "POST", WEBHOOK_ROUTE)
        self.raw["webhooks"] = {"sequential": {"seconds": latencies, "queries": queries}}
        # Different event ids first, while the session is not booked yet: they race to book
        # it. Then copies of one event race on storing it once (de-duplication).
        log(f"webhooks: {parallel} concurrent deliveries of {parallel} event ids, then of one")
        label, ids = f"{parallel} concurrent", [self.signed(last) for __ in range(parallel)]
        rows = self.concurrent_rows(f"{label}, {parallel} event ids", ids)
        rows += self.concurrent_rows(f"{label}, one same event", [self.signed(last)] * parallel)
        booked = self.inside("booked", sessions=sessions)  # [(payments, link state)]
        once, (payments, state) = sum(found == [1, "paid"] for found in booked[:-1]), booked[-1]
        p50, p99 = (ms(percentile(latencies, q)) for q in (50, 99))
        median = f"{statistics.median(queries):g}"
        self.rows += [
            Row(f"Webhook: p50 / p99 per event, {n} sequential", f"{p50} / {p99}"),
            Row("Webhook: SQL queries per event (median)", median),
            Row(
                f"Webhook: {n} sequential: statuses; booked once",
                f"{tally(statuses)}; {once}/{n} booked",
                target="all 2xx; all booked once",
                passed=all(200 <= code < 300 for code in statuses) and once == n,
            ),
            *rows,
            Row(
                "Webhook: payments of the concurrently delivered session",
                f"{payments} (link {state})",
                target="exactly 1",
                passed=payments == 1,
            ),
        ]

    # === AT SIZE === #

    def bench_reminders(self):
        size = self.sizes["reminders"]
        log(f"reminders: {size} overdue invoices in runs of the job, against Odoo's own send")
        result = self.raw["reminders"] = self.inside("reminders", size=size)
        per_invoice = {
            way: sum(result[way][key]) / sum(result[way]["invoices"])
            for way in ("link", "plain")
            for key in ("seconds",)
        }
        shown = (f"{per_invoice['link']:.3f} s (reminder)", f"{per_invoice['plain']:.3f} s (send)")
        measure = "Reminder: seconds per invoice in a run, against Odoo's send per invoice"
        self.rows.append(compared(measure, *per_invoice.values(), shown, REMINDER_TARGET))
        queries = sum(result["link"]["queries"]) / sum(result["link"]["invoices"])
        plain = sum(result["plain"]["queries"]) / sum(result["plain"]["invoices"])
        self.rows.append(
            Row("Reminder: SQL queries per invoice in a run", f"{queries:.0f}", f"{plain:.0f}")
        )
        once = sum(found == [1, 1] for found in result["reminded"])
        measure = "Reminder: each overdue invoice reminded once (one link, one email)"
        self.rows.append(
            Row(measure, f"{once}/{size}", target=f"{size}/{size}", passed=once == size)
        )

    def bench_statements(self):
        small, large = self.sizes["statement"]
        count = self.sizes["pages"]
        log(f"statements: pages of {small} and of {large} invoices, {count} requests each")
        found = self.inside("statements", sizes=[small, large])
        urls = {str(size): found[str(size)]["url"] for size in (small, large)}
        times = {name: [] for name in urls}
        with requests.Session() as client:
            self.in_turn(client, urls, WARMUP, {name: [] for name in urls})
            self.server_log()
            self.in_turn(client, urls, count, times)
        text = self.server_log()
        queries = {
            name: self.queries(text, "GET", "/pay/***", url.removeprefix(self.base_url))
            for name, url in urls.items()
        }
        self.raw["statements"] = {"times": times, "queries": queries, "found": found}
        medians = [statistics.median(queries[str(size)]) for size in (small, large)]
        self.rows.append(
            Row(
                f"Statement page: SQL queries, {large} invoices against {small} (median)",
                f"{medians[1]:g}",
                f"{medians[0]:g}",
                "equal",
                medians[0] == medians[1] and bool(queries[str(small)]),
            )
        )
        p50 = [percentile(times[str(size)], 50) for size in (small, large)]
        measure = f"Statement page: p50 latency, {large} invoices against {small}"
        self.rows.append(
            compared(measure, p50[1], p50[0], (ms(p50[1]), ms(p50[0])), STATEMENT_TARGET)
        )

    def bench_ledger(self):
        """The page on a copy of the database with a receivables ledger added, against the
        page on the database as it is, each served by its own Odoo, interleaved."""
        count, pages = self.sizes["ledger"], self.sizes["pages"]
        ledger = f"{self.db}_ledger"
        log(f"ledger: a copy of the database with {count} more posted invoices (a few minutes)")
        self.stop_servers()
        subprocess.run(["createdb", "-T", self.db, ledger], check=True)
        self.databases.append(ledger)
        if (FILESTORE / self.db).is_dir():
            shutil.copytree(FILESTORE / self.db, FILESTORE / ledger)
        posted = self.inside("ledger", db=ledger, count=count)["posted"]
        self.start_server()
        ledger_url = self.start_server(name="ledger.log", db=ledger)
        page = self.page
        portal = f"/my/invoices/{page['invoice_id']}?access_token={page['access_token']}"
        urls = {"ours": page["link_url"], "odoo": self.base_url + portal}
        urls |= {
            f"{name} ledger": url.replace(self.base_url, ledger_url) for name, url in urls.items()
        }
        times = {name: [] for name in urls}
        log(f"ledger: {pages} requests of each page on each database, interleaved")
        with requests.Session() as client:
            self.in_turn(client, urls, WARMUP, {name: [] for name in urls})
            self.in_turn(client, urls, pages, times)
        self.raw["ledger"] = {"posted": posted, "times": times}
        p50 = {name: percentile(values, 50) for name, values in times.items()}
        measure = f"Page: p50 latency with {posted} posted invoices, against the database as it is"
        shown = (ms(p50["ours ledger"]), ms(p50["ours"]))
        self.rows.append(compared(measure, p50["ours ledger"], p50["ours"], shown, LEDGER_TARGET))
        ratio = f"{p50['odoo ledger'] / p50['odoo']:.2f}"
        shown = (ms(p50["odoo ledger"]), ms(p50["odoo"]))
        self.rows.append(
            Row("Portal page (Odoo's): p50 latency, the same two databases", *shown, ratio)
        )

    def bench_prefork(self):
        count = self.sizes["backlog"]
        log(f"prefork: {count} overdue invoices, Odoo with {PREFORK}")
        self.stop_servers()
        invoice_ids = self.inside("backlog", count=count)
        self.start_server(PREFORK, "prefork.log")
        start = time.monotonic()
        self.inside("trigger_reminders")
        triggers, progress, progress_at = 1, 0, start
        while time.monotonic() - start < PREFORK_DEADLINE:
            time.sleep(5)
            found = self.inside("reminded", invoice_ids=invoice_ids)
            done = sum(bool(links) for links, __ in found)
            if done == count:
                break
            if done > progress:
                progress, progress_at = done, time.monotonic()
            elif time.monotonic() - progress_at > RETRIGGER_AFTER:
                # A worker killed while woken late from its sleep takes the job's trigger with
                # it, and its successor sleeps past its limit: Odoo 18 wakes a cron worker only
                # by a trigger, which any user action that queues a job sends.
                self.inside("trigger_reminders")
                triggers, progress_at = triggers + 1, time.monotonic()
        seconds = time.monotonic() - start
        time.sleep(30)  # what a last run still does, and a killed worker's successor
        found = self.inside("reminded", invoice_ids=invoice_ids)
        text = (OUT / "prefork.log").read_text(errors="replace")
        kills = len(re.findall(r"WorkerCron \(\d+\) timeout after", text))
        runs = len(re.findall(r"Sent \d+ payment reminder", text))
        once = sum(found_one == [1, 1] for found_one in found)
        self.raw["prefork"] = {"found": found, "seconds": seconds, "kills": kills, "runs": runs}
        self.raw["prefork"]["triggers"] = triggers
        shown = (
            f"{once}/{count} in {seconds:.0f} s ({runs} batches, {triggers} trigger(s) from "
            f"outside; {kills} cron workers killed, idle or not)"
        )
        self.rows.append(
            Row(
                f"Reminder job, prefork ({PREFORK.split(' --log')[0]}): backlog of {count}",
                shown,
                target=f"{count}/{count} exactly once",
                passed=once == count,
            )
        )


def main(odoo, *options):
    if set(options) - {"--keep", "--quick"}:
        log("usage: bench/run [--keep] [--quick]")
        return 3
    os.environ["no_proxy"] = "127.0.0.1"  # no proxy from the environment for the loopback
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))  # cleanup
    bench = Benchmark(odoo, "--quick" in options, "--keep" in options)
    try:
        bench.run()
    except BenchError as error:
        log(f"ERROR: {error}")
        return 3
    except Exception:  # a bug of the benchmark: say where, still clean up
        traceback.print_exc()
        return 3
    finally:
        bench.cleanup()
    table = markdown_table(bench.rows)
    passed = all(row.passed is not False for row in bench.rows)
    verdict = "all targets met" if passed else "TARGET MISSED"
    quick = " (--quick: tiny sizes, the numbers mean nothing)" if bench.quick else ""
    (OUT / "results.md").write_text(
        f"# komet_paylink benchmark{quick}\n\n{time.strftime('%Y-%m-%d %H:%M %Z')}, "
        f"{os.cpu_count()} cores, Odoo 18.0 at {bench.odoo}\n\n{table}\n\nResult: {verdict}\n"
    )
    (OUT / "raw.json").write_text(json.dumps(bench.raw, indent=1))
    print(f"\n{table}\n")
    print(f"[bench] {verdict}; Markdown in {OUT / 'results.md'}, logs in {OUT}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
