"""The devices the edge owns: the RFID pad reader, the PC/SC card reader, the serial barcode
scanner, the receipt printer.

Services never talk to drivers directly: they ask the :class:`DeviceManager` to scan the
pad, read a tag's data, write a security state, or print. The reader, card reader and
scanner are injected (constructor injection), so tests pass small fakes and production
passes the drivers built by :func:`build_devices`. A background poller (started by the
API's lifespan, stopped with it) turns debounced inventories into ``tag_arrived`` /
``tag_left`` events.

Patron credentials: the card reader's and the scanner's ``PatronCredential`` events end
up in one place, :meth:`DeviceManager.current_card` (``POST /sessions/card``). The most
recently presented credential wins: a card while it is on the reader, a scan for
``scan_ttl_s`` seconds or until the next scan, a bad scan, or the end of a session.

Must not do: circulation decisions, store writes other than device events.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from drivers.credential import PatronCredential
from drivers.errors import DriverError, PrinterStatusError, ReaderError, TagFormatError
from drivers.escpos_status import QUERIES, decode_status, status_request
from drivers.reader import Reader
from drivers.tags import SecurityPolicy, SecurityState, TagData, decode_tag
from edge.errors import DeviceUnavailable, EdgeError
from edge.services.events import Event, EventBus

if TYPE_CHECKING:
    from drivers.pcsc.reader import CardReader

log = logging.getLogger(__name__)

FIRST_READ_BLOCKS = 8
"""Blocks read first: the 32-byte ISO 28560-3 basic block; more only when that fails."""

SCAN_TTL_S = 30.0
"""How long a barcode scan stays presented for ``POST /sessions/card``."""

CardLookup = Callable[[str], str | None]
"""The ``mapping`` identity rule's look-up: the card UID formatted by the site's rule
(``uid_format``, ``uid_reversed``) -> the patron identifier, or None for an unknown card."""


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
        reader: an opened-or-not :class:`drivers.reader.Reader`, or ``None`` when the box
            has no reader.
        security: the site's security policy.
        antennas: the antenna names that make up the pad.
        card_reader: a :class:`drivers.pcsc.reader.CardReader`, or ``None``.
        scanner: a :class:`drivers.scanner.SerialBarcodeScanner` (or anything with
            ``start(on_event)`` / ``stop()``), or ``None``.
        printer_url: a pyserial URL for the ESC/POS printer (a device file, or
            ``socket://host:9100``), or ``None``.
        printer_status_timeout_s: how long :meth:`check_printer` waits for the printer's
            status replies.
        bus: where tag events go; ``session_ended`` on it drops a pending scan.
        serial_opener: ``serial.serial_for_url`` (injected for tests).
        debounce_polls: consecutive inventories a tag must miss before ``tag_left``.
        scan_ttl_s: how long a good scan stays presented.
        clock: monotonic seconds (injected for tests).
    """

    def __init__(self, reader: Reader | None, *, security: SecurityPolicy,
                 antennas: tuple[str, ...] = ("pad",), card_reader: CardReader | None = None,
                 scanner: Any | None = None,
                 printer_url: str | None = None, printer_status_timeout_s: float = 1.0,
                 bus: EventBus | None = None,
                 serial_opener: Callable[..., Any] | None = None, debounce_polls: int = 2,
                 poll_interval_s: float = 0.3, scan_ttl_s: float = SCAN_TTL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.reader = reader
        self.security = security
        self.antennas = antennas
        self.card_reader = card_reader
        self.scanner = scanner
        self.scan_ttl_s = scan_ttl_s
        self._clock = clock
        self.printer_url = printer_url
        self.printer_status_timeout_s = printer_status_timeout_s
        self._printer_lock = threading.Lock()
        self._printer_state: str | None = None
        self._printer_error: str | None = None
        self.bus = bus or EventBus()
        self._serial_opener = serial_opener
        self._debounce = debounce_polls
        self._poll_interval = poll_interval_s
        self._lock = threading.RLock()
        self._tag_cache: dict[str, PadTag] = {}
        self._placed: dict[str, float] = {}
        self._present: dict[str, int] = {}  # uid -> consecutive misses
        self._cred_lock = threading.Lock()
        self._card: PatronCredential | None = None
        self._card_error: tuple[str, str] | None = None  # (error type, message) of the card
        self._card_at = 0.0
        # the card reader itself: unknown until its monitor says; why it is missing
        self._card_reader_state = "unknown"
        self._card_reader_why: str | None = None
        self._scan: PatronCredential | None = None
        self._scan_at = 0.0
        self._scan_rejected: str | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._reader_ok: bool | None = None
        self._reader_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---- life cycle ---------------------------------------------------------------------

    def open(self) -> None:
        """Open the reader, start card and scanner events; failures are reported, not raised."""
        if self.reader is not None:
            try:
                self.reader.open()
                self._set_reader_state(True, None)
            except DriverError as exc:
                self._set_reader_state(False, str(exc))
                log.warning("reader unavailable: %s", exc)
        if self.card_reader is not None:
            try:
                self.card_reader.start(self._on_card_event)
            except DriverError as exc:
                log.warning("card reader unavailable: %s", exc)
        if self.scanner is not None:
            try:
                self.scanner.start(self._on_scan_event)
            except DriverError as exc:
                log.warning("barcode scanner unavailable: %s", exc)
        if self._unsubscribe is None and (self.card_reader is not None or self.scanner is not None):
            self._unsubscribe = self.bus.subscribe(self._on_bus_event)

    def close(self) -> None:
        """Stop polling and close the devices."""
        self.stop_polling()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self.card_reader is not None:
            try:
                self.card_reader.stop()
            except DriverError as exc:
                log.warning("card reader stop failed: %s", exc)
        if self.scanner is not None:
            try:
                self.scanner.stop()
            except DriverError as exc:
                log.warning("barcode scanner stop failed: %s", exc)
        if self.reader is not None:
            try:
                self.reader.close()
            except DriverError as exc:
                log.warning("reader close failed: %s", exc)

    # ---- the pad ------------------------------------------------------------------------

    def _set_reader_state(self, ok: bool, error: str | None) -> None:
        changed = self._reader_ok != ok
        self._reader_ok, self._reader_error = ok, (None if ok else error)
        if changed:  # the pad reader's health, for the box's status (``reader_state`` events)
            self.bus.publish("reader_state", device="reader", state="online" if ok else "offline",
                             error=self._reader_error)

    def _need_reader(self) -> Reader:
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
                self._set_reader_state(True, None)
            except ReaderError as exc:
                self._set_reader_state(False, str(exc))
                raise DeviceUnavailable(f"the reader failed: {exc}") from exc
            out = []
            for item in seen:
                cached = self._tag_cache.get(item.uid)
                if cached is None or cached.tag is None:
                    cached = self._read_tag(item.uid, item.antenna)
                    self._tag_cache[item.uid] = cached
                self._placed.setdefault(item.uid, time.time())
                out.append(cached)
            present = {i.uid for i in seen}
            for uid in [u for u in self._tag_cache if u not in present]:
                del self._tag_cache[uid]
            for uid in [u for u in self._placed if u not in present]:
                del self._placed[uid]
            return out

    def placed_at(self, uid: str) -> float | None:
        """When (``time.time()``) the tag ``uid`` was first seen on the pad in the
        inventories since it last left it; None when the last inventory did not see it, or
        when the pad poller is not running (then a tag taken away and put back between two
        inventories is not noticed, and the time says nothing)."""
        if self._thread is None or not self._thread.is_alive():
            return None
        with self._lock:
            return self._placed.get(uid)

    def _read_tag(self, uid: str, antenna: str) -> PadTag:
        reader = self._need_reader()
        try:
            read_tag_data = getattr(reader, "read_tag_data", None)
            if read_tag_data is not None:  # UHF (LLRP): the item is in the EPC bank
                return PadTag(uid, antenna, read_tag_data(uid))
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

    # ---- card reader and scanner ------------------------------------------------------
    # Event classes are matched by name: importing drivers.pcsc would import pyscard, which
    # a gate or a box without a card reader need not have.

    def _on_card_event(self, event: Any) -> None:
        name = type(event).__name__
        with self._cred_lock:
            if isinstance(event, PatronCredential):
                self._card, self._card_error, self._card_at = event, None, self._clock()
            elif name == "CardUnreadable":
                self._card = None
                self._card_error = (str(event.error_type), str(event.error))
                self._card_at = self._clock()
            elif name in ("CardInserted", "CardLeft", "ReaderDetached"):
                self._card, self._card_error = None, None
            if name == "ReaderAttached":
                self._card_reader_state, self._card_reader_why = "online", None
            elif name == "ReaderDetached":
                self._card_reader_state = "offline"
                self._card_reader_why = "the card reader went away"
            elif name == "ReaderMissing":
                self._card, self._card_error = None, None
                self._card_reader_state = "offline"
                self._card_reader_why = str(event.why)

    def _on_scan_event(self, event: Any) -> None:
        with self._cred_lock:
            if isinstance(event, PatronCredential):
                self._scan, self._scan_at, self._scan_rejected = event, self._clock(), None
            elif type(event).__name__ == "ScanRejected":
                # a new attempt that failed: the previous scan is no longer what is presented
                self._scan, self._scan_rejected = None, str(event.reason)

    def _on_bus_event(self, event: Event) -> None:
        if event.get("type") == "session_ended":
            with self._cred_lock:
                self._scan = None

    def _fresh_scan(self) -> PatronCredential | None:
        if self._scan is not None and self._clock() - self._scan_at > self.scan_ttl_s:
            self._scan = None
        return self._scan

    def current_card(self) -> PatronCredential:
        """The patron credential presented now: the card on the reader or a recent scan.

        When both are there the more recent wins. A card that the identity rule refused is
        reported as an error, never as its raw UID.

        Raises:
            EdgeError: ``unknown_patron``: the card on the reader is no patron card, or its
                UID is not in the mapping.
            DeviceUnavailable: no card reader or scanner; nothing presented; the card on the
                reader could not be read (a timeout, a card error, a failed look-up).
        """
        if self.card_reader is None and self.scanner is None:
            raise DeviceUnavailable("this box has no card reader or barcode scanner")
        with self._cred_lock:
            scan = self._fresh_scan()
            card, card_error, card_at = self._card, self._card_error, self._card_at
            if scan is not None and ((card is None and card_error is None)
                                     or self._scan_at >= card_at):
                return scan
        if card is not None:
            return card
        if card_error is not None:
            error_type, message = card_error
            if error_type == "PatronIdentityError":
                raise EdgeError("unknown_patron", f"the card on the reader: {message}")
            raise DeviceUnavailable(f"the card on the reader could not be read ({error_type})",
                                    error_type=error_type)
        if self.card_reader is not None and self._card_reader_state == "offline":
            raise DeviceUnavailable(f"the card reader is not available: {self._card_reader_why}",
                                    card_reader="offline")
        raise DeviceUnavailable("no card on the card reader" if self.card_reader is not None
                                else "no barcode scanned")

    def card_reader_state(self) -> str | None:
        """The card reader's state (``online``, ``offline``, ``unknown`` until its monitor
        has said), or ``None`` on a box without one."""
        return None if self.card_reader is None else self._card_reader_state

    # ---- printer ------------------------------------------------------------------------

    def _opener(self) -> Callable[..., Any]:
        if self._serial_opener is not None:
            return self._serial_opener
        import serial

        return serial.serial_for_url  # type: ignore[no-any-return]

    def print_bytes(self, data: bytes) -> None:
        """Send ESC/POS bytes to the receipt printer. A failure is reported as the printer's
        state ``error`` (a ``printer_state`` event); after a failure, the next good print
        asks the printer its status again.

        Raises:
            DeviceUnavailable: no printer configured, or it failed.
        """
        if not self.printer_url:
            raise DeviceUnavailable("no receipt printer is configured")
        opener = self._opener()
        with self._printer_lock:
            try:
                port = opener(self.printer_url, timeout=2, write_timeout=5)
                try:
                    port.write(data)
                    port.flush()
                finally:
                    port.close()
            except (OSError, ValueError) as exc:
                self._set_printer_state("error", f"the last print failed: {exc}")
                raise DeviceUnavailable(f"the printer failed: {exc}") from exc
            failed_before = self._printer_state in ("error", "unreachable")
        if failed_before:
            self.check_printer()

    def check_printer(self) -> str | None:
        """Ask the receipt printer its real-time status (``DLE EOT 1-4``) and report it
        (a ``printer_state`` event when it changed).

        Returns:
            What its answer says (``ok``, ``paper_low``, ``paper_out``, ``cover_open``,
            ``error``, ``offline``); ``reachable`` when the port takes the request but no
            status comes back in time (a write-only device file, a printer without
            real-time status) or the answer does not decode; ``unreachable`` when the port
            cannot be opened or written; None without a printer.
        """
        if not self.printer_url:
            return None
        opener = self._opener()
        error: str | None = None
        with self._printer_lock:
            try:
                port = opener(self.printer_url, timeout=self.printer_status_timeout_s,
                              write_timeout=2)
            except (OSError, ValueError) as exc:
                state, error = "unreachable", f"cannot open {self.printer_url}: {exc}"
            else:
                try:
                    port.write(status_request())
                    port.flush()
                    reply = self._status_reply(port)
                except (OSError, ValueError) as exc:
                    state, error, reply = "unreachable", f"cannot query the printer: {exc}", b""
                else:
                    state = "reachable"
                finally:
                    port.close()
                if reply:
                    try:
                        state = decode_status(reply).state
                    except PrinterStatusError as exc:
                        state, error = "reachable", str(exc)
        self._set_printer_state(state, error)
        return state

    def _status_reply(self, port: Any) -> bytes:
        """Up to one byte per request, until the port's read timeout passes with none."""
        reply = b""
        deadline = self._clock() + self.printer_status_timeout_s
        while len(reply) < len(QUERIES) and self._clock() < deadline:
            chunk = port.read(len(QUERIES) - len(reply))
            if not chunk:
                break
            reply += bytes(chunk)
        return reply

    def _set_printer_state(self, state: str, error: str | None) -> None:
        changed = (state, error) != (self._printer_state, self._printer_error)
        self._printer_state, self._printer_error = state, error
        if changed:  # the receipt printer's health, for the box's status and the centre
            log.log(logging.INFO if state in ("ok", "paper_low") else logging.WARNING,
                    "receipt printer: %s%s", state, f" ({error})" if error else "")
            self.bus.publish("printer_state", device="printer", state=state, error=error)

    # ---- status -------------------------------------------------------------------------

    def status(self) -> list[dict[str, Any]]:
        """Each device's state for ``/devices``."""
        out: list[dict[str, Any]] = []
        if self.reader is not None:
            metrics: dict[str, int] = {}
            try:
                metrics = dict(self.reader.metrics())
            except DriverError as exc:
                log.debug("reader metrics failed: %s", exc)
            state = {True: "online", False: "offline", None: "unknown"}[self._reader_ok]
            out.append({"id": "reader", "kind": "rfid_reader", "state": state,
                        "error": self._reader_error, "metrics": metrics})
        if self.card_reader is not None:
            out.append({"id": "card_reader", "kind": "card_reader",
                        "state": self._card_reader_state, "error": self._card_reader_why,
                        "card_present": self._card is not None,
                        "card_error": self._card_error[0] if self._card_error else None})
        if self.scanner is not None:
            port_open = getattr(self.scanner, "port_open", None)
            state = "unknown" if port_open is None else (
                "online" if port_open.is_set() else "offline")
            with self._cred_lock:
                pending = self._fresh_scan() is not None
            out.append({"id": "scanner", "kind": "barcode_scanner", "state": state,
                        "scan_pending": pending, "last_rejected": self._scan_rejected})
        if self.printer_url:
            out.append({"id": "printer", "kind": "printer",
                        "state": self._printer_state or "configured",
                        "error": self._printer_error})
        return out


def build_devices(settings: Any, bus: EventBus, *,
                  card_lookup: CardLookup | None = None) -> DeviceManager:
    """The production devices for ``settings`` (drivers from the registry; nothing opened).

    Args:
        settings: the edge's settings.
        bus: the event bus.
        card_lookup: for ``card_reader.identity = "mapping"``: formatted UID -> patron id
            from the edge's cache. Without it a ``mapping`` card reader is not built (a
            warning says why): cards are never identified by their raw UID instead.
    """
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
    scanner = None
    c = settings.card_reader
    kiosk = settings.device.role == "kiosk"
    if c.enabled and kiosk:
        if c.identity == "mapping" and card_lookup is None:
            log.warning("card reader disabled: identity 'mapping' needs the cache's "
                        "UID-to-patron look-up, and none was given")
        else:
            try:
                from drivers.pcsc.identity import PatronIdentityRule
                from drivers.pcsc.reader import PcscCardReader

                rule = PatronIdentityRule(
                    source=c.identity, uid_format=c.uid_format, uid_reversed=c.uid_reversed,
                    mapping=card_lookup if c.identity == "mapping" else None)
                card_reader = PcscCardReader(c.name_pattern, identity=rule)
            except (ImportError, DriverError, ValueError) as exc:
                log.warning("card reader disabled: %s", exc)
    if c.scanner_url and kiosk:
        from drivers.scanner import SerialBarcodeScanner

        scanner = SerialBarcodeScanner(c.scanner_url, prefix=c.scanner_prefix,
                                       suffix=c.scanner_suffix)
    pad = tuple(a for a in settings.reader.antennas if not a.startswith("gate")) or \
        tuple(settings.reader.antennas)
    return DeviceManager(reader, security=security, antennas=pad, card_reader=card_reader,
                         scanner=scanner, printer_url=settings.kiosk.printer_url,
                         printer_status_timeout_s=settings.printer.status_timeout_s, bus=bus,
                         poll_interval_s=settings.reader.poll_interval_ms / 1000)
