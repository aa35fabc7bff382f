from odoo.exceptions import AccessError
from odoo.tests import tagged

from .common import ROLES, PaylinkCommon


@tagged("post_install", "-at_install")
class TestRoles(PaylinkCommon):
    def _create_link_as(self, user, invoice=None):
        return self.Paylink.with_user(user).create({"move_id": (invoice or self.invoice).id})

    def _own_invoice(self, role):
        return self.other_sales_invoice if role == "sales_allocations" else self.invoice

    def test_each_role_can_create_and_revoke_a_link(self):
        """Test that a member of each of the five roles can send and revoke a link."""
        for role in ROLES:
            with self.subTest(role=role):
                user = self.role_users[role]
                invoice = self._own_invoice(role)
                link = self._create_link_as(user, invoice)
                self.assertEqual(link.state, "sent")
                self.assertEqual(link.amount, invoice.amount_residual)
                link.action_revoke()
                self.assertEqual(link.state, "revoked")
                self.assertEqual(link.revoked_by_id, user)

    def test_users_outside_the_roles_cannot_create_links(self):
        """Test that a plain internal user, a portal user and the public user cannot send."""
        for user in (self.plain_user, self.portal_user, self.public_user):
            with self.subTest(user=user.login), self.assertRaises(AccessError):
                self._create_link_as(user)
        self.assertFalse(self.Paylink.search([("move_id", "=", self.invoice.id)]))

    def test_users_outside_the_roles_cannot_revoke_or_read_links(self):
        """Test that users outside the roles can neither revoke nor read a link."""
        link = self._create_link_as(self.role_users["cashier"])
        for user in (self.plain_user, self.portal_user, self.public_user):
            with self.subTest(user=user.login):
                with self.assertRaises(AccessError):
                    link.with_user(user).action_revoke()
                with self.assertRaises(AccessError):
                    link.with_user(user).read(["state"])
        self.assertEqual(link.state, "sent")

    def test_roles_cannot_write_links_directly(self):
        """Test that a role member can change a link only through its actions, not by writing."""
        link = self._create_link_as(self.role_users["admin"])
        with self.assertRaises(AccessError):
            link.with_user(self.role_users["admin"]).write({"state": "paid"})
        self.assertEqual(link.state, "sent")

    def test_create_ignores_forged_values(self):
        """Test that the amount and state of a new link come from the invoice, not the caller."""
        link = self.Paylink.with_user(self.role_users["cashier"]).create(
            {"move_id": self.invoice.id, "amount": 1.0, "state": "paid"}
        )
        self.assertEqual(link.amount, 1150.0)
        self.assertEqual(link.state, "sent")

    def test_settings_group_members_are_admin(self):
        """Test that members of Odoo's Settings group hold the Admin role."""
        settings_user = self._paylink_new_user("test_settings_admin", "base.group_system")
        self.assertTrue(settings_user.has_group("komet_paylink.group_role_admin"))
        link = self._create_link_as(settings_user)
        self.assertEqual(link.state, "sent")

    def test_narrowed_roles_cannot_send(self):
        """Test that a role removed from the allowed senders can no longer send or revoke."""
        link = self._create_link_as(self.role_users["sales"])
        self.company.komet_paylink_sender_group_ids -= self.env.ref(
            "komet_paylink.group_role_sales"
        )
        with self.assertRaises(AccessError):
            self._create_link_as(self.role_users["sales"])
        with self.assertRaises(AccessError):
            link.with_user(self.role_users["sales"]).action_revoke()
        self.assertEqual(link.state, "sent")
        # The roles still allowed keep sending.
        self.assertEqual(self._create_link_as(self.role_users["cashier"]).state, "sent")

    def test_all_five_roles_may_send_by_default(self):
        """Test that a new company lets all five roles send links."""
        company = self.env["res.company"].create({"name": "New Wholesaler"})
        self.assertEqual(
            set(company.komet_paylink_sender_group_ids.mapped(lambda g: g.get_external_id()[g.id])),
            {f"komet_paylink.group_role_{role}" for role in ROLES},
        )
