import logging

from werkzeug.exceptions import HTTPException

from odoo import models
from odoo.http import request

from .. import const, utils


class PayTokenLogFilter(logging.Filter):
    """Mask link tokens in log lines: Odoo's request log writes every URL whole."""

    def filter(self, record):
        if isinstance(record.msg, str) and const.PAY_ROUTE_PREFIX in record.msg:
            record.msg = utils.mask_pay_tokens(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(
                utils.mask_pay_tokens(arg) if isinstance(arg, str) else arg for arg in record.args
            )
        return True


def _install_log_filter():
    for logger_name in ("werkzeug", "odoo.http", "odoo.addons.base.models.ir_http"):
        logger = logging.getLogger(logger_name)
        if not any(isinstance(existing, PayTokenLogFilter) for existing in logger.filters):
            logger.addFilter(PayTokenLogFilter())


_install_log_filter()


class IrHttp(models.AbstractModel):
    _inherit = "ir.http"

    @classmethod
    def _post_dispatch(cls, response):
        """Override of `base` to keep the payment pages out of caches, search engines, Referer
        headers and other sites' frames: their URL is a bearer credential."""
        res = super()._post_dispatch(response)
        cls._paylink_secure_response(response)
        return res

    @classmethod
    def _handle_error(cls, exception):
        """Override of `base` to put the /pay/ headers on error responses too (a failed CSRF
        check, a route that raised): Odoo builds them without `_post_dispatch` unless the page
        is a website page."""
        response = super()._handle_error(exception)
        if not cls._paylink_is_pay_request():
            return response
        if isinstance(response, HTTPException):
            response = response.get_response(request.httprequest.environ)
        cls._paylink_secure_response(response)
        return response

    @classmethod
    def _paylink_is_pay_request(cls):
        path = request.httprequest.path if request else ""
        return path == const.PAY_ROUTE_PREFIX or path.startswith(f"{const.PAY_ROUTE_PREFIX}/")

    @classmethod
    def _paylink_secure_response(cls, response):
        """Add the headers of every response under /pay/ (SPEC section 8, plus framing
        refused)."""
        if not cls._paylink_is_pay_request() or not hasattr(response, "headers"):
            return
        response.headers.update(const.PAY_PAGE_HEADERS)
        response.headers["Content-Security-Policy"] = utils.with_frame_ancestors_none(
            response.headers.get("Content-Security-Policy")
        )
