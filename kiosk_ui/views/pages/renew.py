"""The Renew page: the loans with due dates, touch to select, renew selected or all."""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication as Q
from PySide6.QtCore import QModelIndex
from PySide6.QtWidgets import QHBoxLayout, QWidget

from kiosk_ui.theme import Theme
from kiosk_ui.viewmodels.kiosk import KioskViewModel
from kiosk_ui.views.pages.base import Page, label, list_view, show_error
from kiosk_ui.views.widgets import BigButton


class RenewPage(Page):
    """Loans with due dates; select items or renew all; a result per item."""

    def __init__(self, vm: KioskViewModel, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(vm, theme, parent)
        self.rvm = vm.renew
        self.add_header("renew")
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
        self.back = self.back_button()
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
        show_error(self.error, r.error_text)
        self.back.setText(Q.translate("Common", "Back to menu"))
        self.selected.setText(Q.translate("Renew", "Renew selected ({n})").format(n=len(r.selected)))
        self.all.setText(Q.translate("Renew", "Renew all"))
        for b in (self.selected, self.all):
            b.setEnabled(n > 0 and not r.busy)
