"""The Fines page: the fines (amount, reason), pay all or chosen ones, the VietQR with the
amount, the bank and a countdown, and the payment's arrival."""

from __future__ import annotations

import io

import segno
from PySide6.QtCore import QCoreApplication as Q
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QHBoxLayout, QListWidget, QListWidgetItem, QWidget

from kiosk_ui.theme import Theme
from kiosk_ui.viewmodels.kiosk import KioskViewModel
from kiosk_ui.views.pages.base import Page, fit_rows, label, show_error
from kiosk_ui.views.widgets import BigButton

QWIDGETSIZE_MAX = (1 << 24) - 1
"""Qt's largest widget size: no maximum."""


def qr_pixmap(payload: str, scale: int = 6) -> QPixmap:
    """The payload as a QR code image (error correction M, a 4-module quiet zone)."""
    buf = io.BytesIO()
    segno.make(payload, error="m", micro=False).save(buf, kind="png", scale=scale, border=4)
    pix = QPixmap()
    pix.loadFromData(buf.getvalue(), "PNG")
    return pix


class FinesPage(Page):
    """Choose the fines, then the QR until it is paid or expires."""

    def __init__(self, vm: KioskViewModel, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(vm, theme, parent)
        self.fvm = vm.fines
        self.add_header("account")
        self.restricted = label("section")
        self.restricted.setObjectName("fines_restricted")
        self.restricted.setWordWrap(True)
        self.root.addWidget(self.restricted)
        self.list = QListWidget()
        self.list.setObjectName("fines")
        self.list.itemChanged.connect(self._toggled)
        self.root.addWidget(self.list, 1)
        self.qr = label()
        self.qr.setObjectName("payment_qr")
        self.qr.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.root.addWidget(self.qr, 2)
        self.details = label("section")
        self.details.setObjectName("payment_details")
        self.root.addWidget(self.details)
        self.mail_status = label("section")
        self.mail_status.setObjectName("payment_mail_status")
        self.mail_status.setWordWrap(True)
        self.root.addWidget(self.mail_status)
        self.error = label("error")
        self.root.addWidget(self.error)
        receipt_row = QHBoxLayout()
        receipt_row.setSpacing(theme.px(20))
        self.print_receipt = BigButton("", "primary")
        self.print_receipt.setObjectName("print_payment_receipt")
        self.print_receipt.clicked.connect(self.fvm.print_receipt)
        self.email_receipt = BigButton("", "primary")
        self.email_receipt.setObjectName("email_payment_receipt")
        self.email_receipt.clicked.connect(self.fvm.email_receipt)
        for b in (self.print_receipt, self.email_receipt):
            receipt_row.addWidget(b, 1)
        self.root.addLayout(receipt_row)
        row = QHBoxLayout()
        row.setSpacing(theme.px(20))
        self.back = self.back_button()
        self.pay = BigButton("", "primary")
        self.pay.setObjectName("pay_fines")
        self.pay.clicked.connect(self.fvm.pay)
        self.pay_all = BigButton("")
        self.pay_all.setObjectName("pay_all_fines")
        self.pay_all.clicked.connect(self.fvm.pay_all)
        for b in (self.back, self.pay_all, self.pay):
            row.addWidget(b, 1)
        self.root.addLayout(row)
        self._shown_payload: str | None = None
        self._listed: list[str] = []
        self.tick = QTimer(self)
        self.tick.setInterval(1000)
        self.tick.timeout.connect(self.refresh)

    def _toggled(self, item: QListWidgetItem) -> None:
        fine_id = str(item.data(Qt.ItemDataRole.UserRole))
        checked = item.checkState() == Qt.CheckState.Checked
        if checked != (fine_id in self.fvm.selected):
            self.fvm.toggle(fine_id)
        self.vm.activity()

    def _fill(self) -> None:
        ids = [f["fine_id"] for f in self.fvm.fines]
        self.list.blockSignals(True)
        if ids != self._listed:
            self.list.clear()
            for f in self.fvm.fines:
                text = f"{self.fvm.money(f['amount'])} · {f.get('reason') or ''}"
                if f.get("date"):
                    text += f" · {str(f['date'])[:10]}"
                item = QListWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, f["fine_id"])
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                self.list.addItem(item)
            self._listed = ids
        for i in range(self.list.count()):
            item = self.list.item(i)
            on = item.data(Qt.ItemDataRole.UserRole) in self.fvm.selected
            item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)
        self.list.blockSignals(False)

    def refresh(self) -> None:
        f = self.fvm
        self.title.setText(Q.translate("Fines", "Pay fines"))
        restricted = self.vm.restricted == "fines"
        self.back.setText(Q.translate("Common", "Finish") if restricted
                          else Q.translate("Common", "Back to menu"))
        self.restricted.setVisible(restricted)
        self.restricted.setText(Q.translate(
            "Fines", "Your fines are over the limit, so borrowing and renewing are paused. "
                     "Pay them here; then log in again to borrow.") if restricted else "")
        self._fill()
        status = f.status
        choosing = status == "choosing"
        # While the code is shown the list takes only its rows' height, so the code, its
        # amount and countdown fit a 1280x800 screen (they fell below its edge).
        if choosing:
            self.list.setMaximumHeight(QWIDGETSIZE_MAX)
        else:
            fit_rows(self.list, self.list.count(), 0)
            self.list.setMaximumHeight(self.list.minimumHeight())
        self.list.setEnabled(choosing and not f.busy)
        self.hint.setText(Q.translate("Fines", "Choose the fines to pay, then scan the code "
                                               "with your banking app") if choosing else
                          Q.translate("Fines", "Scan the code with your banking app"))
        self.pay.setVisible(choosing)
        self.pay.setEnabled(bool(f.selected) and not f.busy)
        self.pay.setText(Q.translate("Fines", "Pay {amount}").format(
            amount=f.money(f.selected_total)))
        # Some fines unticked: "Pay {chosen}" pays those, "Pay all {total}" every one.
        self.pay_all.setVisible(choosing and bool(f.fines) and not f.everything_selected)
        self.pay_all.setEnabled(not f.busy)
        self.pay_all.setText(Q.translate("Fines", "Pay all {amount}").format(
            amount=f.money(f.total)))
        p = f.payment
        if p is None:
            self.qr.clear()
            self._shown_payload = None
            self.details.setText("" if f.fines or f.busy else
                                 Q.translate("Fines", "There is nothing to pay."))
            self.tick.stop()
        else:
            waiting = status in ("pending", "partial")
            if self._shown_payload != p["payload"] and waiting:
                # a partial payment's status carries the QR for the rest: drawn anew
                self.qr.setPixmap(qr_pixmap(str(p["payload"])))
                self._shown_payload = str(p["payload"])
            bank = p.get("bank") or {}
            left = f.seconds_left()
            lines = {
                "pending": Q.translate("Fines", "{amount} to {bank} · code {ref} · {m}:{s:02d} "
                                                "left"),
                "partial": Q.translate("Fines", "Received {paid} of {amount}. Scan the new code "
                                                "to pay the remaining {rest} · {m}:{s:02d} left"),
                "paid": Q.translate("Fines", "Paid {amount}, thank you. Your account is up to "
                                             "date."),
                "refused": Q.translate("Fines", "The payment arrived but the library system "
                                                "did not take it; please see the staff."),
                "expired": Q.translate("Fines", "The code has expired; start again to pay."),
            }
            paid = int(p.get("paid_amount") or 0)
            self.details.setText(lines.get(status, "").format(
                amount=f.money(p["amount"]), bank=bank.get("name", ""), ref=p["reference"],
                m=left // 60, s=left % 60, paid=f.money(paid),
                rest=f.money(int(p["amount"]) - paid)))
            if waiting:
                self.tick.start()
            else:
                self.tick.stop()
                self.qr.clear()
        confirmed = f.receipt_available
        self.print_receipt.setText(Q.translate("Fines", "Printed") if f.receipt_printed
                                   else Q.translate("Fines", "Print receipt"))
        self.print_receipt.setVisible(confirmed and f.printer_available)
        self.print_receipt.setEnabled(not f.busy and not f.receipt_printed)
        self.email_receipt.setText(Q.translate("Receipt", "E-mail receipt")
                                   if f.mail.state != "failed"
                                   else Q.translate("Receipt", "Try the e-mail again"))
        self.email_receipt.setVisible(confirmed and bool(f.email_masked))
        self.email_receipt.setEnabled(f.mail.can_send and not f.busy)
        self.mail_status.setText(f.mail_text() if confirmed else "")
        self.mail_status.setVisible(confirmed and bool(f.mail.state))
        show_error(self.error, f.error_text)
