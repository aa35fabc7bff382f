"""Benchmark of komet_paylink against Odoo's own pages, on a real Odoo 18 and PostgreSQL; run it
through `bench/run [--keep] [--quick]` (scripts/setup, the Odoo found, the project's venv).

A fresh database komet_bench_<random> with demo data and komet_paylink, an Odoo server on a
free port of 127.0.0.1 (threaded, --workers=0), and, against Odoo's own:
1. the payment page GET /pay/<token> against the portal invoice page (same invoice, anonymous):
   SQL queries per request (Odoo's request log), latency p50/p99, sequential and concurrent;
2. the invoice PDF with the Pay box and QR code against the plain invoice PDF;
3. sending invoices with a link against Odoo's own send of twin invoices without one: N=5 and
   N=50 one per call, then a batch of N in one call each way; SQL queries and seconds;
4. Stripe webhooks (komet_paylink/tests/stripe_fake.py serves the Stripe API): latency per
   event, then concurrent deliveries for one session, which must book one payment.
What runs inside Odoo is bench/inside.py (click-odoo). One table is printed (and written to
bench/out/results.md); exit 1 when a target is missed, 3 when the benchmark could not run.
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

import requests

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "bench" / "out"
FULL = {"pages": 200, "clients": 10, "concurrent": 300, "pdfs": 7, "sends": (5, 50)}
FULL |= {"sessions": 40, "deliveries": 50}
QUICK = {"pages": 20, "clients": 4, "concurrent": 20, "pdfs": 1, "sends": (2, 4)}
QUICK |= {"sessions": 5, "deliveries": 10}
WARMUP = 10
PDF_TARGET, SEND_TIME_TARGET, SEND_QUERY_TARGET = 1.05, 1.1, 1.2
# Fake test-mode secrets, known only to the fake Stripe API and the throwaway database.
SECRET_KEY = "sk_test_bench_komet_paylink_0000"  # noqa: S105
WEBHOOK_SECRET = "whsec_bench_komet_paylink_0000"  # noqa: S105
WEBHOOK_ROUTE = "/komet_paylink/webhook/stripe"
TIMEOUT = 120
# Odoo's request log line ends with `"GET /path HTTP/1.1" 200 - <queries> <query s> <other s>`.
REQUEST_LOG = re.compile(r'"([A-Z]+) (\S+) HTTP/[\d.]+" (\d{3}) \S+ (\d+) [\d.]+ [\d.]+')
RECORD_START = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ")
POOL_FULL = "The Connection Pool Is Full"


class BenchError(Exception):
    """The benchmark could not run (as opposed to a target being missed)."""


def log(message):
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def percentile(values, q):
    """The q-th percentile (0-100), interpolated between the closest ranks."""
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def ms(seconds):
    return f"{seconds * 1000:.1f} ms"


def ratio(ours, reference):
    return ours / reference if reference else float("nan")


def tally(counter):
    return ", ".join(f"{n}×{key}" for key, n in sorted(counter.items()))


def answers(results):
    """Webhook deliveries' (status, outcome, seconds): "2×200, 1×503: 2 done, 1 retry later"."""
    outcomes = Counter(outcome for __, outcome, __ in results).most_common()
    statuses = tally(Counter(status for status, __, __ in results))
    return f"{statuses}: {', '.join(f'{n} {outcome}' for outcome, n in outcomes)}"


@dataclass
class Row:
    measure: str
    ours: str
    reference: str = "—"
    target: str = "—"
    passed: bool | None = None  # None: for information, no target


def compared(measure, ours, reference, shown, limit, digits=3):
    """A row comparing `ours` with Odoo's `reference` (numbers, then as `shown`): ratio ≤ limit."""
    value = ratio(ours, reference)
    return Row(measure, *shown, f"{value:.{digits}f} (≤ {limit})", value <= limit)


def markdown_table(rows):
    verdicts = {True: "PASS", False: "FAIL", None: "—"}
    cells = [("measure", "komet_paylink", "Odoo reference", "ratio/target", "pass/fail")]
    cells += [(r.measure, r.ours, r.reference, r.target, verdicts[r.passed]) for r in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(5)]
    lines = ["| " + " | ".join(map(str.ljust, line, widths)) + " |" for line in cells]
    return "\n".join([lines[0], "|" + "|".join("-" * (w + 2) for w in widths) + "|", *lines[1:]])


def http():
    session = requests.Session()
    session.trust_env = False  # loopback only: no proxy from the environment
    return session


class Benchmark:
    def __init__(self, odoo, quick, keep):
        self.odoo, self.quick, self.keep = Path(odoo).resolve(), quick, keep
        self.sizes = QUICK if quick else FULL
        self.db = f"komet_bench_{secrets.token_hex(4)}"
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        spec = importlib.util.spec_from_file_location(
            "stripe_fake", REPO / "komet_paylink" / "tests" / "stripe_fake.py"
        )
        self.stripe = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(self.stripe)
        self.server = self.fake = None
        self.rows, self.timings, self.raw, self.page = [], {}, {}, {}

    # --- Odoo processes --- #

    def run_logged(self, name, command):
        """Run a command, its output into bench/out/<name>.out; return its stdout."""
        env = dict(os.environ, PYTHONPATH=str(self.odoo))
        result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        (OUT / f"{name}.out").write_text(result.stdout + result.stderr)
        if result.returncode:
            tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-25:])
            raise BenchError(f"{name} failed (exit {result.returncode}), see {OUT}:\n{tail}")
        return result.stdout

    def odoo_bin(self, *args):
        conf, odoo_bin = OUT / "odoo.conf", self.odoo / "odoo-bin"
        return [sys.executable, str(odoo_bin), f"--config={conf}", "-d", self.db, *args]

    def inside(self, phase, **parameters):
        """Run a phase of bench/inside.py in Odoo on the database; return its result."""
        command = [sys.executable, str(REPO / "bench" / "inside.py"), "-c", str(OUT / "odoo.conf")]
        stdout = self.run_logged(phase, [*command, "-d", self.db, phase, json.dumps(parameters)])
        results = [line for line in stdout.splitlines() if line.startswith("BENCH_RESULT ")]
        if not results:
            raise BenchError(f"{phase}: bench/inside.py reported nothing (see {OUT}/{phase}.out)")
        return json.loads(results[-1].removeprefix("BENCH_RESULT "))

    def start_server(self):
        log(f"starting Odoo on {self.base_url} (log: {OUT / 'server.log'})")
        command = self.odoo_bin(
            f"--db-filter=^{self.db}$",
            "--http-interface=127.0.0.1",
            f"--http-port={self.port}",
            "--workers=0",
            "--max-cron-threads=0",
            "--log-level=info",
            f"--logfile={OUT / 'server.log'}",
        )
        self.server = subprocess.Popen(command, stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 120
        with http() as client:
            while time.monotonic() < deadline and self.server.poll() is None:
                try:
                    if client.get(f"{self.base_url}/web/health", timeout=5).ok:
                        return
                except requests.ConnectionError:
                    pass
                time.sleep(0.5)
        raise BenchError(f"Odoo did not answer on {self.base_url} (see {OUT / 'server.log'})")

    def cleanup(self):
        if self.server and self.server.poll() is None:
            self.server.terminate()
            try:
                self.server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.server.kill()
        if self.fake:
            self.fake.stop()
        if self.keep:
            log(f"kept the database {self.db} and its filestore (--keep)")
            return
        log(f"dropping the database {self.db} and its filestore")
        subprocess.run(["dropdb", "--if-exists", "--force", self.db], check=False)
        shutil.rmtree(Path.home() / ".local/share/Odoo/filestore" / self.db, ignore_errors=True)

    def log_since(self, offset):
        time.sleep(0.5)  # Odoo logs a request just after it sent the response
        with open(OUT / "server.log", encoding="utf-8", errors="replace") as handle:
            handle.seek(offset)
            return handle.read().splitlines()

    def log_offset(self):
        return (OUT / "server.log").stat().st_size

    def requests_logged(self, offset):
        """(method, path, status, queries) of each request Odoo logged since `offset`."""
        matches = filter(None, map(REQUEST_LOG.search, self.log_since(offset)))
        return [(m[1], m[2], int(m[3]), int(m[4])) for m in matches]

    # --- the phases --- #

    def run(self):
        OUT.mkdir(exist_ok=True)
        for stale in ("server.log", "results.md", "raw.json", "invoice_plain.pdf"):
            (OUT / stale).unlink(missing_ok=True)
        addons = f"{self.odoo / 'addons'},{REPO}"
        (OUT / "odoo.conf").write_text(f"[options]\naddons_path = {addons}\n")
        started = time.perf_counter()
        self.fake = self.stripe.FakeStripeServer().start()
        log(f"creating {self.db} with demo data and komet_paylink (about a minute)")
        self.run_logged(
            "install",
            self.odoo_bin("-i", "komet_paylink", "--without-demo=", "--stop-after-init")
            + ["--log-level=warn", f"--logfile={OUT / 'install.log'}"],
        )
        self.timings["install"] = time.perf_counter() - started
        log("setting up: system parameters, Stripe secrets, the invoice of the page measures")
        self.page = self.inside(
            "prepare",
            base_url=self.base_url,
            stripe_api_base=self.fake.base_url,
            secret_key=SECRET_KEY,
            webhook_secret=WEBHOOK_SECRET,
        )
        self.start_server()
        self.timings["setup"] = time.perf_counter() - started - self.timings["install"]
        for phase in (self.bench_pages, self.bench_pdf, self.bench_send, self.bench_webhooks):
            phase_start = time.perf_counter()
            phase()
            self.timings[phase.__name__.removeprefix("bench_")] = time.perf_counter() - phase_start
        self.rows.append(self.server_errors_row())
        self.timings["total"] = time.perf_counter() - started

    def server_errors_row(self):
        """The ERROR records of the server's whole log, by cause, for information. Odoo logs
        as an ERROR ("bad query") each serialization failure it then retries, unless the query
        asked it not to (komet_paylink's row lock and event store do)."""
        causes, record = Counter(), []
        for line in [*self.log_since(0), "0000-00-00 00:00:00,000 end"]:
            if RECORD_START.match(line):
                if record and " ERROR " in record[0]:
                    text = "\n".join(record)
                    if POOL_FULL in text:  # may follow a serialization failure
                        causes["connection pool full (HTTP 500)"] += 1
                    elif "could not serialize access" in text:
                        causes["serialization failures, retried"] += 1
                    else:
                        causes["other"] += 1
                record = []
            record.append(line)
        detail = ", ".join(f"{n} {cause}" for cause, n in causes.most_common())
        total = sum(causes.values())
        return Row(
            "Server log: ERROR records over the run", f"{total} ({detail})" if total else "0"
        )

    def bench_pages(self):
        portal = f"/my/invoices/{self.page['invoice_id']}?access_token={self.page['access_token']}"
        urls = {"ours": self.page["link_url"], "odoo": self.base_url + portal}
        count, clients = self.sizes["pages"], self.sizes["clients"]

        def fetch(client, page):
            start = time.perf_counter()
            response = client.get(urls[page], timeout=TIMEOUT, allow_redirects=False)
            if response.status_code != 200:
                raise BenchError(f"GET {page} page answered {response.status_code}")
            return time.perf_counter() - start

        def requests_in_turn(client, count, first=0):
            times = {"ours": [], "odoo": []}
            for index in range(count):
                for page in ("ours", "odoo") if (index + first) % 2 == 0 else ("odoo", "ours"):
                    times[page].append(fetch(client, page))
            return times

        log(f"pages: warm-up ({WARMUP} requests each), then {count} sequential each, interleaved")
        with http() as client:
            requests_in_turn(client, WARMUP)
            if self.page["invoice_name"] not in client.get(urls["ours"], timeout=TIMEOUT).text:
                raise BenchError("the payment page does not show the invoice")
            offset = self.log_offset()
            sequential = requests_in_turn(client, count)
        queries = {"ours": [], "odoo": []}
        pay_paths = {"/pay/***", urls["ours"].removeprefix(self.base_url)}
        for method, path, status, n in self.requests_logged(offset):
            if method == "GET" and status == 200 and (path in pay_paths or path == portal):
                queries["ours" if path in pay_paths else "odoo"].append(n)
        if any(len(values) != count for values in queries.values()):
            raise BenchError(f"not {count} log lines of each page: {queries}")

        per_client = self.sizes["concurrent"] // clients
        log(f"pages: {clients} concurrent clients, {per_client * clients} requests per page")
        barrier = threading.Barrier(clients)

        def client_run(number):
            with http() as client:
                fetch(client, "ours")  # its own session cookie, as a new visitor gets
                barrier.wait()
                return requests_in_turn(client, per_client, first=number)

        concurrent = {"ours": [], "odoo": []}
        with ThreadPoolExecutor(max_workers=clients) as pool:
            for times in pool.map(client_run, range(clients)):
                for page, values in times.items():
                    concurrent[page] += values
        self.raw["pages"] = {"queries": queries, "sequential": sequential, "concurrent": concurrent}

        def median_spread(values):
            spread = f" ({min(values)}-{max(values)})" if min(values) != max(values) else ""
            return f"{statistics.median(values):g}{spread}"

        q_ours, q_odoo = (statistics.median(queries[page]) for page in ("ours", "odoo"))
        shown = (median_spread(queries["ours"]), median_spread(queries["odoo"]))
        self.rows.append(
            compared("Page: SQL queries per request (median)", q_ours, q_odoo, shown, 1, 2)
        )
        for label, samples in (
            (f"{count} sequential", sequential),
            (f"{clients} concurrent clients", concurrent),
        ):
            for q in (50, 99):
                ours, odoo = percentile(samples["ours"], q), percentile(samples["odoo"], q)
                measure = f"Page: p{q} latency, {label}"
                if q == 50:
                    self.rows.append(compared(measure, ours, odoo, (ms(ours), ms(odoo)), 1, 2))
                else:
                    self.rows.append(Row(measure, ms(ours), ms(odoo), f"{ratio(ours, odoo):.2f}"))

    def bench_pdf(self):
        runs = self.sizes["pdfs"]
        log(f"PDF: {runs} renders each, alternating, after one warm-up each")
        url = self.page["link_url"]
        result = self.inside(
            "pdf", invoice_id=self.page["invoice_id"], url=url, runs=runs, out=str(OUT)
        )
        self.raw["pdf"] = result
        link, plain = (statistics.median(result["runs"][way]) for way in ("link", "plain"))
        shown = (f"{link:.3f} s", f"{plain:.3f} s (plain)")
        self.rows.append(
            compared("PDF: invoice render time (median)", link, plain, shown, PDF_TARGET)
        )
        found, sizes = result["url_in_link_pdf"], result["sizes"]
        self.rows.append(
            Row(
                "PDF: the link is in the PDF; size",
                f"{'yes' if found else 'NO'}; {sizes['link'] // 1024} KiB",
                f"{sizes['plain'] // 1024} KiB (plain)",
                "link present",
                bool(found),
            )
        )

    def bench_send(self):
        small, large = self.sizes["sends"]
        log(
            f"send: N={small} then N={large} twin invoices, one per call, then in batches (minutes)"
        )
        result = self.raw["send"] = self.inside("send", sizes=[small, large])

        def row(measure, data, key, shown, limit):  # with a link against Odoo's own send
            link, plain = data["link"][key], data["plain"][key]
            texts = (f"{shown.format(link)} (link)", f"{shown.format(plain)} (Odoo, no link)")
            return compared(f"Send: {measure}", link, plain, texts, limit)

        for size in (small, large):
            data = {
                way: {k: statistics.mean(v) for k, v in result[str(size)][way].items()}
                for way in ("link", "plain")
            }
            label = f"per invoice, N={size}, one per call"
            self.rows.append(row(f"seconds {label}", data, "seconds", "{:.3f} s", SEND_TIME_TARGET))
            self.rows.append(
                row(f"SQL queries {label}", data, "queries", "{:.1f}", SEND_QUERY_TARGET)
            )
        for size in (small, large):
            data, label = result[f"batch {size}"], f"batch of {size} in one call"
            self.rows.append(
                row(f"{label}, seconds", data, "seconds", "{:.2f} s", SEND_TIME_TARGET)
            )
            self.rows.append(row(f"{label}, SQL queries", data, "queries", "{}", SEND_QUERY_TARGET))
        # Same cost per invoice at both sizes: no query that grows with the batch or the
        # number of links and emails already in the database.
        small_q, large_q = (result[str(size)]["link"]["queries"] for size in (small, large))
        self.rows.append(
            Row(
                f"Send: SQL queries per invoice with a link, N={large} against N={small}",
                f"{statistics.mean(large_q):.1f} (median {statistics.median(large_q):g})",
                f"{statistics.mean(small_q):.1f} (median {statistics.median(small_q):g})",
                "same at both N",
                statistics.median(large_q) == statistics.median(small_q),
            )
        )
        parts = [
            result[key] for key in (str(small), str(large), f"batch {small}", f"batch {large}")
        ]
        total, good = 4 * (small + large), sum(part["good"] for part in parts)
        problems = [problem for part in parts for problem in part["problems"]][:3]
        self.rows.append(
            Row(
                "Send: each invoice emailed once; with a link, one link 'sent', in its PDF",
                f"{good}/{total}" + (f" ({'; '.join(problems)})" if problems else ""),
                target=f"{total}/{total}",
                passed=good == total,
            )
        )

    def deliver(self, client, payload, header):
        """POST one signed event; return (HTTP status, outcome or error, seconds)."""
        start = time.perf_counter()
        response = client.post(
            self.base_url + WEBHOOK_ROUTE,
            data=payload,
            headers={"Stripe-Signature": header, "Content-Type": "application/json"},
            timeout=TIMEOUT,
        )
        elapsed = time.perf_counter() - start
        try:
            body = response.json()
            outcome = body.get("outcome") or body.get("error")
        except ValueError:  # Odoo's own error page
            outcome = f"HTTP {response.status_code}"
        return response.status_code, outcome, elapsed

    def signed(self, session):
        payload = self.stripe.event_payload(
            self.stripe.make_event("checkout.session.completed", session)
        )
        return payload, self.stripe.sign_payload(payload, WEBHOOK_SECRET)

    def concurrent_rows(self, label, deliveries):
        """POST every (payload, header) at once, each from its own thread and connection, then
        deliver again one by one, as Stripe would, those answered 503; two rows."""
        barrier = threading.Barrier(len(deliveries))

        def one(delivery):
            with http() as client:
                barrier.wait()
                return self.deliver(client, *delivery)

        offset = self.log_offset()
        with ThreadPoolExecutor(max_workers=len(deliveries)) as pool:
            results = list(pool.map(one, deliveries))
        lines = self.log_since(offset)
        notes = [f"{sum('try again in' in line for line in lines)} serialization retries"]
        if gave_up := sum("maximum number of tries reached" in line for line in lines):
            notes.append(f"{gave_up} gave up")
        if pool_full := sum(POOL_FULL in line for line in lines):
            notes.append(f"{pool_full} × connection pool full")
        slowest = ms(max(elapsed for __, __, elapsed in results))
        first = Row(
            f"Webhook: {label}",
            f"{answers(results)}; slowest {slowest} ({'; '.join(notes)})",
            target="2xx, or 503 to retry",
            passed=all(200 <= status < 300 or status == 503 for status, __, __ in results),
        )
        again = [d for d, result in zip(deliveries, results, strict=True) if result[0] == 503]
        with http() as client:
            retried = [self.deliver(client, *delivery) for delivery in again]
        second = Row(
            f"Webhook: {label}, the 503s delivered again",
            answers(retried) if again else "none to deliver again",
            target="all 2xx",
            passed=all(200 <= status < 300 for status, __, __ in retried),
        )
        self.raw.setdefault("webhooks", {})[label] = results
        return [first, second]

    def bench_webhooks(self):
        count, parallel = self.sizes["sessions"], self.sizes["deliveries"]
        log(f"webhooks: {count} Checkout Sessions through the fake Stripe API")
        sessions = self.inside("webhook", count=count)
        for item in sessions:
            if item["session_id"] not in self.fake.sessions:
                raise BenchError(f"no Checkout Session in the fake for {item}")
            self.fake.set_session(
                item["session_id"], status="complete", payment_status="paid", payment_intent="pi_x"
            )
        *sequential, last = sessions
        log(f"webhooks: {len(sequential)} sequential deliveries")
        offset = self.log_offset()
        statuses, latencies = Counter(), []
        with http() as client:
            for item in sequential:
                status, __, elapsed = self.deliver(
                    client, *self.signed(self.fake.sessions[item["session_id"]])
                )
                statuses[status] += 1
                latencies.append(elapsed)
        queries = [
            n
            for method, path, __, n in self.requests_logged(offset)
            if (method, path) == ("POST", WEBHOOK_ROUTE)
        ]
        # Different event ids first, while the session is not booked yet: they race to book
        # it. Then copies of one event race on storing it once (de-duplication).
        session = self.fake.sessions[last["session_id"]]
        log(
            f"webhooks: {parallel} concurrent deliveries of {parallel} event ids, then of one event"
        )
        rows = self.concurrent_rows(
            f"{parallel} concurrent, {parallel} event ids",
            [self.signed(session) for __ in range(parallel)],
        )
        rows += self.concurrent_rows(
            f"{parallel} concurrent, one same event", [self.signed(session)] * parallel
        )
        booked = self.inside("booked", sessions=sessions)  # [(payments, link state)]
        booked_once = sum(found == [1, "paid"] for found in booked[:-1])
        payments, state = booked[-1]
        self.raw["webhooks"]["sequential"] = {"seconds": latencies, "queries": queries}
        self.rows += [
            Row(
                f"Webhook: p50 / p99 per event, {len(sequential)} sequential",
                f"{ms(percentile(latencies, 50))} / {ms(percentile(latencies, 99))}",
            ),
            Row(
                "Webhook: SQL queries per event (median)",
                f"{statistics.median(queries):g}" if queries else "?",
            ),
            Row(
                f"Webhook: {len(sequential)} sequential: statuses; booked once",
                f"{tally(statuses)}; {booked_once}/{len(sequential)} booked",
                target="all 2xx; all booked once",
                passed=all(200 <= code < 300 for code in statuses)
                and booked_once == len(sequential),
            ),
            *rows,
            Row(
                "Webhook: payments of the concurrently delivered session",
                f"{payments} (link {state})",
                target="exactly 1",
                passed=payments == 1,
            ),
        ]

    def write_results(self, table, verdict):
        machine = (
            f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
        )
        timings = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in self.timings.items())
        quick = "\n- **--quick run: tiny sizes, the numbers mean nothing**" if self.quick else ""
        (OUT / "results.md").write_text(
            f"# komet_paylink benchmark\n\n- {time.strftime('%Y-%m-%d %H:%M %Z')}; {machine}\n"
            f"- Odoo 18.0 at {self.odoo}, server --workers=0 (threaded); run time: {timings}"
            f"{quick}\n\n{table}\n\nResult: {verdict}\n"
        )
        (OUT / "raw.json").write_text(json.dumps(self.raw, indent=1))


def main():
    parser = argparse.ArgumentParser(prog="bench/run", description=__doc__.splitlines()[0])
    parser.add_argument("--odoo", required=True, help="the Odoo 18.0 source tree (bench/run)")
    parser.add_argument("--keep", action="store_true", help="keep the database at the end")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the script only")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))  # cleanup
    bench = Benchmark(args.odoo, args.quick, args.keep)
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
    bench.write_results(table, verdict)
    print(f"\n{table}\n")
    print(f"[bench] {verdict}; Markdown in {OUT / 'results.md'}, logs in {OUT}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
