import logging

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
        """Override of `base` to keep the payment pages out of caches, search engines and
        Referer headers: their URL is a bearer credential."""
        res = super()._post_dispatch(response)
        if request.httprequest.path.startswith(f"{const.PAY_ROUTE_PREFIX}/"):
            response.headers.update(const.PAY_PAGE_HEADERS)
        return res
