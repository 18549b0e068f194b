"""E-mailing receipts from the kiosk (fake edge, threaded runner): the session receipt's
"E-mail receipt" button on the finish screen, and a payment's receipt on the payment-done
screen (print and e-mail)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt

from kiosk_ui.fake_edge import FakeEdge
from kiosk_ui.viewmodels import Screen
from tests.kiosk_ui.test_views import _btn, _login_by_keypad, _tap, _texts, _wait_screen


def _to_receipt(qtbot: Any, kiosk: Any, edge: FakeEdge) -> Any:
    _login_by_keypad(qtbot, kiosk)
    sid = kiosk.vm.session_id
    edge.sessions[sid]["_lines"].append({"item_id": "3001", "title": "Truyện Kiều — Nguyễn Du",
                                         "action": "checkout", "due_date": "2026-12-21"})
    kiosk.vm.go(Screen.RECEIPT)
    _wait_screen(qtbot, kiosk, Screen.RECEIPT)
    page = kiosk.window.current_page()
    qtbot.waitUntil(lambda: "Truyện Kiều" in page.text.text(), timeout=3000)
    return page


def test_email_receipt_twice_fast_sends_once_and_shows_the_masked_address(
        kiosk: Any, qtbot: Any, edge: FakeEdge) -> None:
    page = _to_receipt(qtbot, kiosk, edge)
    button = _btn(kiosk, "email_receipt")
    qtbot.waitUntil(lambda: button.isVisible() and button.isEnabled(), timeout=3000)
    assert button.text() == "Gửi biên nhận qua e-mail"
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)   # a double press
    qtbot.waitUntil(lambda: kiosk.vm.receipt.mail.state == "sent", timeout=3000)
    page.refresh()
    assert [c for c in edge.calls if c[0] == "email_receipt"] == [
        ("email_receipt", kiosk.vm.session_id)]
    assert edge.mailed == [(f"session/{kiosk.vm.session_id}/1", "lan.nguyen@example.org")]
    assert "Đã gửi biên nhận tới l***@example.org" in _texts(kiosk.window)
    assert not button.isEnabled()
    qtbot.mouseClick(kiosk.window.lang, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "Receipt sent to l***@example.org" in _texts(kiosk.window),
                    timeout=2000)


def test_a_failed_email_says_why_and_may_be_tried_again(kiosk: Any, qtbot: Any,
                                                        edge: FakeEdge) -> None:
    page = _to_receipt(qtbot, kiosk, edge)
    edge.mail_fails = True
    _tap(qtbot, kiosk, "email_receipt")
    qtbot.waitUntil(lambda: kiosk.vm.receipt.mail.state == "failed", timeout=3000)
    page.refresh()
    assert "Chưa gửi được biên nhận tới l***@example.org" in page.mail_status.text()
    assert "Chưa gửi được e-mail" in page.mail_status.text()    # the edge's reason
    assert page.email.text() == "Gửi lại e-mail"
    edge.mail_fails = False
    _tap(qtbot, kiosk, "email_receipt")
    qtbot.waitUntil(lambda: kiosk.vm.receipt.mail.state == "sent", timeout=3000)
    assert len(edge.mailed) == 1


def test_no_email_button_without_an_address_from_the_library(kiosk: Any, qtbot: Any,
                                                              edge: FakeEdge) -> None:
    del edge.patrons["123456"]["email"]
    page = _to_receipt(qtbot, kiosk, edge)
    page.refresh()
    assert not page.email.isVisible()
    kiosk.vm.receipt.email_receipt()
    assert not any(c[0] == "email_receipt" for c in edge.calls)


def test_a_paid_fine_offers_its_receipt_printed_and_emailed(kiosk: Any, qtbot: Any,
                                                            edge: FakeEdge) -> None:
    edge.fines = [{"fine_id": "11", "amount": 50000, "currency": "VND", "reason": "Trả muộn"}]
    _login_by_keypad(qtbot, kiosk)
    _tap(qtbot, kiosk, "tile_account")
    _wait_screen(qtbot, kiosk, Screen.ACCOUNT)
    _tap(qtbot, kiosk, "go_pay_fines")
    _wait_screen(qtbot, kiosk, Screen.FINES)
    page = kiosk.window.current_page()
    qtbot.waitUntil(lambda: page.list.count() == 1, timeout=3000)
    page.refresh()
    assert not page.print_receipt.isVisible() and not page.email_receipt.isVisible()
    _tap(qtbot, kiosk, "pay_fines")
    qtbot.waitUntil(lambda: kiosk.vm.fines.payment is not None, timeout=3000)
    page.refresh()
    assert not page.email_receipt.isVisible()   # nothing confirmed yet
    edge.payments["SLFAKE0001"]["status"] = "paid"
    kiosk.vm.on_event({"type": "payment", "reference": "SLFAKE0001", "status": "paid"})
    qtbot.waitUntil(lambda: kiosk.vm.fines.status == "paid", timeout=3000)
    page.refresh()
    _tap(qtbot, kiosk, "print_payment_receipt")
    qtbot.waitUntil(lambda: kiosk.vm.fines.receipt_printed, timeout=3000)
    assert ("print_payment_receipt", "SLFAKE0001") in edge.calls
    button = _btn(kiosk, "email_payment_receipt")
    qtbot.waitUntil(lambda: button.isVisible() and button.isEnabled(), timeout=3000)
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: kiosk.vm.fines.mail.state == "sent", timeout=3000)
    page.refresh()
    assert edge.mailed == [("payment/SLFAKE0001/50000", "lan.nguyen@example.org")]
    assert "Đã gửi biên nhận tới l***@example.org" in page.mail_status.text()
    receipt = edge.payment_receipt(kiosk.vm.session_id, "SLFAKE0001")
    assert receipt["lines"] == [{"description": "Trả muộn", "amount": 50000}]
