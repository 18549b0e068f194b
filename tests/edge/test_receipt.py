"""Receipts: text, ESC/POS in ASCII / Windows-1258 / raster, PDF, and the payment kind."""

from __future__ import annotations

import io
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image
from pypdf import PdfReader

from edge.receipt import (
    RASTER_BAND_ROWS,
    ReceiptFontMissing,
    build_payment_receipt,
    build_receipt,
    encode_cp1258,
    printer_bytes,
    receipt_escpos,
    receipt_pdf,
    receipt_raster,
    receipt_text,
    render_lines,
)
from edge.services.sessions import ReceiptLine, Session
from smartlib.config import PrinterSection

WHEN = "2026-12-07T04:00:00Z"


def session(language: str = "vi") -> Session:
    return Session(id="s1", patron_id="2000001", name="Nguyễn Văn A", language=language,
                   source="card", offline=False, loan_limit=10, started_at=WHEN,
                   last_active=0.0, idle_timeout_s=60,
                   lines=[ReceiptLine("3000001", "Lịch sử Việt Nam", "checkout", "2026-12-21"),
                          ReceiptLine("3000002", "Truyện Kiều", "return")])


def receipt(language: str = "vi") -> dict:
    return build_receipt(session(language), "Thư viện Demo", WHEN)


def test_text_lists_title_id_due_date_outcome_library_and_time() -> None:
    text = receipt_text(receipt(), "vi")
    assert text.splitlines() == [
        "Thư viện Demo", "2026-12-07 04:00", "Bạn đọc: ****001", "-" * 42,
        "Mượn: 3000001", "  Lịch sử Việt Nam", "  Hạn trả: 2026-12-21",
        "Trả: 3000002", "  Truyện Kiều", "-" * 42, "Cảm ơn bạn!"]


def test_payment_receipt_lists_amount_and_reference() -> None:
    pay = build_payment_receipt("Thư viện Demo", WHEN, "2000003", 75000, "SL2000003A1",
                                fines=["Trả muộn: Truyện Kiều"])
    text = receipt_text(pay, "vi")
    assert "Số tiền: 75.000 VND" in text and "Mã tham chiếu: SL2000003A1" in text
    assert "  Phí: Trả muộn: Truyện Kiều" in text and "****003" in text
    assert "Amount: 75,000 VND" in receipt_text(pay, "en")


def test_ascii_mode_is_unchanged_folding() -> None:
    esc = receipt_escpos(receipt(), "vi")
    assert esc.startswith(b"\x1b@\x1ba\x01\x1bE\x01Thu vien Demo\n\x1bE\x00\x1ba\x00")
    assert b"  Han tra: 2026-12-21\n" in esc and esc.endswith(b"\x1bd\x04\x1dV\x00")
    assert b"\x1bt" not in esc


# Hand-derived from Microsoft's cp1258 table (unicode.org MICSFT/WINDOWS/CP1258.TXT):
# a=61 n=6E; U+0323 dot below = F2, U+0309 hook above = D2, U+0300 grave = CC,
# U+0301 acute = EC, U+0303 tilde = DE; ê=EA ư=FD ơ=F5 ô=F4 Đ=D0.
CP1258_GOLDEN = {
    "Hạn trả": bytes.fromhex("48 61 F2 6E 20 74 72 61 D2"),
    "Mượn": bytes.fromhex("4D FD F5 F2 6E"),
    "Thư viện": bytes.fromhex("54 68 FD 20 76 69 EA F2 6E"),
    "Số tiền": bytes.fromhex("53 F4 EC 20 74 69 EA CC 6E"),
    "Đã trả": bytes.fromhex("D0 61 DE 20 74 72 61 D2"),
    "Cảm ơn bạn!": bytes.fromhex("43 61 D2 6D 20 F5 6E 20 62 61 F2 6E 21"),
    "Lịch sử": bytes.fromhex("4C 69 F2 63 68 20 73 FD D2"),
    "Tiếng Việt á": bytes.fromhex("54 69 EA EC 6E 67 20 56 69 EA F2 74 20 E1"),
}


@pytest.mark.parametrize("text", list(CP1258_GOLDEN))
def test_cp1258_golden_bytes(text: str) -> None:
    assert encode_cp1258(text) == CP1258_GOLDEN[text]
    # The standard library's cp1258 decoder reads them back to the same letters.
    assert unicodedata.normalize("NFC", CP1258_GOLDEN[text].decode("cp1258")) == text


VIETNAMESE = ("aăâbcdđeêghiklmnoôơpqrstuưvxy"
              "àáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵ")


@given(st.text(st.sampled_from(VIETNAMESE + VIETNAMESE.upper() + " 0123456789:-!"),
               max_size=60))
def test_cp1258_carries_every_vietnamese_letter(text: str) -> None:
    data = encode_cp1258(text)
    assert unicodedata.normalize("NFC", data.decode("cp1258")) == unicodedata.normalize("NFC", text)


def test_cp1258_mode_selects_the_code_page_and_keeps_the_letters() -> None:
    esc = receipt_escpos(receipt(), "vi", vietnamese="cp1258", codepage=52)
    assert esc.startswith(b"\x1b@\x1bt\x34\x1ba\x01\x1bE\x01")
    body = esc[len(b"\x1b@\x1bt\x34"):]
    assert CP1258_GOLDEN["Hạn trả"] + b": 2026-12-21\n" in body
    text = unicodedata.normalize("NFC", body.replace(b"\x1bE\x01", b"").replace(b"\x1bE\x00", b"")
                                 .replace(b"\x1ba\x01", b"").replace(b"\x1ba\x00", b"")
                                 .removesuffix(b"\x1bd\x04\x1dV\x00").decode("cp1258"))
    assert text == receipt_text(receipt(), "vi")
    with pytest.raises(ValueError):
        receipt_escpos(receipt(), vietnamese="cp1258", codepage=256)


def _raster_bands(data: bytes) -> list[tuple[int, int, bytes]]:
    """Parse ESC @, GS v 0 bands, ESC d 4, GS V 0 (by the ESC/POS layout, not the code)."""
    assert data.startswith(b"\x1b@") and data.endswith(b"\x1bd\x04\x1dV\x00")
    pos, end, bands = 2, len(data) - 6, []
    while pos < end:
        assert data[pos:pos + 4] == b"\x1d\x76\x30\x00", data[pos:pos + 8]
        x = data[pos + 4] + 256 * data[pos + 5]
        y = data[pos + 6] + 256 * data[pos + 7]
        bands.append((x, y, data[pos + 8:pos + 8 + x * y]))
        pos += 8 + x * y
    assert pos == end
    return bands


def test_raster_header_fields_and_image_size() -> None:
    data = receipt_raster(receipt(), "vi", width_dots=576, font_size=22)
    bands = _raster_bands(data)
    lines = receipt_text(receipt(), "vi").rstrip("\n").split("\n")
    assert len(bands) == 1
    x, y, bits = bands[0]
    assert x == 72 and y == 30 * len(lines) and len(bits) == 72 * y  # 30 = round(22 * 1.35)
    # A set bit prints a dot: text is a small share of the paper, and the centred header
    # leaves the left edge of its first rows blank.
    ink = sum(bin(b).count("1") for b in bits)
    assert 0 < ink < 0.2 * 8 * len(bits)
    assert all(bits[72 * r] == 0 for r in range(30))
    img = Image.frombytes("1", (576, y), bits)
    for row in range(len(lines)):  # every line put ink in its own band of rows
        assert img.crop((0, row * 30, 576, row * 30 + 30)).getbbox() is not None, row
    left, _, right, _ = img.crop((0, 0, 576, 30)).getbbox()
    assert abs((576 - right) - left) <= 24  # the header is centred


def test_raster_is_split_into_bands_for_a_long_receipt() -> None:
    s = session()
    s.lines = [ReceiptLine(f"30{i:05d}", f"Sách số {i}", "checkout", "2026-12-21")
               for i in range(20)]
    data = receipt_raster(build_receipt(s, "Thư viện Demo", WHEN), "vi", width_dots=384)
    bands = _raster_bands(data)
    total = sum(y for _, y, _ in bands)
    assert [x for x, _, _ in bands] == [48] * len(bands)
    assert [y for _, y, _ in bands[:-1]] == [RASTER_BAND_ROWS] * (len(bands) - 1)
    assert len(bands) == 3 and total == 30 * len(receipt_text(
        build_receipt(s, "Thư viện Demo", WHEN), "vi").rstrip("\n").split("\n"))


def test_raster_draws_the_diacritics() -> None:
    plain, hat, full = (render_lines([t], 96, bold_first=False).tobytes()
                        for t in ("e", "ê", "ệ"))
    assert len({plain, hat, full}) == 3


def test_printer_bytes_follow_the_configured_mode() -> None:
    r = receipt()
    assert printer_bytes(r, "vi", PrinterSection()) == receipt_escpos(r, "vi")
    assert printer_bytes(r, "vi", PrinterSection(vietnamese="cp1258", codepage=30)).startswith(
        b"\x1b@\x1bt\x1e")
    assert printer_bytes(r, "vi", PrinterSection(vietnamese="raster", width_dots=384))[2:6] == \
        b"\x1dv0\x00"


def _pdf_text(pdf: bytes) -> str:
    reader = PdfReader(io.BytesIO(pdf))
    return unicodedata.normalize("NFC", "\n".join(p.extract_text() for p in reader.pages))


def test_pdf_carries_the_vietnamese_words() -> None:
    pdf = receipt_pdf(receipt(), "vi")
    assert pdf.startswith(b"%PDF-")
    text = _pdf_text(pdf)
    for words in ("Thư viện Demo", "Lịch sử Việt Nam", "Hạn trả: 2026-12-21", "Truyện Kiều",
                  "Cảm ơn bạn!", "Mượn: 3000001", "2026-12-07 04:00"):
        assert words in text, (words, text)
    assert b"DejaVuSans" in pdf


def test_pdf_of_a_payment() -> None:
    pay = build_payment_receipt("Thư viện Demo", WHEN, "2000003", 75000, "SL2000003A1",
                                fines=["Trả muộn"])
    text = _pdf_text(receipt_pdf(pay, "vi"))
    assert "Số tiền: 75.000 VND" in text and "SL2000003A1" in text and "Đã thanh toán" in text


@pytest.mark.parametrize("render", [
    lambda d: receipt_pdf(receipt(), font_dir=d),
    lambda d: receipt_raster(receipt(), font_dir=d)], ids=["pdf", "raster"])
def test_a_missing_font_is_a_typed_error(tmp_path, render) -> None:
    with pytest.raises(ReceiptFontMissing) as err:
        render(str(tmp_path))
    assert err.value.code == "receipt_font_missing" and err.value.status == 500
    assert str(tmp_path / "DejaVuSans.ttf") in err.value.message


def test_printer_config_is_validated() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        PrinterSection(vietnamese="utf8")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        PrinterSection(width_dots=500)
    with pytest.raises(ValidationError):
        PrinterSection(codepage=300)
