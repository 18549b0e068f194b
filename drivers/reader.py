"""The vendor-neutral RFID reader interface: :class:`Reader` and its typed results.

Public methods validate their arguments, retry transient failures, count every failure,
log, and call one protected hook per operation (``_inventory``, ``_read_blocks`` …) that a
vendor module implements. This module knows no vendor and does no I/O itself.

Failure policy (the same for every vendor):

* a timeout or a bad frame (:class:`ReaderTimeout`, :class:`FrameError`) is retried up to
  ``retries`` times; after ``reopen_after`` consecutive failures the port is closed and
  reopened; a vanished port (:class:`ReaderDisconnected`) is reopened at once;
* a definite answer from the reader (an error STATUS) is not retried, except the
  statuses a vendor lists in :attr:`Reader.transient_statuses` (for FEIG: a tag that
  answered badly this time), which :meth:`Reader._is_transient` asks;
* a tag write is verified by reading it back and retried up to ``write_retries`` times
  (AFI writes fail often on library stacks). Before each retry the tag is read first, so
  a write whose answer was lost is not written twice;
* counters (``<op>_calls``, ``<op>_failures`` for operations that failed for the caller,
  ``<op>_retries`` for failed attempts, plus ``timeouts``, ``frame_errors``, ``reopens``)
  are returned by :meth:`Reader.metrics`.
"""

from __future__ import annotations

import abc
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, TypeVar

from drivers._checks import check_block_range, check_bytes, check_int
from drivers.errors import (
    DriverArgumentError,
    DriverArgumentTypeError,
    DriverIndexError,
    FrameError,
    ReaderDisconnected,
    ReaderError,
    ReaderStatusError,
    ReaderTimeout,
    TagLocked,
    TagNotFound,
    WriteFailed,
)

log = logging.getLogger("drivers.reader")

T = TypeVar("T")

OutputState = Literal["on", "off", "flash"] | None
_OUTPUT_STATES = ("on", "off", "flash", None)


# ---- typed results -----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class InventoryItem:
    """A tag seen by an inventory.

    Attributes:
        uid: the UID as 16 upper-case hex digits, most significant byte (E0) first (a UHF
            reader: the EPC/UII in hex, any even number of bytes).
        dsfid: the tag's data storage format identifier (0 on UHF).
        antenna: the configured name of the antenna that saw it (e.g. ``pad``).
        rssi: the peak RSSI in dBm when the reader reports one (UHF), else None.
    """

    uid: str
    dsfid: int
    antenna: str
    rssi: int | None = None


@dataclass(frozen=True, slots=True)
class SystemInfo:
    """A tag's Get System Information answer."""

    uid: str
    dsfid: int
    afi: int
    block_size: int
    block_count: int
    ic_ref: int


@dataclass(frozen=True, slots=True)
class ReaderInfo:
    """What the reader says about itself."""

    vendor: str
    model: str
    firmware: str
    details: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Inputs:
    """Digital inputs: ``raw`` bit 0 is IN1 (on gates, IR beam A), bit 1 IN2 (beam B) …"""

    raw: int

    def __getitem__(self, number: int) -> bool:
        """``inputs[1]`` is IN1."""
        if isinstance(number, bool) or not isinstance(number, int):
            raise DriverArgumentTypeError(f"input number must be an integer >= 1, got {number!r}")
        if number < 1:
            raise DriverIndexError(f"inputs are numbered from 1, got {number}")
        return bool(self.raw >> (number - 1) & 1)


@dataclass(frozen=True, slots=True)
class TagEvent:
    """A record of the reader's buffered-read mode (gates): a tag seen at an antenna."""

    uid: str
    antenna: str | None
    time_ms: int | None
    direction: int | None = None


@dataclass(frozen=True, slots=True)
class BufferStatus:
    """How many records the reader's buffer holds."""

    size: int
    start: int
    length: int


def normalize_uid(uid: str | bytes) -> bytes:
    """8 UID bytes (E0 first) from hex text (spaces or colons allowed) or bytes.

    Raises:
        DriverArgumentTypeError: neither text nor bytes.
        DriverArgumentError: not 8 bytes of hex (also a ``ValueError``).
    """
    if isinstance(uid, (bytes, bytearray, memoryview)):
        raw = bytes(uid)
    elif isinstance(uid, str):
        text = uid.replace(" ", "").replace(":", "")
        try:
            raw = bytes.fromhex(text)
        except ValueError as exc:
            raise DriverArgumentError(
                f"UID must be 16 hex digits (8 bytes, spaces or colons allowed), got {uid!r}") from exc
    else:
        raise DriverArgumentTypeError(
            f"UID must be hex text or 8 bytes, got {type(uid).__name__} {uid!r}")
    if len(raw) != 8:
        raise DriverArgumentError(f"UID must be 8 bytes (16 hex digits), got {len(raw)} bytes ({uid!r})")
    return raw


def uid_text(uid: bytes) -> str:
    """Upper-case hex of a UID."""
    return uid.hex().upper()


# ---- the interface -------------------------------------------------------------------------

class Reader(abc.ABC):
    """An ISO 15693 reader. Vendors implement the ``_hooks``; callers use the public methods.

    Args:
        antennas: antenna names in reader order (antenna 1 first).
        retries: extra attempts after a timeout or a bad frame.
        reopen_after: consecutive failures after which the port is reopened.
        write_retries: extra attempts for a tag write that failed or did not verify.
        block_size: the tag's block size in bytes (4 for ICODE SLIX).
        afi_cache_size: UIDs whose AFI is remembered for ``inventory(afi=...)``.

    Every public method rejects bad arguments (a UID that is not 8 bytes of hex, an AFI or
    DSFID outside 0..255, a block range off blocks 0..255, an unknown antenna) with
    :class:`~drivers.errors.DriverArgumentError` before anything is sent to the reader.

    Raises:
        DriverArgumentError: a bad constructor argument.
    """

    vendor = "generic"
    transient_statuses: ClassVar[frozenset[int]] = frozenset()
    """The vendor's STATUS bytes that mean "the tag answered badly this time": worth another
    attempt (none unless the vendor lists them)."""

    def __init__(self, *, antennas: Sequence[str] = ("pad",), retries: int = 2,
                 reopen_after: int = 3, write_retries: int = 8, block_size: int = 4,
                 afi_cache_size: int = 4096) -> None:
        if isinstance(antennas, str) or not antennas:
            raise DriverArgumentError(
                f"a reader needs a sequence of at least one antenna name, got {antennas!r}")
        if len(set(antennas)) != len(antennas) or len(antennas) > 8:
            raise DriverArgumentError(f"antenna names must be unique and at most 8, got {list(antennas)}")
        check_int("retries", retries, 0, 1000)
        check_int("write_retries", write_retries, 0, 1000)
        check_int("reopen_after", reopen_after, 1, 1000)
        check_int("block size", block_size, 1, 32)
        check_int("afi_cache_size", afi_cache_size, 1, 10_000_000)
        self.antennas = tuple(antennas)
        self.retries = retries
        self.reopen_after = reopen_after
        self.write_retries = write_retries
        self.block_size = block_size
        self._afi_cache: dict[bytes, int] = {}
        self._afi_cache_size = afi_cache_size
        self._counters: dict[str, int] = {}
        self._consecutive = 0
        self._lock = threading.RLock()
        self._is_open = False

    # ---- life cycle ----------------------------------------------------------------------

    def open(self) -> Reader:
        """Open the connection to the reader.

        Raises:
            ReaderDisconnected: the port cannot be opened.
        """
        with self._lock:
            if not self._is_open:
                self._open()
                self._is_open = True
        return self

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with self._lock:
            if self._is_open:
                self._is_open = False
                self._close()

    @property
    def is_open(self) -> bool:
        return self._is_open

    def __enter__(self) -> Reader:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def metrics(self) -> dict[str, int]:
        """A snapshot of the counters (calls, failures, retries, timeouts, reopens …)."""
        with self._lock:
            return dict(self._counters)

    def _count(self, name: str, n: int = 1) -> None:
        self._counters[name] = self._counters.get(name, 0) + n

    # ---- the retry core ------------------------------------------------------------------

    def _reopen(self) -> None:
        self._count("reopens")
        log.warning("%s: reopening the reader port after %d consecutive failures",
                    self.vendor, self._consecutive)
        self._consecutive = 0
        try:
            self._close()
        except ReaderError as exc:
            log.debug("close before reopen failed: %s", exc)
        self._is_open = False
        self._open()
        self._is_open = True

    def _attempt(self, op: str, fn: Callable[[], T]) -> T:
        """Run ``fn`` once with transient-failure retries and reopen; no call counting."""
        if not self._is_open:
            self.open()
        attempts = self.retries + 1
        last: ReaderError | None = None
        for n in range(attempts):
            try:
                result = fn()
            except ReaderDisconnected as exc:
                last = exc
                self._count(f"{op}_retries")
                self._count("disconnects")
                self._consecutive = self.reopen_after
            except (ReaderTimeout, FrameError) as exc:
                last = exc
                self._count(f"{op}_retries")
                self._count("timeouts" if isinstance(exc, ReaderTimeout) else "frame_errors")
                self._consecutive += 1
            except ReaderStatusError as exc:
                if not self._is_transient(exc):
                    self._consecutive = 0
                    raise
                last = exc
                self._count(f"{op}_retries")
                self._consecutive = 0
            else:
                self._consecutive = 0
                return result
            log.info("%s attempt %d/%d failed: %s", op, n + 1, attempts, last)
            if self._consecutive >= self.reopen_after:
                try:
                    self._reopen()
                except ReaderDisconnected as exc:
                    self._consecutive = self.reopen_after
                    last = exc
                    if n + 1 < attempts:
                        time.sleep(0.05)
        if last is None:  # unreachable: attempts >= 1 and every failure sets it
            raise ReaderError(f"{op}: no attempt was made")
        raise last

    def _run(self, op: str, fn: Callable[[], T]) -> T:
        with self._lock:
            self._count(f"{op}_calls")
            try:
                return self._attempt(op, fn)
            except ReaderError:
                self._count(f"{op}_failures")
                raise

    # ---- public operations ---------------------------------------------------------------

    def _antenna_numbers(self, antennas: Iterable[str | int] | None) -> list[int]:
        if antennas is None:
            return list(range(1, len(self.antennas) + 1))
        if isinstance(antennas, (str, int)):
            antennas = [antennas]
        out = []
        for a in antennas:
            if isinstance(a, int):
                if isinstance(a, bool) or not 1 <= a <= len(self.antennas):
                    raise DriverArgumentError(
                        f"antenna number must be 1..{len(self.antennas)}, got {a!r}")
                out.append(a)
            elif a in self.antennas:
                out.append(self.antennas.index(a) + 1)
            else:
                raise DriverArgumentError(
                    f"unknown antenna {a!r}; expected a name of {list(self.antennas)} "
                    f"or a number 1..{len(self.antennas)}")
        if not out:
            raise DriverArgumentError("no antenna selected; expected at least one name or number")
        return sorted(set(out))

    def inventory(self, antennas: Iterable[str | int] | str | None = None,
                  afi: int | None = None) -> list[InventoryItem]:
        """Every tag in the field of the given antennas (all by default).

        Follows "more data" answers to the end. With ``afi``, only tags whose AFI equals
        it are returned; each new UID's AFI is read once with Get System Information and
        cached (the host-mode inventory has no AFI filter).

        Raises:
            DriverArgumentError: an unknown antenna or an AFI outside 0..255.
            ReaderTimeout, FrameError, ReaderDisconnected, ReaderStatusError.
        """
        numbers = self._antenna_numbers(antennas)
        if afi is not None:
            check_int("AFI", afi, 0, 0xFF)

        def run() -> list[InventoryItem]:
            seen = self._inventory(numbers)
            items, uids = [], set()
            for uid, dsfid, ant, *rssi in seen:
                if uid in uids:
                    continue
                uids.add(uid)
                name = self.antennas[ant - 1] if ant and 1 <= ant <= len(self.antennas) else self.antennas[numbers[0] - 1]
                items.append(InventoryItem(uid_text(uid), dsfid, name, rssi[0] if rssi else None))
            return items

        items = self._run("inventory", run)
        if len(numbers) == len(self.antennas):
            present = {self._uid(i.uid) for i in items}
            for gone in [u for u in self._afi_cache if u not in present]:
                del self._afi_cache[gone]
        if afi is None:
            return items
        out = []
        for item in items:
            raw = self._uid(item.uid)
            if raw not in self._afi_cache:
                try:
                    info = self.system_info(item.uid)
                except TagNotFound:
                    continue  # it left between the inventory and the question
                self._remember_afi(raw, info.afi)
            if self._afi_cache.get(raw) == afi:
                out.append(item)
        return out

    def _remember_afi(self, uid: bytes, afi: int) -> None:
        if len(self._afi_cache) >= self._afi_cache_size:
            self._afi_cache.pop(next(iter(self._afi_cache)))
        self._afi_cache[uid] = afi

    def read_blocks(self, uid: str | bytes, first: int, count: int) -> bytes:
        """``count`` blocks from ``first``, in tag-memory byte order.

        Raises:
            DriverArgumentError: a bad UID, or blocks outside 0..255 or a count below 1.
            TagNotFound: the tag does not answer.
            ReaderStatusError: the reader refused (e.g. block out of range).
        """
        raw = self._uid(uid)
        check_block_range(first, count)
        return self._run("read_blocks", lambda: self._read_blocks(raw, first, count))

    def write_blocks(self, uid: str | bytes, first: int, data: bytes, verify: bool = True) -> None:
        """Write ``data`` (a whole number of blocks) from block ``first``, then verify it.

        Raises:
            DriverArgumentError: a bad UID, data not a whole number of blocks, or blocks
                outside 0..255.
            TagLocked: a block is locked (ISO error 0x12); nothing is retried.
            TagNotFound: the tag left and did not come back within the retries.
            WriteFailed: the write failed or did not read back equal after all retries.
        """
        raw = self._uid(uid)
        data = check_bytes("data", data)
        if not data or len(data) % self.block_size:
            raise DriverArgumentError(
                f"data must be a non-empty multiple of the {self.block_size}-byte block size, "
                f"got {len(data)} bytes")
        count = len(data) // self.block_size
        check_block_range(first, count)
        self._verified_write(
            "write_blocks",
            lambda: self._write_blocks(raw, first, data),
            (lambda: self._read_blocks(raw, first, count) == data) if verify else None)

    def write_afi(self, uid: str | bytes, afi: int, verify: bool = True) -> None:
        """Set the tag's AFI and verify it with Get System Information.

        Raises:
            DriverArgumentError: a bad UID or an AFI outside 0..255.
            TagLocked, TagNotFound, WriteFailed: as for :meth:`write_blocks`.
        """
        raw = self._uid(uid)
        check_int("AFI", afi, 0, 0xFF)
        self._verified_write(
            "write_afi", lambda: self._write_afi(raw, afi),
            (lambda: self._system_info(raw).afi == afi) if verify else None)
        self._remember_afi(raw, afi)

    def lock_afi(self, uid: str | bytes) -> None:
        """Lock the tag's AFI for good.

        Raises:
            TagLocked: already locked.
        """
        raw = self._uid(uid)
        self._run("lock_afi", lambda: self._status_to_write_error(lambda: self._lock_afi(raw)))

    def write_dsfid(self, uid: str | bytes, dsfid: int, verify: bool = True) -> None:
        """Set the tag's DSFID (0x06 for ISO 28560-2) and verify it with Get System Information.

        Raises:
            DriverArgumentError: a bad UID or a DSFID outside 0..255.
            TagLocked: the DSFID is locked (ISO error 0x12); nothing is retried.
            TagNotFound, WriteFailed: as for :meth:`write_blocks`.
        """
        raw = self._uid(uid)
        check_int("DSFID", dsfid, 0, 0xFF)
        self._verified_write(
            "write_dsfid", lambda: self._write_dsfid(raw, dsfid),
            (lambda: self._system_info(raw).dsfid == dsfid) if verify else None)

    def lock_dsfid(self, uid: str | bytes) -> None:
        """Lock the tag's DSFID for good.

        Raises:
            TagLocked: already locked.
        """
        raw = self._uid(uid)
        self._run("lock_dsfid", lambda: self._status_to_write_error(lambda: self._lock_dsfid(raw)))

    def block_security(self, uid: str | bytes, first: int, count: int) -> tuple[int, ...]:
        """The security status byte of ``count`` blocks from ``first`` (bit 0 = locked).

        Raises:
            DriverArgumentError: a bad UID, or blocks outside 0..255 or a count below 1.
            TagNotFound: the tag does not answer.
            ReaderStatusError: the reader refused (e.g. block out of range).
        """
        raw = self._uid(uid)
        check_block_range(first, count)

        def run() -> tuple[int, ...]:
            sec = self._block_security(raw, first, count)
            if len(sec) != count:
                raise FrameError(f"asked for {count} security statuses, got {len(sec)}")
            return sec

        return self._run("block_security", run)

    def select(self, uid: str | bytes) -> None:
        """Put one tag in the Selected state (any tag selected before returns to Ready)."""
        raw = self._uid(uid)
        self._run("select", lambda: self._select(raw))

    def stay_quiet(self, uid: str | bytes) -> None:
        """Make a tag stop answering inventories until :meth:`reset_to_ready`, a select,
        an RF reset or leaving the field."""
        raw = self._uid(uid)
        self._run("stay_quiet", lambda: self._stay_quiet(raw))

    def reset_to_ready(self, uid: str | bytes | None = None) -> None:
        """Return one tag (or, with no UID, every tag in the field) to the Ready state."""
        raw = self._uid(uid) if uid is not None else None
        self._run("reset_to_ready", lambda: self._reset_to_ready(raw))

    def set_eas(self, uid: str | bytes, on: bool) -> None:
        """Set or reset the NXP EAS bit (no read-back exists; retried like a write)."""
        raw = self._uid(uid)
        self._verified_write("set_eas", lambda: self._set_eas(raw, on), None)

    def eas_alarm(self) -> bool:
        """True when any tag in the field has its EAS bit set."""
        return self._run("eas_alarm", self._eas_alarm)

    def system_info(self, uid: str | bytes) -> SystemInfo:
        """Get System Information of one tag."""
        raw = self._uid(uid)
        return self._run("system_info", lambda: self._system_info(raw))

    def reader_info(self) -> ReaderInfo:
        """What the reader reports about itself."""
        return self._run("reader_info", self._reader_info)

    def set_outputs(self, *, green: OutputState = None, red: OutputState = None,
                    buzzer: OutputState = None, relay: OutputState = None,
                    duration_s: float = 1.0) -> None:
        """Switch the LEDs, buzzer and relay for ``duration_s`` (None leaves one unchanged).

        Raises:
            DriverArgumentError: an unknown state or a duration outside 0.1..6553.5 s.
        """
        for name, v in (("green", green), ("red", red), ("buzzer", buzzer), ("relay", relay)):
            if v not in _OUTPUT_STATES:
                raise DriverArgumentError(f"{name} must be 'on', 'off', 'flash' or None, got {v!r}")
        if isinstance(duration_s, bool) or not isinstance(duration_s, (int, float)):
            raise DriverArgumentTypeError(
                f"duration must be a number of seconds 0.1..6553.5, got {duration_s!r}")
        if not 0 < duration_s <= 6553.5:
            raise DriverArgumentError(f"duration must be 0.1..6553.5 s, got {duration_s}")
        self._run("set_outputs", lambda: self._set_outputs(green, red, buzzer, relay, duration_s))

    def read_inputs(self) -> Inputs:
        """The digital inputs (IR beams on gates)."""
        return self._run("read_inputs", self._read_inputs)

    def rf_reset(self) -> None:
        """Switch the RF field off and on, so every tag starts afresh."""
        self._run("rf_reset", self._rf_reset)

    # ---- buffered-read mode (gates) ----------------------------------------------------

    def buffer_status(self) -> BufferStatus:
        """How many records the reader's buffer holds."""
        return self._run("buffer_status", self._buffer_status)

    def read_buffer(self, max_records: int = 255, clear: bool = True) -> list[TagEvent]:
        """Records the reader buffered since the last call; ``clear`` removes them after."""
        check_int("max_records", max_records, 1, 0xFFFF)

        def run() -> list[TagEvent]:
            events = self._read_buffer(max_records)
            if clear and events:
                self._clear_buffer()
            return events

        return self._run("read_buffer", run)

    def clear_buffer(self) -> None:
        self._run("clear_buffer", self._clear_buffer)

    def init_buffer(self) -> None:
        """Empty the buffer and restart its recording."""
        self._run("init_buffer", self._init_buffer)

    # ---- writes with verification --------------------------------------------------------

    def _status_to_write_error(self, fn: Callable[[], None]) -> None:
        try:
            fn()
        except TagNotFound:
            raise
        except ReaderStatusError as exc:
            if exc.iso_error == 0x12 or exc.iso_error == 0x11:
                raise TagLocked(str(exc)) from exc
            raise

    def _verified_write(self, op: str, write: Callable[[], None],
                        check: Callable[[], bool] | None) -> None:
        with self._lock:
            self._count(f"{op}_calls")
            last: ReaderError | None = None
            for n in range(self.write_retries + 1):
                if n and check is not None:
                    # The last answer may have been lost after the tag was written.
                    try:
                        if self._attempt(op, check):
                            return
                    except TagLocked:
                        raise
                    except ReaderError as exc:
                        last = exc
                        self._count(f"{op}_retries")
                        continue
                try:
                    self._attempt(op, lambda: self._status_to_write_error(write))
                    if check is None or self._attempt(op, check):
                        return
                    last = WriteFailed(f"{op}: the tag did not read back what was written")
                except TagLocked:
                    self._count(f"{op}_failures")
                    raise
                except ReaderError as exc:
                    last = exc
                self._count(f"{op}_retries")
                log.info("%s attempt %d/%d failed: %s", op, n + 1, self.write_retries + 1, last)
            self._count(f"{op}_failures")
            if isinstance(last, (TagNotFound, ReaderTimeout, ReaderDisconnected, WriteFailed)):
                raise last
            raise WriteFailed(f"{op} failed after {self.write_retries + 1} attempts: {last}") from last

    # ---- vendor hooks ----------------------------------------------------------------------

    def _uid(self, uid: str | bytes) -> bytes:
        """A caller's UID as bytes (ISO 15693: 8 bytes); a UHF reader accepts an EPC.

        Raises:
            DriverArgumentError: not a UID of this reader's kind.
        """
        return normalize_uid(uid)

    @abc.abstractmethod
    def _open(self) -> None: ...

    @abc.abstractmethod
    def _close(self) -> None: ...

    @abc.abstractmethod
    def _inventory(self, antennas: list[int]) -> list[tuple[Any, ...]]:
        """``(uid, dsfid, antenna number or None)`` for every tag answering, optionally
        followed by the peak RSSI in dBm."""

    @abc.abstractmethod
    def _read_blocks(self, uid: bytes, first: int, count: int) -> bytes: ...

    @abc.abstractmethod
    def _write_blocks(self, uid: bytes, first: int, data: bytes) -> None: ...

    @abc.abstractmethod
    def _write_afi(self, uid: bytes, afi: int) -> None: ...

    @abc.abstractmethod
    def _lock_afi(self, uid: bytes) -> None: ...

    @abc.abstractmethod
    def _set_eas(self, uid: bytes, on: bool) -> None: ...

    @abc.abstractmethod
    def _eas_alarm(self) -> bool: ...

    @abc.abstractmethod
    def _system_info(self, uid: bytes) -> SystemInfo: ...

    @abc.abstractmethod
    def _reader_info(self) -> ReaderInfo: ...

    @abc.abstractmethod
    def _set_outputs(self, green: OutputState, red: OutputState, buzzer: OutputState,
                     relay: OutputState, duration_s: float) -> None: ...

    @abc.abstractmethod
    def _read_inputs(self) -> Inputs: ...

    @abc.abstractmethod
    def _rf_reset(self) -> None: ...

    def _is_transient(self, exc: ReaderStatusError) -> bool:
        """True when the reader's error answer is worth another attempt.

        By default: its status is one of :attr:`transient_statuses`.
        """
        return exc.status in self.transient_statuses

    # Optional ISO 15693 commands: a vendor without them answers with a clear error.

    def _write_dsfid(self, uid: bytes, dsfid: int) -> None:
        raise ReaderError(f"{self.vendor} readers cannot write the DSFID")

    def _lock_dsfid(self, uid: bytes) -> None:
        raise ReaderError(f"{self.vendor} readers cannot lock the DSFID")

    def _block_security(self, uid: bytes, first: int, count: int) -> tuple[int, ...]:
        raise ReaderError(f"{self.vendor} readers cannot read block security status")

    def _select(self, uid: bytes) -> None:
        raise ReaderError(f"{self.vendor} readers cannot select a tag")

    def _stay_quiet(self, uid: bytes) -> None:
        raise ReaderError(f"{self.vendor} readers cannot send Stay Quiet")

    def _reset_to_ready(self, uid: bytes | None) -> None:
        raise ReaderError(f"{self.vendor} readers cannot send Reset to Ready")

    def _buffer_status(self) -> BufferStatus:
        raise ReaderError(f"{self.vendor} readers have no buffered-read mode")

    def _read_buffer(self, max_records: int) -> list[TagEvent]:
        raise ReaderError(f"{self.vendor} readers have no buffered-read mode")

    def _clear_buffer(self) -> None:
        raise ReaderError(f"{self.vendor} readers have no buffered-read mode")

    def _init_buffer(self) -> None:
        raise ReaderError(f"{self.vendor} readers have no buffered-read mode")
