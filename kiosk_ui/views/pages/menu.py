"""The Menu page: Borrow, Return, Renew, My account, Finish. Only navigation."""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication as Q
from PySide6.QtWidgets import QGridLayout, QWidget

from kiosk_ui.theme import Theme
from kiosk_ui.viewmodels.kiosk import KioskViewModel, Screen
from kiosk_ui.views.pages.base import Page, label
from kiosk_ui.views.widgets import BigButton, TileButton


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
