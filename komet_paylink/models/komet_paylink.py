import logging
from datetime import timedelta

from odoo import _, api, fields, models
from odoo.exceptions import UserError
from odoo.osv import expression
from odoo.tools import format_datetime
from odoo.tools.misc import hmac

from .. import const, utils
from ..exceptions import PaylinkProcessing, PaylinkRateLimited, PaylinkSuperseded

_logger = logging.getLogger(__name__)


class KometPaylink(models.Model):
    """A payment link's life: token, states, first open, expiry, renewal, checkout entry. What
    is due and whether it can be paid, its documents answer (`komet.paylink.document.mixin`)."""

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
    # The customer, company and currency the link was made for: set once, never followed, so
    # that a document moved to another customer drops out instead of taking the link along.
    partner_id = fields.Many2one(string="Customer", comodel_name="res.partner", readonly=True)
    company_id = fields.Many2one(comodel_name="res.company", readonly=True, index=True)
    currency_id = fields.Many2one(comodel_name="res.currency", readonly=True)
    user_id = fields.Many2one(
        string="Salesperson",
        comodel_name="res.users",
        compute="_compute_user_id",
        store=True,
        readonly=True,
        index=True,
    )
    amount = fields.Monetary(
        help="The amount due when the link was sent.",
        currency_field="currency_id",
        readonly=True,
        copy=False,
    )
    token_hash = fields.Char(readonly=True, copy=False, groups="base.group_system")
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
        "move_id.invoice_user_id",
        "sale_order_id.user_id",
        "move_ids.invoice_user_id",
        "partner_id.user_id",
    )
    def _compute_user_id(self):
        for link in self:
            if link.is_statement:
                salespeople = link.move_ids.invoice_user_id
                link.user_id = salespeople if len(salespeople) == 1 else link.partner_id.user_id
            else:
                link.user_id = link.move_id.invoice_user_id or link.sale_order_id.user_id

    def _compute_url(self):
        # Only a hash of the token is kept: `create` puts the clear URL in its own cache.
        self.url = False

    @api.depends("move_id", "sale_order_id", "is_statement")
    def _compute_display_name(self):
        for link in self:
            if link.is_statement:
                link.display_name = _(
                    "Statement payment link for %(partner)s", partner=link.partner_id.display_name
                )
            else:
                link.display_name = _(
                    "Payment link for %(document)s",
                    document=link._paylink_document().display_name,
                )

    # === CRUD METHODS === #

    @api.model_create_multi
    def create(self, vals_list):
        """Make links for one invoice, one sale order or a statement's invoices (`move_ids`);
        all else is derived, never taken from the caller, so nothing can be forged.

        :raise AccessError: the user may not send links for the documents.
        :raise UserError: why a document cannot get a link.
        """
        documents_list = [self._paylink_documents_from_vals(vals) for vals in vals_list]
        for vals, documents in zip(vals_list, documents_list, strict=True):
            documents._paylink_check_new_link(statement=bool(vals.get("move_ids")))
        documents_list = [documents.sudo() for documents in documents_list]
        for vals, documents in zip(vals_list, documents_list, strict=True):
            documents._paylink_revoke_live_links(statement=bool(vals.get("move_ids")))
        tokens = [utils.generate_token() for __ in vals_list]
        as_system = {"renewed_from_id", "renewal_client_hash", "reminder_days"}
        links = super().create(
            [
                {
                    **(
                        documents._paylink_statement_link_values()
                        if vals.get("move_ids")
                        else documents._paylink_new_link_values()
                    ),
                    **({key: vals[key] for key in as_system & set(vals)} if self.env.su else {}),
                    "token_hash": utils.hash_token(token),
                    "sent_at": fields.Datetime.now(),
                }
                for vals, documents, token in zip(vals_list, documents_list, tokens, strict=True)
            ]
        )
        for link, token in zip(links, tokens, strict=True):
            url = f"{link.company_id.get_base_url()}{const.PAY_ROUTE_PREFIX}/{token}"
            self.env.cache.set(link, self._fields["url"], url)
            link._paylink_linked_documents()._paylink_log_link_sent(link)
        return links

    # === ACTION METHODS === #

    def action_revoke(self):
        """Revoke links so that their URL stops working at once."""
        self.check_access("read")
        for link in self:
            link._paylink_linked_documents().with_env(self.env)._paylink_check_may_send()
        self.filtered(lambda link: link.state in const.ACTIVE_STATES)._paylink_mark_revoked(
            _("Payment link revoked by %(user)s.", user=self.env.user.name),
            revoked_by=self.env.user,
        )
        return True

    def action_open_document(self):
        self.ensure_one()
        return self._paylink_linked_documents()._get_records_action()

    # === BUSINESS METHODS - WHAT THE LINK PAYS === #

    def _paylink_document(self):
        """The invoice or sale order of a link that pays one document (none for a statement)."""
        self.ensure_one()
        return self.move_id or self.sale_order_id

    def _paylink_linked_documents(self):
        """Every document the link was made for: its one document, or a statement's invoices."""
        self.ensure_one()
        return self.move_ids if self.is_statement else self._paylink_document()

    def _paylink_owner(self):
        """Whom the link bills, set once at its making: (commercial partner, company,
        currency)."""
        self.ensure_one()
        return self.partner_id.commercial_partner_id, self.company_id, self.currency_id

    def _paylink_documents(self):
        """What the link pays, asked of its documents on every read: one moved elsewhere drops
        out of the page, the PDF and the charge."""
        self.ensure_one()
        return self._paylink_linked_documents()._paylink_on_link(self)

    def _paylink_payable_documents(self):
        """What can be paid through the link now."""
        self.ensure_one()
        return self._paylink_documents()._paylink_payable_on(self)

    def _paylink_amount_due(self, documents=None):
        """What the customer pays now for `documents` (by default, all that can be paid now)."""
        self.ensure_one()
        if documents is None:
            documents = self._paylink_payable_documents()
        return documents._paylink_amount_due_together(self.is_statement)

    def _paylink_format_amount(self):
        self.ensure_one()
        return self.currency_id.format(self.amount)

    def _paylink_log(self, body):
        """Log a change of the link in the chatter of what it pays."""
        self.ensure_one()
        self._paylink_linked_documents()._paylink_log(body)

    # === BUSINESS METHODS - MAKING LINKS === #
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
            ids = self._fields["move_ids"].convert_to_cache(vals["move_ids"], self.browse())
            documents = self.env["account.move"].browse(ids)
        elif vals.get("move_id"):
            documents = self.env["account.move"].browse(vals["move_id"])
        else:
            documents = self.env["sale.order"].browse(vals["sale_order_id"])
        if not documents or documents.exists() != documents:
            raise UserError(_("The document to pay does not exist."))
        return documents

    def _paylink_siblings_domain(self):
        """The links of what this link pays, this one included: the same document's, or the
        statement links of the same customer, company and currency."""
        self.ensure_one()
        if self.is_statement:
            return [
                ("is_statement", "=", True),
                ("partner_id", "=", self.partner_id.id),
                ("company_id", "=", self.company_id.id),
                ("currency_id", "=", self.currency_id.id),
            ]
        document = self._paylink_document()
        return [(document._paylink_link_field, "=", document.id)]

    # === BUSINESS METHODS - THE LINK'S LIFE === #

    @api.model
    def _paylink_find_by_token(self, token):
        """The link a token opens (sudoed: the token is the check); malformed never queried."""
        if not utils.is_well_formed_token(token):
            return self.browse()
        # The link and what the page reads of it, in one query.
        link = self.sudo().search_fetch(
            [("token_hash", "=", utils.hash_token(token))], const.PAY_PAGE_LINK_FIELDS, limit=1
        )
        return link if utils.token_matches(token, link.token_hash) else self.browse()

    def _paylink_is_past_expiry(self, now=None):
        """Whether the link's time is over: `lifetime_hours` after its first open, or, unopened,
        `unopened_days` after it was sent."""
        self.ensure_one()
        now = now or fields.Datetime.now()
        if self.state == const.STATE_SENT and self.sent_at:
            return utils.unopened_deadline(self.sent_at, self._paylink_unopened_days()) <= now
        return bool(self.expires_at) and self.expires_at <= now

    def _paylink_register_open(self):
        """Start the clock on the customer's first deliberate action (a POST, never a GET or
        HEAD, which mail scanners send), never extending it. Return whether still active."""
        self.ensure_one()
        now = fields.Datetime.now()
        if self.state in const.ACTIVE_STATES and self._paylink_is_past_expiry(now):
            self._paylink_mark_expired()
        elif self.state == const.STATE_SENT:
            expires_at = utils.compute_expiry(now, self._paylink_lifetime_hours())
            self.sudo().write(
                {"state": const.STATE_OPENED, "opened_at": now, "expires_at": expires_at}
            )
            self._paylink_log(
                _(
                    "Payment link opened by the customer; active until %(expires)s (UTC).",
                    expires=fields.Datetime.to_string(expires_at),
                )
            )
        return self.state == const.STATE_OPENED

    def _paylink_mark_revoked(self, message, revoked_by=None):
        """Revoke links, by a user or by the system (`revoked_by` empty), with `message` in the
        chatter."""
        values = {"state": const.STATE_REVOKED, "revoked_at": fields.Datetime.now()}
        if revoked_by:
            values["revoked_by_id"] = revoked_by.id
        self._paylink_close(values, message)

    def _paylink_mark_expired(self):
        self._paylink_close(
            {"state": const.STATE_EXPIRED, "expired_at": fields.Datetime.now()},
            _("Payment link expired."),
        )

    def _paylink_mark_paid(self):
        self.filtered(lambda link: link.state != const.STATE_PAID)._paylink_close(
            {"state": const.STATE_PAID, "paid_at": fields.Datetime.now()}, _("Payment link paid.")
        )

    def _paylink_close(self, values, message):
        """Write a closed state, say so in the chatter and expire the open checkouts."""
        self.sudo().write(values)
        for link in self:
            link._paylink_log(message)
        self.sudo().transaction_ids._paylink_expire_sessions()

    @api.model
    def _cron_expire_links(self, batch_size=const.EXPIRY_BATCH_SIZE):
        """Close the links whose lifetime is over, a batch per call while some are left
        (`ir.cron._notify_progress`) and the run's time (`ir.cron._paylink_run_is_over`), and
        retry expiring the sessions Stripe did not expire."""
        cron = self.env.ref("komet_paylink.ir_cron_expire_links")
        if self.env["ir.cron"]._paylink_run_is_over():
            cron._trigger()  # a new run, once this worker has reported to its watchdog
            return
        now = fields.Datetime.now()
        unopened_since = now - timedelta(days=self._paylink_unopened_days())
        domain = expression.OR(
            [
                [("state", "=", const.STATE_OPENED), ("expires_at", "<=", now)],
                [("state", "=", const.STATE_SENT), ("sent_at", "<=", unopened_since)],
            ]
        )
        overdue_links = self.search(domain, limit=batch_size)
        overdue_links._paylink_mark_expired()
        _logger.info("Expired %s payment link(s).", len(overdue_links))
        self.env["payment.transaction"].search(
            [("komet_expire_pending", "=", True)], limit=batch_size
        )._paylink_expire_sessions()
        remaining = self.search_count(domain)
        self.env["ir.cron"]._notify_progress(done=len(overdue_links), remaining=remaining)
        if remaining:  # also when run by hand, outside the scheduler's loop
            cron._trigger()

    def _paylink_page_state(self):
        """What the public page shows (`const.PAGE_*`), changing nothing (a GET may be a mail
        scanner). A payment on its way comes before expiry: no Pay, no new link meanwhile."""
        if not self or self.state == const.STATE_REVOKED:
            return const.PAGE_GONE
        self.ensure_one()
        linked = self._paylink_linked_documents().sudo()

        def documents():  # one at a time, up to the first answer: a statement lists hundreds
            return (document for document in linked if document._paylink_on_link(self))

        if not any(documents()):
            return const.PAGE_GONE
        if self.state == const.STATE_PAID or (
            linked._name == "account.move"
            and all(move.payment_state in ("paid", "in_payment") for move in documents())
        ):
            return const.PAGE_PAID
        # On the link already: what is left to ask is whether one can be paid now.
        payable = any(not document._paylink_unpayable_reason() for document in documents())
        if not payable and self._paylink_documents()._paylink_processing_since_on(self):
            return const.PAGE_PROCESSING
        if self.state == const.STATE_EXPIRED or self._paylink_is_past_expiry():
            return const.PAGE_EXPIRED
        return const.PAGE_ACTIVE if payable else const.PAGE_GONE

    def _paylink_pdf(self, invoice_id=None):
        """The PDF the page offers: the document's or one statement invoice's, or None."""
        self.ensure_one()
        documents = self._paylink_documents()
        if self.is_statement:
            documents = documents.filtered(lambda move: move.id == invoice_id)
        return documents._paylink_pdf(self) if len(documents) == 1 else None

    # === BUSINESS METHODS - CHECKOUT === #

    def _paylink_start_checkout(self, invoice_ids=None, amount_text=None, instalment=False):
        """Start paying what is due now (read from the database), or the part of it typed in
        `amount_text`, on the customer's first deliberate action; return the Checkout URL.
        Presses at once take turns (`_paylink_hold`).

        :param list invoice_ids: for a statement link, the invoices the customer ticked.
        :param bool instalment: pay the instalment due now rather than everything.
        :raise PaylinkBadAmount: the amount typed (or instalment) is refused; nothing changed.
        :raise PaylinkProcessing: a payment of the documents is being confirmed.
        :raise UserError: the link expired, or the choice of invoices cannot be paid.
        :raise ValidationError: Stripe could not be reached.
        """
        self.ensure_one()
        chosen = self._paylink_chosen_documents(invoice_ids)
        chosen._paylink_hold(link=self)
        amount = self._paylink_amount_due(chosen)
        if instalment:
            amount = chosen._paylink_instalment_amount(self)
        elif amount_text is not None:
            amount = chosen._paylink_partial_amount(self, amount_text, amount)
        if not self._paylink_register_open():
            raise UserError(_("This payment link has expired."))
        for document in chosen:
            if reason := document._paylink_closed_reason(self):
                raise UserError(reason)
            if reason := document._paylink_processing_reason():
                raise PaylinkProcessing(reason)
        return self.env["payment.transaction"]._paylink_checkout_url(self, amount, chosen)

    def _paylink_chosen_documents(self, invoice_ids=None):
        """What a press of Pay pays: the link's document, or a statement's ticked invoices
        (:raise UserError: nothing to pay, or an invoice that is not on the statement)."""
        self.ensure_one()
        documents = self._paylink_documents()
        if not self.is_statement:
            if not documents:
                raise UserError(_("This payment link no longer pays anything."))
            return documents
        wanted_ids = set(invoice_ids or ())
        chosen = documents.filtered(lambda move: move.id in wanted_ids)
        if len(chosen) != len(wanted_ids):
            raise UserError(_("Some of the chosen invoices are not on this statement."))
        if not chosen:
            raise UserError(_("Tick at least one invoice to pay."))
        return chosen

    # === BUSINESS METHODS - RENEWAL === #

    def _paylink_newer_link(self):
        """The newest link of what this link pays, when newer than this one (in any state)."""
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
        """A keyed hash of a client address (its /64 for IPv6): never the address itself."""
        key = utils.rate_limit_client_key(client_address)
        return hmac(self.env(su=True), "komet_paylink.renewal_client", key)

    def _paylink_check_renewal_allowed(self, client_hash):
        """Allow a renewal from the newest link only, once per document in the cooldown and a
        few times per client address in a window (see `const.RENEWAL_*`).

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
        domain = [*self._paylink_siblings_domain(), ("renewed_from_id", "!=", False)]
        if self.sudo().search_count([*domain, ("sent_at", ">", since)], limit=1):
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
        """Send a fresh link to the address on file, at the customer's request from an expired
        link (see `_paylink_check_renewal_allowed`); a refused request changes nothing.

        :param str client_address: where the request came from; only a keyed hash is kept.
        :return: the masked address the link went to.
        :raise PaylinkSuperseded: a newer link was sent for the document.
        :raise PaylinkRateLimited: the document or the client address asked too recently.
        :raise UserError: not expired (or a payment is on its way), or no address on file.
        """
        self.ensure_one()
        if self._paylink_page_state() != const.PAGE_EXPIRED:
            raise UserError(_("This payment link cannot be renewed."))
        if (
            self.partner_id._paylink_opt_out_reason()
            or self.company_id._paylink_payment_unavailable_reason()
        ):
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
        new_link = self._paylink_payable_documents()._paylink_email_new_link(
            statement=self.is_statement, renewed_from_id=self.id, renewal_client_hash=client_hash
        )
        body = _(
            "The customer asked for a new payment link; it was sent to %(email)s.",
            email=self.partner_id.email,
        )
        new_link._paylink_linked_documents()._paylink_notify_salesperson(body, new_link.user_id)
        return utils.mask_email(self.partner_id.email)
