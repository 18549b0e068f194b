"""The Receipt page: print it, show it as a QR code, or skip."""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication as Q
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from kiosk_ui.theme import Theme
from kiosk_ui.viewmodels.kiosk import KioskViewModel
from kiosk_ui.viewmodels.receipt import QR_COMPACT, QR_PARTIAL
from kiosk_ui.views.pages.base import Page, label, show_error
from kiosk_ui.views.widgets import BigButton, QrWidget, card_frame


class ReceiptPage(Page):
    """Print, show with a QR code, or skip."""

    def __init__(self, vm: KioskViewModel, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(vm, theme, parent)
        self.rvm = vm.receipt
        self.add_header("receipt")
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
        self.mail_status = label("section")
        self.mail_status.setObjectName("mail_status")
        self.mail_status.setWordWrap(True)
        self.root.addWidget(self.mail_status)
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
        self.email = BigButton("", "primary")
        self.email.setObjectName("email_receipt")
        self.email.clicked.connect(self.rvm.email_receipt)
        self.skip = BigButton("", "accent")
        self.skip.setObjectName("skip")
        self.skip.clicked.connect(self.rvm.skip)
        for b in (self.print, self.show_qr, self.email, self.skip):
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
        show_error(self.error, r.error_text)
        self.print.setText(Q.translate("Receipt", "Print"))
        self.print.setVisible(r.printer_available)
        self.print.setEnabled(not r.busy)
        self.show_qr.setText(Q.translate("Receipt", "Show QR code"))
        self.show_qr.setEnabled(not showing)
        self.email.setText(Q.translate("Receipt", "E-mail receipt") if r.mail.state != "failed"
                           else Q.translate("Receipt", "Try the e-mail again"))
        self.email.setVisible(r.email_available)
        self.email.setEnabled(r.mail.can_send and not r.busy)
        self.mail_status.setText(r.mail_text())
        self.mail_status.setVisible(bool(r.mail.state))
        self.skip.setText(Q.translate("Receipt", "Done") if showing or r.mail.state == "sent"
                          else Q.translate("Receipt", "No receipt"))
