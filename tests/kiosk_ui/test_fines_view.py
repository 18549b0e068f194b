"""The Fines page in the real window (threaded runner, fake edge): from My account to the QR
and the payment's arrival."""

from __future__ import annotations

from typing import Any

from kiosk_ui.fake_edge import FakeEdge
from kiosk_ui.viewmodels import Screen
from tests.kiosk_ui.test_views import _login_by_keypad, _tap, _texts, _wait_screen


def test_pay_all_fines_shows_the_qr_then_the_payment(kiosk: Any, qtbot: Any,
                                                    edge: FakeEdge) -> None:
    edge.fines = [{"fine_id": "11", "amount": 50000, "currency": "VND", "reason": "Trả muộn"},
                  {"fine_id": "12", "amount": 25000, "currency": "VND", "reason": "Hư hỏng"}]
    _login_by_keypad(qtbot, kiosk)
    _tap(qtbot, kiosk, "tile_account")
    _wait_screen(qtbot, kiosk, Screen.ACCOUNT)
    _tap(qtbot, kiosk, "go_pay_fines")
    _wait_screen(qtbot, kiosk, Screen.FINES)
    page = kiosk.window.current_page()
    qtbot.waitUntil(lambda: page.list.count() == 2, timeout=3000)
    assert "Trả muộn" in page.list.item(0).text() and "50.000 ₫" in page.list.item(0).text()
    _tap(qtbot, kiosk, "pay_fines")
    qtbot.waitUntil(lambda: not page.qr.pixmap().isNull(), timeout=3000)
    assert ("create_payment", None) in edge.calls
    texts = _texts(kiosk.window)
    assert "75.000 ₫" in texts and "VietinBank" in texts and "SLFAKE0001" in texts
    edge.payments["SLFAKE0001"]["status"] = "paid"
    kiosk.vm.on_event({"type": "payment", "reference": "SLFAKE0001", "status": "paid"})
    qtbot.waitUntil(lambda: kiosk.vm.fines.status == "paid", timeout=3000)
    page.refresh()
    assert page.qr.pixmap().isNull()
