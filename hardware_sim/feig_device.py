"""``FeigReaderDevice``: the reader's side of the FEIG ISC host protocol, on a pty and TCP.

It decodes requests with the drivers' own frame codec (so it validates length and CRC
exactly as the host side does; a frame with a bad CRC gets no answer, like a real reader),
answers like an ID ISC.MR/LR reader (status codes, no-transponder, 0x94 more data,
0x95 ISO errors), waits the time a real reader would take (:mod:`hardware_sim.air`) and
adds it to its :class:`~hardware_sim.air.FloorMeter`. Outputs (LEDs, buzzer, relay) are
observable, inputs (IR beams) drivable, and faults (:mod:`hardware_sim.faults`) apply.

:meth:`FeigReaderDevice.process` is the sans-IO core (a request in, answer bytes and
modelled air time out); the endpoint threads around it only move bytes and sleep.
"""

from __future__ import annotations

import errno
import logging
import os
import random
import select
import socket
import threading
import time
import tty
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from drivers.feig import commands as c
from drivers.feig.codec import FeigFrameDecoder, NeedData, Request, Response, encode_response
from hardware_sim import air
from hardware_sim.errors import SimError
from hardware_sim.faults import FaultPlan
from hardware_sim.field import FieldEvent, SimField
from hardware_sim.tag import IsoError, SimTag
from smartlib.logs import TRACE

log = logging.getLogger("hardware_sim.feig")

_OUT_NAMES = {0: None, 1: "on", 2: "off", 3: "flash"}
TAB_SIZE = 512
RSSI_DEFAULT = 0x40
ACCEPT_BACKOFF_MIN_S = 0.05
ACCEPT_BACKOFF_MAX_S = 1.0


class DeviceError(SimError):
    """The device cannot start (port in use, pty unavailable)."""


@dataclass
class Answer:
    """What :meth:`FeigReaderDevice.process` decided: bytes to send (None: stay silent),
    the modelled air time, and work to do after answering."""

    frame: bytes | None
    air_s: float = 0.0
    after: list[Any] = field(default_factory=list)


@dataclass
class OutputState:
    state: str = "off"
    until: float = 0.0


class FeigReaderDevice:
    """A simulated FEIG reader over a :class:`SimField`.

    About 700 lines, on purpose: one small handler per ISC host command the driver uses
    (inventory, the ISO 15693 pass-through commands, outputs, inputs, reader info), each
    next to its timing and fault rules, so the emulator reads like the protocol's command
    table; the framing and the tag field live in their own modules.

    Args:
        field: the tag field.
        antennas: zone names for antenna 1, 2, … (one zone for a pad reader).
        name: the device's name in the control API.
        com_address: the address it answers with (0x00 like every captured reader).
        baudrate, parity: used for the serial-time model only (a pty has no speed).
        page_records: inventory records per answer before STATUS 0x94.
        timing: False turns off waiting (unit tests); the floor is still counted.
        seed: for garbage bytes.
        clock: the monotonic clock the timing model measures against (``time.monotonic``).
        sleep: how the device waits out the modelled floor (``time.sleep``). Tests pass fakes
            for both and check the waits the device reports (``waited_s``, counter
            ``timing_waits``) instead of timing it.
    """

    def __init__(self, field: SimField, antennas: Sequence[str] = ("pad",), *,
                 name: str = "reader", com_address: int = 0x00, baudrate: int = 38400,
                 parity: str = "E", page_records: int = 24, timing: bool = True,
                 faults: FaultPlan | None = None, seed: int | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        for a in antennas:
            field._zone(a)
        if not 1 <= len(antennas) <= 8:
            raise DeviceError("a reader has 1..8 antennas")
        self.field = field
        self.antennas = tuple(antennas)
        self.name = name
        self.com_address = com_address
        self.baudrate = baudrate
        self.parity = parity
        self.page_records = page_records
        self.timing = timing
        self._clock = clock
        self._sleep = sleep
        self.waited_s = 0.0
        """Seconds the device slept so that answers leave no earlier than the modelled floor."""
        self.faults = faults or FaultPlan()
        self.floor = air.FloorMeter()
        self.counters: dict[str, int] = {}
        self.outputs: dict[str, OutputState] = {k: OutputState() for k in
                                                ("green", "red", "buzzer", "relay", "out1", "out2")}
        self.output_log: deque[dict[str, Any]] = deque(maxlen=1000)
        self.inputs = 0
        self.input_log: deque[dict[str, Any]] = deque(maxlen=1000)
        """Every change of the inputs: ``{"at": unix time, "number", "on", "inputs"}``."""
        self.rf_on = True
        self._rng = random.Random(seed)
        self._lock = threading.RLock()
        self._pending: list[bytes] = []  # inventory pages still to send after 0x94
        self._selected: bytes | None = None
        self._buffer: list[tuple[bytes, int, float]] = []
        self._buffer_read = 0
        field.add_listener(self._on_field_event)
        # endpoints
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._pty_master: int | None = None
        self._pty_slave: int | None = None
        self.pty_path: str | None = None
        self._server: socket.socket | None = None
        self.tcp_port: int | None = None
        self._conns: set[socket.socket] = set()

    # ---- observable state ----------------------------------------------------------------

    def _count(self, key: str, n: int = 1) -> None:
        self.counters[key] = self.counters.get(key, 0) + n

    def outputs_now(self) -> dict[str, str]:
        """Each output's state now (a timed output falls back to off)."""
        now = time.monotonic()
        with self._lock:
            return {k: (v.state if v.until == 0 or now < v.until else "off")
                    for k, v in self.outputs.items()}

    def set_input(self, number: int, on: bool) -> None:
        """Drive input ``number`` (1 = IN1 = IR beam A …)."""
        if not 1 <= number <= 8:
            raise DeviceError(f"inputs are 1..8, got {number}")
        with self._lock:
            bit = 1 << (number - 1)
            before = self.inputs
            self.inputs = (self.inputs | bit) if on else (self.inputs & ~bit)
            if self.inputs != before:
                self.input_log.append({"at": time.time(), "number": number, "on": on,
                                       "inputs": self.inputs})

    def status(self) -> dict[str, Any]:
        """Everything the control API shows about this device."""
        fl = self.floor.snapshot()
        with self._lock:
            return {
                "name": self.name, "antennas": list(self.antennas), "pty": self.pty_path,
                "tcp_port": self.tcp_port, "baudrate": self.baudrate,
                "outputs": self.outputs_now(), "inputs": self.inputs,
                "counters": dict(self.counters), "faults": self.faults.armed(),
                "buffer_records": len(self._buffer),
                "floor": {"serial_s": fl.serial_s, "air_s": fl.air_s, "total_s": fl.total_s,
                          "exchanges": fl.exchanges, "waited_s": self.waited_s},
            }

    def _on_field_event(self, ev: FieldEvent, tag: SimTag) -> None:
        if ev.zone not in self.antennas:
            return
        if ev.kind == "leave":
            # Out of the field the tag loses power: back to Ready, no longer selected.
            with self._lock:
                tag.quiet = False
                if self._selected == tag.uid:
                    self._selected = None
            return
        if ev.kind != "enter":
            return
        with self._lock:
            if len(self._buffer) < TAB_SIZE:
                self._buffer.append((tag.uid, 1 << self.antennas.index(ev.zone), ev.at))
            else:
                self._count("buffer_overflow")

    # ---- the protocol core (sans-IO) ------------------------------------------------------

    def process(self, req: Request) -> Answer:
        """Answer one request (faults on the tag side included; wire faults are applied
        by the endpoints)."""
        with self._lock:
            if req.com_adr not in (0xFF, self.com_address):
                self._count("ignored_address")
                return Answer(None)
            self._count("requests")
            self._count(f"cmd_{req.cmd:02x}")
            status, data, air_s, after = self._dispatch(req)
            frame = encode_response(Response(self.com_address, req.cmd, status, data, req.advanced))
            return Answer(frame, air_s, after)

    def _dispatch(self, req: Request) -> tuple[int, bytes, float, list[Any]]:
        cmd, d = req.cmd, req.data
        if cmd == c.CMD_ISO:
            return self._iso(d)
        if cmd == c.CMD_ISO_CUSTOM:
            return self._nxp(d)
        simple = {c.CMD_RF_RESET: 0, c.CMD_CPU_RESET: 0, c.CMD_CLEAR_BUFFER: 0,
                  c.CMD_INIT_BUFFER: 0, c.CMD_GET_INPUT: 0, c.CMD_BUFFER_INFO: 0,
                  c.CMD_SOFTWARE_VERSION: 0, c.CMD_BAUD_DETECT: 1, c.CMD_SYSTEM_RESET: 1,
                  c.CMD_RF_ONOFF: 1, c.CMD_READER_INFO: 1, c.CMD_READ_BUFFER: 2,
                  c.CMD_SET_OUTPUT: 8}
        if cmd not in simple:
            return c.STATUS_UNKNOWN_COMMAND, b"", 0.0, []
        if len(d) != simple[cmd]:
            return c.STATUS_LENGTH_ERROR, b"", 0.0, []
        if cmd == c.CMD_RF_RESET:
            self._pending.clear()
            self._selected = None
            for t in self.field.in_zones(self.antennas):
                t.quiet = False  # the field went off: every tag powers up Ready
            return c.STATUS_OK, b"", 0.0, []
        if cmd == c.CMD_RF_ONOFF:
            if d[0] > 1:
                return c.STATUS_PARAMETER_RANGE, b"", 0.0, []
            self.rf_on = bool(d[0])
            return c.STATUS_OK, b"", 0.0, []
        if cmd in (c.CMD_CPU_RESET, c.CMD_SYSTEM_RESET, c.CMD_BAUD_DETECT):
            return c.STATUS_OK, b"", 0.0, []
        if cmd in (c.CMD_READER_INFO, c.CMD_SOFTWARE_VERSION):
            if cmd == c.CMD_READER_INFO and d[0] != 0:
                return c.STATUS_PARAMETER_RANGE, b"", 0.0, []
            # SW-REV 03.02, D-REV 0, HW-TYPE, SW-TYPE (simulated), TR-TYPE, RX-BUF, TX-BUF
            return c.STATUS_OK, bytes((0x03, 0x02, 0x00, 0x5A, 0x5A, 0x00, 0x08, 0x01, 0x00, 0x01, 0x00)), 0.0, []
        if cmd == c.CMD_GET_INPUT:
            return c.STATUS_OK, bytes((self.inputs & 0xFF,)), 0.0, []
        if cmd == c.CMD_SET_OUTPUT:
            return self._set_output(d)
        if cmd == c.CMD_READ_BUFFER:
            return self._read_buffer(int.from_bytes(d, "big"))
        if cmd == c.CMD_BUFFER_INFO:
            return c.STATUS_OK, (TAB_SIZE.to_bytes(2, "big") + b"\x00\x00"
                                 + len(self._buffer).to_bytes(2, "big")), 0.0, []
        if cmd == c.CMD_CLEAR_BUFFER:
            del self._buffer[:self._buffer_read]
            self._buffer_read = 0
            return c.STATUS_OK, b"", 0.0, []
        # init buffer
        self._buffer.clear()
        self._buffer_read = 0
        return c.STATUS_OK, b"", 0.0, []

    def _set_output(self, d: bytes) -> tuple[int, bytes, float, list[Any]]:
        os_bits = int.from_bytes(d[0:2], "big")
        os_time = int.from_bytes(d[4:6], "big")
        until = time.monotonic() + os_time / 10 if os_time else 0.0
        changes = {}
        for name, shift in (("green", 0), ("red", 2), ("buzzer", 4), ("out1", 8), ("out2", 10),
                            ("relay", 12)):
            state = _OUT_NAMES[(os_bits >> shift) & 3]
            if state is not None:
                self.outputs[name] = OutputState(state, until if state != "off" else 0.0)
                changes[name] = state
        self.output_log.append({"at": time.time(), "changes": changes, "duration_s": os_time / 10})
        return c.STATUS_OK, b"", 0.0, []

    def _read_buffer(self, n: int) -> tuple[int, bytes, float, list[Any]]:
        if n < 1:
            return c.STATUS_PARAMETER_RANGE, b"", 0.0, []
        if not self._buffer:
            return c.STATUS_NO_VALID_DATA, b"", 0.0, []
        recs = self._buffer[:n]
        self._buffer_read = len(recs)
        tr1 = c.TR1_IDD | c.TR1_TIME | c.TR1_ANTENNA
        out = bytearray((tr1,)) + len(recs).to_bytes(2, "big")
        for uid, ant, at in recs:
            lt = time.localtime(at)
            ms = int(lt.tm_sec * 1000 + (at % 1) * 1000)
            body = bytes((c.TR_TYPE_ISO15693, 0x00, 8)) + uid + bytes((lt.tm_hour, lt.tm_min)) \
                + ms.to_bytes(2, "big") + bytes((ant,))
            out += (len(body) + 2).to_bytes(2, "big") + body
        return c.STATUS_OK, bytes(out), 0.0, []

    # ---- ISO host commands ---------------------------------------------------------------

    _ISO_PARAMS = {c.ISO_INVENTORY: None, c.ISO_STAY_QUIET: 0, c.ISO_READ_MULTIPLE: 2,
                   c.ISO_WRITE_MULTIPLE: None, c.ISO_SELECT: 0, c.ISO_RESET_TO_READY: 0,
                   c.ISO_WRITE_AFI: 1, c.ISO_LOCK_AFI: 0, c.ISO_SYSTEM_INFO: 0,
                   c.ISO_WRITE_DSFID: 1, c.ISO_LOCK_DSFID: 0, c.ISO_BLOCK_SECURITY: 2}

    def _iso(self, d: bytes) -> tuple[int, bytes, float, list[Any]]:
        if len(d) < 2:
            return c.STATUS_LENGTH_ERROR, b"", 0.0, []
        sub, mode = d[0], d[1]
        if sub not in self._ISO_PARAMS:
            return c.STATUS_UNKNOWN_COMMAND, b"", 0.0, []
        if not self.rf_on:
            return c.STATUS_NO_TRANSPONDER, b"", 0.0, []
        if sub == c.ISO_INVENTORY:
            return self._inventory(mode, d[2:])
        addressing = mode & 0x07
        if mode & ~0x0F or addressing > 2 or (mode & c.MODE_SEC and sub != c.ISO_READ_MULTIPLE):
            return c.STATUS_UNSUPPORTED_OPTION, b"", 0.0, []
        params = d[2:]
        uid: bytes | None = None
        if addressing == 1:
            if len(params) < 8:
                return c.STATUS_LENGTH_ERROR, b"", 0.0, []
            uid, params = params[:8], params[8:]
        elif sub in (c.ISO_SELECT, c.ISO_STAY_QUIET):
            return c.STATUS_UNSUPPORTED_OPTION, b"", 0.0, []
        expected = self._ISO_PARAMS[sub]
        if sub == c.ISO_WRITE_MULTIPLE:
            if len(params) < 3 or len(params) != 3 + params[1] * params[2]:
                return c.STATUS_LENGTH_ERROR, b"", 0.0, []
        elif len(params) != expected:
            return c.STATUS_LENGTH_ERROR, b"", 0.0, []
        # find the tag
        zones = self.antennas
        req_bytes = air.ADDRESSED_REQ_BASE if uid is not None else air.ADDRESSED_REQ_BASE - 8
        if addressing == 2:
            if self._selected is None:
                return c.STATUS_NO_TRANSPONDER, b"", air.exchange_s(req_bytes, None), []
            uid = self._selected
        if uid is not None:
            tag = self.field.find(uid, zones)
            if tag is None:
                return c.STATUS_NO_TRANSPONDER, b"", air.exchange_s(req_bytes, None), []
        elif sub == c.ISO_RESET_TO_READY:
            # Non-addressed Reset to Ready: every tag in the field returns to Ready.
            present = self.field.in_zones(zones)
            if not present:
                return c.STATUS_NO_TRANSPONDER, b"", air.exchange_s(req_bytes, None), []
            for t in present:
                t.quiet = False
            self._selected = None
            return c.STATUS_OK, b"", air.exchange_s(req_bytes, air.STATUS_ANSWER), []
        else:
            present = [t for t in self.field.in_zones(zones) if not t.quiet]
            if not present:
                return c.STATUS_NO_TRANSPONDER, b"", air.exchange_s(req_bytes, None), []
            if len(present) > 1:
                return 0x0B, b"", air.exchange_s(req_bytes, air.STATUS_ANSWER), []  # collision
            tag = present[0]
        handler = {
            c.ISO_READ_MULTIPLE: self._read_multiple, c.ISO_WRITE_MULTIPLE: self._write_multiple,
            c.ISO_WRITE_AFI: self._write_afi, c.ISO_LOCK_AFI: self._lock_afi,
            c.ISO_SYSTEM_INFO: self._system_info, c.ISO_SELECT: self._select,
            c.ISO_RESET_TO_READY: self._reset_to_ready, c.ISO_STAY_QUIET: self._stay_quiet,
            c.ISO_WRITE_DSFID: self._write_dsfid, c.ISO_LOCK_DSFID: self._lock_dsfid,
            c.ISO_BLOCK_SECURITY: self._block_security,
        }[sub]
        return handler(tag, params, req_bytes)

    def _inventory(self, mode: int, params: bytes) -> tuple[int, bytes, float, list[Any]]:
        antenna_mode = bool(mode & c.MODE_ANTENNA)
        if mode & ~(c.MODE_MORE | c.MODE_ANTENNA):
            return c.STATUS_UNSUPPORTED_OPTION, b"", 0.0, []
        if len(params) != (1 if antenna_mode else 0):
            # e.g. an AFI byte: host-mode Inventory has none (protocols.md §4).
            return c.STATUS_LENGTH_ERROR, b"", 0.0, []
        if antenna_mode and len(self.antennas) == 1:
            return c.STATUS_UNSUPPORTED_OPTION, b"", 0.0, []
        if mode & c.MODE_MORE:
            if not self._pending:
                return c.STATUS_NO_TRANSPONDER, b"", 0.0, []
            page = self._pending.pop(0)
            return (c.STATUS_MORE_DATA if self._pending else c.STATUS_OK), page, 0.0, []
        if antenna_mode:
            mask = params[0]
            if mask == 0 or mask >> len(self.antennas):
                return c.STATUS_PARAMETER_RANGE, b"", 0.0, []
            numbers = [n + 1 for n in range(len(self.antennas)) if mask >> n & 1]
        else:
            numbers = list(range(1, len(self.antennas) + 1))
        records: list[bytes] = []
        air_s = 0.0
        for n in numbers:
            awake = [t for t in self.field.in_zones([self.antennas[n - 1]]) if not t.quiet]
            result = self.field.anticollision(awake)
            for mask_bits, occ, empty in result.rounds:
                air_s += air.inventory_round_s(mask_bits, occ, empty)
            self._count("collisions", result.collisions)
            for t in result.tags:
                if antenna_mode:
                    records.append(bytes((0x01, c.TR_TYPE_ISO15693, t.dsfid, 8)) + t.uid
                                   + bytes((1, n, 0x00, RSSI_DEFAULT, 0, 0, 0, 0)))
                else:
                    records.append(bytes((c.TR_TYPE_ISO15693, t.dsfid)) + t.uid)
        if not records:
            self._pending = []
            return c.STATUS_NO_TRANSPONDER, b"", air_s, []
        size = self.page_records if not antenna_mode else max(1, self.page_records // 2)
        pages = [records[i:i + size] for i in range(0, len(records), size)]
        encoded = [bytes((len(p),)) + b"".join(p) for p in pages]
        self._pending = encoded[1:]
        return (c.STATUS_MORE_DATA if self._pending else c.STATUS_OK), encoded[0], air_s, []

    def _read_multiple(self, tag: SimTag, p: bytes, req: int) -> tuple[int, bytes, float, list[Any]]:
        first, count = p[0], p[1]
        t = air.exchange_s(req + 2, None)
        fail = self.faults.take("fail_read")
        if fail is not None:
            self._count("faults_fired")
            return int(fail.params.get("status", c.STATUS_DATA_FALSE)), b"", t, []
        try:
            blocks = tag.read_blocks(first, count)
        except IsoError as exc:
            return c.STATUS_ISO_ERROR, bytes((exc.code,)), air.exchange_s(req + 2, 4), []
        t = air.read_multiple_s(count, tag.block_size)
        out = bytearray((count, tag.block_size))
        for i, b in enumerate(blocks):
            out.append(1 if (first + i) in tag.locked else 0)
            out += bytes(reversed(b))
        return c.STATUS_OK, bytes(out), t, []

    def _write_multiple(self, tag: SimTag, p: bytes, req: int) -> tuple[int, bytes, float, list[Any]]:
        first, count, size = p[0], p[1], p[2]
        if size != tag.block_size:
            return c.STATUS_ISO_ERROR, bytes((0x0F, first)), air.exchange_s(req + 1 + size, 4), []
        fail = self.faults.take("fail_write")
        if fail is not None:
            self._count("faults_fired")
            status = int(fail.params.get("status", c.STATUS_WRITE_ERROR))
            return status, bytes((first,)) if status == c.STATUS_WRITE_ERROR else b"", air.write_single_s(), []
        leaves = self.faults.take("tag_leaves")
        blocks = [bytes(reversed(p[3 + i * size:3 + (i + 1) * size])) for i in range(count)]
        t = 0.0
        for i, b in enumerate(blocks):
            if leaves is not None and i >= count // 2:
                self.field.remove(tag.uid)
                self._count("faults_fired")
                return c.STATUS_NO_TRANSPONDER, b"", t + air.exchange_s(req + 1 + size, None), []
            try:
                tag.write_block(first + i, b)
            except IsoError as exc:
                return c.STATUS_ISO_ERROR, bytes((exc.code, first + i)), t + air.exchange_s(req + 1 + size, 4), []
            t += air.write_single_s()
            self._count("blocks_written")
        return c.STATUS_OK, b"", t, []

    def _write_afi(self, tag: SimTag, p: bytes, req: int) -> tuple[int, bytes, float, list[Any]]:
        t = air.exchange_s(req + 1, air.STATUS_ANSWER, air.WRITE_PROGRAM_S)
        fail = self.faults.take("fail_afi")
        if fail is not None:
            self._count("faults_fired")
            return int(fail.params.get("status", c.STATUS_WRITE_ERROR)), b"", t, []
        if self.faults.take("tag_leaves") is not None:
            self.field.remove(tag.uid)
            self._count("faults_fired")
            return c.STATUS_NO_TRANSPONDER, b"", air.exchange_s(req + 1, None), []
        try:
            tag.write_afi(p[0])
        except IsoError as exc:
            return c.STATUS_ISO_ERROR, bytes((exc.code,)), t, []
        self._count("afi_written")
        return c.STATUS_OK, b"", t, []

    def _lock_afi(self, tag: SimTag, p: bytes, req: int) -> tuple[int, bytes, float, list[Any]]:
        t = air.exchange_s(req, air.STATUS_ANSWER, air.WRITE_PROGRAM_S)
        try:
            tag.lock_afi()
        except IsoError as exc:
            return c.STATUS_ISO_ERROR, bytes((exc.code,)), t, []
        return c.STATUS_OK, b"", t, []

    def _write_dsfid(self, tag: SimTag, p: bytes, req: int) -> tuple[int, bytes, float, list[Any]]:
        t = air.exchange_s(req + 1, air.STATUS_ANSWER, air.WRITE_PROGRAM_S)
        fail = self.faults.take("fail_write")
        if fail is not None:
            self._count("faults_fired")
            return int(fail.params.get("status", c.STATUS_WRITE_ERROR)), b"", t, []
        try:
            tag.write_dsfid(p[0])
        except IsoError as exc:
            return c.STATUS_ISO_ERROR, bytes((exc.code,)), t, []
        self._count("dsfid_written")
        return c.STATUS_OK, b"", t, []

    def _lock_dsfid(self, tag: SimTag, p: bytes, req: int) -> tuple[int, bytes, float, list[Any]]:
        t = air.exchange_s(req, air.STATUS_ANSWER, air.WRITE_PROGRAM_S)
        try:
            tag.lock_dsfid()
        except IsoError as exc:
            return c.STATUS_ISO_ERROR, bytes((exc.code,)), t, []
        return c.STATUS_OK, b"", t, []

    def _block_security(self, tag: SimTag, p: bytes, req: int) -> tuple[int, bytes, float, list[Any]]:
        first, count = p[0], p[1]
        try:
            sec = tag.block_security(first, count)
        except IsoError as exc:
            return c.STATUS_ISO_ERROR, bytes((exc.code,)), air.exchange_s(req + 2, 4), []
        # The tag answers flags + one security byte per block.
        return c.STATUS_OK, bytes((count, *sec)), air.exchange_s(req + 2, air.STATUS_ANSWER + count), []

    def _system_info(self, tag: SimTag, p: bytes, req: int) -> tuple[int, bytes, float, list[Any]]:
        fail = self.faults.take("fail_system_info")
        if fail is not None:
            self._count("faults_fired")
            return (int(fail.params.get("status", c.STATUS_DATA_FALSE)), b"",
                    air.exchange_s(req, None), [])
        data = bytes((tag.dsfid,)) + tag.uid + bytes((tag.afi, (tag.block_size - 1) & 0x1F,
                                                      tag.block_count - 1, tag.ic_ref))
        return c.STATUS_OK, data, air.exchange_s(req, air.SYSINFO_ANSWER), []

    def _select(self, tag: SimTag, p: bytes, req: int) -> tuple[int, bytes, float, list[Any]]:
        # ISO 15693: Select moves this tag to Selected (from Ready or Quiet); a tag that
        # was selected before goes back to Ready.
        self._selected = tag.uid
        tag.quiet = False
        return c.STATUS_OK, b"", air.exchange_s(req, air.STATUS_ANSWER), []

    def _reset_to_ready(self, tag: SimTag, p: bytes, req: int) -> tuple[int, bytes, float, list[Any]]:
        if self._selected == tag.uid:
            self._selected = None
        tag.quiet = False
        return c.STATUS_OK, b"", air.exchange_s(req, air.STATUS_ANSWER), []

    def _stay_quiet(self, tag: SimTag, p: bytes, req: int) -> tuple[int, bytes, float, list[Any]]:
        # The tag does not answer Stay Quiet; the reader reports OK.
        if self._selected == tag.uid:
            self._selected = None
        tag.quiet = True
        return c.STATUS_OK, b"", air.exchange_s(req, None), []

    def _nxp(self, d: bytes) -> tuple[int, bytes, float, list[Any]]:
        if len(d) < 3:
            return c.STATUS_LENGTH_ERROR, b"", 0.0, []
        mfr, sub, mode = d[0], d[1], d[2]
        if mfr != c.MFR_NXP or sub not in (c.NXP_SET_EAS, c.NXP_RESET_EAS, c.NXP_LOCK_EAS,
                                           c.NXP_EAS_ALARM):
            return c.STATUS_UNKNOWN_COMMAND, b"", 0.0, []
        if mode not in (0, 1):
            return c.STATUS_UNSUPPORTED_OPTION, b"", 0.0, []
        if len(d) != (11 if mode == 1 else 3):
            return c.STATUS_LENGTH_ERROR, b"", 0.0, []
        if not self.rf_on:
            return c.STATUS_NO_TRANSPONDER, b"", 0.0, []
        uid = d[3:11] if mode == 1 else None
        if sub == c.NXP_EAS_ALARM:
            tags = ([t for t in [self.field.find(uid, self.antennas)] if t is not None]
                    if uid is not None else [t for t in self.field.in_zones(self.antennas) if not t.quiet])
            req = air.EAS_ALARM_REQ + (8 if uid is not None else 0)
            if any(t.eas_alarm() for t in tags):
                return c.STATUS_OK, b"", air.exchange_s(req, air.EAS_ALARM_ANSWER), []
            return c.STATUS_NO_TRANSPONDER, b"", air.exchange_s(req, None), []
        req = air.ADDRESSED_REQ_BASE + 1 - (8 if uid is None else 0)
        if uid is not None:
            tag = self.field.find(uid, self.antennas)
        else:
            present = [t for t in self.field.in_zones(self.antennas) if not t.quiet]
            tag = present[0] if len(present) == 1 else None
        if tag is None:
            return c.STATUS_NO_TRANSPONDER, b"", air.exchange_s(req, None), []
        t = air.exchange_s(req, air.STATUS_ANSWER, air.WRITE_PROGRAM_S)
        try:
            if sub == c.NXP_LOCK_EAS:
                tag.lock_eas()
            else:
                tag.set_eas(sub == c.NXP_SET_EAS)
        except IsoError as exc:
            return c.STATUS_ISO_ERROR, bytes((exc.code,)), t, []
        return c.STATUS_OK, b"", t, []

    # ---- wire: faults, timing, endpoints -------------------------------------------------

    def respond(self, req: Request, raw_len: int, received_at: float) -> bytes | None:
        """Apply wire faults and timing to one request; the bytes to write, or None.

        With ``timing`` on, the answer is held until ``received_at`` plus the modelled serial
        and air time; the wait is added to :attr:`waited_s` and counted as ``timing_waits``
        (an answer already late is sent at once and not counted).
        """
        if self.faults.is_dead():
            self._count("ignored_dead")
            return None
        if self.faults.take("timeout") is not None:
            self._count("faults_fired")
            return None
        ans = self.process(req)
        if ans.frame is None:
            return None
        frame = ans.frame
        if self.faults.take("corrupt_crc") is not None:
            self._count("faults_fired")
            frame = frame[:-1] + bytes((frame[-1] ^ 0xA5,))
        garbage = self.faults.take("garbage")
        if garbage is not None:
            self._count("faults_fired")
            n = int(garbage.params.get("bytes", 5))
            frame = bytes(self._rng.randrange(256) for _ in range(n)) + frame
        serial_s = air.serial_s(raw_len, self.baudrate, self.parity) + \
            air.serial_s(len(ans.frame), self.baudrate, self.parity)
        self.floor.add(serial_s, ans.air_s)
        if self.timing:
            delay = received_at + serial_s + ans.air_s - self._clock()
            if delay > 0:
                with self._lock:
                    self._count("timing_waits")
                    self.waited_s += delay
                self._sleep(delay)
        return frame

    def inject(self, kind: str, count: int | None = 1, **params: Any) -> None:
        """Arm a fault (see :mod:`hardware_sim.faults`); ``disconnect`` drops TCP clients now."""
        self.faults.add(kind, count, **params)
        if kind == "disconnect":
            for conn in list(self._conns):
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError as exc:
                    log.debug("shutdown: %s", exc)

    def start(self, pty: bool = True, tcp: bool = True, host: str = "127.0.0.1",
              port: int = 0) -> FeigReaderDevice:
        """Serve on a new pty (``pty_path``) and/or TCP (``tcp_port``)."""
        self._stop.clear()
        if pty:
            master, slave = os.openpty()
            tty.setraw(slave)
            self._pty_master, self._pty_slave = master, slave
            self.pty_path = os.ttyname(slave)
            self._spawn(self._serve_pty, f"sim-{self.name}-pty")
        if tcp:
            srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                srv.bind((host, port))
            except OSError as exc:
                srv.close()
                self.stop()
                raise DeviceError(f"{self.name}: cannot listen on {host}:{port}: {exc}") from exc
            srv.listen(4)
            srv.settimeout(0.1)
            self._server = srv
            self.tcp_port = srv.getsockname()[1]
            self._spawn(self._serve_tcp, f"sim-{self.name}-tcp")
        log.info("%s serving: pty %s, tcp %s", self.name, self.pty_path, self.tcp_port)
        return self

    def _spawn(self, target: Any, name: str, *args: Any) -> None:
        t = threading.Thread(target=target, args=args, name=name, daemon=True)
        self._threads.append(t)
        t.start()

    def stop(self) -> None:
        """Stop every endpoint and wait for its thread."""
        self._stop.set()
        for t in list(self._threads):
            if t is not threading.current_thread():
                t.join(timeout=5)
        self._threads.clear()
        for s in list(self._conns):
            _close_quietly(s)
        self._conns.clear()
        if self._server is not None:
            _close_quietly(self._server)
            self._server = None
        for fd in (self._pty_master, self._pty_slave):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError as exc:
                    log.debug("closing pty fd: %s", exc)
        self._pty_master = self._pty_slave = None

    def __enter__(self) -> FeigReaderDevice:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _handle_bytes(self, dec: FeigFrameDecoder, data: bytes, send: Any) -> None:
        received = self._clock()
        log.log(TRACE, "%s < %s", self.name, data.hex(" "))
        dec.receive_data(data)
        before = dec.crc_errors
        while True:
            ev = dec.next_event()
            if isinstance(ev, NeedData):
                break
            assert isinstance(ev, Request)
            raw_len = len(ev.data) + (7 if ev.advanced else 5)
            out = self.respond(ev, raw_len, received)
            if out is not None:
                log.log(TRACE, "%s > %s", self.name, out.hex(" "))
                send(out)
        if dec.crc_errors != before:
            with self._lock:
                self._count("crc_errors", dec.crc_errors - before)

    def _serve_pty(self) -> None:
        master = self._pty_master
        assert master is not None
        dec = FeigFrameDecoder("request")

        def send(b: bytes) -> None:
            if self.faults.line_dead():
                return
            os.write(master, b)

        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([master], [], [], 0.1)
                if not ready:
                    continue
                data = os.read(master, 4096)
            except OSError as exc:
                if self._stop.is_set():
                    return
                log.debug("%s pty read: %s", self.name, exc)
                time.sleep(0.05)
                continue
            if self.faults.line_dead():
                dec.reset()
                continue
            self._handle_bytes(dec, data, send)

    def _serve_tcp(self) -> None:
        """Accept TCP clients until :meth:`stop`.

        A failing ``accept()`` (e.g. EMFILE, or the ``accept_error`` fault) does not end the
        loop: it is logged as a warning, counted as ``accept_errors`` and retried after a
        back-off that doubles from 50 ms to at most 1 s (cut short by :meth:`stop`).
        """
        srv = self._server
        if srv is None:
            log.error("%s: TCP endpoint started without a listening socket", self.name)
            return
        backoff = ACCEPT_BACKOFF_MIN_S
        failures = 0
        while not self._stop.is_set():
            try:
                if self.faults.take("accept_error") is not None:
                    self._count("faults_fired")
                    raise OSError(errno.EMFILE, "accept failed (simulated fault accept_error)")
                conn, _ = srv.accept()
            except TimeoutError:
                continue
            except OSError as exc:
                if self._stop.is_set():
                    return
                failures += 1
                with self._lock:
                    self._count("accept_errors")
                log.warning("%s: TCP accept on port %s failed (%s; %d in a row); "
                            "retrying in %.2f s", self.name, self.tcp_port, exc, failures, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, ACCEPT_BACKOFF_MAX_S)
                continue
            if failures:
                log.info("%s: TCP accept works again after %d failures", self.name, failures)
            backoff, failures = ACCEPT_BACKOFF_MIN_S, 0
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.settimeout(0.1)
            self._conns.add(conn)
            self._spawn(self._serve_conn, f"sim-{self.name}-conn", conn)

    def _serve_conn(self, conn: socket.socket) -> None:
        dec = FeigFrameDecoder("request")
        generation = self.faults.disconnects
        try:
            while not self._stop.is_set():
                try:
                    data = conn.recv(4096)
                except TimeoutError:
                    continue
                except OSError:
                    return
                if not data or self.faults.disconnects != generation:
                    self._count("disconnects")
                    return
                self._handle_bytes(dec, data, conn.sendall)
        finally:
            self._conns.discard(conn)
            _close_quietly(conn)


def _close_quietly(s: socket.socket) -> None:
    try:
        s.close()
    except OSError as exc:
        log.debug("closing socket: %s", exc)
