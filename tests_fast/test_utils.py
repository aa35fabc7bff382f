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
