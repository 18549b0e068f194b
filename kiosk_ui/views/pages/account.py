"""The My account page: loans (overdue highlighted), holds, fines and their total."""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication as Q
from PySide6.QtWidgets import QHBoxLayout, QLabel, QListView, QVBoxLayout, QWidget

from kiosk_ui.theme import Theme
from kiosk_ui.viewmodels.kiosk import KioskViewModel, Screen
from kiosk_ui.views.pages.base import Page, fit_rows, label, list_view, show_error
from kiosk_ui.views.widgets import BigButton


class AccountPage(Page):
    """Loans (overdue highlighted), holds ready for pickup, fines."""

    def __init__(self, vm: KioskViewModel, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(vm, theme, parent)
        self.avm = vm.account
        self.add_header("account", size=64, hint=False)
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
        # No fines: the line saying so sits under the Fines heading, where the list would be
        # (it sat at the page's bottom, far from an empty list), and the holds get the room.
        self.no_fines = label("section")
        self.no_fines.setObjectName("no_fines")
        right.addWidget(self.no_fines)
        self.total = label("count", wrap=False)
        self.total.setObjectName("fine_total")
        self.root.addLayout(cols, 1)
        self.error = label("error")
        self.root.addWidget(self.error)
        row = QHBoxLayout()
        self.back = self.back_button()
        row.addWidget(self.back)
        row.addStretch(1)
        row.addWidget(self.total)
        self.pay = BigButton("", "primary")
        self.pay.setObjectName("go_pay_fines")
        self.pay.clicked.connect(lambda: self.vm.go(Screen.FINES))
        row.addWidget(self.pay)
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
        no_fines = not a.offline and not total and a.fines.rowCount() == 0
        if a.offline:
            self.total.setText(Q.translate("Account", "Fines cannot be checked right now"))
        else:
            self.total.setText(Q.translate("Account", "Total to pay: {amount}").format(
                amount=total) if total else Q.translate("Account", "Nothing to pay"))
        self.total.setVisible(not no_fines)
        self.no_fines.setText(Q.translate("Account", "Nothing to pay"))
        self.no_fines.setVisible(no_fines)
        self.lists[2].setVisible(not no_fines)
        # Two holds show whole (a second one hid behind the list's own scrollbar).
        fit_rows(self.lists[1], 2, self.theme.px(96))
        show_error(self.error, a.error_text)
        self.pay.setText(Q.translate("Account", "Pay fines"))
        self.pay.setVisible(bool(total) and not a.busy)
        self.back.setText(Q.translate("Common", "Back to menu"))
