from odoo import _, http
from odoo.exceptions import UserError, ValidationError
from odoo.http import request

from .. import const, utils
from ..exceptions import PaylinkBadAmount, PaylinkRateLimited, PaylinkRetryLater, PaylinkSuperseded
from . import page_values


class PaylinkController(http.Controller):
    _pay_route = const.PAY_ROUTE_PREFIX
    _return_route = const.RETURN_ROUTE
    _webhook_route = const.WEBHOOK_ROUTE
    _session_key = "komet_paylink_checkout_link_id"

    # === PAYMENT PAGE === #
    # Not `website=True`: without the website module it only costs queries (the frontend's
    # language matching); `_render` sets the customer's language itself.

    @http.route(
        f"{_pay_route}/<string:token>",
        type="http",
        auth="public",
        methods=["GET", "HEAD"],
        sitemap=False,
    )
    def pay_page(self, token, **kwargs):
        """Show the link; a GET or HEAD changes nothing, as mail scanners fetch every link."""
        link_sudo = self._find_link(token)
        return self._render_link_page(link_sudo, token)

    @http.route(
        f"{_pay_route}/<string:token>/checkout",
        type="http",
        auth="public",
        methods=["POST"],
        sitemap=False,
    )
    def pay_checkout(self, token, **kwargs):
        link_sudo = self._find_link(token)
        if link_sudo._paylink_page_state() != const.PAGE_ACTIVE:
            return self._render_link_page(link_sudo, token)
        ticked = request.httprequest.form.getlist("invoice_ids")
        invoice_ids = utils.parse_ids(ticked)
        if invoice_ids is None:
            error = _("The choice of invoices is not valid.")
            if len(ticked) > const.STATEMENT_MAX_INVOICES:
                error = _(
                    "One payment pays at most %(count)s invoices: untick some, and pay them next.",
                    count=const.STATEMENT_MAX_INVOICES,
                )
            return self._render_link_page(link_sudo, token, error=error, status=400)
        # Absent: everything due (or the ticked invoices); typed: the part to pay now. A
        # statement's one form always sends the field: left empty, it pays the ticked invoices.
        amount_text = request.httprequest.form.get("amount")
        if link_sudo.is_statement and not (amount_text or "").strip():
            amount_text = "" if request.httprequest.form.get("pay_amount") else None
        try:
            checkout_url = link_sudo._paylink_start_checkout(
                invoice_ids=invoice_ids,
                amount_text=amount_text,
                instalment=bool(request.httprequest.form.get("instalment")),
            )
        except PaylinkBadAmount as error:
            return self._render_link_page(
                link_sudo,
                token,
                error=str(error),
                status=400,
                amount_typed=amount_text,
                ticked_ids=invoice_ids,
            )
        except PaylinkRateLimited as error:
            return self._render_link_page(link_sudo, token, error=str(error), status=429)
        except ValidationError as error:
            return self._render_link_page(link_sudo, token, error=str(error), status=503)
        except UserError as error:
            return self._render_link_page(link_sudo, token, error=str(error))
        request.session[self._session_key] = link_sudo.id
        return request.redirect(checkout_url, code=303, local=False)

    @http.route(
        f"{_pay_route}/<string:token>/renew",
        type="http",
        auth="public",
        methods=["POST"],
        sitemap=False,
    )
    def pay_renew(self, token, **kwargs):
        """Email a fresh link to the address on file, never to one typed on the page."""
        link_sudo = self._find_link(token)
        if link_sudo._paylink_page_state() != const.PAGE_EXPIRED:
            return self._render_link_page(link_sudo, token)
        try:
            masked_email = link_sudo._paylink_request_renewal(request.httprequest.remote_addr)
        except PaylinkSuperseded:
            # The page itself says when and where the newer link went.
            return self._render_link_page(link_sudo, token)
        except PaylinkRateLimited as error:
            return self._render_link_page(link_sudo, token, error=str(error), status=429)
        except UserError as error:
            return self._render_link_page(link_sudo, token, error=str(error))
        return self._render_link_page(link_sudo, token, status=200, renewed_to=masked_email)

    @http.route(
        f"{_pay_route}/<string:token>/pdf",
        type="http",
        auth="public",
        methods=["GET"],
        sitemap=False,
    )
    def pay_pdf(self, token, invoice=None, **kwargs):
        """Serve the document's stored PDF (for a statement link, the stored PDF of one of its
        invoices), only to a link that is live or paid."""
        link_sudo = self._find_link(token)
        state = link_sudo._paylink_page_state()
        if state == const.PAGE_GONE:
            return self._render_not_found()
        if state == const.PAGE_EXPIRED:
            return self._render_link_page(link_sudo, token)
        invoice_ids = utils.parse_ids([invoice]) if link_sudo.is_statement else [None]
        pdf_and_name = invoice_ids and link_sudo._paylink_pdf(invoice_ids[0])
        if not pdf_and_name:
            return self._render_not_found()
        return self._pdf_response(*pdf_and_name)

    @http.route(
        f"{_pay_route}/<string:token>/receipt",
        type="http",
        auth="public",
        methods=["GET"],
        sitemap=False,
    )
    def pay_receipt(self, token, payment=None, **kwargs):
        """Serve Odoo's payment receipt of a payment made through the link (the newest by
        default), only once the link is paid; anything else is answered as an unknown token."""
        link_sudo = self._find_link(token)
        if link_sudo._paylink_page_state() != const.PAGE_PAID:
            return self._render_not_found()
        payments_sudo = page_values.receipt_payments(link_sudo)
        if payment is not None:
            payment_ids = utils.parse_ids([payment]) or []
            payments_sudo = payments_sudo.filtered(lambda paid: paid.id in payment_ids)
        if not payments_sudo:
            return self._render_not_found()
        return self._pdf_response(*payments_sudo[-1]._paylink_receipt_pdf())

    @http.route(
        f"{_pay_route}/<path:anything>",
        type="http",
        auth="public",
        methods=None,  # any method: no 405 that would tell a path exists
        csrf=False,
        sitemap=False,
    )
    def pay_unknown(self, anything, **kwargs):
        """Answer every other path under /pay/ exactly as an unknown token."""
        return self._render_not_found()

    # === BACK FROM CHECKOUT === #

    @http.route(
        _return_route, type="http", auth="public", methods=["GET"], website=True, sitemap=False
    )
    def pay_return(self, cancelled=None, session_id=None, attempt=None, **kwargs):
        """Say how the attempt that came back went; never book anything: only verified
        webhooks do."""
        link_sudo = self._checkout_link_from_session()
        transaction = page_values.returned_transaction(link_sudo, session_id, attempt)
        outcome = page_values.return_outcome(link_sudo, transaction, bool(cancelled))
        return self._render(
            "komet_paylink.pay_return", link_sudo, outcome=outcome, attempt=transaction.id
        )

    @http.route(
        f"{_return_route}/retry",
        type="http",
        auth="public",
        methods=["POST"],
        website=True,
        sitemap=False,
    )
    def pay_retry(self, attempt=None, **kwargs):
        """Pay again what the attempt that came back was to pay (the same invoices, or the
        same part of one)."""
        link_sudo = self._checkout_link_from_session()
        if link_sudo._paylink_page_state() != const.PAGE_ACTIVE:
            return self._render("komet_paylink.pay_return", link_sudo, outcome=const.RETURN_CLOSED)
        transaction = page_values.returned_transaction(link_sudo, attempt=attempt)
        try:
            invoice_ids = page_values.retry_invoice_ids(link_sudo, transaction)
            checkout_url = link_sudo._paylink_start_checkout(
                invoice_ids=invoice_ids, **page_values.retry_part(link_sudo, transaction)
            )
        except UserError as error:
            return self._render(
                "komet_paylink.pay_return",
                link_sudo,
                outcome=const.RETURN_CANCELLED,
                error=str(error),
                attempt=transaction.id,
            )
        return request.redirect(checkout_url, code=303, local=False)

    # === STRIPE WEBHOOK === #

    @http.route(
        _webhook_route,
        type="http",
        auth="public",
        methods=["POST"],
        csrf=False,
        save_session=False,
    )
    def stripe_webhook(self):
        payload = request.httprequest.get_data()
        signature = request.httprequest.headers.get("Stripe-Signature")
        try:
            outcome = request.env["komet.paylink.event"]._paylink_receive(payload, signature)
        except ValidationError as error:
            request.env.cr.rollback()
            return request.make_json_response({"error": str(error)}, status=400)
        except PaylinkRetryLater:
            request.env.cr.rollback()
            return request.make_json_response({"error": "retry later"}, status=503)
        return request.make_json_response({"outcome": outcome})

    # === TOOLS === #

    def _find_link(self, token):
        """The link of `token` (sudoed: the token is the access check), with what its page
        reads fetched at once, or an empty recordset. From here on the request speaks the
        customer's language: the page and every message of the model that it shows."""
        link_sudo = request.env["komet.paylink"]._paylink_find_by_token(token)
        # Fetched first: the customer's language is one of the columns fetched.
        page_values.fetch_page_fields(link_sudo)
        return self._in_customer_lang(link_sudo)

    def _in_customer_lang(self, link_sudo):
        """Make the request speak the language of `link_sudo`'s customer, when installed, and
        return the link in it."""
        lang = page_values.customer_lang(link_sudo)
        if lang and lang != request.env.lang:
            request.update_context(lang=lang)
            link_sudo = link_sudo.with_env(request.env(su=True))
        return link_sudo

    def _checkout_link_from_session(self):
        """The link this browser last went to pay: the session was set after a token check."""
        link_id = request.session.get(self._session_key)
        link_sudo = request.env["komet.paylink"].sudo().browse(link_id or []).exists()
        return self._in_customer_lang(link_sudo)

    def _render_link_page(
        self,
        link_sudo,
        token,
        error=None,
        status=None,
        renewed_to=None,
        amount_typed=None,
        ticked_ids=None,
    ):
        state = link_sudo._paylink_page_state()
        if state == const.PAGE_GONE:
            return self._render_not_found()
        if status is None:
            status = 410 if state == const.PAGE_EXPIRED else 200
        return self._render(
            "komet_paylink.pay_page",
            link_sudo,
            status=status,
            state=state,
            token=token,
            error=error,
            renewed_to=renewed_to,
            amount_typed=amount_typed,
            # The invoices a statement's form had ticked, when it is shown again (else all).
            ticked_ids=ticked_ids,
            newer_link=link_sudo._paylink_newer_link() if state == const.PAGE_EXPIRED else None,
            receipts=page_values.receipt_payments(link_sudo) if state == const.PAGE_PAID else [],
        )

    def _render(self, template, link_sudo, status=200, **values):
        company = link_sudo.company_id or request.env.company
        if company.id in request.env.user._get_company_ids():
            # The page's company as the environment's: rendering reads it, not the user's.
            request.update_context(allowed_company_ids=company.ids)
        lang = page_values.customer_lang(link_sudo)
        if lang:
            request.update_context(lang=lang)
        link_sudo = link_sudo.with_env(request.env(su=True))
        html_lang = (request.env.lang or "en_US").replace("_", "-")
        token = values.get("token")
        values.update(
            page_values.page_values(
                link_sudo,
                values.get("state"),
                pdf_url=token and f"{self._pay_route}/{token}/pdf",
                ticked_ids=values.get("ticked_ids"),
            ),
            link=link_sudo,
            res_company=company,
            pay_route=self._pay_route,
            return_route=self._return_route,
            no_header=True,
            no_footer=True,
            csrf_token=request.csrf_token(),
            html_lang=html_lang,
            html_data={"lang": html_lang},
        )
        return request.render(template, values, status=status)

    def _pdf_response(self, pdf, filename):
        return request.make_response(
            pdf,
            headers=[
                ("Content-Type", "application/pdf"),
                ("Content-Length", str(len(pdf))),
                (
                    "Content-Disposition",
                    http.content_disposition(filename).replace("attachment", "inline", 1),
                ),
            ],
        )

    def _render_not_found(self):
        """One body for unknown, malformed and revoked tokens alike: nothing that varies."""
        return request.render("komet_paylink.pay_not_found", {}, status=404)
