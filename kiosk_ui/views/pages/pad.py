"""The Borrow and Return pages: items placed on the pad, live, with a count and a done state.

One class for both (``mode``); the rows come from the pad view-model, which makes the calls.
"""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication as Q
from PySide6.QtWidgets import QHBoxLayout, QWidget

from kiosk_ui.theme import Theme
from kiosk_ui.viewmodels.circulation import DONE, WAITING, PadViewModel
from kiosk_ui.viewmodels.kiosk import KioskViewModel
from kiosk_ui.views.pages.base import Page, label, list_view, show_error
from kiosk_ui.views.widgets import BigButton


class PadPage(Page):
    """Items placed on the pad, live; a running count and a clear done state."""

    def __init__(self, vm: KioskViewModel, theme: Theme, pad: PadViewModel, mode: str,
                 parent: QWidget | None = None) -> None:
        super().__init__(vm, theme, parent)
        self.pad = pad
        self.mode = mode
        self.count = label("count", wrap=False)
        self.count.setObjectName("count")
        self.add_header("borrow" if mode == "borrow" else "return", trailing=self.count)
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
        self.back = self.back_button()
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
        show_error(self.error, pad.error_text)
        self.back.setText(Q.translate("Common", "Back to menu") if self.vm.session
                          else Q.translate("Common", "Back"))
        self.finish.setText(Q.translate("Common", "Finish"))
        self.finish.setEnabled(state != "working")
        self.list.setVisible(state != WAITING or pad.model.rowCount() > 0)
