"""Sans-IO framing of the FEIG OBID ISC host protocol: CRC, frame encoder and decoder.

Bytes in, typed frozen dataclasses out. This module never touches a port, a socket or a
clock; :mod:`drivers.feig.reader` moves the bytes and :mod:`drivers.feig.commands` builds
and parses the command payloads.

Two frame types exist (protocols.md §4)::

    advanced:  +-----+----------+----------+---------+-----+---------+-----------------+
               | STX | ALEN-MSB | ALEN-LSB | COM-ADR | CMD | data... | CRC-LSB CRC-MSB |
               | 02  |  whole frame length | 0..255  |     |         |                 |
               +-----+----------+----------+---------+-----+---------+-----------------+

    standard:  +-----+---------+-----+---------+-----------------+
               | LEN | COM-ADR | CMD | data... | CRC-LSB CRC-MSB |   LEN = whole frame, <= 255
               +-----+---------+-----+---------+-----------------+

A response carries a STATUS byte right after CMD (it is the first byte of ``data``).
The CRC is CRC-16 with the reflected polynomial 0x8408, preset 0xFFFF and no final XOR,
computed over every byte before it and sent LSB first.

The decoder resynchronises after garbage: it looks for the first position in its buffer
where a complete frame with a valid CRC starts, drops what precedes it and counts the
dropped bytes (``discarded``) and the complete candidates whose CRC failed
(``crc_errors``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from drivers._checks import check_int
from drivers.errors import DriverArgumentError, FrameError

STX: Final = 0x02
MAX_STANDARD_LEN: Final = 255
MAX_ADVANCED_LEN: Final = 0xFFFF


def crc16(data: bytes | bytearray | memoryview, crc: int = 0xFFFF) -> int:
    """CRC-16 of the ISC protocol: reflected poly 0x8408, preset 0xFFFF, no final XOR.

    Args:
        data: the bytes to checksum (the frame up to, not including, the CRC).
        crc: the running value, for incremental use.

    Returns:
        The 16-bit CRC; the frame carries it LSB first.
    """
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc & 0xFFFF


@dataclass(frozen=True, slots=True)
class Request:
    """A host-to-reader frame: ``CMD`` and its data (everything between CMD and CRC)."""

    com_adr: int
    cmd: int
    data: bytes = b""
    advanced: bool = True


@dataclass(frozen=True, slots=True)
class Response:
    """A reader-to-host frame: ``CMD``, ``STATUS`` and the data after STATUS."""

    com_adr: int
    cmd: int
    status: int
    data: bytes = b""
    advanced: bool = True


def encode_frame(com_adr: int, cmd: int, body: bytes = b"", *, advanced: bool = True) -> bytes:
    """Frame ``body`` (everything after CMD) with its length and CRC.

    A standard frame whose length would exceed 255 bytes is sent as an advanced frame, as
    the reader itself does.

    Raises:
        DriverArgumentError: an address or command outside 0..255, or a body too long for
            any frame.
    """
    check_int("COM-ADR", com_adr, 0, 0xFF)
    check_int("CMD", cmd, 0, 0xFF)
    if not advanced and len(body) + 5 > MAX_STANDARD_LEN:
        advanced = True
    if advanced:
        length = len(body) + 7
        if length > MAX_ADVANCED_LEN:
            raise DriverArgumentError(
                f"frame of {length} bytes exceeds the advanced-frame limit of {MAX_ADVANCED_LEN} bytes")
        head = bytes((STX, length >> 8, length & 0xFF, com_adr, cmd))
    else:
        head = bytes((len(body) + 5, com_adr, cmd))
    frame = head + bytes(body)
    crc = crc16(frame)
    return frame + bytes((crc & 0xFF, crc >> 8))


def encode_request(request: Request) -> bytes:
    """Bytes of a host request."""
    return encode_frame(request.com_adr, request.cmd, request.data, advanced=request.advanced)


def encode_response(response: Response) -> bytes:
    """Bytes of a reader response (used by the simulator and by tests)."""
    return encode_frame(response.com_adr, response.cmd, bytes((response.status,)) + response.data,
                        advanced=response.advanced)


class NeedData:
    """The decoder needs more bytes before it can return a frame."""

    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA: Final = NeedData()

_GOOD, _BAD, _INVALID, _INCOMPLETE = range(4)


class FeigFrameDecoder:
    """Incremental decoder: ``receive_data(bytes)``, then ``next_event()`` until NEED_DATA.

    Args:
        kind: ``"response"`` (reader to host; STATUS is split out) or ``"request"``.

    A candidate frame starts with ``0x02`` (advanced) or with a plausible standard LEN.
    The first complete candidate with a valid CRC anywhere in the buffer wins; bytes before
    it are garbage. Leading garbage that cannot start a frame is dropped at once, so the
    buffer never holds more than one pending frame's worth of bytes plus what came after.
    """

    def __init__(self, kind: Literal["response", "request"] = "response") -> None:
        if kind not in ("response", "request"):
            raise DriverArgumentError(f"kind must be 'response' or 'request', got {kind!r}")
        self.kind = kind
        self._min_std = 6 if kind == "response" else 5
        self._min_adv = self._min_std + 2
        self._buf = bytearray()
        self.discarded = 0
        self.crc_errors = 0

    def receive_data(self, data: bytes) -> None:
        """Append bytes read from the wire."""
        self._buf += data

    def reset(self) -> None:
        """Forget buffered bytes (after a timeout or a port reopen); counters are kept."""
        self.discarded += len(self._buf)
        self._buf.clear()

    @property
    def buffered(self) -> int:
        """Bytes held that do not yet form a frame."""
        return len(self._buf)

    def _classify(self, i: int) -> tuple[int, int]:
        buf = self._buf
        n = len(buf) - i
        first = buf[i]
        if first == STX:
            if n < 3:
                return _INCOMPLETE, 0
            length = (buf[i + 1] << 8) | buf[i + 2]
            if length < self._min_adv:
                return _INVALID, 0
        else:
            length = first
            if length < self._min_std:
                return _INVALID, 0
        if n < length:
            return _INCOMPLETE, length
        crc = crc16(memoryview(buf)[i:i + length - 2])
        ok = buf[i + length - 2] == crc & 0xFF and buf[i + length - 1] == crc >> 8
        return (_GOOD if ok else _BAD), length

    def next_event(self) -> Request | Response | NeedData:
        """The next complete frame, or ``NEED_DATA``.

        Raises:
            FrameError: a frame with a valid CRC but an impossible layout (a response
                without its STATUS byte cannot happen given the minimum lengths, so this
                is reserved for future layouts); never for garbage, which is skipped.
        """
        buf = self._buf
        drop_upto = 0  # leading bytes known to be garbage
        leading = True
        for i in range(len(buf)):
            state, length = self._classify(i)
            if state == _GOOD:
                self.discarded += i
                frame = bytes(buf[i:i + length])
                del buf[:i + length]
                return self._parse(frame)
            if state == _BAD:
                if leading:
                    self.crc_errors += 1
                    drop_upto = i + 1
            elif state == _INVALID:
                if leading:
                    drop_upto = i + 1
            else:
                leading = False
        if drop_upto:
            self.discarded += drop_upto
            del buf[:drop_upto]
        return NEED_DATA

    def _parse(self, frame: bytes) -> Request | Response:
        advanced = frame[0] == STX
        off = 3 if advanced else 1
        com_adr, cmd = frame[off], frame[off + 1]
        body = frame[off + 2:-2]
        if self.kind == "request":
            return Request(com_adr, cmd, body, advanced)
        if not body:
            raise FrameError(f"response to command {cmd:#04x} has no STATUS byte")
        return Response(com_adr, cmd, body[0], body[1:], advanced)

    def events(self) -> list[Request | Response]:
        """Every complete frame now in the buffer."""
        out: list[Request | Response] = []
        while True:
            ev = self.next_event()
            if isinstance(ev, NeedData):
                return out
            out.append(ev)
