"""The README's pictures of komet_paylink, made from the demo data.

usage: docs/screenshots [--db NAME] [--keep] [--odoo PATH]

1. Without --db, creates a throwaway database komet_shots_<random> with Odoo's and the addon's
   demo data; with --db, uses that demo database (scripts/demo's is komet_demo) and adds links
   to it.
2. Serves Odoo on a free port of 127.0.0.1, and in an `odoo-bin shell` (`prepare` below), as the
   demo's payment-link admin: sends Greengrocer's newest invoice with a payment link through
   Odoo's Send dialog, makes a link for Corner Shop's invoice and a statement link for
   Greengrocer's open invoices, and emails both; adds a French customer's invoice and link (in
   French, with the French translations installed) and an Indian-rupee invoice sent with a link.
3. Shoots with Debian's headless chromium: the pay page and the statement page on a phone, the
   email of the sent invoice, the link list as that admin sees it; renders the Pay box page of
   the emailed PDF with pdftoppm (Greengrocer's, and the rupee invoice's), and the French
   customer's page.
4. Writes docs/images/*.png, stops Odoo, and drops the throwaway database unless --keep.
"""

import argparse
import base64
import io
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psycopg2
import websocket
from PIL import Image, ImageChops

DOCS = Path(__file__).resolve().parent
REPO = DOCS.parent
IMAGES = DOCS / "images"
FILESTORE = Path.home() / ".local" / "share" / "Odoo" / "filestore"
RESULT_MARK = "SHOTS_RESULT "
PHONE = (390, 844)
DESKTOP = (1440, 560)
EMAIL_WIDTH = 720
STAFF_LOGIN = "paylink_admin"  # demo users' password is their login


def log(message):
    sys.stderr.write(f"[screenshots] {message}\n")


# === IN ODOO (odoo-bin shell) === #


def prepare(env, base_url, work):
    """Make the links the pictures show; write the email body and the emailed PDF into `work`
    and report the pages' URLs (a link's URL is readable only on the record just created)."""
    parameters = env["ir.config_parameter"].sudo()
    parameters.set_param("web.base.url", base_url)
    parameters.set_param("report.url", base_url)  # wkhtmltopdf fetches the CSS from the server
    provider = env["payment.provider"]._paylink_provider_for(env.ref("base.main_company"))
    if not provider.komet_demo_mode:
        provider._paylink_set_account(demo_mode=True)
    staff = env.ref("komet_paylink.demo_user_admin")
    env = env(user=staff, context=dict(env.context, mail_notify_force_send=False))
    greengrocer = env.ref("komet_paylink.demo_invoice_greengrocer")

    wizard = (
        env["account.move.send.wizard"]
        .with_context(active_model="account.move", active_ids=greengrocer.ids)
        .create({"sending_methods": ["email"], "komet_paylink_include": True})
    )
    wizard.action_send_and_print()
    mail = (
        env["mail.mail"]
        .sudo()
        .search(
            [("model", "=", "account.move"), ("res_id", "=", greengrocer.id)],
            order="id desc",
            limit=1,
        )
    )
    pdf = mail.attachment_ids.filtered(lambda a: a.mimetype == "application/pdf")
    if not mail or len(pdf) != 1:
        raise RuntimeError(f"the sent invoice's email or its PDF is missing: {mail} {pdf}")
    Path(work, "email.html").write_text(mail.body_html, encoding="utf-8")
    Path(work, "invoice.pdf").write_bytes(pdf.raw)

    # A link's URL is readable only on the record just created, before anything else runs.
    single = env.ref("komet_paylink.demo_invoice_cornershop")._paylink_email_new_link()
    urls = {"pay": single.url}
    open_invoices = env["account.move"].search(
        [
            ("partner_id", "=", greengrocer.partner_id.id),
            ("move_type", "=", "out_invoice"),
            ("state", "=", "posted"),
            ("payment_state", "in", ("not_paid", "partial")),
        ]
    )
    statement = open_invoices._paylink_email_new_link(statement=True)
    urls["statement"] = statement.url
    urls["french"] = foreign_customers_invoices(env, work)
    env.cr.commit()
    # The languages installed here reach the server's caches (the shell signals nothing itself).
    env.registry.signal_changes()
    sys.stdout.write(RESULT_MARK + json.dumps(urls))
    sys.stdout.write("\n")


def foreign_invoice(env, partner_values, currency_xmlid, lines):
    """A posted invoice in `currency_xmlid` for a new customer of `partner_values`."""
    currency = env.ref(currency_xmlid).sudo()
    currency.active = True
    partner = env["res.partner"].create(partner_values)
    invoice = env["account.move"].create(
        {
            "move_type": "out_invoice",
            "partner_id": partner.id,
            "currency_id": currency.id,
            "invoice_line_ids": [
                (0, 0, {"name": name, "quantity": quantity, "price_unit": price, "tax_ids": []})
                for name, quantity, price in lines
            ],
        }
    )
    invoice.action_post()
    return invoice


def foreign_customers_invoices(env, work):
    """A French customer's link (its page, in French) and an Indian-rupee invoice sent with a
    link (its Pay box, with the rupee sign); return the French link's URL."""
    languages = env["res.lang"].sudo()
    installer = env["base.language.install"].sudo()
    installer.create({"lang_ids": [(6, 0, languages._activate_lang("fr_FR").ids)]}).lang_install()
    languages._activate_lang("en_IN")
    french = foreign_invoice(
        env,
        {"name": "Épicerie Dupont", "email": "compta@epicerie-dupont.example", "lang": "fr_FR"},
        "base.EUR",
        [("Caisses de pommes", 10, 123.45)],
    )
    rupee = foreign_invoice(
        env,
        {"name": "Śrī Gaṇeśa Traders", "email": "accounts@ganesha.example", "lang": "en_IN"},
        "base.INR",
        [("Tea chests", 25, 4938.0)],
    )
    wizard = (
        env["account.move.send.wizard"]
        .with_context(active_model="account.move", active_ids=rupee.ids)
        .create({"sending_methods": ["email"], "komet_paylink_include": True})
    )
    wizard.action_send_and_print()
    mail = (
        env["mail.mail"]
        .sudo()
        .search(
            [("model", "=", "account.move"), ("res_id", "=", rupee.id)], order="id desc", limit=1
        )
    )
    pdf = mail.attachment_ids.filtered(lambda a: a.mimetype == "application/pdf")
    if len(pdf) != 1:
        raise RuntimeError(f"the rupee invoice's PDF is missing: {mail} {pdf}")
    Path(work, "invoice_rupee.pdf").write_bytes(pdf.raw)
    return french._paylink_email_new_link().url


# === OUTSIDE ODOO === #


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def find_odoo(path):
    candidates = [path] if path else [REPO.parent / "odoo", "/opt/odoo18", "/opt/odoo"]
    for candidate in map(Path, candidates):
        if (candidate / "odoo-bin").is_file():
            return candidate.resolve()
    sys.exit("no Odoo 18 found: pass --odoo or set ODOO_PATH")


class Odoo:
    """odoo-bin on one database: install, shell, server."""

    def __init__(self, odoo_dir, db, work):
        self.odoo_dir, self.db, self.work = odoo_dir, db, Path(work)
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.server = None
        (self.work / "odoo.conf").write_text("[options]\n")  # no ~/.odoorc changes the run

    def command(self, *args):
        return [
            sys.executable,
            str(self.odoo_dir / "odoo-bin"),
            *args,
            f"--config={self.work / 'odoo.conf'}",
            f"--database={self.db}",
            f"--addons-path={self.odoo_dir / 'addons'},{REPO}",
        ]

    def run(self, args, stdin=None):
        result = subprocess.run(
            self.command(*args), input=stdin, capture_output=True, text=True, check=False
        )
        if result.returncode:
            sys.stderr.write(result.stdout[-3000:] + result.stderr[-3000:])
            sys.exit(f"odoo-bin {' '.join(args[:1])} failed (exit {result.returncode})")
        return result.stdout

    def install(self):
        log(f"creating {self.db} with demo data and komet_paylink (a few minutes)")
        self.run(
            ["-i", "komet_paylink", "--without-demo=", "--stop-after-init", "--log-level=warn"]
        )

    def shell(self):
        script = (
            f"import sys\nsys.path.insert(0, {str(DOCS)!r})\nimport screenshots\n"
            f"screenshots.prepare(env, {self.base_url!r}, {str(self.work)!r})\n"
        )
        stdout = self.run(["shell", "--no-http", "--log-level=warn"], stdin=script)
        for line in stdout.splitlines():
            if line.startswith(RESULT_MARK):
                return json.loads(line[len(RESULT_MARK) :])
        sys.exit(f"the Odoo shell reported nothing:\n{stdout[-3000:]}")

    def serve(self):
        log(f"serving Odoo on {self.base_url}")
        args = ["--http-interface=127.0.0.1", f"--http-port={self.port}", "--workers=0"]
        args += [f"--db-filter=^{re.escape(self.db)}$", "--max-cron-threads=0"]
        args += [f"--logfile={self.work / 'server.log'}"]
        self.server = subprocess.Popen(self.command(*args), stdin=subprocess.DEVNULL)
        for __ in range(240):
            try:
                with urllib.request.urlopen(f"{self.base_url}/web/health", timeout=5):  # noqa: S310
                    return
            except OSError:
                time.sleep(0.5)
        sys.exit(f"Odoo did not answer on {self.base_url}")

    def stop(self):
        if self.server:
            self.server.terminate()
            self.server.wait(timeout=30)

    def drop(self):
        log(f"dropping {self.db}")
        connection = psycopg2.connect(dbname="postgres")
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{self.db}" WITH (FORCE)')
        connection.close()
        shutil.rmtree(FILESTORE / self.db, ignore_errors=True)


class Chromium:
    """Debian's headless chromium, driven over its DevTools protocol."""

    def __init__(self, work):
        port = free_port()
        self.process = subprocess.Popen(
            ["chromium", "--headless", "--no-sandbox", "--hide-scrollbars"]
            + [f"--remote-debugging-port={port}", f"--user-data-dir={work}/chromium"],
            stderr=subprocess.DEVNULL,
        )
        for __ in range(100):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json") as answer:
                    tabs = json.load(answer)
                break
            except OSError:
                time.sleep(0.2)
        tab = next(tab for tab in tabs if tab["type"] == "page")
        self.socket = websocket.create_connection(tab["webSocketDebuggerUrl"], timeout=60)
        self.calls = 0

    def call(self, method, **params):
        self.calls += 1
        self.socket.send(json.dumps({"id": self.calls, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == self.calls:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def evaluate(self, expression):
        return self.call("Runtime.evaluate", expression=expression)["result"].get("value")

    def open(self, url, size, ready="true", mobile=False):
        """Open `url` in a window of `size` and wait until the JS `ready` is true."""
        width, height = size
        self.call(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=mobile,
        )
        for __ in range(3):  # a server just started may miss a first stylesheet: load again
            self.call("Page.navigate", url=url)
            for __ in range(40):
                time.sleep(0.5)
                if self.evaluate(f"document.readyState == 'complete' && !!({ready})"):
                    time.sleep(1)  # fonts, images, Odoo's last renders
                    return
        raise RuntimeError(f"{url} did not get ready ({ready})")

    def shoot(self, path, full_page=False):
        """Save the page as a PNG: the window, or with `full_page` the whole page's height."""
        params = {"format": "png"}
        if full_page:
            metrics = self.call("Page.getLayoutMetrics")["cssContentSize"]
            width = self.evaluate("window.innerWidth")
            params["clip"] = {"x": 0, "y": 0, "width": width, "height": metrics["height"]}
            params["clip"]["scale"] = 1
            params["captureBeyondViewport"] = True
        Path(path).write_bytes(
            base64.b64decode(self.call("Page.captureScreenshot", **params)["data"])
        )

    def login(self, base_url, login):
        self.open(f"{base_url}/web/login", DESKTOP, "document.querySelector('#login')")
        self.evaluate(
            f"document.querySelector('#login').value = {json.dumps(login)};"
            f"document.querySelector('#password').value = {json.dumps(login)};"
            "document.querySelector('form.oe_login_form').submit();"
        )
        time.sleep(3)

    def close(self):
        self.socket.close()
        self.process.terminate()
        self.process.wait(timeout=30)


def pdf_last_page(pdf, png, width=700):
    """The last page of `pdf` (the Pay box) as a PNG `width` pixels wide, margins trimmed."""
    info = subprocess.check_output(["pdfinfo", pdf], text=True)
    page = re.search(r"^Pages:\s+(\d+)", info, re.M).group(1)
    raw = subprocess.check_output(
        ["pdftoppm", "-png", "-f", page, "-l", page, "-scale-to-x", str(width)]
        + ["-scale-to-y", "-1", pdf]
    )
    image = Image.open(io.BytesIO(raw)).convert("RGB")
    content = ImageChops.difference(image, Image.new("RGB", image.size, "white")).getbbox()
    if content:
        margin = 16
        left, top, right, bottom = content
        image = image.crop(
            (max(left - margin, 0), max(top - margin, 0))
            + (min(right + margin, image.width), min(bottom + margin, image.height))
        )
    image.save(png, optimize=True)


def shoot_all(odoo, urls, work):
    IMAGES.mkdir(exist_ok=True)
    pdf_last_page(str(work / "invoice.pdf"), IMAGES / "pdf_pay_box.png")
    pdf_last_page(str(work / "invoice_rupee.pdf"), IMAGES / "pdf_pay_box_rupee.png")
    chromium = Chromium(work)
    try:
        # The page is there, with its stylesheet's rules.
        page_ready = (
            "document.querySelector('main') && "
            "[...document.styleSheets].some((sheet) => sheet.cssRules.length > 100)"
        )
        chromium.open(urls["pay"], PHONE, page_ready, mobile=True)
        chromium.shoot(IMAGES / "pay_page_phone.png")
        chromium.open(urls["french"], PHONE, page_ready, mobile=True)
        chromium.shoot(IMAGES / "pay_page_french_phone.png")
        chromium.open(urls["statement"], PHONE, page_ready, mobile=True)
        chromium.shoot(IMAGES / "statement_page_phone.png", full_page=True)
        chromium.open((work / "email.html").as_uri(), (EMAIL_WIDTH, 100))
        chromium.shoot(IMAGES / "email.png", full_page=True)
        chromium.login(odoo.base_url, STAFF_LOGIN)
        chromium.open(
            f"{odoo.base_url}/odoo/action-komet_paylink.komet_paylink_action",
            DESKTOP,
            "document.querySelector('.o_list_table .o_data_row')",
        )
        chromium.shoot(IMAGES / "link_list.png")
    finally:
        chromium.close()
    for png in sorted(IMAGES.glob("*.png")):
        Image.open(png).save(png, optimize=True)
        log(f"{png.relative_to(REPO)}: {Image.open(png).size}, {png.stat().st_size // 1024} KB")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--db", help="an existing demo database (default: a throwaway one)")
    parser.add_argument("--keep", action="store_true", help="keep the throwaway database")
    parser.add_argument("--odoo", default=os.environ.get("ODOO_PATH"), help="Odoo 18 source tree")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="komet_shots_") as work:
        odoo = Odoo(find_odoo(args.odoo), args.db or f"komet_shots_{secrets.token_hex(4)}", work)
        try:
            if not args.db:
                odoo.install()
            odoo.serve()
            urls = odoo.shell()
            shoot_all(odoo, urls, Path(work))
        finally:
            odoo.stop()
            if not args.db and not args.keep:
                odoo.drop()


if __name__ == "__main__":
    main()
