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


def test_a_patron_blocked_for_fines_goes_straight_to_paying_them(kiosk: Any, qtbot: Any,
                                                                 edge: FakeEdge) -> None:
    """The edge's session says ``restricted: fines``: no menu, the Fines page with why;
    borrowing is refused by name; Finish ends the session."""
    from PySide6.QtCore import Qt

    edge.fines = [{"fine_id": "11", "amount": 75000, "currency": "VND", "reason": "Trả muộn"}]
    _tap(qtbot, kiosk, "start")
    _wait_screen(qtbot, kiosk, Screen.LOGIN)
    page = kiosk.window.current_page()
    for k in "777":
        qtbot.mouseClick(page.keypad.buttons[k], Qt.MouseButton.LeftButton)
    qtbot.mouseClick(page.keypad.buttons["ok"], Qt.MouseButton.LeftButton)
    for k in "3333":
        qtbot.mouseClick(page.keypad.buttons[k], Qt.MouseButton.LeftButton)
    qtbot.mouseClick(page.keypad.buttons["ok"], Qt.MouseButton.LeftButton)
    _wait_screen(qtbot, kiosk, Screen.FINES)
    fines = kiosk.window.current_page()
    qtbot.waitUntil(lambda: fines.list.count() == 1, timeout=3000)
    fines.refresh()
    assert fines.restricted.isVisible()
    assert "over the limit" in fines.restricted.text() or "vượt mức" in fines.restricted.text()
    assert kiosk.vm.restricted == "fines"
    # Borrowing is refused by the kiosk with the edge's reason, before any call.
    kiosk.vm.go(Screen.BORROW)
    assert kiosk.vm.screen == Screen.FINES
    assert kiosk.vm.error_text and not any(c[0] == "checkout" for c in edge.calls)
    # ... and by the edge itself.
    import pytest

    from kiosk_ui.errors import EdgeApiError
    with pytest.raises(EdgeApiError) as refused:
        edge.checkout(kiosk.vm.session_id, ["3001"])
    assert refused.value.code == "restricted_fines" and refused.value.status == 403
    _tap(qtbot, kiosk, "pay_fines")
    qtbot.waitUntil(lambda: not fines.qr.pixmap().isNull(), timeout=3000)
    # The code, its amount and countdown fit the 1280x800 window without scrolling (the QR
    # sat under an empty list, half below the screen's edge).
    from PySide6.QtWidgets import QApplication
    QApplication.processEvents()
    area = kiosk.window.stack.currentWidget()
    assert area.verticalScrollBar().maximum() == 0
    kiosk.vm.fines.payment = None  # back to the list; Finish ends the restricted session
    kiosk.vm.back()
    _wait_screen(qtbot, kiosk, Screen.ATTRACT)
    assert kiosk.vm.session is None


def test_choose_which_fines_to_pay_or_pay_all(kiosk: Any, qtbot: Any, edge: FakeEdge) -> None:
    """Unticking a fine pays only the others; "Pay all" brings every fine back and pays them."""
    from PySide6.QtCore import Qt

    edge.fines = [{"fine_id": "11", "amount": 50000, "currency": "VND", "reason": "Trả muộn"},
                  {"fine_id": "12", "amount": 25000, "currency": "VND", "reason": "Hư hỏng"}]
    _login_by_keypad(qtbot, kiosk)
    _tap(qtbot, kiosk, "tile_account")
    _wait_screen(qtbot, kiosk, Screen.ACCOUNT)
    _tap(qtbot, kiosk, "go_pay_fines")
    _wait_screen(qtbot, kiosk, Screen.FINES)
    page = kiosk.window.current_page()
    qtbot.waitUntil(lambda: page.list.count() == 2, timeout=3000)
    page.refresh()
    assert not page.pay_all.isVisible() and "75.000 ₫" in page.pay.text()
    page.list.item(0).setCheckState(Qt.CheckState.Unchecked)  # the patron unticks 50,000
    page.refresh()
    assert "25.000 ₫" in page.pay.text()
    assert page.pay_all.isVisible() and "75.000 ₫" in page.pay_all.text()
    _tap(qtbot, kiosk, "pay_all_fines")
    qtbot.waitUntil(lambda: kiosk.vm.fines.payment is not None, timeout=3000)
    assert ("create_payment", None) in edge.calls
    assert kiosk.vm.fines.payment["amount"] == 75000


def test_a_partial_payment_shows_what_arrived_and_a_new_code(kiosk: Any, qtbot: Any,
                                                            edge: FakeEdge) -> None:
    edge.fines = [{"fine_id": "11", "amount": 75000, "currency": "VND", "reason": "Trả muộn"}]
    _login_by_keypad(qtbot, kiosk)
    _tap(qtbot, kiosk, "tile_account")
    _wait_screen(qtbot, kiosk, Screen.ACCOUNT)
    _tap(qtbot, kiosk, "go_pay_fines")
    _wait_screen(qtbot, kiosk, Screen.FINES)
    page = kiosk.window.current_page()
    qtbot.waitUntil(lambda: page.list.count() == 1, timeout=3000)
    _tap(qtbot, kiosk, "pay_fines")
    qtbot.waitUntil(lambda: not page.qr.pixmap().isNull(), timeout=3000)
    first = page.qr.pixmap().toImage()
    edge.payments["SLFAKE0001"].update(status="partial", paid_amount=30000,
                                       payload="000201010212FAKE-THE-REST-45000")
    kiosk.vm.on_event({"type": "payment", "reference": "SLFAKE0001", "status": "partial"})
    qtbot.waitUntil(lambda: kiosk.vm.fines.status == "partial", timeout=3000)
    page.refresh()
    texts = _texts(kiosk.window)
    assert "30.000 ₫" in texts and "45.000 ₫" in texts and "75.000 ₫" in texts
    assert not page.qr.pixmap().isNull() and page.qr.pixmap().toImage() != first
