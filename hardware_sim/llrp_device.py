"""A simulated fixed UHF reader speaking LLRP over TCP (port 5084 by default).

It uses the project's LLRP codec (:mod:`drivers.llrp`) for every byte and models:

* the connection: a READER_EVENT_NOTIFICATION with ConnectionAttemptEvent on connect (a
  second client gets status 2, "a client-initiated connection already exists", and is
  closed); KEEPALIVEs at the interval of SET_READER_CONFIG's KeepaliveSpec; CLOSE_CONNECTION;
* the ROSpec lifecycle: ADD (Disabled) -> ENABLE (Inactive) -> START (Active) -> end or
  STOP (Inactive) -> DISABLE / DELETE; out-of-state requests and unknown IDs answer
  M_FieldError (101), a malformed message M_ParameterError (100) in an ERROR_MESSAGE, an
  unknown message M_UnsupportedMessage (109), a version other than 1 M_UnsupportedVersion;
* ROSpec execution: for each AISpec antenna, one Gen2 inventory round over the tags of the
  zones that include the antenna (stop triggers: ROSpec duration, AISpec null, duration, or
  tag observation "N attempts"); RO_ACCESS_REPORTs per the ROReportSpec (every N tags
  and/or at the end of the AISpec/ROSpec) with AntennaID, PeakRSSI, FirstSeenTimestampUTC,
  C1G2PC and the EPC as the TagReportContentSelector asks; ROSpecEvents when enabled;
* AccessSpecs: C1G2TargetTag matching (bank, bit pointer, mask, data), C1G2Read and
  C1G2Write on the EPC and user banks (word addressed), results in the tag's report, the
  operation-count stop trigger (the spec is deleted after it);
* faults (:class:`hardware_sim.faults.FaultPlan`): ``fail_write`` (nonspecific tag error,
  nothing written), ``fail_read``, ``tag_leaves`` (half the words written, then the tag
  leaves its zone: "no response from tag"), ``disconnect`` (the connection drops),
  ``hang`` (no answer for ``seconds``), ``timeout`` (the next request is not answered),
  ``garbage`` (``bytes`` 0xFF bytes, a header of version 7, before the next answer);
* four GPIs (``set_input``: a gate's IR beams, read with GET_READER_CONFIG) and four GPOs
  (GPOWriteData in SET_READER_CONFIG, ``outputs_now``);
* air time (:mod:`hardware_sim.llrp_air`): slept when ``timing`` is on, always added to
  the :class:`~hardware_sim.air.FloorMeter`.

Zones are named sets of antennas (default: ``uhf-pad`` = antenna 1, ``uhf-gate`` =
antennas 2 and 3). It never imports production code other than the codec and tag model.
"""

from __future__ import annotations

import logging
import socket
import struct
import threading
import time
import zlib
from typing import Any

from drivers.llrp import messages as m
from drivers.llrp import params as p
from drivers.llrp.codec import DEFAULT_PORT, FrameDecoder, encode_message
from drivers.llrp.errors import LlrpFrameError
from hardware_sim.air import FloorMeter
from hardware_sim.errors import SimError
from hardware_sim.faults import FaultPlan
from hardware_sim.llrp_air import AirModel
from hardware_sim.llrp_tag import UhfField, UhfLocked, UhfTag, UhfTagError

log = logging.getLogger("hardware_sim.llrp")

DEFAULT_ZONES: dict[str, tuple[int, ...]] = {"uhf-pad": (1,), "uhf-gate": (2, 3)}
PEN_SIM = 0  # IANA private enterprise number 0 ("reserved"): not a real maker
MODEL_SIM = 2805  # a model number for the simulator
DEFAULT_REPORT = p.ROReportSpec(2, 0, p.TagReportContentSelector(
    frozenset({"antenna_id", "peak_rssi", "first_seen_timestamp"}), p.C1G2EPCMemorySelector(False, True)))


GPI_PORTS = GPO_PORTS = 4


class LlrpSimError(SimError):
    """The simulated LLRP reader cannot start or was asked something invalid."""


class _SpecError(Exception):
    """An LLRP request refused with a status (internal: becomes an LLRPStatus)."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(text)
        self.code = code


class _RoSpecRun:
    """A running ROSpec: its thread and stop flag."""

    def __init__(self, spec: p.ROSpec) -> None:
        self.spec = spec
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None


class LlrpReaderDevice:
    """The simulated LLRP reader. ``start()`` listens; ``url`` is ``llrp://host:port``.

    About 610 lines, on purpose: one handler per LLRP message of the ROSpec and AccessSpec
    lifecycles, which share the reader's state machine (specs, their states, the report
    queue); the codec, the tags and the air-time model live in their own modules.

    Args:
        field: the UHF tags and zones it sees (antennas are the zones' antenna numbers).
        name: a label for the control API.
        timing: sleep the modelled air time (False: answer at once; the floor still counts).
        air: the Gen2 link parameters.
    """

    def __init__(self, field: UhfField | None = None, *, name: str = "uhf", timing: bool = True,
                 air: AirModel | None = None) -> None:
        self.field = field or UhfField(DEFAULT_ZONES)
        self.name = name
        self.timing = timing
        self.air = air or AirModel()
        self.antenna_count = max(a for ants in self.field.zones.values() for a in ants)
        self.faults = FaultPlan()
        self.floor = FloorMeter()
        self.counters: dict[str, int] = {}
        self.host = "127.0.0.1"
        self.tcp_port: int | None = None
        self._lock = threading.RLock()
        self._send_lock = threading.Lock()
        self._rospecs: dict[int, list[Any]] = {}  # id -> [ROSpec, state]
        self._runs: dict[int, _RoSpecRun] = {}
        self._access: dict[int, list[Any]] = {}  # id -> [AccessSpec, enabled, operations left]
        self._report_spec: p.ROReportSpec = DEFAULT_REPORT
        self._rospec_events = False
        self._keepalive_ms = 0
        self.inputs: dict[int, bool] = {n: False for n in range(1, GPI_PORTS + 1)}
        self.outputs: dict[int, bool] = {n: False for n in range(1, GPO_PORTS + 1)}
        self._listener: socket.socket | None = None
        self._client: socket.socket | None = None
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._next_id = 1

    # ---- life cycle ------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> LlrpReaderDevice:
        """Listen on ``host:port`` (0 = any free port).

        Raises:
            LlrpSimError: the port cannot be bound.
        """
        try:
            sock = socket.create_server((host, port), reuse_port=False)
        except OSError as exc:
            raise LlrpSimError(f"LLRP reader {self.name}: cannot listen on {host}:{port}: {exc}") from exc
        sock.settimeout(0.2)
        self._listener, self.host, self.tcp_port = sock, host, sock.getsockname()[1]
        self._stopping.clear()
        self._spawn(self._accept_loop, "accept")
        return self

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            for rid in list(self._runs):
                self._stop_run(rid)
        for s in (self._listener, self._client):
            if s is not None:
                try:
                    s.close()
                except OSError as exc:
                    log.debug("closing a socket: %s", exc)
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(timeout=2)
        self._threads.clear()

    @property
    def url(self) -> str:
        return f"llrp://{self.host}:{self.tcp_port}"

    def _spawn(self, fn: Any, what: str, *args: Any) -> threading.Thread:
        t = threading.Thread(target=fn, args=args, name=f"llrp-{self.name}-{what}", daemon=True)
        self._threads = [x for x in self._threads if x.is_alive()]
        self._threads.append(t)
        t.start()
        return t

    def _count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self.counters[name] = self.counters.get(name, 0) + n

    def inject(self, kind: str, count: int | None = 1, **params: Any) -> None:
        """Arm a fault (see the module docstring); ``disconnect`` drops the client now."""
        self.faults.add(kind, count, **params)
        if kind == "disconnect":
            self._drop_client()

    def set_input(self, number: int, on: bool) -> None:
        """Drive a general-purpose input (a gate's IR beam), as GET_READER_CONFIG reads it.

        Raises:
            LlrpSimError: no such input.
        """
        if number not in self.inputs:
            raise LlrpSimError(f"GPI must be 1..{GPI_PORTS}, got {number}")
        with self._lock:
            self.inputs[number] = bool(on)

    def outputs_now(self) -> dict[str, str]:
        """The general-purpose outputs, ``{"gpo1": "on", ...}``."""
        with self._lock:
            return {f"gpo{n}": "on" if on else "off" for n, on in self.outputs.items()}

    def status(self) -> dict[str, Any]:
        floor = self.floor.snapshot()
        with self._lock:
            return {"protocol": "llrp", "url": self.url, "zones": self.field.snapshot(),
                    "rospecs": {i: s[1] for i, s in self._rospecs.items()},
                    "access_specs": sorted(self._access), "counters": dict(self.counters),
                    "connected": self._client is not None, "faults": self.faults.armed(),
                    "inputs": {n: on for n, on in self.inputs.items()},
                    "outputs": self.outputs_now(),
                    "tags": [{**t.to_spec(), "zone": self.field.zone_of(t)}
                             for t in self.field.catalog()],
                    "floor": {"air_s": round(floor.air_s, 6), "exchanges": floor.exchanges}}

    # ---- connections -----------------------------------------------------------------------

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                if self._stopping.is_set():
                    return
                self._count("accept_errors")
                time.sleep(0.05)
                continue
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                busy = self._client is not None
                if not busy:
                    self._client = conn
            if busy:
                self._count("refused_connections")
                self._send_on(conn, self._event((p.ConnectionAttemptEvent(
                    p.CONNECTION_FAILED_CLIENT_EXISTS),)))
                conn.close()
                continue
            self._count("connections")
            self._spawn(self._session, "session", conn)

    def _drop_client(self) -> None:
        with self._lock:
            conn, self._client = self._client, None
            for rid in list(self._runs):
                self._stop_run(rid)
                self._rospecs[rid][1] = p.ROSPEC_INACTIVE
        if conn is not None:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError as exc:
                log.debug("shutdown: %s", exc)
            conn.close()

    def _session(self, conn: socket.socket) -> None:
        decoder = FrameDecoder()
        self._send(self._event((p.ConnectionAttemptEvent(p.CONNECTION_SUCCESS),)))
        keepalive = self._spawn(self._keepalive_loop, "keepalive", conn)
        try:
            while not self._stopping.is_set():
                try:
                    data = conn.recv(65536)
                except OSError:
                    break
                if not data:
                    break
                try:
                    msgs = decoder.feed(data)
                except LlrpFrameError as exc:
                    self._count("bad_frames")
                    self._send(m.ErrorMessage(p.LLRPStatus(p.M_PARAMETER_ERROR, str(exc)[:200])))
                    if decoder.broken:  # a bad header: nothing after it can be framed
                        return
                    continue
                for msg in msgs:
                    if not self._handle(msg):
                        return
        finally:
            with self._lock:
                if self._client is conn:
                    self._client = None
                    for rid in list(self._runs):  # nobody to report to
                        self._stop_run(rid)
                        self._rospecs[rid][1] = p.ROSPEC_INACTIVE
            conn.close()
            keepalive.join(timeout=1)

    def _keepalive_loop(self, conn: socket.socket) -> None:
        while not self._stopping.is_set() and self._client is conn:
            interval = self._keepalive_ms
            if self._stopping.wait(interval / 1000 if interval else 0.1):
                return
            if interval and self._client is conn:
                self._count("keepalives")
                self._send(m.Keepalive(msg_id=self._msg_id()))

    def _msg_id(self) -> int:
        with self._lock:
            self._next_id += 1
            return self._next_id

    def _event(self, events: tuple[p.Parameter, ...]) -> m.ReaderEventNotification:
        return m.ReaderEventNotification(p.ReaderEventNotificationData(
            p.UTCTimestamp(int(time.time() * 1e6)), events), msg_id=self._msg_id())

    def _send(self, msg: m.Message) -> None:
        conn = self._client
        if conn is not None:
            self._send_on(conn, msg)

    def _send_on(self, conn: socket.socket, msg: m.Message) -> None:
        self._send_bytes(conn, encode_message(msg))

    def _send_raw(self, data: bytes) -> None:
        conn = self._client
        if conn is not None:
            self._send_bytes(conn, data)

    def _send_bytes(self, conn: socket.socket, data: bytes) -> None:
        with self._send_lock:
            try:
                conn.sendall(data)
            except OSError as exc:
                log.debug("LLRP send failed: %s", exc)

    # ---- requests --------------------------------------------------------------------------

    def _handle(self, msg: m.Message) -> bool:
        """Answer one message; False ends the session."""
        self._count(f"rx_{type(msg).__name__}")
        if self.faults.take("timeout") is not None:
            return True
        dead = self.faults.dead_until - time.monotonic()
        if dead > 0:
            time.sleep(dead)
        junk = self.faults.take("garbage")
        if junk is not None:  # bytes that break the client's framing, then the answer
            self._send_raw(bytes([0xFF]) * int(junk.params.get("bytes", 12)))
        if msg.version != 1:
            self._send(m.ErrorMessage(p.LLRPStatus(p.M_UNSUPPORTED_VERSION,
                                                   "this reader speaks LLRP 1.0.1 (version 1)"),
                                      msg_id=msg.msg_id))
            return True
        if isinstance(msg, m.CloseConnection):
            self._send(m.CloseConnectionResponse(msg_id=msg.msg_id))
            return False
        if isinstance(msg, m.KeepaliveAck):
            self._count("keepalive_acks")
            return True
        if isinstance(msg, m.EnableEventsAndReports):
            return True  # nothing is held back: reports and events are always sent
        if isinstance(msg, m.GetReaderConfig):
            with self._lock:
                config: tuple[p.Parameter, ...] = ()
                if msg.requested_data in (0, p.CONFIG_GPI_STATE):
                    config += tuple(p.GPIPortCurrentState(n, True, p.GPI_HIGH if on else p.GPI_LOW)
                                    for n, on in self.inputs.items() if msg.gpi_port in (0, n))
                if msg.requested_data == 0:
                    config += (p.ReaderEventNotificationSpec(
                        (p.EventNotificationState(p.EVENT_ROSPEC, self._rospec_events),)),
                        self._report_spec,
                        p.KeepaliveSpec(1 if self._keepalive_ms else 0, self._keepalive_ms))
            self._send(m.GetReaderConfigResponse(p.LLRPStatus(), config, msg_id=msg.msg_id))
            return True
        response = m.RESPONSE_TO.get(type(msg))
        if response is None:
            self._send(m.ErrorMessage(p.LLRPStatus(
                p.M_UNSUPPORTED_MESSAGE, f"message type {getattr(msg, 'msg_type', msg.TYPE)} "
                "is not supported"), msg_id=msg.msg_id))
            return True
        try:
            extra = self._apply(msg)
            status = p.LLRPStatus()
        except _SpecError as exc:
            extra, status = None, p.LLRPStatus(exc.code, str(exc))
        if isinstance(msg, m.GetReaderCapabilities):
            general = p.GeneralDeviceCapabilities(self.antenna_count, PEN_SIM, MODEL_SIM,
                                                  "smartlib-sim 1")
            self._send(m.GetReaderCapabilitiesResponse(status, general, (self._regulatory(),),
                                                       msg_id=msg.msg_id))
        else:
            assert issubclass(response, m.StatusResponse)
            self._send(response(status, msg_id=msg.msg_id))
        if extra is not None:
            extra()
        return True

    def _regulatory(self) -> p.Parameter:
        """RegulatoryCapabilities (143): ETSI EN 302 208 (standard 2), country 704 (Viet Nam),
        one 30 dBm power level, one fixed 866.9 MHz channel, and the one Gen2 RF mode the
        air-time model uses (Miller 4, BLF as BDR, Tari as min = max)."""
        def raw(ptype: int, *parts: bytes) -> p.RawParameter:
            return p.RawParameter(ptype, b"".join(parts))

        air = self.air
        power = raw(145, struct.pack("!Hh", 1, 3000))  # TransmitPowerLevelTableEntry
        fixed = raw(148, struct.pack("!HI", 1, 866900))  # FixedFrequencyTable, kHz
        frequency = raw(146, b"\x00", p.encode_param(fixed))  # FrequencyInformation, no hopping
        miller = {1: 0, 2: 1, 4: 2, 8: 3}[air.miller]
        tari_ns = int(air.tari_s * 1e9)
        mode = raw(329, struct.pack("!IBBBBIIIII", 1, 0x80, miller, 0, miller, int(air.blf_hz),
                                    1750, tari_ns, tari_ns, 0))  # UHFC1G2RFModeTableEntry
        band = raw(144, p.encode_param(power), p.encode_param(frequency),
                   p.encode_param(raw(328, p.encode_param(mode))))
        return raw(143, struct.pack("!HH", 704, 2), p.encode_param(band))

    def _apply(self, msg: m.Message) -> Any:
        """Change state for ``msg``; returns what to do after the response, if anything."""
        with self._lock:
            if isinstance(msg, m.SetReaderConfig):
                if msg.reset_to_factory_default:
                    self._report_spec, self._rospec_events, self._keepalive_ms = DEFAULT_REPORT, False, 0
                if msg.report is not None:
                    self._report_spec = msg.report
                if msg.keepalive is not None:
                    self._keepalive_ms = msg.keepalive.interval_ms if msg.keepalive.trigger_type == 1 else 0
                for gpo in msg.details:
                    if isinstance(gpo, p.GPOWriteData):
                        if gpo.port not in self.outputs:
                            raise _SpecError(p.P_FIELD_ERROR, f"GPO port {gpo.port} does not exist")
                        self.outputs[gpo.port] = gpo.on
                        self._count("gpo_writes")
                if msg.events is not None:
                    for st in msg.events.states:
                        if st.event_type == p.EVENT_ROSPEC:
                            self._rospec_events = st.enabled
                return None
            if isinstance(msg, m.AddROSpec):
                spec = msg.rospec
                if spec.rospec_id == 0 or spec.rospec_id in self._rospecs:
                    raise _SpecError(p.M_FIELD_ERROR, f"ROSpecID {spec.rospec_id} is 0 or already used")
                if spec.state != p.ROSPEC_DISABLED:
                    raise _SpecError(p.M_FIELD_ERROR, "a new ROSpec must be in the Disabled state")
                if not spec.specs:
                    raise _SpecError(p.M_MISSING_PARAMETER, "the ROSpec has no AISpec")
                self._rospecs[spec.rospec_id] = [spec, p.ROSPEC_DISABLED]
                return None
            if isinstance(msg, m.AddAccessSpec):
                assert msg.access_spec is not None
                spec_a = msg.access_spec
                if spec_a.access_spec_id == 0 or spec_a.access_spec_id in self._access:
                    raise _SpecError(p.M_FIELD_ERROR,
                                     f"AccessSpecID {spec_a.access_spec_id} is 0 or already used")
                if spec_a.enabled:
                    raise _SpecError(p.M_FIELD_ERROR, "a new AccessSpec must be disabled")
                count = spec_a.stop.operation_count if spec_a.stop.trigger_type == 1 else None
                self._access[spec_a.access_spec_id] = [spec_a, False, count]
                return None
            if isinstance(msg, (m.EnableAccessSpec, m.DisableAccessSpec, m.DeleteAccessSpec)):
                return self._access_state(msg)
            if isinstance(msg, m.SpecIdRequest):
                return self._rospec_state(msg)
            return None  # GET_READER_CAPABILITIES

    def _ids(self, table: dict[int, Any], spec_id: int, what: str) -> list[int]:
        if spec_id == 0:
            return list(table)
        if spec_id not in table:
            raise _SpecError(p.M_FIELD_ERROR, f"no {what} with ID {spec_id}")
        return [spec_id]

    def _access_state(self, msg: m.SpecIdRequest) -> None:
        for i in self._ids(self._access, msg.spec_id, "AccessSpec"):
            if isinstance(msg, m.DeleteAccessSpec):
                del self._access[i]
            else:
                self._access[i][1] = isinstance(msg, m.EnableAccessSpec)

    def _rospec_state(self, msg: m.SpecIdRequest) -> Any:
        ids = self._ids(self._rospecs, msg.spec_id, "ROSpec")
        if isinstance(msg, m.DeleteROSpec):
            for i in ids:
                self._stop_run(i)
                del self._rospecs[i]
            return None
        if isinstance(msg, m.DisableROSpec):
            for i in ids:
                self._stop_run(i)
                self._rospecs[i][1] = p.ROSPEC_DISABLED
            return None
        if isinstance(msg, m.EnableROSpec):
            starts = []
            for i in ids:
                if self._rospecs[i][1] == p.ROSPEC_DISABLED:
                    self._rospecs[i][1] = p.ROSPEC_INACTIVE
                    if self._rospecs[i][0].boundary.start.trigger_type == 1:  # immediate
                        starts.append(i)
            return (lambda: self._start_runs(starts)) if starts else None
        if msg.spec_id == 0:
            raise _SpecError(p.M_FIELD_ERROR, "START/STOP_ROSPEC need a ROSpecID, not 0")
        rid = ids[0]
        state = self._rospecs[rid][1]
        if isinstance(msg, m.StartROSpec):
            if state != p.ROSPEC_INACTIVE:
                raise _SpecError(p.M_FIELD_ERROR, f"ROSpec {rid} is {_STATE_NAMES[state]}, not Inactive")
            self._rospecs[rid][1] = p.ROSPEC_ACTIVE  # before the response: no second START
            return lambda: self._start_run(rid)
        if state != p.ROSPEC_ACTIVE:  # STOP
            raise _SpecError(p.M_FIELD_ERROR, f"ROSpec {rid} is {_STATE_NAMES[state]}, not Active")
        self._stop_run(rid)
        self._rospecs[rid][1] = p.ROSPEC_INACTIVE
        return None

    # ---- ROSpec execution ----------------------------------------------------------------

    def _start_run(self, rid: int) -> None:
        with self._lock:
            entry = self._rospecs.get(rid)
            if entry is None or rid in self._runs:
                return  # deleted meanwhile, or already running
            entry[1] = p.ROSPEC_ACTIVE
            run = _RoSpecRun(entry[0])
            self._runs[rid] = run
        run.thread = self._spawn(self._execute, f"rospec{rid}", run)

    def _start_runs(self, rids: list[int]) -> None:
        for rid in rids:
            self._start_run(rid)

    def _stop_run(self, rid: int) -> None:
        """Stop a running ROSpec; its thread ends on its own and leaves the state alone."""
        run = self._runs.pop(rid, None)
        if run is not None:
            run.stop.set()

    def _execute(self, run: _RoSpecRun) -> None:
        spec = run.spec
        report = spec.report or self._report_spec
        pending: dict[tuple[bytes, int], p.TagReportData] = {}
        if self._rospec_events:
            self._send(self._event((p.ROSpecEvent(p.ROSPEC_STARTED, spec.rospec_id),)))
        stop = spec.boundary.stop
        deadline = time.monotonic() + stop.duration_ms / 1000 if stop.trigger_type == 1 else None
        modelled = 0.0
        try:
            while not run.stop.is_set():
                for ai in spec.specs:
                    modelled += self._run_aispec(run, ai, report, pending, deadline)
                    if report.trigger == 1:
                        self._flush(pending, report)
                if deadline is not None:
                    if not self.timing or time.monotonic() >= deadline:
                        # without timing, one pass stands for the whole duration
                        break
                elif all(ai.stop.trigger_type in (1, 3) for ai in spec.specs):
                    break  # a Null ROSpec stop trigger ends when all its specs are done
        finally:
            if report.trigger in (1, 2):
                self._flush(pending, report)
            with self._lock:
                if self._runs.get(spec.rospec_id) is run:  # ended by itself, not stopped
                    del self._runs[spec.rospec_id]
                    entry = self._rospecs.get(spec.rospec_id)
                    if entry is not None and entry[1] == p.ROSPEC_ACTIVE:
                        entry[1] = p.ROSPEC_INACTIVE
            if self._rospec_events:
                self._send(self._event((p.ROSpecEvent(p.ROSPEC_ENDED, spec.rospec_id),)))
            self._count("rospec_runs")

    def _run_aispec(self, run: _RoSpecRun, ai: p.AISpec, report: p.ROReportSpec,
                    pending: dict[tuple[bytes, int], p.TagReportData], deadline: float | None) -> float:
        """Run one AISpec; returns its modelled air time."""
        antennas = [a for a in ai.antenna_ids if a] or list(range(1, self.antenna_count + 1))
        kind = ai.stop.trigger_type
        obs = next((d for d in ai.stop.details if isinstance(d, p.TagObservationTrigger)), None)
        started = time.monotonic()
        total = 0.0
        rounds = 0
        unique: set[bytes] = set()
        while not run.stop.is_set():
            for ant in antennas:
                if ant > self.antenna_count:
                    continue
                total += self._round(run.spec, ant, report, pending, unique)
                if report.n and len(pending) >= report.n:
                    self._flush(pending, report)
            rounds += 1
            elapsed = time.monotonic() - started
            if kind == 3:  # tag observation: upon N tags, else N attempts (or its timeout)
                if obs is not None and obs.trigger_type == 0:
                    if len(unique) >= max(1, obs.number_of_tags):
                        break
                elif rounds >= max(1, obs.number_of_attempts if obs is not None else 1):
                    break
                if obs is not None and obs.timeout_ms and (
                        not self.timing or elapsed >= obs.timeout_ms / 1000):
                    break
            elif kind == 1 and (not self.timing or elapsed >= ai.stop.duration_ms / 1000):
                break
            elif kind not in (1, 3) and deadline is not None and (
                    not self.timing or time.monotonic() >= deadline):
                break
            elif kind not in (1, 3) and deadline is None and not self.timing:
                run.stop.wait(0.01)  # runs until STOP_ROSPEC: do not spin
        return total

    def _round(self, spec: p.ROSpec, antenna: int, report: p.ROReportSpec,
               pending: dict[tuple[bytes, int], p.TagReportData], unique: set[bytes]) -> float:
        """One inventory round on one antenna, AccessSpecs included; returns its air time."""
        tags = self.field.seen_by(antenna)
        unique.update(t.uii for t in tags)
        air = self.air.round_s([len(t.uii) for t in tags])
        for tag in tags:
            uii, pc = tag.uii, tag.pc  # as singulated, before any access changes them
            results, access_id, access_air = self._access_ops(spec, antenna, tag)
            air += access_air
            key = (uii, antenna)
            if key in pending and not results:
                continue
            pending[key] = self._tag_report(spec, antenna, tag, report.content, results, access_id,
                                            uii, pc)
        self.floor.add(0.0, air)
        if self.timing:
            time.sleep(air)
        return air

    def _tag_report(self, spec: p.ROSpec, antenna: int, tag: UhfTag,
                    sel: p.TagReportContentSelector, results: tuple[p.Parameter, ...],
                    access_id: int | None, uii: bytes, pc: int) -> p.TagReportData:
        on = sel.enabled
        rssi = -35 - zlib.crc32(tag.key.encode() + bytes([antenna])) % 30  # stable per tag/antenna
        return p.TagReportData(
            uii,
            antenna_id=antenna if "antenna_id" in on else None,
            peak_rssi=rssi if "peak_rssi" in on else None,
            first_seen_utc=int(time.time() * 1e6) if "first_seen_timestamp" in on else None,
            pc=pc if sel.memory is not None and sel.memory.enable_pc_bits else None,
            rospec_id=spec.rospec_id if "rospec_id" in on else None,
            access_spec_id=access_id if results else None,
            op_results=results)

    def _flush(self, pending: dict[tuple[bytes, int], p.TagReportData], report: p.ROReportSpec) -> None:
        if not pending:
            return
        tags = tuple(pending.values())
        pending.clear()
        self._count("reports")
        self._send(m.ROAccessReport(tags, msg_id=self._msg_id()))

    # ---- access --------------------------------------------------------------------------

    def _access_ops(self, spec: p.ROSpec, antenna: int,
                    tag: UhfTag) -> tuple[tuple[p.Parameter, ...], int | None, float]:
        with self._lock:
            chosen = None
            for aid, entry in sorted(self._access.items()):
                a: p.AccessSpec = entry[0]
                if (entry[1] and a.rospec_id in (0, spec.rospec_id) and a.antenna_id in (0, antenna)
                        and all(_matches(tag, t) for t in a.command.tag_spec.targets)):
                    chosen = aid
                    break
            if chosen is None:
                return (), None, 0.0
            a = self._access[chosen][0]
            left = self._access[chosen][2]
            if left is not None:
                left -= 1
                if left <= 0:
                    del self._access[chosen]  # the operation count is reached
                else:
                    self._access[chosen][2] = left
        results: list[p.Parameter] = []
        air = 0.0
        for op in a.command.op_specs:
            if isinstance(op, p.C1G2Read):
                res, t = self._read(tag, op)
            elif isinstance(op, p.C1G2Write):
                res, t = self._write(tag, op)
            else:
                continue
            results.append(res)
            air += t
            if getattr(res, "result", 0) != 0:
                break  # Gen2: a failed operation ends the access sequence
        self._count("access_ops", len(results))
        return tuple(results), chosen, air

    def _read(self, tag: UhfTag, op: p.C1G2Read) -> tuple[p.Parameter, float]:
        if self.faults.take("fail_read") is not None:
            return p.C1G2ReadOpSpecResult(p.READ_TAG_ERROR, op.op_spec_id), self.air.read_s(0)
        try:
            data = tag.read(op.bank, op.word_pointer, op.word_count)
        except UhfTagError:
            return p.C1G2ReadOpSpecResult(p.READ_TAG_ERROR, op.op_spec_id), self.air.read_s(0)
        return p.C1G2ReadOpSpecResult(p.READ_SUCCESS, op.op_spec_id, data), self.air.read_s(len(data) // 2)

    def _write(self, tag: UhfTag, op: p.C1G2Write) -> tuple[p.Parameter, float]:
        words = len(op.data) // 2
        if self.faults.take("fail_write") is not None:
            return p.C1G2WriteOpSpecResult(p.WRITE_TAG_ERROR, op.op_spec_id, 0), self.air.write_s(1)
        if self.faults.take("tag_leaves") is not None:
            half = words // 2
            if half:
                tag.write(op.bank, op.word_pointer, op.data[:2 * half])
            self.field.remove(tag)
            return p.C1G2WriteOpSpecResult(p.WRITE_NO_RESPONSE, op.op_spec_id, half), self.air.write_s(half)
        try:
            tag.write(op.bank, op.word_pointer, op.data)
        except UhfLocked:
            return p.C1G2WriteOpSpecResult(p.WRITE_LOCKED, op.op_spec_id, 0), self.air.write_s(0)
        except UhfTagError:
            return p.C1G2WriteOpSpecResult(p.WRITE_OVERRUN, op.op_spec_id, 0), self.air.write_s(0)
        return p.C1G2WriteOpSpecResult(p.WRITE_SUCCESS, op.op_spec_id, words), self.air.write_s(words)


_STATE_NAMES = {p.ROSPEC_DISABLED: "Disabled", p.ROSPEC_INACTIVE: "Inactive", p.ROSPEC_ACTIVE: "Active"}


def _matches(tag: UhfTag, target: p.C1G2TargetTag) -> bool:
    """Gen2 target matching: (bits & mask) == (data & mask); M=0 inverts the match."""
    nbits = target.data_bits
    if nbits == 0:
        return True
    have = tag.bits(target.bank, target.pointer, nbits)
    if have is None:
        return not target.match
    data = int.from_bytes(target.data, "big") >> (8 * len(target.data) - nbits)
    mask = (1 << nbits) - 1  # an empty mask compares every bit
    if target.mask_bits:
        given = int.from_bytes(target.mask, "big") >> (8 * len(target.mask) - target.mask_bits)
        if target.mask_bits >= nbits:
            mask = given >> (target.mask_bits - nbits)
        else:  # a shorter mask covers the first bits; the rest compare
            shift = nbits - target.mask_bits
            mask = given << shift | ((1 << shift) - 1)
    same = (have & mask) == (data & mask)
    return same == target.match


def uhf_tag_for_item(item_id: str, *, owner_library: str | None = None, afi: int = 0x07,
                     type_of_usage: int | None = 0x10, user_words: int = 32,
                     **elements: Any) -> UhfTag:
    """A tag programmed as ISO/TS 28560-4 for ``item_id`` (UII with the AFI, user memory
    with the type of usage: 0x10 circulating item by default, as on the simulator's HF
    tags)."""
    from drivers.tags.iso28560_4 import encode_uhf

    mem = encode_uhf(item_id, owner_library=owner_library, afi=afi, type_of_usage=type_of_usage,
                     **elements)
    return UhfTag.from_memory(mem.epc, mem.user, item_id=item_id, user_words=user_words)


__all__ = ["DEFAULT_ZONES", "LlrpReaderDevice", "LlrpSimError", "UhfField", "UhfTag",
           "uhf_tag_for_item"]
