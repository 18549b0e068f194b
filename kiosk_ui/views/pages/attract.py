"""The Attract page: the idle screen (welcome, language, pictured steps, opening hours).

Lays out widgets and forwards taps to the root view-model; no edge calls.
"""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication as Q
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from kiosk_ui.theme import Theme
from kiosk_ui.viewmodels.kiosk import KioskViewModel
from kiosk_ui.views.pages.base import Page, label
from kiosk_ui.views.widgets import BigButton, Pictogram, card_frame


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
            pad = theme.px(12 if theme.large_text else 22)
            lay.setContentsMargins(theme.px(20), pad, theme.px(20), pad)
            lay.setSpacing(theme.px(10))
            n = QLabel(num)
            n.setObjectName("StepNumber")
            n.setAlignment(Qt.AlignmentFlag.AlignCenter)
            n.setFixedSize(theme.px(52), theme.px(52))
            lay.addWidget(n, 0, Qt.AlignmentFlag.AlignHCenter)
            if theme.large_text:   # the number leads the step's text instead
                n.hide()
            lay.addStretch(1)
            pic = Pictogram(kind, theme, 120)
            lay.addWidget(pic, 0, Qt.AlignmentFlag.AlignHCenter)
            if theme.large_text:   # the pictures give way: Start stays on a 1280×800 screen
                pic.hide()
            lay.addStretch(1)
            text = label()
            text.setAlignment(Qt.AlignmentFlag.AlignCenter)
            text.setProperty("role", "section")
            lay.addWidget(text)
            if theme.large_text:   # no picture above: the text sits in the middle
                lay.addStretch(1)
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
        for (_kind, num), lab, text in zip(self.STEPS, self.step_labels, texts, strict=True):
            lab.setText(f"{num}. {text}" if self.theme.large_text else text)
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
