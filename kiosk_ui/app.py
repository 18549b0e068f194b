"""The kiosk app factory: wires client, runner, event bridge, view-models and window.

Nothing happens at import time. :func:`create_kiosk` builds everything for an existing
``QApplication``; :func:`run_kiosk` is what ``smartlib kiosk`` calls.
"""

from __future__ import annotations

import logging
import secrets
import sys
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from kiosk_ui.client import EdgeApi, EdgeClient
from kiosk_ui.errors import KioskOptionsError
from kiosk_ui.events import EventBridge
from kiosk_ui.i18n import Localizer
from kiosk_ui.theme import Theme, pick_font_family
from kiosk_ui.viewmodels.kiosk import KioskViewModel
from kiosk_ui.views.main_window import KioskWindow
from kiosk_ui.wedge import MAX_GAP_S
from kiosk_ui.worker import InlineRunner, Runner, TaskRunner
from smartlib.sdnotify import SystemdNotifier

log = logging.getLogger(__name__)

PLACEHOLDER_ADMIN_CODES = frozenset({"", "0000"})
"""Admin exit codes that count as "not configured" (``0000`` is the shipped default)."""
GENERATED_ADMIN_DIGITS = 8


def resolve_admin_code(configured: str) -> tuple[str, bool]:
    """The admin exit code to use, and whether it was generated.

    A configured code must be digits only (staff type it on the on-screen keypad). An empty
    code or the shipped placeholder ``0000`` is replaced by a random
    :data:`GENERATED_ADMIN_DIGITS`-digit code for this run.

    Raises:
        KioskOptionsError: the configured code holds something other than digits.
    """
    if configured in PLACEHOLDER_ADMIN_CODES:
        code = "".join(secrets.choice("0123456789") for _ in range(GENERATED_ADMIN_DIGITS))
        return code, True
    if not configured.isdigit() or not configured.isascii():
        raise KioskOptionsError("kiosk.admin_exit_code must be digits only (it is typed on the "
                                "keypad)")
    return configured, False


@dataclass
class KioskOptions:
    """Everything the kiosk needs to know (from ``[kiosk]``, ``[site]``, ``[policy]``, ``[api]``)."""

    edge_url: str = "http://127.0.0.1:8080"
    token: str = ""
    language: str = "vi"
    fullscreen: bool = True
    admin_exit_code: str = ""
    printer: bool = False
    large_text: bool = False
    high_contrast: bool = False
    site_name: str = ""
    opening_hours: str = ""
    anonymous_return: bool = True
    idle_timeout_s: int = 60
    health_interval_ms: int = 5000
    card_poll_ms: int = 1500
    scan_prefix: str = ""
    scan_suffix: str = ""
    wedge_max_gap_s: float = MAX_GAP_S
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Any, **overrides: Any) -> KioskOptions:
        """Build options from a :class:`smartlib.config.Settings`."""
        k = settings.kiosk
        opts = cls(
            edge_url=k.edge_url, token=settings.api.device_token.get_secret_value(),
            language=k.language, fullscreen=k.fullscreen,
            admin_exit_code=k.admin_exit_code.get_secret_value(),
            printer=bool(k.printer_url), large_text=k.large_text, high_contrast=k.high_contrast,
            site_name=settings.site.name, opening_hours=settings.site.opening_hours,
            anonymous_return=settings.policy.anonymous_return,
            idle_timeout_s=settings.policy.session_idle_s,
            scan_prefix=settings.card_reader.scanner_prefix,
            scan_suffix=settings.card_reader.scanner_suffix)
        for key, value in overrides.items():
            if value is not None:
                setattr(opts, key, value)
        return opts


@dataclass
class Kiosk:
    """A built kiosk; call :meth:`close` to stop its threads."""

    app: QApplication
    localizer: Localizer
    runner: Runner
    events: EventBridge
    vm: KioskViewModel
    window: KioskWindow
    client: EdgeApi

    @property
    def theme(self) -> Theme:
        """The theme shown now (patrons may switch it on Attract)."""
        return self.window.theme

    def close(self) -> None:
        """Stop timers, the event stream and worker threads; close the window."""
        self.vm.stop()
        self.events.stop()
        self.window.shutdown()
        self.window.allow_close()
        self.window.close()
        self.runner.shutdown()
        close = getattr(self.client, "close", None)
        if callable(close):
            close()


def ensure_app(argv: list[str] | None = None) -> QApplication:
    """The running QApplication, created if needed."""
    app = QApplication.instance()
    if app is None:
        app = QApplication(argv if argv is not None else sys.argv[:1])
    assert isinstance(app, QApplication)
    return app


def create_kiosk(opts: KioskOptions, client: EdgeApi | None = None, *,
                 connect_events: bool = True, threaded: bool = True,
                 start: bool = True) -> Kiosk:
    """Build the kiosk for ``opts``.

    Args:
        opts: the options. Without a real ``admin_exit_code`` (empty or ``0000``) a random
            one is generated and logged once, at WARNING, for the staff of this run.
        client: the edge; a real :class:`EdgeClient` on ``opts.edge_url`` when None.
        connect_events: open the ``/events`` WebSocket (False with a fake client).
        threaded: run edge calls on worker threads (False runs them inline: screenshots).
        start: start probing the edge and polling for cards now.

    Raises:
        KioskOptionsError: ``opts.admin_exit_code`` is not digits only.
    """
    admin_code, generated = resolve_admin_code(opts.admin_exit_code)
    if generated:
        # The one place this code is ever shown: staff read it from the log of this run.
        log.warning("kiosk.admin_exit_code is not set (or is the placeholder 0000): the admin "
                    "exit code for this run is %s; set kiosk.admin_exit_code", admin_code)
    app = ensure_app()
    theme = Theme(large_text=opts.large_text, high_contrast=opts.high_contrast,
                  family=pick_font_family())
    app.setStyleSheet(theme.stylesheet())
    localizer = Localizer(opts.language)
    runner: Runner = TaskRunner() if threaded else InlineRunner()
    if client is None:
        client = EdgeClient(opts.edge_url, opts.token)
    vm = KioskViewModel(
        client, runner, localizer, site_name=opts.site_name, opening_hours=opts.opening_hours,
        default_language=opts.language, printer_available=opts.printer,
        anonymous_return=opts.anonymous_return, idle_timeout_s=opts.idle_timeout_s,
        health_interval_ms=opts.health_interval_ms, card_poll_ms=opts.card_poll_ms,
        admin_exit_code=admin_code, scan_prefix=opts.scan_prefix, scan_suffix=opts.scan_suffix,
        large_text=opts.large_text, high_contrast=opts.high_contrast)
    events = EventBridge()
    events.event.connect(vm.on_event)
    events.connected.connect(vm.on_events_connected)
    window = KioskWindow(vm, theme, kiosk=opts.fullscreen, wedge_max_gap_s=opts.wedge_max_gap_s)
    kiosk = Kiosk(app, localizer, runner, events, vm, window, client)

    def admin_quit() -> None:
        window.allow_close()
        app.quit()

    vm.quit_requested.connect(admin_quit)
    if connect_events and isinstance(client, EdgeClient):
        events.start(opts.edge_url, opts.token)
    if start:
        vm.start()
    return kiosk


def run_kiosk(opts: KioskOptions) -> int:
    """Show the kiosk and run the event loop until the admin exit. Returns the exit code."""
    app = ensure_app()
    kiosk = create_kiosk(opts)
    if opts.fullscreen:
        kiosk.window.showFullScreen()
    else:
        kiosk.window.resize(1280, 800)
        kiosk.window.show()
    log.info("kiosk started against %s (language %s)", opts.edge_url, opts.language)
    notifier = SystemdNotifier.from_environment()
    # The watchdog is fed from the GUI thread's event loop: a hung loop stops the pings.
    pinger = QTimer()
    pinger.setInterval(int(notifier.ping_interval_s * 1000))
    pinger.timeout.connect(notifier.heartbeat)
    if notifier.enabled:
        notifier.ready("kiosk window shown")
        pinger.start()
    try:
        return int(app.exec())  # 0 after a deliberate close; the demo's supervisor relies on it
    finally:
        pinger.stop()
        notifier.stopping()
        kiosk.close()
