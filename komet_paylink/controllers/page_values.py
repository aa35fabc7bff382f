"""What the /pay/ templates show, beside the controller as `portal` keeps
`_prepare_portal_layout_values`: the values of a link's page and how it writes amounts, quantities,
dates and times. Read-only: nothing here changes a record."""

import ast

import babel.dates
import pytz

from odoo.tools import float_round
from odoo.tools.misc import babel_locale_parse, get_lang, posix_to_ldml

from .. import const, utils


def customer_lang(link_sudo):
    """The customer's language for the public pages, when it is installed, else False."""
    lang = link_sudo.partner_id.lang
    return lang if lang and lang in dict(link_sudo.env["res.lang"].get_installed()) else False


def fetch_page_fields(link_sudo):
    """Read what the public page shows of the invoices, the customer, the company and the
    currency, in the queries the ORM would make anyway, but only the columns shown: reading
    their whole wide rows costs the page more than its queries do."""
    if not link_sudo or link_sudo.state == const.STATE_REVOKED:
        return
    # Odoo fetches a field and every other prefetchable field of its model on first read:
    # fetched first, these columns are all the page reads.
    invoices = link_sudo.move_ids if link_sudo.is_statement else link_sudo.move_id
    invoices.fetch(const.PAY_PAGE_MOVE_FIELDS)
    link_sudo.currency_id.fetch(const.PAY_PAGE_CURRENCY_FIELDS)
    link_sudo.company_id.fetch(const.PAY_PAGE_COMPANY_FIELDS)
    # The customer and the company's contact, which the page shows too, in one query.
    customer_and_company = link_sudo.partner_id | link_sudo.company_id.partner_id
    customer_and_company.fetch(const.PAY_PAGE_PARTNER_FIELDS)


def page_formatters(env, partner, currency):
    """How the public pages write amounts, quantities, dates and times: in the environment's
    language and, for times, the customer's time zone, as Odoo's format_amount, formatLang,
    format_date and format_datetime write them. The language is read once per page: those
    functions look it up again for every value, which was a fifth of the page's own time."""
    lang = get_lang(env)
    number_format = (
        ast.literal_eval(lang.grouping),
        lang.thousands_sep or "",
        lang.decimal_point,
    )
    locale = babel_locale_parse(lang.code)
    date_format = posix_to_ldml(lang.date_format, locale=locale)
    datetime_format = f"{date_format} {posix_to_ldml(lang.time_format, locale=locale)}"
    quantity_digits = env["decimal.precision"].precision_get("Product Unit of Measure")
    try:
        tz = pytz.timezone(env.context.get("tz") or partner.tz or "UTC")
    except pytz.UnknownTimeZoneError:
        tz = pytz.utc
    # A page shows the same amount several times (due, total, the Pay button).
    amounts, currencies = {}, {}  # a statement lists hundreds in one currency

    def format_money(amount, currency=currency):
        if (amount, currency) not in amounts:
            if currency not in currencies:
                currencies[currency] = (
                    currency.rounding,
                    currency.decimal_places,
                    currency.symbol,
                    currency.position == "before",
                )
            rounding, decimals, symbol, before = currencies[currency]
            rounded = float_round(amount, precision_rounding=rounding)
            number = utils.format_number(rounded, decimals, *number_format)
            amounts[amount, currency] = utils.format_money(number, symbol, before)
        return amounts[amount, currency]

    def format_quantity(quantity):
        rounded = float_round(quantity, precision_digits=quantity_digits)
        return utils.format_number(rounded, quantity_digits, *number_format)

    def format_percent(value):
        decimals = 0 if float(value).is_integer() else 2
        return utils.format_number(value, decimals, *number_format)

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
        "format_percent": format_percent,
        "format_page_date": format_page_date,
        "format_page_datetime": format_page_datetime,
    }


def page_values(link_sudo, state=None, pdf_url=None, ticked_ids=None):
    """What the public pages show of the link (empty for no link): the document and its
    details, or a statement's invoices (with links to their PDFs under `pdf_url`, when
    given, and ticked: `ticked_ids`, by default all); the bill-to; how to write amounts and
    times; and, on a page in `state` active, the bank transfer beside the card."""
    values = page_formatters(link_sudo.env, link_sudo.partner_id, link_sudo.currency_id)
    if not link_sudo:
        return {**values, "document": link_sudo.browse(), "statement_invoices": []}
    link_sudo.ensure_one()
    document = link_sudo._paylink_document()
    # What the link pays, read once for the whole page.
    documents = link_sudo._paylink_documents()
    invoices = statement_invoices(link_sudo, documents, values, pdf_url, ticked_ids)
    values.update(document=document, statement_invoices=invoices)
    payable = document  # what the page offers to pay, all ticked on a statement
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
        payable = documents.browse([invoice["id"] for invoice in invoices if invoice["payable"]])
        values.update(
            bill_to=link_sudo.partner_id, amount_due=link_sudo._paylink_amount_due(payable)
        )
    # (what it saves, until when) of an early-payment discount Odoo still grants, else None.
    values.setdefault("early_discount", None)
    values["processing_since"] = documents._paylink_processing_since_on(link_sudo)
    # (amount, due date) of the instalment due now, when the payment terms split the document.
    values["instalment"] = (
        document._paylink_instalment_due() if values.get("has_instalments") else None
    )
    # The least the customer may pay at once, when the page offers to pay part (else None):
    # on a statement, with every invoice ticked, as the page first shows it.
    values["partial_minimum"] = payable._paylink_partial_minimum(link_sudo, values["amount_due"])
    values["partial_min_percent"] = link_sudo.company_id.komet_paylink_partial_min_percent
    values["bank_transfer"] = (
        bank_transfer(document, values["amount_due"], values["format_money"])
        if state == const.PAGE_ACTIVE
        else None
    )
    bill_to = values["bill_to"]
    # Only what the address shows of the country and the state, in the page's language.
    bill_to.country_id.fetch(["name", "code", "address_format"])
    bill_to.state_id.fetch(["name", "code"])
    values["bill_to_lines"] = utils.address_lines(bill_to.name, bill_to._display_address())
    return values


def bank_transfer(document, amount, format_money):
    """The bank transfer the active page of `document` offers beside the card, for `amount`,
    what is due now: its QR code for a banking app and the details it carries, or None. None
    for a statement (no `document`): one transfer carries one invoice's reference, which is
    what Odoo's bank reconciliation matches it by. Computed only on an active page, where the
    bank account can make a code: it costs queries."""
    transfer = document and document._paylink_bank_transfer(amount)
    if not transfer:
        return None
    amount_text = format_money(amount)
    alt = document.env._(
        "QR code for your banking app: a transfer of %(amount)s to %(account)s, with the "
        "reference %(reference)s",
        amount=amount_text,
        account=transfer["account"],
        reference=transfer["reference"],
    )
    return {**transfer, "amount": amount_text, "alt": alt}


def statement_invoices(link_sudo, documents, formatters, pdf_url=None, ticked_ids=None):
    """The invoices a statement link lists (`documents`, what it pays, on the link already,
    oldest first), each as what its row shows: whether it can be paid now (and its checkbox,
    ticked when in `ticked_ids`, by default all) and, if not, whether a payment of it is on
    its way; a link to its PDF under `pdf_url`, when Odoo keeps one. Empty for a link that
    pays one document. A statement lists up to 300: which can be paid is asked in one query,
    and each column is read for all of them at once."""
    if not link_sudo.is_statement:
        return []
    format_money, format_date = formatters["format_money"], formatters["format_page_date"]
    dates = {}  # the invoices of a statement share few dates

    def written(day):
        if day not in dates:
            dates[day] = format_date(day)
        return dates[day]

    payable_ids = set(documents._paylink_payable_on(link_sudo).ids)
    ticked = set(ticked_ids or payable_ids)
    ids_with_pdf = documents._paylink_ids_with_pdf() if pdf_url else ()
    pdf_label = link_sudo.env._("Download the PDF of %(name)s")
    columns = zip(
        documents.ids,
        documents.mapped("name"),
        documents.mapped("amount_residual"),
        documents.mapped("invoice_date"),
        documents.mapped("invoice_date_due"),
        documents.mapped("komet_paylink_processing_since"),
        documents.mapped("payment_state"),
        strict=True,
    )
    rows = []
    for invoice_id, name, residual, dated, due, processing_since, payment_state in columns:
        payable = invoice_id in payable_ids
        rows.append(
            {
                "id": invoice_id,
                "name": name,
                "payable": payable,
                "amount": payable and format_money(residual),  # the link's currency
                "checkbox": payable
                and utils.statement_checkbox_html(invoice_id, checked=invoice_id in ticked),
                "processing": not payable
                and bool(processing_since)
                and payment_state not in ("paid", "in_payment"),
                "dated": written(dated),
                "due": due and written(due),
                "pdf_link": invoice_id in ids_with_pdf
                and utils.statement_pdf_link_html(pdf_url, invoice_id, pdf_label % {"name": name}),
            }
        )
    return rows


def receipt_payments(link_sudo):
    """The payments made through the link, oldest first, whose receipts its paid page offers
    (more than one after partial payments): booked by a done transaction of the link, neither
    a refund nor cancelled."""
    transactions = link_sudo.transaction_ids.filtered(
        lambda tx: tx.state == "done" and tx.operation != "refund"
    )
    return transactions.payment_id.filtered(
        lambda payment: payment.state not in ("draft", "canceled", "rejected")
    ).sorted("id")


def returned_transaction(link_sudo, session_id=None, attempt=None):
    """The attempt of the link that Checkout sent the customer back from: by its session
    (success) or its transaction (cancel), else the newest."""
    transactions = link_sudo.transaction_ids.sorted("id", reverse=True)
    returned = transactions.filtered(
        lambda tx: (
            (session_id and tx.provider_reference == session_id)
            or (attempt and str(tx.id) == str(attempt))
        )
    )
    return returned[:1] or transactions[:1]


def return_outcome(link_sudo, transaction, cancelled):
    """What the page after Checkout says of `transaction`, the attempt that came back
    (`const.RETURN_*`): the state the webhooks left, never anything booked here."""
    if not link_sudo:
        return const.RETURN_PROCESSING
    if transaction.state == "done" or link_sudo._paylink_page_state() == const.PAGE_PAID:
        return const.RETURN_PAID
    if transaction.state in const.PROCESSING_TX_STATES:
        return const.RETURN_PROCESSING
    if transaction.state == "error":
        return const.RETURN_FAILED
    if cancelled or transaction.state == "cancel":
        return const.RETURN_CANCELLED
    return const.RETURN_PROCESSING


def retry_invoice_ids(link_sudo, transaction):
    """What Try again pays: on a statement, the invoices of the attempt that came back that
    can still be paid (None for a link of one document)."""
    if not link_sudo.is_statement:
        return None
    return (transaction.invoice_ids & link_sudo._paylink_payable_documents()).ids


def retry_part(link_sudo, transaction):
    """What else Try again keeps of the attempt that came back: the instalment, or the part
    the customer typed (of one document, or of a statement's ticked invoices), when the
    attempt was for less than is due now (as arguments of `_paylink_start_checkout`); nothing
    when it was for everything."""
    if not transaction:
        return {}
    documents = link_sudo._paylink_payable_documents()
    if link_sudo.is_statement:
        documents &= transaction.invoice_ids
    currency = transaction.currency_id
    if (
        not documents
        or (len(documents) != 1 and not link_sudo.is_statement)
        or currency.compare_amounts(transaction.amount, link_sudo._paylink_amount_due(documents))
        >= 0
    ):
        return {}
    instalment = not link_sudo.is_statement and documents._paylink_instalment_due()
    if instalment and not currency.compare_amounts(instalment[0], transaction.amount):
        return {"instalment": True}
    return {"amount_text": f"{transaction.amount:.{currency.decimal_places}f}"}
