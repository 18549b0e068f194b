"""The kiosk's state machine: screens, session, idle countdown, connectivity, language.

It routes edge events to the screen view-models, probes ``GET /health`` to detect an edge
that is down (full-screen "out of service", recovered automatically) and reacts to the
edge's ``connectivity`` events (offline banner with the offline policy's limits).
"""

from __future__ import annotations

import hmac
import logging
import math
import time
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from kiosk_ui.client import EdgeApi
from kiosk_ui.errors import InputRefused, PatronFacingError
from kiosk_ui.i18n import Localizer
from kiosk_ui.viewmodels.account import AccountViewModel
from kiosk_ui.viewmodels.base import ViewModel
from kiosk_ui.viewmodels.circulation import BorrowViewModel, RenewViewModel, ReturnViewModel
from kiosk_ui.viewmodels.fines import FinesViewModel
from kiosk_ui.viewmodels.login import LoginViewModel
from kiosk_ui.viewmodels.receipt import ReceiptViewModel
from kiosk_ui.worker import Runner

log = logging.getLogger(__name__)

WARN_AT_S = 15
ADMIN_MAX_TRIES = 5
"""Wrong admin exit codes in a row before the admin exit locks."""
ADMIN_LOCKOUT_S = 60.0
"""How long the admin exit stays locked after :data:`ADMIN_MAX_TRIES` wrong codes."""
OFFLINE_LOGINS = ("deny", "cached", "card-only")


class Screen(StrEnum):
    """The kiosk's screens."""

    ATTRACT = "attract"
    LOGIN = "login"
    MENU = "menu"
    BORROW = "borrow"
    RETURN = "return"
    RENEW = "renew"
    ACCOUNT = "account"
    FINES = "fines"
    RECEIPT = "receipt"
    OUT_OF_SERVICE = "out_of_service"


SESSION_SCREENS = {Screen.MENU, Screen.BORROW, Screen.RETURN, Screen.RENEW, Screen.ACCOUNT,
                   Screen.FINES, Screen.RECEIPT}
RESTRICTED_SCREENS = {Screen.BORROW, Screen.RETURN, Screen.RENEW}
"""What a session restricted to paying fines may not open (the edge refuses them too)."""


class KioskViewModel(ViewModel):
    """The root view-model.

    Args:
        client, runner, localizer: see :class:`ViewModel`.
        site_name, opening_hours: shown on Attract until ``GET /info`` answers.
        default_language: the language Attract returns to after each session.
        printer_available: offer "Print" on the receipt screen.
        anonymous_return: offer "Return" on Attract without a login.
        idle_timeout_s: the countdown when the session does not say otherwise.
        health_interval_ms: how often the edge is probed (faster while it is down).
        admin_exit_code: the code that lets staff leave kiosk mode (empty: no exit).
        scan_prefix, scan_suffix: the barcode scanner's affixes (see :class:`LoginViewModel`).
        large_text, high_contrast: the configured theme; patrons may switch both on
            Attract, and each session end returns to these.
        clock: monotonic seconds (the admin lockout; tests pass a fake).

    Signals:
        screen_changed(str): the screen to show.
        quit_requested: staff entered the admin exit code.
        theme_changed: large text or high contrast was switched.
    """

    screen_changed = Signal(str)
    quit_requested = Signal()
    theme_changed = Signal()

    def __init__(self, client: EdgeApi, runner: Runner, localizer: Localizer, *,
                 site_name: str = "", opening_hours: str = "", default_language: str = "vi",
                 printer_available: bool = False, anonymous_return: bool = True,
                 idle_timeout_s: int = 60, health_interval_ms: int = 5000,
                 card_poll_ms: int = 1500, admin_exit_code: str = "",
                 scan_prefix: str = "", scan_suffix: str = "",
                 large_text: bool = False, high_contrast: bool = False,
                 clock: Callable[[], float] = time.monotonic,
                 parent: QObject | None = None) -> None:
        super().__init__(client, runner, localizer, parent)
        self.login = LoginViewModel(client, runner, localizer, card_poll_ms, self,
                                    scan_prefix=scan_prefix, scan_suffix=scan_suffix)
        self.borrow = BorrowViewModel(client, runner, localizer, self)
        self.returns = ReturnViewModel(client, runner, localizer, self)
        self.renew = RenewViewModel(client, runner, localizer, self)
        self.account = AccountViewModel(client, runner, localizer, self)
        self.fines = FinesViewModel(client, runner, localizer, self,
                                    printer_available=printer_available)
        self.receipt = ReceiptViewModel(client, runner, localizer, printer_available, self)
        self._children: list[ViewModel] = [self.login, self.borrow, self.returns, self.renew,
                                           self.account, self.fines, self.receipt]
        for child in self._children:
            child.failed.connect(self._child_failed)
        self.login.logged_in.connect(self._logged_in)
        self.receipt.finished.connect(self.end_session)
        for vm in (self.borrow, self.returns, self.renew):
            vm.transacted.connect(self._transacted)

        self.site_name = site_name
        self.opening_hours = opening_hours
        self.default_language = default_language
        self.anonymous_return = anonymous_return
        self.default_idle_s = idle_timeout_s
        self._admin_code = admin_exit_code
        self._admin_failures = 0
        self._admin_locked_until = 0.0
        self._clock = clock
        self.default_large_text = large_text
        self.default_high_contrast = high_contrast
        self.large_text = large_text
        self.high_contrast = high_contrast
        self._screen = Screen.ATTRACT
        self.session: dict[str, Any] | None = None
        self.transactions = 0
        self.edge_up = True
        self.gateway_offline = False
        self.card_reader_offline = False   # /health: a card tap cannot log in now
        self.offline_policy: dict[str, Any] = {}
        self.events_connected = False
        self._connectivity_events = 0   # a /health answer older than an event loses to it
        self._health_ms = health_interval_ms
        self._remaining = -1
        self._idle_s = idle_timeout_s
        self.notice = ""   # a one-line notice on Attract (e.g. "your session has ended")

        self.idle_timer = QTimer(self)
        self.idle_timer.setInterval(1000)
        self.idle_timer.timeout.connect(self._tick)
        self.health_timer = QTimer(self)
        self.health_timer.setInterval(health_interval_ms)
        self.health_timer.timeout.connect(self.probe)

    # -- properties -------------------------------------------------------------------
    @property
    def screen(self) -> Screen:
        """The screen shown (OUT_OF_SERVICE wins while the edge is down)."""
        return Screen.OUT_OF_SERVICE if not self.edge_up else self._screen

    @property
    def patron_name(self) -> str:
        if not self.session:
            return ""
        return str((self.session.get("patron") or {}).get("name") or "")

    @property
    def restricted(self) -> str | None:
        """``"fines"`` in a session blocked for fines (it may only see the account and pay)."""
        return str(self.session.get("restricted")) if self.session and \
            self.session.get("restricted") else None

    @property
    def session_id(self) -> str | None:
        return str(self.session["id"]) if self.session else None

    @property
    def remaining_s(self) -> int:
        """Seconds before the idle timeout ends the session; -1 without a session."""
        return self._remaining

    @property
    def countdown_warning(self) -> bool:
        """True in the last seconds before the session ends."""
        return 0 <= self._remaining <= WARN_AT_S

    @property
    def offline_max_items(self) -> int | None:
        """The offline policy's item limit per visit (``/health``), or None."""
        v = self.offline_policy.get("max_items")
        return int(v) if isinstance(v, int | float) and not isinstance(v, bool) else None

    @property
    def offline_max_value(self) -> int | None:
        """The offline policy's limit on the value of the items per visit, or None."""
        v = self.offline_policy.get("max_value")
        return int(v) if isinstance(v, int | float) and not isinstance(v, bool) else None

    @property
    def offline_login(self) -> str | None:
        """Who may log in while offline: ``deny``, ``cached``, ``card-only``, or None."""
        v = self.offline_policy.get("login")
        return v if v in OFFLINE_LOGINS else None

    # -- start-up and connectivity ----------------------------------------------------
    def start(self) -> None:
        """Fetch the site info, start probing the edge and polling for cards."""
        self.call(self.client.info, self._info, self._info_failed)
        self.probe()
        self.health_timer.start()
        self._update_card_polling()

    def stop(self) -> None:
        """Stop every timer (the app is closing)."""
        self.health_timer.stop()
        self.idle_timer.stop()
        self.login.card_timer.stop()

    def _info(self, info: Any) -> None:
        site = (info or {}).get("site") or {}
        self.site_name = str(site.get("name") or self.site_name)
        self.opening_hours = str(site.get("opening_hours") or self.opening_hours)

    def _info_failed(self, exc: PatronFacingError) -> None:
        # Not shown to patrons: Attract keeps the configured name and hours.
        log.warning("GET /info failed (%s); showing the configured library name and hours",
                    exc)

    def probe(self) -> None:
        """``GET /health``; an unreachable edge switches to out of service.

        The answer's gateway state is ignored when a ``connectivity`` event arrived while
        the request was under way (the event is newer); its offline policy is kept.
        """
        seen = self._connectivity_events
        self.call(self.client.health, lambda h: self._healthy(h, seen), self._unhealthy)

    def _healthy(self, health: Any, events_seen: int | None = None) -> None:
        health = health or {}
        was_up = self.edge_up
        self.edge_up = True
        if events_seen is None or events_seen == self._connectivity_events:
            self.gateway_offline = health.get("gateway") == "offline"
        self.offline_policy = dict(health.get("offline_policy") or {})
        self.card_reader_offline = health.get("card_reader") == "offline"
        self.health_timer.setInterval(self._health_ms)
        if not was_up:
            log.info("edge is back; returning to attract")
            self.call(self.client.info, self._info, self._info_failed)
            self._wipe()
        self.changed.emit()
        self.screen_changed.emit(self.screen.value)

    def _unhealthy(self, exc: PatronFacingError) -> None:
        if exc.unreachable:
            self._edge_down()
        self.changed.emit()

    def _edge_down(self) -> None:
        if self.edge_up:
            log.warning("edge is unreachable: out of service")
            self.edge_up = False
            self.login.card_timer.stop()
            self.idle_timer.stop()
            self.health_timer.setInterval(min(self._health_ms, 2000))
            self.screen_changed.emit(self.screen.value)

    def _child_failed(self, exc: PatronFacingError) -> None:
        if exc.unreachable:
            self._edge_down()
        elif exc.code == "session_expired" and self.session is not None:
            self._wipe(notice="session_expired")

    def on_events_connected(self, up: bool) -> None:
        """The WebSocket link came or went; a drop triggers an immediate probe."""
        self.events_connected = up
        if not up:
            self.probe()
        self.changed.emit()

    def on_event(self, evt: dict[str, Any]) -> None:
        """Route one edge event."""
        kind = evt.get("type")
        if kind == "payment":
            self.fines.on_event(evt)
        if kind == "connectivity":
            self._connectivity_events += 1
            self.gateway_offline = evt.get("gateway") == "offline"
            if self.gateway_offline and not self.offline_policy:
                self.probe()
            self.changed.emit()
        elif kind == "session_timeout" and evt.get("session") == self.session_id:
            self._remaining = int(evt.get("remaining_s", self._remaining))
            self.changed.emit()
        elif kind == "session_ended" and self.session is not None \
                and evt.get("session") == self.session_id:
            self._wipe(notice=str(evt.get("reason") or "session_expired"))
        elif kind in ("tag_arrived", "item_status", "tag_left"):
            self.activity()
            self.borrow.on_event(evt)
            self.returns.on_event(evt)

    # -- navigation -------------------------------------------------------------------
    def go(self, screen: Screen | str) -> None:
        """Show ``screen`` and start what it needs."""
        screen = Screen(screen)
        anonymous_receipt = (screen == Screen.RECEIPT and self.session is None
                             and bool(self.returns.transactions))
        if (screen in SESSION_SCREENS - {Screen.RETURN} and self.session is None
                and not anonymous_receipt):
            raise RuntimeError(f"{screen} needs a logged-in patron")
        if self.restricted == "fines" and screen in RESTRICTED_SCREENS:
            # The edge refuses these too (restricted_fines); say so before the patron tries.
            self.set_error(InputRefused("restricted_fines"))
            return
        self.borrow.stop()
        self.returns.stop()
        self._screen = screen
        self.notice = ""
        sid = self.session_id
        if screen == Screen.LOGIN:
            self.login.reset()
        elif screen == Screen.BORROW and sid:
            self.borrow.begin(sid)
        elif screen == Screen.RETURN:
            self.returns.begin(sid)
        elif screen == Screen.RENEW and sid:
            self.renew.begin(sid)
        elif screen == Screen.ACCOUNT and sid:
            self.account.begin(sid)
        elif screen == Screen.FINES and sid:
            self.fines.begin(sid, self._email_masked())
        elif screen == Screen.RECEIPT and sid:
            self.receipt.begin(sid, self._email_masked())
        elif screen == Screen.RECEIPT:   # an anonymous return's: what was returned
            self.receipt.begin_returns(self.returns.transactions)
        self._update_card_polling()
        self.activity()
        self.screen_changed.emit(self.screen.value)
        self.changed.emit()

    def _email_masked(self) -> str | None:
        """The patron's e-mail address from the ILS, masked by the edge (None: none)."""
        got = (self.session or {}).get("email_masked")
        return str(got) if got else None

    def start_login(self) -> None:
        self.go(Screen.LOGIN)

    def start_anonymous_return(self) -> None:
        """Return without logging in (only where the site allows it)."""
        if not self.anonymous_return:
            self.set_error(InputRefused("anonymous_return_off"))
            return
        self.go(Screen.RETURN)

    def back(self) -> None:
        """Back to the menu in a session, or to Attract without one (a session restricted
        to paying fines has no menu: back ends it)."""
        if self.session is not None and self.restricted:
            self.end_session()
        elif self.session is not None:
            self.go(Screen.MENU)
        else:
            self.end_session()

    def set_language(self, language: str) -> None:
        self.localizer.set_language(language)
        self.activity()

    def set_large_text(self, on: bool) -> None:
        """Switch large-text mode (from Attract; the session end switches it back)."""
        if bool(on) != self.large_text:
            self.large_text = bool(on)
            self.theme_changed.emit()
        self.activity()

    def set_high_contrast(self, on: bool) -> None:
        """Switch the high-contrast theme (from Attract; the session end switches it back)."""
        if bool(on) != self.high_contrast:
            self.high_contrast = bool(on)
            self.theme_changed.emit()
        self.activity()

    def _logged_in(self, session: dict[str, Any]) -> None:
        self.session = session
        self.transactions = 0
        self._idle_s = int(session.get("idle_timeout_s") or self.default_idle_s)
        self.idle_timer.start()
        # Blocked for fines: straight to paying them (the page says why).
        self.go(Screen.FINES if self.restricted == "fines" else Screen.MENU)

    def _transacted(self, n: int) -> None:
        self.transactions += n

    def finish(self) -> None:
        """The patron is done: offer a receipt if something happened (in a session, or an
        anonymous return that returned something), else end at once."""
        if self._screen == Screen.RECEIPT:
            self.end_session()
        elif self.session is not None and self.transactions > 0:
            self.go(Screen.RECEIPT)
        elif (self.session is None and self._screen == Screen.RETURN
              and self.returns.transactions):
            self.go(Screen.RECEIPT)
        else:
            self.end_session()

    def end_session(self) -> None:
        """Wipe the session here and on the edge, and return to Attract."""
        sid = self.session_id
        if sid is not None:
            self.call(lambda: self.client.end_session(sid), lambda _r: None,
                      lambda exc: log.info("ending session on the edge failed: %s", exc.code))
        self._wipe()

    def _wipe(self, notice: str = "") -> None:
        self.session = None
        self.transactions = 0
        self._remaining = -1
        self.idle_timer.stop()
        for child in self._children:
            child.reset()
        self.borrow.stop()
        self.returns.stop()
        self.borrow.model.clear()
        self.returns.model.clear()
        self.renew.loans.clear()
        for m in (self.account.loans, self.account.holds, self.account.fines):
            m.clear()
        self.receipt.lines.set_lines([])
        self._error = None
        self._screen = Screen.ATTRACT
        self.localizer.set_language(self.default_language)
        if (self.large_text, self.high_contrast) != (self.default_large_text,
                                                      self.default_high_contrast):
            self.large_text = self.default_large_text
            self.high_contrast = self.default_high_contrast
            self.theme_changed.emit()
        self.notice = notice
        self._update_card_polling()
        self.screen_changed.emit(self.screen.value)
        self.changed.emit()

    # -- idle countdown ---------------------------------------------------------------
    def activity(self) -> None:
        """The patron touched something: restart the idle countdown."""
        if self.session is not None or self._screen not in (Screen.ATTRACT,):
            prev = self._remaining
            self._remaining = self._idle_s
            if not self.idle_timer.isActive():
                self.idle_timer.start()
            if prev != self._remaining:
                self.changed.emit()

    def _tick(self) -> None:
        if self._screen == Screen.ATTRACT and self.session is None:
            self.idle_timer.stop()
            self._remaining = -1
            return
        if self.borrow.busy or self.returns.busy:
            return   # never time out while an item is being processed
        self._remaining = max(0, self._remaining - 1)
        self.changed.emit()
        if self._remaining == 0:
            log.info("idle timeout: ending the session")
            self.end_session()

    def _update_card_polling(self) -> None:
        want = self.edge_up and self.session is None and self._screen in (Screen.ATTRACT,
                                                                          Screen.LOGIN)
        if want and not self.login.card_timer.isActive():
            self.login.card_timer.start()
        elif not want:
            self.login.card_timer.stop()

    # -- admin ------------------------------------------------------------------------
    @property
    def admin_locked_s(self) -> int:
        """Seconds until the admin exit accepts codes again (0: not locked)."""
        left = self._admin_locked_until - self._clock()
        return math.ceil(left) if left > 0 else 0

    def admin_exit(self, code: str) -> bool:
        """Leave kiosk mode when ``code`` is the configured admin exit code.

        After :data:`ADMIN_MAX_TRIES` wrong codes in a row every code, the right one too, is
        refused for :data:`ADMIN_LOCKOUT_S` seconds (see :attr:`admin_locked_s`).
        """
        if self.admin_locked_s:
            log.warning("admin exit refused: locked for %d s after %d wrong codes",
                        self.admin_locked_s, ADMIN_MAX_TRIES)
            return False
        if self._admin_code and hmac.compare_digest(code.encode(), self._admin_code.encode()):
            log.warning("admin exit")
            self._admin_failures = 0
            self.stop()
            self.quit_requested.emit()
            return True
        self._admin_failures += 1
        if self._admin_failures >= ADMIN_MAX_TRIES:
            self._admin_failures = 0
            self._admin_locked_until = self._clock() + ADMIN_LOCKOUT_S
            log.warning("admin exit refused: wrong code; locked for %.0f s after %d tries",
                        ADMIN_LOCKOUT_S, ADMIN_MAX_TRIES)
        else:
            log.warning("admin exit refused: wrong code (%d of %d)", self._admin_failures,
                        ADMIN_MAX_TRIES)
        return False
