from odoo.tests import HttpCase, tagged
from odoo.tests.common import JsonRpcException
from odoo.tools import mute_logger

from .common import ROLES, PaylinkCommon


@tagged("post_install", "-at_install")
class TestRolesRpc(PaylinkCommon, HttpCase):
    def _call_kw(self, model, method, args):
        return self.make_jsonrpc_request(
            f"/web/dataset/call_kw/{model}/{method}",
            {"model": model, "method": method, "args": args, "kwargs": {}},
        )

    def test_roles_create_and_revoke_through_rpc(self):
        """Test that each role can create and revoke a link through JSON-RPC."""
        for role in ROLES:
            with self.subTest(role=role):
                self.authenticate(f"test_{role}", f"test_{role}")
                invoice = self.other_sales_invoice if role == "sales_allocations" else self.invoice
                link_id = self._call_kw("komet.paylink", "create", [{"move_id": invoice.id}])
                self._call_kw("komet.paylink", "action_revoke", [[link_id]])
                self.assertEqual(self.Paylink.browse(link_id).state, "revoked")

    @mute_logger("odoo.http")
    def test_plain_user_is_refused_through_rpc(self):
        """Test that a plain internal user gets an access error through JSON-RPC."""
        link = self.Paylink.with_user(self.role_users["cashier"]).create(
            {"move_id": self.invoice.id}
        )
        self.authenticate("test_plain", "test_plain")
        for method, args in (
            ("create", [{"move_id": self.invoice.id}]),
            ("action_revoke", [[link.id]]),
            ("read", [[link.id], ["state"]]),
        ):
            with self.subTest(method=method), self.assertRaises(JsonRpcException) as caught:
                self._call_kw("komet.paylink", method, args)
            self.assertEqual(str(caught.exception), "odoo.exceptions.AccessError")
        self.assertEqual(link.state, "sent")
        self.assertEqual(self.Paylink.search_count([("move_id", "=", self.invoice.id)]), 1)

    @mute_logger("odoo.http")
    def test_portal_and_public_are_refused_through_rpc(self):
        """Test that portal and anonymous visitors cannot create links through JSON-RPC."""
        self.authenticate("test_portal", "test_portal")
        with self.assertRaises(JsonRpcException) as caught:
            self._call_kw("komet.paylink", "create", [{"move_id": self.invoice.id}])
        self.assertEqual(str(caught.exception), "odoo.exceptions.AccessError")
        self.authenticate(None, None)
        with self.assertRaises(JsonRpcException):
            self._call_kw("komet.paylink", "create", [{"move_id": self.invoice.id}])
        self.assertFalse(self.Paylink.search([("move_id", "=", self.invoice.id)]))
