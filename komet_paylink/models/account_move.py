import io

from odoo import _, api, fields, models
from odoo.tools.pdf import NameObject, OdooPdfFileReader, OdooPdfFileWriter

from .. import pay_box
from ..const import ACTIVE_STATES, ROLE_GROUPS


class AccountMove(models.Model):
    _inherit = "account.move"

    komet_paylink_ids = fields.One2many(
        string="Payment Links",
        comodel_name="komet.paylink",
        inverse_name="move_id",
        groups=ROLE_GROUPS,
    )
    komet_paylink_statement_ids = fields.Many2many(
        string="Statement Payment Links",
        comodel_name="komet.paylink",
        relation="komet_paylink_statement_move_rel",
        column1="move_id",
        column2="link_id",
        groups=ROLE_GROUPS,
    )
    komet_paylink_count = fields.Integer(
        string="Payment Link Count",
        compute="_compute_komet_paylink_count",
        groups=ROLE_GROUPS,
    )

    # === COMPUTE METHODS === #

    @api.depends("komet_paylink_ids", "komet_paylink_statement_ids")
    def _compute_komet_paylink_count(self):
        for move in self:
            move.komet_paylink_count = len(
                move.komet_paylink_ids | move.komet_paylink_statement_ids
            )

    # === ACTION METHODS === #

    def action_view_komet_paylinks(self):
        self.ensure_one()
        return self.env["komet.paylink"]._paylink_list_action(
            ["|", ("move_id", "=", self.id), ("move_ids", "in", self.id)]
        )

    def action_komet_paylink_send_statement(self):
        """Email the customer of the selected invoices one payment link for all of them, from
        which they pick which to pay (the invoice list's action)."""
        link = self.env["komet.paylink"]._paylink_send_statement(self)
        return link._paylink_sent_notification()

    def action_komet_paylink_email_docs(self):
        """The Email Docs button of the invoice list: Odoo's Send dialog for this invoice."""
        self.ensure_one()
        return self.action_send_and_print()

    # === BUSINESS METHODS === #

    def _paylink_amount_due(self):
        """What the customer pays now, as Odoo's own invoice payment computes it: the
        residual, or the discounted amount while an early-payment discount holds."""
        self.ensure_one()
        return self._get_invoice_next_payment_values().get("amount_due", self.amount_residual)

    def _paylink_bill_to(self):
        self.ensure_one()
        return self.partner_id

    def _paylink_page_details(self):
        """What the payment page shows of the invoice: the bill-to, its dates, its product
        lines (dicts: name, quantity, subtotal) and the amount due, with its lines read in one
        query."""
        self.ensure_one()
        lines = self.env["account.move.line"].search_fetch(
            [("move_id", "=", self.id), ("display_type", "in", ("product", "payment_term"))],
            ["display_type", "name", "quantity", "price_subtotal", "discount_date"],
            order="sequence, id",
        )
        term_lines = lines.filtered(lambda line: line.display_type == "payment_term")
        # Odoo's next payment differs from the residual only for an early-payment discount.
        has_discount = any(term_lines.mapped("discount_date"))
        return {
            "bill_to": self._paylink_bill_to(),
            "document_date": self.invoice_date,
            "document_due_date": self.invoice_date_due,
            "due_date_label": _("Due date"),
            "amount_due": self._paylink_amount_due() if has_discount else self.amount_residual,
            "lines": [
                {"name": line.name, "quantity": line.quantity, "subtotal": line.price_subtotal}
                for line in lines - term_lines
            ],
        }

    def _paylink_unpayable_reason(self):
        """Return why this document cannot get a payment link, or False when it can."""
        self.ensure_one()
        if self.move_type != "out_invoice":
            return _("%(name)s is not a customer invoice.", name=self.display_name)
        if self.state == "draft":
            return _("Invoice %(name)s is a draft: post it first.", name=self.display_name)
        if self.state == "cancel":
            return _("Invoice %(name)s is cancelled.", name=self.display_name)
        if self.currency_id.is_zero(self.amount_total):
            return _("Invoice %(name)s has nothing to pay.", name=self.display_name)
        if self.payment_state in ("paid", "in_payment", "reversed"):
            return _("Invoice %(name)s is already paid.", name=self.display_name)
        if self.currency_id.compare_amounts(self.amount_residual, 0) <= 0:
            return _("Invoice %(name)s has nothing left to pay.", name=self.display_name)
        return False

    def _paylink_send_reminder(self, days):
        """Email this overdue invoice again through Odoo's invoice sending, as an automatic
        send: with a fresh payment link (revoking the older one), which keeps the reminder
        step `days`."""
        self.ensure_one()
        self.env["account.move.send"].with_company(self.company_id)._generate_and_send_invoices(
            self, sending_methods={"email"}, komet_paylink_reminder_days=days
        )

    def _paylink_render_pdf(self, url):
        """The invoice PDF with the Pay box of `url`: the PDF Odoo keeps for the invoice when
        there is one, else a plain render, never a second render with the link.

        :return: (filename, PDF bytes)
        """
        self.ensure_one()
        pdf_content = (
            self.invoice_pdf_report_id.raw
            or (
                self.env["ir.actions.report"]
                .with_company(self.company_id)
                ._render_qweb_pdf("account.account_invoices", self.ids)[0]
            )
        )
        return self._get_invoice_report_filename(), self._paylink_stamp_pdf(url, pdf_content)

    def _paylink_stamp_pdf(self, url, pdf_content):
        """Return a copy of `pdf_content`, the PDF Odoo rendered for this invoice, followed by a
        page with the Pay box of `url`: the Pay now button (a link annotation), the amount due,
        the link's rule and its QR code.

        The invoice's own pages are left exactly as rendered, and the document's embedded
        files (e.g. Factur-X) and metadata are kept: the copy is the legal invoice plus a
        payment slip. Content that is not a PDF (Odoo's tests render HTML) is returned as is.
        """
        self.ensure_one()
        if not pdf_content.startswith(b"%PDF"):
            return pdf_content
        reader = OdooPdfFileReader(io.BytesIO(pdf_content), strict=False)
        last_page = reader.pages[-1]
        page_size = (float(last_page.mediabox.width), float(last_page.mediabox.height))
        Paylink = self.env["komet.paylink"]
        box = pay_box.pay_box_pdf(
            url,
            page_size,
            title=_("Pay online"),
            amount_line=_(
                "Invoice %(name)s: %(amount)s due.",
                name=self.name,
                amount=self.currency_id.format(self._paylink_amount_due()),
            ),
            button_label=_("Pay now"),
            rule_lines=[
                _(
                    "The link is active for %(hours)s hours after you first open it.",
                    hours=Paylink._paylink_lifetime_hours(),
                ),
                _("You can also scan the QR code with your phone."),
            ],
        )
        writer = OdooPdfFileWriter()
        writer.cloneReaderDocumentRoot(reader)
        writer.append_pages_from_reader(reader)
        writer.add_page(OdooPdfFileReader(io.BytesIO(box), strict=False).pages[0])
        # The cloned catalogue still lists the reader's pages: point it at the writer's.
        writer._root_object[NameObject("/Pages")] = writer._pages
        buffer = io.BytesIO()
        writer.write(buffer)
        return buffer.getvalue()

    # === OVERRIDES === #

    def button_draft(self):
        """Override of `account` to close the payment links of invoices reset to draft (a
        statement link goes on for its other invoices)."""
        res = super().button_draft()
        self._paylink_sync_links()
        return res

    def button_cancel(self):
        """Override of `account` to close the payment links of cancelled invoices."""
        res = super().button_cancel()
        self._paylink_sync_links()
        return res

    def _paylink_sync_links(self):
        """Bring the live links of these invoices, and of their sale orders, in line with what
        is due now."""
        invoices = self.filtered(lambda move: move.move_type == "out_invoice")
        if not invoices:
            return
        orders = invoices.sudo().invoice_line_ids.sale_line_ids.order_id
        self.env["komet.paylink"].sudo().search(
            [
                ("state", "in", ACTIVE_STATES),
                "|",
                "|",
                ("move_id", "in", invoices.ids),
                ("move_ids", "in", invoices.ids),
                ("sale_order_id", "in", orders.ids),
            ]
        )._paylink_sync_with_documents()
