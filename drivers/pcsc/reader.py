"""PC/SC card readers through pyscard: a small :class:`CardReader` interface and its
pcsc-lite implementation :class:`PcscCardReader`.

The monitor is an explicit loop over ``SCardListReaders`` and ``SCardGetStatusChange``
rather than pyscard's observer classes, so that it can re-establish its context after
pcscd restarts and report readers coming and going. Card operations open their own
context and connection each time, so they never depend on the monitor's.

Privacy: command APDUs are logged at TRACE (level 5) as header and Lc/Le in hex with the
data field masked (an UPDATE BINARY may write patron data); response data may hold a
patron identifier, so responses are logged as length and status word only. Both are shown
in full only with ``trace_card_data=True``. UIDs and identifiers are logged masked.

Timeouts: pcsc-lite's ``SCardTransmit`` has no timeout, and the identity read runs on the
monitor thread. So each card operation (connect plus its APDUs) runs in a short-lived
worker thread and the caller waits at most ``command_timeout`` seconds; then it gets
:class:`CardTimeout` (the monitor emits :class:`CardUnreadable` with ``error_type``
``"CardTimeout"``) while the worker stays blocked until the card answers or leaves.
Operations queued behind a hung one and given up by their callers are skipped, never run
late.

This module must not know about sessions or the ILS: it emits events and returns bytes.
"""

from __future__ import annotations

import abc
import logging
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from smartcard import scard  # type: ignore[import-untyped]

from drivers._checks import check_bytes, check_int
from drivers.credential import PatronCredential, mask_identifier
from drivers.errors import (
    AtrError,
    CardReaderError,
    CardRemoved,
    CardTimeout,
    DriverArgumentError,
    DriverError,
    DriverStateError,
    NoCardReader,
)
from drivers.pcsc import apdu
from drivers.pcsc.atr import Atr, parse_atr
from drivers.pcsc.events import (
    CardEvent,
    CardInserted,
    CardLeft,
    CardUnreadable,
    ReaderAttached,
    ReaderDetached,
    ReaderMissing,
)
from drivers.pcsc.identity import PatronIdentityRule
from drivers.trace import TRACE

log = logging.getLogger(__name__)

EventHandler = Callable[[CardEvent], None]
_DEFAULT_RULE = PatronIdentityRule()
_T = TypeVar("_T")

DEFAULT_COMMAND_TIMEOUT = 3.0
"""Seconds one card operation may take (a desk reader answers an APDU in milliseconds)."""


_NO_CARD = {
    scard.SCARD_E_NO_SMARTCARD, scard.SCARD_W_REMOVED_CARD, scard.SCARD_W_RESET_CARD,
    scard.SCARD_W_UNPOWERED_CARD, scard.SCARD_W_UNRESPONSIVE_CARD,
}
_NO_READER = {
    scard.SCARD_E_NO_SERVICE, scard.SCARD_E_SERVICE_STOPPED, scard.SCARD_E_UNKNOWN_READER,
    scard.SCARD_E_READER_UNAVAILABLE, scard.SCARD_E_NO_READERS_AVAILABLE,
    scard.SCARD_E_INVALID_HANDLE,
}


def _err(hresult: int) -> str:
    try:
        return f"{scard.SCardGetErrorMessage(hresult)} (0x{hresult & 0xFFFFFFFF:08X})"
    except Exception:  # noqa: BLE001 - the message is only decoration
        return f"0x{hresult & 0xFFFFFFFF:08X}"


class CardReader(abc.ABC):
    """A patron card reader: events from a monitor thread plus synchronous card access."""

    @abc.abstractmethod
    def readers(self) -> list[str]:
        """Return the names of all readers the system knows (empty if none)."""

    @abc.abstractmethod
    def start(self, on_event: EventHandler) -> None:
        """Start monitoring; ``on_event`` is called from the monitor thread."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Stop monitoring and join the monitor thread."""

    @abc.abstractmethod
    def atr(self) -> Atr:
        """Return the parsed ATR of the card on the reader."""

    @abc.abstractmethod
    def read_uid(self) -> bytes:
        """Return the card's UID (GET DATA)."""

    @abc.abstractmethod
    def read_blocks(self, first: int, count: int) -> bytes:
        """Return ``count`` blocks from block ``first`` (READ BINARY), concatenated."""

    @abc.abstractmethod
    def write_block(self, n: int, data: bytes) -> None:
        """Write one block (UPDATE BINARY)."""


class PcscCardReader(CardReader):
    """A PC/SC reader chosen by name pattern, through pcsc-lite (pyscard).

    Args:
        name_pattern: a regular expression searched case-insensitively in reader names
            (a plain substring such as ``"Virtual PCD"`` works); the first match in sorted
            order is used.
        poll_interval: seconds between reader-list polls; also the status-change timeout.
        identity: the rule that turns an inserted card into a
            :class:`~drivers.credential.PatronCredential`; None emits no credentials.
        block_size: bytes per block for :meth:`read_blocks` (4 for ISO 15693 and Ultralight).
        trace_card_data: also log command and response data at TRACE (never in production).
        command_timeout: seconds one card operation (:meth:`read_uid`, :meth:`read_blocks`,
            :meth:`write_block`) may take before :class:`CardTimeout`; None waits forever.

    Raises:
        DriverArgumentError: the name pattern is not a valid regular expression, the
            block size is outside 1..256, or the command timeout is not positive.
    """

    def __init__(self, name_pattern: str, *, poll_interval: float = 0.2,
                 identity: PatronIdentityRule | None = _DEFAULT_RULE, block_size: int = 4,
                 trace_card_data: bool = False,
                 command_timeout: float | None = DEFAULT_COMMAND_TIMEOUT) -> None:
        try:
            self._pattern = re.compile(name_pattern, re.IGNORECASE)
        except re.error as exc:
            raise DriverArgumentError(
                f"reader name pattern {name_pattern!r} is not a regex: {exc}") from exc
        check_int("block size", block_size, 1, 256)
        if command_timeout is not None and (
                isinstance(command_timeout, bool) or not isinstance(command_timeout, (int, float))
                or command_timeout <= 0):
            raise DriverArgumentError(
                f"command timeout must be a positive number of seconds or None, got {command_timeout!r}")
        self.command_timeout = command_timeout
        self.name_pattern = name_pattern
        self.poll_interval = poll_interval
        self.identity = identity
        self.block_size = block_size
        self.trace_card_data = trace_card_data
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._monitor_ctx: Any = None
        self._ctx_lock = threading.Lock()
        self._op_lock = threading.RLock()
        self._current: str | None = None

    # ---- reader discovery --------------------------------------------------------------

    def readers(self) -> list[str]:
        """Return all reader names; an empty list if pcscd is not running."""
        try:
            with self._context() as ctx:
                return self._list(ctx)
        except NoCardReader:
            return []

    def matching_reader(self) -> str:
        """Return the reader the pattern selects.

        Raises:
            NoCardReader: pcscd is not running, or no reader name matches.
        """
        with self._context() as ctx:
            return self._picked(ctx)

    def _pick(self, names: list[str]) -> str | None:
        for n in sorted(names):
            if self._pattern.search(n):
                return n
        return None

    def _picked(self, ctx: Any) -> str:
        """The reader to use now.

        Raises:
            NoCardReader: no reader matches the pattern.
        """
        names = self._list(ctx)
        reader = self._pick(names)
        if reader is None:
            raise NoCardReader(f"no PC/SC reader matches {self.name_pattern!r} "
                               f"(readers: {', '.join(names) or 'none'})")
        return reader

    @staticmethod
    def _list(ctx: Any) -> list[str]:
        hr, names = scard.SCardListReaders(ctx, [])
        if hr == scard.SCARD_E_NO_READERS_AVAILABLE:
            return []
        if hr != scard.SCARD_S_SUCCESS:
            raise NoCardReader(f"cannot list PC/SC readers: {_err(hr)}")
        return list(names)

    @contextmanager
    def _context(self) -> Iterator[Any]:
        hr, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        if hr != scard.SCARD_S_SUCCESS:
            raise NoCardReader(f"pcscd is not available: {_err(hr)}")
        try:
            yield ctx
        finally:
            scard.SCardReleaseContext(ctx)

    # ---- card operations ---------------------------------------------------------------

    @contextmanager
    def _card(self) -> Iterator[Callable[[bytes, str], bytes]]:
        """Connect to the card on the selected reader; yield ``transmit(apdu, what)``."""
        with self._op_lock, self._context() as ctx:
            reader = self._picked(ctx)
            hr, hcard, proto = scard.SCardConnect(
                ctx, reader, scard.SCARD_SHARE_SHARED, scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1)
            if hr in _NO_CARD:
                raise CardRemoved(f"no card on {reader}: {_err(hr)}")
            if hr in _NO_READER:
                raise NoCardReader(f"reader {reader} is gone: {_err(hr)}")
            if hr != scard.SCARD_S_SUCCESS:
                raise CardReaderError(f"cannot connect to the card on {reader}: {_err(hr)}")

            def transmit(command: bytes, what: str) -> bytes:
                log.log(TRACE, "pcsc %s > %s", reader,
                        apdu.describe_command(command, show_data=self.trace_card_data))
                hr, resp = scard.SCardTransmit(hcard, proto, list(command))
                if hr != scard.SCARD_S_SUCCESS:
                    self._raise_transmit(ctx, reader, hr, what)
                data = bytes(resp)
                if len(data) < 2:
                    # vpcd (and some readers) report a card lost mid-command as an empty
                    # answer; pcscd notices the absence at its next poll.
                    if self._card_leaves(ctx, reader, timeout_ms=1500):
                        raise CardRemoved(f"{what}: the card left {reader} during the command "
                                          "(empty response)")
                    raise CardReaderError(f"{what}: response of {len(data)} bytes from {reader} "
                                          "has no status word")
                if self.trace_card_data:
                    log.log(TRACE, "pcsc %s < %s", reader, data.hex(" "))
                else:
                    log.log(TRACE, "pcsc %s < %d bytes, SW %s", reader, len(data),
                            data[-2:].hex(" "))
                return apdu.check_response(apdu.parse_response(data), what)

            try:
                yield transmit
            finally:
                hr = scard.SCardDisconnect(hcard, scard.SCARD_LEAVE_CARD)
                if hr != scard.SCARD_S_SUCCESS:
                    log.debug("SCardDisconnect on %s: %s", reader, _err(hr))

    def _raise_transmit(self, ctx: Any, reader: str, hr: int, what: str) -> None:
        if hr in _NO_CARD or not self._card_present(ctx, reader):
            raise CardRemoved(f"{what}: the card left {reader} during the command ({_err(hr)})")
        if hr in _NO_READER:
            raise NoCardReader(f"{what}: reader {reader} is gone ({_err(hr)})")
        raise CardReaderError(f"{what}: transmit failed on {reader}: {_err(hr)}")

    @staticmethod
    def _card_leaves(ctx: Any, reader: str, timeout_ms: int) -> bool:
        """Wait up to ``timeout_ms`` for pcscd to report the card gone."""
        state = scard.SCARD_STATE_PRESENT
        hr, states = scard.SCardGetStatusChange(ctx, 0, [(reader, scard.SCARD_STATE_UNAWARE)])
        if hr == scard.SCARD_S_SUCCESS:
            state = states[0][1] & ~scard.SCARD_STATE_CHANGED
            if not state & scard.SCARD_STATE_PRESENT:
                return True
        hr, states = scard.SCardGetStatusChange(ctx, timeout_ms, [(reader, state)])
        if hr != scard.SCARD_S_SUCCESS:
            return hr != scard.SCARD_E_TIMEOUT
        return not states[0][1] & scard.SCARD_STATE_PRESENT

    @staticmethod
    def _card_present(ctx: Any, reader: str) -> bool:
        hr, states = scard.SCardGetStatusChange(ctx, 0, [(reader, scard.SCARD_STATE_UNAWARE)])
        if hr != scard.SCARD_S_SUCCESS:
            return False
        return bool(states[0][1] & scard.SCARD_STATE_PRESENT)

    def atr(self) -> Atr:
        """Return the parsed ATR of the card on the reader.

        Raises:
            NoCardReader, CardRemoved, CardReaderError, AtrError.
        """
        # No _op_lock: this only asks pcscd for the reader state, never the card, so it
        # must not wait behind a hung command.
        with self._context() as ctx:
            reader = self._picked(ctx)
            hr, states = scard.SCardGetStatusChange(ctx, 0, [(reader, scard.SCARD_STATE_UNAWARE)])
            if hr != scard.SCARD_S_SUCCESS:
                raise CardReaderError(f"cannot read the state of {reader}: {_err(hr)}")
            _, state, atr_raw = states[0]
            if not state & scard.SCARD_STATE_PRESENT:
                raise CardRemoved(f"no card on {reader}")
            return parse_atr(bytes(atr_raw))

    def _bounded(self, what: str, operation: Callable[[], _T]) -> _T:
        """Run ``operation`` under the card lock, waiting at most ``command_timeout``.

        Raises:
            CardTimeout: the operation did not finish in time (it goes on in its worker
                thread; if it had not started yet, it is skipped).
            whatever ``operation`` raises.
        """
        if self.command_timeout is None:
            with self._op_lock:
                return operation()
        call = _BoundedCall(what, operation, self._op_lock)
        worker = threading.Thread(target=call.run, name="pcsc-command", daemon=True)
        worker.start()
        return call.result(self.command_timeout)

    def read_uid(self) -> bytes:
        """Return the card's UID (GET DATA ``FF CA 00 00 00``).

        Raises:
            NoCardReader, CardRemoved, CardTimeout, CardCommandError (typed by status word).
        """
        def operation() -> bytes:
            with self._card() as transmit:
                return transmit(apdu.get_data_uid(), "GET DATA (UID)")

        uid = self._bounded("GET DATA (UID)", operation)
        log.debug("card UID %s", mask_identifier(uid.hex().upper()))
        return uid

    def read_blocks(self, first: int, count: int) -> bytes:
        """Read ``count`` blocks from ``first`` with one READ BINARY per block.

        Raises:
            DriverArgumentError: ``first`` outside 0..65535 or ``count`` below 1 or past block
                65535.
            NoCardReader, CardRemoved, CardTimeout, CardCommandError (e.g. CardBlockNotFound).
        """
        check_int("first block", first, 0, 0xFFFF)
        check_int("block count", count, 1, 0x10000 - first)

        def operation() -> bytes:
            out = bytearray()
            with self._card() as transmit:
                for n in range(first, first + count):
                    data = transmit(apdu.read_binary(n, self.block_size), f"READ BINARY block {n}")
                    if len(data) != self.block_size:
                        raise CardReaderError(f"READ BINARY block {n} returned {len(data)} bytes, "
                                              f"expected {self.block_size}")
                    out += data
            return bytes(out)

        return self._bounded(f"READ BINARY blocks {first}..{first + count - 1}", operation)

    def write_block(self, n: int, data: bytes) -> None:
        """Write one block with UPDATE BINARY.

        Raises:
            DriverArgumentError: ``data`` is not exactly one block, or ``n`` is outside
                0..65535.
            NoCardReader, CardRemoved, CardCommandError.
            CardTimeout: no answer in time; the block may or may not have been written.
        """
        check_int("block", n, 0, 0xFFFF)
        data = check_bytes("block data", data)
        if len(data) != self.block_size:
            raise DriverArgumentError(
                f"block data of {len(data)} bytes, expected exactly one block of {self.block_size}")

        def operation() -> None:
            with self._card() as transmit:
                transmit(apdu.update_binary(n, data), f"UPDATE BINARY block {n}")

        self._bounded(f"UPDATE BINARY block {n}", operation)

    # ---- monitor -------------------------------------------------------------------------

    def start(self, on_event: EventHandler) -> None:
        """Start the monitor thread.

        Raises:
            DriverStateError: already started (also a ``RuntimeError``).
        """
        if self._thread is not None:
            raise DriverStateError("PcscCardReader monitor already started; call stop() first")
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, args=(on_event,),
                                        name="pcsc-monitor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the monitor thread (wakes a pending status-change wait) and join it."""
        self._stopping.set()
        with self._ctx_lock:
            if self._monitor_ctx is not None:
                scard.SCardCancel(self._monitor_ctx)
        if self._thread is not None:
            self._thread.join(timeout=max(5.0, 5 * self.poll_interval))
            if self._thread.is_alive():
                log.error("pcsc monitor thread did not stop")
            self._thread = None

    def _emit(self, on_event: EventHandler, event: CardEvent) -> None:
        log.debug("card reader event %r", event)
        try:
            on_event(event)
        except Exception:  # a faulty handler must not kill the monitor
            log.exception("card reader event handler failed on %s", type(event).__name__)

    def _set_ctx(self, ctx: Any) -> None:
        with self._ctx_lock:
            self._monitor_ctx = ctx

    def _run(self, on_event: EventHandler) -> None:
        reader: str | None = None
        present = False
        state = scard.SCARD_STATE_UNAWARE
        ctx: Any = None
        wait = self._stopping.wait

        def lose_reader(why: str) -> None:
            nonlocal reader, present, state
            if reader is not None:
                if present:
                    self._emit(on_event, CardLeft(reader))
                log.warning("card reader %s detached: %s", reader, why)
                self._emit(on_event, ReaderDetached(reader))
            reader, present, state = None, False, scard.SCARD_STATE_UNAWARE

        missing_told = False

        def missing(why: str) -> None:
            nonlocal missing_told
            if not missing_told:
                missing_told = True
                log.warning("no card reader to use: %s", why)
                self._emit(on_event, ReaderMissing(why))

        def drop_ctx() -> None:
            nonlocal ctx
            if ctx is not None:
                self._set_ctx(None)
                scard.SCardReleaseContext(ctx)
                ctx = None

        try:
            while not self._stopping.is_set():
                if ctx is None:
                    hr, new_ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
                    if hr != scard.SCARD_S_SUCCESS:
                        lose_reader(f"pcscd unavailable: {_err(hr)}")
                        missing(f"pcscd unavailable: {_err(hr)}")
                        wait(self.poll_interval)
                        continue
                    ctx = new_ctx
                    self._set_ctx(ctx)
                hr, names = scard.SCardListReaders(ctx, [])
                if hr == scard.SCARD_E_NO_READERS_AVAILABLE:
                    names = []
                elif hr != scard.SCARD_S_SUCCESS:
                    lose_reader(f"cannot list readers: {_err(hr)}")
                    missing(f"cannot list readers: {_err(hr)}")
                    drop_ctx()
                    wait(self.poll_interval)
                    continue
                match = self._pick(list(names))
                if match != reader:
                    lose_reader("no longer listed")
                    if match is not None:
                        reader, missing_told = match, False
                        log.info("card reader %s attached", reader)
                        self._emit(on_event, ReaderAttached(reader))
                if reader is None:
                    missing(f"no reader matches {self._pattern.pattern!r}")
                    wait(self.poll_interval)
                    continue
                hr, states = scard.SCardGetStatusChange(
                    ctx, int(self.poll_interval * 1000), [(reader, state)])
                if hr in (scard.SCARD_E_TIMEOUT, scard.SCARD_E_CANCELLED):
                    continue
                if hr != scard.SCARD_S_SUCCESS:
                    lose_reader(f"status change failed: {_err(hr)}")
                    missing(f"status change failed: {_err(hr)}")
                    drop_ctx()
                    wait(self.poll_interval)
                    continue
                _, event_state, atr_raw = states[0]
                if event_state & (scard.SCARD_STATE_UNKNOWN | scard.SCARD_STATE_UNAVAILABLE):
                    lose_reader("reader unavailable")
                    missing("reader unavailable")
                    wait(self.poll_interval)
                    continue
                state = event_state & ~scard.SCARD_STATE_CHANGED
                now_present = bool(event_state & scard.SCARD_STATE_PRESENT) and not (
                    event_state & scard.SCARD_STATE_MUTE)
                if now_present and not present:
                    present = True
                    self._on_insert(on_event, reader, bytes(atr_raw))
                elif present and not now_present:
                    present = False
                    log.info("card left %s", reader)
                    self._emit(on_event, CardLeft(reader))
        finally:
            drop_ctx()

    def _on_insert(self, on_event: EventHandler, reader: str, atr_raw: bytes) -> None:
        atr: Atr | None = None
        atr_error: str | None = None
        try:
            atr = parse_atr(atr_raw)
        except AtrError as exc:
            atr_error = str(exc)
            log.warning("card on %s has a bad ATR %s: %s", reader, atr_raw.hex(" "), exc)
        log.info("card inserted on %s (%s)", reader, atr.kind if atr else "unparsed ATR")
        self._emit(on_event, CardInserted(reader, atr_raw, atr, atr_error))
        if self.identity is None:
            return
        try:
            ident, uid = self.identity.identify(self)
        except DriverError as exc:
            log.warning("card on %s unreadable: %s: %s", reader, type(exc).__name__, exc)
            self._emit(on_event, CardUnreadable(reader, str(exc), type(exc).__name__))
            return
        cred = PatronCredential(source="card", identifier=ident, raw=uid, reader=reader)
        log.info("patron card %s on %s", cred.masked, reader)
        self._emit(on_event, cred)


class _BoundedCall:
    """One card operation run by a worker thread, with a caller that may give up on it."""

    def __init__(self, what: str, operation: Callable[[], Any], lock: Any) -> None:
        self.what = what
        self._operation = operation
        self._op_lock = lock
        self._state = threading.Lock()
        self._done = threading.Event()
        self._abandoned = False
        self._finished = False
        self._value: Any = None
        self._error: Exception | None = None

    def run(self) -> None:
        """The worker: wait for the card lock, then run unless the caller gave up."""
        with self._op_lock:
            with self._state:
                if self._abandoned:
                    log.info("%s skipped: its caller stopped waiting", self.what)
                    return
            try:
                self._value = self._operation()
            except Exception as exc:  # noqa: BLE001 - handed to the caller, or logged below
                self._error = exc
        with self._state:
            self._finished = True
            late = self._abandoned
        self._done.set()
        if late:
            outcome = f"{type(self._error).__name__}: {self._error}" if self._error else "done"
            log.warning("%s finished after its timeout: %s", self.what, outcome)

    def result(self, timeout: float) -> Any:
        """The caller: the operation's value, its exception, or :class:`CardTimeout`."""
        self._done.wait(timeout)
        with self._state:
            if not self._finished:
                self._abandoned = True
        if not self._finished:
            log.warning("%s: no answer from the card within %ss", self.what, timeout)
            raise CardTimeout(f"{self.what}: no answer from the card within {timeout:g} s")
        if self._error is not None:
            raise self._error
        return self._value
