"""View tests: the real window, a threaded runner and the fake edge; every flow by taps/keys."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QApplication, QLabel, QLineEdit, QPushButton, QWidget

from kiosk_ui.fake_edge import FakeEdge
from kiosk_ui.viewmodels import Screen


def _btn(kiosk: Any, name: str) -> QPushButton:
    page = kiosk.window.current_page()
    b = page.findChild(QPushButton, name)
    assert b is not None, f"no button {name} on {type(page).__name__}"
    return b


def _tap(qtbot: Any, kiosk: Any, name: str) -> None:
    # A patron taps a button once it is offered: buttons are disabled while a call
    # (the entry sweep too) is under way, and a click on a disabled one is dropped.
    b = _btn(kiosk, name)
    qtbot.waitUntil(lambda: b.isVisible() and b.isEnabled(), timeout=3000)
    qtbot.mouseClick(b, Qt.MouseButton.LeftButton)


def _wait_screen(qtbot: Any, kiosk: Any, screen: Screen) -> None:
    qtbot.waitUntil(lambda: kiosk.vm.screen == screen and
                    kiosk.window.current_page() is kiosk.window.pages[screen], timeout=3000)


def _texts(widget: QWidget) -> str:
    parts = [w.text() for w in widget.findChildren(QLabel) if w.isVisible()]
    parts += [w.text() for w in widget.findChildren(QPushButton) if w.isVisible()]
    return " | ".join(parts)


class StepClock:
    """A fake monotonic clock that advances by ``step`` seconds on every read."""

    def __init__(self, step: float, now: float = 100.0) -> None:
        self.step = step
        self.now = now

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def _login_by_keypad(qtbot: Any, kiosk: Any) -> None:
    _tap(qtbot, kiosk, "start")
    _wait_screen(qtbot, kiosk, Screen.LOGIN)
    page = kiosk.window.current_page()
    for k in "123456":
        qtbot.mouseClick(page.keypad.buttons[k], Qt.MouseButton.LeftButton)
    qtbot.mouseClick(page.keypad.buttons["ok"], Qt.MouseButton.LeftButton)   # to the PIN
    for k in "1234":
        qtbot.mouseClick(page.keypad.buttons[k], Qt.MouseButton.LeftButton)
    pin = page.findChild(QLineEdit, "pin")
    assert pin.echoMode() == QLineEdit.EchoMode.Password and "1234" not in pin.text()
    qtbot.mouseClick(page.keypad.buttons["ok"], Qt.MouseButton.LeftButton)
    _wait_screen(qtbot, kiosk, Screen.MENU)


def test_attract_shows_library_hours_and_steps(kiosk: Any, qtbot: Any) -> None:
    qtbot.waitUntil(lambda: "Tỉnh Quảng Nam" in _texts(kiosk.window), timeout=3000)   # from /info
    text = _texts(kiosk.window)
    assert "Giờ mở cửa" in text and "Chạm thẻ thư viện" in text and "Tiếng Việt" in text


def test_language_switches_without_restart(kiosk: Any, qtbot: Any) -> None:
    _tap(qtbot, kiosk, "lang_en")
    qtbot.waitUntil(lambda: "Tap your library card" in _texts(kiosk.window), timeout=2000)
    assert "Chạm thẻ" not in _texts(kiosk.window)
    _tap(qtbot, kiosk, "lang_vi")
    qtbot.waitUntil(lambda: "Chạm thẻ thư viện" in _texts(kiosk.window), timeout=2000)


def test_full_session_by_keypad(kiosk: Any, qtbot: Any, edge: FakeEdge) -> None:
    _login_by_keypad(qtbot, kiosk)
    assert "Nguyễn Thị Lan" in _texts(kiosk.window)
    # borrow: rows appear live from tag events
    _tap(qtbot, kiosk, "tile_borrow")
    _wait_screen(qtbot, kiosk, Screen.BORROW)
    page = kiosk.window.current_page()
    for item in ("3001", "3002", "3004"):
        kiosk.events.inject(edge.tag_event(item))
    qtbot.waitUntil(lambda: page.pad.counts == {"ok": 2, "refused": 1, "pending": 0}, timeout=3000)
    qtbot.waitUntil(lambda: page.done.isVisible(), timeout=2000)
    assert "Đã mượn: 2" in page.count.text()
    # language switch mid-session re-renders the rows
    qtbot.mouseClick(kiosk.window.lang, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "Borrowed: 2" in page.count.text(), timeout=2000)
    m = page.pad.model
    assert "On hold for another patron" in m.data(m.index(2, 1))
    _tap(qtbot, kiosk, "back")
    _wait_screen(qtbot, kiosk, Screen.MENU)
    # renew one
    _tap(qtbot, kiosk, "tile_renew")
    _wait_screen(qtbot, kiosk, Screen.RENEW)
    rpage = kiosk.window.current_page()
    qtbot.waitUntil(lambda: rpage.rvm.loans.rowCount() == 5, timeout=3000)
    rect = rpage.list.visualRect(rpage.rvm.loans.index(1, 0))
    qtbot.mouseClick(rpage.list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: rpage.rvm.selected == ["3102"], timeout=2000)
    _tap(qtbot, kiosk, "renew_selected")
    qtbot.waitUntil(lambda: ("renew", ["3102"]) in edge.calls, timeout=3000)
    _tap(qtbot, kiosk, "back")
    # account
    _wait_screen(qtbot, kiosk, Screen.MENU)
    _tap(qtbot, kiosk, "tile_account")
    _wait_screen(qtbot, kiosk, Screen.ACCOUNT)
    apage = kiosk.window.current_page()
    qtbot.waitUntil(lambda: apage.avm.loans.rowCount() == 5, timeout=3000)
    qtbot.waitUntil(lambda: "15,000 VND" in apage.total.text(), timeout=2000)
    _tap(qtbot, kiosk, "back")
    # finish -> receipt (QR) -> done -> attract
    _wait_screen(qtbot, kiosk, Screen.MENU)
    sid = kiosk.vm.session_id
    _tap(qtbot, kiosk, "finish")
    _wait_screen(qtbot, kiosk, Screen.RECEIPT)
    rc = kiosk.window.current_page()
    qtbot.waitUntil(lambda: "Truyện Kiều" in rc.text.text(), timeout=3000)
    _tap(qtbot, kiosk, "show_qr")
    qtbot.waitUntil(lambda: rc.qr.isVisible() and "Truyện Kiều" in rc.qr.data, timeout=2000)
    _tap(qtbot, kiosk, "skip")
    _wait_screen(qtbot, kiosk, Screen.ATTRACT)
    qtbot.waitUntil(lambda: ("end_session", sid) in edge.calls, timeout=3000)
    assert kiosk.localizer.language == "vi"


def test_login_error_is_shown_and_pin_masked(kiosk: Any, qtbot: Any) -> None:
    _tap(qtbot, kiosk, "start")
    _wait_screen(qtbot, kiosk, Screen.LOGIN)
    page = kiosk.window.current_page()
    number = page.findChild(QLineEdit, "number")
    qtbot.keyClicks(number, "999")
    pin = page.findChild(QLineEdit, "pin")
    pin.setFocus()
    qtbot.keyClicks(pin, "1111")
    assert page.lvm.pin_length == 4
    assert "1" not in pin.text() and "1" not in pin.displayText()
    qtbot.keyClick(pin, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: page.error.isVisible(), timeout=3000)
    assert "khóa" in page.error.text()


def test_barcode_wedge_logs_in(kiosk: Any, qtbot: Any, edge: FakeEdge) -> None:
    _tap(qtbot, kiosk, "start")
    _wait_screen(qtbot, kiosk, Screen.LOGIN)
    page = kiosk.window.current_page()
    page.clock = StepClock(0.004)     # a scanner: a key every 4 ms
    qtbot.waitUntil(lambda: page.number.hasFocus() or QApplication.focusWidget() is page.number,
                    timeout=2000)
    qtbot.keyClicks(page.number, "123456")
    qtbot.keyClick(page.number, Qt.Key.Key_Return)
    _wait_screen(qtbot, kiosk, Screen.MENU)
    assert ("login", ("barcode", "123456")) in edge.calls


def test_card_tap_on_attract_logs_in(kiosk: Any, qtbot: Any, edge: FakeEdge) -> None:
    edge.card_on_reader = "04A1B2C3"
    kiosk.vm.login.poll_card()
    _wait_screen(qtbot, kiosk, Screen.MENU)


def test_anonymous_return_flow(kiosk: Any, qtbot: Any, edge: FakeEdge) -> None:
    _tap(qtbot, kiosk, "anon_return")
    _wait_screen(qtbot, kiosk, Screen.RETURN)
    page = kiosk.window.current_page()
    for item in ("3102", "3103"):
        kiosk.events.inject(edge.tag_event(item))
    qtbot.waitUntil(lambda: page.pad.counts["ok"] == 2, timeout=3000)
    m = page.pad.model
    assert "kệ giữ sách" in m.data(m.index(0, 1)) and "Hội An" in m.data(m.index(1, 1))
    _tap(qtbot, kiosk, "finish")                 # something returned: its receipt
    _wait_screen(qtbot, kiosk, Screen.RECEIPT)
    receipt = kiosk.window.current_page()
    qtbot.waitUntil(lambda: edge.items["3103"]["title"] in receipt.text.text(), timeout=3000)
    assert receipt.print.isVisible() and receipt.show_qr.isVisible()
    assert not receipt.email.isVisible()         # no patron, no address
    _tap(qtbot, kiosk, "skip")
    _wait_screen(qtbot, kiosk, Screen.ATTRACT)


def test_offline_banner_and_out_of_service(kiosk: Any, qtbot: Any, edge: FakeEdge) -> None:
    w = kiosk.window
    assert not w.banner.isVisible()
    edge.gateway = "offline"          # what /health says from now on, as the real edge
    kiosk.events.inject({"type": "connectivity", "gateway": "offline"})
    # the limits come with the /health answer, which may land just after the event
    qtbot.waitUntil(lambda: w.banner.isVisible() and "5 tài liệu" in w.banner_text.text(),
                    timeout=3000)
    edge.gateway = "online"
    kiosk.events.inject({"type": "connectivity", "gateway": "online"})
    qtbot.waitUntil(lambda: not w.banner.isVisible(), timeout=2000)
    edge.down = True
    kiosk.vm.probe()
    _wait_screen(qtbot, kiosk, Screen.OUT_OF_SERVICE)
    assert "out of service" in _texts(w) and "tạm ngừng" in _texts(w)
    assert not w.header.isVisible()
    edge.down = False
    kiosk.vm.probe()
    _wait_screen(qtbot, kiosk, Screen.ATTRACT)


def test_idle_countdown_visible_and_continue(kiosk: Any, qtbot: Any) -> None:
    _login_by_keypad(qtbot, kiosk)
    w = kiosk.window
    assert w.countdown.isVisible() and "60" in w.countdown.text()
    for _ in range(50):
        kiosk.vm._tick()
    qtbot.waitUntil(lambda: w.idle_bar.isVisible(), timeout=2000)
    assert "10" in w.idle_text.text()
    qtbot.mouseClick(w.idle_continue, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not w.idle_bar.isVisible(), timeout=2000)
    assert kiosk.vm.remaining_s == 60


def _assert_touch_targets(kiosk: Any, where: str) -> int:
    QApplication.processEvents()
    n = 0
    for b in kiosk.window.findChildren(QPushButton) + kiosk.window.findChildren(QLineEdit):
        if b.isVisible():
            n += 1
            assert b.height() >= 48 and b.width() >= 48, (where, b.objectName(), b.size())
    return n


def test_touch_targets_are_at_least_48px(kiosk: Any, qtbot: Any, edge: FakeEdge) -> None:
    w = kiosk.window
    assert _assert_touch_targets(kiosk, "attract") >= 6
    _tap(qtbot, kiosk, "start")
    _wait_screen(qtbot, kiosk, Screen.LOGIN)
    assert _assert_touch_targets(kiosk, "login") >= 16   # fields, 12 keys, back, language
    _tap(qtbot, kiosk, "back")
    _wait_screen(qtbot, kiosk, Screen.ATTRACT)
    _tap(qtbot, kiosk, "anon_return")
    _wait_screen(qtbot, kiosk, Screen.RETURN)
    assert _assert_touch_targets(kiosk, "return (no login)") >= 2
    _tap(qtbot, kiosk, "back")
    _wait_screen(qtbot, kiosk, Screen.ATTRACT)
    _login_by_keypad(qtbot, kiosk)
    for screen in (Screen.MENU, Screen.BORROW, Screen.RETURN, Screen.RENEW, Screen.ACCOUNT,
                   Screen.RECEIPT):
        kiosk.vm.go(screen)
        _wait_screen(qtbot, kiosk, screen)
        assert _assert_touch_targets(kiosk, screen.value) >= 2, screen
    rpage = w.pages[Screen.RENEW]
    kiosk.vm.go(Screen.RENEW)
    _wait_screen(qtbot, kiosk, Screen.RENEW)
    qtbot.waitUntil(lambda: rpage.rvm.loans.rowCount() == 3, timeout=3000)
    for row in range(3):     # renewal rows are touched too
        rect = rpage.list.visualRect(rpage.rvm.loans.index(row, 0))
        assert rect.height() >= 48 and rect.width() >= 48, rect
    edge.down = True
    kiosk.vm.probe()
    _wait_screen(qtbot, kiosk, Screen.OUT_OF_SERVICE)
    assert _assert_touch_targets(kiosk, "out of service") == 0   # nothing to touch there
    edge.down = False
    kiosk.vm.probe()
    _wait_screen(qtbot, kiosk, Screen.ATTRACT)
    w.open_admin()
    assert _assert_touch_targets(kiosk, "admin") >= 13


def test_keyboard_navigation(kiosk: Any, qtbot: Any) -> None:
    w = kiosk.window
    start = _btn(kiosk, "start")
    start.setFocus()
    qtbot.waitUntil(start.hasFocus, timeout=2000)
    seen = set()
    for _ in range(8):   # Tab walks through every button of the page
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
        seen.add(QApplication.focusWidget().objectName())
    assert {"lang_vi", "lang_en", "anon_return", "start"} <= seen, seen
    start.setFocus()
    qtbot.keyClick(start, Qt.Key.Key_Return)   # Enter activates
    _wait_screen(qtbot, kiosk, Screen.LOGIN)
    assert w.isVisible()


def test_vietnamese_glyphs_are_in_the_font(kiosk: Any) -> None:
    font = kiosk.theme.font(24)
    fm = QFontMetrics(font)
    for ch in "ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ":
        assert fm.inFontUcs4(ord(ch)) and fm.inFontUcs4(ord(ch.upper())), ch


def test_kiosk_mode_window(qtbot: Any, edge: FakeEdge) -> None:
    from kiosk_ui.app import KioskOptions, create_kiosk

    k = create_kiosk(KioskOptions(fullscreen=True, admin_exit_code="2468",
                                  health_interval_ms=60_000, card_poll_ms=60_000),
                     edge, connect_events=False)
    try:
        qtbot.addWidget(k.window)
        assert k.window.windowFlags() & Qt.WindowType.FramelessWindowHint
        k.window.show()
        assert not k.window.close()          # close requests are refused
        for _ in range(5):
            qtbot.mouseClick(k.window.site, Qt.MouseButton.LeftButton)
        assert k.window.current_page() is k.window.pages["admin"]
        admin = k.window.pages["admin"]
        for key in "1111":
            qtbot.mouseClick(admin.keypad.buttons[key], Qt.MouseButton.LeftButton)
        qtbot.mouseClick(admin.keypad.buttons["ok"], Qt.MouseButton.LeftButton)
        assert admin.error.isVisible()
        with qtbot.waitSignal(k.vm.quit_requested, timeout=2000):
            for key in "2468":
                qtbot.mouseClick(admin.keypad.buttons[key], Qt.MouseButton.LeftButton)
            qtbot.mouseClick(admin.keypad.buttons["ok"], Qt.MouseButton.LeftButton)
        assert k.window.close()               # the admin exit allowed it
    finally:
        k.close()


def test_account_offline_says_fines_are_unknown_not_nothing_to_pay(kiosk: Any, qtbot: Any,
                                                                    edge: FakeEdge) -> None:
    edge.account_offline = True
    _login_by_keypad(qtbot, kiosk)
    _tap(qtbot, kiosk, "tile_account")
    _wait_screen(qtbot, kiosk, Screen.ACCOUNT)
    apage = kiosk.window.current_page()
    qtbot.waitUntil(lambda: apage.avm.offline, timeout=3000)
    qtbot.waitUntil(lambda: apage.total.text() != "", timeout=2000)
    assert apage.avm.fines.rowCount() == 0
    assert "Nothing to pay" not in apage.total.text()
    assert apage.total.text() in ("Fines cannot be checked right now",
                                  "Hiện không kiểm tra được tiền phạt")
