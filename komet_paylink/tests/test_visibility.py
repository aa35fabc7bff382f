from odoo.exceptions import AccessError
from odoo.tests import tagged

from .common import PaylinkCommon


@tagged("post_install", "-at_install")
class TestVisibility(PaylinkCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.own_link = cls.env["komet.paylink"].sudo().create({"move_id": cls.invoice.id})
        cls.other_link = (
            cls.env["komet.paylink"].sudo().create({"move_id": cls.other_sales_invoice.id})
        )

    def _visible_links(self, role):
        return self.Paylink.with_user(self.role_users[role]).search(
            [("id", "in", (self.own_link | self.other_link).ids)]
        )

    def test_sales_roles_see_their_own_documents_links(self):
        """Test that Sales and Sales Allocations see only the links of their own documents."""
        self.assertEqual(self._visible_links("sales"), self.own_link)
        self.assertEqual(self._visible_links("sales_allocations"), self.other_link)
        with self.assertRaises(AccessError):
            self.other_link.with_user(self.role_users["sales"]).read(["state"])

    def test_sales_cannot_send_for_someone_elses_document(self):
        """Test that a Sales member cannot send a link for another salesperson's invoice."""
        with self.assertRaises(AccessError):
            self.Paylink.with_user(self.role_users["sales"]).create(
                {"move_id": self.other_sales_invoice.id}
            )
        self.assertEqual(self.other_link.state, "sent")

    def test_cashier_manager_and_admin_see_all_links(self):
        """Test that Cashier, Sales Manager and Admin see every link of their company."""
        for role in ("cashier", "sales_manager", "admin"):
            with self.subTest(role=role):
                self.assertEqual(self._visible_links(role), self.own_link | self.other_link)

    def test_links_of_another_company_are_invisible(self):
        """Test that a user sees no link of a company they do not belong to."""
        other_company_data = self.setup_other_company(name="Other Wholesaler")
        other_company = other_company_data["company"]
        foreign_invoice = self._paylink_posted_invoice(
            self.role_users["sales"], 99.0, company=other_company
        )
        foreign_link = self.env["komet.paylink"].sudo().create({"move_id": foreign_invoice.id})
        self.assertEqual(foreign_link.company_id, other_company)
        for role in ("admin", "cashier", "sales_manager", "sales"):
            with self.subTest(role=role):
                user = self.role_users[role]
                self.assertFalse(
                    self.Paylink.with_user(user).search([("id", "=", foreign_link.id)])
                )
                with self.assertRaises(AccessError):
                    foreign_link.with_user(user).action_revoke()
        self.assertEqual(foreign_link.state, "sent")

    def test_user_in_both_companies_sees_each_companys_links(self):
        """Test that a cashier of two companies sees the links of the companies they work in."""
        other_company = self.setup_other_company(name="Sister Wholesaler")["company"]
        foreign_invoice = self._paylink_posted_invoice(
            self.role_users["sales"], 99.0, company=other_company
        )
        foreign_link = self.env["komet.paylink"].sudo().create({"move_id": foreign_invoice.id})
        cashier = self.role_users["cashier"]
        cashier.company_ids |= other_company
        both = self.own_link | self.other_link | foreign_link
        links_in_main = (
            self.Paylink.with_user(cashier)
            .with_context(allowed_company_ids=[self.company.id])
            .search([("id", "in", both.ids)])
        )
        self.assertEqual(links_in_main, self.own_link | self.other_link)
        links_in_both = (
            self.Paylink.with_user(cashier)
            .with_context(allowed_company_ids=[self.company.id, other_company.id])
            .search([("id", "in", both.ids)])
        )
        self.assertEqual(links_in_both, both)
