"""komet_paylink/utils.py and const.py are pure Python: they import without Odoo.

They are loaded by their file path (conftest.load_pure_module). Unit tests of the helpers
themselves belong here or in test_helpers.py.
"""

import ast
import sys

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
