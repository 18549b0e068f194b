"""``FeigReader``: the :class:`drivers.reader.Reader` hooks for FEIG ISC readers.

It frames commands with :mod:`drivers.feig.codec`, moves them over a
:class:`drivers.transport.Transport` (any ``serial_for_url`` URL), and maps STATUS bytes
to typed errors. Retries, verification and metrics live in the base class, not here.
Raw frames are logged at level 5 (TRACE) as hex.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from drivers._checks import check_int
from drivers.errors import (
    DriverArgumentError,
    FrameError,
    ReaderDisconnected,
    ReaderStatusError,
    ReaderTimeout,
    TagNotFound,
)
from drivers.feig import commands as c
from drivers.feig.codec import FeigFrameDecoder, Response, encode_frame
from drivers.reader import (
    BufferStatus,
    Inputs,
    OutputState,
    Reader,
    ReaderInfo,
    SystemInfo,
    TagEvent,
    uid_text,
)
from drivers.trace import TRACE
from drivers.transport import Transport

log = logging.getLogger("drivers.feig")

_OUT_BITS = {None: 0b00, "on": 0b01, "off": 0b10, "flash": 0b11}

# Statuses whose answer still carries inventory records.
_INVENTORY_OK = frozenset({c.STATUS_OK, c.STATUS_RF_COMM_ERROR, c.STATUS_RF_WARNING, c.STATUS_MORE_DATA})


class FeigReader(Reader):
    """A FEIG ID ISC reader (MR101/MR102/PRH101/LR1002/LRU…) in host mode.

    Args:
        url: ``/dev/ttyUSB0``, a pty path, ``socket://host:port`` or ``rfc2217://host:port``.
        baudrate: serial speed (38400 is the FEIG default).
        parity: ``"E"`` (FEIG default), ``"N"`` or ``"O"``.
        com_address: the reader's bus address; 0xFF reaches any single reader.
        timeout_s: how long to wait for an answer before :class:`ReaderTimeout`.
        advanced_frames: send advanced (STX) frames; standard frames when False.
        **kw: :class:`drivers.reader.Reader` options (antennas, retries, reopen_after,
            write_retries, block_size).

    With one antenna the plain inventory is used; with several, the antenna mode
    (MODE bit 4 and an ANT-SEL mask) reports which antenna saw each tag [uncertain on
    single-antenna models].
    """

    vendor = "feig"
    transient_statuses = frozenset({c.STATUS_DATA_FALSE, c.STATUS_READ_ERROR,
                                    c.STATUS_RF_COMM_ERROR})
    """A tag answered badly this time (data false, read error, RF communication error):
    the base class retries these; every other error STATUS is a definite answer."""

    def __init__(self, url: str, *, baudrate: int = 38400, parity: str = "E",
                 com_address: int = 0xFF, timeout_s: float = 0.5,
                 advanced_frames: bool = True, antennas: Sequence[str] = ("pad",),
                 retries: int = 2, reopen_after: int = 3, write_retries: int = 8,
                 block_size: int = 4, transport: Transport | None = None) -> None:
        super().__init__(antennas=antennas, retries=retries, reopen_after=reopen_after,
                         write_retries=write_retries, block_size=block_size)
        check_int("COM address", com_address, 0, 0xFF)
        if isinstance(timeout_s, bool) or not isinstance(timeout_s, (int, float)) or not timeout_s > 0:
            raise DriverArgumentError(f"timeout_s must be a positive number of seconds, got {timeout_s!r}")
        self.url = url
        self.com_address = com_address
        self.timeout_s = timeout_s
        self.advanced_frames = advanced_frames
        self.transport = transport or Transport(url, baudrate=baudrate, parity=parity)
        self._decoder = FeigFrameDecoder("response")

    def __repr__(self) -> str:
        return f"FeigReader({self.url!r}, com_address={self.com_address:#04x})"

    # ---- transport -----------------------------------------------------------------------

    def _open(self) -> None:
        self.transport.open()
        self._decoder.reset()

    def _close(self) -> None:
        self.transport.close()

    def transact(self, cmd: int, data: bytes = b"") -> Response:
        """Send one command and return its answer, whatever its STATUS (no retries).

        Raises:
            ReaderTimeout: no complete answer within ``timeout_s``.
            FrameError: only corrupt frames arrived.
            ReaderDisconnected: the port is gone.
        """
        frame = encode_frame(self.com_address, cmd, data, advanced=self.advanced_frames)
        stale = self.transport.discard_input()
        if stale:
            log.log(TRACE, "feig %s discarded %s", self.url, stale.hex(" "))
        self._decoder.reset()
        log.log(TRACE, "feig %s > %s", self.url, frame.hex(" "))
        self.transport.write(frame)
        deadline = time.monotonic() + self.timeout_s
        crc_before = self._decoder.crc_errors
        while True:
            chunk = self.transport.read_some(deadline)
            if chunk:
                log.log(TRACE, "feig %s < %s", self.url, chunk.hex(" "))
                self._decoder.receive_data(chunk)
                while True:
                    ev = self._decoder.next_event()
                    if not isinstance(ev, Response):
                        break
                    if ev.cmd != cmd:
                        log.debug("ignoring an answer to command %#04x while waiting for %#04x", ev.cmd, cmd)
                        continue
                    if self.com_address != 0xFF and ev.com_adr != self.com_address:
                        log.debug("ignoring an answer from address %#04x", ev.com_adr)
                        continue
                    return ev
                if self._decoder.crc_errors != crc_before:
                    if not self._decoder.buffered:
                        raise FrameError(f"answer to command {cmd:#04x} failed its CRC")
                    # A corrupt answer leaves a tail that looks like a frame start; give a
                    # good frame a short quiet window to complete, not the whole timeout.
                    deadline = min(deadline, time.monotonic() + 0.03)
            elif time.monotonic() >= deadline:
                if self._decoder.crc_errors != crc_before:
                    raise FrameError(f"answer to command {cmd:#04x} failed its CRC")
                raise ReaderTimeout(f"no answer to command {cmd:#04x} from {self.url} "
                                    f"within {self.timeout_s:.2f} s")

    def _call(self, cmd: int, data: bytes, ok: frozenset[int] = frozenset({c.STATUS_OK})) -> Response:
        resp = self.transact(cmd, data)
        if resp.status in ok:
            return resp
        raise self._status_error(cmd, data, resp)

    @staticmethod
    def _status_error(cmd: int, data: bytes, resp: Response) -> ReaderStatusError:
        what = f"command {cmd:#04x}" + (f" {data[0]:#04x}" if cmd in (c.CMD_ISO, c.CMD_ISO_CUSTOM) and data else "")
        iso = resp.data[0] if resp.status == c.STATUS_ISO_ERROR and resp.data else None
        msg = f"{what}: reader status {c.status_name(resp.status)}"
        if iso is not None:
            msg += f", ISO error {iso:#04x} {c.ISO_ERROR_NAMES.get(iso, 'unknown')}"
        if resp.status == c.STATUS_WRITE_ERROR and resp.data:
            msg += f" at block {resp.data[0]}"
        if resp.status == c.STATUS_NO_TRANSPONDER:
            return TagNotFound(msg, resp.status)
        return ReaderStatusError(msg, resp.status, iso)

    # ---- hooks ---------------------------------------------------------------------------

    def _inventory(self, antennas: list[int]) -> list[tuple[bytes, int, int | None]]:
        antenna_mode = len(self.antennas) > 1
        mask = sum(1 << (a - 1) for a in antennas) if antenna_mode else None
        out: list[tuple[bytes, int, int | None]] = []
        more = False
        for _ in range(256):
            cmd, data = c.inventory(more=more, antenna_mask=mask)
            resp = self.transact(cmd, data)
            if resp.status == c.STATUS_NO_TRANSPONDER:
                return out
            if resp.status not in _INVENTORY_OK:
                raise self._status_error(cmd, data, resp)
            for rec in c.parse_inventory(resp.data, antenna_mode=antenna_mode):
                if rec.tr_type == c.TR_TYPE_ISO15693 and len(rec.uid) == 8:
                    out.append((rec.uid, rec.dsfid, rec.antenna if antenna_mode else antennas[0]))
            if resp.status != c.STATUS_MORE_DATA:
                return out
            more = True
        raise FrameError("the reader kept answering 'more data' for 256 requests")

    def _read_blocks(self, uid: bytes, first: int, count: int) -> bytes:
        cmd, data = c.read_multiple(uid, first, count)
        block = c.parse_read_multiple(self._call(cmd, data).data)
        if len(block.blocks) != count:
            raise FrameError(f"asked for {count} blocks, the reader returned {len(block.blocks)}")
        return block.data

    def _write_blocks(self, uid: bytes, first: int, data: bytes) -> None:
        size = self.block_size
        blocks = [data[i:i + size] for i in range(0, len(data), size)]
        cmd, payload = c.write_multiple(uid, first, blocks)
        self._call(cmd, payload)

    def _write_afi(self, uid: bytes, afi: int) -> None:
        self._call(*c.write_afi(uid, afi))

    def _lock_afi(self, uid: bytes) -> None:
        self._call(*c.lock_afi(uid))

    def _write_dsfid(self, uid: bytes, dsfid: int) -> None:
        self._call(*c.write_dsfid(uid, dsfid))

    def _lock_dsfid(self, uid: bytes) -> None:
        self._call(*c.lock_dsfid(uid))

    def _block_security(self, uid: bytes, first: int, count: int) -> tuple[int, ...]:
        return c.parse_block_security(self._call(*c.block_security(uid, first, count)).data)

    def _select(self, uid: bytes) -> None:
        self._call(*c.select(uid))

    def _stay_quiet(self, uid: bytes) -> None:
        self._call(*c.stay_quiet(uid))

    def _reset_to_ready(self, uid: bytes | None) -> None:
        self._call(*c.reset_to_ready(uid))

    def _set_eas(self, uid: bytes, on: bool) -> None:
        self._call(*c.nxp_eas(c.NXP_SET_EAS if on else c.NXP_RESET_EAS, uid))

    def _eas_alarm(self) -> bool:
        cmd, data = c.nxp_eas(c.NXP_EAS_ALARM, None)
        resp = self._call(cmd, data, ok=frozenset({c.STATUS_OK, c.STATUS_NO_TRANSPONDER}))
        return resp.status == c.STATUS_OK

    def _system_info(self, uid: bytes) -> SystemInfo:
        info = c.parse_system_info(self._call(*c.system_info(uid)).data)
        if info.uid != uid:
            raise FrameError(f"system information of {uid_text(info.uid)} while asking {uid_text(uid)}")
        return SystemInfo(uid_text(info.uid), info.dsfid, info.afi, info.block_size,
                          info.block_count, info.ic_ref)

    def _reader_info(self) -> ReaderInfo:
        info = c.parse_reader_info(self._call(*c.reader_info(0)).data)
        return ReaderInfo(
            vendor="FEIG", model=f"hw {info.hw_type:#04x} sw {info.sw_type:#04x}",
            firmware=f"{info.sw_rev >> 8}.{info.sw_rev & 0xFF:02d}.{info.d_rev:02d}",
            details={"sw_rev": info.sw_rev, "d_rev": info.d_rev, "hw_type": info.hw_type,
                     "sw_type": info.sw_type, "tr_type": info.tr_type, "raw": info.raw.hex()})

    def _set_outputs(self, green: OutputState, red: OutputState, buzzer: OutputState,
                     relay: OutputState, duration_s: float) -> None:
        # OS low byte (MR/PR/PRH101): bits 1-0 green, 3-2 red, 5-4 beeper.
        # OS high byte (ISC.LR): bits 5-4 relay [uncertain per model].
        low = _OUT_BITS[green] | _OUT_BITS[red] << 2 | _OUT_BITS[buzzer] << 4
        high = _OUT_BITS[relay] << 4
        ticks = max(1, round(duration_s * 10))
        self._call(*c.set_output((high << 8) | low, 0, ticks, 0))

    def _read_inputs(self) -> Inputs:
        return Inputs(c.parse_input(self._call(*c.get_input()).data))

    def _rf_reset(self) -> None:
        self._call(*c.rf_reset())

    def _buffer_status(self) -> BufferStatus:
        info = c.parse_buffer_info(self._call(*c.buffer_info()).data)
        return BufferStatus(info.size, info.start, info.length)

    def _read_buffer(self, max_records: int) -> list[TagEvent]:
        cmd, data = c.read_buffer(max_records)
        resp = self._call(cmd, data, ok=frozenset({c.STATUS_OK, c.STATUS_NO_VALID_DATA,
                                                    c.STATUS_MORE_DATA}))
        if resp.status == c.STATUS_NO_VALID_DATA:
            return []
        out = []
        for rec in c.parse_read_buffer(resp.data).records:
            ant = None
            if rec.antenna is not None:
                # ANT is a bit field: bit 0 is antenna 1.
                for n in range(8):
                    if rec.antenna >> n & 1:
                        ant = self.antennas[n] if n < len(self.antennas) else str(n + 1)
                        break
            out.append(TagEvent(uid_text(rec.uid) if len(rec.uid) == 8 else rec.uid.hex().upper(),
                                ant, rec.time_ms, rec.direction))
        return out

    def _clear_buffer(self) -> None:
        self._call(*c.clear_buffer())

    def _init_buffer(self) -> None:
        self._call(*c.init_buffer())


__all__ = ["FeigReader", "ReaderDisconnected"]
