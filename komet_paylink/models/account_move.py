import io
import logging
from datetime import timedelta

import psycopg2

from odoo import Command, _, api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import SQL, format_amount
from odoo.tools.pdf import NameObject, OdooPdfFileReader, OdooPdfFileWriter

from .. import const, pay_box, utils

_logger = logging.getLogger(__name__)


class AccountMove(models.Model):
    _name = "account.move"
    _inherit = ["account.move", "komet.paylink.document.mixin"]

    _paylink_link_field = "move_id"
    _paylink_statement_field = "move_ids"
    _paylink_report = "account.account_invoices"
    _paylink_partial_payable = True

    komet_paylink_ids = fields.One2many(
        string="Payment Links",
        comodel_name="komet.paylink",
        inverse_name="move_id",
        groups=const.ROLE_GROUPS,
    )
    komet_paylink_reminder_step = fields.Integer(
        string="Last Payment Reminder (Days Overdue)",
        help="The reminder step this invoice was last emailed at (or failed to be): each step is "
        "sent once.",
        readonly=True,
        copy=False,
    )
    komet_paylink_statement_ids = fields.Many2many(
        string="Statement Payment Links",
        comodel_name="komet.paylink",
        relation="komet_paylink_statement_move_rel",
        column1="move_id",
        column2="link_id",
        groups=const.ROLE_GROUPS,
    )
    komet_paylink_send_queued_by = fields.Many2one(
        string="Queued For Sending By",
        comodel_name="res.users",
        help="The user who queued this invoice for Odoo's background sending (who wrote its "
        "sending data), whatever author that data names: their role decides its payment link.",
        readonly=True,
        copy=False,
    )

    # === CRUD METHODS === #

    @api.model_create_multi
    def create(self, vals_list):
        """Override of `account` to record who queues an invoice for the background sending."""
        vals_list = [self._paylink_queued_by_vals(vals) for vals in vals_list]
        return super().create(vals_list)

    def write(self, vals):
        """Override of `account` to record who queues an invoice for the background sending: the
        user who writes its `sending_data`, never an author that data names."""
        return super().write(self._paylink_queued_by_vals(vals))

    def _paylink_queued_by_vals(self, vals):
        if "komet_paylink_send_queued_by" in vals and not self.env.su:
            raise AccessError(_("Who queued an invoice for sending is recorded by Odoo only."))
        if "sending_data" not in vals:
            return vals
        return {**vals, "komet_paylink_send_queued_by": vals["sending_data"] and self.env.uid}

    # === ACTION METHODS === #

    def action_komet_paylink_send_statement(self):
        """Email the customer of the selected invoices one payment link for all of them, from
        which they pick which to pay (the invoice list's action)."""
        link = self._paylink_send_statement()
        return self.env["res.partner"]._paylink_sent_notification(link)

    def action_komet_paylink_email_docs(self):
        """The Email Docs button of the invoice list: Odoo's Send dialog for this invoice."""
        self.ensure_one()
        return self.action_send_and_print()

    # === BUSINESS METHODS - WHAT IS DUE === #

    def _paylink_amount_due(self):
        """What the customer pays now, as Odoo's own invoice payment computes it: the
        residual, or the discounted amount while an early-payment discount holds."""
        self.ensure_one()
        return self._get_invoice_next_payment_values().get("amount_due", self.amount_residual)

    def _paylink_instalment_due(self):
        """Override of `komet.paylink.document.mixin`: the next (or overdue) instalments of
        the payment terms, as Odoo's own invoice payment computes them."""
        self.ensure_one()
        term_lines = self.line_ids.filtered(lambda line: line.display_type == "payment_term")
        if len(term_lines) < 2:
            return None
        values = self._get_invoice_next_payment_values()
        amount = values.get("next_amount_to_pay") or 0.0
        if values.get("installment_state") not in ("next", "overdue") or not (
            0 < self.currency_id.compare_amounts(self.amount_residual, amount)
            and self.currency_id.compare_amounts(amount, 0) > 0
        ):
            return None
        return amount, values["next_due_date"]

    def _paylink_state_reason(self):
        """Override of `komet.paylink.document.mixin`: not a posted customer invoice with
        something left to pay."""
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

    def _paylink_commercial_partner(self):
        self.ensure_one()
        return self.commercial_partner_id

    # === BUSINESS METHODS - THE PAGE === #

    def _paylink_page_details(self):
        """Override of `komet.paylink.document.mixin`, with the lines read in one query."""
        self.ensure_one()
        lines = self.env["account.move.line"].search_fetch(
            [("move_id", "=", self.id), ("display_type", "in", ("product", "payment_term"))],
            [
                "display_type",
                "name",
                "quantity",
                "price_subtotal",
                "reconciled",
                "amount_currency",
                "amount_residual_currency",
                "discount_date",
                "discount_amount_currency",
            ],
            order="sequence, id",
        )
        term_lines = lines.filtered(lambda line: line.display_type == "payment_term")
        early_discount = self._paylink_early_discount(term_lines)
        return {
            "bill_to": self._paylink_bill_to(),
            "document_date": self.invoice_date,
            "document_due_date": self.invoice_date_due,
            "due_date_label": _("Due date"),
            "amount_due": early_discount[0] if early_discount else self.amount_residual,
            # (what it saves, until when) while the discount holds.
            "early_discount": early_discount and early_discount[1:],
            # Whether to ask Odoo for the instalment due: its payment terms split the invoice.
            "has_instalments": len(term_lines) > 1,
            "lines": [
                {"name": line.name, "quantity": line.quantity, "subtotal": line.price_subtotal}
                for line in lines - term_lines
            ],
        }

    def _paylink_early_discount(self, term_lines):
        """(the discounted amount due, what it saves, until when) while the early-payment
        discount of this invoice holds, else None: Odoo's own figures, as
        `_get_invoice_next_payment_values()` finds them, read from `term_lines` (the
        invoice's, read already): asking Odoo would read the invoice and its reconciliations
        again, doubling the page's queries. Odoo grants it on a lone term line, nothing paid
        of it yet, until its discount date."""
        line = term_lines if len(term_lines) == 1 else None
        # Odoo's today, but for the user's time zone, which a public page would read in a query.
        tz = self.env.context.get("tz")
        today = fields.Date.context_today(self) if tz else fields.Date.today()
        if (
            not line
            or not line.discount_date
            or line.discount_date < today
            or line.reconciled
            or self.currency_id.compare_amounts(line.amount_residual_currency, line.amount_currency)
        ):
            return None
        sign = -self.direction_sign
        saved = line.amount_currency - line.discount_amount_currency
        return sign * line.discount_amount_currency, sign * saved, line.discount_date

    def _paylink_kept_pdf(self):
        return self.invoice_pdf_report_id

    def _paylink_bank_transfer(self, amount):
        """Override of `komet.paylink.document.mixin`: the payment QR code Odoo prints on this
        invoice (the EPC/SEPA code for euros, or another method installed, as
        `_generate_qr_code` picks it), for `amount` and with the invoice's payment reference,
        when the invoice's bank account can make one: for euros always (the SEPA code), in other
        currencies where the company shows payment QR codes on its invoices (*Settings > QR
        Codes*), as Odoo's other methods are country-specific. Asking costs the page queries;
        read, like the currency, with the page. Unlike `_generate_qr_code`, it writes nothing:
        the page is read-only."""
        self.ensure_one()
        bank = self.partner_bank_id
        if (
            not bank
            or (self.currency_id.name != "EUR" and not self.company_id.qr_code)
            or self.currency_id.compare_amounts(amount, 0) <= 0
        ):
            return None
        reference = self.payment_reference or self.name
        qr = bank._paylink_transfer_qr(
            self.currency_id.round(amount),
            self.currency_id,
            reference,
            self.partner_id,
            self.qr_code_method or None,
        )
        if not qr:
            return None
        return {
            "qr": qr,
            "account": bank.acc_number,
            "bic": bank.bank_bic,
            "beneficiary": bank.acc_holder_name or bank.partner_id.name,
            "reference": reference,
        }

    def _paylink_oldest_first(self):
        """These invoices in the order a statement lists them and a payment of part of them
        pays them: invoice date, then id (the order of `_paylink_on_link`'s search too)."""
        today = fields.Date.today()
        return self.sorted(lambda move: (move.invoice_date or today, move.id))

    def _paylink_part_payment_note(self, amount, due):
        """What a payment of `amount`, less than the `due` of these invoices, does to them
        (oldest first, as a statement's page says): which are paid in full and which one keeps
        the rest, for the customer to read at Checkout, in the environment's language. False
        when it pays all that is due (an early-payment discount settles an invoice too)."""
        invoices = self._paylink_oldest_first()
        currency = invoices.currency_id
        if len(currency) != 1 or currency.compare_amounts(amount, due) >= 0:
            return False
        residuals = invoices.mapped("amount_residual")
        parts = utils.split_oldest_first(amount, residuals, currency.decimal_places)
        split = list(zip(invoices, map(float, parts), residuals, strict=True))
        paid = [
            invoice.name
            for invoice, part, owed in split
            if not currency.compare_amounts(part, owed)
        ]
        notes = (
            [self.env._("Paid in full: %(invoices)s.", invoices=", ".join(paid))] if paid else []
        )
        notes += [
            self.env._(
                "%(part)s of %(invoice)s paid: %(left)s stays on it.",
                part=format_amount(self.env, part, currency),
                invoice=invoice.name,
                left=format_amount(self.env, owed - part, currency),
            )
            for invoice, part, owed in split
            if part and currency.compare_amounts(part, owed) < 0
        ]
        return " ".join(notes)

    def _paylink_ids_with_pdf(self):
        """The ids of those of these invoices that Odoo keeps a PDF of, in one query (as
        `invoice_pdf_report_id` is computed, without building a record per invoice)."""
        attachments = (
            self.env["ir.attachment"]
            .sudo()
            .search_fetch(
                [
                    ("res_model", "=", self._name),
                    ("res_id", "in", self.ids),
                    ("res_field", "=", "invoice_pdf_report_file"),
                ],
                ["res_id"],
            )
        )
        return set(attachments.mapped("res_id"))

    # === BUSINESS METHODS - ON A STATEMENT === #
    # A statement lists up to 300 invoices: they are asked in one query each time, not read
    # one by one, oldest first as its page lists them.

    def _paylink_on_link(self, link):
        """Override of `komet.paylink.document.mixin`, as a search for a statement's invoices."""
        if not link.is_statement or len(self) < 2:
            return super()._paylink_on_link(link)
        domain = self._paylink_on_statement_domain(link)
        return self.sudo().search(domain, order=const.STATEMENT_INVOICE_ORDER)

    def _paylink_payable_on(self, link):
        """Override of `komet.paylink.document.mixin`, as a search for a statement's invoices."""
        if not link.is_statement or len(self) < 2:
            return super()._paylink_payable_on(link)
        domain = [*self._paylink_on_statement_domain(link), *const.PAYABLE_INVOICE_DOMAIN]
        return self.sudo().search(domain, order=const.STATEMENT_INVOICE_ORDER)

    def _paylink_on_statement_domain(self, link):
        """`_paylink_on_link` of a statement link as a domain on these invoices."""
        customer, company, currency = link._paylink_owner()
        return [
            ("id", "in", self.ids),
            ("commercial_partner_id", "=", customer.id),
            ("company_id", "=", company.id),
            ("currency_id", "=", currency.id),
            ("state", "=", "posted"),
        ]

    # === BUSINESS METHODS - STATEMENTS === #

    def _paylink_check_statement(self):
        """Refuse a statement link unless these are invoices that can get a link, of one
        customer, in one company and one currency.

        :raise UserError: with what is wrong, before anything changes.
        """
        if len(self.commercial_partner_id) > 1:
            raise UserError(_("A statement link pays the invoices of one customer only."))
        if len(self.company_id) > 1:
            raise UserError(_("A statement link pays the invoices of one company only."))
        if len(self.currency_id) > 1:
            raise UserError(_("A statement link pays invoices in one currency only."))
        if len(self) > const.STATEMENT_MAX_INVOICES:
            raise UserError(
                _(
                    "A statement link pays at most %(count)s invoices: select fewer.",
                    count=const.STATEMENT_MAX_INVOICES,
                )
            )
        for invoice in self:
            reason = invoice._paylink_unlinkable_reason()
            if reason:
                raise UserError(reason)

    def _paylink_statement_link_values(self):
        """The stored values of a new statement link for these invoices."""
        return {
            "is_statement": True,
            "move_ids": [Command.set(self.ids)],
            "partner_id": self.commercial_partner_id.id,
            "company_id": self.company_id.id,
            "currency_id": self.currency_id.id,
            "amount": sum(self.mapped("amount_residual")),
        }

    def _paylink_send_statement(self):
        """Make a statement link for these invoices (one customer's, in one company and one
        currency) and email it to the customer.

        :return: the new link.
        :raise UserError: the invoices cannot be paid together, or the customer has no email.
        :raise AccessError: the user may not send payment links for them.
        """
        if not self:
            raise UserError(_("There is no open invoice to put on a statement link."))
        partner = self.commercial_partner_id
        if len(partner) == 1 and not partner.email:
            raise UserError(
                _("%(partner)s has no email address to send the link to.", partner=partner.name)
            )
        return self._paylink_email_new_link(statement=True)

    # === BUSINESS METHODS - REMINDERS === #

    @api.model
    def _paylink_reminders_due(self, company, steps, since):
        """The overdue invoices of `company` that a reminder run would email now, with the step
        each is at: [(invoice, step)], the longest overdue first. Never a paid invoice, one
        whose payment is being confirmed, one of a customer who opted out or that cannot get a
        link (see `_paylink_unsendable_reason`), nor a step sent before or passed before
        `since` (see `utils.reminder_step_to_send`)."""
        if not steps or company._paylink_payment_unavailable_reason():
            return []
        today = fields.Date.context_today(self)
        invoices = self.sudo().search_fetch(
            [
                ("company_id", "=", company.id),
                ("move_type", "=", "out_invoice"),
                ("state", "=", "posted"),
                ("payment_state", "in", ("not_paid", "partial")),
                ("amount_residual", ">", 0),
                ("invoice_date_due", "<=", today - timedelta(days=steps[0])),
                ("komet_paylink_processing_since", "=", False),
                ("partner_id.email", "!=", False),
                ("commercial_partner_id.komet_paylink_opt_out", "=", False),
            ],
            ["invoice_date_due", "komet_paylink_reminder_step"],
            order="invoice_date_due, id",
        )
        due = []
        for invoice in invoices:
            step = utils.reminder_step_to_send(
                steps, invoice.invoice_date_due, today, since, invoice.komet_paylink_reminder_step
            )
            if step and not invoice._paylink_unlinkable_reason():  # the company's: above
                due.append((invoice, step))
        return due

    @api.model
    def _cron_paylink_send_reminders(self, batch_size=const.REMINDER_BATCH_SIZE):
        """Email overdue customer invoices again, with a fresh payment link, when they reach a
        reminder step of their company (days after the due date), once per step.

        One batch per call, committed by the scheduler, which calls again while some are left
        (`ir.cron._notify_progress`): a run killed by the worker's time limit loses its batch
        at most, and a later run resumes; a run that has used its share of that limit leaves
        the rest to the next (`ir.cron._paylink_run_is_over`). The invoices of a batch are
        locked, skipping those another run holds, and each keeps the step it was sent (or
        failed) at: none is reminded twice, even by two runs at once. Each is sent in its own
        savepoint, so that one failure does not stop the others.
        """
        cron = self.env.ref("komet_paylink.ir_cron_send_reminders")
        if self.env["ir.cron"]._paylink_run_is_over():
            cron._trigger()  # a new run, once this worker has reported to its watchdog
            return
        due = []
        companies = self.env["res.company"].search([("komet_paylink_reminder_days", "!=", False)])
        for company in companies:
            since = company.komet_paylink_reminders_since
            due += self._paylink_reminders_due(company, company._paylink_reminder_steps(), since)
        batch = dict(due[:batch_size])
        done = self.browse()
        sent = 0
        for invoice in self._paylink_lock_skip_locked(list(batch)):
            if done and self.env["ir.cron"]._paylink_run_is_over():
                break
            try:
                with self.env.cr.savepoint():
                    invoice._paylink_send_reminder(batch[invoice])
                sent += 1
            except Exception:  # one invoice's failure must not stop the others
                _logger.exception("Payment reminder of invoice %s failed.", invoice.id)
            # Also after a failure: it is not tried again at every run.
            invoice.komet_paylink_reminder_step = batch[invoice]
            done |= invoice
        _logger.info("Sent %s payment reminder(s); %s failed.", sent, len(done) - sent)
        remaining = len(due) - len(done)
        self.env["ir.cron"]._notify_progress(done=len(done), remaining=remaining)
        if remaining:  # also when run by hand, outside the scheduler's loop
            cron._trigger()

    @api.model
    def _paylink_lock_skip_locked(self, invoices):
        """Lock `invoices` for this transaction and return those locked: an invoice that
        another run holds, or changed since this transaction began, is left to that run."""
        if not invoices:
            return self.browse()
        ids = tuple(invoice.id for invoice in invoices)
        try:
            with self.env.cr.savepoint(flush=False):
                self.env.cr.execute(
                    SQL("SELECT id FROM account_move WHERE id IN %s FOR UPDATE SKIP LOCKED", ids),
                    log_exceptions=False,
                )
                locked_ids = {row[0] for row in self.env.cr.fetchall()}
        except psycopg2.errors.SerializationFailure:
            return self.browse()
        return self.browse([invoice.id for invoice in invoices if invoice.id in locked_ids])

    def _paylink_send_reminder(self, days):
        """Email this overdue invoice again through Odoo's invoice sending, as an automatic
        send: with a fresh payment link (revoking the older one), which keeps the reminder
        step `days`."""
        self.ensure_one()
        self.env["account.move.send"].with_company(self.company_id)._generate_and_send_invoices(
            self, sending_methods={"email"}, komet_paylink_reminder_days=days
        )

    # === BUSINESS METHODS - THE EMAIL === #

    def _paylink_email_parts(self, link, pdf_content=None, label=None, lang=None):
        """What an email of this invoice carries for `link`, in every sending path: the
        invoice PDF with the Pay box of the link, and the Pay now button, both for the link's
        amount and in `lang`, the email's language (by default the customer's). The Pay box is
        drawn on `pdf_content` (the PDF Odoo rendered for this sending), else on the PDF Odoo
        keeps, else on a plain render: the invoice is never rendered twice.

        :return: ((file name, PDF bytes), button markup)
        """
        self.ensure_one()
        lang = lang or self._paylink_customer_lang()
        pdf_content = (
            pdf_content
            or self.invoice_pdf_report_id.raw
            or (
                self.env["ir.actions.report"]
                .with_company(self.company_id)
                ._render_qweb_pdf(self._paylink_report, self.ids)[0]
            )
        )
        filename = self._get_invoice_report_filename()
        pdf_content = self.with_context(lang=lang)._paylink_stamp_pdf(
            link.url, link.amount, pdf_content
        )
        return (filename, pdf_content), self._paylink_email_button(link, label=label, lang=lang)

    def _paylink_stamp_pdf(self, url, amount, pdf_content):
        """Return a copy of `pdf_content`, the PDF Odoo rendered for this invoice, followed by a
        page with the Pay box of `url` for `amount`: the Pay now button (a link annotation), the
        amount due, the link's rule and its QR code, in the environment's language, amounts
        written as Odoo writes them there.

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
        box = pay_box.pay_box_pdf(
            url,
            page_size,
            title=_("Pay online"),
            amount_line=_(
                "Invoice %(name)s: %(amount)s due.",
                name=self.name,
                amount=self.currency_id.format(amount),
            ),
            button_label=_("Pay now"),
            rule_lines=[
                _(
                    "The link is active for %(hours)s hours after you first open it.",
                    hours=self.env["komet.paylink"]._paylink_lifetime_hours(),
                ),
                _(
                    "This QR code opens the payment page: scan it with your phone's camera, "
                    "not with a banking app."
                ),
            ],
            qr_label=_("Scan with your phone's camera to pay by card or online"),
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

    def _post(self, soft=True):
        """Override of `account` to close the links of the orders that a posted invoice now
        takes the payment of."""
        posted = super()._post(soft=soft)
        posted._paylink_sync_links()
        return posted

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
        """Override of `komet.paylink.document.mixin`: the links of these invoices' orders
        follow them too."""
        invoices = self.filtered(lambda move: move.move_type == "out_invoice")
        if not invoices:
            return
        links = invoices._paylink_live_links()
        orders = invoices.sudo().invoice_line_ids.sale_line_ids.order_id
        if orders:
            links |= orders._paylink_live_links()
        self._paylink_sync_with_links(links)
