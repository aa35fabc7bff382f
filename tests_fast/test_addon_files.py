"""Consistency of the addon's manifest, XML and CSV files: no Odoo needed."""

import ast
import csv
import re
from pathlib import Path
from xml.etree import ElementTree

import pytest

ADDON = Path(__file__).resolve().parent.parent / "komet_paylink"
MANIFEST = ast.literal_eval((ADDON / "__manifest__.py").read_text())
DATA_FILES = MANIFEST.get("data", []) + MANIFEST.get("demo", [])


def test_manifest_declares_what_odoo_and_oca_require():
    assert re.fullmatch(r"18\.0\.\d+\.\d+\.\d+", MANIFEST["version"])
    assert MANIFEST["license"] == "LGPL-3"
    assert MANIFEST["author"]
    assert {"sale_management", "account_payment"} <= set(MANIFEST["depends"])
    assert {"stripe", "qrcode"} <= set(MANIFEST["external_dependencies"]["python"])


def test_every_listed_file_exists_and_every_data_file_is_listed():
    for name in DATA_FILES:
        assert (ADDON / name).is_file(), name
    on_disk = {
        str(path.relative_to(ADDON))
        for folder in ("data", "demo", "security", "views", "reports", "wizards")
        for path in (ADDON / folder).glob("*")
        if path.suffix in (".xml", ".csv")
    }
    assert on_disk == set(DATA_FILES)


@pytest.mark.parametrize("name", sorted(str(p.relative_to(ADDON)) for p in ADDON.rglob("*.xml")))
def test_xml_parses(name):
    ElementTree.parse(ADDON / name)


def test_record_ids_are_unique():
    seen = {}
    for name in DATA_FILES:
        if not name.endswith(".xml"):
            continue
        for node in ElementTree.parse(ADDON / name).iter():
            if node.tag in ("record", "template", "menuitem") and node.get("id"):
                assert node.get("id") not in seen, (
                    f"{node.get('id')} in {name} and {seen.get(node.get('id'))}"
                )
                seen[node.get("id")] = name


def test_access_rights_csv():
    path = ADDON / "security" / "ir.model.access.csv"
    with path.open() as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == [
        "id", "name", "model_id:id", "group_id:id",
        "perm_read", "perm_write", "perm_create", "perm_unlink",
    ]  # fmt: skip
    declared_models = set(re.findall(r'_name = "([a-z_.]+)"', _python_sources()))
    for row in rows:
        model = row["model_id:id"].removeprefix("model_").replace("_", ".")
        assert model in declared_models, row["id"]
        assert row["group_id:id"].startswith("group_role_"), "only the five roles get rights"
        assert row["perm_write"] == "0" and row["perm_unlink"] == "0", row["id"]


def test_the_five_roles_keep_their_names():
    groups = ElementTree.parse(ADDON / "security" / "res_groups.xml")
    ids = {node.get("id") for node in groups.iter("record") if node.get("model") == "res.groups"}
    assert {
        "group_role_admin",
        "group_role_cashier",
        "group_role_sales",
        "group_role_sales_allocations",
        "group_role_sales_manager",
    } <= ids


def _python_sources():
    return "\n".join(path.read_text() for path in ADDON.rglob("*.py"))
