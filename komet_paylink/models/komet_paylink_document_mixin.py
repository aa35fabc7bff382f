import base64
from datetime import timedelta

from odoo import Command, _, api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.osv import expression
from odoo.tools import SQL, format_datetime

from .. import const, utils
from ..exceptions import PaylinkBadAmount


class KometPaylinkDocumentMixin(models.AbstractModel):
    """A document a payment link can pay: an invoice (`account.move`) or a sale order.

    The one place that answers, for a document, what is due now (`_paylink_amount_due`) and why
    it cannot be paid now (`_paylink_unpayable_reason`), across every link that covers it (its
    own, a statement's, its order's) and every Odoo transaction; its bill-to and page details;
    who may send links for it; its smart button and its chatter. A link asks its documents and
    never re-derives their kind. Configured per model by the class attributes below, as
    `portal.mixin` and `sequence.mixin` are.
    """

    _name = "komet.paylink.document.mixin"
    _description = "Document Payable Through Payment Links"

    # The field of `komet.paylink` that points at one document of this model.
    _paylink_link_field = None
    # The field of `komet.paylink` that lists documents of this model on a statement link.
    _paylink_statement_field = None
    # The contact the page bills: the document's invoice address.
    _paylink_bill_to_field = "partner_id"
    # The report of the document's PDF, when Odoo keeps no PDF of it.
    _paylink_report = None
    # Whether the customer may pay part of one such document alone, when its company allows.
    _paylink_partial_payable = False

    komet_paylink_processing_since = fields.Datetime(
        string="Payment Being Confirmed Since",
        help="Since when a payment of the document is on its way (a bank debit is confirmed days "
        "later), through a payment link or any other Odoo transaction: meanwhile no link offers "
        "to pay it, and no reminder is sent.",
        compute="_compute_komet_paylink_processing_since",
        store=True,
        compute_sudo=True,
        copy=False,
    )
    komet_paylink_count = fields.Integer(
        string="Payment Link Count",
        compute="_compute_komet_paylink_count",
        groups=const.ROLE_GROUPS,
    )

    # === COMPUTE METHODS === #

    @api.depends(
        "transaction_ids.state",
        "transaction_ids.last_state_change",
        "transaction_ids.operation",
    )
    def _compute_komet_paylink_processing_since(self):
        for document in self:
            in_flight = document.transaction_ids.filtered(
                lambda tx: (
                    tx.state in const.PROCESSING_TX_STATES
                    and tx.operation != "refund"
                    and tx.provider_code not in const.OFFLINE_PROVIDER_CODES
                )
            )
            document.komet_paylink_processing_since = min(
                in_flight.mapped("last_state_change"), default=False
            )

    def _compute_komet_paylink_count(self):
        Paylink = self.env["komet.paylink"]
        for document in self:
            document.komet_paylink_count = Paylink.search_count(document._paylink_links_domain())

    # === ACTION METHODS === #

    def action_view_komet_paylinks(self):
        """The Payment Links list, narrowed to the document's links (its smart button)."""
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("komet_paylink.komet_paylink_action")
        action.update(domain=self._paylink_links_domain(), context={"create": False})
        return action

    def action_komet_paylink_copy_link(self):
        """Make a fresh link for the document to share by any channel (its older links stop,
        as when sending) and show its URL once, in a dialog with a copy button; the chatter
        says a link was shared by hand.

        :raise AccessError: the user may not send links for the document.
        :raise UserError: why the document cannot get a link now (paid, opted out, no online
            payment for its company...).
        """
        self.ensure_one()
        self._paylink_check_may_send()
        if reason := self.sudo()._paylink_unsendable_reason():
            raise UserError(reason)
        link = (
            self.env["komet.paylink"]
            .with_context(komet_paylink_shared_by_hand=True)
            .create({self._paylink_link_field: self.id})
        )
        return {
            "type": "ir.actions.act_window",
            "name": _("Share the Payment Link"),
            "res_model": "komet.paylink.share.wizard",
            "view_mode": "form",
            "views": [(False, "form")],
            "target": "new",
            # Never saved: the URL is known only now, and only this dialog shows it.
            "context": {"default_url": link.url, "default_link_id": link.id},
        }

    # === BUSINESS METHODS - WHAT IS DUE === #

    def _paylink_amount_due(self):
        """What the customer pays now for this document alone."""
        raise NotImplementedError()

    def _paylink_state_reason(self):
        """Why the document itself takes no payment (paid, cancelled, draft, nothing left to
        pay), or False."""
        raise NotImplementedError()

    def _paylink_commercial_partner(self):
        self.ensure_one()
        return self.partner_id.commercial_partner_id

    def _paylink_billed_to(self, customer, company, currency):
        """Whether the document is billed to `customer` (a commercial partner), in `company`
        and `currency`."""
        return (
            self._paylink_commercial_partner() == customer
            and self.company_id == company
            and self.currency_id == currency
        )

    def _paylink_left_reason(self, link):
        """Why the document no longer belongs on `link`: billed to another customer, or moved
        to another company or currency since the link was made. False while it belongs."""
        self.ensure_one()
        if not self._paylink_billed_to(*link._paylink_owner()):
            return _("%(name)s is no longer billed to this customer.", name=self.display_name)
        return False

    def _paylink_closed_reason(self, link=None):
        """Why the document takes no more payment through `link` (any link when None): its own
        state, or it left the link's customer, company or currency. False while it is open.
        What closes links; a payment on its way does not (see `_paylink_unpayable_reason`)."""
        self.ensure_one()
        return self._paylink_state_reason() or (link and self._paylink_left_reason(link))

    def _paylink_processing_reason(self):
        """Why no second payment may start: one is on its way since ..., or False."""
        self.ensure_one()
        since = self.komet_paylink_processing_since
        if not since:
            return False
        return _(
            "A payment of %(name)s is being confirmed since %(since)s: it does not need to be "
            "paid again.",
            name=self.display_name,
            since=format_datetime(self.env, since, tz=self.env.context.get("tz") or "UTC"),
        )

    def _paylink_unpayable_reason(self, link=None):
        """The one question every path asks before money can move (the page, Pay, renewal,
        reminders, statements and sending): why the document cannot be paid now through `link`
        (any link when None), or False. Closed (see `_paylink_closed_reason`), or a payment of
        it is on its way through any link or Odoo transaction."""
        self.ensure_one()
        return self._paylink_closed_reason(link) or self._paylink_processing_reason()

    def _paylink_unlinkable_reason(self):
        """Why no new link may be made for the document, or False: it cannot be paid now, or
        its customer opted out of payment links."""
        self.ensure_one()
        return self._paylink_unpayable_reason() or self.partner_id._paylink_opt_out_reason()

    def _paylink_unsendable_reason(self):
        """Why no new link may be mailed for the document, or False: no link may be made, or
        its company cannot take online payment yet (the customer's Pay would fail)."""
        self.ensure_one()
        return (
            self._paylink_unlinkable_reason()
            or self.company_id._paylink_payment_unavailable_reason()
        )

    # === BUSINESS METHODS - ON A LINK === #

    def _paylink_on_link(self, link):
        """These documents as `link` pays them now: those still billed to its customer, in its
        company and currency (and, on a statement, posted)."""
        owner, posted_only = link._paylink_owner(), link.is_statement  # read once: hundreds
        return self.sudo().filtered(
            lambda document: (
                document._paylink_billed_to(*owner)
                and (not posted_only or document.state == "posted")
            )
        )

    def _paylink_payable_on(self, link):
        """Those of these documents that can be paid through `link` now."""
        return self.filtered(lambda document: not document._paylink_unpayable_reason(link))

    def _paylink_closed_reason_on(self, link):
        """Why `link` takes no more payment for these documents (every one closed or gone), or
        False. A payment on its way does not close a link."""
        reasons = [document._paylink_closed_reason(link) for document in self.sudo()]
        if len(reasons) > 1 and all(reasons):
            return _("Every invoice of this statement is paid or closed.")
        return all(reasons) and reasons[0]

    def _paylink_processing_since_on(self, link):
        """Since when a payment of these documents, still open on `link`, is on its way through
        any link or transaction, or False."""
        since = zip(self, self.mapped("komet_paylink_processing_since"), strict=True)  # one read
        return min(
            (
                when
                for document, when in since
                if when and not document._paylink_closed_reason(link)
            ),
            default=False,
        )

    def _paylink_amount_due_together(self, statement=False):
        """What the customer pays now for these documents in one payment: each one's amount due
        or, on a statement, the residuals, as Odoo's portal pays several invoices (an
        early-payment discount is for one invoice paid alone)."""
        if statement:
            return sum(self.mapped("amount_residual"))
        return sum(document._paylink_amount_due() for document in self)

    def _paylink_instalment_due(self):
        """What is due now of this one document when its payment terms split it in
        instalments and less than everything is due now, as (amount, due date); else None."""
        return None

    def _paylink_instalment_amount(self, link):
        """The instalment the customer chose to pay now through `link`.

        :raise PaylinkBadAmount: no instalment of one document is due on its own.
        """
        instalment = len(self) == 1 and not link.is_statement and self._paylink_instalment_due()
        if not instalment:
            raise PaylinkBadAmount(_("No instalment is due on its own here: pay the amount due."))
        return instalment[0]

    def _paylink_partial_minimum(self, link, due):
        """The least the customer may pay now of `due` through `link`, when the page may offer
        to pay part of these documents: of a kind that takes partial payments, one on a link of
        its own or a statement's ticked invoices (its percentage is of what they owe, as for one
        invoice), of a company that allows them. None otherwise."""
        company = link.company_id
        if (
            not self
            or (len(self) != 1 and not link.is_statement)
            or not self._paylink_partial_payable
            or not company.komet_paylink_partial_payments
            or link.currency_id.compare_amounts(due, 0) <= 0
        ):
            return None
        minimum = utils.partial_minimum(
            due,
            link.currency_id.decimal_places,
            company.komet_paylink_partial_min_percent,
            link.currency_id.name,
        )
        return float(minimum)

    def _paylink_partial_amount(self, link, amount_text, due):
        """The part of `due` the customer typed (`amount_text`) to pay now through `link`.

        :raise PaylinkBadAmount: part payment is not offered here, or why the amount is refused.
        """
        minimum = self._paylink_partial_minimum(link, due)
        if minimum is None:
            raise PaylinkBadAmount(
                _("This statement pays the ticked invoices in full.")
                if link.is_statement
                else _("This link pays the whole amount due only.")
            )
        currency = link.currency_id
        amount, problem = utils.check_partial_amount(
            amount_text,
            due=due,
            decimals=currency.decimal_places,
            min_percent=link.company_id.komet_paylink_partial_min_percent,
            currency_code=currency.name,
        )
        messages = {
            const.PARTIAL_NOT_A_NUMBER: _(
                "Enter the amount to pay as a number, for example %(example)s.",
                example=currency.format(minimum),
            ),
            const.PARTIAL_NOT_POSITIVE: _("The amount to pay must be more than zero."),
            const.PARTIAL_PRECISION: _(
                "The amount to pay has at most %(decimals)s decimals.",
                decimals=currency.decimal_places,
            ),
            const.PARTIAL_BELOW_MINIMUM: _(
                "The amount to pay must be at least %(minimum)s.",
                minimum=currency.format(minimum),
            ),
            const.PARTIAL_ABOVE_DUE: _(
                "The amount to pay cannot be more than the %(due)s due.",
                due=currency.format(due),
            ),
        }
        if problem:
            raise PaylinkBadAmount(messages[problem])
        return float(amount)

    def _paylink_hold(self, link):
        """Hold `link` and these documents until this transaction ends, so that two presses of
        Pay for the same money, through one link or two, never open two checkouts: the second
        waits, then fails to serialize and is retried by Odoo on the first one's outcome."""
        for records in (link, self):
            self.env.cr.execute(
                SQL(
                    "UPDATE %s SET write_date = write_date WHERE id IN %s",
                    SQL.identifier(records._table),
                    tuple(records.ids),
                ),
                log_exceptions=False,
            )

    # === BUSINESS METHODS - THE PAGE === #

    def _paylink_bill_to(self):
        self.ensure_one()
        return self[self._paylink_bill_to_field]

    def _paylink_page_details(self):
        """What the payment page shows of the document: dicts of its bill-to, dates, lines
        (name, quantity, subtotal) and amount due."""
        raise NotImplementedError()

    def _paylink_bank_transfer(self, amount):
        """What the page shows to pay `amount` of this one document by bank transfer instead,
        from a banking app: a dict with the QR code (a data URI), the account, the beneficiary
        and the reference; None for a document Odoo makes no such code for."""
        return None

    def _paylink_pdf(self, link):
        """The document's PDF for the customer to download from `link`'s page: the PDF Odoo
        keeps of it or, for a document without one (an order), a copy kept on the link,
        rendered again only after the document changed, and at most once in
        `PDF_RERENDER_MIN_MINUTES`: a public URL never renders a report without bound.

        :return: (pdf bytes, file name), or None when a statement's invoice has none.
        """
        self.ensure_one()
        filename = f"{self.name.replace('/', '_')}.pdf"
        attachment = self._paylink_kept_pdf()
        if attachment:
            return attachment.raw, attachment.name or filename
        if link.is_statement:
            return None
        link_sudo = link.sudo()
        now = fields.Datetime.now()
        rendered_at = link_sudo.pdf_rendered_at
        is_stale = rendered_at and self.write_date > rendered_at
        may_render = not rendered_at or rendered_at <= now - timedelta(
            minutes=const.PDF_RERENDER_MIN_MINUTES
        )
        if link_sudo.pdf_file and not (is_stale and may_render):
            return base64.b64decode(link_sudo.pdf_file), filename
        report = self.env["ir.actions.report"].sudo()
        pdf = report._render_qweb_pdf(self._paylink_report, self.ids)[0]
        link_sudo.write({"pdf_file": base64.b64encode(pdf), "pdf_rendered_at": now})
        return pdf, filename

    def _paylink_kept_pdf(self):
        """The PDF attachment Odoo keeps of the document, if any: the page offers it rather
        than render `_paylink_report` again."""
        return self.env["ir.attachment"]

    # === BUSINESS METHODS - LINKS === #

    def _paylink_new_link_values(self):
        """The stored values of a new link that pays this one document: its customer, company
        and currency are the link's for good, and its amount due now."""
        self.ensure_one()
        return {
            self._paylink_link_field: self.id,
            "partner_id": self.partner_id.id,
            "company_id": self.company_id.id,
            "currency_id": self.currency_id.id,
            "amount": self._paylink_amount_due(),
        }

    def _paylink_revoke_live_links(self, statement=False):
        """Revoke the live links of what is about to get a new link: one live link per
        document and one live statement link per customer, company and currency. (An invoice
        may be on its own link and on a statement: each asks the invoice, on every read,
        whether a payment of it is on its way, and Pay expires every other open checkout.)"""
        if statement:
            domain = [
                ("is_statement", "=", True),
                ("partner_id", "=", self.commercial_partner_id.id),
                ("company_id", "=", self.company_id.id),
                ("currency_id", "=", self.currency_id.id),
            ]
        else:
            domain = [(self._paylink_link_field, "in", self.ids)]
        older_links = (
            self.env["komet.paylink"].sudo().search([("state", "in", const.ACTIVE_STATES), *domain])
        )
        older_links._paylink_mark_revoked(
            _("Older payment link revoked: a new link was sent."), revoked_by=self.env.user
        )
        # In the database before the new links, for the one_live_*_link constraints.
        older_links.flush_recordset(["state"])

    def _paylink_check_new_link(self, statement=False):
        """Refuse a new link for these documents, before anything changes, when the user may
        not send it or a document cannot get one.

        :raise AccessError: the user may not send links for them.
        :raise UserError: why not.
        """
        self._paylink_check_may_send()
        if statement:
            self.sudo()._paylink_check_statement()
        elif reason := self.sudo()._paylink_unlinkable_reason():
            raise UserError(reason)

    def _paylink_open_checkouts(self):
        """The payment-link transactions of these documents, through any link, whose Checkout
        Session may still be open."""
        return self.sudo().transaction_ids.filtered(
            lambda tx: (
                tx.provider_code == const.PROVIDER_CODE
                and tx.state == "draft"
                and tx.provider_reference
            )
        )

    def _paylink_email_new_link(self, statement=False, **system_values):
        """Make a new link for these documents (a statement link with `statement`), as the
        system when `system_values` (renewal, reminder) are given, and email it to the customer
        on the template of its kind: only now is its URL known.

        :return: the new link.
        """
        Paylink = self.env["komet.paylink"]
        if system_values:
            Paylink = Paylink.sudo()
        if statement:
            link = Paylink.create({"move_ids": [Command.set(self.ids)], **system_values})
        else:
            link = Paylink.create({self._paylink_link_field: self.id, **system_values})
        template = self.env.ref(
            "komet_paylink.mail_template_paylink_statement"
            if statement
            else "komet_paylink.mail_template_paylink"
        )
        template.with_context(
            paylink_url=link.url, paylink_lifetime_hours=link._paylink_lifetime_hours()
        ).send_mail(link.id)
        return link

    def _paylink_notify_cashiers(self, summary, note):
        """Put a to-do on these documents for each cashier of their company (failing any, its
        payment-link admins; failing those, the administrator), so that a person acts."""
        for document in self.sudo():
            users = self.env["res.users"]
            for xmlid in ("komet_paylink.group_role_cashier", "komet_paylink.group_role_admin"):
                users = (
                    self.env.ref(xmlid)
                    .sudo()
                    .users.filtered(
                        lambda user, d=document: d.company_id in user.company_ids and not user.share
                    )
                )
                if users:
                    break
            for user in users or self.env.ref("base.user_admin"):
                document.activity_schedule(
                    "mail.mail_activity_data_todo", summary=summary, note=note, user_id=user.id
                )

    def _paylink_notify_salesperson(self, body, user):
        """Post `body` on the first document, notifying `user`, and log it on the others."""
        self[:1].message_post(
            body=body, partner_ids=user.partner_id.ids, subtype_xmlid="mail.mt_note"
        )
        self[1:]._paylink_log(body)

    def _paylink_links_domain(self):
        """The links that cover these documents: their own and, for invoices, statements."""
        domain = [(self._paylink_link_field, "in", self.ids)]
        if self._paylink_statement_field:
            domain = expression.OR([domain, [(self._paylink_statement_field, "in", self.ids)]])
        return domain

    def _paylink_live_links(self):
        """The links that can still take a payment for these documents."""
        domain = [("state", "in", const.ACTIVE_STATES), *self._paylink_links_domain()]
        return self.env["komet.paylink"].sudo().search(domain)

    def _paylink_sync_links(self):
        """Bring the live links of these documents in line with what is due now (see
        `_paylink_sync_with_links`)."""
        self._paylink_sync_with_links(self._paylink_live_links())

    @api.model
    def _paylink_sync_with_links(self, links):
        """Follow on `links` what happened to their documents: close a link whose documents
        were paid another way, credited, cancelled, reset to draft, moved to another customer
        or invoiced (an order), and expire a Checkout Session for an amount no longer due."""
        for link in links.filtered(lambda link: link.state in const.ACTIVE_STATES):
            reason = link._paylink_linked_documents()._paylink_closed_reason_on(link)
            if reason:
                link._paylink_mark_revoked(_("Payment link closed: %(reason)s", reason=reason))
                continue
            payable_documents = link._paylink_payable_documents()
            for transaction in link.sudo().transaction_ids:
                documents = transaction._paylink_documents()
                payable = documents & payable_documents
                keep_amount = link._paylink_amount_due(payable) if payable == documents else 0
                transaction._paylink_expire_sessions(keep_amount=keep_amount)

    def _paylink_log_link_sent(self, link):
        """Say in the chatter that `link` was just sent for these documents."""
        values = {"amount": link._paylink_format_amount(), "partner": link.partner_id.display_name}
        if self.env.context.get("komet_paylink_shared_by_hand"):
            body = _(
                "Payment link for %(amount)s made by %(user)s to be shared by hand with "
                "%(partner)s (copied, not emailed).",
                user=self.env.user.name,
                **values,
            )
        elif link.reminder_days:
            body = _(
                "Payment reminder (%(days)s days overdue) sent to %(partner)s with a new payment "
                "link for %(amount)s.",
                days=link.reminder_days,
                **values,
            )
        else:
            body = _("Payment link for %(amount)s sent to %(partner)s.", **values)
        self._paylink_log(body)

    def _paylink_check_may_send(self):
        """Decide whether the current user may send, or revoke, links for these documents: the
        five roles' access rights, the links' record rules (each company's; Sales and Sales
        Allocations: the documents they are the salesperson of) and each company's narrowing
        of the five roles.

        :raise AccessError: the user may not.
        """
        if self.env.su:
            return
        Paylink = self.env["komet.paylink"]
        Paylink.check_access("create")
        user_groups = self.env.user.groups_id
        for company in self.sudo().company_id:
            if not company.komet_paylink_sender_group_ids & user_groups:
                raise AccessError(
                    _(
                        "Your role may not send payment links for %(company)s.",
                        company=company.name,
                    )
                )
        rule_domain = self.env["ir.rule"]._compute_domain(Paylink._name, "create")
        for document in self.sudo() if rule_domain else ():
            values = {
                self._paylink_link_field: document.id,
                "company_id": document.company_id.id,
                "partner_id": document.partner_id.id,
            }
            if not Paylink.sudo().new(values).filtered_domain(rule_domain):
                raise AccessError(
                    _(
                        "You may not send payment links for %(document)s: it is not one of "
                        "your documents.",
                        document=document.display_name,
                    )
                )

    def _paylink_user_may_send(self):
        """Whether the current user may send links for these documents (see
        `_paylink_check_may_send`)."""
        try:
            self._paylink_check_may_send()
        except AccessError:
            return False
        return True

    def _paylink_customer_lang(self):
        """The language of what the document's customer receives, as Odoo's own email and PDF
        of the document use it: the customer's, when it is installed, else the current one."""
        self.ensure_one()
        lang = self.partner_id.lang
        return lang if lang in dict(self.env["res.lang"].get_installed()) else self.env.lang

    def _paylink_email_button(self, link, label=None, lang=None):
        """The Pay now button of an email of the document, for `link`'s URL and amount, in
        `lang` (by default the customer's language)."""
        lang = lang or self._paylink_customer_lang()
        return (
            self.env["ir.qweb"]
            .with_context(lang=lang)
            ._render(
                "komet_paylink.email_pay_now_button",
                {
                    "url": link.url,
                    "amount": link.amount,
                    "currency": link.currency_id,
                    "label": label,
                    "lifetime_hours": link._paylink_lifetime_hours(),
                },
            )
        )

    def _paylink_log(self, body):
        """Log `body` in the chatter of each document."""
        for document in self.sudo():
            document._message_log(body=body)
