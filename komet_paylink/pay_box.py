"""The Pay box of an emailed invoice, drawn with reportlab: pure Python, no ORM, no Odoo.

The box goes on a page of its own, added after the pages Odoo rendered, so that the invoice's
own pages stay exactly those of the PDF Odoo keeps (see models/account_move.py).
"""

import io
import logging
from pathlib import Path

from reportlab.lib.colors import HexColor, white
from reportlab.lib.utils import ImageReader, simpleSplit
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas

from . import utils

BUTTON_COLOR = HexColor("#714B67")  # Odoo's own purple, as in the email's button
BORDER_COLOR = HexColor("#dee2e6")
MUTED_COLOR = HexColor("#6c757d")
TEXT_COLOR = HexColor("#212529")
# DejaVu Sans (Debian's fonts-dejavu-core, which scripts/setup installs) draws every currency
# sign (₹, ₺, ₴, zł...) and the Latin, Greek, Cyrillic, Arabic and Hebrew letters of names;
# reportlab's Helvetica covers Latin-1 only and would draw the rest as empty boxes.
FONT = "KometDejaVuSans"
FONT_BOLD = "KometDejaVuSans-Bold"
FONT_FILES = {FONT: "DejaVuSans.ttf", FONT_BOLD: "DejaVuSans-Bold.ttf"}
FONT_DIRS = (
    "/usr/share/fonts/truetype/dejavu",  # Debian, Ubuntu
    "/usr/share/fonts/dejavu-sans-fonts",  # Fedora
    "/usr/share/fonts/TTF",  # Arch
)
# Only when DejaVu Sans is not installed: Latin-1 only.
FALLBACK_FONTS = {FONT: "Helvetica", FONT_BOLD: "Helvetica-Bold"}
# The letters DejaVu lacks (Chinese, Japanese, Korean), from Debian's fonts-droid-fallback.
CJK_FONT, CJK_FONT_FILE = "KometDroidSansFallback", "DroidSansFallbackFull.ttf"
CJK_FONT_DIRS = ("/usr/share/fonts/truetype/droid", "/usr/share/fonts/google-droid-sans-fonts")

_logger = logging.getLogger(__name__)

MARGIN = 56  # points: about 2 cm
BOX_HEIGHT = 170
QR_SIZE = 140
BUTTON_WIDTH = 150
BUTTON_HEIGHT = 34
QR_LABEL_SIZE = 8  # points, the QR code's label below it
QR_LABEL_LEADING = 10


def font_path(filename, font_dirs=FONT_DIRS):
    """The path of the TrueType font `filename` in the first of `font_dirs` that has it, or
    None."""
    for folder in font_dirs:
        path = Path(folder, filename)
        if path.is_file():
            return path
    return None


def box_fonts():
    """The (regular, bold) fonts the Pay box is drawn with: DejaVu Sans, registered with
    reportlab once per process; Helvetica, with a warning, where it is not installed."""
    registered = pdfmetrics.getRegisteredFontNames()
    fonts = []
    for name, filename in FONT_FILES.items():
        if name not in registered:
            path = font_path(filename)
            if not path:
                _logger.warning(
                    "%s not found (Debian: apt-get install fonts-dejavu-core): the Pay box "
                    "cannot draw signs and letters outside Latin-1.",
                    filename,
                )
                fonts.append(FALLBACK_FONTS[name])
                continue
            pdfmetrics.registerFont(TTFont(name, str(path)))
        fonts.append(name)
    return tuple(fonts)


def cjk_font():
    """The font of the letters DejaVu Sans lacks, registered once per process, or None."""
    if CJK_FONT not in pdfmetrics.getRegisteredFontNames():
        path = font_path(CJK_FONT_FILE, CJK_FONT_DIRS)
        if not path:
            return None
        pdfmetrics.registerFont(TTFont(CJK_FONT, str(path)))
    return CJK_FONT


def font_runs(text, font):
    """`text` cut into (run, font name) runs: each character in `font` when it has the glyph,
    else in the CJK font when that one has it."""
    glyphs = getattr(getattr(pdfmetrics.getFont(font), "face", None), "charToGlyph", None)
    runs = []
    for character in text:
        name = font
        # Read only when a letter needs it: the CJK font is large.
        if glyphs is not None and ord(character) not in glyphs and (fallback := cjk_font()):
            if ord(character) in pdfmetrics.getFont(fallback).face.charToGlyph:
                name = fallback
        if runs and runs[-1][1] == name:
            runs[-1][0] += character
        else:
            runs.append([character, name])
    return runs


def draw_text(pdf, x, y, text, font, size, centred=False):
    """Draw `text` from `x` (centred on `x` with `centred`), each character in a font that has
    it: no empty box for a letter of another script."""
    runs = font_runs(utils.visual_order(text), font)
    if centred:
        x -= sum(pdfmetrics.stringWidth(run, name, size) for run, name in runs) / 2
    for run, name in runs:
        pdf.setFont(name, size)
        pdf.drawString(x, y, run)
        x += pdfmetrics.stringWidth(run, name, size)


def pay_box_pdf(url, page_size, *, title, amount_line, button_label, rule_lines, qr_label=None):
    """Return a one-page PDF of `page_size` (width, height in points) with the Pay box: a
    clickable `button_label` button (a link annotation to `url`), the amount due, the link's
    rule and a QR code of `url`, embedded as image data, with `qr_label` below it.

    :param str title: the box's heading, e.g. "Pay online"
    :param str amount_line: e.g. "Invoice INV/2025/0001: $ 1,150.00 due"
    :param list rule_lines: the paragraphs below the button, e.g. the link's lifetime
    :param str qr_label: what the QR code is for, e.g. "Scan with your phone's camera to pay
        by card or online": the invoice may carry a bank's QR code too
    """
    width, height = page_size
    font, font_bold = box_fonts()
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=(width, height), pageCompression=1)
    pdf.setTitle(title)

    label_lines = simpleSplit(qr_label, font, QR_LABEL_SIZE, QR_SIZE + 8) if qr_label else []
    label_height = len(label_lines) * QR_LABEL_LEADING
    box_height = BOX_HEIGHT + label_height
    box_left, box_right = MARGIN, width - MARGIN
    box_top = height - MARGIN
    box_bottom = box_top - box_height
    pdf.setStrokeColor(BORDER_COLOR)
    pdf.setLineWidth(1)
    pdf.roundRect(box_left, box_bottom, box_right - box_left, box_height, 6, stroke=1, fill=0)

    # The QR code on the right, vertically centred in the box with its label below it.
    qr_left = box_right - 16 - QR_SIZE
    qr_bottom = box_bottom + (BOX_HEIGHT - QR_SIZE) / 2 + label_height
    qr_image = ImageReader(io.BytesIO(utils.qr_png(url)))
    pdf.drawImage(qr_image, qr_left, qr_bottom, QR_SIZE, QR_SIZE)
    pdf.setFillColor(TEXT_COLOR)
    y = qr_bottom - QR_LABEL_LEADING + 1
    for line in label_lines:
        draw_text(pdf, qr_left + QR_SIZE / 2, y, line, font, QR_LABEL_SIZE, centred=True)
        y -= QR_LABEL_LEADING

    # The text and the button on the left.
    text_left = box_left + 18
    text_width = qr_left - 18 - text_left
    y = box_top - 30
    pdf.setFillColor(TEXT_COLOR)
    draw_text(pdf, text_left, y, title, font_bold, 15)
    y -= 22
    for line in simpleSplit(amount_line, font, 11, text_width):
        draw_text(pdf, text_left, y, line, font, 11)
        y -= 14

    y -= 8 + BUTTON_HEIGHT
    pdf.setFillColor(BUTTON_COLOR)
    pdf.roundRect(text_left, y, BUTTON_WIDTH, BUTTON_HEIGHT, 5, stroke=0, fill=1)
    pdf.setFillColor(white)
    draw_text(pdf, text_left + BUTTON_WIDTH / 2, y + 12, button_label, font_bold, 13, centred=True)
    pdf.linkURL(
        url, (text_left, y, text_left + BUTTON_WIDTH, y + BUTTON_HEIGHT), relative=0, thickness=0
    )

    y -= 20
    pdf.setFillColor(MUTED_COLOR)
    for paragraph in rule_lines:
        for line in simpleSplit(paragraph, font, 9, text_width):
            draw_text(pdf, text_left, y, line, font, 9)
            y -= 12

    pdf.showPage()
    pdf.save()
    return buffer.getvalue()
