"""Translations (complete, switchable at runtime, every edge error code) and the Qt models."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QCoreApplication, Qt

from kiosk_ui.i18n import ERROR_TEXTS, I18N_DIR, Localizer, TsTranslator, error_text
from kiosk_ui.models import (
    DETAIL_ROLE,
    KIND_ROLE,
    NOTE_ROLE,
    FinesModel,
    HoldsModel,
    ItemResultsModel,
    LoansModel,
    ReceiptLinesModel,
)
from kiosk_ui.text import format_date, format_money

API_MD = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def _messages(lang: str) -> list[tuple[str, str, ET.Element | None]]:
    root = ET.parse(I18N_DIR / f"{lang}.ts").getroot()
    out = []
    for ctx in root.iter("context"):
        for msg in ctx.iter("message"):
            out.append((ctx.findtext("name") or "", msg.findtext("source") or "", msg.find("translation")))
    return out


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_every_message_is_translated(lang: str) -> None:
    msgs = _messages(lang)
    assert len(msgs) > 100
    for ctx, src, tr in msgs:
        assert tr is not None and tr.get("type") is None and tr.text, f"{lang}: {ctx}/{src!r} unfinished"
        assert set(re.findall(r"\{\w+\}", src)) == set(re.findall(r"\{\w+\}", tr.text)), (ctx, src)


def test_vietnamese_is_really_vietnamese() -> None:
    vi = {(c, s): t.text for c, s, t in _messages("vi") if t is not None}
    assert vi[("Menu", "Borrow")] == "Mượn sách"
    same = [k for k, v in vi.items() if v == k[1] and k[1] not in ("OK",)]
    assert same == []


def test_every_patron_facing_edge_code_has_both_languages(localizer: Localizer) -> None:
    text = API_MD.read_text(encoding="utf-8")
    block = text.split("Patron-facing codes", 1)[1].split("):", 1)[1].split("\n\n", 1)[0]
    codes = re.findall(r"`([a-z_]+)`", block)
    assert "wrong_pin" in codes and len(codes) >= 20
    vi_sources = {s for c, s, _ in _messages("vi") if c == "EdgeError"}
    for code in codes:
        assert code in ERROR_TEXTS, code
        assert ERROR_TEXTS[code] in vi_sources, code
        localizer.set_language("vi")
        vi = error_text(code, None, "vi")
        localizer.set_language("en")
        en = error_text(code, None, "en")
        assert vi and en and vi != en, code


def test_edge_texts_win_over_the_catalogue(localizer: Localizer) -> None:
    texts = {"vi": "Mã PIN sai", "en": "Bad PIN"}
    assert error_text("wrong_pin", texts, "vi") == "Mã PIN sai"
    assert error_text("wrong_pin", {"en": "Bad PIN"}, "vi") == "Mã PIN không đúng. Vui lòng thử lại."
    assert error_text("no_such_code", None, "vi").startswith("Đã có lỗi")


def test_language_switches_at_runtime(localizer: Localizer, qtbot: Any) -> None:
    assert QCoreApplication.translate("Menu", "Borrow") == "Mượn sách"
    with qtbot.waitSignal(localizer.changed, timeout=1000) as sig:
        localizer.set_language("en")
    assert sig.args == ["en"]
    assert QCoreApplication.translate("Menu", "Borrow") == "Borrow"
    localizer.set_language("vi")
    assert QCoreApplication.translate("Menu", "Borrow") == "Mượn sách"
    with pytest.raises(ValueError):
        localizer.set_language("fr")


def test_ts_fallback_translator_reads_the_source_catalogue(qapp: Any) -> None:
    tr = TsTranslator(I18N_DIR / "vi.ts")
    assert tr.translate("Menu", "Renew") == "Gia hạn"
    assert tr.translate("Menu", "no such text") == ""


def test_dates_and_money() -> None:
    assert format_date("2026-12-07", "vi") == "07/12/2026"
    assert format_date("2026-12-07T10:00:00+07:00", "en") == "7 Dec 2026"
    assert format_date("soon", "en") == "soon"
    assert format_money(1234567, "VND", "vi") == "1.234.567 ₫"
    assert format_money(1234567, "VND", "en") == "1,234,567 VND"
    assert format_money(2.5, "USD", "en") == "2.50 USD"


# ---- Qt models -------------------------------------------------------------------------

RESULTS = [
    {"item_id": "1", "title": "Truyện Kiều", "status": "loaned", "due_date": "2026-12-07"},
    {"item_id": "2", "title": "Tắt đèn", "status": "on_hold_for_other", "code": "on_hold_for_other"},
    {"item_id": "3", "title": "Số đỏ", "status": "checking"},
    {"item_id": "4", "title": "Chí Phèo", "status": "returned", "fine": {"amount": 5000, "currency": "VND"},
     "sort": {"kind": "bin", "bin": "A"}},
]


def test_item_results_model(qtmodeltester: Any, localizer: Localizer) -> None:
    m = ItemResultsModel(localizer)
    m.set_rows(RESULTS)
    qtmodeltester.check(m)
    assert m.rowCount() == 4 and m.columnCount() == 2
    assert m.data(m.index(0, 1)) == "Đã mượn — hạn trả 07/12/2026"
    assert m.data(m.index(1, 0), KIND_ROLE) == "bad"
    assert m.data(m.index(2, 0), KIND_ROLE) == "pending"
    assert m.data(m.index(3, 0), NOTE_ROLE) == "Tiền phạt: 5.000 ₫"
    assert "thùng trả sách A" in m.data(m.index(3, 0), DETAIL_ROLE)
    assert m.counts() == {"ok": 2, "refused": 1, "pending": 1}
    assert m.headerData(0, Qt.Orientation.Horizontal) == "Nhan đề"


def test_item_results_model_upsert_and_language(qtmodeltester: Any, localizer: Localizer, qtbot: Any) -> None:
    m = ItemResultsModel(localizer)
    with qtbot.waitSignal(m.rowsInserted, timeout=1000):
        m.upsert({"item_id": "9", "title": "X", "status": "checking"})
    with qtbot.waitSignal(m.dataChanged, timeout=1000):
        m.upsert({"item_id": "9", "status": "loaned", "due_date": "2026-01-02", "title": ""})
    assert m.rows == [{"item_id": "9", "title": "X", "status": "loaned", "due_date": "2026-01-02"}]
    with qtbot.waitSignal(m.dataChanged, timeout=1000):
        localizer.set_language("en")
    assert m.data(m.index(0, 1)) == "Borrowed — due 2 Jan 2026"
    qtmodeltester.check(m)


def test_loans_model_checkable_and_overdue(qtmodeltester: Any, localizer: Localizer) -> None:
    m = LoansModel(localizer, checkable=True)
    m.set_rows([{"item_id": "a", "title": "A", "due_date": "2026-11-01", "overdue": True},
                {"item_id": "b", "title": "B", "due_date": "2026-12-01", "overdue": False}])
    qtmodeltester.check(m)
    assert m.flags(m.index(0, 0)) & Qt.ItemFlag.ItemIsUserCheckable
    assert m.data(m.index(0, 0), KIND_ROLE) == "bad"
    assert m.data(m.index(0, 0), DETAIL_ROLE) == "Quá hạn từ 01/11/2026"
    m.toggle(1)
    assert m.checked_ids() == ["b"]
    assert m.setData(m.index(0, 0), Qt.CheckState.Checked.value, Qt.ItemDataRole.CheckStateRole)
    assert m.checked_ids() == ["a", "b"]
    m.toggle(0)
    assert m.checked_ids() == ["b"]
    m.set_rows([{"item_id": "a", "title": "A", "due_date": "2026-11-01"}])
    assert m.checked_ids() == []


def test_holds_fines_receipt_models(qtmodeltester: Any, localizer: Localizer) -> None:
    h = HoldsModel(localizer)
    h.set_rows([{"item_id": "1", "title": "W", "ready": False},
                {"item_id": "2", "title": "R", "ready": True, "pickup_location": "Quầy 1"}])
    qtmodeltester.check(h)
    assert h.data(h.index(0, 0)) == "R"
    assert h.data(h.index(0, 1)) == "Sẵn sàng để nhận tại Quầy 1"
    f = FinesModel(localizer)
    f.set_rows([{"amount": 15000, "currency": "VND", "description": "Trả muộn"}])
    qtmodeltester.check(f)
    assert f.data(f.index(0, 1)) == "15.000 ₫"
    r = ReceiptLinesModel()
    r.set_lines(["a", "b"])
    qtmodeltester.check(r)
    assert r.rowCount() == 2


def _translate_calls() -> set[tuple[str, str, str]]:
    """Every ``….translate("Context", "Source")`` with literal arguments in kiosk_ui."""
    import ast

    calls = set()
    for path in (I18N_DIR.parent).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "translate" and len(node.args) >= 2
                    and all(isinstance(a, ast.Constant) and isinstance(a.value, str)
                            for a in node.args[:2])):
                calls.add((node.args[0].value, node.args[1].value, path.name))
    return calls


def test_every_string_the_kiosk_translates_has_its_vietnamese() -> None:
    """The fines page's Finish button asked for ("Fines", "Finish"), which the catalogue
    did not hold: the Vietnamese page said "Finish". (English is the source language.)"""
    root = ET.parse(I18N_DIR / "vi.ts").getroot()
    have = {(ctx.findtext("name"), msg.findtext("source"))
            for ctx in root.iter("context") for msg in ctx.iter("message")
            if (msg.find("translation") is not None
                and msg.find("translation").get("type") != "unfinished"  # type: ignore[union-attr]
                and (msg.findtext("translation") or ""))}
    calls = _translate_calls()
    assert len(calls) > 100
    missing = sorted((c, s, f) for c, s, f in calls if (c, s) not in have)
    assert missing == []
