import ast
import base64
import logging
from datetime import timedelta

import babel.dates
import pytz

from odoo import Command, _, api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.osv import expression
from odoo.tools import float_round, format_datetime
from odoo.tools.misc import babel_locale_parse, get_lang, hmac, posix_to_ldml

from .. import const, utils

_logger = logging.getLogger(__name__)


class PaylinkRateLimited(UserError):
    """A customer asked for new links faster than the cooldown allows."""


class PaylinkProcessing(UserError):
    """A payment through the link is being confirmed: Pay opens no other checkout."""


class PaylinkSuperseded(UserError):
    """A customer asked for a new link from a link that a newer one already replaced."""


class KometPaylink(models.Model):
    _name = "komet.paylink"
    _description = "Payment Link"
    _order = "id desc"
    _check_company_auto = True
    _rec_names_search = ["move_id", "sale_order_id", "move_ids", "partner_id"]

    _sql_constraints = [
        ("token_hash_unique", "UNIQUE(token_hash)", "A payment link token must be unique."),
        # A statement link has neither: its invoices are in `move_ids`.
        (
            "one_document",
            "CHECK(num_nonnulls(move_id, sale_order_id) + CASE WHEN is_statement THEN 1 ELSE 0 END"
            " = 1)",
            "A payment link pays an invoice, a sale order or a customer's statement.",
        ),
        # Also what stops two staff sending a first link for a document at the same instant.
        (
            "one_live_invoice_link",
            "EXCLUDE (move_id WITH =) WHERE (state IN ('sent', 'opened'))",
            "Another payment link was just sent for this document. Reload it and try again.",
        ),
        (
            "one_live_statement_link",
            "EXCLUDE (partner_id WITH =, company_id WITH =, currency_id WITH =) "
            "WHERE (is_statement AND state IN ('sent', 'opened'))",
            "Another statement link was just sent for this customer. Reload and try again.",
        ),
        (
            "one_live_order_link",
            "EXCLUDE (sale_order_id WITH =) WHERE (state IN ('sent', 'opened'))",
            "Another payment link was just sent for this document. Reload it and try again.",
        ),
    ]

    state = fields.Selection(
        string="Status",
        selection=[
            (const.STATE_SENT, "Sent"),
            (const.STATE_OPENED, "Opened"),
            (const.STATE_PAID, "Paid"),
            (const.STATE_EXPIRED, "Expired"),
            (const.STATE_REVOKED, "Revoked"),
        ],
        default=const.STATE_SENT,
        required=True,
        readonly=True,
        index=True,
        copy=False,
    )
    move_id = fields.Many2one(
        string="Invoice",
        comodel_name="account.move",
        ondelete="cascade",
        index="btree_not_null",
        readonly=True,
        check_company=True,
    )
    sale_order_id = fields.Many2one(
        comodel_name="sale.order",
        ondelete="cascade",
        index="btree_not_null",
        readonly=True,
        check_company=True,
    )
    is_statement = fields.Boolean(
        string="Statement Link",
        help="The link pays open invoices of one customer, who picks which (its invoices are in "
        "`move_ids`).",
        readonly=True,
        copy=False,
    )
    move_ids = fields.Many2many(
        string="Statement Invoices",
        help="The open invoices a statement link lists; the customer picks which to pay.",
        comodel_name="account.move",
        relation="komet_paylink_statement_move_rel",
        column1="link_id",
        column2="move_id",
        readonly=True,
        copy=False,
        check_company=True,
    )
    partner_id = fields.Many2one(
        string="Customer",
        comodel_name="res.partner",
        compute="_compute_document_values",
        store=True,
        readonly=True,
    )
    user_id = fields.Many2one(
        string="Salesperson",
        comodel_name="res.users",
        compute="_compute_document_values",
        store=True,
        readonly=True,
        index=True,
    )
    company_id = fields.Many2one(
        comodel_name="res.company",
        compute="_compute_document_values",
        store=True,
        readonly=True,
        index=True,
    )
    currency_id = fields.Many2one(
        comodel_name="res.currency",
        compute="_compute_document_values",
        store=True,
        readonly=True,
    )
    amount = fields.Monetary(
        help="The amount due when the link was sent.",
        currency_field="currency_id",
        readonly=True,
        copy=False,
    )
    token_hash = fields.Char(
        readonly=True,
        copy=False,
        groups="base.group_system",
    )
    url = fields.Char(
        string="Link",
        help="The public link; known only right after the link is made, since only a hash of its "
        "token is kept.",
        compute="_compute_url",
    )
    sent_at = fields.Datetime(string="Sent On", readonly=True, copy=False)
    opened_at = fields.Datetime(string="Opened On", readonly=True, copy=False)
    expires_at = fields.Datetime(string="Expires On", readonly=True, copy=False)
    paid_at = fields.Datetime(string="Paid On", readonly=True, copy=False)
    expired_at = fields.Datetime(string="Expired On", readonly=True, copy=False)
    revoked_at = fields.Datetime(string="Revoked On", readonly=True, copy=False)
    revoked_by_id = fields.Many2one(comodel_name="res.users", readonly=True, copy=False)
    renewed_from_id = fields.Many2one(
        string="Renews",
        help="The expired link whose customer asked for this one.",
        comodel_name="komet.paylink",
        readonly=True,
        copy=False,
    )
    reminder_days = fields.Integer(
        string="Reminder (days overdue)",
        help="For a link sent by a payment reminder: how many days overdue the invoice was, "
        "the reminder step.",
        readonly=True,
        copy=False,
    )
    renewal_requested_at = fields.Datetime(
        string="New Link Requested On",
        help="When the customer last asked for a new link from this expired one.",
        readonly=True,
        copy=False,
    )
    renewal_client_hash = fields.Char(
        help="A keyed hash of the client address that asked for this link, for the rate limit "
        "per address; the address itself is never kept.",
        readonly=True,
        copy=False,
        index="btree_not_null",
        groups="base.group_system",
    )
    pdf_file = fields.Binary(
        string="Document PDF",
        help="The copy of the document's PDF that the payment page serves.",
        attachment=True,
        readonly=True,
        copy=False,
    )
    pdf_rendered_at = fields.Datetime(string="PDF Rendered On", readonly=True, copy=False)
    transaction_ids = fields.One2many(
        string="Transactions",
        comodel_name="payment.transaction",
        inverse_name="komet_paylink_id",
        readonly=True,
    )

    # === COMPUTE METHODS === #

    @api.depends(
        "move_id.partner_id",
        "move_id.invoice_user_id",
        "move_id.company_id",
        "move_id.currency_id",
        "sale_order_id.partner_id",
        "sale_order_id.user_id",
        "sale_order_id.company_id",
        "sale_order_id.currency_id",
        "move_ids.commercial_partner_id",
        "move_ids.invoice_user_id",
        "move_ids.company_id",
        "move_ids.currency_id",
    )
    def _compute_document_values(self):
        for link in self:
            if link.is_statement:
                invoices = link.move_ids
                partner = invoices.commercial_partner_id[:1]
                salespeople = invoices.invoice_user_id
                link.partner_id = partner
                link.user_id = salespeople if len(salespeople) == 1 else partner.user_id
                link.company_id = invoices.company_id[:1]
                link.currency_id = invoices.currency_id[:1]
            elif link.move_id:
                move = link.move_id
                link.partner_id = move.partner_id
                link.user_id = move.invoice_user_id
                link.company_id = move.company_id
                link.currency_id = move.currency_id
            else:
                order = link.sale_order_id
                link.partner_id = order.partner_id
                link.user_id = order.user_id
                link.company_id = order.company_id
                link.currency_id = order.currency_id

    def _compute_url(self):
        # The clear URL only lives in the cache of the transaction that made the link: `create`
        # puts it there. Anywhere else it cannot be rebuilt, by design.
        self.url = False

    @api.depends("move_id", "sale_order_id", "is_statement")
    def _compute_display_name(self):
        for link in self:
            if link.is_statement:
                link.display_name = _(
                    "Statement payment link for %(partner)s",
                    partner=link.partner_id.display_name,
                )
            else:
                link.display_name = _(
                    "Payment link for %(document)s",
                    document=link._paylink_document().display_name,
                )

    # === CRUD METHODS === #

    @api.model_create_multi
    def create(self, vals_list):
        """Make links for documents; everything but the documents is derived, never taken from
        the caller, so neither an amount nor a state can be forged through `create`.

        A link pays one invoice (`move_id`), one sale order (`sale_order_id`) or, as a
        statement link, the open invoices of one customer in one company and one currency
        (`move_ids`), of which the customer picks which to pay."""
        # Sending needs a role, not rights on the documents: a cashier may lack Sales rights.
        documents_list = [self._paylink_documents_from_vals(vals).sudo() for vals in vals_list]
        self._paylink_check_may_send(documents_list)
        for vals, documents in zip(vals_list, documents_list, strict=True):
            if vals.get("move_ids"):
                self._paylink_check_statement(documents)
            else:
                reason = documents._paylink_unpayable_reason()
                if reason:
                    raise UserError(reason)
            reason = documents[:1].partner_id._paylink_opt_out_reason()
            if reason:
                raise UserError(reason)
        self._paylink_revoke_live_links(documents_list, vals_list)
        now = fields.Datetime.now()
        tokens = [utils.generate_token() for __ in vals_list]
        links = super().create(
            [
                {
                    **self._paylink_document_values(vals, documents),
                    "renewed_from_id": vals.get("renewed_from_id") if self.env.su else False,
                    "renewal_client_hash": (
                        vals.get("renewal_client_hash") if self.env.su else False
                    ),
                    "reminder_days": vals.get("reminder_days", 0) if self.env.su else 0,
                    "token_hash": utils.hash_token(token),
                    "sent_at": now,
                }
                for vals, documents, token in zip(vals_list, documents_list, tokens, strict=True)
            ]
        )
        url_field = self._fields["url"]
        for link, token in zip(links, tokens, strict=True):
            base_url = link.company_id.get_base_url()
            self.env.cache.set(link, url_field, f"{base_url}{const.PAY_ROUTE_PREFIX}/{token}")
            if link.reminder_days:
                message = _(
                    "Payment reminder (%(days)s days overdue) sent to %(partner)s with a new "
                    "payment link for %(amount)s.",
                    days=link.reminder_days,
                    partner=link.partner_id.display_name,
                    amount=link._paylink_format_amount(),
                )
            else:
                message = _(
                    "Payment link for %(amount)s sent to %(partner)s.",
                    amount=link._paylink_format_amount(),
                    partner=link.partner_id.display_name,
                )
            link._paylink_log(message)
        return links

    # === ACTION METHODS === #

    def action_revoke(self):
        """Revoke links so that their URL stops working at once."""
        self.check_access("read")
        self._paylink_check_may_send(link._paylink_documents() for link in self)
        to_revoke = self.filtered(lambda link: link.state in const.ACTIVE_STATES)
        to_revoke._paylink_mark_revoked(
            _("Payment link revoked by %(user)s.", user=self.env.user.name),
            revoked_by=self.env.user,
        )
        return True

    def action_open_document(self):
        self.ensure_one()
        return self._paylink_documents()._get_records_action()

    # === BUSINESS METHODS === #

    @api.model
    def _paylink_list_action(self, domain):
        """The Payment Links list, narrowed to a document's links, for its smart button."""
        action = self.env["ir.actions.act_window"]._for_xml_id("komet_paylink.komet_paylink_action")
        action.update(domain=domain, context={"create": False})
        return action

    def _paylink_document(self):
        """The invoice or sale order of a link that pays one document (empty for a statement
        link)."""
        self.ensure_one()
        return self.move_id or self.sale_order_id

    def _paylink_documents(self):
        """What the link pays: its one document, or the invoices of a statement link."""
        self.ensure_one()
        return self.move_ids if self.is_statement else (self.move_id or self.sale_order_id)

    def _paylink_format_amount(self):
        self.ensure_one()
        return self.currency_id.format(self.amount)

    def _paylink_log(self, body):
        """Log a change of the link in the chatter of what it pays."""
        self.ensure_one()
        for document in self._paylink_documents().sudo():
            document._message_log(body=body)

    def _paylink_amount_due(self, documents=None):
        """What the customer pays now for `documents` (by default, all that the link pays and
        that can still be paid). A statement pays the invoices' residuals, as Odoo's portal
        does for several invoices: an early-payment discount is for one invoice paid alone."""
        self.ensure_one()
        if documents is None:
            documents = self._paylink_payable_documents()
        if self.is_statement:
            return sum(documents.mapped("amount_residual"))
        return sum(document._paylink_amount_due() for document in documents)

    def _paylink_statement_invoices(self):
        """The invoices a statement link lists, oldest first, each with whether it can still
        be paid: [(invoice, payable)]. Empty for a link that pays one document."""
        self.ensure_one()
        if not self.is_statement:
            return []
        invoices = self.move_ids.sudo().sorted(
            lambda move: (move.invoice_date or fields.Date.today(), move.id)
        )
        return [(invoice, not invoice._paylink_unpayable_reason()) for invoice in invoices]

    def _paylink_payable_documents(self):
        """What the link pays that can still be paid."""
        self.ensure_one()
        documents = self._paylink_documents().sudo()
        return documents.filtered(lambda document: not document._paylink_unpayable_reason())

    def _paylink_unpayable_reason(self):
        """Why nothing can be paid through this link now, or False."""
        self.ensure_one()
        if not self.is_statement:
            return self._paylink_document()._paylink_unpayable_reason()
        if not self._paylink_payable_documents():
            return _("Every invoice of this statement is paid or closed.")
        return False

    @api.model
    def _paylink_lifetime_hours(self):
        param = self.env["ir.config_parameter"].sudo().get_param(const.PARAM_LIFETIME_HOURS)
        return utils.parse_lifetime_hours(param)

    @api.model
    def _paylink_unopened_days(self):
        param = self.env["ir.config_parameter"].sudo().get_param(const.PARAM_UNOPENED_DAYS)
        return utils.parse_unopened_days(param)

    @api.model
    def _paylink_documents_from_vals(self, vals):
        """The documents `vals` asks a link for: one invoice, one sale order, or the invoices
        of a statement link."""
        if sum(bool(vals.get(field)) for field in ("move_id", "sale_order_id", "move_ids")) != 1:
            raise UserError(
                _("A payment link pays one invoice, one sale order or a customer's statement.")
            )
        if vals.get("move_ids"):
            move_ids = self._fields["move_ids"].convert_to_cache(vals["move_ids"], self.browse())
            documents = self.env["account.move"].browse(move_ids)
            if not move_ids or documents.exists() != documents:
                raise UserError(_("The invoices to pay do not exist."))
            return documents
        if vals.get("move_id"):
            documents = self.env["account.move"].browse(vals["move_id"]).exists()
        else:
            documents = self.env["sale.order"].browse(vals["sale_order_id"]).exists()
        if not documents:
            raise UserError(_("The document to pay does not exist."))
        return documents

    @api.model
    def _paylink_document_values(self, vals, documents):
        """The stored values of a new link for `documents`, as `create` derives them."""
        values = {"move_id": False, "sale_order_id": False}
        if vals.get("move_ids"):
            values.update(is_statement=True, move_ids=[Command.set(documents.ids)])
            amount = sum(documents.mapped("amount_residual"))
        else:
            field = "move_id" if documents._name == "account.move" else "sale_order_id"
            values[field] = documents.id
            amount = documents._paylink_amount_due()
        values["amount"] = amount
        return values

    @api.model
    def _paylink_check_statement(self, invoices):
        """Refuse a statement link unless its invoices are payable customer invoices of one
        customer, in one company and one currency.

        :raise UserError: with what is wrong, before anything changes.
        """
        if len(invoices.commercial_partner_id) > 1:
            raise UserError(_("A statement link pays the invoices of one customer only."))
        if len(invoices.company_id) > 1:
            raise UserError(_("A statement link pays the invoices of one company only."))
        if len(invoices.currency_id) > 1:
            raise UserError(_("A statement link pays invoices in one currency only."))
        for invoice in invoices:
            reason = invoice._paylink_unpayable_reason()
            if reason:
                raise UserError(reason)

    @api.model
    def _paylink_send_statement(self, invoices):
        """Make a statement link for `invoices` (one customer's, in one company and one
        currency) and email it to the customer.

        :return: the new link.
        :raise UserError: the invoices cannot be paid together, or the customer has no email.
        :raise AccessError: the user may not send payment links for them.
        """
        if not invoices:
            raise UserError(_("There is no open invoice to put on a statement link."))
        partner = invoices.commercial_partner_id
        if len(partner) == 1 and not partner.email:
            raise UserError(
                _("%(partner)s has no email address to send the link to.", partner=partner.name)
            )
        link = self.create({"move_ids": [Command.set(invoices.ids)]})
        link._paylink_send_email()
        return link

    def _paylink_sent_notification(self):
        """The notification that tells a staff member where these new links went."""
        message = "\n".join(
            self.env._(
                "Payment link for %(amount)s (%(count)s invoices) sent to %(email)s.",
                amount=link._paylink_format_amount(),
                count=len(link.move_ids),
                email=link.partner_id.email,
            )
            for link in self
        )
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "success",
                "message": message,
                "next": {"type": "ir.actions.act_window_close"},
            },
        }

    def _paylink_siblings_domain(self):
        """The links of what this link pays, this one included: the same document's, or the
        statement links of the same customer, company and currency."""
        self.ensure_one()
        if self.is_statement:
            return self._paylink_statement_domain(
                self.partner_id, self.company_id, self.currency_id
            )
        if self.move_id:
            return [("move_id", "=", self.move_id.id)]
        return [("sale_order_id", "=", self.sale_order_id.id)]

    @api.model
    def _paylink_statement_domain(self, partner, company, currency):
        """The statement links of one customer in one company and one currency."""
        return [
            ("is_statement", "=", True),
            ("partner_id", "=", partner.id),
            ("company_id", "=", company.id),
            ("currency_id", "=", currency.id),
        ]

    @api.model
    def _paylink_user_may_send(self, documents):
        """Whether the current user may send links for `documents` (see
        `_paylink_check_may_send`)."""
        try:
            self._paylink_check_may_send(documents)
        except AccessError:
            return False
        return True

    @api.model
    def _paylink_email_button(self, url, amount, currency, label=None):
        """The Pay now button of an email body."""
        return self.env["ir.qweb"]._render(
            "komet_paylink.email_pay_now_button",
            {
                "url": url,
                "amount": amount,
                "currency": currency,
                "label": label,
                "lifetime_hours": self._paylink_lifetime_hours(),
            },
        )

    @api.model
    def _paylink_check_may_send(self, documents):
        """The one place that decides whether the current user may send, or revoke, links for
        `documents` (invoices or sale orders): the five roles' access rights, the links' record
        rules (each company's; Sales and Sales Allocations: the documents they are the
        salesperson of) and each company's narrowing of the five roles.

        :param documents: an iterable of `account.move` and `sale.order` records.
        :raise AccessError: the user may not.
        """
        if self.env.su:
            return
        self.check_access("create")
        user_groups = self.env.user.groups_id
        documents = [document.sudo() for records in documents for document in records]
        for company in {document.company_id for document in documents}:
            if not company.komet_paylink_sender_group_ids & user_groups:
                raise AccessError(
                    _(
                        "Your role may not send payment links for %(company)s.",
                        company=company.name,
                    )
                )
        rule_domain = self.env["ir.rule"]._compute_domain(self._name, "create")
        for document in documents if rule_domain else ():
            field = "move_id" if document._name == "account.move" else "sale_order_id"
            if not self.sudo().new({field: document.id}).filtered_domain(rule_domain):
                raise AccessError(
                    _(
                        "You may not send payment links for %(document)s: it is not one of "
                        "your documents.",
                        document=document.display_name,
                    )
                )

    @api.model
    def _paylink_revoke_live_links(self, documents_list, vals_list):
        """Revoke the live links of what is about to get a new one: one live link per document,
        and one live statement link per customer, company and currency, so that a customer can
        never pay twice through one kind of link. (An invoice may be on a live link of its own
        and on a statement link: booking reads what is left to pay, and keeps any excess as
        the customer's credit.)"""
        move_ids, order_ids, statement_domains = [], [], []
        for vals, documents in zip(vals_list, documents_list, strict=True):
            if vals.get("move_ids"):
                statement_domains.append(
                    self._paylink_statement_domain(
                        documents.commercial_partner_id, documents.company_id, documents.currency_id
                    )
                )
            elif documents._name == "account.move":
                move_ids.append(documents.id)
            else:
                order_ids.append(documents.id)
        older_links = self.sudo().search(
            expression.AND(
                [
                    [("state", "in", const.ACTIVE_STATES)],
                    expression.OR(
                        [
                            [("move_id", "in", move_ids)],
                            [("sale_order_id", "in", order_ids)],
                            *statement_domains,
                        ]
                    ),
                ]
            )
        )
        older_links._paylink_mark_revoked(
            _("Older payment link revoked: a new link was sent."), revoked_by=self.env.user
        )
        # In the database before the new links, for the one_live_*_link constraints.
        older_links.flush_recordset(["state"])

    def _paylink_is_past_expiry(self, now=None):
        """Whether the link's time is over: 24 hours (a setting) after its first open or, for a
        link nobody opened, `komet_paylink_unopened_days` after it was sent."""
        self.ensure_one()
        now = now or fields.Datetime.now()
        if self.state == const.STATE_SENT and self.sent_at:
            return utils.unopened_deadline(self.sent_at, self._paylink_unopened_days()) <= now
        return bool(self.expires_at) and self.expires_at <= now

    def _paylink_register_open(self):
        """Start the link's clock on the customer's first deliberate action.

        Called for a POST from the payment page, never for a bare GET or HEAD, so that mail
        scanners that fetch every link of an email start nothing. Opening again never extends
        the lifetime. Return whether the link is still active.
        """
        self.ensure_one()
        now = fields.Datetime.now()
        if self.state in const.ACTIVE_STATES and self._paylink_is_past_expiry(now):
            self._paylink_mark_expired()
        elif self.state == const.STATE_SENT:
            self.sudo().write(
                {
                    "state": const.STATE_OPENED,
                    "opened_at": now,
                    "expires_at": utils.compute_expiry(now, self._paylink_lifetime_hours()),
                }
            )
            self._paylink_log(
                _(
                    "Payment link opened by the customer; active until %(expires)s (UTC).",
                    expires=fields.Datetime.to_string(self.expires_at),
                )
            )
        return self.state == const.STATE_OPENED

    def _paylink_mark_revoked(self, message, revoked_by=None):
        """Revoke links, by a user or, without one, by the system (e.g. when their document
        stops being payable), and log `message` in their documents' chatter."""
        values = {"state": const.STATE_REVOKED, "revoked_at": fields.Datetime.now()}
        if revoked_by:
            values["revoked_by_id"] = revoked_by.id
        self.sudo().write(values)
        for link in self:
            link._paylink_log(message)
        self.sudo().transaction_ids._paylink_expire_sessions()

    def _paylink_mark_expired(self):
        self.sudo().write({"state": const.STATE_EXPIRED, "expired_at": fields.Datetime.now()})
        for link in self:
            link._paylink_log(_("Payment link expired."))
        self.sudo().transaction_ids._paylink_expire_sessions()

    def _paylink_mark_paid(self):
        to_pay = self.filtered(lambda link: link.state != const.STATE_PAID)
        to_pay.sudo().write({"state": const.STATE_PAID, "paid_at": fields.Datetime.now()})
        for link in to_pay:
            link._paylink_log(_("Payment link paid."))
        to_pay.sudo().transaction_ids._paylink_expire_sessions()

    def _paylink_sync_with_documents(self):
        """Follow what happened to the documents outside the link: close the link of a
        document paid another way or credited in full, and expire a Checkout Session opened
        for an amount no longer due."""
        for link in self.filtered(lambda link: link.state in const.ACTIVE_STATES):
            reason = link._paylink_unpayable_reason()
            if reason:
                link._paylink_mark_revoked(_("Payment link closed: %(reason)s", reason=reason))
                continue
            payable_documents = link._paylink_payable_documents()
            for transaction in link.sudo().transaction_ids:
                documents = transaction._paylink_documents()
                payable = documents & payable_documents
                keep_amount = link._paylink_amount_due(payable) if payable == documents else 0
                transaction._paylink_expire_sessions(keep_amount=keep_amount)

    @api.model
    def _paylink_find_by_token(self, token):
        """Return the link a token opens, or an empty recordset; malformed tokens never reach
        the database."""
        if not utils.is_well_formed_token(token):
            return self.browse()
        # The link and what the page reads of it, in one query.
        link = self.sudo().search_fetch(
            [("token_hash", "=", utils.hash_token(token))],
            [
                "token_hash",
                "state",
                "is_statement",
                "move_id",
                "sale_order_id",
                "partner_id",
                "company_id",
                "currency_id",
                "amount",
                "sent_at",
                "expires_at",
                "paid_at",
            ],
            limit=1,
        )
        if not utils.token_matches(token, link.token_hash):
            return self.browse()
        link._paylink_fetch_page_fields()
        return link

    def _paylink_fetch_page_fields(self):
        """Read what the public page shows of the invoices, the customer, the company and the
        currency, in the queries the ORM would make anyway, but only the columns shown: reading
        their whole wide rows costs the page more than its queries do."""
        if not self or self.state == const.STATE_REVOKED:
            return
        self.ensure_one()
        # Odoo fetches a field and every other prefetchable field of its model on first read:
        # fetched first, these columns are all the page reads.
        (self.move_ids if self.is_statement else self.move_id).fetch(const.PAY_PAGE_MOVE_FIELDS)
        self.currency_id.fetch(const.PAY_PAGE_CURRENCY_FIELDS)
        self.company_id.fetch(const.PAY_PAGE_COMPANY_FIELDS)
        # The customer and the company's contact, which the page shows too, in one query.
        (self.partner_id | self.company_id.partner_id).fetch(const.PAY_PAGE_PARTNER_FIELDS)

    @api.model
    def _cron_expire_links(self):
        """Close the links whose lifetime is over: opened ones past their expiry, and those
        nobody opened within `komet_paylink_unopened_days` of sending."""
        now = fields.Datetime.now()
        unopened_since = now - timedelta(days=self._paylink_unopened_days())
        overdue_links = self.search(
            [
                "|",
                "&",
                ("state", "=", const.STATE_OPENED),
                ("expires_at", "<=", now),
                "&",
                ("state", "=", const.STATE_SENT),
                ("sent_at", "<=", unopened_since),
            ]
        )
        overdue_links._paylink_mark_expired()
        _logger.info("Expired %s payment link(s).", len(overdue_links))
        # Checkout Sessions of closed links that Stripe could not be asked to expire yet.
        self.env["payment.transaction"].search(
            [("komet_expire_pending", "=", True)]
        )._paylink_expire_sessions()

    @api.model
    def _paylink_reminder_steps(self):
        """The reminder steps of the settings, e.g. (3, 10, 30); none when the setting is empty
        or unreadable (the settings refuse an unreadable value; a hand-edited one stops
        reminders rather than guess)."""
        param = self.env["ir.config_parameter"].sudo().get_param(const.PARAM_REMINDER_DAYS)
        try:
            return utils.parse_reminder_days(param)
        except ValueError:
            _logger.warning("Payment reminders are off: the reminder days setting is unreadable.")
            return ()

    @api.model
    def _cron_send_reminders(self):
        """Email every overdue customer invoice again, with a fresh payment link, when it
        reaches a reminder step (days after its due date).

        Once per step: the link a reminder makes keeps its step, and an invoice whose links
        already reminded it at the highest step it reached gets nothing; after a missed run
        only that highest step is sent, never the smaller ones later. Never after payment, and
        never to a customer who opted out. Each invoice is sent in its own savepoint, so that
        one failure does not stop the others.
        """
        steps = self._paylink_reminder_steps()
        if not steps:
            return
        today = fields.Date.context_today(self)
        invoices = self.env["account.move"].search(
            [
                ("move_type", "=", "out_invoice"),
                ("state", "=", "posted"),
                ("payment_state", "in", ("not_paid", "partial")),
                ("amount_residual", ">", 0),
                ("invoice_date_due", "<=", today - timedelta(days=steps[0])),
                ("partner_id.email", "!=", False),
                ("commercial_partner_id.komet_paylink_opt_out", "=", False),
            ],
            order="invoice_date_due, id",
        )
        reminded = dict(
            self.sudo()._read_group(
                [("move_id", "in", invoices.ids), ("reminder_days", ">", 0)],
                ["move_id"],
                ["reminder_days:max"],
            )
        )
        sent = failed = 0
        for invoice in invoices:
            step = utils.reminder_step_reached(steps, (today - invoice.invoice_date_due).days)
            if step <= reminded.get(invoice, 0) or invoice._paylink_unpayable_reason():
                continue
            try:
                with self.env.cr.savepoint():
                    invoice._paylink_send_reminder(step)
                sent += 1
            except Exception:  # one invoice's failure must not stop the others
                failed += 1
                _logger.exception("Payment reminder of invoice %s failed.", invoice.id)
        _logger.info("Sent %s payment reminder(s); %s failed.", sent, failed)

    # === PUBLIC PAGE METHODS === #

    def _paylink_page_state(self):
        """What the public page shows for this link, without changing anything (a GET may be a
        mail scanner): 'active', 'processing' (a payment is being confirmed), 'paid',
        'expired' or 'gone' (unknown, revoked, or nothing left to pay)."""
        if not self or self.state == const.STATE_REVOKED:
            return "gone"
        self.ensure_one()
        if self.state == const.STATE_PAID:
            return "paid"
        invoices = self.move_ids if self.is_statement else self.move_id
        if invoices and all(move.payment_state in ("paid", "in_payment") for move in invoices):
            return "paid"
        if self.state == const.STATE_EXPIRED or self._paylink_is_past_expiry():
            return "expired"
        if self._paylink_processing_since():
            return "processing"
        if self._paylink_unpayable_reason():
            return "gone"
        return "active"

    def _paylink_customer_lang(self):
        """The customer's language for the public pages, when it is installed, else False."""
        lang = self.partner_id.lang
        return lang if lang and lang in dict(self.env["res.lang"].get_installed()) else False

    def _paylink_page_formatters(self):
        """How the public pages write amounts, quantities, dates and times: in the environment's
        language and, for times, the customer's time zone, as Odoo's format_amount, formatLang,
        format_date and format_datetime write them. The language is read once per page: those
        functions look it up again for every value, which was a fifth of the page's own time."""
        lang = get_lang(self.env)
        number_format = (
            ast.literal_eval(lang.grouping),
            lang.thousands_sep or "",
            lang.decimal_point,
        )
        locale = babel_locale_parse(lang.code)
        date_format = posix_to_ldml(lang.date_format, locale=locale)
        datetime_format = f"{date_format} {posix_to_ldml(lang.time_format, locale=locale)}"
        quantity_digits = self.env["decimal.precision"].precision_get("Product Unit of Measure")
        try:
            tz = pytz.timezone(self.env.context.get("tz") or self.partner_id.tz or "UTC")
        except pytz.UnknownTimeZoneError:
            tz = pytz.utc
        # A page shows the same amount several times (due, total, the Pay button).
        amounts = {}

        def format_money(amount, currency=self.currency_id):
            if (amount, currency) not in amounts:
                number = utils.format_number(
                    currency.round(amount), currency.decimal_places, *number_format
                )
                amounts[amount, currency] = utils.format_money(
                    number, currency.symbol, currency.position == "before"
                )
            return amounts[amount, currency]

        def format_quantity(quantity):
            rounded = float_round(quantity, precision_digits=quantity_digits)
            return utils.format_number(rounded, quantity_digits, *number_format)

        def format_page_date(value):
            return babel.dates.format_date(value, date_format, locale=locale) if value else ""

        def format_page_datetime(value):
            if not value:
                return ""
            when = pytz.utc.localize(value).astimezone(tz)
            return babel.dates.format_datetime(when, datetime_format, locale=locale)

        return {
            "format_money": format_money,
            "format_quantity": format_quantity,
            "format_page_date": format_page_date,
            "format_page_datetime": format_page_datetime,
        }

    def _paylink_page_values(self):
        """What the public pages show of the link (empty for no link): the document and its
        details, or a statement's invoices; the bill-to; and how to write amounts and times."""
        values = self._paylink_page_formatters()
        if not self:
            return {**values, "document": self.browse(), "statement_invoices": []}
        self.ensure_one()
        document = self._paylink_document()
        values.update(document=document, statement_invoices=self._paylink_statement_invoices())
        if document:
            details = document._paylink_page_details()
            lines = details.pop("lines")
            values.update(
                details,
                shown_lines=[
                    {
                        "name": line["name"],
                        "quantity": values["format_quantity"](line["quantity"]),
                        "subtotal": values["format_money"](line["subtotal"]),
                    }
                    for line in lines[: const.PAY_PAGE_MAX_LINES]
                ],
                more_lines=max(len(lines) - const.PAY_PAGE_MAX_LINES, 0),
            )
        else:
            values.update(bill_to=self.partner_id, amount_due=self._paylink_amount_due())
        bill_to = values["bill_to"]
        # Only what the address shows of the country and the state, in the page's language.
        bill_to.country_id.fetch(["name", "code", "address_format"])
        bill_to.state_id.fetch(["name", "code"])
        values["bill_to_lines"] = utils.address_lines(bill_to.name, bill_to._display_address())
        return values

    def _paylink_start_checkout(self, invoice_ids=None):
        """Start paying: register the customer's first deliberate action, then reuse the
        link's open Checkout Session for the amount due now (read from the database), or open
        one. Return the URL, as Stripe returned it, to redirect to.

        Two presses at the same instant open one session: the second waits for the first, then
        Odoo retries it on the first one's outcome.

        :param list invoice_ids: for a statement link, the invoices the customer ticked.
        :raise UserError: the link expired, a payment is processing, the choice of invoices is
                          not valid, or no checkout could be opened.
        """
        self.ensure_one()
        chosen = self._paylink_chosen_documents(invoice_ids)
        self.env.cr.execute(
            "UPDATE komet_paylink SET write_date = now() at time zone 'UTC' WHERE id = %s",
            [self.id],
            log_exceptions=False,
        )
        if not self._paylink_register_open():
            raise UserError(_("This payment link has expired."))
        self._paylink_check_not_processing()
        for document in chosen:
            reason = document._paylink_unpayable_reason()
            if reason:
                raise UserError(reason)
        amount = self._paylink_amount_due(chosen)
        url = self.sudo().transaction_ids._paylink_reuse_checkout(amount, chosen)
        if url:
            return url
        now = fields.Datetime.now()
        expires_at = utils.checkout_expiry(
            utils.to_timestamp(now), utils.to_timestamp(self.expires_at)
        )
        if expires_at is None:
            raise UserError(
                _("This payment link expires in less than 30 minutes: ask for a new one.")
            )
        # Stripe unreachable: forget the transaction, keep the customer's first open.
        with self.env.cr.savepoint():
            transaction = self._paylink_create_transaction(amount, chosen)
            return transaction._paylink_open_checkout_session(self, expires_at)

    def _paylink_chosen_documents(self, invoice_ids=None):
        """What a press of Pay pays: the link's document or, for a statement link, the
        invoices the customer ticked among the link's own.

        :raise UserError: no invoice ticked, or one that is not on the statement.
        """
        self.ensure_one()
        if not self.is_statement:
            return self._paylink_document().sudo()
        wanted_ids = set(invoice_ids or ())
        chosen = self.move_ids.sudo().filtered(lambda move: move.id in wanted_ids)
        if len(chosen) != len(wanted_ids):
            raise UserError(_("Some of the chosen invoices are not on this statement."))
        if not chosen:
            raise UserError(_("Tick at least one invoice to pay."))
        return chosen

    def _paylink_processing_since(self):
        """When the link's payment that is being confirmed (a bank debit) started, or False."""
        self.ensure_one()
        if self.state == const.STATE_SENT:
            # Pay opens the link before it makes a transaction: an unopened link has none.
            return False
        processing = (
            self.env["payment.transaction"]
            .sudo()
            .search_fetch(
                [("komet_paylink_id", "=", self.id), ("state", "in", ("pending", "authorized"))],
                ["last_state_change"],
            )
        )
        return processing and min(processing.mapped("last_state_change"))

    def _paylink_check_not_processing(self):
        since = self._paylink_processing_since()
        if since:
            raise PaylinkProcessing(
                _(
                    "Your payment is being confirmed (since %(since)s UTC): you do not need to "
                    "pay again.",
                    since=fields.Datetime.to_string(since),
                )
            )

    def _paylink_create_transaction(self, amount, documents=None):
        """A draft transaction of `amount` for `documents` (by default, what the link pays)."""
        self.ensure_one()
        documents = documents or self._paylink_documents()
        provider = self.env["payment.provider"]._paylink_provider_for(self.company_id)
        if provider.state == "disabled":
            raise UserError(_("Online payment is not available at the moment. Please contact us."))
        payment_method = self.env.ref("komet_paylink.payment_method_komet_checkout")
        document_values = (
            {"invoice_ids": [Command.set(documents.ids)]}
            if documents._name == "account.move"
            else {"sale_order_ids": [Command.set(documents.ids)]}
        )
        reference = self.env["payment.transaction"]._compute_reference(
            provider.code, **document_values
        )
        return self.env["payment.transaction"].create(
            {
                "provider_id": provider.id,
                "payment_method_id": payment_method.id,
                "reference": reference,
                "amount": amount,
                "currency_id": self.currency_id.id,
                "partner_id": self.partner_id.id,
                "operation": "online_redirect",
                "komet_paylink_id": self.id,
                **document_values,
            }
        )

    def _paylink_newer_link(self):
        """The newest link of this link's document when it is newer than this one (in any
        state), else an empty recordset."""
        self.ensure_one()
        return self.sudo().search(
            [*self._paylink_siblings_domain(), ("id", ">", self.id)], order="id desc", limit=1
        )

    def _paylink_masked_email(self):
        """The address on file the link went to, masked for a public page."""
        self.ensure_one()
        return utils.mask_email(self.partner_id.email)

    @api.model
    def _paylink_client_hash(self, client_address):
        """A keyed hash of a client address (of its /64 network for IPv6): enough to count its
        requests, never the address itself. A request without an address counts with all the
        others without one."""
        key = utils.rate_limit_client_key(client_address)
        return hmac(self.env(su=True), "komet_paylink.renewal_client", key)

    def _paylink_check_renewal_allowed(self, client_hash):
        """Refuse a renewal that another rule forbids, before anything changes.

        :raise PaylinkSuperseded: the document has a newer link than this one.
        :raise PaylinkRateLimited: the document, or the client address, asked too recently.
        """
        self.ensure_one()
        newer_link = self._paylink_newer_link()
        if newer_link:
            raise PaylinkSuperseded(
                _(
                    "A newer payment link was sent on %(date)s to %(email)s. Please use that one.",
                    date=format_datetime(
                        self.env, newer_link.sent_at, tz=self.partner_id.tz or "UTC"
                    ),
                    email=newer_link._paylink_masked_email(),
                )
            )
        now = fields.Datetime.now()
        since = now - timedelta(minutes=const.RENEWAL_COOLDOWN_MINUTES)
        domain = [
            *self._paylink_siblings_domain(),
            ("renewed_from_id", "!=", False),
            ("sent_at", ">", since),
        ]
        if self.sudo().search_count(domain, limit=1):
            raise PaylinkRateLimited(
                _("A new link was sent a few minutes ago. Please check your mailbox.")
            )
        since = now - timedelta(minutes=const.RENEWAL_CLIENT_WINDOW_MINUTES)
        domain = [("renewal_client_hash", "=", client_hash), ("sent_at", ">", since)]
        if self.sudo().search_count(domain) >= const.RENEWAL_MAX_PER_CLIENT:
            raise PaylinkRateLimited(
                _(
                    "Too many new links were requested from your network. Please try again "
                    "in an hour, or contact us."
                )
            )

    def _paylink_request_renewal(self, client_address):
        """Send a fresh link to the document's address on file, at the customer's request.

        Only the document's newest link may ask, at most once per document in
        `RENEWAL_COOLDOWN_MINUTES` and `RENEWAL_MAX_PER_CLIENT` times per client address in
        `RENEWAL_CLIENT_WINDOW_MINUTES`; a refused request changes nothing.

        :param str client_address: the address the request came from; only a keyed hash of it
            is kept.
        :return: the masked address the link went to.
        :raise PaylinkSuperseded: a newer link was sent for the document.
        :raise PaylinkRateLimited: the document or the client address asked too recently.
        :raise UserError: the link is not expired, or there is no address on file.
        """
        self.ensure_one()
        if self._paylink_page_state() != "expired":
            raise UserError(_("This payment link cannot be renewed."))
        if self.partner_id._paylink_opt_out_reason():
            raise UserError(_("We cannot send a new payment link; please contact us."))
        client_hash = self._paylink_client_hash(client_address)
        self._paylink_check_renewal_allowed(client_hash)
        if not self.partner_id.email:
            raise UserError(_("We have no email address on file; please contact us."))
        # Written at once: a concurrent request for this link waits on this row, then fails to
        # serialize and is retried by Odoo, and sees the newer link this one makes.
        self.sudo().write({"renewal_requested_at": fields.Datetime.now()})
        self.flush_recordset(["renewal_requested_at"])
        if self.state in const.ACTIVE_STATES:
            self._paylink_mark_expired()
        if self.is_statement:
            document_values = {"move_ids": [Command.set(self._paylink_payable_documents().ids)]}
        elif self.move_id:
            document_values = {"move_id": self.move_id.id}
        else:
            document_values = {"sale_order_id": self.sale_order_id.id}
        new_link = self.sudo().create(
            {**document_values, "renewed_from_id": self.id, "renewal_client_hash": client_hash}
        )
        new_link._paylink_send_email()
        body = _(
            "The customer asked for a new payment link; it was sent to %(email)s.",
            email=self.partner_id.email,
        )
        documents = new_link._paylink_documents()
        # The salesperson is notified once, even for a statement of several invoices.
        documents[:1].message_post(
            body=body,
            partner_ids=new_link.user_id.partner_id.ids,
            subtype_xmlid="mail.mt_note",
        )
        for document in documents[1:]:
            document._message_log(body=body)
        return utils.mask_email(self.partner_id.email)

    def _paylink_send_email(self):
        """Email the link to the customer; only right after `create`, while its URL is known."""
        for link in self:
            template = self.env.ref(
                "komet_paylink.mail_template_paylink_statement"
                if link.is_statement
                else "komet_paylink.mail_template_paylink"
            )
            template.with_context(
                paylink_url=link.url, paylink_lifetime_hours=link._paylink_lifetime_hours()
            ).send_mail(link.id)

    def _paylink_return_outcome(self, cancelled):
        """What the page after Checkout says: 'paid', 'processing' or 'cancelled'. It reads
        the state the webhooks left; it never books anything itself."""
        if not self:
            return "processing"
        self.ensure_one()
        if self._paylink_page_state() == "paid":
            return "paid"
        if cancelled:
            return "cancelled"
        if self.transaction_ids.filtered(lambda tx: tx.state == "error"):
            return "failed"
        return "processing"

    def _paylink_statement_pdf(self, invoice_id):
        """The PDF Odoo keeps of one invoice of a statement link, or None: a statement page
        never renders reports, it offers the PDFs the customer was already sent.

        :return: (pdf bytes, file name), or None.
        """
        self.ensure_one()
        invoice = self.sudo().move_ids.filtered(lambda move: move.id == invoice_id)
        attachment = invoice.invoice_pdf_report_id
        if not attachment:
            return None
        return attachment.raw, attachment.name or f"{invoice.name.replace('/', '_')}.pdf"

    def _paylink_document_pdf(self):
        """The document's PDF for the customer to download from the page: a stored copy, so
        that a public URL never renders a report without bound. An invoice's own PDF when Odoo
        keeps one; otherwise a copy kept on the link, rendered again only after its document
        changed, and at most once in `PDF_RERENDER_MIN_MINUTES`.

        :return: (pdf bytes, file name)
        """
        self.ensure_one()
        link_sudo = self.sudo()
        document = link_sudo._paylink_document()
        filename = f"{document.name.replace('/', '_')}.pdf"
        invoice_pdf = link_sudo.move_id.invoice_pdf_report_id
        if invoice_pdf:
            return invoice_pdf.raw, invoice_pdf.name or filename
        now = fields.Datetime.now()
        rendered_at = link_sudo.pdf_rendered_at
        is_stale = rendered_at and document.write_date > rendered_at
        may_render = not rendered_at or rendered_at <= now - timedelta(
            minutes=const.PDF_RERENDER_MIN_MINUTES
        )
        if link_sudo.pdf_file and not (is_stale and may_render):
            return base64.b64decode(link_sudo.pdf_file), filename
        if link_sudo.move_id:
            report = "account.account_invoices"
        else:
            report = "sale.action_report_saleorder"
        pdf = self.env["ir.actions.report"].sudo()._render_qweb_pdf(report, document.ids)[0]
        link_sudo.write({"pdf_file": base64.b64encode(pdf), "pdf_rendered_at": now})
        return pdf, filename
