"""The staff-only admin page: the exit code on a keypad (the lockout is the view-model's)."""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication as Q
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QLineEdit, QWidget

from kiosk_ui.theme import Theme
from kiosk_ui.viewmodels.kiosk import KioskViewModel
from kiosk_ui.views.pages.base import Page, label
from kiosk_ui.views.widgets import BigButton, Keypad


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
