"""The kiosk window: header (library, patron, countdown, language), banners and the pages.

Kiosk mode (``kiosk=True``): full screen, frameless, no context menus, shortcuts and
close requests swallowed. Staff leave through the admin page: five taps on the library name
within four seconds (or Ctrl+Alt+Shift+A), then the configured exit code.

A theme switch (large text, high contrast: :attr:`KioskViewModel.theme_changed`) rebuilds
everything inside the window with the new sizes and colours; the window itself stays.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from PySide6.QtCore import QCoreApplication as Q
from PySide6.QtCore import QEvent, QObject, QPoint, Qt
from PySide6.QtGui import QCloseEvent, QKeyEvent, QMouseEvent
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QScroller,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from kiosk_ui.text import format_money
from kiosk_ui.theme import Theme
from kiosk_ui.viewmodels.kiosk import KioskViewModel, Screen
from kiosk_ui.views.pages import (
    AccountPage,
    AdminPage,
    AttractPage,
    FinesPage,
    LoginPage,
    MenuPage,
    OutOfServicePage,
    PadPage,
    Page,
    ReceiptPage,
    RenewPage,
)
from kiosk_ui.views.widgets import BigButton, ElidedLabel, Pictogram, polish
from kiosk_ui.wedge import MAX_GAP_S

log = logging.getLogger(__name__)

ADMIN_TAPS = 5
ADMIN_WINDOW_S = 4.0
BOUNCE_S = 0.5
"""A press this soon after the press that changed the screen, on the same spot, is the
second half of a double press (:meth:`KioskWindow.eventFilter`)."""
BOUNCE_PX = 24


def _scroller(page: QWidget) -> QScrollArea:
    """``page`` in a frameless scroll area: when a page does not fit (large text on a short
    screen) it scrolls, by touch too, instead of being cut off or stretching the window."""
    area = QScrollArea()
    area.setObjectName("PageArea")
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setWidgetResizable(True)
    area.setWidget(page)
    QScroller.grabGesture(area.viewport(), QScroller.ScrollerGestureType.TouchGesture)
    return area


class KioskWindow(QWidget):
    """The whole kiosk UI for one :class:`KioskViewModel`.

    Args:
        vm: the root view-model.
        theme: colours and sizes.
        kiosk: kiosk mode (full screen, no chrome, shortcuts disabled).
        wedge_max_gap_s: the longest pause between two keys of a barcode scan.
    """

    def __init__(self, vm: KioskViewModel, theme: Theme, kiosk: bool = False,
                 parent: QWidget | None = None, *, wedge_max_gap_s: float = MAX_GAP_S) -> None:
        super().__init__(parent)
        self.setObjectName("KioskRoot")
        self.vm = vm
        self.theme = theme
        self.kiosk = kiosk
        self.wedge_max_gap_s = wedge_max_gap_s
        self._allow_close = not kiosk
        self._taps: list[float] = []
        self.clock: Callable[[], float] = time.monotonic   # for the double-press guard
        self._last_press: tuple[float, QPoint] | None = None
        self._screen_shown_at = -1.0
        self._drop_release = False
        self.setWindowTitle("smartlib kiosk")
        if kiosk:
            self.setWindowFlags(Qt.WindowType.FramelessWindowHint | Qt.WindowType.Window)
            self.setContextMenuPolicy(Qt.ContextMenuPolicy.NoContextMenu)
        self._outer = QVBoxLayout(self)
        self._outer.setContentsMargins(0, 0, 0, 0)
        self._outer.setSpacing(0)
        self._admin = False
        self._warning = ""
        self.body = self._build(theme)
        vm.changed.connect(self.refresh)
        vm.screen_changed.connect(lambda _s: self.refresh())
        vm.theme_changed.connect(self._theme_changed)
        vm.localizer.changed.connect(lambda _l: self.refresh())
        for child in (vm.login, vm.borrow, vm.returns, vm.renew, vm.account, vm.fines,
                      vm.receipt):
            child.changed.connect(self._refresh_current)
        app = QApplication.instance()
        assert app is not None, "create the QApplication first"
        app.installEventFilter(self)   # activity + kiosk key filter
        self.refresh()

    def _build(self, theme: Theme) -> QWidget:
        """Header, banner, pages and idle bar for ``theme``, in a new body widget."""
        vm = self.vm
        body = QWidget(self)
        body.setObjectName("Body")
        outer = QVBoxLayout(body)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)

        # header
        self.header = QWidget()
        self.header.setObjectName("Header")
        self.header.setAttribute(Qt.WidgetAttribute.WA_StyledBackground)
        hl = QHBoxLayout(self.header)
        hl.setContentsMargins(theme.px(28), theme.px(12), theme.px(28), theme.px(12))
        hl.setSpacing(theme.px(18))
        hl.addWidget(Pictogram("books", theme, 52, fg="header_text", accent="accent"))
        self.site = ElidedLabel()
        self.site.setObjectName("SiteName")   # five taps: the admin page (application filter)
        hl.addWidget(self.site, 1)
        self.greeting = ElidedLabel()
        self.greeting.setObjectName("Greeting")
        hl.addWidget(self.greeting)
        self.countdown = QLabel()
        self.countdown.setObjectName("Countdown")
        hl.addWidget(self.countdown)
        self.lang = BigButton("", "lang")
        self.lang.setObjectName("lang_toggle")
        self.lang.clicked.connect(self._toggle_language)
        hl.addWidget(self.lang)
        outer.addWidget(self.header)

        # offline banner
        self.banner = QWidget()
        self.banner.setObjectName("Banner")
        self.banner.setAttribute(Qt.WidgetAttribute.WA_StyledBackground)
        bl = QHBoxLayout(self.banner)
        bl.setContentsMargins(theme.px(28), theme.px(10), theme.px(28), theme.px(10))
        bl.addWidget(Pictogram("offline", theme, 44, fg="banner_text", accent="danger"))
        self.banner_text = QLabel()
        self.banner_text.setObjectName("banner_text")
        self.banner_text.setWordWrap(True)
        bl.addWidget(self.banner_text, 1)
        outer.addWidget(self.banner)

        # pages
        self.stack = QStackedWidget()
        self.pages: dict[str, Page] = {
            Screen.ATTRACT: AttractPage(vm, theme),
            Screen.LOGIN: LoginPage(vm, theme, max_gap_s=self.wedge_max_gap_s),
            Screen.MENU: MenuPage(vm, theme),
            Screen.BORROW: PadPage(vm, theme, vm.borrow, "borrow"),
            Screen.RETURN: PadPage(vm, theme, vm.returns, "return"),
            Screen.RENEW: RenewPage(vm, theme),
            Screen.ACCOUNT: AccountPage(vm, theme),
            Screen.FINES: FinesPage(vm, theme),
            Screen.RECEIPT: ReceiptPage(vm, theme),
            Screen.OUT_OF_SERVICE: OutOfServicePage(vm, theme),
            "admin": AdminPage(vm, theme),
        }
        self._areas: dict[str, QScrollArea] = {}
        for name, page in self.pages.items():
            self._areas[name] = _scroller(page)
            self.stack.addWidget(self._areas[name])
        self.pages["admin"].cancel.clicked.connect(self._leave_admin)  # type: ignore[attr-defined]
        outer.addWidget(self.stack, 1)

        # idle warning
        self.idle_bar = QWidget()
        self.idle_bar.setObjectName("IdleBar")
        self.idle_bar.setAttribute(Qt.WidgetAttribute.WA_StyledBackground)
        il = QHBoxLayout(self.idle_bar)
        il.setContentsMargins(theme.px(28), theme.px(6), theme.px(28), theme.px(6))
        self.idle_text = QLabel()
        self.idle_text.setObjectName("idle_text")
        il.addWidget(self.idle_text, 1)
        self.idle_continue = BigButton("", "primary")
        self.idle_continue.setObjectName("idle_continue")
        self.idle_continue.clicked.connect(vm.activity)
        il.addWidget(self.idle_continue)
        outer.addWidget(self.idle_bar)
        self._outer.addWidget(body)
        return body

    def _theme_changed(self) -> None:
        """Rebuild the window's content with the view-model's large text / high contrast."""
        vm = self.vm
        if (self.theme.large_text, self.theme.high_contrast) == (vm.large_text, vm.high_contrast):
            return
        focus = QApplication.focusWidget()
        focused = focus.objectName() if focus is not None and self.body.isAncestorOf(focus) else ""
        self.theme = Theme(large_text=vm.large_text, high_contrast=vm.high_contrast,
                           family=self.theme.family)
        app = QApplication.instance()
        if isinstance(app, QApplication):
            app.setStyleSheet(self.theme.stylesheet())
        old = self.body
        self._outer.removeWidget(old)
        old.hide()
        old.deleteLater()   # later: the tap that switched the theme is still being handled
        self._warning = ""
        self.body = self._build(self.theme)
        self.refresh()
        if focused:   # keyboard users keep their place
            again = self.current_page().findChild(QWidget, focused)
            if again is not None:
                again.setFocus()

    # -- rendering --------------------------------------------------------------------
    def current_page(self) -> Page:
        area = self.stack.currentWidget()
        assert isinstance(area, QScrollArea)
        return area.widget()  # type: ignore[return-value]

    def _refresh_current(self) -> None:
        self.current_page().refresh()

    def refresh(self) -> None:
        vm = self.vm
        screen = "admin" if self._admin else vm.screen.value
        page = self.pages[screen]
        if self.stack.currentWidget() is not self._areas[screen]:
            self.stack.setCurrentWidget(self._areas[screen])
            self._screen_shown_at = self.clock()
        page.refresh()
        down = vm.screen == Screen.OUT_OF_SERVICE
        self.header.setVisible(not down)
        self.site.setText(vm.site_name)
        self.greeting.setText(Q.translate("Header", "Hello, {name}").format(name=vm.patron_name)
                              if vm.patron_name else "")
        self.greeting.setVisible(bool(vm.patron_name) and screen != Screen.MENU)
        rem = vm.remaining_s
        self.countdown.setVisible(rem >= 0 and not down)
        self.countdown.setText(Q.translate("Header", "{s} s left").format(s=rem))
        warn = "true" if vm.countdown_warning else "false"
        if self._warning != warn:   # a Python copy: reading an unset Qt property leaks (PySide 6.12)
            self._warning = warn
            self.countdown.setProperty("warning", warn)
            polish(self.countdown)
        other = "en" if vm.localizer.language == "vi" else "vi"
        self.lang.setText({"en": "English", "vi": "Tiếng Việt"}[other])
        self.lang.setAccessibleName(Q.translate("Header", "Change language"))
        self.lang.setVisible(screen != Screen.ATTRACT and not down)
        offline = vm.gateway_offline and not down
        self.banner.setVisible(offline)
        if offline:
            self.banner_text.setText(self.offline_text())
        self.idle_bar.setVisible(vm.countdown_warning and not down)
        self.idle_text.setText(Q.translate(
            "Header", "Are you still there? Your session ends in {s} seconds.").format(s=rem))
        self.idle_continue.setText(Q.translate("Header", "Continue"))

    def offline_text(self) -> str:
        """The offline banner: what still works and the offline policy's limits (``/health``)."""
        vm = self.vm
        parts = [Q.translate("Header", "The library network is offline. You can still borrow and"
                             " return; it will be registered when the network is back.")]
        n, value = vm.offline_max_items, vm.offline_max_value
        if n is not None and value is not None:
            parts.append(Q.translate("Header", "Limit now: {n} items, worth up to {value} in all, per"
                                     " visit.").format(
                n=n, value=format_money(value, "VND", vm.localizer.language)))
        elif n is not None:
            parts.append(Q.translate("Header", "Limit now: {n} items per visit.").format(n=n))
        login = {"deny": Q.translate("Header", "New logins are not possible until the network is"
                                     " back."),
                 "cached": Q.translate("Header", "Log in with your card, or with your number and"
                                       " PIN if you have used this kiosk before."),
                 "card-only": Q.translate("Header", "Log in with your library card only.")
                 }.get(vm.offline_login or "")
        if login and vm.session is None:
            parts.append(login)
        return " ".join(parts)

    def _toggle_language(self) -> None:
        self.vm.set_language("en" if self.vm.localizer.language == "vi" else "vi")

    # -- admin exit -------------------------------------------------------------------
    def open_admin(self) -> None:
        """Show the staff exit page."""
        self._admin = True
        self.refresh()
        self.pages["admin"].code.setFocus()  # type: ignore[attr-defined]

    def _leave_admin(self) -> None:
        self._admin = False
        self._warning = ""
        self.refresh()

    def allow_close(self) -> None:
        """Let the next close request through (after a valid admin exit)."""
        self._allow_close = True

    def _tap(self) -> None:
        now = time.monotonic()
        self._taps = [t for t in self._taps if now - t < ADMIN_WINDOW_S] + [now]
        if len(self._taps) >= ADMIN_TAPS:
            self._taps = []
            self.open_admin()

    # -- events -----------------------------------------------------------------------
    def _bounce(self, obj: QObject, ev: QEvent) -> bool:
        """Whether ``ev`` is the second press of a double press that changed the screen
        (or its release): a button in the same place on the new screen ("Về menu", then the
        menu's "Kết thúc") would take it. Dropped: a press on the same spot (``BOUNCE_PX``)
        within ``BOUNCE_S`` of the press before the screen changed."""
        t = ev.type()
        if not isinstance(obj, QWidget) or not isinstance(ev, QMouseEvent):
            return False
        if t == QEvent.Type.MouseButtonRelease and self._drop_release:
            self._drop_release = False
            return True
        if t not in (QEvent.Type.MouseButtonPress, QEvent.Type.MouseButtonDblClick):
            return False
        now, spot = self.clock(), ev.globalPosition().toPoint()
        last, self._last_press = self._last_press, (now, spot)
        if last is None:
            return False
        at, where = last
        bounce = (now - at < BOUNCE_S and self._screen_shown_at >= at
                  and (spot - where).manhattanLength() <= BOUNCE_PX)
        if bounce:
            log.info("dropped a second press %.2fs after the screen changed", now - at)
            self._last_press = last
            self._drop_release = True
        return bounce

    def eventFilter(self, obj: QObject, ev: QEvent) -> bool:
        if self._bounce(obj, ev):
            return True
        t = ev.type()
        if obj is self.site and t == QEvent.Type.MouseButtonPress:
            self._tap()
        if t in (QEvent.Type.MouseButtonPress, QEvent.Type.KeyPress, QEvent.Type.TouchBegin):
            if self.vm.remaining_s >= 0:
                self.vm.activity()
        if self.kiosk and t == QEvent.Type.ShortcutOverride and isinstance(ev, QKeyEvent):
            mods = ev.modifiers()
            if (mods & Qt.KeyboardModifier.ControlModifier and mods & Qt.KeyboardModifier.AltModifier
                    and mods & Qt.KeyboardModifier.ShiftModifier and ev.key() == Qt.Key.Key_A):
                self.open_admin()
            ev.accept()   # no application shortcut ever fires in kiosk mode
            return True
        if self.kiosk and t == QEvent.Type.KeyPress and isinstance(ev, QKeyEvent):
            if ev.modifiers() & (Qt.KeyboardModifier.AltModifier | Qt.KeyboardModifier.MetaModifier):
                return True
            if ev.key() in (Qt.Key.Key_Escape, Qt.Key.Key_F11, Qt.Key.Key_Super_L, Qt.Key.Key_Super_R):
                return True
        return False

    def mousePressEvent(self, e: QMouseEvent) -> None:
        super().mousePressEvent(e)

    def closeEvent(self, e: QCloseEvent) -> None:
        if self._allow_close:
            e.accept()
        else:
            e.ignore()

    def shutdown(self) -> None:
        """Remove the application-wide event filter (before the window goes away)."""
        app = QApplication.instance()
        if app is not None:
            app.removeEventFilter(self)
