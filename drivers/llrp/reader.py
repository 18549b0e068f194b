"""``LlrpReader``: the :class:`drivers.reader.Reader` hooks for fixed UHF readers over LLRP.

It speaks LLRP 1.0.1 over TCP (``llrp://host:port``, port 5084 by default) with the codec
of :mod:`drivers.llrp.codec`, and maps EPC Gen2 onto the HF-shaped interface:

=========================  ================================================================
interface                  LLRP / Gen2
=========================  ================================================================
UID                        the EPC (UII) as the tag reports it, in hex (any even length)
``inventory``              START_ROSPEC of one ROSpec (AISpec over the chosen antennas, a
                           tag-observation stop after one attempt); TagReportData give the
                           antenna and PeakRSSI (``InventoryItem.rssi``); DSFID is 0
block / ``block_size``     one 16-bit word of the user bank (block_size 2)
``read_blocks``            C1G2Read of the user bank in an AccessSpec targeting the EPC
``write_blocks``           C1G2Write of the user bank
``system_info``            C1G2Read of EPC word 1 (the PC word: its AFI when the toggle
                           bit is 1, else 0) and of the whole user bank (block_count)
``write_afi``              read the PC word, ``with_afi``, C1G2Write of EPC word 1
``read_bank``/``write_bank``  any bank (0 reserved, 1 EPC, 2 TID, 3 user), word addressed
``read_uhf_tag``           PC + UII and the user bank in one access, decoded as ISO/TS 28560-4
``read_tag_data``          the same as a ``TagData`` (format ``iso28560-4``), as ``decode_tag`` gives
``rf_reset``               nothing to do: the field is on only while a ROSpec runs
``read_inputs``            GET_READER_CONFIG of GPIPortCurrentState (GPI n high: bit n-1)
``set_outputs``            GPOWriteData in SET_READER_CONFIG (``gpo_ports``), switched off
                           again by a timer after ``duration_s``; "flash" is "on"
EAS, DSFID, quiet/select   refused: Gen2 has none of them (the UHF security state is the
                           AFI in the PC word, ISO/TS 28560-4)
=========================  ================================================================

Operation results map onto the interface's errors: "no response from tag" and a tag not
singulated at all are :class:`TagNotFound`; "memory locked" is a status with ISO error
0x12 (so writes raise :class:`TagLocked`); other failures are :class:`LlrpOpSpecError`
(status 1000 + read result, 2000 + write result). A non-success LLRPStatus is an
:class:`LlrpStatusError`. Retries, reopen and verification live in the base class.
The reader's KEEPALIVEs are acknowledged whenever the driver reads the socket.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from drivers._checks import check_int
from drivers.errors import (
    DriverArgumentError,
    ReaderDisconnected,
    ReaderError,
    ReaderTimeout,
    TagNotFound,
)
from drivers.llrp import messages as m
from drivers.llrp import params as p
from drivers.llrp.codec import DEFAULT_PORT, FrameDecoder, encode_message
from drivers.llrp.errors import LlrpFrameError, LlrpOpSpecError, LlrpStatusError
from drivers.reader import Inputs, OutputState, Reader, ReaderInfo, SystemInfo, uid_text
from drivers.trace import TRACE

log = logging.getLogger("drivers.llrp")

ROSPEC_ID = 1
ACCESS_SPEC_ID = 1
DEFAULT_GPO_PORTS = {"green": 1, "red": 2, "buzzer": 3, "relay": 4}
MAKERS = {25882: "Impinj", 0: "smartlib simulator"}
"""IANA private enterprise numbers of reader makers this driver names."""


def parse_url(url: str) -> tuple[str, int]:
    """``(host, port)`` of ``llrp://host[:port]``.

    Raises:
        DriverArgumentError: another scheme, no host, or a bad port.
    """
    parts = urlsplit(url)
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError as exc:
        raise DriverArgumentError(f"bad port in LLRP URL {url!r}: {exc}") from exc
    if parts.scheme != "llrp" or not parts.hostname:
        raise DriverArgumentError(f"an LLRP reader URL is llrp://host[:port], got {url!r}")
    return parts.hostname, port


class LlrpReader(Reader):
    """A fixed UHF reader speaking LLRP (Impinj, Zebra, … or ``smartlib sim serve``).

    Args:
        url: ``llrp://host[:port]`` (port 5084 by default).
        timeout_s: how long to wait for a response or a ROSpec's end.
        keepalive_s: the KEEPALIVE period asked of the reader (0: none).
        observation_timeout_ms: the longest one inventory attempt may take on the reader.
        access_password: the Gen2 access password for reads and writes (0: none).
        antennas: antenna names, antenna 1 first.
        gpo_ports: the GPO port of each output (default green 1, red 2, buzzer 3, relay 4).
        baudrate, parity, com_address: accepted for the ``[reader]`` table and ignored.
        **kw: :class:`drivers.reader.Reader` options (retries, reopen_after, write_retries).
    """

    vendor = "llrp"

    def __init__(self, url: str, *, timeout_s: float = 2.0, keepalive_s: float = 10.0,
                 observation_timeout_ms: int = 1000, access_password: int = 0,
                 antennas: Sequence[str] = ("pad",), retries: int = 2, reopen_after: int = 3,
                 write_retries: int = 8, gpo_ports: Mapping[str, int] | None = None,
                 baudrate: int | None = None, parity: str | None = None,
                 com_address: int | None = None) -> None:
        super().__init__(antennas=antennas, retries=retries, reopen_after=reopen_after,
                         write_retries=write_retries, block_size=2)
        self.host, self.port = parse_url(url)
        if isinstance(timeout_s, bool) or not isinstance(timeout_s, (int, float)) or not timeout_s > 0:
            raise DriverArgumentError(f"timeout_s must be a positive number of seconds, got {timeout_s!r}")
        if isinstance(keepalive_s, bool) or not isinstance(keepalive_s, (int, float)) or keepalive_s < 0:
            raise DriverArgumentError(f"keepalive_s must be >= 0 seconds, got {keepalive_s!r}")
        check_int("observation_timeout_ms", observation_timeout_ms, 1, 0xFFFFFFFF)
        check_int("access password", access_password, 0, 0xFFFFFFFF)
        self.url = url
        self.timeout_s = float(timeout_s)
        self.keepalive_s = float(keepalive_s)
        self.observation_timeout_ms = observation_timeout_ms
        self.access_password = access_password
        self._sock: socket.socket | None = None
        self._decoder = FrameDecoder()
        self._inbox: list[m.Message] = []
        self._next_id = 0
        self._rospec_antennas: tuple[int, ...] | None = None
        self.gpo_ports = dict(gpo_ports if gpo_ports is not None else DEFAULT_GPO_PORTS)
        self._outputs_timer: threading.Timer | None = None
        self.last_pc: dict[bytes, int] = {}
        """The PC word of each EPC in the last inventory (when the reader reports PC bits)."""

    def __repr__(self) -> str:
        return f"LlrpReader({self.url!r})"

    # ---- UIDs are EPCs -----------------------------------------------------------------------

    def _uid(self, uid: str | bytes) -> bytes:
        if isinstance(uid, (bytes, bytearray, memoryview)):
            raw = bytes(uid)
        elif isinstance(uid, str):
            try:
                raw = bytes.fromhex(uid.replace(" ", "").replace(":", ""))
            except ValueError as exc:
                raise DriverArgumentError(f"an EPC must be hex, got {uid!r}") from exc
        else:
            raise DriverArgumentError(f"an EPC must be hex text or bytes, got {type(uid).__name__}")
        if not raw or len(raw) % 2 or len(raw) > 62:
            raise DriverArgumentError(f"an EPC is 1..31 whole 16-bit words, got {len(raw)} bytes ({uid!r})")
        return raw

    # ---- connection -------------------------------------------------------------------------

    def _open(self) -> None:
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.timeout_s)
        except OSError as exc:
            raise ReaderDisconnected(f"cannot connect to {self.url}: {exc}") from exc
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        self._decoder.reset()
        self._inbox.clear()
        self._rospec_antennas = None
        try:
            hello = self._wait(lambda msg: isinstance(msg, m.ReaderEventNotification)
                               and any(isinstance(e, p.ConnectionAttemptEvent)
                                       for e in msg.data.events))  # type: ignore[union-attr]
            status = next(e for e in hello.data.events  # type: ignore[attr-defined]
                          if isinstance(e, p.ConnectionAttemptEvent)).status
            if status != p.CONNECTION_SUCCESS:
                raise ReaderDisconnected(f"{self.url} refused the connection (ConnectionAttemptEvent "
                                         f"status {status}: another client is connected)")
            # Start from a clean reader: no ROSpec or AccessSpec of an earlier client.
            self._call(m.DeleteAccessSpec(0))
            self._call(m.DeleteROSpec(0))
            self._call(m.SetReaderConfig(
                events=p.ReaderEventNotificationSpec((p.EventNotificationState(p.EVENT_ROSPEC, True),)),
                keepalive=p.KeepaliveSpec(1 if self.keepalive_s else 0, int(self.keepalive_s * 1000))))
        except ReaderError:
            self._close()
            raise

    def _close(self) -> None:
        self._cancel_outputs_timer()
        sock, self._sock = self._sock, None
        if sock is None:
            return
        try:
            sock.sendall(encode_message(m.CloseConnection(msg_id=self._msg_id())))
        except OSError as exc:
            log.debug("CLOSE_CONNECTION not sent: %s", exc)
        sock.close()

    def _msg_id(self) -> int:
        self._next_id = (self._next_id + 1) & 0xFFFFFFFF
        return self._next_id

    def _send(self, msg: m.Message) -> int:
        if self._sock is None:
            raise ReaderDisconnected(f"{self.url} is not connected")
        msg = replace(msg, msg_id=self._msg_id())
        frame = encode_message(msg)
        log.log(TRACE, "llrp %s > %s", self.url, frame.hex(" "))
        try:
            self._sock.sendall(frame)
        except OSError as exc:
            raise ReaderDisconnected(f"{self.url}: send failed: {exc}") from exc
        return msg.msg_id

    def _wait(self, want: Any, timeout_s: float | None = None) -> m.Message:
        """The first received message ``want(msg)`` accepts; the others stay in the inbox.

        Raises:
            ReaderTimeout, ReaderDisconnected, LlrpFrameError.
        """
        deadline = time.monotonic() + (timeout_s or self.timeout_s)
        while True:
            for i, msg in enumerate(self._inbox):
                if want(msg):
                    return self._inbox.pop(i)
            if self._sock is None:
                raise ReaderDisconnected(f"{self.url} is not connected")
            left = deadline - time.monotonic()
            if left <= 0:
                raise ReaderTimeout(f"no answer from {self.url} within {timeout_s or self.timeout_s:.2f} s")
            self._sock.settimeout(left)
            try:
                data = self._sock.recv(65536)
            except TimeoutError:
                continue
            except OSError as exc:
                raise ReaderDisconnected(f"{self.url}: {exc}") from exc
            if not data:
                raise ReaderDisconnected(f"{self.url} closed the connection")
            log.log(TRACE, "llrp %s < %s", self.url, data.hex(" "))
            try:
                received = self._decoder.feed(data)
            except LlrpFrameError as exc:
                if self._decoder.broken:  # no frame boundary can be found again: reconnect
                    raise ReaderDisconnected(f"{self.url}: unusable byte stream: {exc}") from exc
                raise
            for msg in received:
                if isinstance(msg, m.Keepalive):
                    self._send(m.KeepaliveAck())
                    self._count("keepalives")
                else:
                    self._inbox.append(msg)

    def _call(self, msg: m.Message) -> m.Message:
        """Send a request and return its response; a non-success status raises.

        Raises:
            LlrpStatusError: the reader refused (the LLRP status code and its text).
        """
        msg_id = self._send(msg)
        answer = m.RESPONSE_TO[type(msg)]
        got = self._wait(lambda r: r.msg_id == msg_id and isinstance(r, (answer, m.ErrorMessage)))
        status: p.LLRPStatus = got.status  # type: ignore[attr-defined]
        if status.code != p.M_SUCCESS:
            raise LlrpStatusError(f"{self.url}: {type(msg).__name__} refused: {status.name} "
                                  f"{status.description}".rstrip(), status.code)
        return got

    # ---- ROSpec runs --------------------------------------------------------------------------

    def _prepare_rospec(self, antennas: tuple[int, ...]) -> None:
        if self._rospec_antennas == antennas:
            return
        if self._rospec_antennas is not None:
            self._call(m.DeleteROSpec(ROSPEC_ID))
            self._rospec_antennas = None
        stop = p.AISpecStopTrigger(3, 0, (p.TagObservationTrigger(
            2, 0, 0, 1, 0, self.observation_timeout_ms),))  # one attempt to see every tag
        content = p.TagReportContentSelector(frozenset({"antenna_id", "peak_rssi", "access_spec_id"}),
                                             p.C1G2EPCMemorySelector(False, True))
        spec = p.ROSpec(ROSPEC_ID, specs=(p.AISpec(antennas, stop),),
                        report=p.ROReportSpec(2, 0, content))
        self._call(m.AddROSpec(spec))
        self._call(m.EnableROSpec(ROSPEC_ID))
        self._rospec_antennas = antennas

    def _run_rospec(self, antennas: tuple[int, ...]) -> list[p.TagReportData]:
        """Start the ROSpec, wait for its end event; the tags the reports gave meanwhile."""
        self._prepare_rospec(antennas)
        self._inbox = [x for x in self._inbox if not isinstance(x, (m.ROAccessReport, m.ReaderEventNotification))]
        self._call(m.StartROSpec(ROSPEC_ID))
        ended = p.ROSpecEvent(p.ROSPEC_ENDED, ROSPEC_ID)
        self._wait(lambda x: isinstance(x, m.ReaderEventNotification) and x.data is not None
                   and ended in x.data.events,
                   timeout_s=self.timeout_s + self.observation_timeout_ms / 1000)
        tags = [t for x in self._inbox if isinstance(x, m.ROAccessReport) for t in x.tags]
        self._inbox = [x for x in self._inbox if not isinstance(x, m.ROAccessReport)]
        return tags

    def _inventory(self, antennas: list[int]) -> list[tuple[Any, ...]]:
        tags = self._run_rospec(tuple(antennas) if len(antennas) < len(self.antennas) else (0,))
        # strongest antenna first, so the base class keeps it for a tag seen twice
        tags.sort(key=lambda t: -(t.peak_rssi if t.peak_rssi is not None else -128))
        for t in tags:
            if t.pc is not None:
                self.last_pc[t.epc] = t.pc
        return [(t.epc, 0, t.antenna_id, t.peak_rssi) for t in tags]

    # ---- access -------------------------------------------------------------------------------

    def _access(self, epc: bytes, ops: tuple[p.Parameter, ...]) -> tuple[p.Parameter, ...]:
        """Run ``ops`` on the tag with this EPC; its OpSpec results, in order.

        Raises:
            TagNotFound: the tag was not singulated, or answered no operation.
        """
        target = p.C1G2TargetTag(p.BANK_EPC, True, 0x20, b"\xff" * len(epc), epc)
        spec = p.AccessSpec(ACCESS_SPEC_ID, p.AccessCommand(p.C1G2TagSpec((target,)), ops),
                            rospec_id=ROSPEC_ID, stop=p.AccessSpecStopTrigger(1, 1))
        self._call(m.DeleteAccessSpec(0))
        self._call(m.AddAccessSpec(spec))
        self._call(m.EnableAccessSpec(ACCESS_SPEC_ID))
        try:
            tags = self._run_rospec(self._rospec_antennas or (0,))
        finally:
            self._call(m.DeleteAccessSpec(0))
        for t in tags:
            if t.op_results and t.epc == epc:
                return t.op_results
        raise TagNotFound(f"tag {uid_text(epc)} was not seen by {self.url}", 0x01)

    def _read_words(self, epc: bytes, bank: int, word: int, count: int) -> bytes:
        (res,) = self._access(epc, (p.C1G2Read(1, bank, word, count, self.access_password),))
        return _read_data(epc, res)

    def _write_words(self, epc: bytes, bank: int, word: int, data: bytes) -> None:
        (res,) = self._access(epc, (p.C1G2Write(1, bank, word, data, self.access_password),))
        if not isinstance(res, p.C1G2WriteOpSpecResult):
            raise LlrpOpSpecError(f"expected a C1G2WriteOpSpecResult, got {type(res).__name__}", 2000)
        if res.result == p.WRITE_NO_RESPONSE:
            raise TagNotFound(f"tag {uid_text(epc)} stopped answering after {res.words_written} "
                              f"of {len(data) // 2} words", 0x01)
        if res.result == p.WRITE_LOCKED:
            raise LlrpOpSpecError(f"tag {uid_text(epc)}: memory locked", 2000 + res.result, 0x12)
        if res.result != p.WRITE_SUCCESS:
            raise LlrpOpSpecError(f"tag {uid_text(epc)}: write failed: "
                                  f"{_WRITE_RESULTS.get(res.result, res.result)}", 2000 + res.result,
                                  0x10 if res.result == p.WRITE_OVERRUN else None)

    def read_bank(self, uid: str | bytes, bank: int, word: int, count: int) -> bytes:
        """``count`` words of a memory bank (0 reserved, 1 EPC, 2 TID, 3 user) from ``word``
        (count 0: to the end of the bank).

        Raises:
            DriverArgumentError: a bad EPC, bank, word or count.
            TagNotFound, LlrpOpSpecError: as for :meth:`read_blocks`.
        """
        raw = self._uid(uid)
        check_int("memory bank", bank, 0, 3)
        check_int("word", word, 0, 0xFFFF)
        check_int("word count", count, 0, 0xFFFF)
        return self._run("read_bank", lambda: self._read_words(raw, bank, word, count))

    def write_bank(self, uid: str | bytes, bank: int, word: int, data: bytes, verify: bool = True) -> None:
        """Write whole words to a memory bank, then read them back (writing the EPC words
        changes the tag's EPC: verify with the new one).

        Raises:
            DriverArgumentError: a bad EPC, bank or word, or data not whole words.
            TagLocked, TagNotFound, WriteFailed: as for :meth:`write_blocks`.
        """
        raw = self._uid(uid)
        check_int("memory bank", bank, 0, 3)
        check_int("word", word, 0, 0xFFFF)
        if not isinstance(data, (bytes, bytearray)) or not data or len(data) % 2:
            raise DriverArgumentError(f"data must be whole 16-bit words, got {data!r}")
        data = bytes(data)
        self._verified_write(
            "write_bank", lambda: self._write_words(raw, bank, word, data),
            (lambda: self._read_words(raw, bank, word, len(data) // 2) == data) if verify else None)

    def read_uhf_tag(self, uid: str | bytes, *, strict: bool = False) -> Any:
        """The tag's ISO/TS 28560-4 data (a :class:`drivers.tags.UhfTagData`): the PC word
        and UII from the EPC bank and the whole user bank, read in one AccessSpec.

        Raises:
            TagNotFound, LlrpOpSpecError: as for :meth:`read_blocks`.
            TagFormatError: with ``strict``, data that does not decode.
        """
        from drivers.tags.iso28560_4 import decode_uhf

        raw = self._uid(uid)

        def run() -> tuple[bytes, bytes]:
            epc_res, user_res = self._access(raw, (
                p.C1G2Read(1, p.BANK_EPC, 1, 0, self.access_password),
                p.C1G2Read(2, p.BANK_USER, 0, 0, self.access_password)))
            epc_bank = _read_data(raw, epc_res)
            words = epc_bank[0] >> 3 if epc_bank else 0  # the PC word's length field
            return epc_bank[:2 + 2 * words], _read_data(raw, user_res)

        epc, user = self._run("read_uhf_tag", run)
        return decode_uhf(epc, user, strict=strict)

    def read_tag_data(self, uid: str | bytes) -> Any:
        """The tag's data as the HF codecs give it (a :class:`drivers.tags.TagData` of
        format ``iso28560-4``), for code written against ``decode_tag`` results: item id,
        owner ISIL, set, type of usage, elements, problems.

        Raises:
            TagNotFound, LlrpOpSpecError: as for :meth:`read_blocks`.
        """
        return self.read_uhf_tag(uid).to_tag_data()

    # ---- the interface hooks --------------------------------------------------------------

    def _read_blocks(self, uid: bytes, first: int, count: int) -> bytes:
        return self._read_words(uid, p.BANK_USER, first, count)

    def _write_blocks(self, uid: bytes, first: int, data: bytes) -> None:
        self._write_words(uid, p.BANK_USER, first, data)

    def _system_info(self, uid: bytes) -> SystemInfo:
        pc_res, user_res = self._access(uid, (
            p.C1G2Read(1, p.BANK_EPC, 1, 1, self.access_password),
            p.C1G2Read(2, p.BANK_USER, 0, 0, self.access_password)))
        from drivers.tags.iso28560_4 import pc_afi

        pc = _read_data(uid, pc_res)
        user = _read_data(uid, user_res)
        afi = pc_afi(pc)  # None: toggle bit 0, a GS1 EPC without an AFI
        return SystemInfo(uid_text(uid), 0, 0 if afi is None else afi, 2, len(user) // 2, 0)

    def _write_afi(self, uid: bytes, afi: int) -> None:
        from drivers.tags.iso28560_4 import with_afi

        pc = self._read_words(uid, p.BANK_EPC, 1, 1)
        self._write_words(uid, p.BANK_EPC, 1, with_afi(pc + uid, afi)[:2])

    def _lock_afi(self, uid: bytes) -> None:
        raise ReaderError("llrp readers cannot lock the AFI alone: Gen2 locks the whole EPC bank "
                          "(C1G2Lock), which this driver does not send")

    def _set_eas(self, uid: bytes, on: bool) -> None:
        raise ReaderError("UHF (Gen2) tags have no EAS bit: the security state is the AFI in the "
                          "PC word (write_afi)")

    def _eas_alarm(self) -> bool:
        raise ReaderError("UHF (Gen2) tags have no EAS bit: check each tag's AFI (inventory PC bits)")

    def _reader_info(self) -> ReaderInfo:
        resp = self._call(m.GetReaderCapabilities(1))
        general = resp.general  # type: ignore[attr-defined]
        if general is None:
            return ReaderInfo("unknown", "unknown", "unknown", {"url": self.url})
        maker = MAKERS.get(general.manufacturer, f"IANA PEN {general.manufacturer}")
        return ReaderInfo(maker, str(general.model), general.firmware,
                          {"antennas": general.max_antennas, "manufacturer_pen": general.manufacturer,
                           "protocol": "LLRP 1.0.1", "url": self.url})

    def _set_outputs(self, green: OutputState, red: OutputState, buzzer: OutputState,
                     relay: OutputState, duration_s: float) -> None:
        """GPOWriteData for each named output (``gpo_ports``); "flash" is "on" (GPOs have
        no blink); the ones switched on are switched off again after ``duration_s``."""
        wanted = {"green": green, "red": red, "buzzer": buzzer, "relay": relay}
        writes = tuple(p.GPOWriteData(self.gpo_ports[name], state in ("on", "flash"))
                       for name, state in wanted.items() if state is not None and name in self.gpo_ports)
        if not writes:
            return
        self._cancel_outputs_timer()
        self._call(m.SetReaderConfig(details=writes))
        lit = tuple(p.GPOWriteData(w.port, False) for w in writes if w.on)
        if lit:
            timer = threading.Timer(duration_s, self._outputs_off, (lit,))
            timer.daemon = True
            self._outputs_timer = timer
            timer.start()

    def _outputs_off(self, writes: tuple[p.GPOWriteData, ...]) -> None:
        with self._lock:
            if self._outputs_timer is None or self._sock is None:
                return  # cancelled or closed meanwhile
            self._outputs_timer = None
            try:
                self._call(m.SetReaderConfig(details=writes))
            except ReaderError as exc:
                log.warning("%s: switching outputs off failed: %s", self.url, exc)

    def _cancel_outputs_timer(self) -> None:
        timer, self._outputs_timer = self._outputs_timer, None
        if timer is not None:
            timer.cancel()
            if timer is not threading.current_thread():
                timer.join(timeout=1)

    def _read_inputs(self) -> Inputs:
        """GET_READER_CONFIG of the GPIPortCurrentState: GPI n high sets bit n - 1."""
        resp = self._call(m.GetReaderConfig(requested_data=p.CONFIG_GPI_STATE))
        raw = 0
        for gpi in resp.details:  # type: ignore[attr-defined]
            if isinstance(gpi, p.GPIPortCurrentState) and gpi.state == p.GPI_HIGH and 1 <= gpi.port <= 16:
                raw |= 1 << (gpi.port - 1)
        return Inputs(raw)

    def _rf_reset(self) -> None:
        """Nothing to send: an LLRP reader powers the field only while a ROSpec runs, so
        every inventory starts with a fresh field."""


_READ_RESULTS = {1: "nonspecific tag error (or memory overrun)", 2: "no response from tag",
                 3: "nonspecific reader error"}
_WRITE_RESULTS = {1: "tag memory overrun", 2: "tag memory locked", 3: "insufficient power",
                  4: "nonspecific tag error", 5: "no response from tag", 6: "nonspecific reader error"}


def _read_data(epc: bytes, res: p.Parameter) -> bytes:
    if not isinstance(res, p.C1G2ReadOpSpecResult):
        raise LlrpOpSpecError(f"expected a C1G2ReadOpSpecResult, got {type(res).__name__}", 1000)
    if res.result == p.READ_NO_RESPONSE:
        raise TagNotFound(f"tag {uid_text(epc)} did not answer the read", 0x01)
    if res.result != p.READ_SUCCESS:
        raise LlrpOpSpecError(f"tag {uid_text(epc)}: read failed: "
                              f"{_READ_RESULTS.get(res.result, res.result)}", 1000 + res.result)
    return res.data
