"""komet_paylink/utils.py and const.py are pure Python: they import without Odoo.

They are loaded by their file path (conftest.load_pure_module). Unit tests of the helpers
themselves belong here or in test_helpers.py.
"""

import ast
import sys
from datetime import date, timedelta

import pytest
from conftest import ADDON_PATH, load_pure_module

PURE_MODULES = ("const", "utils", "pay_box")

_missing = [name for name in PURE_MODULES if not (ADDON_PATH / f"{name}.py").is_file()]
if _missing:
    pytest.skip(
        f"komet_paylink/{'.py, komet_paylink/'.join(_missing)}.py not written yet",
        allow_module_level=True,
    )


def _imported_modules(path):
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level:
            yield node.module


@pytest.mark.parametrize("name", PURE_MODULES)
def test_does_not_import_odoo(name):
    imported = set(_imported_modules(ADDON_PATH / f"{name}.py"))
    assert not {module for module in imported if module.split(".")[0] == "odoo"}


@pytest.mark.parametrize("name", PURE_MODULES)
def test_imports_by_its_path_without_odoo(name):
    module = load_pure_module(name)
    assert module.__file__ == str(ADDON_PATH / f"{name}.py")
    assert "odoo" not in sys.modules


def test_utils_uses_this_const():
    const, utils = load_pure_module("const"), load_pure_module("utils")
    if hasattr(utils, "const"):
        assert utils.const is const


@pytest.mark.parametrize(
    ("value", "steps"),
    [
        ("3,10,30", (3, 10, 30)),
        (" 30, 3 ,10,3 ", (3, 10, 30)),
        ("", ()),
        (None, ()),
        (False, ()),
        (" , ,", ()),
        ("0,-5,7", (7,)),
        ("+4", (4,)),
    ],
)
def test_reminder_days_are_read_tolerantly(value, steps):
    assert load_pure_module("utils").parse_reminder_days(value) == steps


@pytest.mark.parametrize("value", ["3,x", "3;10", "1.5", "ten", "3 10"])
def test_reminder_days_refuse_what_is_not_a_whole_number(value):
    with pytest.raises(ValueError):
        load_pure_module("utils").parse_reminder_days(value)


def test_reminder_days_are_stored_sorted_without_duplicates():
    utils = load_pure_module("utils")
    assert utils.format_reminder_days(utils.parse_reminder_days("30,3, 10,3")) == "3,10,30"
    assert utils.format_reminder_days(()) == ""


@pytest.mark.parametrize(
    ("days_overdue", "step"), [(-2, 0), (0, 0), (2, 0), (3, 3), (9, 3), (10, 10), (400, 30)]
)
def test_reminder_step_reached_is_the_highest_step_passed(days_overdue, step):
    assert load_pure_module("utils").reminder_step_reached((3, 10, 30), days_overdue) == step


@pytest.mark.parametrize(
    ("today_offset", "since_offset", "last_step", "step"),
    [
        (3, None, 0, 3),  # the first step, reminders on for ever
        (12, None, 3, 10),  # the next step
        (12, None, 10, 0),  # already sent
        (40, None, 3, 30),  # a missed run: only the highest step reached
        (40, 40, 0, 0),  # switched on today: every step passed before is skipped
        (40, 30, 0, 30),  # switched on the day step 30 was reached: it goes
        (40, 31, 0, 0),  # switched on the day after: it never goes
    ],
)
def test_reminder_step_to_send_skips_what_was_sent_or_passed_before_switching_on(
    today_offset, since_offset, last_step, step
):
    utils = load_pure_module("utils")
    due = date(2026, 1, 5)
    since = due + timedelta(days=since_offset) if since_offset is not None else None
    today = due + timedelta(days=today_offset)
    assert utils.reminder_step_to_send((3, 10, 30), due, today, since, last_step) == step


def test_session_mismatch_names_what_differs():
    utils = load_pure_module("utils")
    session = {
        "id": "cs_1",
        "client_reference_id": "INV/1",
        "livemode": False,
        "currency": "eur",
        "amount_total": 1150,
    }
    expected = {
        "session_id": "cs_1",
        "reference": "INV/1",
        "livemode": False,
        "currency": "EUR",
        "minor_amount": 1150,
    }
    assert utils.session_mismatch(session, **expected) is False
    assert utils.session_mismatch(session, **{**expected, "minor_amount": 1}) == "amount"
    assert (
        utils.session_mismatch(session, **{**expected, "livemode": True, "reference": "X"})
        == "reference, mode"
    )


def test_a_statement_reference_stays_short_whatever_the_count():
    utils = load_pure_module("utils")
    names = [f"INV/2026/{number:05d}" for number in range(1, 301)]
    assert utils.statement_reference_prefix(names[:1]) == "INV/2026/00001"
    assert utils.statement_reference_prefix(names) == "INV/2026/00001 +299"
    assert len(utils.statement_reference_prefix(names)) <= 200


def test_statement_row_tags_are_escaped_and_take_integer_ids_only():
    utils = load_pure_module("utils")
    checkbox = utils.statement_checkbox_html(42)
    assert checkbox == (
        '<input class="form-check-input" type="checkbox" name="invoice_ids" value="42" '
        'checked="checked"/>'
    )
    assert checkbox.__html__() == str(checkbox)  # Markup: QWeb writes it as it is
    link = utils.statement_pdf_link_html('/pay/a"b/pdf', 7, "Download the PDF of <INV/1>")
    assert 'href="/pay/a&quot;b/pdf?invoice=7"' in link
    assert ">Download the PDF of &lt;INV/1&gt;</a>" in link
    assert 'target="_blank" rel="noopener noreferrer"' in link
    with pytest.raises(ValueError):
        utils.statement_checkbox_html('1" onclick="x')


@pytest.mark.parametrize(
    ("amount", "residuals", "parts"),
    [
        (250, [100, 200, 300], ["100.00", "150.00", "0.00"]),
        (60, [100, 300], ["60.00", "0.00"]),
        (100, [100, 200], ["100.00", "0.00"]),
        (600, [100, 200, 300], ["100.00", "200.00", "300.00"]),
        (0.3, [0.1, 0.2, 0.3], ["0.10", "0.20", "0.00"]),
    ],
)
def test_a_part_payment_pays_the_oldest_invoices_first(amount, residuals, parts):
    split = load_pure_module("utils").split_oldest_first(amount, residuals, 2)
    assert [str(part) for part in split] == parts
