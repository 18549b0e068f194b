"""A return receipt lists each item's title, ID and return outcome (returned, sort bin,
transit, refused with the reason), the library and the time; a payment receipt the amount
and the reference. Each renderer (ESC/POS in ASCII and WPC1258, PDF, e-mail) against golden
text and bytes written out by hand here, never produced by the code under test."""

from __future__ import annotations

import email
import email.policy
import io
import unicodedata
from typing import Any

from pypdf import PdfReader

from edge.receipt import (
    build_payment_receipt,
    build_receipt,
    receipt_escpos,
    receipt_pdf,
    receipt_text,
)
from edge.receipt_mail import receipt_message
from edge.services.sessions import ReceiptLine, Session

WHEN = "2026-12-07 10:30"
LIBRARY = "Thư viện Demo"


def _session(lines: list[ReceiptLine], language: str = "en") -> Session:
    return Session(id="s1", patron_id="2000001", name="", language=language, source="card",
                   offline=False, loan_limit=10, started_at=WHEN, last_active=0.0,
                   idle_timeout_s=60, lines=lines)


def return_receipt(language: str = "en") -> dict[str, Any]:
    return build_receipt(_session([
        ReceiptLine("30000100", "Truyện Kiều", "return", outcome="returned"),
        ReceiptLine("30000101", "Số đỏ", "return", outcome="bin", bin="B"),
        ReceiptLine("30000030", "Atlas Địa lý", "return", outcome="transit",
                    destination="VN-HCM0002"),
        ReceiptLine("30000053", "Tắt đèn", "return", outcome="refused", reason="ils_refused",
                    reason_text="Item not checked out"),
        ReceiptLine("30000054", "Chí Phèo", "return", outcome="refused", reason="not_on_loan"),
    ], language), LIBRARY, WHEN)


DASHES = "-" * 42
GOLDEN_RETURN_EN = [
    "Thư viện Demo",
    "2026-12-07 10:30",
    "Patron: ****001",
    DASHES,
    "Return: 30000100",
    "  Truyện Kiều",
    "  Returned",
    "Return: 30000101",
    "  Số đỏ",
    "  Returned, put in bin B",
    "Return: 30000030",
    "  Atlas Địa lý",
    "  Returned, transit to VN-HCM0002",
    "Return: 30000053",
    "  Tắt đèn",
    "  Not returned: Item not checked out",
    "Return: 30000054",
    "  Chí Phèo",
    "  Not returned: This item is not on loan",
    DASHES,
    "Thank you!",
]


def test_the_receipt_data_carries_each_returns_outcome() -> None:
    lines = return_receipt()["lines"]
    assert [(ln["item_id"], ln["outcome"]) for ln in lines] == [
        ("30000100", "returned"), ("30000101", "bin"), ("30000030", "transit"),
        ("30000053", "refused"), ("30000054", "refused")]
    assert lines[1]["bin"] == "B" and lines[2]["destination"] == "VN-HCM0002"
    assert lines[3]["reason_text"] == "Item not checked out"


def test_text_lists_title_id_and_outcome() -> None:
    assert receipt_text(return_receipt(), "en") == "\n".join(GOLDEN_RETURN_EN) + "\n"


def test_escpos_ascii_golden_bytes() -> None:
    body = (b"2026-12-07 10:30\nPatron: ****001\n" + b"-" * 42 + b"\n"
            b"Return: 30000100\n  Truyen Kieu\n  Returned\n"
            b"Return: 30000101\n  So do\n  Returned, put in bin B\n"
            b"Return: 30000030\n  Atlas Dia ly\n  Returned, transit to VN-HCM0002\n"
            b"Return: 30000053\n  Tat den\n  Not returned: Item not checked out\n"
            b"Return: 30000054\n  Chi Pheo\n  Not returned: This item is not on loan\n"
            + b"-" * 42 + b"\nThank you!\n")
    expected = (b"\x1b@" b"\x1ba\x01" b"\x1bE\x01" b"Thu vien Demo\n" b"\x1bE\x00" b"\x1ba\x00"
                + body + b"\x1bd\x04" b"\x1dV\x00")
    assert receipt_escpos(return_receipt(), "en", vietnamese="ascii") == expected


def test_escpos_wpc1258_golden_bytes_in_vietnamese() -> None:
    receipt = build_receipt(_session([
        ReceiptLine("30000030", "Số đỏ", "return", outcome="transit", destination="VN-HCM0002"),
    ], "vi"), LIBRARY, WHEN)
    # cp1258 by hand: ư FD, ê EA, ô F4, ơ F5, đ F0, Đ D0; tones: grave CC, acute EC,
    # tilde DE, hook above D2, dot below F2 (after their base letter).
    expected = (b"\x1b@" b"\x1bt\x34" b"\x1ba\x01" b"\x1bE\x01"
                b"Th\xfd vi\xea\xf2n Demo\n"
                b"\x1bE\x00" b"\x1ba\x00"
                b"2026-12-07 10:30\n"
                b"Ba\xf2n \xf0o\xf2c: ****001\n"
                + b"-" * 40 + b"\n"
                b"Tra\xd2: 30000030\n"
                b"  S\xf4\xec \xf0o\xd2\n"
                b"  \xd0a\xde tra\xd2, chuy\xea\xd2n v\xea\xcc VN-HCM0002\n"
                + b"-" * 40 + b"\n"
                b"Ca\xd2m \xf5n ba\xf2n!\n"
                b"\x1bd\x04" b"\x1dV\x00")
    assert receipt_escpos(receipt, "vi", 40, vietnamese="cp1258", codepage=52) == expected


def _pdf_lines(pdf: bytes) -> list[str]:
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    return [unicodedata.normalize("NFC", ln).strip() for ln in text.splitlines() if ln.strip()]


def test_pdf_lists_the_outcomes() -> None:
    got = _pdf_lines(receipt_pdf(return_receipt(), "en"))
    # The PDF draws the dashed rules as lines, not text (width 60 in the PDF).
    assert got == [ln.strip() for ln in GOLDEN_RETURN_EN if ln != DASHES]


def test_email_body_lists_the_outcomes() -> None:
    r = return_receipt()
    msg = receipt_message(r, "en", sender="thuvien@example.org", to="ban.doc@example.org",
                          pdf=receipt_pdf(r, "en"))
    parsed = email.message_from_bytes(msg.as_bytes(), policy=email.policy.default)
    body = parsed.get_body(("plain",)).get_content()
    golden72 = [("-" * 72 if ln == DASHES else ln) for ln in GOLDEN_RETURN_EN]
    assert body == "\n".join(golden72) + "\n"
    assert parsed["Subject"] == "Receipt – Thư viện Demo – 2026-12-07 10:30"


GOLDEN_PAYMENT_EN = [
    "Thư viện Demo",
    "2026-12-07 10:30",
    "Patron: ****003",
    DASHES,
    "Payment received",
    "Amount: 75,000 VND",
    "Reference: SLAB12CD34EF",
    "  Fee: Overdue 10 days",
    "  Fee: Replacement library card",
    DASHES,
    "Thank you!",
]


def payment_receipt() -> dict[str, Any]:
    return build_payment_receipt(LIBRARY, WHEN, "2000003", 75000, "SLAB12CD34EF",
                                 fines=["Overdue 10 days", "Replacement library card"],
                                 language="en")


def test_payment_receipt_in_every_renderer() -> None:
    r = payment_receipt()
    assert receipt_text(r, "en") == "\n".join(GOLDEN_PAYMENT_EN) + "\n"
    expected = (b"\x1b@" b"\x1ba\x01" b"\x1bE\x01" b"Thu vien Demo\n" b"\x1bE\x00" b"\x1ba\x00"
                b"2026-12-07 10:30\nPatron: ****003\n" + b"-" * 42 + b"\n"
                b"Payment received\nAmount: 75,000 VND\nReference: SLAB12CD34EF\n"
                b"  Fee: Overdue 10 days\n  Fee: Replacement library card\n"
                + b"-" * 42 + b"\nThank you!\n" b"\x1bd\x04" b"\x1dV\x00")
    assert receipt_escpos(r, "en") == expected
    assert _pdf_lines(receipt_pdf(r, "en")) == [ln.strip() for ln in GOLDEN_PAYMENT_EN
                                                 if ln != DASHES]
    msg = receipt_message(r, "en", sender="thuvien@example.org", to="ban.doc@example.org",
                          pdf=b"%PDF-1.4")
    body = email.message_from_bytes(msg.as_bytes(), policy=email.policy.default) \
        .get_body(("plain",)).get_content()
    assert body == "\n".join("-" * 72 if ln == DASHES else ln for ln in GOLDEN_PAYMENT_EN) + "\n"
