"""Shared helpers of the tests that run without Odoo: they read the addon's files only."""

import importlib.util
import sys
import types
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
ADDON_NAME = "komet_paylink"
ADDON_PATH = REPO_ROOT / ADDON_NAME
_PURE_PACKAGE = "_komet_paylink_pure"


def load_pure_module(name):
    """Import komet_paylink/<name>.py by its path, without the addon's __init__.py (which needs
    Odoo), as a module of a package of its own so that its relative imports (`from . import
    const`) work. Return None when the file does not exist."""
    path = ADDON_PATH / f"{name}.py"
    if not path.is_file():
        return None
    qualified = f"{_PURE_PACKAGE}.{name}"
    if qualified in sys.modules:
        return sys.modules[qualified]
    if _PURE_PACKAGE not in sys.modules:
        package = types.ModuleType(_PURE_PACKAGE)
        package.__path__ = [str(ADDON_PATH)]
        sys.modules[_PURE_PACKAGE] = package
    spec = importlib.util.spec_from_file_location(qualified, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[qualified] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[qualified]
        raise
    return module
