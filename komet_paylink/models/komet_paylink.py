import base64
import logging
from datetime import timedelta

from odoo import Command, _, api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import format_datetime
from odoo.tools.misc import hmac

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
    _rec_names_search = ["move_id", "sale_order_id", "partner_id"]

    _sql_constraints = [
        ("token_hash_unique", "UNIQUE(token_hash)", "A payment link token must be unique."),
        (
            "one_document",
            "CHECK((move_id IS NULL) != (sale_order_id IS NULL))",
            "A payment link pays either an invoice or a sale order.",
        ),
        # Also what stops two staff sending a first link for a document at the same instant.
        (
            "one_live_invoice_link",
            "EXCLUDE (move_id WITH =) WHERE (state IN ('sent', 'opened'))",
            "Another payment link was just sent for this document. Reload it and try again.",
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
    )
    def _compute_document_values(self):
        for link in self:
            if link.move_id:
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

    @api.depends("move_id", "sale_order_id")
    def _compute_display_name(self):
        for link in self:
            document = link._paylink_document()
            link.display_name = _("Payment link for %(document)s", document=document.display_name)

    # === CRUD METHODS === #

    @api.model_create_multi
    def create(self, vals_list):
        """Make links for documents; everything but the document is derived, never taken from
        the caller, so neither an amount nor a state can be forged through `create`."""
        # Sending needs a role, not rights on the document: a cashier may lack Sales rights.
        documents = [self._paylink_document_from_vals(vals).sudo() for vals in vals_list]
        if not all(documents):
            raise UserError(_("The document to pay does not exist."))
        self._paylink_check_may_send(documents)
        for document in documents:
            reason = document._paylink_unpayable_reason()
            if reason:
                raise UserError(reason)
        self._paylink_revoke_live_links(documents)
        now = fields.Datetime.now()
        tokens = [utils.generate_token() for __ in vals_list]
        links = super().create(
            [
                {
                    "renewed_from_id": vals.get("renewed_from_id") if self.env.su else False,
                    "renewal_client_hash": (
                        vals.get("renewal_client_hash") if self.env.su else False
                    ),
                    "move_id": document.id if document._name == "account.move" else False,
                    "sale_order_id": document.id if document._name == "sale.order" else False,
                    "amount": document._paylink_amount_due(),
                    "token_hash": utils.hash_token(token),
                    "sent_at": now,
                }
                for vals, document, token in zip(vals_list, documents, tokens, strict=True)
            ]
        )
        url_field = self._fields["url"]
        for link, token in zip(links, tokens, strict=True):
            base_url = link.company_id.get_base_url()
            self.env.cache.set(link, url_field, f"{base_url}{const.PAY_ROUTE_PREFIX}/{token}")
            link._paylink_log(
                _(
                    "Payment link for %(amount)s sent to %(partner)s.",
                    amount=link._paylink_format_amount(),
                    partner=link.partner_id.display_name,
                )
            )
        return links

    # === ACTION METHODS === #

    def action_revoke(self):
        """Revoke links so that their URL stops working at once."""
        self.check_access("read")
        self._paylink_check_may_send(link._paylink_document() for link in self)
        to_revoke = self.filtered(lambda link: link.state in const.ACTIVE_STATES)
        to_revoke._paylink_mark_revoked(
            _("Payment link revoked by %(user)s.", user=self.env.user.name),
            revoked_by=self.env.user,
        )
        return True

    def action_open_document(self):
        self.ensure_one()
        return self._paylink_document()._get_records_action()

    # === BUSINESS METHODS === #

    @api.model
    def _paylink_list_action(self, domain):
        """The Payment Links list, narrowed to a document's links, for its smart button."""
        action = self.env["ir.actions.act_window"]._for_xml_id("komet_paylink.komet_paylink_action")
        action.update(domain=domain, context={"create": False})
        return action

    def _paylink_document(self):
        self.ensure_one()
        return self.move_id or self.sale_order_id

    def _paylink_format_amount(self):
        self.ensure_one()
        return self.currency_id.format(self.amount)

    def _paylink_log(self, body):
        """Log a change of the link in its document's chatter."""
        self.ensure_one()
        self._paylink_document().sudo()._message_log(body=body)

    @api.model
    def _paylink_lifetime_hours(self):
        param = self.env["ir.config_parameter"].sudo().get_param(const.PARAM_LIFETIME_HOURS)
        return utils.parse_lifetime_hours(param)

    @api.model
    def _paylink_unopened_days(self):
        param = self.env["ir.config_parameter"].sudo().get_param(const.PARAM_UNOPENED_DAYS)
        return utils.parse_unopened_days(param)

    @api.model
    def _paylink_document_from_vals(self, vals):
        if bool(vals.get("move_id")) == bool(vals.get("sale_order_id")):
            raise UserError(_("A payment link pays either one invoice or one sale order."))
        if vals.get("move_id"):
            return self.env["account.move"].browse(vals["move_id"]).exists()
        return self.env["sale.order"].browse(vals["sale_order_id"]).exists()

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
    def _paylink_revoke_live_links(self, documents):
        """Revoke the live links of documents about to get a new one: one live link per
        document, so that a customer can never pay twice."""
        move_ids = [document.id for document in documents if document._name == "account.move"]
        order_ids = [document.id for document in documents if document._name == "sale.order"]
        older_links = self.sudo().search(
            [
                ("state", "in", const.ACTIVE_STATES),
                "|",
                ("move_id", "in", move_ids),
                ("sale_order_id", "in", order_ids),
            ]
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
            document = link._paylink_document()
            reason = document._paylink_unpayable_reason()
            if reason:
                link._paylink_mark_revoked(_("Payment link closed: %(reason)s", reason=reason))
            else:
                link.sudo().transaction_ids._paylink_expire_sessions(
                    keep_amount=document._paylink_amount_due()
                )

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
        return link

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

    # === PUBLIC PAGE METHODS === #

    def _paylink_page_state(self):
        """What the public page shows for this link, without changing anything (a GET may be a
        mail scanner): 'active', 'processing' (a payment is being confirmed), 'paid',
        'expired' or 'gone' (unknown, revoked, or nothing left to pay)."""
        if not self or self.state == const.STATE_REVOKED:
            return "gone"
        self.ensure_one()
        document = self._paylink_document()
        if self.state == const.STATE_PAID:
            return "paid"
        if self.move_id and self.move_id.payment_state in ("paid", "in_payment"):
            return "paid"
        if self.state == const.STATE_EXPIRED or self._paylink_is_past_expiry():
            return "expired"
        if self._paylink_processing_since():
            return "processing"
        if document._paylink_unpayable_reason():
            return "gone"
        return "active"

    def _paylink_start_checkout(self):
        """Start paying: register the customer's first deliberate action, then reuse the
        link's open Checkout Session for the amount due now (read from the database), or open
        one. Return the URL, as Stripe returned it, to redirect to.

        Two presses at the same instant open one session: the second waits for the first, then
        Odoo retries it on the first one's outcome.

        :raise UserError: the link expired, a payment is processing, or no checkout could be
                          opened.
        """
        self.ensure_one()
        self.env.cr.execute(
            "UPDATE komet_paylink SET write_date = now() at time zone 'UTC' WHERE id = %s",
            [self.id],
            log_exceptions=False,
        )
        if not self._paylink_register_open():
            raise UserError(_("This payment link has expired."))
        self._paylink_check_not_processing()
        document = self._paylink_document()
        reason = document._paylink_unpayable_reason()
        if reason:
            raise UserError(reason)
        amount = document._paylink_amount_due()
        url = self.sudo().transaction_ids._paylink_reuse_checkout(amount)
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
            transaction = self._paylink_create_transaction(amount)
            return transaction._paylink_open_checkout_session(self, expires_at)

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

    def _paylink_create_transaction(self, amount):
        self.ensure_one()
        provider = self.env["payment.provider"]._paylink_provider_for(self.company_id)
        if provider.state == "disabled":
            raise UserError(_("Online payment is not available at the moment. Please contact us."))
        payment_method = self.env.ref("komet_paylink.payment_method_komet_checkout")
        document_values = (
            {"invoice_ids": [Command.set(self.move_id.ids)]}
            if self.move_id
            else {"sale_order_ids": [Command.set(self.sale_order_id.ids)]}
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
        field = "move_id" if self.move_id else "sale_order_id"
        return self.sudo().search(
            [(field, "=", self[field].id), ("id", ">", self.id)], order="id desc", limit=1
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
            ("renewed_from_id", "!=", False),
            ("sent_at", ">", since),
            ("move_id", "=", self.move_id.id),
            ("sale_order_id", "=", self.sale_order_id.id),
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
        document = self._paylink_document()
        field = "move_id" if self.move_id else "sale_order_id"
        new_link = self.sudo().create(
            {field: document.id, "renewed_from_id": self.id, "renewal_client_hash": client_hash}
        )
        new_link._paylink_send_email()
        salesperson = new_link.user_id
        document.message_post(
            body=_(
                "The customer asked for a new payment link; it was sent to %(email)s.",
                email=self.partner_id.email,
            ),
            partner_ids=salesperson.partner_id.ids,
            subtype_xmlid="mail.mt_note",
        )
        return utils.mask_email(self.partner_id.email)

    def _paylink_send_email(self):
        """Email the link to the customer; only right after `create`, while its URL is known."""
        template = self.env.ref("komet_paylink.mail_template_paylink")
        for link in self:
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
