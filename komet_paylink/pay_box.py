"""The Pay box of an emailed invoice, drawn with reportlab: pure Python, no ORM, no Odoo.

The box goes on a page of its own, added after the pages Odoo rendered, so that the invoice's
own pages stay exactly those of the PDF Odoo keeps (see models/account_move.py).
"""

import io

from reportlab.lib.colors import HexColor, white
from reportlab.lib.utils import ImageReader, simpleSplit
from reportlab.pdfgen import canvas

from . import utils

BUTTON_COLOR = HexColor("#714B67")  # Odoo's own purple, as in the email's button
BORDER_COLOR = HexColor("#dee2e6")
MUTED_COLOR = HexColor("#6c757d")
FONT = "Helvetica"
FONT_BOLD = "Helvetica-Bold"

MARGIN = 56  # points: about 2 cm
BOX_HEIGHT = 170
QR_SIZE = 140
BUTTON_WIDTH = 150
BUTTON_HEIGHT = 34


def pay_box_pdf(url, page_size, *, title, amount_line, button_label, rule_lines):
    """Return a one-page PDF of `page_size` (width, height in points) with the Pay box: a
    clickable `button_label` button (a link annotation to `url`), the amount due, the link's
    rule and a QR code of `url`, embedded as image data.

    :param str title: the box's heading, e.g. "Pay online"
    :param str amount_line: e.g. "Invoice INV/2025/0001: $ 1,150.00 due"
    :param list rule_lines: the paragraphs below the button, e.g. the link's lifetime
    """
    width, height = page_size
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=(width, height), pageCompression=1)
    pdf.setTitle(title)

    box_left, box_right = MARGIN, width - MARGIN
    box_top = height - MARGIN
    box_bottom = box_top - BOX_HEIGHT
    pdf.setStrokeColor(BORDER_COLOR)
    pdf.setLineWidth(1)
    pdf.roundRect(box_left, box_bottom, box_right - box_left, BOX_HEIGHT, 6, stroke=1, fill=0)

    # The QR code on the right, vertically centred in the box.
    qr_left = box_right - 16 - QR_SIZE
    qr_bottom = box_bottom + (BOX_HEIGHT - QR_SIZE) / 2
    qr_image = ImageReader(io.BytesIO(utils.qr_png(url)))
    pdf.drawImage(qr_image, qr_left, qr_bottom, QR_SIZE, QR_SIZE)

    # The text and the button on the left.
    text_left = box_left + 18
    text_width = qr_left - 18 - text_left
    y = box_top - 30
    pdf.setFillColor(HexColor("#212529"))
    pdf.setFont(FONT_BOLD, 15)
    pdf.drawString(text_left, y, title)
    y -= 22
    pdf.setFont(FONT, 11)
    for line in simpleSplit(amount_line, FONT, 11, text_width):
        pdf.drawString(text_left, y, line)
        y -= 14

    y -= 8 + BUTTON_HEIGHT
    pdf.setFillColor(BUTTON_COLOR)
    pdf.roundRect(text_left, y, BUTTON_WIDTH, BUTTON_HEIGHT, 5, stroke=0, fill=1)
    pdf.setFillColor(white)
    pdf.setFont(FONT_BOLD, 13)
    pdf.drawCentredString(text_left + BUTTON_WIDTH / 2, y + 12, button_label)
    pdf.linkURL(
        url, (text_left, y, text_left + BUTTON_WIDTH, y + BUTTON_HEIGHT), relative=0, thickness=0
    )

    y -= 20
    pdf.setFillColor(MUTED_COLOR)
    pdf.setFont(FONT, 9)
    for paragraph in rule_lines:
        for line in simpleSplit(paragraph, FONT, 9, text_width):
            pdf.drawString(text_left, y, line)
            y -= 12

    pdf.showPage()
    pdf.save()
    return buffer.getvalue()
