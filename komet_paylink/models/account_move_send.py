import logging

from markupsafe import Markup

from odoo import _, api, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import format_date, str2bool
from odoo.tools.pdf import PdfReadError

from .. import const

_logger = logging.getLogger(__name__)

# Who makes the links of an invoice: the user sending it (synchronous sends), the author of a
# background batch (their user id), or Odoo itself when no person is behind the sending.
SENDER_SYSTEM = "system"

# Set once this process's wkhtmltopdf refused a render of several invoices (Debian's build
# renders one document per call): later sendings go invoice by invoice at once, rather than
# render all their invoices' HTML for nothing first.
_wkhtmltopdf = {"one_document_per_call": False}


class AccountMoveSend(models.AbstractModel):
    _inherit = "account.move.send"

    # === DEFAULTS === #

    @api.model
    def _get_default_sending_settings(self, move, from_cron=False, **custom_settings):
        """Override of `account` to decide whether the email carries a payment link.

        - A sender's explicit choice (the Send dialogs) is followed.
        - A background batch follows the person who queued it (who wrote `sending_data`, not
          the author it names): their Payment Link box, and their right to send links, checked
          as them.
        - With no person behind the sending (Odoo's own automatic sending), always a link.
        - Otherwise the company's default.
        - A payment reminder (`komet_paylink_reminder_days`) always carries a link, made by
          Odoo itself, which keeps the reminder step.

        Never a link for a document that cannot be paid, nor for a customer who opted out: the
        invoice is sent without it.
        """
        settings = super()._get_default_sending_settings(
            move, from_cron=from_cron, **custom_settings
        )
        author = self.env["res.users"].browse(settings["author_user_id"])
        if from_cron:
            # Who queued it, as recorded when `sending_data` was written: the author that data
            # names can be written by any Billing user.
            author = move.sudo().komet_paylink_send_queued_by
        sender = None
        if custom_settings.get("komet_paylink_reminder_days"):
            # A payment reminder: the point of the email is its fresh link, made by Odoo.
            include, sender = True, SENDER_SYSTEM
            settings["komet_paylink_reminder_days"] = custom_settings["komet_paylink_reminder_days"]
        elif "komet_paylink_include" in custom_settings:
            include = custom_settings["komet_paylink_include"]
        elif author and author._is_superuser():
            include, sender = True, SENDER_SYSTEM
        elif from_cron:
            include = bool(author) and self._paylink_author_include(move, author)
            sender = author.id
        else:
            include = self._paylink_default_include(move)
        settings["komet_paylink_include"] = bool(include) and not move._paylink_unsendable_reason()
        settings["komet_paylink_sender"] = sender
        return settings

    @api.model
    def _paylink_author_include(self, move, author):
        """Whether a background batch's author gets a link: their box in the batch dialog (their
        default when they had none), if their role may send links for the invoice's company."""
        sending_data = move.sending_data or {}
        if "komet_paylink_include" in sending_data:
            include = sending_data["komet_paylink_include"]
        else:
            include = self.with_user(author)._paylink_default_include(move)
        return include and move.with_user(author)._paylink_user_may_send()

    @api.model
    def _paylink_send_by_default(self):
        param = self.env["ir.config_parameter"].sudo().get_param(const.PARAM_SEND_BY_DEFAULT)
        return str2bool(param or "False", default=False)

    @api.model
    def _paylink_default_include(self, move):
        """The Payment Link box starts checked for a pending invoice when the setting says so."""
        return (
            self._paylink_send_by_default()
            and not move._paylink_unsendable_reason()
            and move._paylink_user_may_send()
        )

    # === DOCUMENTS === #

    @api.model
    def _prepare_invoice_pdf_report(self, invoices_data):
        """Override of `account` to render invoice by invoice when one render of several
        invoices cannot be split: Debian's wkhtmltopdf renders one document per call. Installs
        with the patched wkhtmltopdf keep Odoo's single render."""
        if len(invoices_data) > 1 and not _wkhtmltopdf["one_document_per_call"]:
            try:
                return super()._prepare_invoice_pdf_report(invoices_data)
            except PdfReadError:  # EmptyFileError: wkhtmltopdf refused several documents
                _wkhtmltopdf["one_document_per_call"] = True
                _logger.info("wkhtmltopdf renders one document per call: invoice by invoice")
        for invoice, invoice_data in invoices_data.items():
            super()._prepare_invoice_pdf_report({invoice: invoice_data})
        return None

    # === SENDING === #

    @api.model
    def _hook_if_success(self, moves_data):
        """Override of `account` to make the links of the invoices whose email goes out, just
        before Odoo sends it: never a link for an email that is not sent."""
        for move, move_data in moves_data.items():
            if move_data.get("komet_paylink_include") and self._paylink_email_goes_out(
                move, move_data
            ):
                self._paylink_prepare_link(move, move_data)
        return super()._hook_if_success(moves_data)

    @api.model
    def _paylink_email_goes_out(self, move, move_data):
        """Whether Odoo emails `move` in this sending (the tests of `_hook_if_success` and
        `_send_mails`)."""
        return (
            "email" in move_data["sending_methods"]
            and self._is_applicable_to_move("email", move)
            and bool(move.partner_id.email)
        )

    @api.model
    def _paylink_prepare_link(self, move, move_data):
        """Make the link, and what the email carries for it (see `_paylink_email_parts`): the
        Pay box is drawn on the PDF Odoo rendered, so the invoice is rendered once."""
        link = self._paylink_create_link(
            move,
            move_data.get("komet_paylink_sender"),
            reminder_days=move_data.get("komet_paylink_reminder_days"),
        )
        if not link:
            return
        pdf_values = move_data.get("pdf_attachment_values")
        move_data["komet_paylink_pdf"], move_data["komet_paylink_button"] = (
            move._paylink_email_parts(
                link, pdf_values and pdf_values["raw"], lang=move_data.get("mail_lang")
            )
        )

    @api.model
    def _paylink_create_link(self, move, sender, reminder_days=None):
        """Create the link as whoever sends: the current user (an error tells them when their
        role may not), Odoo itself, or a background batch's author. For an author, a refusal
        of the record rules means an email without a link, not a failed batch. Only Odoo
        itself sends reminders (`reminder_days`, the step the link keeps)."""
        Paylink = self.env["komet.paylink"]
        if not sender:
            return Paylink.create({"move_id": move.id})
        if sender == SENDER_SYSTEM:
            return Paylink.sudo().create({"move_id": move.id, "reminder_days": reminder_days or 0})
        Paylink = Paylink.with_user(sender).with_company(move.company_id)
        try:
            with self.env.cr.savepoint():
                return Paylink.create({"move_id": move.id})
        except (AccessError, UserError) as error:
            _logger.info("No payment link for invoice %s: %s", move.id, error)
            return Paylink

    # === MAIL === #

    @api.model
    def _get_mail_params(self, move, move_data):
        """Override of `account` to put the Pay now button in the email and send the copy of
        the PDF with the Pay box instead of the plain one."""
        mail_params = super()._get_mail_params(move, move_data)
        if not mail_params or not move_data.get("komet_paylink_button"):
            return mail_params
        filename, pdf_content = move_data["komet_paylink_pdf"]
        mail_params["attachments"] = [
            attachment for attachment in mail_params["attachments"] if attachment[0] != filename
        ] + [(filename, pdf_content)]
        reminder_days = move_data.get("komet_paylink_reminder_days")
        if reminder_days:
            # In the customer's language, as the rest of the email.
            env = self.with_context(lang=move_data.get("mail_lang")).env
            mail_params["subject"] = env._("Reminder: %(subject)s", subject=mail_params["subject"])
            mail_params["body"] = Markup("<p>%s</p>%s") % (
                env._(
                    "Reminder: invoice %(name)s was due on %(date)s and %(amount)s is still "
                    "unpaid. You can pay it online with the new link below.",
                    name=move.name,
                    date=format_date(env, move.invoice_date_due),
                    amount=move.currency_id.with_env(env).format(move._paylink_amount_due()),
                ),
                mail_params["body"] or "",
            )
        mail_params["body"] = Markup("%s%s") % (
            mail_params["body"] or "",
            move_data["komet_paylink_button"],
        )
        return mail_params

    # === ALERTS === #

    @api.model
    def _paylink_alert_reasons(self, moves, flagged, reason_of):
        """The reason of the one invoice sent or, for a batch, each flagged invoice's."""
        if len(moves) == 1:
            return reason_of(flagged)
        return "; ".join(f"{move.display_name}: {reason_of(move)}" for move in flagged)

    @api.model
    def _get_alerts(self, moves, moves_data):
        """Override of `account` to say, in both Send dialogs, which invoices go without a
        link and why, instead of sending a dead button. Called by both Send dialogs, whose
        Payment Link box it reads. Blocking for one invoice, a warning for a batch, as Odoo's
        own alerts."""
        alerts = super()._get_alerts(moves, moves_data)
        include = "komet_paylink_include" in self._fields and any(
            self.mapped("komet_paylink_include")
        )
        for key, level, message, reason_of, when in (
            (
                "komet_paylink_nothing_to_pay",
                "danger" if len(moves) == 1 else "warning",
                _("No payment link can be sent: %(reasons)s"),
                lambda move: move._paylink_unpayable_reason(),
                include,
            ),
            (
                "komet_paylink_no_payment",
                "warning",
                _("Sent without a payment link: %(reasons)s"),
                lambda move: move.company_id._paylink_payment_unavailable_reason(),
                include,
            ),
            (
                "komet_paylink_opt_out",
                "info",
                _("Sent without a payment link: %(reasons)s"),
                lambda move: move.partner_id._paylink_opt_out_reason(),
                True,
            ),
        ):
            reasons = {move: reason_of(move) for move in moves} if when else {}
            flagged = moves.filtered(lambda move, reasons=reasons: reasons.get(move))
            if flagged:
                shown = self._paylink_alert_reasons(moves, flagged, reasons.get)
                alerts[key] = {"level": level, "message": message % {"reasons": shown}}
        return alerts
