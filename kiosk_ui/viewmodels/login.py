"""Login: a card on the reader, a scanned barcode, or a number and PIN on the keypad."""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from kiosk_ui.client import EdgeApi
from kiosk_ui.errors import InputRefused, PatronFacingError
from kiosk_ui.i18n import Localizer
from kiosk_ui.viewmodels.base import ViewModel
from kiosk_ui.worker import Runner

log = logging.getLogger(__name__)

# Answers of POST /sessions/card that only mean "no card on the reader yet".
NO_CARD_CODES = frozenset({"not_found", "device_unavailable", "no_card", "edge_unreachable"})
MAX_NUMBER = 20
MAX_PIN = 8


class LoginViewModel(ViewModel):
    """Collects a credential and opens a session on the edge.

    The PIN is kept only until the login call is sent and is never logged or exposed
    unmasked (see :attr:`masked_pin`). A typed number only goes with its PIN
    (:meth:`submit`); only a scan goes without one (:meth:`submit_barcode`, which the view
    calls for what :class:`~kiosk_ui.wedge.WedgeDetector` recognised as a scan).

    Args:
        scan_prefix, scan_suffix: the barcode scanner's configured affixes, for the view's
            :class:`~kiosk_ui.wedge.WedgeDetector` (an entry carrying them is a scan); the
            edge requires and strips them (``POST /scans``).

    Signals:
        logged_in(dict): the edge's Session.
    """

    logged_in = Signal(dict)

    def __init__(self, client: EdgeApi, runner: Runner, localizer: Localizer,
                 card_poll_ms: int = 1500, parent: QObject | None = None, *,
                 scan_prefix: str = "", scan_suffix: str = "") -> None:
        super().__init__(client, runner, localizer, parent)
        self.scan_prefix = scan_prefix
        self.scan_suffix = scan_suffix
        self._number = ""
        self._pin = ""
        self._field = "number"
        self._card_busy = False
        self._last_card_error: str | None = None
        self.card_timer = QTimer(self)
        self.card_timer.setInterval(card_poll_ms)
        self.card_timer.timeout.connect(self.poll_card)

    # -- properties -------------------------------------------------------------------
    @property
    def number(self) -> str:
        return self._number

    @property
    def masked_pin(self) -> str:
        """One bullet per PIN digit."""
        return "●" * len(self._pin)

    @property
    def pin_length(self) -> int:
        return len(self._pin)

    @property
    def field(self) -> str:
        """Which field the keypad types into: ``number`` or ``pin``."""
        return self._field

    def set_field(self, field: str) -> None:
        if field not in ("number", "pin"):
            raise ValueError(f"field must be 'number' or 'pin', got {field!r}")
        self._field = field
        self.changed.emit()

    def set_number(self, text: str) -> None:
        self._number = "".join(ch for ch in text if ch.isalnum())[:MAX_NUMBER]
        self.changed.emit()

    def set_pin(self, text: str) -> None:
        self._pin = "".join(ch for ch in text if ch.isdigit())[:MAX_PIN]
        self.changed.emit()

    # -- keypad -----------------------------------------------------------------------
    def press(self, key: str) -> None:
        """One keypad key: a digit, ``back``, ``clear``, ``next`` or ``ok``."""
        if self._error is not None and key not in ("ok",):
            self._error = None
        if key.isdigit() and len(key) == 1:
            if self._field == "number":
                self.set_number(self._number + key)
            else:
                self.set_pin(self._pin + key)
        elif key == "back":
            if self._field == "pin":
                self.set_pin(self._pin[:-1])
            else:
                self.set_number(self._number[:-1])
        elif key == "clear":
            if self._field == "pin":
                self.set_pin("")
            else:
                self.set_number("")
        elif key == "next":
            self.set_field("pin" if self._field == "number" else "number")
        elif key == "ok":
            if self._field == "number" and not self._pin:
                self.set_field("pin")
            else:
                self.submit()
        else:
            raise ValueError(f"unknown keypad key {key!r}")
        self.changed.emit()

    # -- logins -----------------------------------------------------------------------
    def submit(self) -> None:
        """Log in with the typed number and PIN (both needed: no PIN → ``pin_required``)."""
        if not self._number:
            self.set_error(InputRefused("validation_error"))
            self.set_field("number")
            return
        if not self._pin:  # a typed number is never sent without its PIN
            self.set_error(InputRefused("pin_required"))
            self.set_field("pin")
            return
        number, pin = self._number, self._pin
        self._pin = ""
        lang = self.localizer.language
        self.call(lambda: self.client.login("manual", number, pin, lang),
                  self._ok, self._failed)

    def submit_barcode(self, raw: str) -> None:
        """Log in with a scanned barcode (keyboard wedge: the code then Enter).

        Only for what :class:`~kiosk_ui.wedge.WedgeDetector` recognised as a scan. The raw
        scan goes to the edge (``POST /scans``), which applies the scanner's rules (affixes
        required and stripped, no control characters, not empty); the identifier it answers
        logs in as a barcode. A refused scan shows ``bad_scan`` and logs nobody in.
        """
        self._error = None
        self._number = ""
        lang = self.localizer.language

        def read(answer: Any) -> None:
            code = str((answer or {}).get("identifier") or "")
            if not code:
                self._scan_refused(InputRefused("bad_scan", "the edge answered no identifier"))
                return
            self._number = code[:MAX_NUMBER]
            token = str((answer or {}).get("scan_token") or "") or None
            self.call(lambda: self.client.login("barcode", code, None, lang, scan_token=token),
                      self._ok, self._failed)

        self.call(lambda: self.client.read_scan(raw), read, self._scan_refused)

    def _scan_refused(self, exc: PatronFacingError) -> None:
        if exc.code != "bad_scan":
            self._failed(exc)
            return
        log.warning("barcode scan rejected: %s", exc.message)   # the reason, never the scan
        self._number = ""
        self.set_error(exc)

    def poll_card(self) -> None:
        """Ask the edge to log in with the card now on the reader (silent when none)."""
        if self._card_busy or self.busy:
            return
        self._card_busy = True
        lang = self.localizer.language

        def ok(session: Any) -> None:
            self._card_busy = False
            self._ok(session)

        def err(exc: PatronFacingError) -> None:
            self._card_busy = False
            if exc.code in NO_CARD_CODES:
                self._last_card_error = None
                return
            if exc.code != self._last_card_error:   # show a refused card once, not every poll
                self._last_card_error = exc.code
                self.set_error(exc)

        self.call(lambda: self.client.login_card(lang), ok, err)

    def _ok(self, session: Any) -> None:
        self._pin = ""
        self._error = None
        self.card_timer.stop()
        self.logged_in.emit(dict(session))

    def _failed(self, exc: PatronFacingError) -> None:
        self.set_error(exc)
        if exc.code in ("wrong_pin", "pin_required", "pin_locked"):
            self._pin = ""
            self._field = "pin"
        self.changed.emit()

    def reset(self) -> None:
        self._number = ""
        self._pin = ""
        self._field = "number"
        self._card_busy = False
        self._last_card_error = None
        super().reset()
