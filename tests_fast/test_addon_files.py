"""Consistency of the addon's XML and CSV data files, checked without Odoo: they parse, the
manifest lists exactly them, the access rights name real models, and every external ID of the
addon they refer to is defined before it is used (what Odoo would otherwise only report as
"External ID not found" while installing)."""

import ast
import csv
import re
from collections import Counter

import pytest
from conftest import ADDON_NAME, ADDON_PATH

try:
    from lxml import etree
except ImportError:  # lxml comes with Odoo's requirements, which may not be installed
    from xml.etree import ElementTree as etree

ACCESS_HEADER = [
    "id",
    "name",
    "model_id:id",
    "group_id:id",
    "perm_read",
    "perm_write",
    "perm_create",
    "perm_unlink",
]
# Folders of the addon that hold no data files Odoo loads through the manifest.
NOT_DATA = {"static", "tests", "i18n", "readme"}
_EVAL_REF = re.compile(r"""\bref\(\s*['"]([\w.]+)['"]\s*\)""")
_ACTION_REF = re.compile(r"%\(([\w.]+)\)d")


def _xml_files():
    return sorted(str(path.relative_to(ADDON_PATH)) for path in ADDON_PATH.rglob("*.xml"))


def _data_files(manifest):
    return manifest.get("data", []) + manifest.get("demo", [])


def _elements(tree):
    """The elements of a parsed file, without lxml's comments and processing instructions."""
    return [node for node in tree.iter() if isinstance(node.tag, str)]


def _declared_models():
    """The models the addon's Python code creates (a `_name` in a class body)."""
    models = set()
    for path in ADDON_PATH.rglob("*.py"):
        if NOT_DATA & set(path.relative_to(ADDON_PATH).parts[:-1]):
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if not isinstance(node, ast.ClassDef):
                continue
            for statement in node.body:
                if (
                    isinstance(statement, ast.Assign)
                    and any(getattr(t, "id", None) == "_name" for t in statement.targets)
                    and isinstance(statement.value, ast.Constant)
                ):
                    models.add(statement.value.value)
    return models


def _own(xmlid):
    """The name of an external ID of the addon (unqualified or komet_paylink.x), else None."""
    module, _, name = xmlid.rpartition(".")
    return name if module in ("", ADDON_NAME) else None


def _references(element):
    """The external IDs an element of a data file refers to."""
    refs = []
    if element.tag == "field" and element.get("ref"):
        refs.append(element.get("ref"))
    if element.tag == "menuitem":
        refs += [element.get(key) for key in ("parent", "action") if element.get(key)]
    if element.tag == "template" and element.get("inherit_id"):
        refs.append(element.get("inherit_id"))
    if element.get("groups"):
        refs += [group.strip().lstrip("!") for group in element.get("groups").split(",")]
    if element.get("eval"):
        refs += _EVAL_REF.findall(element.get("eval"))
    if element.get("t-call", "").startswith(f"{ADDON_NAME}."):
        refs.append(element.get("t-call"))
    for value in element.attrib.values():
        refs += _ACTION_REF.findall(value)
    return [ref for ref in refs if ref]


def _defined_id(element):
    if element.tag in ("record", "template", "menuitem", "report") and element.get("id"):
        return element.get("id")
    return None


@pytest.mark.parametrize("name", _xml_files())
def test_xml_parses(name):
    etree.parse(str(ADDON_PATH / name))


def test_the_manifest_lists_every_data_file(manifest):
    on_disk = {
        str(path.relative_to(ADDON_PATH))
        for path in ADDON_PATH.rglob("*")
        if path.suffix in (".xml", ".csv")
        and not NOT_DATA & set(path.relative_to(ADDON_PATH).parts[:-1])
        and not any(part.startswith(".") for part in path.relative_to(ADDON_PATH).parts)
    }
    unlisted = sorted(on_disk - set(_data_files(manifest)))
    assert not unlisted, f"data files the manifest does not list: {', '.join(unlisted)}"


def test_record_ids_are_unique(manifest):
    ids = Counter()
    for name in _data_files(manifest):
        if name.endswith(".xml"):
            elements = _elements(etree.parse(str(ADDON_PATH / name)))
            ids.update(filter(None, map(_defined_id, elements)))
    assert not [xmlid for xmlid, count in ids.items() if count > 1]


def test_own_external_ids_are_defined_before_use(manifest):
    """In loading order: data files in the manifest's order, then demo files."""
    defined = {f"model_{model.replace('.', '_')}" for model in _declared_models()}
    undefined = []
    for name in _data_files(manifest):
        path = ADDON_PATH / name
        if name.endswith(".csv"):
            with path.open(newline="") as handle:
                for row in csv.DictReader(handle):
                    for column, value in row.items():
                        if column.endswith(":id") and column != "id" and value:
                            if _own(value) and _own(value) not in defined:
                                undefined.append(f"{name}: {value}")
                    if row.get("id"):
                        defined.add(row["id"])
            continue
        if not name.endswith(".xml"):
            continue
        for element in _elements(etree.parse(str(path))):
            own_id = _defined_id(element)
            if own_id:  # a record may refer to itself (e.g. a view's own groups): define first
                defined.add(_own(own_id))
            for ref in _references(element):
                if _own(ref) and not _own(ref).startswith("field_") and _own(ref) not in defined:
                    undefined.append(f"{name}: {ref}")
    assert not undefined, f"external IDs used before any definition: {', '.join(undefined)}"


def test_access_rights_csv():
    path = ADDON_PATH / "security" / "ir.model.access.csv"
    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        rows = [dict(zip(header, row, strict=True)) for row in reader if row]
    assert header == ACCESS_HEADER
    assert rows, "no access rights"
    models = {f"model_{model.replace('.', '_')}" for model in _declared_models()}
    ids = Counter(row["id"] for row in rows)
    assert not [xmlid for xmlid, count in ids.items() if count > 1], "duplicate ids"
    for row in rows:
        model = row["model_id:id"]
        # another module's model (account.model_account_move) can only be checked by Odoo
        assert model.startswith("model_") or "." in model, row["id"]
        if _own(model):
            assert _own(model) in models, f"{row['id']}: no model of the addon is {model}"
        for permission in ("perm_read", "perm_write", "perm_create", "perm_unlink"):
            assert row[permission] in ("0", "1"), f"{row['id']}: {permission}"


# The addon's design (roles and their rights), as its engineer set it.


def test_access_rights_go_to_the_roles_and_never_allow_write_or_unlink():
    with (ADDON_PATH / "security" / "ir.model.access.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        assert row["group_id:id"].startswith("group_role_"), "only the five roles get rights"
        assert row["perm_write"] == "0" and row["perm_unlink"] == "0", row["id"]


def test_the_five_roles_keep_their_names():
    groups = etree.parse(str(ADDON_PATH / "security" / "res_groups.xml"))
    ids = {
        node.get("id")
        for node in _elements(groups)
        if node.tag == "record" and node.get("model") == "res.groups"
    }
    assert {
        "group_role_admin",
        "group_role_cashier",
        "group_role_sales",
        "group_role_sales_allocations",
        "group_role_sales_manager",
    } <= ids
