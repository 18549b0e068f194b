"""The Login page: card tap, barcode (keyboard wedge into the number field) or number + PIN.

It tells a scan from typing (:class:`~kiosk_ui.wedge.WedgeDetector`) and hands the result to
the login view-model; it never sends a typed number without its PIN, and never keeps the PIN
in a widget.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QCoreApplication as Q
from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QApplication, QHBoxLayout, QLabel, QLineEdit, QVBoxLayout, QWidget

from kiosk_ui.theme import Theme
from kiosk_ui.viewmodels.kiosk import KioskViewModel
from kiosk_ui.views.pages.base import Page, label, show_error
from kiosk_ui.views.widgets import Keypad, Pictogram, card_frame
from kiosk_ui.wedge import MAX_GAP_S, WedgeDetector


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
        left.setSpacing(theme.px(10 if theme.large_text else 16))
        left.addWidget(self.title)
        self.card_hint = self._hint_card(left, "card")
        self.scan_hint = self._hint_card(left, "barcode")
        self.error = label("error")
        self.error.setObjectName("login_error")
        left.addWidget(self.error)
        left.addStretch(1)
        self.back = self.back_button()
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

    def _hint_card(self, box: QVBoxLayout, pictogram: str) -> QLabel:
        """A card with ``pictogram`` and a hint label (returned) at the end of ``box``."""
        card = card_frame()
        row = QHBoxLayout(card)
        # Large text: smaller pictures and margins, so the page fits a 1280×800 window
        # without scrolling (it scrolled by 10 px), and the kiosk's screens with room to spare.
        large = self.theme.large_text
        m = self.theme.px(10 if large else 20)
        row.setContentsMargins(m, m, m, m)
        row.addWidget(Pictogram(pictogram, self.theme, 64 if large else 110))
        hint = label("section")
        row.addWidget(hint, 1)
        box.addWidget(card)
        return hint

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
        self.card_hint.setText(
            Q.translate("Login", "The card reader is not working right now: type your card "
                                 "number and PIN")
            if self.vm.card_reader_offline
            else Q.translate("Login", "Tap your card on the reader below the screen"))
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
        show_error(self.error, lvm.error_text)
        self.keypad.setEnabled(not lvm.busy)
