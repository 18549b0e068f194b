"""More view tests on the real window and the fake edge: the PIN rule for typed numbers,
wedge scans, the offline banner's limits, kiosk-mode keys, the admin lockout, patron theme
switches, keyboard navigation, print, renew all, return in a session, overdue loans, themes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QColor, QKeySequence, QShortcut
from PySide6.QtWidgets import QApplication, QLabel, QLineEdit, QPushButton, QWidget

from kiosk_ui.errors import InputRefused
from kiosk_ui.fake_edge import FakeEdge
from kiosk_ui.models import KIND_ROLE
from kiosk_ui.viewmodels import Screen
from tests.kiosk_ui.conftest import unhurried_clock
from tests.kiosk_ui.test_views import StepClock, _btn, _login_by_keypad, _tap, _wait_screen


def _page(kiosk: Any) -> Any:
    return kiosk.window.current_page()


@pytest.fixture
def make_kiosk(qtbot: Any) -> Iterator[Callable[..., Any]]:
    """Build a kiosk with extra options (threaded, fake edge, 1280×800)."""
    from kiosk_ui.app import KioskOptions, create_kiosk

    built: list[Any] = []

    def make(edge: FakeEdge, **over: Any) -> Any:
        opts = dict(language="vi", fullscreen=False, printer=True, site_name="Thư viện Demo",
                    admin_exit_code="2468", health_interval_ms=60_000, card_poll_ms=60_000)
        opts.update(over)
        k = create_kiosk(KioskOptions(**opts), edge, connect_events=False, threaded=True)
        k.window.clock = unhurried_clock()
        built.append(k)
        qtbot.addWidget(k.window)
        k.window.resize(1280, 800)
        k.window.show()
        qtbot.waitExposed(k.window)
        return k

    yield make
    for k in built:
        k.close()
        k.localizer.set_language("vi")


def _to_login(qtbot: Any, kiosk: Any, clock_step: float) -> Any:
    _tap(qtbot, kiosk, "start")
    _wait_screen(qtbot, kiosk, Screen.LOGIN)
    page = _page(kiosk)
    page.clock = StepClock(clock_step)
    page.number.setFocus()
    qtbot.waitUntil(page.number.hasFocus, timeout=2000)
    return page


# ---- 1. a typed number never logs in without its PIN -----------------------------------

def test_typed_number_and_enter_asks_for_the_pin(kiosk: Any, qtbot: Any, edge: FakeEdge) -> None:
    page = _to_login(qtbot, kiosk, 0.3)        # a person: a key every 300 ms
    qtbot.keyClicks(page.number, "123456")
    qtbot.keyClick(page.number, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: page.lvm.field == "pin" and page.pin.hasFocus(), timeout=2000)
    # no barcode login, nothing sent (not even the entry to be read as a scan)
    assert not [c for c in edge.calls if c[0] in ("login", "read_scan")]
    assert kiosk.vm.screen == Screen.LOGIN and page.lvm.number == "123456"
    qtbot.keyClicks(page.pin, "1234")
    qtbot.keyClick(page.pin, Qt.Key.Key_Return)
    _wait_screen(qtbot, kiosk, Screen.MENU)
    logins = [c for c in edge.calls if c[0] == "login"]
    assert logins == [("login", ("manual", "123456"))]


def test_keypad_digits_and_enter_are_never_a_scan(kiosk: Any, qtbot: Any, edge: FakeEdge) -> None:
    page = _to_login(qtbot, kiosk, 0.001)      # even with instant key times
    for k in "123456":
        qtbot.mouseClick(page.keypad.buttons[k], Qt.MouseButton.LeftButton)
    page.number.setFocus()
    qtbot.keyClick(page.number, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: page.lvm.field == "pin", timeout=2000)
    assert not [c for c in edge.calls if c[0] in ("login", "read_scan")]


def test_slow_typing_then_fast_enter_is_still_typing(kiosk: Any, qtbot: Any,
                                                     edge: FakeEdge) -> None:
    page = _to_login(qtbot, kiosk, 0.3)
    qtbot.keyClicks(page.number, "123456")
    page.clock.step = 0.001                    # Enter right after the last key
    qtbot.keyClick(page.number, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: page.lvm.field == "pin", timeout=2000)
    assert not [c for c in edge.calls if c[0] in ("login", "read_scan")]


def test_wedge_scan_with_prefix_logs_in_and_without_is_refused(
        make_kiosk: Any, qtbot: Any) -> None:
    edge = FakeEdge()
    edge.scan_prefix, edge.scan_suffix = "#", "\r"      # the edge's [card_reader]
    k = make_kiosk(edge, scan_prefix="#", scan_suffix="\r")
    page = _to_login(qtbot, k, 0.004)
    qtbot.keyClicks(page.number, "123456")     # a burst, but no prefix
    qtbot.keyClick(page.number, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: page.error.isVisible(), timeout=2000)
    assert "Không đọc được mã vạch" in page.error.text()
    assert ("read_scan", "123456") in edge.calls      # the burst went to the edge, refused
    assert not [c for c in edge.calls if c[0] == "login"]
    qtbot.keyClicks(page.number, "#123456")
    qtbot.keyClick(page.number, Qt.Key.Key_Return)
    _wait_screen(qtbot, k, Screen.MENU)
    assert ("login", ("barcode", "123456")) in edge.calls


# ---- 3. offline banner with the policy's limits ----------------------------------------

@pytest.mark.parametrize(("lang", "items", "value", "login"), [
    ("vi", "Giới hạn hiện tại: 3 tài liệu", "250.000 ₫", "Chỉ đăng nhập được bằng thẻ thư viện."),
    ("en", "Limit now: 3 items", "250,000 VND", "Log in with your library card only."),
])
def test_offline_banner_shows_the_policy_limits(kiosk: Any, qtbot: Any, edge: FakeEdge, lang: str,
                                                items: str, value: str, login: str) -> None:
    edge.offline_policy = {"login": "card-only", "max_items": 3, "max_value": 250_000}
    edge.gateway = "offline"
    kiosk.vm.set_language(lang)
    kiosk.vm.probe()
    w = kiosk.window
    kiosk.events.inject({"type": "connectivity", "gateway": "offline"})
    qtbot.waitUntil(lambda: w.banner.isVisible() and value in w.banner_text.text(), timeout=3000)
    text = w.banner_text.text()
    assert items in text and login in text
    edge.offline_policy["login"] = "deny"
    kiosk.vm.probe()
    deny = {"vi": "Chưa thể đăng nhập mới", "en": "New logins are not possible"}[lang]
    qtbot.waitUntil(lambda: deny in w.banner_text.text(), timeout=3000)


def test_offline_banner_in_a_session_leaves_out_the_login_rule(kiosk: Any, qtbot: Any,
                                                               edge: FakeEdge) -> None:
    _login_by_keypad(qtbot, kiosk)
    w = kiosk.window
    edge.gateway = "offline"
    kiosk.vm.probe()
    kiosk.events.inject({"type": "connectivity", "gateway": "offline"})
    qtbot.waitUntil(lambda: w.banner.isVisible() and "1.000.000 ₫" in w.banner_text.text(),
                    timeout=3000)
    assert "5 tài liệu" in w.banner_text.text() and "Đăng nhập" not in w.banner_text.text()


# ---- 4. kiosk mode: keys swallowed, admin exit locked out ------------------------------

class _KeyProbe(QObject):
    """Records the keys that reach a widget (after the application's filters)."""

    def __init__(self) -> None:
        super().__init__()
        self.keys: list[int] = []

    def eventFilter(self, obj: QObject, ev: QEvent) -> bool:
        if ev.type() == QEvent.Type.KeyPress:
            self.keys.append(ev.key())   # type: ignore[attr-defined]
        return False


def _press_system_keys(k: Any, qtbot: Any) -> tuple[dict[str, int], _KeyProbe]:
    w = k.window
    w.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is w, timeout=2000)
    fired = {"Esc": 0, "F11": 0, "Alt+F4": 0}
    for seq in fired:
        sc = QShortcut(QKeySequence(seq), w)
        sc.activated.connect(lambda s=seq: fired.__setitem__(s, fired[s] + 1))
    k.vm.go(Screen.LOGIN)
    _wait_screen(qtbot, k, Screen.LOGIN)
    field = _page(k).number
    field.setFocus()
    qtbot.waitUntil(field.hasFocus, timeout=2000)
    probe = _KeyProbe()
    field.installEventFilter(probe)
    qtbot.keyClick(field, Qt.Key.Key_Escape)
    qtbot.keyClick(field, Qt.Key.Key_F11)
    qtbot.keyClick(field, Qt.Key.Key_F4, Qt.KeyboardModifier.AltModifier)
    qtbot.keyClick(field, Qt.Key.Key_7)          # an ordinary key still arrives
    field.removeEventFilter(probe)
    return fired, probe


def test_kiosk_mode_swallows_esc_alt_f4_and_f11(make_kiosk: Any, qtbot: Any) -> None:
    k = make_kiosk(FakeEdge(), fullscreen=True)
    fired, probe = _press_system_keys(k, qtbot)
    assert fired == {"Esc": 0, "F11": 0, "Alt+F4": 0}
    assert probe.keys == [Qt.Key.Key_7]
    assert not k.window.close()                 # what a window manager's Alt+F4 sends


def test_without_kiosk_mode_those_keys_work(make_kiosk: Any, qtbot: Any) -> None:
    k = make_kiosk(FakeEdge(), fullscreen=False)   # the same test can see them
    fired, probe = _press_system_keys(k, qtbot)
    assert fired == {"Esc": 1, "F11": 1, "Alt+F4": 1}


def test_admin_page_locks_after_five_wrong_codes(make_kiosk: Any, qtbot: Any) -> None:
    k = make_kiosk(FakeEdge(), fullscreen=True)
    now = [500.0]
    k.vm._clock = lambda: now[0]
    for _ in range(5):
        qtbot.mouseClick(k.window.site, Qt.MouseButton.LeftButton)
    admin = k.window.pages["admin"]
    assert k.window.current_page() is admin

    def enter(code: str) -> None:
        for key in code:
            qtbot.mouseClick(admin.keypad.buttons[key], Qt.MouseButton.LeftButton)
        qtbot.mouseClick(admin.keypad.buttons["ok"], Qt.MouseButton.LeftButton)

    for _ in range(4):
        enter("1111")
        assert admin.error.text() == "Sai mã"
    enter("1111")
    assert "Thử lại sau 60 giây" in admin.error.text()
    with qtbot.assertNotEmitted(k.vm.quit_requested):
        enter("2468")
    now[0] += 61
    with qtbot.waitSignal(k.vm.quit_requested, timeout=2000):
        enter("2468")


def test_a_missing_admin_code_is_generated_and_logged_once(
        make_kiosk: Any, qtbot: Any, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="kiosk_ui.app"):
        k = make_kiosk(FakeEdge(), fullscreen=True, admin_exit_code="0000")
    msgs = [r.getMessage() for r in caplog.records if "admin exit code for this run" in r.getMessage()]
    assert len(msgs) == 1
    code = msgs[0].split("for this run is ")[1].split(";")[0]
    assert len(code) == 8 and code.isdigit()
    assert not k.vm.admin_exit("0000")          # the placeholder does not open it
    with qtbot.waitSignal(k.vm.quit_requested, timeout=2000):
        assert k.vm.admin_exit(code)


def test_admin_code_must_be_digits() -> None:
    from kiosk_ui.app import resolve_admin_code
    from kiosk_ui.errors import KioskOptionsError

    assert resolve_admin_code("97531") == ("97531", False)
    with pytest.raises(KioskOptionsError, match="admin_exit_code"):
        resolve_admin_code("letmein")
    code, generated = resolve_admin_code("")
    assert generated and code.isdigit() and len(code) == 8


# ---- 5. accessibility: runtime theme switches, keyboard on more screens ----------------

def _bg(widget: QWidget) -> QColor:
    img = widget.grab().toImage()
    return QColor(img.pixel(4, 4))


def test_patron_switches_large_text_and_high_contrast_on_attract(kiosk: Any, qtbot: Any) -> None:
    w = kiosk.window
    title = _page(kiosk).welcome
    normal_px = title.font().pixelSize()
    normal_start = _btn(kiosk, "start").height()
    assert not _btn(kiosk, "large_text").isChecked()
    _tap(qtbot, kiosk, "large_text")
    qtbot.waitUntil(lambda: kiosk.theme.large_text, timeout=2000)
    _wait_screen(qtbot, kiosk, Screen.ATTRACT)
    QApplication.processEvents()
    assert _btn(kiosk, "large_text").isChecked()
    assert _page(kiosk).welcome.font().pixelSize() == round(normal_px * 1.3) == 52
    assert _btn(kiosk, "start").height() > normal_start
    assert _bg(w.stack).lightness() > 200          # still the light theme
    _tap(qtbot, kiosk, "high_contrast")
    qtbot.waitUntil(lambda: kiosk.theme.high_contrast, timeout=2000)
    QApplication.processEvents()
    assert _bg(w.stack) == QColor("#000000")
    assert _btn(kiosk, "high_contrast").isChecked()
    assert "Chữ to hơn" in _btn(kiosk, "large_text").text()
    _tap(qtbot, kiosk, "large_text")                # and back
    qtbot.waitUntil(lambda: not kiosk.theme.large_text, timeout=2000)
    QApplication.processEvents()
    assert _page(kiosk).welcome.font().pixelSize() == normal_px


def test_theme_chosen_by_a_patron_ends_with_the_session(kiosk: Any, qtbot: Any) -> None:
    _tap(qtbot, kiosk, "high_contrast")
    qtbot.waitUntil(lambda: kiosk.theme.high_contrast, timeout=2000)
    _login_by_keypad(qtbot, kiosk)
    assert kiosk.theme.high_contrast                # kept for this patron's session
    _tap(qtbot, kiosk, "finish")
    _wait_screen(qtbot, kiosk, Screen.ATTRACT)
    qtbot.waitUntil(lambda: not kiosk.theme.high_contrast, timeout=2000)
    QApplication.processEvents()
    assert _bg(kiosk.window.stack).lightness() > 200


def test_theme_switch_keeps_keyboard_focus(kiosk: Any, qtbot: Any) -> None:
    b = _btn(kiosk, "high_contrast")
    b.setFocus()
    qtbot.waitUntil(b.hasFocus, timeout=2000)
    qtbot.keyClick(b, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: kiosk.theme.high_contrast, timeout=2000)
    qtbot.waitUntil(lambda: QApplication.focusWidget() is not None
                    and QApplication.focusWidget().objectName() == "high_contrast", timeout=2000)


def _tab_round(qtbot: Any, n: int) -> set[str]:
    seen = set()
    for _ in range(n):
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
        seen.add(QApplication.focusWidget().objectName())
    return seen


def test_keyboard_navigation_on_login(kiosk: Any, qtbot: Any, edge: FakeEdge) -> None:
    page = _to_login(qtbot, kiosk, 0.3)
    seen = _tab_round(qtbot, 24)
    keys = {f"key_{k}" for k in "0123456789"} | {"key_back", "key_ok"}
    assert {"number", "pin", "back", "lang_toggle"} | keys <= seen, seen
    page.number.setFocus()                          # the keypad types into the number
    qtbot.waitUntil(lambda: page.lvm.field == "number", timeout=2000)
    five = page.keypad.buttons["5"]
    five.setFocus()
    qtbot.waitUntil(five.hasFocus, timeout=2000)
    for n in range(1, 4):
        qtbot.keyClick(five, Qt.Key.Key_Return)     # Enter presses the focused key
        qtbot.waitUntil(lambda n=n: page.lvm.number == "5" * n, timeout=2000)
    assert five.hasFocus()                          # the focus is not pulled back to the field
    page.back.setFocus()
    qtbot.keyClick(page.back, Qt.Key.Key_Return)
    _wait_screen(qtbot, kiosk, Screen.ATTRACT)


def test_keyboard_navigation_on_borrow(kiosk: Any, qtbot: Any, edge: FakeEdge) -> None:
    _login_by_keypad(qtbot, kiosk)
    _tap(qtbot, kiosk, "tile_borrow")
    _wait_screen(qtbot, kiosk, Screen.BORROW)
    page = _page(kiosk)
    kiosk.events.inject(edge.tag_event("3001"))
    qtbot.waitUntil(lambda: page.pad.counts["ok"] == 1, timeout=3000)
    # Finish is disabled while any call (the sweep on entry too) is under way.
    qtbot.waitUntil(page.finish.isEnabled, timeout=3000)
    page.back.setFocus()
    qtbot.waitUntil(page.back.hasFocus, timeout=2000)
    assert {"items", "back", "finish", "lang_toggle"} <= _tab_round(qtbot, 6)
    page.finish.setFocus()
    qtbot.keyClick(page.finish, Qt.Key.Key_Return)   # something was borrowed: the receipt
    _wait_screen(qtbot, kiosk, Screen.RECEIPT)


def test_keyboard_navigation_on_return(kiosk: Any, qtbot: Any, edge: FakeEdge) -> None:
    _tap(qtbot, kiosk, "anon_return")
    _wait_screen(qtbot, kiosk, Screen.RETURN)
    page = _page(kiosk)
    kiosk.events.inject(edge.tag_event("3101"))
    qtbot.waitUntil(lambda: page.pad.counts["ok"] == 1, timeout=3000)
    qtbot.waitUntil(page.finish.isEnabled, timeout=3000)
    page.finish.setFocus()
    qtbot.waitUntil(page.finish.hasFocus, timeout=2000)
    assert {"items", "back", "finish", "lang_toggle"} <= _tab_round(qtbot, 6)
    page.back.setFocus()
    qtbot.keyClick(page.back, Qt.Key.Key_Return)
    _wait_screen(qtbot, kiosk, Screen.ATTRACT)


# ---- 6. print, renew all, return in a session, overdue, themes -------------------------

def test_print_receipt_from_the_window(kiosk: Any, qtbot: Any, edge: FakeEdge) -> None:
    _login_by_keypad(qtbot, kiosk)
    _tap(qtbot, kiosk, "tile_borrow")
    _wait_screen(qtbot, kiosk, Screen.BORROW)
    page = _page(kiosk)
    kiosk.events.inject(edge.tag_event("3001"))
    qtbot.waitUntil(lambda: page.pad.counts["ok"] == 1, timeout=3000)
    sid = kiosk.vm.session_id
    _tap(qtbot, kiosk, "finish")
    _wait_screen(qtbot, kiosk, Screen.RECEIPT)
    assert _btn(kiosk, "print").isVisible()
    qtbot.waitUntil(lambda: "Truyện Kiều" in _page(kiosk).text.text(), timeout=3000)
    _tap(qtbot, kiosk, "print")
    qtbot.waitUntil(lambda: ("print_receipt", sid) in edge.calls, timeout=3000)
    _wait_screen(qtbot, kiosk, Screen.ATTRACT)
    qtbot.waitUntil(lambda: ("end_session", sid) in edge.calls, timeout=3000)


def test_print_button_hidden_without_printer(make_kiosk: Any, qtbot: Any) -> None:
    edge = FakeEdge()
    k = make_kiosk(edge, printer=False)
    _login_by_keypad(qtbot, k)
    _tap(qtbot, k, "tile_renew")
    _wait_screen(qtbot, k, Screen.RENEW)
    qtbot.waitUntil(lambda: _page(k).rvm.loans.rowCount() == 3, timeout=3000)
    _tap(qtbot, k, "renew_all")
    qtbot.waitUntil(lambda: ("renew", None) in edge.calls, timeout=3000)
    k.vm.finish()
    _wait_screen(qtbot, k, Screen.RECEIPT)
    assert not _btn(k, "print").isVisible() and _btn(k, "show_qr").isVisible()


def test_renew_all_from_the_window(kiosk: Any, qtbot: Any, edge: FakeEdge) -> None:
    _login_by_keypad(qtbot, kiosk)
    _tap(qtbot, kiosk, "tile_renew")
    _wait_screen(qtbot, kiosk, Screen.RENEW)
    page = _page(kiosk)
    m = page.rvm.loans
    qtbot.waitUntil(lambda: m.rowCount() == 3, timeout=3000)
    _tap(qtbot, kiosk, "renew_all")
    qtbot.waitUntil(lambda: ("renew", None) in edge.calls, timeout=3000)
    qtbot.waitUntil(lambda: all("status" in r for r in m.rows), timeout=3000)
    by_id = {r["item_id"]: i for i, r in enumerate(m.rows)}
    assert "Đã gia hạn — hạn mới 21/12/2026" in m.data(m.index(by_id["3101"], 2))
    assert "Đã gia hạn" in m.data(m.index(by_id["3102"], 2))
    assert m.data(m.index(by_id["3103"], 0), KIND_ROLE) == "bad"
    assert m.data(m.index(by_id["3101"], 0), KIND_ROLE) == "ok"
    assert kiosk.vm.transactions == 2


def test_return_within_a_session(kiosk: Any, qtbot: Any, edge: FakeEdge) -> None:
    _login_by_keypad(qtbot, kiosk)
    _tap(qtbot, kiosk, "tile_return")
    _wait_screen(qtbot, kiosk, Screen.RETURN)
    page = _page(kiosk)
    for item in ("3102", "3103", "3002"):
        kiosk.events.inject(edge.tag_event(item))
    qtbot.waitUntil(lambda: page.pad.counts == {"ok": 2, "refused": 1, "pending": 0}, timeout=3000)
    qtbot.waitUntil(lambda: page.done.isVisible(), timeout=2000)
    m = page.pad.model
    rows = {r["item_id"]: i for i, r in enumerate(m.rows)}
    assert "kệ giữ sách" in m.data(m.index(rows["3102"], 1))
    assert "15.000 ₫" in m.data(m.index(rows["3102"], 0), Qt.ItemDataRole.UserRole + 3)
    assert "Hội An" in m.data(m.index(rows["3103"], 1))
    assert page.count.text().split() == ["Đã", "trả:", "2", "Chưa", "xong:", "1"]
    _tap(qtbot, kiosk, "finish")
    _wait_screen(qtbot, kiosk, Screen.RECEIPT)      # returns count for the receipt
    rc = _page(kiosk)
    qtbot.waitUntil(lambda: "Trả: Chí Phèo" in rc.text.text(), timeout=3000)
    assert "Trả: Vợ nhặt" in rc.text.text() and "Dế Mèn" not in rc.text.text()


def test_overdue_loans_are_highlighted(kiosk: Any, qtbot: Any) -> None:
    _login_by_keypad(qtbot, kiosk)
    _tap(qtbot, kiosk, "tile_account")
    _wait_screen(qtbot, kiosk, Screen.ACCOUNT)
    page = _page(kiosk)
    m = page.avm.loans
    qtbot.waitUntil(lambda: m.rowCount() == 3, timeout=3000)
    qtbot.waitUntil(lambda: "1 quá hạn" in page.heads[0].text(), timeout=2000)
    view = page.lists[0]
    QApplication.processEvents()
    img = view.viewport().grab().toImage()
    t = kiosk.theme
    colours = {}
    for row, r in enumerate(m.rows):
        rect = view.visualRect(m.index(row, 0))
        # the status disc: 18 px into the card, 22 px below its top, 48 px wide; sample
        # it above its glyph
        x = rect.left() + 4 + t.px(18) + t.px(24)
        y = rect.top() + 5 + t.px(22) + t.px(6)
        colours[r["item_id"]] = QColor(img.pixel(x, y))
    assert colours["3101"] == t.color("bad")         # overdue since 20/11
    assert colours["3102"] == t.color("ok") and colours["3103"] == t.color("ok")
    assert "Quá hạn từ 20/11/2026" in m.data(m.index(m.find("3101"), 0), Qt.ItemDataRole.UserRole + 2)


@pytest.mark.parametrize(("opts", "bg", "title_px"), [
    ({}, "#F5F1E8", 40),
    ({"high_contrast": True}, "#000000", 40),
    ({"large_text": True}, "#F5F1E8", 52),
    ({"large_text": True, "high_contrast": True}, "#000000", 52),
])
def test_themes_from_the_options(make_kiosk: Any, qtbot: Any, opts: dict[str, bool], bg: str,
                                 title_px: int) -> None:
    edge = FakeEdge()
    k = make_kiosk(edge, **opts)
    QApplication.processEvents()
    assert _bg(k.window.stack) == QColor(bg)
    assert _page(k).welcome.font().pixelSize() == title_px
    assert _btn(k, "large_text").isChecked() == bool(opts.get("large_text"))
    assert _btn(k, "high_contrast").isChecked() == bool(opts.get("high_contrast"))
    _login_by_keypad(qtbot, k)                       # and a flow works in it
    _tap(qtbot, k, "tile_borrow")
    _wait_screen(qtbot, k, Screen.BORROW)
    page = _page(k)
    k.events.inject(edge.tag_event("3004"))
    qtbot.waitUntil(lambda: page.pad.counts["refused"] == 1, timeout=3000)
    labels = [w for w in page.findChildren(QLabel) if w.isVisible()]
    assert all(lab.font().pixelSize() >= 22 for lab in labels if lab.text())
    for b in page.findChildren(QPushButton) + page.findChildren(QLineEdit):
        if b.isVisible():
            assert b.height() >= 48


def test_large_text_switched_on_a_1280x800_screen_scrolls_instead_of_overflowing(
        kiosk: Any, qtbot: Any, edge: FakeEdge) -> None:
    w = kiosk.window
    _tap(qtbot, kiosk, "large_text")
    qtbot.waitUntil(lambda: kiosk.theme.large_text, timeout=2000)
    _login_by_keypad(qtbot, kiosk)
    for screen in (Screen.MENU, Screen.BORROW, Screen.RENEW, Screen.ACCOUNT, Screen.RECEIPT):
        kiosk.vm.go(screen)
        _wait_screen(qtbot, kiosk, screen)
        QApplication.processEvents()
        hint = w.minimumSizeHint()
        assert hint.width() <= 1280 and hint.height() <= 800, (screen, hint)
        assert w.size().toTuple() == (1280, 800), screen
    # the account page fits, or scrolls: every part of it can be reached on the screen
    kiosk.vm.go(Screen.ACCOUNT)
    _wait_screen(qtbot, kiosk, Screen.ACCOUNT)
    QApplication.processEvents()
    area = w.stack.currentWidget()
    page = area.widget()
    assert page.height() <= area.viewport().height() + area.verticalScrollBar().maximum()
    assert page.width() <= area.viewport().width() + area.horizontalScrollBar().maximum()


def test_account_with_ten_loans_fits_a_1280x800_screen(kiosk: Any, qtbot: Any,
                                                       edge: FakeEdge) -> None:
    """At normal text the account page of a patron with ten loans and two holds fits the
    screen: it scrolled by 54 px, the Back button cut off at the bottom edge (the scroll
    area sized the page to its lists' preferred heights, not their minimums)."""
    for i in range(7):
        edge.items[f"390{i}"] = {"title": f"Sách số {i}"}
        edge.loans[f"390{i}"] = {"due_date": "2026-12-20", "patron": "123456"}
    _login_by_keypad(qtbot, kiosk)
    _tap(qtbot, kiosk, "tile_account")
    _wait_screen(qtbot, kiosk, Screen.ACCOUNT)
    page = _page(kiosk)
    qtbot.waitUntil(lambda: page.avm.loans.rowCount() == 10, timeout=3000)
    QApplication.processEvents()
    area = kiosk.window.stack.currentWidget()
    assert area.verticalScrollBar().maximum() == 0
    back = page.back.mapTo(area.viewport(), page.back.rect().bottomLeft())
    assert back.y() < area.viewport().height()
    assert page.lists[0].height() >= 3 * kiosk.theme.px(96)   # the loans list still gets room


def test_login_says_so_when_the_card_reader_is_not_working(kiosk: Any, qtbot: Any,
                                                           edge: FakeEdge) -> None:
    """With the card reader gone (pcscd down) the login page still said "Tap your card",
    and a tap did nothing: the kiosk took the edge's answer for "no card yet"."""
    edge.card_reader = "offline"
    kiosk.vm.probe()
    qtbot.waitUntil(lambda: kiosk.vm.card_reader_offline, timeout=3000)
    _tap(qtbot, kiosk, "start")
    _wait_screen(qtbot, kiosk, Screen.LOGIN)
    page = _page(kiosk)
    assert page.card_hint.text() == "Đầu đọc thẻ đang không hoạt động: hãy nhập số thẻ và mã PIN"
    edge.card_reader = "online"
    kiosk.vm.probe()
    qtbot.waitUntil(lambda: not kiosk.vm.card_reader_offline, timeout=3000)
    qtbot.waitUntil(lambda: page.card_hint.text() == "Chạm thẻ vào đầu đọc bên dưới màn hình",
                    timeout=3000)


class _ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _click_at(qtbot: Any, kiosk: Any, global_pos: Any) -> None:
    """A tap at a point of the screen, on whatever widget is there now."""
    w = kiosk.window
    target = w.childAt(w.mapFromGlobal(global_pos))
    assert target is not None
    qtbot.mouseClick(target, Qt.MouseButton.LeftButton, pos=target.mapFromGlobal(global_pos))


def test_a_double_press_on_back_to_menu_does_not_end_the_session(kiosk: Any, qtbot: Any,
                                                                 edge: FakeEdge) -> None:
    """"Về menu" on the Borrow page sits where the menu's wide "Kết thúc" is: a double press
    went back to the menu and ended the visit (so did "Kết thúc" then "Không cần biên lai",
    which skipped the receipt). A second press on the same spot just after a screen change
    is a bounce, and is dropped; a later one counts."""
    clock = _ManualClock()
    kiosk.window.clock = clock
    _login_by_keypad(qtbot, kiosk)
    _tap(qtbot, kiosk, "tile_borrow")
    _wait_screen(qtbot, kiosk, Screen.BORROW)
    back = _btn(kiosk, "back")
    qtbot.waitUntil(lambda: back.isVisible() and back.isEnabled(), timeout=3000)
    spot = back.mapToGlobal(back.rect().center())
    _click_at(qtbot, kiosk, spot)
    _wait_screen(qtbot, kiosk, Screen.MENU)
    clock.now += 0.2                                     # the bounce of a double press
    _click_at(qtbot, kiosk, spot)
    QApplication.processEvents()
    assert kiosk.vm.screen == Screen.MENU and kiosk.vm.session is not None
    clock.now += 1.0                                     # a deliberate tap, a second later
    _click_at(qtbot, kiosk, spot)
    qtbot.waitUntil(lambda: kiosk.vm.screen != Screen.MENU, timeout=3000)


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_large_text_attract_keeps_start_on_a_1280x800_screen(make_kiosk: Any, qtbot: Any,
                                                             lang: str) -> None:
    """With "Chữ to hơn" on, the Attract page scrolled and its Start and Return buttons were
    below the bottom edge: a patron who had just asked for larger text saw no way to begin."""
    k = make_kiosk(FakeEdge(), large_text=True, language=lang)
    QApplication.processEvents()
    area = k.window.stack.currentWidget()
    page = _page(k)
    assert area.verticalScrollBar().maximum() == 0
    for b in (page.start, page.ret):
        bottom = b.mapTo(area.viewport(), b.rect().bottomLeft()).y()
        assert b.isVisible() and bottom < area.viewport().height(), b.objectName()
    assert all(lab.isVisible() and lab.text() for lab in page.step_labels)   # steps still told


@pytest.mark.parametrize("large_text", [False, True])
@pytest.mark.parametrize("lang", ["vi", "en"])
def test_login_fits_the_screen_without_scrolling_in_both_text_sizes(
        make_kiosk: Any, qtbot: Any, lang: str, large_text: bool) -> None:
    """With "Chữ to hơn" on, the login page showed a scrollbar (every key visible, 10 px to
    scroll in a 1280×800 window): it fits the kiosk's screens (1280×1024, 1920×1080) and the
    1280×800 window, in both text sizes, with the longest hint and an error shown."""
    edge = FakeEdge()
    edge.card_reader = "offline"                 # the longest card hint
    k = make_kiosk(edge, large_text=large_text, language=lang)
    k.vm.probe()
    qtbot.waitUntil(lambda: k.vm.card_reader_offline, timeout=3000)
    _tap(qtbot, k, "start")
    _wait_screen(qtbot, k, Screen.LOGIN)
    page = _page(k)
    page.lvm.set_error(InputRefused("pin_required"))
    qtbot.waitUntil(page.error.isVisible, timeout=3000)
    for size in ((1280, 800), (1280, 1024), (1920, 1080)):
        k.window.resize(*size)
        QApplication.processEvents()
        area = k.window.stack.currentWidget()
        bar = area.verticalScrollBar()
        assert bar.maximum() == 0 and not bar.isVisible(), (size, bar.maximum())
        for name, b in page.keypad.buttons.items():
            bottom = b.mapTo(area.viewport(), b.rect().bottomLeft()).y()
            assert b.isVisible() and bottom < area.viewport().height(), (size, name)


@pytest.mark.parametrize("large_text,size", [(False, (1280, 800)), (False, (1280, 1024)),
                                             (True, (1280, 1024)), (True, (1920, 1080))])
@pytest.mark.parametrize("fines", [False, True])
def test_account_with_two_holds_shows_them_without_a_scrollbar(
        make_kiosk: Any, qtbot: Any, large_text: bool, size: tuple[int, int],
        fines: bool) -> None:
    """With two holds the holds list showed its own scrollbar (the second hold cut off);
    and with no fines, "Không có khoản phạt nào" stood at the page's bottom, far from the
    empty fines list: it now stands under the Fines heading, where the list would be."""
    edge = FakeEdge()
    if not fines:
        edge.fines = []
    k = make_kiosk(edge, large_text=large_text)
    k.window.resize(*size)
    _login_by_keypad(qtbot, k)
    _tap(qtbot, k, "tile_account")
    _wait_screen(qtbot, k, Screen.ACCOUNT)
    page = _page(k)
    qtbot.waitUntil(lambda: page.avm.holds.rowCount() == 2, timeout=3000)
    QApplication.processEvents()
    holds = page.lists[1]
    assert holds.verticalScrollBar().maximum() == 0, size
    assert not holds.verticalScrollBar().isVisible()
    assert k.window.stack.currentWidget().verticalScrollBar().maximum() == 0
    if fines:
        assert page.lists[2].isVisible() and page.total.isVisible()
        assert not page.no_fines.isVisible()
    else:
        assert not page.lists[2].isVisible() and not page.total.isVisible()
        assert page.no_fines.isVisible() and page.no_fines.text() == "Không có khoản phạt nào"
        head = page.heads[2].mapTo(page, page.heads[2].rect().bottomLeft()).y()
        line = page.no_fines.mapTo(page, page.no_fines.rect().topLeft()).y()
        assert 0 <= line - head <= k.theme.px(40), (head, line)   # it was hundreds of px
