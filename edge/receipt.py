"""Receipts for a session: JSON data, plain text, and ESC/POS bytes for a thermal printer.

Pure functions: they build bytes and strings; sending them to the printer is
:meth:`edge.devices.DeviceManager.print_bytes`. ESC/POS printers rarely have a code page
with Vietnamese letters, so the printed text is folded to ASCII (``Lịch sử`` → ``Lich su``).

ESC/POS stream::

    1B 40            ESC @      initialise
    1B 61 01         ESC a 1    centre          (header)
    1B 45 01 / 00    ESC E n    bold on / off
    ... text lines, LF-terminated ...
    1B 64 04         ESC d 4    feed four lines
    1D 56 00         GS V 0     full cut
"""

from __future__ import annotations

import unicodedata
from typing import Any

from edge.services.sessions import Session
from smartlib.logs import mask_identifier

ACTIONS = {"checkout": {"vi": "Mượn", "en": "Borrowed"}, "return": {"vi": "Trả", "en": "Returned"},
           "renew": {"vi": "Gia hạn", "en": "Renewed"}}
HEADINGS = {"vi": {"patron": "Bạn đọc", "due": "Hạn trả", "thanks": "Cảm ơn bạn!"},
            "en": {"patron": "Patron", "due": "Due", "thanks": "Thank you!"}}


def build_receipt(session: Session, library: str, when: str) -> dict[str, Any]:
    """The ``Receipt`` JSON of ``docs/api.md`` for a session's transactions so far."""
    return {"library": library, "patron_masked": mask_identifier(session.patron_id), "when": when,
            "language": session.language,
            "lines": [{"item_id": ln.item_id, "title": ln.title, "action": ln.action,
                       "due_date": ln.due_date} for ln in session.lines]}


def receipt_text(receipt: dict[str, Any], language: str = "vi", width: int = 42) -> str:
    """The receipt as plain text lines of at most ``width`` characters."""
    lang = language if language in HEADINGS else "en"
    h = HEADINGS[lang]
    out = [receipt["library"][:width], receipt["when"][:width],
           f"{h['patron']}: {receipt['patron_masked']}"[:width], "-" * width]
    for ln in receipt["lines"]:
        action = ACTIONS.get(ln["action"], {}).get(lang, ln["action"])
        out.append(f"{action}: {ln['item_id']}"[:width])
        if ln.get("title"):
            out.append(f"  {ln['title']}"[:width])
        if ln.get("due_date"):
            out.append(f"  {h['due']}: {ln['due_date']}"[:width])
    out += ["-" * width, h["thanks"]]
    return "\n".join(out) + "\n"


def fold_ascii(text: str) -> str:
    """Vietnamese (and other accented) text folded to printable ASCII."""
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c) and
                   (c == "\n" or 0x20 <= ord(c) < 0x7F))


def receipt_escpos(receipt: dict[str, Any], language: str = "vi", width: int = 42) -> bytes:
    """The receipt as an ESC/POS byte stream (initialise, header, lines, feed, cut)."""
    body = fold_ascii(receipt_text(receipt, language, width)).encode("ascii")
    header, _, rest = body.partition(b"\n")
    return (b"\x1b@" + b"\x1ba\x01" + b"\x1bE\x01" + header + b"\n" + b"\x1bE\x00" +
            b"\x1ba\x00" + rest + b"\x1bd\x04" + b"\x1dV\x00")
