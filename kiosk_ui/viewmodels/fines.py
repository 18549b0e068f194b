"""Paying fines: the fines, which to pay, the VietQR with its countdown, the live status."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from PySide6.QtCore import QObject, QTimer

from kiosk_ui.client import EdgeApi
from kiosk_ui.i18n import Localizer
from kiosk_ui.text import format_money
from kiosk_ui.viewmodels.base import ViewModel
from kiosk_ui.viewmodels.receipt import MailState, mail_status_text, send_email
from kiosk_ui.worker import Runner

POLL_MS = 2000
"""How often the status is asked while a QR is shown (the edge also pushes a ``payment``
event on its WebSocket; :meth:`FinesViewModel.on_event` takes it)."""


WAITING = ("pending", "partial")
"""Statuses in which more money may still come (the QR stays, the poll goes on)."""
CONFIRMED = ("paid", "partial")
"""Statuses with money taken by the library system: a receipt can be printed or e-mailed."""


class FinesViewModel(ViewModel):
    """``GET /sessions/{id}/fines``, ``POST …/payments``, ``GET …/payments/{ref}``.

    States: choosing (fines listed, all selected), showing a QR (``payment`` set; status
    ``pending``), ``partial`` (some money arrived: the QR is now for the rest, and the poll
    goes on), then ``paid``, ``refused`` or ``expired``.
    """

    def __init__(self, client: EdgeApi, runner: Runner, localizer: Localizer,
                 parent: QObject | None = None, *, poll: bool = True,
                 printer_available: bool = False) -> None:
        super().__init__(client, runner, localizer, parent)
        self.printer_available = printer_available
        self.email_masked: str | None = None
        self.mail = MailState()
        self.receipt_printed = False
        self._receipt_for: tuple[str, int] | None = None
        self.fines: list[dict[str, Any]] = []
        self.selected: set[str] = set()
        self.payment: dict[str, Any] | None = None
        self._session = ""
        self._timer: QTimer | None = None
        if poll:
            self._timer = QTimer(self)
            self._timer.setInterval(POLL_MS)
            self._timer.timeout.connect(self.refresh_status)

    # ---- what the page shows ----------------------------------------------------------------

    def money(self, amount: Any) -> str:
        return format_money(amount, "VND", self.localizer.language)

    @property
    def selected_total(self) -> int:
        return sum(int(f["amount"]) for f in self.fines if f["fine_id"] in self.selected)

    @property
    def status(self) -> str:
        """``choosing``, or the payment's ``pending``/``paid``/``refused``/``expired``."""
        return "choosing" if self.payment is None else str(self.payment.get("status"))

    def seconds_left(self, now: datetime | None = None) -> int:
        """The QR's countdown (0 once expired or when none is shown)."""
        if self.payment is None:
            return 0
        expires = datetime.fromisoformat(str(self.payment["expires_at"]))
        left = (expires - (now or datetime.now(UTC))).total_seconds()
        return max(0, int(left))

    # ---- actions ----------------------------------------------------------------------------

    def begin(self, session_id: str, email_masked: str | None = None) -> None:
        """Load the fines of ``session_id`` (all selected); ``email_masked``: the session's
        address from the ILS, which offers "E-mail receipt" once a payment is confirmed."""
        self.reset()
        self._stop()
        self._session = session_id
        self.email_masked = email_masked
        self.mail = MailState(to_masked=email_masked or "")
        self.receipt_printed = False
        self._receipt_for = None
        self.fines, self.selected, self.payment = [], set(), None
        self.call(lambda: self.client.payable_fines(session_id), self._loaded)

    def _loaded(self, got: Any) -> None:
        self.fines = [dict(f) for f in got.get("fines", [])]
        self.selected = {f["fine_id"] for f in self.fines}

    def toggle(self, fine_id: str) -> None:
        """Choose or un-choose one fine."""
        self.selected ^= {fine_id}
        self.changed.emit()

    @property
    def total(self) -> int:
        """What all the fines come to."""
        return sum(int(f["amount"]) for f in self.fines)

    @property
    def everything_selected(self) -> bool:
        return bool(self.fines) and self.selected == {f["fine_id"] for f in self.fines}

    def pay_all(self) -> None:
        """Choose every fine again and show the QR for all of them."""
        self.selected = {f["fine_id"] for f in self.fines}
        self.pay()

    def pay(self) -> None:
        """Show the QR for the chosen fines (all of them: ``fee_ids`` omitted)."""
        if not self.selected:
            return
        everything = self.selected == {f["fine_id"] for f in self.fines}
        ids = None if everything else sorted(self.selected)
        sid = self._session
        self.call(lambda: self.client.create_payment(sid, ids), self._shown)

    def _shown(self, payment: Any) -> None:
        self.payment = dict(payment)
        if self._timer is not None:
            self._timer.start()

    def refresh_status(self) -> None:
        """Ask the edge how the shown payment stands (the poll)."""
        if self.payment is None or self.status not in WAITING:
            self._stop()
            return
        sid, ref = self._session, str(self.payment["reference"])
        self.call(lambda: self.client.payment_status(sid, ref), self._status)

    def on_event(self, event: dict[str, Any]) -> None:
        """A ``payment`` event from the edge's WebSocket: update at once."""
        if (event.get("type") == "payment" and self.payment is not None
                and event.get("reference") == self.payment.get("reference")):
            if event.get("status") == "partial":
                self.refresh_status()  # the new QR (for the rest) comes with the status
                return
            self._status({**self.payment, "status": event.get("status")})
            self.changed.emit()

    # ---- the payment's receipt -------------------------------------------------------------

    @property
    def receipt_available(self) -> bool:
        """Some money was taken (paid, or partial): its receipt can be printed or e-mailed."""
        return self.status in CONFIRMED

    def _new_receipt(self) -> None:
        # a partial payment's receipt and the later paid one's are two receipts
        assert self.payment is not None
        which = (str(self.payment["reference"]), -1 if self.status == "paid" else
                 int(self.payment.get("paid_amount") or 0))
        if which != self._receipt_for:
            self._receipt_for = which
            self.mail = MailState(to_masked=self.email_masked or "")
            self.receipt_printed = False

    def print_receipt(self) -> None:
        """Print the payment's receipt on the edge's printer."""
        if not (self.printer_available and self.receipt_available and self.payment):
            return
        sid, ref = self._session, str(self.payment["reference"])

        def ok(_answer: Any) -> None:
            self.receipt_printed = True

        self.call(lambda: self.client.print_payment_receipt(sid, ref), ok)

    def email_receipt(self) -> None:
        """E-mail the payment's receipt to the ILS's address, once."""
        if not (self.email_masked and self.receipt_available and self.payment):
            return
        sid, ref = self._session, str(self.payment["reference"])
        send_email(self, self.mail,
                   lambda retry: self.client.email_payment_receipt(sid, ref, retry))

    def mail_text(self) -> str:
        """What became of the receipt's e-mail, in the current language."""
        return mail_status_text(self, self.mail)

    def _status(self, payment: Any) -> None:
        self.payment = dict(payment)
        if self.receipt_available:
            self._new_receipt()
        if self.status not in WAITING:
            self._stop()
        elif self.status == "partial" and self._timer is not None and \
                not self._timer.isActive():
            self._timer.start()

    def _stop(self) -> None:
        if self._timer is not None:
            self._timer.stop()
