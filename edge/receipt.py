"""Receipts: JSON data, plain text, ESC/POS bytes for a thermal printer, and PDF.

Pure functions: they build bytes and strings (reading only a font file); sending them is
:meth:`edge.devices.DeviceManager.print_bytes` (printer) and :mod:`edge.receipt_mail`
(e-mail). This module must not open ports, sockets or the store.

Two receipt kinds share one dict shape (``docs/api.md``, ``Receipt``): a session's
circulation (``lines``: item ID, title, action, due date; a return's outcome: returned,
the bin, transit to a library, the hold shelf, or refused with the reason) and a payment
(``kind = "payment"``, ``amount`` paid, ``currency``, ``reference``, the fines it paid as
``lines`` with a ``description`` and their ``amount``; a partial payment's ``owed``: what
is still owed under the reference).

Vietnamese on paper, chosen by ``[printer] vietnamese`` (:func:`printer_bytes`):

- ``ascii``: folded to ASCII (``Lịch sử`` → ``Lich su``); every printer prints it.
- ``cp1258``: ``ESC t n`` selects the printer's Windows-1258 table (Epson's number for
  WPC1258 is 52, ``[printer] codepage``) and the text is sent in cp1258. cp1258 holds
  only some precomposed letters (``â ê ô ă đ ơ ư`` and ``à á è é í ó ù ú``); every
  other toned letter is its base letter followed by one of the five combining tone
  marks (``ệ`` → ``ê`` 0xEA + dot below 0xF2).
- ``raster``: the text is drawn with DejaVu Sans into a 1-bit image, sent as
  ``GS v 0`` bands; any printer with raster graphics prints any letter.

ESC/POS stream (text modes)::

    1B 40            ESC @      initialise
    1B 74 n          ESC t n    code page (cp1258 mode only)
    1B 61 01         ESC a 1    centre          (header)
    1B 45 01 / 00    ESC E n    bold on / off
    ... text lines, LF-terminated ...
    1B 64 04         ESC d 4    feed four lines
    1D 56 00         GS V 0     full cut

Raster mode: ``ESC @``, then per band of at most :data:`RASTER_BAND_ROWS` rows
``1D 76 30 00 xL xH yL yH`` + ``(xL + 256 xH) * (yL + 256 yH)`` bytes (a set bit prints
a dot, most significant bit leftmost), then ``ESC d 4`` and ``GS V 0``.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

from edge.errors import EdgeError, texts
from edge.services.sessions import ReceiptLine, Session
from smartlib.logs import mask_identifier

if TYPE_CHECKING:
    from PIL import Image

    from smartlib.config import PrinterSection

ACTIONS = {"checkout": {"vi": "Mượn", "en": "Borrowed"}, "return": {"vi": "Trả", "en": "Return"},
           "renew": {"vi": "Gia hạn", "en": "Renewed"}}
OUTCOMES = {
    "returned": {"vi": "Đã trả", "en": "Returned"},
    "offline_accepted": {"vi": "Đã nhận, chờ hệ thống thư viện xác nhận",
                         "en": "Accepted, awaiting the library system"},
    "bin": {"vi": "Đã trả, để vào ngăn {bin}", "en": "Returned, put in bin {bin}"},
    "transit": {"vi": "Đã trả, chuyển về {destination}", "en": "Returned, transit to {destination}"},
    "hold_shelf": {"vi": "Đã trả, để lên giá giữ chỗ", "en": "Returned, to the hold shelf"},
    "refused": {"vi": "Không nhận trả: {reason}", "en": "Not returned: {reason}"},
}
"""A return's outcome on the receipt (``{bin}``, ``{destination}``, ``{reason}`` filled in)."""
HEADINGS = {"vi": {"patron": "Bạn đọc", "due": "Hạn trả", "thanks": "Cảm ơn bạn!",
                   "paid": "Đã thanh toán", "amount": "Số tiền", "reference": "Mã tham chiếu",
                   "fine": "Phí", "owed": "Còn nợ"},
            "en": {"patron": "Patron", "due": "Due", "thanks": "Thank you!",
                   "paid": "Payment received", "amount": "Amount", "reference": "Reference",
                   "fine": "Fee", "owed": "Still owed"}}

DEJAVU_DIR = "/usr/share/fonts/truetype/dejavu"
"""Where Debian's fonts-dejavu-core puts DejaVu Sans."""
ESCPOS_CODEPAGE_WPC1258 = 52
"""``ESC t 52`` selects WPC1258 (Vietnamese) on Epson TM printers and most compatibles."""
RASTER_BAND_ROWS = 960
"""Rows per ``GS v 0`` command: printers limit one raster command's height."""

VietnameseMode = Literal["ascii", "cp1258", "raster"]

# cp1258 (Microsoft's table, unicode.org MICSFT/WINDOWS/CP1258.TXT): the code points above
# 0x7F that receipts use: the precomposed Vietnamese letters, the five tone marks, signs.
_CP1258: dict[str, int] = {
    "À": 0xC0, "Á": 0xC1, "Â": 0xC2, "Ă": 0xC3, "È": 0xC8, "É": 0xC9, "Ê": 0xCA, "Í": 0xCD,
    "Đ": 0xD0, "Ó": 0xD3, "Ô": 0xD4, "Ơ": 0xD5, "Ù": 0xD9, "Ú": 0xDA, "Ư": 0xDD,
    "à": 0xE0, "á": 0xE1, "â": 0xE2, "ă": 0xE3, "è": 0xE8, "é": 0xE9, "ê": 0xEA, "í": 0xED,
    "đ": 0xF0, "ó": 0xF3, "ô": 0xF4, "ơ": 0xF5, "ù": 0xF9, "ú": 0xFA, "ư": 0xFD,
    "\u0300": 0xCC, "\u0301": 0xEC, "\u0303": 0xDE, "\u0309": 0xD2, "\u0323": 0xF2,
    "€": 0x80, "…": 0x85, "‘": 0x91, "’": 0x92, "“": 0x93, "”": 0x94, "•": 0x95, "–": 0x96,
    "—": 0x97, "«": 0xAB, "°": 0xB0, "»": 0xBB, "₫": 0xFE,
}
_TONES = frozenset("\u0300\u0301\u0303\u0309\u0323")


class ReceiptFontMissing(EdgeError):
    """A DejaVu font file for raster or PDF receipts cannot be read."""

    def __init__(self, path: str, why: str) -> None:
        super().__init__("receipt_font_missing", f"cannot read the receipt font {path} ({why}); "
                         "install fonts-dejavu-core or set [printer] font_dir", status=500)


def font_file(font_dir: str, bold: bool = False) -> str:
    """The path of DejaVu Sans (or its bold) under ``font_dir``, checked to be readable.

    Raises:
        ReceiptFontMissing: the file is missing or unreadable.
    """
    path = f"{font_dir}/DejaVuSans{'-Bold' if bold else ''}.ttf"
    try:
        with open(path, "rb") as fh:
            fh.read(4)
    except OSError as exc:
        raise ReceiptFontMissing(path, exc.strerror or type(exc).__name__) from exc
    return path


def site_now(timezone: str, now: datetime | None = None) -> str:
    """Now (or ``now``) in the library's time zone (``site.timezone``), ISO 8601 with its
    offset, to the second: a receipt's ``when`` (a patron reads the library's clock, not
    UTC)."""
    moment = now if now is not None else datetime.now(UTC)
    return moment.astimezone(ZoneInfo(timezone)).isoformat(timespec="seconds")


def when_text(when: str) -> str:
    """A receipt's ``when`` as printed: ``2026-12-07 19:24`` (any other text as it is)."""
    try:
        return datetime.fromisoformat(when).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return when


def build_receipt(session: Session, library: str, when: str) -> dict[str, Any]:
    """The ``Receipt`` JSON of ``docs/api.md`` for a session's transactions so far."""
    return {"library": library, "patron_masked": mask_identifier(session.patron_id), "when": when,
            "language": session.language,
            "lines": [receipt_line(ln) for ln in session.lines]}


def receipt_line(ln: ReceiptLine) -> dict[str, Any]:
    """One receipt line: item, title, action, due date; a return's outcome with its bin,
    destination or refusal reason."""
    out: dict[str, Any] = {"item_id": ln.item_id, "title": ln.title, "action": ln.action,
                           "due_date": ln.due_date}
    if ln.outcome is not None:
        out.update(outcome=ln.outcome, destination=ln.destination, bin=ln.bin,
                   reason=ln.reason, reason_text=ln.reason_text)
    return out


def build_payment_receipt(library: str, when: str, patron_id: str, amount: int, reference: str,
                          *, fines: Iterable[str | tuple[str, int | None]] = (),
                          currency: str = "VND", language: str = "vi",
                          owed: int | None = None) -> dict[str, Any]:
    """The receipt of one payment: the amount paid, its reference and the fines it paid.

    Args:
        fines: each fine's reason, or ``(reason, amount)`` to list its amount too.
        owed: what is still owed under the reference (a partial payment); None or 0: none.
    """
    lines: list[dict[str, Any]] = []
    for f in fines:
        reason, fine_amount = (f, None) if isinstance(f, str) else f
        lines.append({"description": reason, "amount":
                      None if fine_amount is None else int(fine_amount)})
    return {"kind": "payment", "library": library, "patron_masked": mask_identifier(patron_id),
            "when": when, "language": language, "amount": int(amount), "currency": currency,
            "reference": reference, "owed": int(owed) if owed else None, "lines": lines}


def format_amount(amount: int, currency: str, language: str) -> str:
    """``75.000 VND`` (Vietnamese groups with dots) or ``75,000 VND``."""
    grouped = f"{amount:,}"
    return f"{grouped.replace(',', '.') if language == 'vi' else grouped} {currency}"


def receipt_text(receipt: dict[str, Any], language: str = "vi", width: int = 42) -> str:
    """The receipt as plain text lines of at most ``width`` characters."""
    lang = language if language in HEADINGS else "en"
    h = HEADINGS[lang]
    out = [receipt["library"][:width], when_text(receipt["when"])[:width],
           f"{h['patron']}: {receipt['patron_masked']}"[:width], "-" * width]
    if receipt.get("kind") == "payment":
        amount = format_amount(receipt["amount"], receipt["currency"], lang)
        out += [h["paid"][:width], f"{h['amount']}: {amount}"[:width],
                f"{h['reference']}: {receipt['reference']}"[:width]]
        if receipt.get("owed"):
            owed = format_amount(receipt["owed"], receipt["currency"], lang)
            out.append(f"{h['owed']}: {owed}"[:width])
        for ln in receipt["lines"]:
            out.append(f"  {h['fine']}: {ln['description']}"[:width])
            if ln.get("amount") is not None:
                fine = format_amount(ln["amount"], receipt["currency"], lang)
                out.append(f"    {fine}"[:width])
    else:
        for ln in receipt["lines"]:
            action = ACTIONS.get(ln["action"], {}).get(lang, ln["action"])
            out.append(f"{action}: {ln['item_id']}"[:width])
            if ln.get("title"):
                out.append(f"  {ln['title']}"[:width])
            if ln.get("due_date"):
                out.append(f"  {h['due']}: {ln['due_date']}"[:width])
            if ln.get("outcome"):
                out.append(f"  {outcome_text(ln, lang)}"[:width])
    out += ["-" * width, h["thanks"]]
    return "\n".join(out) + "\n"


def outcome_text(line: dict[str, Any], language: str) -> str:
    """A return line's outcome in ``language``: returned, the bin, the transit destination,
    or the refusal with its reason (the edge's text for the code, else the ILS's words)."""
    outcome = str(line.get("outcome") or "")
    template = OUTCOMES.get(outcome, {}).get(language)
    if template is None:
        return outcome
    code = line.get("reason")
    reason = ""
    if outcome == "refused":
        known = texts(code) if code else None
        if line.get("reason_text") and (not known or code == "ils_refused"):
            reason = str(line["reason_text"])
        elif known:
            reason = known.get(language) or known.get("en") or ""
        else:
            reason = str(code or "")
    destination = line.get("destination") or ""
    if outcome == "transit" and line.get("bin"):
        destination = f"{destination} ({line['bin']})" if destination else str(line["bin"])
    return template.format(bin=line.get("bin") or "", destination=destination, reason=reason)


def fold_ascii(text: str) -> str:
    """Vietnamese (and other accented) text folded to printable ASCII."""
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c) and
                   (c == "\n" or 0x20 <= ord(c) < 0x7F))


def encode_cp1258(text: str) -> bytes:
    """``text`` in Windows-1258: a precomposed byte where cp1258 has the letter, else the
    base letter and a combining tone mark; what cp1258 cannot carry is folded to ASCII."""
    out = bytearray()
    for ch in unicodedata.normalize("NFC", text):
        if ord(ch) < 0x80:
            out.append(ord(ch))
        elif ch in _CP1258:
            out.append(_CP1258[ch])
        else:
            parts = unicodedata.normalize("NFD", ch)
            tones = [m for m in parts if m in _TONES]
            base = unicodedata.normalize("NFC", "".join(m for m in parts if m not in _TONES))
            if tones and len(base) == 1 and (ord(base) < 0x80 or base in _CP1258):
                out.append(ord(base) if ord(base) < 0x80 else _CP1258[base])
                out += bytes(_CP1258[m] for m in tones)
            else:
                out += (fold_ascii(ch) or "?").encode("ascii")
    return bytes(out)


def _text_escpos(text: str, encode: Callable[[str], bytes], preamble: bytes) -> bytes:
    header, _, rest = text.partition("\n")
    return (b"\x1b@" + preamble + b"\x1ba\x01" + b"\x1bE\x01" + encode(header) + b"\n" +
            b"\x1bE\x00" + b"\x1ba\x00" + encode(rest) + b"\x1bd\x04" + b"\x1dV\x00")


def receipt_escpos(receipt: dict[str, Any], language: str = "vi", width: int = 42, *,
                   vietnamese: VietnameseMode = "ascii",
                   codepage: int = ESCPOS_CODEPAGE_WPC1258) -> bytes:
    """The receipt as an ESC/POS byte stream (initialise, header, lines, feed, cut).

    Args:
        vietnamese: ``ascii`` (folded) or ``cp1258`` (``ESC t codepage``); raster is
            :func:`receipt_raster`.
        codepage: the ``ESC t`` number of the printer's WPC1258 table.
    """
    text = receipt_text(receipt, language, width)
    if vietnamese == "cp1258":
        if not 0 <= codepage <= 255:
            raise ValueError(f"ESC t code page {codepage} is not a byte")
        return _text_escpos(text, encode_cp1258, b"\x1bt" + bytes([codepage]))
    if vietnamese != "ascii":
        raise ValueError(f"receipt_escpos prints ascii or cp1258, not {vietnamese!r}")
    return _text_escpos(text, lambda s: fold_ascii(s).encode("ascii"), b"")


def render_lines(lines: Sequence[str], width_dots: int, *, font_size: int = 22,
                 font_dir: str = DEJAVU_DIR, bold_first: bool = True) -> Image.Image:
    """The lines drawn in DejaVu Sans on a 1-bit image ``width_dots`` wide (ink = 1).

    A line wider than the paper is cut at the last character that fits.

    Raises:
        ReceiptFontMissing: no DejaVu Sans under ``font_dir``.
    """
    from PIL import Image, ImageDraw, ImageFont

    regular = ImageFont.truetype(font_file(font_dir), font_size)
    bold = ImageFont.truetype(font_file(font_dir, bold=True), font_size)
    line_h = round(font_size * 1.35)
    img = Image.new("1", (width_dots, max(1, line_h * len(lines))), 0)
    draw = ImageDraw.Draw(img)
    for row, line in enumerate(lines):
        font = bold if bold_first and row == 0 else regular
        text = unicodedata.normalize("NFC", line)
        while text and draw.textlength(text, font=font) > width_dots:
            text = text[:-1]
        x = max(0, (width_dots - int(draw.textlength(text, font=font))) // 2) if row == 0 else 0
        draw.text((x, row * line_h), text, font=font, fill=1)
    return img


def raster_escpos(img: Image.Image) -> bytes:
    """A 1-bit image (ink = 1, width a multiple of 8) as ``GS v 0`` bands."""
    if img.mode != "1" or img.width % 8:
        raise ValueError("GS v 0 needs a mode '1' image whose width is a multiple of 8")
    x_bytes = img.width // 8
    out = bytearray()
    for top in range(0, img.height, RASTER_BAND_ROWS):
        band = img.crop((0, top, img.width, min(img.height, top + RASTER_BAND_ROWS)))
        out += b"\x1dv0\x00" + x_bytes.to_bytes(2, "little") + band.height.to_bytes(2, "little")
        out += band.tobytes()
    return bytes(out)


def receipt_raster(receipt: dict[str, Any], language: str = "vi", width: int = 42, *,
                   width_dots: int = 576, font_size: int = 22,
                   font_dir: str = DEJAVU_DIR) -> bytes:
    """The receipt as ESC/POS raster graphics: any letter prints, whatever the code page."""
    lines = receipt_text(receipt, language, width).rstrip("\n").split("\n")
    img = render_lines(lines, width_dots, font_size=font_size, font_dir=font_dir)
    return b"\x1b@" + raster_escpos(img) + b"\x1bd\x04" + b"\x1dV\x00"


def printer_bytes(receipt: dict[str, Any], language: str, printer: PrinterSection) -> bytes:
    """The receipt for the configured printer (``[printer] vietnamese`` chooses the mode)."""
    if printer.vietnamese == "raster":
        return receipt_raster(receipt, language, printer.width_chars,
                              width_dots=printer.width_dots, font_size=printer.font_size,
                              font_dir=printer.font_dir)
    return receipt_escpos(receipt, language, printer.width_chars,
                          vietnamese=printer.vietnamese, codepage=printer.codepage)


def receipt_pdf(receipt: dict[str, Any], language: str = "vi", *,
                font_dir: str = DEJAVU_DIR) -> bytes:
    """The receipt as an A5 PDF in DejaVu Sans (every Vietnamese letter, embedded subset)."""
    from fpdf import FPDF

    pdf = FPDF(format=(148, 210))  # A5 in mm
    pdf.set_title(f"{receipt['library']} {when_text(receipt['when'])}")
    pdf.add_font("DejaVu", "", font_file(font_dir))
    pdf.add_font("DejaVu", "B", font_file(font_dir, bold=True))
    pdf.add_page()
    lines = receipt_text(receipt, language, width=60).rstrip("\n").split("\n")
    pdf.set_font("DejaVu", "B", 14)
    pdf.cell(0, 9, lines[0], new_x="LMARGIN", new_y="NEXT", align="C")
    pdf.set_font("DejaVu", "", 10)
    for line in lines[1:]:
        if line and set(line) == {"-"}:
            pdf.ln(2)
            pdf.line(pdf.l_margin, pdf.get_y(), pdf.w - pdf.r_margin, pdf.get_y())
            pdf.ln(2)
            continue
        pdf.cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
