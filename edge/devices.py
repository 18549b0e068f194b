"""The devices the edge owns: the RFID pad reader, the PC/SC card reader, the receipt printer.

Services never talk to drivers directly: they ask the :class:`DeviceManager` to scan the
pad, read a tag's data, write a security state, or print. The reader and card reader are
injected (constructor injection), so tests pass small fakes and production passes the
drivers built by :func:`build_devices`. A background poller (started by the API's
lifespan, stopped with it) turns debounced inventories into ``tag_arrived`` /
``tag_left`` events.

Must not do: circulation decisions, store writes other than device events.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from drivers.credential import PatronCredential
from drivers.errors import DriverError, ReaderError, TagFormatError
from drivers.tags import SecurityPolicy, SecurityState, TagData, decode_tag
from edge.errors import DeviceUnavailable
from edge.services.events import EventBus

log = logging.getLogger(__name__)

FIRST_READ_BLOCKS = 8
"""Blocks read first: the 32-byte ISO 28560-3 basic block; more only when that fails."""


@dataclass(frozen=True, slots=True)
class PadTag:
    """A tag on the pad: its UID, antenna, decoded data, or why it did not decode."""

    uid: str
    antenna: str
    tag: TagData | None
    error: str | None = None

    @property
    def item_id(self) -> str | None:
        """The primary item identifier, when the tag decoded."""
        return self.tag.primary_item_id if self.tag else None


class DeviceManager:
    """Owns the devices of one box.

    Args:
        reader: an opened-or-not :class:`drivers.reader.Reader` (or a fake with the same
            methods), or ``None`` when the box has no reader.
        security: the site's security policy.
        antennas: the antenna names that make up the pad.
        card_reader: a :class:`drivers.pcsc.reader.CardReader`, or ``None``.
        printer_url: a pyserial URL for the ESC/POS printer, or ``None``.
        bus: where tag events go.
        serial_opener: ``serial.serial_for_url`` (injected for tests).
        debounce_polls: consecutive inventories a tag must miss before ``tag_left``.
    """

    def __init__(self, reader: Any | None, *, security: SecurityPolicy,
                 antennas: tuple[str, ...] = ("pad",), card_reader: Any | None = None,
                 printer_url: str | None = None, bus: EventBus | None = None,
                 serial_opener: Callable[..., Any] | None = None, debounce_polls: int = 2,
                 poll_interval_s: float = 0.3) -> None:
        self.reader = reader
        self.security = security
        self.antennas = antennas
        self.card_reader = card_reader
        self.printer_url = printer_url
        self.bus = bus or EventBus()
        self._serial_opener = serial_opener
        self._debounce = debounce_polls
        self._poll_interval = poll_interval_s
        self._lock = threading.RLock()
        self._tag_cache: dict[str, PadTag] = {}
        self._present: dict[str, int] = {}  # uid -> consecutive misses
        self._card: PatronCredential | None = None
        self._reader_ok: bool | None = None
        self._reader_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---- life cycle ---------------------------------------------------------------------

    def open(self) -> None:
        """Open the reader and start card events; failures are reported, not raised."""
        if self.reader is not None:
            try:
                self.reader.open()
                self._reader_ok, self._reader_error = True, None
            except DriverError as exc:
                self._reader_ok, self._reader_error = False, str(exc)
                log.warning("reader unavailable: %s", exc)
        if self.card_reader is not None:
            try:
                self.card_reader.start(self._on_card_event)
            except DriverError as exc:
                log.warning("card reader unavailable: %s", exc)

    def close(self) -> None:
        """Stop polling and close the devices."""
        self.stop_polling()
        if self.card_reader is not None:
            try:
                self.card_reader.stop()
            except DriverError as exc:
                log.warning("card reader stop failed: %s", exc)
        if self.reader is not None:
            try:
                self.reader.close()
            except DriverError as exc:
                log.warning("reader close failed: %s", exc)

    # ---- the pad ------------------------------------------------------------------------

    def _need_reader(self) -> Any:
        if self.reader is None:
            raise DeviceUnavailable("this box has no RFID reader")
        return self.reader

    def scan_pad(self) -> list[PadTag]:
        """Inventory the pad and decode every tag (tag data is cached per UID while present).

        Raises:
            DeviceUnavailable: the reader failed.
        """
        reader = self._need_reader()
        with self._lock:
            try:
                seen = reader.inventory(antennas=list(self.antennas))
                self._reader_ok, self._reader_error = True, None
            except ReaderError as exc:
                self._reader_ok, self._reader_error = False, str(exc)
                raise DeviceUnavailable(f"the reader failed: {exc}") from exc
            out = []
            for item in seen:
                cached = self._tag_cache.get(item.uid)
                if cached is None or cached.tag is None:
                    cached = self._read_tag(item.uid, item.antenna)
                    self._tag_cache[item.uid] = cached
                out.append(cached)
            present = {i.uid for i in seen}
            for uid in [u for u in self._tag_cache if u not in present]:
                del self._tag_cache[uid]
            return out

    def _read_tag(self, uid: str, antenna: str) -> PadTag:
        reader = self._need_reader()
        try:
            memory = reader.read_blocks(uid, 0, FIRST_READ_BLOCKS)
            try:
                return PadTag(uid, antenna, decode_tag(memory))
            except TagFormatError:
                info = reader.system_info(uid)
                memory = reader.read_blocks(uid, 0, info.block_count)
                return PadTag(uid, antenna, decode_tag(memory))
        except TagFormatError as exc:
            return PadTag(uid, antenna, None, f"tag data does not decode: {exc}")
        except ReaderError as exc:
            return PadTag(uid, antenna, None, f"tag could not be read: {exc}")

    def write_security(self, uid: str, state: SecurityState) -> None:
        """Put a tag in ``state`` (AFI and/or EAS per the policy), verified by read-back.

        Raises:
            DriverError: the write failed after the reader's own retries.
        """
        reader = self._need_reader()
        target = self.security.target(state)
        with self._lock:
            if target.afi is not None:
                reader.write_afi(uid, target.afi, verify=True)
            if target.eas is not None:
                reader.set_eas(uid, target.eas)

    def read_security(self, uid: str) -> SecurityState:
        """The tag's security state read back from its AFI (``UNKNOWN`` in EAS-only mode)."""
        reader = self._need_reader()
        with self._lock:
            info = reader.system_info(uid)
        if self.security.mode != "afi":
            return SecurityState.UNKNOWN  # the EAS bit has no read command
        return self.security.interpret(info.afi)

    # ---- tag events ---------------------------------------------------------------------

    def poll_once(self) -> None:
        """One debounced inventory; publishes ``tag_arrived`` and ``tag_left`` events."""
        try:
            tags = self.scan_pad()
        except DeviceUnavailable as exc:
            log.debug("pad poll failed: %s", exc)
            return
        seen = {t.uid: t for t in tags}
        with self._lock:
            for uid, tag in seen.items():
                if uid not in self._present:
                    self.bus.publish("tag_arrived", uid=uid, item_id=tag.item_id,
                                     title=(tag.tag.elements.get("title") if tag.tag else None),
                                     antenna=tag.antenna)
                self._present[uid] = 0
            for uid in [u for u in self._present if u not in seen]:
                self._present[uid] += 1
                if self._present[uid] >= self._debounce:
                    del self._present[uid]
                    self.bus.publish("tag_left", uid=uid)

    def start_polling(self) -> None:
        """Start the background pad poller (no-op without a reader)."""
        if self.reader is None or self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._poll_loop, name="pad-poller", daemon=True)
        self._thread.start()

    def stop_polling(self) -> None:
        """Stop the poller and wait for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def _poll_loop(self) -> None:
        while not self._stop.wait(self._poll_interval):
            self.poll_once()

    # ---- card reader --------------------------------------------------------------------

    def _on_card_event(self, event: Any) -> None:
        if isinstance(event, PatronCredential):
            self._card = event
        elif type(event).__name__ in ("CardLeft", "ReaderDetached"):
            self._card = None

    def current_card(self) -> PatronCredential:
        """The credential of the card on the card reader now.

        Raises:
            DeviceUnavailable: no card reader, or no card on it.
        """
        if self.card_reader is None:
            raise DeviceUnavailable("this box has no card reader")
        if self._card is None:
            raise DeviceUnavailable("no card on the card reader")
        return self._card

    # ---- printer ------------------------------------------------------------------------

    def print_bytes(self, data: bytes) -> None:
        """Send ESC/POS bytes to the receipt printer.

        Raises:
            DeviceUnavailable: no printer configured, or it failed.
        """
        if not self.printer_url:
            raise DeviceUnavailable("no receipt printer is configured")
        opener = self._serial_opener
        if opener is None:
            import serial

            opener = serial.serial_for_url
        try:
            port = opener(self.printer_url, timeout=2, write_timeout=5)
            try:
                port.write(data)
                port.flush()
            finally:
                port.close()
        except (OSError, ValueError) as exc:
            raise DeviceUnavailable(f"the printer failed: {exc}") from exc

    # ---- status -------------------------------------------------------------------------

    def status(self) -> list[dict[str, Any]]:
        """Each device's state for ``/devices``."""
        out: list[dict[str, Any]] = []
        if self.reader is not None:
            metrics: dict[str, int] = {}
            if hasattr(self.reader, "metrics"):
                try:
                    metrics = dict(self.reader.metrics())
                except DriverError as exc:
                    log.debug("reader metrics failed: %s", exc)
            state = {True: "online", False: "offline", None: "unknown"}[self._reader_ok]
            out.append({"id": "reader", "kind": "rfid_reader", "state": state,
                        "error": self._reader_error, "metrics": metrics})
        if self.card_reader is not None:
            out.append({"id": "card_reader", "kind": "card_reader", "state": "online",
                        "card_present": self._card is not None})
        if self.printer_url:
            out.append({"id": "printer", "kind": "printer", "state": "configured"})
        return out


def build_devices(settings: Any, bus: EventBus) -> DeviceManager:
    """The production devices for ``settings`` (drivers from the registry; nothing opened)."""
    from drivers.registry import create_reader

    security = SecurityPolicy(settings.security.mode, settings.security.afi_secured,
                              settings.security.afi_released)
    reader = None
    if settings.reader.enabled:
        r = settings.reader
        reader = create_reader(r.driver, r.url, baudrate=r.baudrate, parity=r.parity,
                               com_address=r.com_address, timeout_s=r.timeout_s,
                               antennas=tuple(r.antennas), retries=r.retries,
                               reopen_after=r.reopen_after, write_retries=r.write_retries)
    card_reader = None
    if settings.card_reader.enabled and settings.device.role == "kiosk":
        try:
            from drivers.pcsc.identity import PatronIdentityRule
            from drivers.pcsc.reader import PcscCardReader

            c = settings.card_reader
            rule = PatronIdentityRule(source=c.identity if c.identity != "mapping" else "uid",
                                      uid_format=c.uid_format, uid_reversed=c.uid_reversed)
            card_reader = PcscCardReader(c.name_pattern, identity=rule)
        except (ImportError, DriverError, ValueError) as exc:
            log.warning("card reader disabled: %s", exc)
    pad = tuple(a for a in settings.reader.antennas if not a.startswith("gate")) or \
        tuple(settings.reader.antennas)
    return DeviceManager(reader, security=security, antennas=pad, card_reader=card_reader,
                         printer_url=settings.kiosk.printer_url, bus=bus,
                         poll_interval_s=settings.reader.poll_interval_ms / 1000)
