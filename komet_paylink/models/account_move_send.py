from markupsafe import Markup

from odoo import api, models
from odoo.tools import str2bool

from .. import const


class AccountMoveSend(models.AbstractModel):
    _inherit = "account.move.send"

    # === DEFAULTS === #

    @api.model
    def _get_default_sending_settings(self, move, from_cron=False, **custom_settings):
        """Override of `account` to decide whether the email carries a payment link: always
        when Odoo sends without a person (the scheduled action and background batches),
        otherwise as the sender chose, starting from the company's default."""
        settings = super()._get_default_sending_settings(
            move, from_cron=from_cron, **custom_settings
        )
        if from_cron:
            include = True
        elif "komet_paylink_include" in custom_settings:
            include = custom_settings["komet_paylink_include"]
        else:
            include = self._paylink_default_include(move)
        settings["komet_paylink_include"] = bool(include) and not move._paylink_unpayable_reason()
        settings["komet_paylink_as_system"] = from_cron
        return settings

    @api.model
    def _paylink_send_by_default(self):
        param = self.env["ir.config_parameter"].sudo().get_param(const.PARAM_SEND_BY_DEFAULT)
        return str2bool(param or "False", default=False)

    @api.model
    def _paylink_default_include(self, move):
        """The Payment Link box starts checked for a pending invoice when the setting says so."""
        return (
            self._paylink_send_by_default()
            and not move._paylink_unpayable_reason()
            and self.env["komet.paylink"]._paylink_user_may_send(move)
        )

    # === DOCUMENTS === #

    @api.model
    def _generate_invoice_documents(self, invoices_data, allow_fallback_pdf=False):
        """Override of `account` to make the links and render the PDF the email carries.

        The invoice's own PDF, the one Odoo keeps and prints, stays without a link; the copy
        with the Pay now button and QR code goes only into the email.
        """
        res = super()._generate_invoice_documents(
            invoices_data, allow_fallback_pdf=allow_fallback_pdf
        )
        for invoice, invoice_data in invoices_data.items():
            if invoice_data.get("komet_paylink_include") and not invoice_data.get("error"):
                self._paylink_prepare_link(invoice, invoice_data)
        return res

    @api.model
    def _paylink_prepare_link(self, invoice, invoice_data):
        links = self.env["komet.paylink"]
        if invoice_data.get("komet_paylink_as_system"):
            links = links.sudo()
        link = links.create({"move_id": invoice.id})
        invoice_data["komet_paylink_url"] = link.url
        invoice_data["komet_paylink_pdf"] = invoice._paylink_render_pdf(
            link.url, invoice_data["pdf_report"]
        )

    # === MAIL === #

    @api.model
    def _get_mail_params(self, move, move_data):
        """Override of `account` to put the Pay now button in the email and send the PDF
        that carries it instead of the plain one."""
        mail_params = super()._get_mail_params(move, move_data)
        if not move_data.get("komet_paylink_pdf"):
            return mail_params
        filename, pdf_content = move_data["komet_paylink_pdf"]
        mail_params["attachments"] = [
            attachment for attachment in mail_params["attachments"] if attachment[0] != filename
        ] + [(filename, pdf_content)]
        mail_params["body"] = Markup("%s%s") % (
            mail_params["body"] or "",
            self.env["komet.paylink"]._paylink_email_button(
                move_data["komet_paylink_url"], move.amount_residual, move.currency_id
            ),
        )
        return mail_params

    @api.model
    def _hook_if_success(self, moves_data):
        """Override of `account` to mark invoices sent with a link as sent: their own PDF may
        not have been stored this time."""
        res = super()._hook_if_success(moves_data)
        sent_with_link = [
            move for move, data in moves_data.items() if data.get("komet_paylink_pdf")
        ]
        for move in sent_with_link:
            move.is_move_sent = True
        return res
