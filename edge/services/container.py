"""Wiring of the edge's services, and their background work (no import-time side effects).

:meth:`EdgeServices.build` makes every service from the settings (or from injected parts,
for tests); :meth:`EdgeServices.start` takes the serve lock, opens the devices, runs crash
recovery and starts one background thread (session sweep, recovery and security retries,
connectivity events) and the pad poller; :meth:`EdgeServices.stop` undoes all of it.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from drivers.reader import Reader
from drivers.tags import SecurityPolicy
from edge.devices import DeviceManager, build_devices
from edge.receipt_mail import EmailOnce
from edge.services.circulation import CirculationService
from edge.services.events import Event, EventBus
from edge.services.login_guard import StaffLoginGuard
from edge.services.recovery import RecoveryReport, RecoveryService
from edge.services.remote_config import RemoteConfigApplier
from edge.services.security import SecurityService
from edge.services.sessions import SessionService
from edge.store import Store, open_store
from edge.store.db import ServeLock
from edge.store.errors import StoreError
from smartlib.config import Settings
from smartlib.sealing import public_key

log = logging.getLogger(__name__)


@dataclass
class EdgeServices:
    """Everything ``smartlib serve`` runs, built from one :class:`Settings`."""

    settings: Settings
    store: Store
    bus: EventBus
    devices: DeviceManager
    sessions: SessionService
    security: SecurityService
    circulation: CirculationService
    recovery: RecoveryService
    started_at: float = field(default_factory=time.time)
    last_recovery: RecoveryReport | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _owns_store: bool = False
    _connectivity: str = "unknown"
    _serve_lock: ServeLock = field(init=False)
    remote_config: RemoteConfigApplier = field(init=False)
    login_guard: StaffLoginGuard = field(init=False)
    receipt_emails: EmailOnce = field(init=False)
    """One e-mail per receipt (a double press answers the first outcome)."""

    def __post_init__(self) -> None:
        self.login_guard = StaffLoginGuard(self.store, self.settings.api,
                                           device=self.settings.device.id)
        self._serve_lock = ServeLock(self.store.path)
        self.receipt_emails = EmailOnce(self.store.events, self.settings.device.id)
        self.remote_config = RemoteConfigApplier(self.store, self.settings,
                                                 device_id=self.settings.device.id)

    @classmethod
    def build(cls, settings: Settings, *, store: Store | None = None,
              devices: DeviceManager | None = None, bus: EventBus | None = None,
              reader: Reader | None = None) -> EdgeServices:
        """Make the services; pass ``store``/``devices``/``reader`` to inject test doubles."""
        bus = bus or (devices.bus if devices else EventBus())
        owns = store is None
        store = store or open_store(settings.store.path)
        if devices is None:
            if reader is not None:
                sec = settings.security
                devices = DeviceManager(reader, security=SecurityPolicy(
                    sec.mode, sec.afi_secured, sec.afi_released),
                    antennas=tuple(settings.reader.antennas), bus=bus,
                    printer_url=settings.kiosk.printer_url,
                    printer_status_timeout_s=settings.printer.status_timeout_s,
                    poll_interval_s=settings.reader.poll_interval_ms / 1000)
            else:
                devices = build_devices(settings, bus, card_lookup=store.cache.patron_for_card)
        security = SecurityService(store, devices, bus, device_id=settings.device.id)
        key = settings.gateway.public_key
        sessions = SessionService(store, settings.policy, bus, device_id=settings.device.id,
                                  gateway_key=public_key(key) if key else None)
        circulation = CirculationService(store, devices, security, settings.policy, bus,
                                         site_id=settings.site.id, device_id=settings.device.id,
                                         institution=settings.ils.institution,
                                         location=settings.ils.location,
                                         site_isil=settings.site.isil)
        recovery = RecoveryService(store, circulation, security)
        printer = None
        if settings.device.role == "kiosk":  # a gate's reader state is the gate service's
            bus.subscribe(_ReaderHealthJournal(store, settings.device.id))
            printer = _PrinterHealthJournal(store)
            bus.subscribe(printer)
            if not settings.kiosk.printer_url:
                printer.record("none")  # the fleet says so rather than "unknown"
        return cls(settings, store, bus, devices, sessions, security, circulation, recovery,
                   _owns_store=owns)

    def start(self, *, background: bool = True, poll_pad: bool = True) -> RecoveryReport:
        """Take the serve lock, open devices, recover from any crash, start the background work.

        The serve lock (and the ``edge`` doorbell, bound here rather than on the first wait)
        marks the store as in use for as long as this runs, idle or not, so ``smartlib db
        restore`` refuses.

        Raises:
            StoreBusy: another ``serve`` (or a ``db restore``) holds this store.
        """
        self._serve_lock.acquire()
        try:
            self.store.doorbell("edge")
            self.devices.open()
            self.store.lookups.purge()
            self.last_recovery = self.recovery.run_once()
        except BaseException:
            self._serve_lock.release()
            raise
        log.info("start-up recovery: %s", self.last_recovery.summary())
        self.store.meta.set("serve.started_at", str(self.started_at))
        starts = self.store.meta.count_start("serve")
        log.info("serve start %d of this box (the central console's restart count)", starts)
        if background:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="edge-background",
                                            daemon=True)
            self._thread.start()
        if poll_pad:
            self.devices.start_polling()
        return self.last_recovery

    def stop(self) -> None:
        """Stop the background work and the devices; close the store if we opened it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
        self.devices.close()
        if self._owns_store:
            self.store.close()
        self._serve_lock.release()

    def gateway_state(self) -> str:
        """``online`` / ``offline`` as the agent reports it, else as results suggest."""
        state, _ = self.store.meta.connectivity()
        if state != "unknown":
            return state
        # Until the agent reports it: the latest answer (or silence) from a transaction or a
        # login look-up.
        seen = max((t for t in (self.circulation.last_gateway_seen,
                                self.sessions.last_gateway_seen) if t is not None), default=None)
        missed = max((t for t in (self.circulation.last_gateway_missed,
                                  self.sessions.last_gateway_missed) if t is not None),
                     default=None)
        if missed is not None and (seen is None or missed > seen):
            return "offline"
        return "online" if seen is not None else "unknown"

    def _loop(self) -> None:
        last_recovery = 0.0
        every = self.settings.printer.health_interval_s
        last_printer_check = None if every > 0 else float("inf")
        while not self._stop.wait(0.5):
            now = time.monotonic()
            if last_printer_check is None or now - last_printer_check >= every:
                last_printer_check = now
                try:  # at once when the loop starts, then every [printer] health_interval_s
                    self.devices.check_printer()
                except Exception:
                    log.exception("the printer status check failed; continuing")
            try:
                self.sessions.sweep()
                self.remote_config.apply_pending()
                state = self.gateway_state()
                if state != self._connectivity:
                    self._connectivity = state
                    self.bus.publish("connectivity", gateway=state)
                if time.monotonic() - last_recovery >= 5.0:
                    last_recovery = time.monotonic()
                    self.recovery.run_once()
            except Exception:
                log.exception("background work failed; continuing")


class _PrinterHealthJournal:
    """Records the kiosk's receipt printer's state when it changes (``printer_ok``,
    ``printer_paper_out``, ``printer_unreachable``… device events, from the devices'
    ``printer_state`` events): what the box's status and the central fleet show."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.last = store.events.printer_state()

    def record(self, state: str, error: str | None = None) -> None:
        if state == self.last:
            return
        try:
            self.store.events.record("printer", f"printer_{state}", {"error": error})
            self.last = state
        except StoreError as exc:
            log.warning("cannot record the printer state: %s", exc)

    def __call__(self, event: Event) -> None:
        if event.get("type") == "printer_state":
            self.record(str(event["state"]), event.get("error"))


class _ReaderHealthJournal:
    """Records the kiosk's pad reader going on- and offline (``reader_online`` /
    ``reader_offline`` device events): what the box's status and the central fleet show."""

    def __init__(self, store: Store, device_id: str) -> None:
        self.store, self.device_id = store, device_id

    def __call__(self, event: Event) -> None:
        if event.get("type") != "reader_state":
            return
        try:
            self.store.events.record(self.device_id, f"reader_{event['state']}",
                                     {"error": event.get("error")})
        except StoreError as exc:
            log.warning("cannot record the reader state: %s", exc)
