"""The addon's roles and their rights, as its engineer set them (read from its data files)."""

import csv
from xml.etree import ElementTree

from conftest import ADDON_PATH


def test_access_rights_go_to_the_roles_and_never_allow_write_or_unlink():
    with (ADDON_PATH / "security" / "ir.model.access.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows, "no access rights"
    for row in rows:
        assert row["group_id:id"].startswith("group_role_"), "only the five roles get rights"
        assert row["perm_write"] == "0" and row["perm_unlink"] == "0", row["id"]


def test_the_five_roles_keep_their_names():
    groups = ElementTree.parse(ADDON_PATH / "security" / "res_groups.xml")
    ids = {node.get("id") for node in groups.iter("record") if node.get("model") == "res.groups"}
    assert {
        "group_role_admin",
        "group_role_cashier",
        "group_role_sales",
        "group_role_sales_allocations",
        "group_role_sales_manager",
    } <= ids
