"""The addon's manifest: what Odoo 18, the project and OCA's conventions require of it."""

import ast
import re

from conftest import ADDON_NAME


def test_version_is_an_odoo_18_version(manifest):
    assert re.fullmatch(r"18\.0\.\d+\.\d+\.\d+", manifest["version"]), manifest["version"]


def test_license_and_author(manifest):
    assert manifest["license"] == "LGPL-3"
    assert isinstance(manifest.get("author"), str)
    assert manifest["author"].strip()


def test_is_installable(manifest):
    assert manifest.get("installable", True) is True


def test_depends_on_sales_and_online_payment(manifest):
    assert {"sale_management", "account_payment"} <= set(manifest["depends"])


def test_declares_its_python_dependencies(manifest):
    python = manifest.get("external_dependencies", {}).get("python", [])
    assert {"stripe", "qrcode"} <= set(python)


def test_every_data_and_demo_file_exists(manifest, addon_path):
    for key in ("data", "demo"):
        for name in manifest.get(key, []):
            assert (addon_path / name).is_file(), f"{key}: {name} does not exist"


def test_no_file_is_listed_twice(manifest):
    listed = manifest.get("data", []) + manifest.get("demo", [])
    assert len(listed) == len(set(listed))


def test_every_asset_pattern_matches_a_file(manifest, addon_path):
    addons_root = addon_path.parent
    for bundle, entries in manifest.get("assets", {}).items():
        for entry in entries:
            # an entry is a path or glob, or a tuple (directive, path[, path])
            pattern = entry if isinstance(entry, str) else entry[-1]
            if not pattern.startswith(f"{ADDON_NAME}/"):
                continue
            matches = [path for path in addons_root.glob(pattern) if path.is_file()]
            assert matches, f"{bundle}: {pattern} matches no file"


def test_hooks_are_defined_in_the_addon_init(manifest, addon_path):
    init = ast.parse((addon_path / "__init__.py").read_text())
    defined = {node.name for node in init.body if isinstance(node, ast.FunctionDef)}
    imported = {
        alias.asname or alias.name
        for node in init.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    for key in ("pre_init_hook", "post_init_hook", "uninstall_hook", "post_load"):
        if key in manifest:
            assert manifest[key] in defined | imported, f"{key} {manifest[key]} is not defined"
