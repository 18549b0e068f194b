"""The Out of service page: fixed bilingual text while the edge is down."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

from kiosk_ui.theme import Theme
from kiosk_ui.viewmodels.kiosk import KioskViewModel
from kiosk_ui.views.pages.base import Page, label
from kiosk_ui.views.widgets import Pictogram


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
