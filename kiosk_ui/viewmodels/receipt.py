"""Receipt: print on the edge's thermal printer, show it with a QR code, or skip."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QCoreApplication as Q
from PySide6.QtCore import QObject, Signal

from kiosk_ui.client import EdgeApi
from kiosk_ui.errors import PatronFacingError
from kiosk_ui.i18n import Localizer
from kiosk_ui.models import ReceiptLinesModel
from kiosk_ui.text import format_date
from kiosk_ui.viewmodels.base import ViewModel
from kiosk_ui.worker import Runner

QR_MAX_BYTES = 1200   # keeps the code readable by a phone camera on screen

QR_FULL, QR_COMPACT, QR_PARTIAL = "full", "compact", "partial"
"""What the QR code carries: the whole receipt; the compact form (item numbers instead of
titles); or the compact form of the first items and a last line saying how many are left out."""


@dataclass
class MailState:
    """One receipt's e-mail as the kiosk shows it: ``state`` is ``""`` (not asked),
    ``sending``, ``sent`` or ``failed`` (``error`` says why); ``to_masked`` the ILS's
    address as the edge masks it."""

    state: str = ""
    to_masked: str = ""
    error: PatronFacingError | None = None

    @property
    def can_send(self) -> bool:
        """A press sends: nothing asked yet, or the last try failed (a retry)."""
        return self.state in ("", "failed")


def send_email(vm: ViewModel, mail: MailState, send: Callable[[bool], Any]) -> None:
    """Ask the edge to e-mail a receipt once: a press while sending or after it was sent does
    nothing here (and the edge answers a repeat with the first outcome anyway)."""
    if not mail.can_send:
        return
    retry = mail.state == "failed"
    mail.state, mail.error = "sending", None

    def ok(answer: Any) -> None:
        mail.state = "sent" if answer.get("sent") else "failed"
        mail.to_masked = str(answer.get("to_masked") or mail.to_masked)

    def failed(err: PatronFacingError) -> None:
        mail.state, mail.error = "failed", err

    vm.call(lambda: send(retry), ok, failed)


def mail_status_text(vm: ViewModel, mail: MailState) -> str:
    """``Sent to p***@example.org`` / ``Not sent to …: why`` in the current language."""
    if mail.state == "sending":
        return Q.translate("Receipt", "Sending the receipt to {address}…").format(
            address=mail.to_masked)
    if mail.state == "sent":
        return Q.translate("Receipt", "Receipt sent to {address}").format(address=mail.to_masked)
    if mail.state == "failed":
        why = vm.localizer.error(mail.error.code, mail.error.texts) if mail.error else ""
        return Q.translate("Receipt", "The receipt was not sent to {address}: {reason}").format(
            address=mail.to_masked, reason=why)
    return ""


def _action(action: str) -> str:
    return {
        "checkout": Q.translate("Receipt", "Borrowed"),
        "loan": Q.translate("Receipt", "Borrowed"),
        "return": Q.translate("Receipt", "Returned"),
        "renew": Q.translate("Receipt", "Renewed"),
    }.get(action, action)


class ReceiptViewModel(ViewModel):
    """Fetches the session's receipt and offers print / QR / skip.

    Args:
        printer_available: a printer is configured (``kiosk.printer_url``), so "Print" shows.

    Signals:
        finished: the patron is done with the receipt (printed, viewed or skipped).
    """

    finished = Signal()

    def __init__(self, client: EdgeApi, runner: Runner, localizer: Localizer,
                 printer_available: bool = False, parent: QObject | None = None) -> None:
        super().__init__(client, runner, localizer, parent)
        self.printer_available = printer_available
        self.lines = ReceiptLinesModel(self)
        self.session_id: str | None = None
        self.transactions: list[str] = []
        """An anonymous return's journal keys (its receipt has no session)."""
        self.email_masked: str | None = None
        self._receipt: dict[str, Any] = {}
        self.printed = False
        self.showing_qr = False
        self.mail = MailState()
        localizer.changed.connect(lambda _l: self._render())

    @property
    def receipt(self) -> dict[str, Any]:
        return dict(self._receipt)

    def begin(self, session_id: str, email_masked: str | None = None) -> None:
        """Fetch the receipt of ``session_id``; ``email_masked``: the session's address from
        the ILS (masked), which offers "E-mail receipt"."""
        self.reset()
        self.session_id = session_id
        self.transactions = []
        self.printed = False
        self.showing_qr = False
        self.email_masked = email_masked
        self.mail = MailState(to_masked=email_masked or "")
        self._receipt = {}
        self.lines.set_lines([])
        self.call(lambda: self.client.receipt(session_id), self._loaded)

    def begin_returns(self, transactions: list[str]) -> None:
        """Fetch the receipt of anonymous returns (no session), by the ``transaction`` keys
        ``POST /returns`` answered: shown, as a QR code and printed as a session's is; no
        e-mail (no patron, no address)."""
        self.reset()
        self.session_id = None
        self.transactions = list(transactions)
        self.printed = False
        self.showing_qr = False
        self.email_masked = None
        self.mail = MailState()
        self._receipt = {}
        self.lines.set_lines([])
        tx, lang = list(self.transactions), self.localizer.language
        self.call(lambda: self.client.return_receipt(tx, lang), self._loaded)

    def _loaded(self, receipt: Any) -> None:
        self._receipt = dict(receipt or {})
        self._render()

    def _render(self) -> None:
        self.lines.set_lines(self.text_lines())
        self.changed.emit()

    def _head(self) -> list[str]:
        r = self._receipt
        card = str(r.get("patron_masked") or "")
        return [x for x in (str(r.get("library", "")), str(r.get("when", "")).replace("T", " ")[:16],
                            # an anonymous return's receipt names no card ("-")
                            Q.translate("Receipt", "Card: {card}").format(card=card)
                            if card.strip("-") else "") if x]

    def _line(self, line: dict[str, Any], compact: bool) -> str:
        due = format_date(line.get("due_date"), self.localizer.language)
        what = line.get("item_id", "") if compact else line.get("title", line.get("item_id", ""))
        text = f"{_action(str(line.get('action', '')))}: {what}"
        if due:
            text += " — " + Q.translate("Receipt", "due {date}").format(date=due)
        return text

    def text_lines(self) -> list[str]:
        """The receipt as short lines in the current language."""
        if not self._receipt:
            return []
        return self._head() + [self._line(ln, False) for ln in self._receipt.get("lines", [])]

    def _qr(self) -> tuple[str, str]:
        if not self._receipt:
            return "", QR_FULL
        full = "\n".join(self.text_lines())
        if len(full.encode("utf-8")) <= QR_MAX_BYTES:
            return full, QR_FULL
        head = self._head()
        lines = [self._line(ln, True) for ln in self._receipt.get("lines", [])]
        compact = "\n".join(head + lines)
        if len(compact.encode("utf-8")) <= QR_MAX_BYTES:
            return compact, QR_COMPACT
        # Whole lines only, and a last line that says how many are left out.
        for keep in range(len(lines) - 1, -1, -1):
            more = Q.translate("Receipt", "…and {n} more (not in this code)").format(
                n=len(lines) - keep)
            text = "\n".join(head + lines[:keep] + [more])
            if len(text.encode("utf-8")) <= QR_MAX_BYTES:
                return text, QR_PARTIAL
        return "\n".join(head[:1] + [Q.translate("Receipt", "…and {n} more (not in this code)")
                                      .format(n=len(lines))]), QR_PARTIAL

    def qr_payload(self) -> str:
        """The text carried by the QR code, at most :data:`QR_MAX_BYTES` bytes of UTF-8.

        Never cut silently: the whole receipt when it fits; else the compact form (item
        numbers instead of titles, same header, every line); else the compact form of the
        first items that fit, whole lines only, and a last line "…and N more (not in this
        code)". :attr:`qr_form` says which.
        """
        return self._qr()[0]

    @property
    def qr_form(self) -> str:
        """:data:`QR_FULL`, :data:`QR_COMPACT` or :data:`QR_PARTIAL` (see :meth:`qr_payload`)."""
        return self._qr()[1]

    def print_receipt(self) -> None:
        """Ask the edge to print the receipt."""
        sid, tx, lang = self.session_id, list(self.transactions), self.localizer.language
        if (sid is None and not tx) or not self.printer_available:
            return
        self.set_error(None)

        def ok(_answer: Any) -> None:
            self.printed = True
            self.finished.emit()

        if sid is not None:
            self.call(lambda: self.client.print_receipt(sid), ok)
        else:
            self.call(lambda: self.client.print_return_receipt(tx, lang), ok)

    @property
    def email_available(self) -> bool:
        """The library system gave the patron's e-mail address (the session's
        ``email_masked``): the receipt can go there."""
        return bool(self.email_masked) and bool(self._receipt)

    def email_receipt(self) -> None:
        """E-mail the receipt to the ILS's address, once (see :func:`send_email`)."""
        sid = self.session_id
        if sid is None or not self.email_available:
            return
        send_email(self, self.mail, lambda retry: self.client.email_receipt(sid, retry))

    def mail_text(self) -> str:
        """What became of the e-mail, in the current language."""
        return mail_status_text(self, self.mail)

    def show_qr(self) -> None:
        """Show the receipt on screen with its QR code."""
        self.showing_qr = True
        self.changed.emit()

    def skip(self) -> None:
        """No receipt."""
        self.finished.emit()
