"""The kiosk's screens. Each page only lays out widgets, forwards taps to its view-model and
re-reads the view-model in ``refresh()`` (which also re-translates every label, so a language
switch needs no restart).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QCoreApplication as Q
from PySide6.QtCore import QEvent, QModelIndex, QObject, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QVBoxLayout,
    QWidget,
)

from kiosk_ui.theme import Theme
from kiosk_ui.viewmodels.circulation import DONE, WAITING, PadViewModel
from kiosk_ui.viewmodels.kiosk import KioskViewModel, Screen
from kiosk_ui.viewmodels.receipt import QR_COMPACT, QR_PARTIAL
from kiosk_ui.views.widgets import (
    BigButton,
    ItemCardDelegate,
    Keypad,
    Pictogram,
    QrWidget,
    TileButton,
    card_frame,
)
from kiosk_ui.wedge import MAX_GAP_S, WedgeDetector


def label(role: str = "", parent: QWidget | None = None, wrap: bool = True) -> QLabel:
    lab = QLabel(parent)
    if role:
        lab.setProperty("role", role)
    lab.setWordWrap(wrap)
    return lab


def list_view(theme: Theme, checkable: bool = False) -> QListView:
    v = QListView()
    v.setItemDelegate(ItemCardDelegate(theme, checkable, v))
    v.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
    v.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
    v.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
    v.setSpacing(2)
    v.setUniformItemSizes(False)
    v.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    v.setResizeMode(QListView.ResizeMode.Adjust)
    v.setMinimumHeight(theme.px(96))
    return v


class Page(QWidget):
    """A screen: margins, a title row and a body."""

    def __init__(self, vm: KioskViewModel, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("Page")
        self.vm = vm
        self.theme = theme
        self.root = QVBoxLayout(self)
        m = theme.px(36)
        self.root.setContentsMargins(m, theme.px(24), m, theme.px(24))
        self.root.setSpacing(theme.px(18))

    def refresh(self) -> None:
        raise NotImplementedError


# ---- attract ---------------------------------------------------------------------------

class AttractPage(Page):
    """Idle screen: welcome, language choice, pictured steps, opening hours."""

    STEPS = (("card", "1"), ("books", "2"), ("receipt", "3"))

    def __init__(self, vm: KioskViewModel, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(vm, theme, parent)
        top = QHBoxLayout()
        self.welcome = label("title")
        top.addWidget(self.welcome, 1)
        self.lang_buttons: dict[str, BigButton] = {}
        for code, name in (("vi", "Tiếng Việt"), ("en", "English")):
            b = BigButton(name, "langbig")
            b.setObjectName(f"lang_{code}")
            b.setCheckable(True)
            b.clicked.connect(lambda _c=False, c=code: vm.set_language(c))
            self.lang_buttons[code] = b
            top.addWidget(b, 0, Qt.AlignmentFlag.AlignTop)
        self.root.addLayout(top)
        mid = QHBoxLayout()
        mid.setSpacing(theme.px(16))
        self.hours = label("subtitle")
        mid.addWidget(self.hours, 1)
        # Patrons switch these themselves; the window rebuilds with the new theme.
        self.large_text = BigButton("", "a11y")
        self.large_text.setObjectName("large_text")
        self.large_text.setCheckable(True)
        self.large_text.clicked.connect(lambda _c=False: vm.set_large_text(not vm.large_text))
        self.high_contrast = BigButton("", "a11y")
        self.high_contrast.setObjectName("high_contrast")
        self.high_contrast.setCheckable(True)
        self.high_contrast.clicked.connect(
            lambda _c=False: vm.set_high_contrast(not vm.high_contrast))
        mid.addWidget(self.large_text, 0, Qt.AlignmentFlag.AlignVCenter)
        mid.addWidget(self.high_contrast, 0, Qt.AlignmentFlag.AlignVCenter)
        self.root.addLayout(mid)
        steps = QHBoxLayout()
        steps.setSpacing(theme.px(22))
        self.step_labels: list[QLabel] = []
        for kind, num in self.STEPS:
            card = card_frame()
            lay = QVBoxLayout(card)
            lay.setContentsMargins(theme.px(20), theme.px(22), theme.px(20), theme.px(22))
            lay.setSpacing(theme.px(10))
            n = QLabel(num)
            n.setObjectName("StepNumber")
            n.setAlignment(Qt.AlignmentFlag.AlignCenter)
            n.setFixedSize(theme.px(52), theme.px(52))
            lay.addWidget(n, 0, Qt.AlignmentFlag.AlignHCenter)
            lay.addStretch(1)
            pic = Pictogram(kind, theme, 120)
            lay.addWidget(pic, 0, Qt.AlignmentFlag.AlignHCenter)
            lay.addStretch(1)
            text = label()
            text.setAlignment(Qt.AlignmentFlag.AlignCenter)
            text.setProperty("role", "section")
            lay.addWidget(text)
            self.step_labels.append(text)
            steps.addWidget(card, 1)
        self.root.addLayout(steps, 1)
        self.notice = label("notice")
        self.root.addWidget(self.notice)
        self.error = label("error")
        self.root.addWidget(self.error)
        row = QHBoxLayout()
        row.setSpacing(theme.px(20))
        self.start = BigButton("", "primary")
        self.start.setObjectName("start")
        self.start.setMinimumHeight(theme.px(88))
        self.start.clicked.connect(vm.start_login)
        self.ret = BigButton("")
        self.ret.setObjectName("anon_return")
        self.ret.setMinimumHeight(theme.px(88))
        self.ret.clicked.connect(vm.start_anonymous_return)
        row.addWidget(self.start, 2)
        row.addWidget(self.ret, 1)
        self.root.addLayout(row)

    def refresh(self) -> None:
        vm = self.vm
        self.welcome.setText(Q.translate("Attract", "Welcome to {library}").format(
            library=vm.site_name))
        self.hours.setText(Q.translate("Attract", "Opening hours: {hours}").format(
            hours=vm.opening_hours) if vm.opening_hours else "")
        texts = (Q.translate("Attract", "Tap your library card"),
                 Q.translate("Attract", "Put your books on the pad"),
                 Q.translate("Attract", "Take your receipt"))
        for lab, text in zip(self.step_labels, texts, strict=True):
            lab.setText(text)
        for code, b in self.lang_buttons.items():
            b.setChecked(code == vm.localizer.language)
        self.large_text.setText("A+  " + Q.translate("Attract", "Larger text"))
        self.large_text.setAccessibleName(Q.translate("Attract", "Larger text"))
        self.large_text.setChecked(vm.large_text)
        self.high_contrast.setText("◐  " + Q.translate("Attract", "High contrast"))
        self.high_contrast.setAccessibleName(Q.translate("Attract", "High contrast"))
        self.high_contrast.setChecked(vm.high_contrast)
        self.start.setText(Q.translate("Attract", "Start — tap your card or touch here"))
        self.ret.setText(Q.translate("Attract", "Return books"))
        self.ret.setVisible(vm.anonymous_return)
        notice = {"session_expired": Q.translate("Attract", "Your session has ended. Thank you!"),
                  "idle": Q.translate("Attract", "Your session has ended. Thank you!")}.get(
            vm.notice, Q.translate("Attract", "Your session has ended. Thank you!") if vm.notice else "")
        self.notice.setText(notice)
        self.notice.setVisible(bool(notice))
        self.error.setText(vm.error_text)
        self.error.setVisible(bool(vm.error_text) or bool(vm.login.error_text))
        if vm.login.error_text:
            self.error.setText(vm.login.error_text)


# ---- login -----------------------------------------------------------------------------

class LoginPage(Page):
    """Card tap, barcode (keyboard wedge into the number field) or number + PIN.

    Enter in the number field is a barcode login only when :class:`WedgeDetector` saw a scan
    (a burst of keys, or the scanner's affixes); a number a person typed moves on to the PIN,
    and goes to the edge only with it. The keypad never produces a scan.

    Args:
        max_gap_s: the longest pause between two keys of a scan.
        clock: monotonic seconds for the key times (tests pass a fake).
    """

    def __init__(self, vm: KioskViewModel, theme: Theme, parent: QWidget | None = None, *,
                 max_gap_s: float = MAX_GAP_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(vm, theme, parent)
        self.lvm = vm.login
        self.clock = clock
        self.wedge = WedgeDetector(prefix=self.lvm.scan_prefix, suffix=self.lvm.scan_suffix,
                                   max_gap_s=max_gap_s)
        self._shown_field = ""
        self.title = label("title")
        body = QHBoxLayout()
        body.setSpacing(theme.px(36))
        left = QVBoxLayout()
        left.setSpacing(theme.px(16))
        left.addWidget(self.title)
        card = card_frame()
        cl = QHBoxLayout(card)
        cl.setContentsMargins(theme.px(20), theme.px(20), theme.px(20), theme.px(20))
        cl.addWidget(Pictogram("card", theme, 110))
        self.card_hint = label("section")
        cl.addWidget(self.card_hint, 1)
        left.addWidget(card)
        card2 = card_frame()
        c2 = QHBoxLayout(card2)
        c2.setContentsMargins(theme.px(20), theme.px(20), theme.px(20), theme.px(20))
        c2.addWidget(Pictogram("barcode", theme, 110))
        self.scan_hint = label("section")
        c2.addWidget(self.scan_hint, 1)
        left.addWidget(card2)
        self.error = label("error")
        self.error.setObjectName("login_error")
        left.addWidget(self.error)
        left.addStretch(1)
        self.back = BigButton("")
        self.back.setObjectName("back")
        self.back.clicked.connect(vm.back)
        left.addWidget(self.back, 0, Qt.AlignmentFlag.AlignLeft)
        body.addLayout(left, 5)

        right = QVBoxLayout()
        right.setSpacing(theme.px(12))
        self.number = QLineEdit()
        self.number.setObjectName("number")
        self.number.setMaxLength(20)
        self.number.textEdited.connect(self.lvm.set_number)
        self.number.installEventFilter(self)   # key times for the wedge; Enter handled there
        right.addWidget(self.number)
        self.pin = QLineEdit()
        self.pin.setObjectName("pin")
        self.pin.setEchoMode(QLineEdit.EchoMode.Password)
        self.pin.setMaxLength(8)
        self.pin.installEventFilter(self)   # keys go to the view-model; the field shows bullets
        right.addWidget(self.pin)
        self.keypad = Keypad()
        self.keypad.pressed.connect(self._keypad)
        right.addWidget(self.keypad)
        body.addLayout(right, 4)
        self.root.addLayout(body, 1)

    def _keypad(self, key: str) -> None:
        self.wedge.reset()   # keypad digits are typed by a person, never part of a scan
        self.lvm.press(key)

    def _number_enter(self) -> None:
        scan = self.wedge.enter(self.clock())
        if scan is not None:
            self.lvm.submit_barcode(scan)   # a scanner: a barcode login, no PIN
        elif self.lvm.pin_length:
            self.lvm.submit()               # typed number with its PIN
        else:
            self.lvm.press("ok")            # typed number: on to the PIN, nothing sent

    def _number_key(self, ev: QKeyEvent) -> bool:
        key = ev.key()
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self._number_enter()
            return True
        if ev.isAutoRepeat() or key in (Qt.Key.Key_Backspace, Qt.Key.Key_Delete,
                                        Qt.Key.Key_Left, Qt.Key.Key_Right, Qt.Key.Key_Home,
                                        Qt.Key.Key_End):
            self.wedge.edited()
        elif ev.text():
            self.wedge.key(ev.text(), self.clock())
        return False

    def eventFilter(self, obj: QObject, ev: QEvent) -> bool:
        if ev.type() == QEvent.Type.FocusIn:
            self.lvm.set_field("pin" if obj is self.pin else "number")
        elif obj is self.number and ev.type() == QEvent.Type.KeyPress and isinstance(ev, QKeyEvent):
            return self._number_key(ev)
        elif obj is self.pin and ev.type() == QEvent.Type.KeyPress and isinstance(ev, QKeyEvent):
            # The PIN never sits in the widget: digits go straight to the view-model.
            key, text = ev.key(), ev.text()
            if text.isdigit() and len(text) == 1:
                self.lvm.press(text)
                return True
            if key == Qt.Key.Key_Backspace:
                self.lvm.press("back")
                return True
            if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                self.lvm.submit()
                return True
            if key not in (Qt.Key.Key_Tab, Qt.Key.Key_Backtab):
                return True
        return False

    def showEvent(self, e: object) -> None:   # type: ignore[override]
        self.wedge.reset()
        self.number.setFocus()   # the wedge types here

    def refresh(self) -> None:
        lvm = self.lvm
        self.title.setText(Q.translate("Login", "Log in"))
        self.card_hint.setText(Q.translate("Login", "Tap your card on the reader below the screen"))
        self.scan_hint.setText(Q.translate("Login", "Or scan the barcode on your card"))
        self.number.setPlaceholderText(Q.translate("Login", "Card number"))
        self.number.setAccessibleName(Q.translate("Login", "Card number"))
        self.pin.setPlaceholderText(Q.translate("Login", "PIN"))
        self.pin.setAccessibleName(Q.translate("Login", "PIN"))
        self.back.setText(Q.translate("Common", "Back"))
        self.keypad.buttons["ok"].setText(Q.translate("Login", "OK"))
        if self.number.text() != lvm.number:
            self.number.setText(lvm.number)
        if len(self.pin.text()) != lvm.pin_length:
            self.pin.setText("•" * lvm.pin_length)   # placeholders, never the digits
        # Move the focus only when the view-model moved the field (or nothing has it), so
        # Tab can reach the keypad, Back and the header without being pulled back.
        target = self.pin if lvm.field == "pin" else self.number
        if self.isVisible() and (lvm.field != self._shown_field
                                 or QApplication.focusWidget() is None) \
                and not target.hasFocus():
            target.setFocus()
        if self.isVisible():
            self._shown_field = lvm.field
        self.error.setText(lvm.error_text)
        self.error.setVisible(bool(lvm.error_text))
        self.keypad.setEnabled(not lvm.busy)


# ---- menu ------------------------------------------------------------------------------

class MenuPage(Page):
    """Borrow, Return, Renew, My account, Finish."""

    def __init__(self, vm: KioskViewModel, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(vm, theme, parent)
        self.title = label("title")
        self.root.addWidget(self.title)
        self.hint = label("subtitle")
        self.root.addWidget(self.hint)
        grid = QGridLayout()
        grid.setSpacing(theme.px(22))
        self.tiles: dict[str, TileButton] = {}
        for i, (name, screen) in enumerate((("borrow", Screen.BORROW), ("return", Screen.RETURN),
                                            ("renew", Screen.RENEW), ("account", Screen.ACCOUNT))):
            t = TileButton(name, theme)
            t.setObjectName(f"tile_{name}")
            t.clicked.connect(lambda _c=False, s=screen: vm.go(s))
            grid.addWidget(t, i // 2, i % 2)
            self.tiles[name] = t
        self.root.addLayout(grid, 1)
        self.finish = BigButton("", "accent")
        self.finish.setObjectName("finish")
        self.finish.setMinimumHeight(theme.px(80))
        self.finish.clicked.connect(vm.finish)
        self.root.addWidget(self.finish)

    def refresh(self) -> None:
        self.title.setText(Q.translate("Menu", "Hello, {name}").format(name=self.vm.patron_name))
        self.hint.setText(Q.translate("Menu", "What would you like to do?"))
        self.tiles["borrow"].setText(Q.translate("Menu", "Borrow"))
        self.tiles["return"].setText(Q.translate("Menu", "Return"))
        self.tiles["renew"].setText(Q.translate("Menu", "Renew"))
        self.tiles["account"].setText(Q.translate("Menu", "My account"))
        self.finish.setText(Q.translate("Common", "Finish"))


# ---- borrow / return -------------------------------------------------------------------

class PadPage(Page):
    """Items placed on the pad, live; a running count and a clear done state."""

    def __init__(self, vm: KioskViewModel, theme: Theme, pad: PadViewModel, mode: str,
                 parent: QWidget | None = None) -> None:
        super().__init__(vm, theme, parent)
        self.pad = pad
        self.mode = mode
        head = QHBoxLayout()
        head.addWidget(Pictogram("borrow" if mode == "borrow" else "return", theme, 84))
        titles = QVBoxLayout()
        self.title = label("title")
        self.hint = label("subtitle")
        titles.addWidget(self.title)
        titles.addWidget(self.hint)
        head.addLayout(titles, 1)
        self.count = label("count", wrap=False)
        self.count.setObjectName("count")
        head.addWidget(self.count, 0, Qt.AlignmentFlag.AlignBottom)
        self.root.addLayout(head)
        self.list = list_view(theme)
        self.list.setObjectName("items")
        self.list.setModel(pad.model)
        pad.model.rowsInserted.connect(self._row_added)   # a bound slot: gone with the page
        self.root.addWidget(self.list, 1)
        self.done = label("done")
        self.done.setObjectName("done")
        self.root.addWidget(self.done)
        self.error = label("error")
        self.root.addWidget(self.error)
        row = QHBoxLayout()
        row.setSpacing(theme.px(20))
        self.back = BigButton("")
        self.back.setObjectName("back")
        self.back.clicked.connect(vm.back)
        self.finish = BigButton("", "accent")
        self.finish.setObjectName("finish")
        self.finish.clicked.connect(vm.finish)
        row.addWidget(self.back, 1)
        row.addWidget(self.finish, 1)
        self.root.addLayout(row)

    def _row_added(self, *_args: object) -> None:
        self.list.scrollToBottom()

    def refresh(self) -> None:
        borrow = self.mode == "borrow"
        pad = self.pad
        self.title.setText(Q.translate("Pad", "Borrow") if borrow else Q.translate("Pad", "Return"))
        self.hint.setText(Q.translate("Pad", "Place your items on the pad")
                          if borrow else Q.translate("Pad", "Place the items to return on the pad"))
        c = pad.counts
        if borrow:
            text = Q.translate("Pad", "Borrowed: {n}").format(n=c["ok"])
        else:
            text = Q.translate("Pad", "Returned: {n}").format(n=c["ok"])
        if c["refused"]:
            text += "   " + Q.translate("Pad", "Not done: {n}").format(n=c["refused"])
        self.count.setText(text)
        state = pad.state
        if state == DONE:
            if borrow:
                msg = Q.translate("Pad", "Done! You may take your items. Add more, or touch Finish.")
            else:
                msg = Q.translate("Pad", "Done! Put the items where shown. Add more, or touch Finish.")
            if c["refused"]:
                msg = Q.translate("Pad", "Done. Items marked in red or amber stay here: please see the staff.")
            self.done.setText(msg)
        self.done.setVisible(state == DONE)
        self.done.setProperty("role", "done" if not c["refused"] else "notice")
        self.style().unpolish(self.done)
        self.style().polish(self.done)
        self.error.setText(pad.error_text)
        self.error.setVisible(bool(pad.error_text))
        self.back.setText(Q.translate("Common", "Back to menu") if self.vm.session
                          else Q.translate("Common", "Back"))
        self.finish.setText(Q.translate("Common", "Finish"))
        self.finish.setEnabled(state != "working")
        self.list.setVisible(state != WAITING or pad.model.rowCount() > 0)


# ---- renew -----------------------------------------------------------------------------

class RenewPage(Page):
    """Loans with due dates; select items or renew all; a result per item."""

    def __init__(self, vm: KioskViewModel, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(vm, theme, parent)
        self.rvm = vm.renew
        head = QHBoxLayout()
        head.addWidget(Pictogram("renew", theme, 84))
        tl = QVBoxLayout()
        self.title = label("title")
        self.hint = label("subtitle")
        tl.addWidget(self.title)
        tl.addWidget(self.hint)
        head.addLayout(tl, 1)
        self.root.addLayout(head)
        self.list = list_view(theme, checkable=True)
        self.list.setObjectName("loans")
        self.list.setModel(self.rvm.loans)
        self.list.clicked.connect(self._toggle)
        self.list.activated.connect(self._toggle)
        self.root.addWidget(self.list, 1)
        self.empty = label("hint")
        self.root.addWidget(self.empty)
        self.error = label("error")
        self.root.addWidget(self.error)
        row = QHBoxLayout()
        row.setSpacing(theme.px(20))
        self.back = BigButton("")
        self.back.setObjectName("back")
        self.back.clicked.connect(vm.back)
        self.selected = BigButton("", "primary")
        self.selected.setObjectName("renew_selected")
        self.selected.clicked.connect(self.rvm.renew_selected)
        self.all = BigButton("", "primary")
        self.all.setObjectName("renew_all")
        self.all.clicked.connect(self.rvm.renew_all)
        for b in (self.back, self.selected, self.all):
            row.addWidget(b, 1)
        self.root.addLayout(row)

    def _toggle(self, index: QModelIndex) -> None:
        self.rvm.loans.toggle(index.row())
        self.vm.activity()

    def refresh(self) -> None:
        r = self.rvm
        self.title.setText(Q.translate("Renew", "Renew"))
        self.hint.setText(Q.translate("Renew", "Touch the items to renew, or renew all"))
        n = r.loans.rowCount()
        self.empty.setText(Q.translate("Renew", "You have no loans.") if (n == 0 and not r.busy) else "")
        self.empty.setVisible(n == 0 and not r.busy)
        self.error.setText(r.error_text)
        self.error.setVisible(bool(r.error_text))
        self.back.setText(Q.translate("Common", "Back to menu"))
        self.selected.setText(Q.translate("Renew", "Renew selected ({n})").format(n=len(r.selected)))
        self.all.setText(Q.translate("Renew", "Renew all"))
        for b in (self.selected, self.all):
            b.setEnabled(n > 0 and not r.busy)


# ---- account ---------------------------------------------------------------------------

class AccountPage(Page):
    """Loans (overdue highlighted), holds ready for pickup, fines."""

    def __init__(self, vm: KioskViewModel, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(vm, theme, parent)
        self.avm = vm.account
        head = QHBoxLayout()
        head.addWidget(Pictogram("account", theme, 64))
        self.title = label("title")
        head.addWidget(self.title, 1)
        self.root.addLayout(head)
        cols = QHBoxLayout()
        cols.setSpacing(theme.px(28))
        left = QVBoxLayout()
        right = QVBoxLayout()
        cols.addLayout(left, 1)
        cols.addLayout(right, 1)
        self.heads: list[QLabel] = []
        self.lists: list[QListView] = []
        for name, model, box in (("loans", self.avm.loans, left), ("holds", self.avm.holds, right),
                                 ("fines", self.avm.fines, right)):
            h = label("section")
            box.addWidget(h)
            v = list_view(theme)
            v.setObjectName(f"account_{name}")
            v.setModel(model)
            box.addWidget(v, 3 if name == "holds" else 2)
            self.heads.append(h)
            self.lists.append(v)
        self.total = label("count", wrap=False)
        self.total.setObjectName("fine_total")
        self.root.addLayout(cols, 1)
        self.error = label("error")
        self.root.addWidget(self.error)
        row = QHBoxLayout()
        self.back = BigButton("")
        self.back.setObjectName("back")
        self.back.clicked.connect(vm.back)
        row.addWidget(self.back)
        row.addStretch(1)
        row.addWidget(self.total)
        self.root.addLayout(row)

    def refresh(self) -> None:
        a = self.avm
        self.title.setText(Q.translate("Account", "My account"))
        over = a.overdue_count
        loans = Q.translate("Account", "Loans ({n})").format(n=a.loans.rowCount())
        if over:
            loans += " · " + Q.translate("Account", "{n} overdue").format(n=over)
        self.heads[0].setText(loans)
        self.heads[1].setText(Q.translate("Account", "Holds ({n} ready)").format(n=a.ready_count))
        self.heads[2].setText(Q.translate("Account", "Fines"))
        total = a.fine_total
        self.total.setText(Q.translate("Account", "Total to pay: {amount}").format(amount=total)
                           if total else Q.translate("Account", "Nothing to pay"))
        self.error.setText(a.error_text)
        self.error.setVisible(bool(a.error_text))
        self.back.setText(Q.translate("Common", "Back to menu"))


# ---- receipt ---------------------------------------------------------------------------

class ReceiptPage(Page):
    """Print, show with a QR code, or skip."""

    def __init__(self, vm: KioskViewModel, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(vm, theme, parent)
        self.rvm = vm.receipt
        head = QHBoxLayout()
        head.addWidget(Pictogram("receipt", theme, 84))
        tl = QVBoxLayout()
        self.title = label("title")
        self.hint = label("subtitle")
        tl.addWidget(self.title)
        tl.addWidget(self.hint)
        head.addLayout(tl, 1)
        self.root.addLayout(head)
        body = QHBoxLayout()
        body.setSpacing(theme.px(28))
        paper = card_frame(name="Paper")
        pl = QVBoxLayout(paper)
        pl.setContentsMargins(theme.px(24), theme.px(20), theme.px(24), theme.px(20))
        self.text = QLabel()
        self.text.setObjectName("receipt_text")
        self.text.setWordWrap(True)
        self.text.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        pl.addWidget(self.text, 1)
        body.addWidget(paper, 3)
        qcol = QVBoxLayout()
        self.qr = QrWidget()
        self.qr.setObjectName("qr")
        self.qr.setMinimumSize(theme.px(240), theme.px(240))
        qcol.addWidget(self.qr, 1)
        self.qr_hint = label("hint")
        self.qr_hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        qcol.addWidget(self.qr_hint)
        body.addLayout(qcol, 2)
        self.root.addLayout(body, 1)
        self.error = label("error")
        self.root.addWidget(self.error)
        row = QHBoxLayout()
        row.setSpacing(theme.px(20))
        self.print = BigButton("", "primary")
        self.print.setObjectName("print")
        self.print.clicked.connect(self.rvm.print_receipt)
        self.show_qr = BigButton("", "primary")
        self.show_qr.setObjectName("show_qr")
        self.show_qr.clicked.connect(self.rvm.show_qr)
        self.skip = BigButton("", "accent")
        self.skip.setObjectName("skip")
        self.skip.clicked.connect(self.rvm.skip)
        for b in (self.print, self.show_qr, self.skip):
            row.addWidget(b, 1)
        self.root.addLayout(row)

    def refresh(self) -> None:
        r = self.rvm
        self.title.setText(Q.translate("Receipt", "Your receipt"))
        self.hint.setText(Q.translate("Receipt", "Print it, scan the QR code with your phone, or skip"))
        self.text.setText("\n".join(r.text_lines()))
        showing = r.showing_qr and bool(r.receipt)
        if showing and self.qr.data != r.qr_payload():
            self.qr.set_data(r.qr_payload())
        self.qr.setVisible(showing)
        hint = ""
        if showing:
            hint = Q.translate("Receipt", "Scan with your phone camera")
            form = r.qr_form
            if form == QR_COMPACT:
                hint += "\n" + Q.translate("Receipt", "The code holds a short form: item numbers"
                                           " instead of titles.")
            elif form == QR_PARTIAL:
                hint += "\n" + Q.translate("Receipt", "The receipt is too long for one code: it"
                                           " holds the first items and says how many are left"
                                           " out.")
        self.qr_hint.setText(hint)
        self.error.setText(r.error_text)
        self.error.setVisible(bool(r.error_text))
        self.print.setText(Q.translate("Receipt", "Print"))
        self.print.setVisible(r.printer_available)
        self.print.setEnabled(not r.busy)
        self.show_qr.setText(Q.translate("Receipt", "Show QR code"))
        self.show_qr.setEnabled(not showing)
        self.skip.setText(Q.translate("Receipt", "Done") if showing
                          else Q.translate("Receipt", "No receipt"))


# ---- out of service --------------------------------------------------------------------

class OutOfServicePage(Page):
    """Shown while the edge is down, in both languages; leaves by itself on recovery."""

    def __init__(self, vm: KioskViewModel, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(vm, theme, parent)
        self.root.addStretch(1)
        pic = Pictogram("service", theme, 180)
        self.root.addWidget(pic, 0, Qt.AlignmentFlag.AlignHCenter)
        self.vi = label("title")
        self.en = label("subtitle")
        self.sub = label("hint")
        for w in (self.vi, self.en, self.sub):
            w.setAlignment(Qt.AlignmentFlag.AlignCenter)
            self.root.addWidget(w)
        self.root.addStretch(2)

    def refresh(self) -> None:
        # Fixed bilingual text: nobody has chosen a language, and the translator is not needed.
        self.vi.setText("Máy tạm ngừng phục vụ")
        self.en.setText("This kiosk is out of service")
        self.sub.setText("Đang tự động kết nối lại… Vui lòng dùng quầy thủ thư.\n"
                         "Reconnecting automatically… Please use the staff desk.")


class AdminPage(Page):
    """Staff-only: the admin exit code on a keypad."""

    def __init__(self, vm: KioskViewModel, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(vm, theme, parent)
        self.title = label("title")
        self.root.addWidget(self.title)
        self.code = QLineEdit()
        self.code.setObjectName("admin_code")
        self.code.setEchoMode(QLineEdit.EchoMode.Password)
        self.root.addWidget(self.code)
        self.keypad = Keypad()
        self.keypad.pressed.connect(self._key)
        self.root.addWidget(self.keypad)
        self.error = label("error")
        self.root.addWidget(self.error)
        self.cancel = BigButton("")
        self.cancel.setObjectName("admin_cancel")
        self.root.addWidget(self.cancel, 0, Qt.AlignmentFlag.AlignLeft)
        self.root.addStretch(1)
        self.error.hide()

    def _key(self, key: str) -> None:
        if key == "back":
            self.code.setText(self.code.text()[:-1])
        elif key == "ok":
            if not self.vm.admin_exit(self.code.text()):
                self.error.setText(self._refusal())
                self.error.show()
            self.code.clear()
        else:
            self.code.setText(self.code.text() + key)

    def keyPressEvent(self, e: QKeyEvent) -> None:
        if e.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self._key("ok")
            return
        super().keyPressEvent(e)

    def _refusal(self) -> str:
        locked = self.vm.admin_locked_s
        if locked:
            return Q.translate("Admin", "Too many wrong codes. Try again in {s} s.").format(s=locked)
        return Q.translate("Admin", "Wrong code")

    def refresh(self) -> None:
        self.title.setText(Q.translate("Admin", "Staff: enter the exit code"))
        self.cancel.setText(Q.translate("Common", "Back"))
        if self.error.isVisible():
            self.error.setText(self._refusal())

