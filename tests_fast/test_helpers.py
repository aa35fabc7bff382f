"""Unit tests of komet_paylink's pure helpers (const.py, utils.py): no Odoo needed."""

import base64
import importlib.util
import io
import secrets
import string
import sys
import types
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

ADDON = Path(__file__).resolve().parent.parent / "komet_paylink"


def _load_pure_modules():
    """Import const.py and utils.py as a package of their own, without the addon's
    __init__.py (which needs Odoo)."""
    package = types.ModuleType("komet_paylink_pure")
    package.__path__ = [str(ADDON)]
    sys.modules["komet_paylink_pure"] = package
    modules = {}
    for name in ("const", "utils"):
        spec = importlib.util.spec_from_file_location(
            f"komet_paylink_pure.{name}", ADDON / f"{name}.py"
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        modules[name] = module
    return modules["const"], modules["utils"]


const, utils = _load_pure_modules()


def test_tokens_are_random_well_formed_and_long_enough():
    tokens = {utils.generate_token() for __ in range(200)}
    assert len(tokens) == 200
    for token in tokens:
        assert utils.is_well_formed_token(token)
        assert len(base64.urlsafe_b64decode(token + "=")) * 8 >= 128


@pytest.mark.parametrize(
    "token", ["", "short", "A" * 42, "A" * 44, "A" * 42 + "!", None, 12, "A" * 42 + "/"]
)
def test_malformed_tokens_are_refused_before_any_lookup(token):
    assert not utils.is_well_formed_token(token)
    assert not utils.token_matches(token, utils.hash_token("A" * 43))


def _random_tokens(count):
    """`count` random strings of every shape a presented token may take, with whether each is
    of a token's shape: right length and alphabet, wrong length, hexadecimal, with one
    character outside the alphabet, not ASCII, percent-encoded."""
    alphabet = string.ascii_letters + string.digits + "-_"

    def word(length):
        return "".join(secrets.choice(alphabet) for __ in range(length))

    def foreign(characters):
        position = secrets.randbelow(const.TOKEN_LENGTH)
        token = word(const.TOKEN_LENGTH - 1)
        return token[:position] + secrets.choice(characters) + token[position:]

    shapes = (
        (True, lambda: word(const.TOKEN_LENGTH)),
        (False, lambda: word(secrets.choice([*range(1, 43), *range(44, 90)]))),
        (False, lambda: secrets.token_hex(secrets.randbelow(40) + 1)),
        (False, lambda: foreign(".~!$'()*+,;=:@/%")),
        (False, lambda: foreign("éß€\u00a0\x00")),
        (False, lambda: "%2e%2e" + secrets.token_urlsafe(20)),
    )
    return [
        (shapes[index % len(shapes)][0], shapes[index % len(shapes)][1]()) for index in range(count)
    ]


def test_ten_thousand_random_tokens_open_nothing():
    """Fuzz of the check every /pay/ request makes of its token before the database: of
    10,000 random strings of every shape, none matches a link's stored hash, and those not of
    a token's shape are refused before any lookup. Here it costs milliseconds; the Odoo suite
    sends one token of each shape over HTTP (TestAdversarial)."""
    token = utils.generate_token()
    stored = utils.hash_token(token)
    for well_shaped, bad in _random_tokens(10_000):
        assert utils.is_well_formed_token(bad) == well_shaped, bad
        assert not utils.token_matches(bad, stored), bad
    assert utils.token_matches(token, stored)


def test_only_the_hash_matches_its_token():
    token = utils.generate_token()
    stored = utils.hash_token(token)
    assert token not in stored
    assert utils.token_matches(token, stored)
    assert not utils.token_matches(utils.generate_token(), stored)
    assert not utils.token_matches(token, "")


def test_expiry_and_lifetime_parsing():
    opened = datetime(2026, 3, 1, 10, 0)
    assert utils.compute_expiry(opened, 24) == opened + timedelta(hours=24)
    assert utils.parse_lifetime_hours("48") == 48
    for bad in ("", "abc", "-3", "0", None, "1.5"):
        assert utils.parse_lifetime_hours(bad) == const.DEFAULT_LIFETIME_HOURS


def test_unopened_lifetime_parsing_and_deadline():
    sent = datetime(2026, 3, 1, 10, 0)
    assert utils.unopened_deadline(sent, 30) == datetime(2026, 3, 31, 10, 0)
    assert utils.parse_unopened_days("7") == 7
    for bad in ("", "abc", "-3", "0", None, "1.5"):
        assert utils.parse_unopened_days(bad) == const.DEFAULT_UNOPENED_DAYS == 30


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:bbbb::7", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.9", "203.0.113.9"),
        ("", ""),
        (None, ""),
        ("unix-socket", "unix-socket"),
    ],
)
def test_rate_limits_count_ipv6_clients_by_their_64_network(address, key):
    assert utils.rate_limit_client_key(address) == key


@pytest.mark.parametrize(
    ("csp", "expected"),
    [
        (None, "frame-ancestors 'none'"),
        ("", "frame-ancestors 'none'"),
        ("default-src 'none'", "default-src 'none'; frame-ancestors 'none'"),
        ("frame-ancestors 'self'", "frame-ancestors 'none'"),
        (
            "default-src 'self'; Frame-Ancestors https://a.example; img-src *;",
            "default-src 'self'; img-src *; frame-ancestors 'none'",
        ),
    ],
)
def test_framing_is_refused_and_other_directives_kept(csp, expected):
    assert utils.with_frame_ancestors_none(csp) == expected


def test_pay_tokens_are_masked_in_log_lines():
    token = utils.generate_token()
    line = f'127.0.0.1 - - "GET /pay/{token}/checkout?x=1 HTTP/1.1" 303 -'
    masked = utils.mask_pay_tokens(line)
    assert token not in masked
    assert "/pay/***/checkout?x=1" in masked


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        (1150.0, "EUR", 115000),
        (0.1 + 0.2, "USD", 30),
        (19.99, "usd", 1999),
        (1150, "JPY", 1150),
        (1150.4, "KRW", 1150),
        (12.345, "KWD", 12350),
        (12.344, "BHD", 12340),
        (5, "ISK", 500),
    ],
)
def test_stripe_minor_units(amount, currency, minor):
    assert utils.to_stripe_minor_units(amount, currency) == minor


@pytest.mark.parametrize(
    "digits, grouping, grouped",
    [
        # Odoo's res_lang.split examples, as groups of "hello world" read from the right.
        ("1234567", [3, 0], "1,234,567"),
        ("123", [3, 0], "123"),
        ("12345678", [3, 2, 0], "1,23,45,678"),  # English (IN)
        ("12345678", [3, 2, -1], "123,45,678"),  # -1: no more groups
        ("12345678", [], "12345678"),
        ("12345678", [2, 3], "123,456,78"),
    ],
)
def test_digits_are_grouped_as_a_language_groups_them(digits, grouping, grouped):
    assert utils.group_digits(digits, grouping, ",") == grouped


@pytest.mark.parametrize(
    "value, decimals, written",
    [
        (1234567.891, 2, "1\N{NO-BREAK SPACE}234\N{NO-BREAK SPACE}567,89"),
        (-1234.5, 2, "-1\N{NO-BREAK SPACE}234,50"),
        (0.5, 0, "0"),
        (999, 3, "999,000"),
    ],
)
def test_numbers_are_written_as_a_french_reader_writes_them(value, decimals, written):
    french = ([3, 0], "\N{NO-BREAK SPACE}", ",")
    assert utils.format_number(value, decimals, *french) == written


def test_money_keeps_its_symbol_and_sign_with_the_number():
    assert utils.format_money("1,234.50", "$", True) == "$\N{NO-BREAK SPACE}1,234.50"
    assert utils.format_money("-1 234,50", "€", False) == (
        "-\N{ZERO WIDTH NO-BREAK SPACE}1\N{NO-BREAK SPACE}234,50\N{NO-BREAK SPACE}€"
    )


def test_checkout_never_outlives_the_link():
    now = 1_800_000_000
    assert utils.checkout_expiry(now, now + 3 * 3600) == now + 3 * 3600
    assert utils.checkout_expiry(now, now + 48 * 3600) == now + 24 * 3600
    assert utils.checkout_expiry(now, None) == now + 24 * 3600
    assert utils.checkout_expiry(now, now + 29 * 60) is None


def test_idempotency_keys_are_fresh_per_attempt_and_opaque():
    first = utils.idempotency_key("wholesale_prod", "INV/2026/0001")
    second = utils.idempotency_key("wholesale_prod", "INV/2026/0001")
    assert first != second
    assert "INV" not in first and "wholesale" not in first


def test_secret_hints_and_key_modes():
    assert utils.secret_hint("sk_test_abcdef1234") == "sk_test_…1234"
    assert utils.secret_hint("whsec_abcd9876") == "whsec_…9876"
    assert utils.secret_hint("") == ""
    assert utils.is_stripe_secret_key("sk_live_x")
    assert not utils.is_stripe_secret_key("pk_live_x")
    assert utils.is_test_mode_key("sk_test_x")
    assert not utils.is_test_mode_key("sk_live_x")


def test_masked_email():
    assert utils.mask_email("customer@example.com") == "c***@example.com"
    assert utils.mask_email("") == ""


def test_qr_code_is_a_png_that_decodes_to_the_url():
    url = "https://erp.example.com/pay/" + utils.generate_token()
    png = utils.qr_png(url)
    assert png.startswith(b"\x89PNG")
    pyzbar = pytest.importorskip("pyzbar.pyzbar", reason="pyzbar decodes the QR code")
    image_module = pytest.importorskip("PIL.Image")
    decoded = pyzbar.decode(image_module.open(io.BytesIO(png)))
    assert [symbol.data.decode() for symbol in decoded] == [url]


def test_signature_timestamps_must_be_recent_and_not_in_the_future():
    now = 1_800_000_000
    assert utils.signature_timestamp_is_fresh(f"t={now - 100},v1=abc", now, 300)
    assert utils.signature_timestamp_is_fresh(f"v1=abc,t={now + 100}", now, 300)
    assert not utils.signature_timestamp_is_fresh(f"t={now - 301},v1=abc", now, 300)
    assert not utils.signature_timestamp_is_fresh(f"t={now + 301},v1=abc", now, 300)
    for header in ("", None, "v1=abc", "t=soon,v1=abc"):
        assert not utils.signature_timestamp_is_fresh(header, now, 300)


def test_pay_box_is_one_page_with_a_link_to_the_url_and_its_wording():
    pytest.importorskip("reportlab", reason="reportlab draws the Pay box")
    pdf_module = pytest.importorskip("PyPDF2", reason="PyPDF2 reads the PDF back")
    from conftest import load_pure_module

    pay_box = load_pure_module("pay_box")
    url = "https://erp.example.com/pay/" + utils.generate_token()
    pdf = pay_box.pay_box_pdf(
        url,
        (595.0, 842.0),
        title="Pay online",
        amount_line="Invoice INV/2026/0001: $ 1,150.00 due.",
        button_label="Pay now",
        rule_lines=["The link is active for 24 hours after you first open it."],
    )
    (page,) = pdf_module.PdfReader(io.BytesIO(pdf)).pages
    assert [float(side) for side in page.mediabox[2:]] == [595.0, 842.0]
    uris = [annot.get_object()["/A"]["/URI"] for annot in page["/Annots"]]
    assert uris == [url]
    text = page.extract_text()
    for wording in ("Pay now", "$ 1,150.00 due", "active for 24 hours after you first open it"):
        assert wording in text
    assert url not in text, "the link is a button and a QR code, not printed text"


def test_pay_box_labels_its_qr_code():
    pytest.importorskip("reportlab", reason="reportlab draws the Pay box")
    pdf_module = pytest.importorskip("PyPDF2", reason="PyPDF2 reads the PDF back")
    from conftest import load_pure_module

    pay_box = load_pure_module("pay_box")
    pdf = pay_box.pay_box_pdf(
        "https://erp.example.com/pay/x",
        (595.0, 842.0),
        title="Pay online",
        amount_line="Invoice INV/2026/0001: $ 1,150.00 due.",
        button_label="Pay now",
        rule_lines=["The link is active for 24 hours after you first open it."],
        qr_label="Scan with your phone's camera to pay by card or online",
    )
    (page,) = pdf_module.PdfReader(io.BytesIO(pdf)).pages
    text = " ".join(page.extract_text().split())
    assert "Scan with your phone's camera to pay by card or online" in text


@pytest.fixture
def unicode_pay_box():
    """The Pay box module and a PDF reader, where DejaVu Sans is installed."""
    pytest.importorskip("reportlab", reason="reportlab draws the Pay box")
    pdf_module = pytest.importorskip("PyPDF2", reason="PyPDF2 reads the PDF back")
    from conftest import load_pure_module

    pay_box = load_pure_module("pay_box")
    if not pay_box.font_path("DejaVuSans.ttf"):
        pytest.skip("DejaVu Sans is not installed (Debian: fonts-dejavu-core)")
    return pay_box, pdf_module


def test_pay_box_draws_every_currency_sign_and_non_latin_names(unicode_pay_box):
    pay_box, pdf_module = unicode_pay_box
    assert pay_box.box_fonts() == (pay_box.FONT, pay_box.FONT_BOLD)
    amounts = ["₹ 1,234.50", "₺1.234,50", "1 234,50 ₴", "1 234,50 zł", "Ωμέγα Ελλάς", "Київ"]
    pdf = pay_box.pay_box_pdf(
        "https://erp.example.com/pay/x",
        (595.0, 842.0),
        title="Оплатить онлайн",
        amount_line=f"Facture FAC/2026/0001 : {' / '.join(amounts)} dû.",
        button_label="Payer",
        rule_lines=["Le lien est actif 24 heures après la première ouverture."],
    )
    (page,) = pdf_module.PdfReader(io.BytesIO(pdf)).pages
    text = " ".join(page.extract_text().split())
    for wording in ("Оплатить онлайн", "Payer", "première ouverture", *amounts):
        assert wording in text
    assert "?" not in text
    fonts = [str(font.get_object()["/BaseFont"]) for font in page["/Resources"]["/Font"].values()]
    assert any("DejaVuSans" in font for font in fonts), fonts


def test_right_to_left_text_is_drawn_in_visual_order_with_joined_letters():
    # The dirham's sign, as Odoo writes it, after the amount: its letters in visual order.
    assert utils.visual_order("52.00 د.إ") == "ﺇ.ﺩ 52.00"
    # Arabic letters in their joined forms, the words right to left.
    assert utils.visual_order("شركة الأمل") == "ﻞﻣﻷﺍ ﺔﻛﺮﺷ"
    assert utils.visual_order("Pay $ 52.00 now") == "Pay $ 52.00 now"


def test_pay_box_draws_right_to_left_amounts_in_visual_order(unicode_pay_box):
    pay_box, pdf_module = unicode_pay_box
    pdf = pay_box.pay_box_pdf(
        "https://erp.example.com/pay/x",
        (595.0, 842.0),
        title="Pay online",
        amount_line="Invoice INV/2026/0001: 52.00 د.إ due",
        button_label="Pay now",
        rule_lines=["شركة الأمل"],
    )
    (page,) = pdf_module.PdfReader(io.BytesIO(pdf)).pages
    # A PDF reader puts right-to-left runs drawn in visual order back in reading order: the
    # words come back as written, in their joined letter forms.
    text = page.extract_text()
    assert "52.00 ﺩ.ﺇ" in " ".join(text.split())
    assert "ﺷﺮﻛﺔ ﺍﻷﻣﻞ" in text
    assert "?" not in text


def test_pay_box_draws_chinese_japanese_and_korean_letters(unicode_pay_box):
    pay_box, pdf_module = unicode_pay_box
    if not pay_box.cjk_font():
        pytest.skip("Droid Sans Fallback is not installed (Debian: fonts-droid-fallback)")
    names = ["在线支付", "オンライン決済", "온라인 결제"]
    pdf = pay_box.pay_box_pdf(
        "https://erp.example.com/pay/x",
        (595.0, 842.0),
        title=names[0],
        amount_line=f"{names[1]}: ¥ 1,234 / ₩ 1,234",
        button_label="Pay now",
        rule_lines=[names[2]],
    )
    (page,) = pdf_module.PdfReader(io.BytesIO(pdf)).pages
    text = page.extract_text()
    for wording in (*names, "¥ 1,234", "₩ 1,234", "Pay now"):
        assert wording in text
    fonts = [str(font.get_object()["/BaseFont"]) for font in page["/Resources"]["/Font"].values()]
    assert any("DroidSansFallback" in font for font in fonts), fonts
    assert any("DejaVuSans" in font for font in fonts), fonts


def test_only_stripe_checkout_pages_are_stripe_checkout_urls():
    assert utils.is_stripe_checkout_url("https://checkout.stripe.com/c/pay/cs_live_a1")
    for url in (
        "http://checkout.stripe.com/c/pay/cs_live_a1",
        "https://checkout.stripe.com.evil.example/c/pay/cs_live_a1",
        "https://evil.example/?checkout.stripe.com",
        "https://user@evil.example/",
        "",
        None,
    ):
        assert not utils.is_stripe_checkout_url(url), url


def test_cron_run_budget_is_a_share_of_the_cron_workers_limit():
    assert utils.cron_run_budget(25, 120) == 6.25
    assert utils.cron_run_budget(-1, 120) == 30  # Odoo's default: limit_time_real's
    assert utils.cron_run_budget(0, 120) is None  # no limit
    assert utils.cron_run_budget(-1, 0) is None


def test_stripe_checkout_locale_from_odoo_languages():
    expected = {
        "fr_FR": "fr",
        "fr_CA": "fr-CA",
        "fr_BE": "fr",
        "pt_BR": "pt-BR",
        "pt_PT": "pt",
        "en_US": "en",
        "en_GB": "en-GB",
        "es_ES": "es",
        "es_MX": "es-419",
        "es_419": "es-419",
        "zh_CN": "zh",
        "zh_TW": "zh-TW",
        "nb_NO": "nb",
        "hi_IN": "hi-IN",
        "sr@latin": "auto",
        "ar_001": "auto",
        "uk_UA": "auto",
        "": "auto",
        None: "auto",
        False: "auto",
    }
    for lang_code, locale in expected.items():
        assert utils.stripe_checkout_locale(lang_code) == locale, lang_code
        assert locale in const.STRIPE_CHECKOUT_LOCALES


def _check_partial(text, due=1150.0, decimals=2, min_percent=10, currency="EUR"):
    return utils.check_partial_amount(
        text, due=due, decimals=decimals, min_percent=min_percent, currency_code=currency
    )


@pytest.mark.parametrize(
    ("text", "amount"),
    [("400", "400"), ("400.5", "400.50"), (" 400,25 ", "400.25"), ("115", "115"), ("1150", "1150")],
)
def test_partial_amounts_within_the_range_are_read_exactly(text, amount):
    assert _check_partial(text) == (Decimal(amount), None)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "not_a_number"),
        (None, "not_a_number"),
        ("abc", "not_a_number"),
        ("1e3", "not_a_number"),
        ("1,000.00", "not_a_number"),
        ("NaN", "not_a_number"),
        ("+400", "not_a_number"),
        ("-5", "not_positive"),
        ("0", "not_positive"),
        ("0.00", "not_positive"),
        ("400.001", "precision"),
        ("1150.01", "above_due"),
        ("114.99", "below_minimum"),
    ],
)
def test_refused_partial_amounts_say_why(text, problem):
    assert _check_partial(text) == (None, problem)


def test_partial_minimum_is_the_percentage_rounded_up_and_at_least_stripes_minimum():
    assert utils.partial_minimum(1000.01, 2, 10, "EUR") == Decimal("100.01")
    assert utils.partial_minimum(3, 2, 10, "EUR") == Decimal("0.50")
    assert utils.partial_minimum(3, 2, 10, "GBP") == Decimal("0.30")
    assert utils.partial_minimum(0.2, 2, 10, "EUR") == Decimal("0.20"), "never above the due"
    assert utils.partial_minimum(10000, 0, 0, "JPY") == Decimal("50")
    assert utils.partial_minimum(100, 2, 0, "XYZ") == Decimal("0.01")
    assert _check_partial("100", decimals=0, due=1000, currency="JPY") == (Decimal(100), None)
    assert _check_partial("100.5", decimals=0, due=1000, currency="JPY")[1] == "precision"


def test_the_fake_stripe_imports_by_its_path_as_the_benchmark_does():
    """bench/driver.py imports the tests' fake Stripe API by its path, outside Odoo."""
    tests = ADDON / "tests"
    sys.path.insert(0, str(tests))
    try:
        stripe_fake = importlib.import_module("stripe_fake")
    finally:
        sys.path.remove(str(tests))
        sys.modules.pop("stripe_fake", None)
        sys.modules.pop("stripe_fake_money", None)
    assert stripe_fake.FakeStripeServer
