from odoo import http
from odoo.http import request

from .. import const
from ..exceptions import PaylinkRetryLater
from .main import PaylinkController


class PaylinkDemoController(PaylinkController):
    """The simulated Stripe Checkout page of demo mode: it serves only transactions whose
    provider is in demo mode, and books through the webhook's own notification flow."""

    _demo_route = const.DEMO_CHECKOUT_ROUTE

    @http.route(
        f"{_demo_route}/<string:session_id>",
        type="http",
        auth="public",
        methods=["GET"],
        website=True,
        sitemap=False,
    )
    def demo_checkout(self, session_id, **kwargs):
        transaction_sudo = request.env["komet.paylink.demo"]._find_transaction(session_id)
        if not transaction_sudo:
            return self._render_not_found()
        return self._render(
            "komet_paylink.demo_checkout",
            transaction_sudo.komet_paylink_id,
            transaction=transaction_sudo,
            session_id=session_id,
            demo_route=self._demo_route,
        )

    @http.route(
        f"{_demo_route}/<string:session_id>/<string:choice>",
        type="http",
        auth="public",
        methods=["POST"],
        website=True,
        sitemap=False,
    )
    def demo_checkout_choose(self, session_id, choice, **kwargs):
        demo = request.env["komet.paylink.demo"]
        transaction_sudo = demo._find_transaction(session_id)
        if not transaction_sudo or choice not in ("pay", "cancel"):
            return self._render_not_found()
        if choice == "pay":
            try:
                demo._pay(transaction_sudo)
            except PaylinkRetryLater:
                # A double click: the first press is booking; the return page shows its outcome.
                request.env.cr.rollback()
            return request.redirect(f"{self._return_route}?session_id={session_id}", code=303)
        return request.redirect(f"{self._return_route}?cancelled=1", code=303)
