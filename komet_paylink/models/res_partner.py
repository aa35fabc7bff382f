from odoo import _, api, fields, models
from odoo.exceptions import UserError

from .. import const


class ResPartner(models.Model):
    _inherit = "res.partner"

    komet_paylink_opt_out = fields.Boolean(
        string="Never send payment links",
        help="No payment link is ever sent to this customer: the Send dialogs say so, automatic "
        "sending and reminders leave the link out, and statement links are refused. Decided on "
        "the company: its contacts follow it. Links sent before keep working until they "
        "expire.",
    )

    # === BUSINESS METHODS === #

    @api.model
    def _commercial_fields(self):
        """Override of `base`: the contacts of a company follow its payment link opt-out."""
        return [*super()._commercial_fields(), "komet_paylink_opt_out"]

    def _paylink_opt_out_reason(self):
        """Return why no payment link may be sent to this customer, or False when it may: its
        commercial partner asked not to receive them."""
        commercial_partner = self.sudo().commercial_partner_id[:1]
        if not commercial_partner.komet_paylink_opt_out:
            return False
        return _(
            "%(partner)s asked not to receive payment links.",
            partner=commercial_partner.display_name,
        )

    # === ACTION METHODS === #

    def action_komet_paylink_send_statement(self):
        """Email the customer one payment link for their open invoices in the current company
        (one link per currency), from which they pick which invoices to pay."""
        self.ensure_one()
        Paylink = self.env["komet.paylink"]
        # Outside the five roles: refused as such, not as "no invoice".
        Paylink.check_access("create")
        if reason := (
            self._paylink_opt_out_reason() or self.env.company._paylink_payment_unavailable_reason()
        ):
            raise UserError(reason)
        invoices = (
            self.env["account.move"]
            .sudo()
            .search(
                [
                    ("commercial_partner_id", "=", self.commercial_partner_id.id),
                    ("move_type", "=", "out_invoice"),
                    ("state", "=", "posted"),
                    ("payment_state", "in", ("not_paid", "partial")),
                    ("company_id", "=", self.env.company.id),
                ]
            )
        )
        # A Sales user's statement lists the invoices they may send links for: their own.
        invoices = invoices.filtered(
            lambda move: (
                not move._paylink_unsendable_reason()
                and move.with_env(self.env)._paylink_user_may_send()
            )
        )
        if not invoices:
            raise UserError(
                _(
                    "%(partner)s has no open invoice in %(company)s that you may send a payment "
                    "link for.",
                    partner=self.commercial_partner_id.display_name,
                    company=self.env.company.name,
                )
            )
        # Made as the user: their role and record rules decide, not the sudo of the search.
        invoices = invoices.with_env(self.env)
        links = Paylink
        for currency in invoices.currency_id:
            in_currency = invoices.filtered(lambda move, c=currency: move.currency_id == c)
            # The oldest ones first, as many as one statement takes.
            oldest = in_currency.sorted(lambda move: (move.invoice_date_due, move.id))
            links |= oldest[: const.STATEMENT_MAX_INVOICES]._paylink_send_statement()
        return self._paylink_sent_notification(links)

    @api.model
    def _paylink_sent_notification(self, links):
        """The notification that tells a staff member where new statement links went."""
        message = "\n".join(
            self.env._(
                "Payment link for %(amount)s (%(count)s invoices) sent to %(email)s.",
                amount=link._paylink_format_amount(),
                count=len(link.move_ids),
                email=link.partner_id.email,
            )
            for link in links
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
