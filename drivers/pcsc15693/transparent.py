"""PC/SC part 3 (v2.02) transparent session pseudo-APDUs: the desk readers' pass-through (sans-IO).

Command APDUs (CLA FF, INS C2, P1 00; data = BER-TLV data objects)::

    Manage session       FF C2 00 00 Lc  81 00 (start) | 82 00 (end)                  Le 00
    Transparent exchange FF C2 00 01 Lc  [5F 46 04 timeout-us(LE)] 95 Ln frame         Le 00
    Switch protocol      FF C2 00 02 Lc  8F 02 <protocol> <layer>     (02 03: ISO 15693-3)

The answer is ``data objects | 90 00``: ``C0 03 <index> SW1 SW2`` (generic error status:
``00 90 00`` when every object was executed; else the 1-based index of the object that
failed and its status, e.g. ``64 01``: no answer from the card in time), then for an
exchange ``92 01 <valid bits of the last byte>``, ``96 02 <response status>`` and
``97 Ln <the card's answer, CRC removed>``.

Bytes as in an ACS ACR1552U transcript of an ICODE SLI tag published on the NXP
community (docs/desktop-readers.md cites it). This module builds and parses bytes only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from drivers._checks import check_bytes, check_int
from drivers.errors import DriverArgumentError, FrameError

CLA: Final = 0xFF
INS: Final = 0xC2
P2_MANAGE_SESSION: Final = 0x00
P2_EXCHANGE: Final = 0x01
P2_SWITCH_PROTOCOL: Final = 0x02

DO_START_SESSION: Final = b"\x81\x00"
DO_END_SESSION: Final = b"\x82\x00"
TAG_TIMER: Final = b"\x5F\x46"
TAG_TRANSCEIVE: Final = 0x95
TAG_SWITCH_PROTOCOL: Final = 0x8F
TAG_GENERIC_ERROR: Final = 0xC0
TAG_VALID_BITS: Final = 0x92
TAG_RESPONSE_STATUS: Final = 0x96
TAG_ICC_RESPONSE: Final = 0x97

PROTOCOL_ISO15693: Final = 0x02
LAYER_3: Final = 0x03
SW_NO_ANSWER: Final = 0x6401
"""Generic error status of an exchange whose card did not answer within the timeout."""


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    if n <= 0xFF:
        return bytes([0x81, n])
    raise FrameError(f"a data object of {n} bytes does not fit a short APDU")


def _apdu(p2: int, data: bytes, le: bool) -> bytes:
    if len(data) > 255:
        raise FrameError(f"transparent-session data of {len(data)} bytes exceeds Lc 255")
    return bytes([CLA, INS, 0x00, p2, len(data)]) + data + (b"\x00" if le else b"")


def start_session() -> bytes:
    """``FF C2 00 00 02 81 00 00``."""
    return _apdu(P2_MANAGE_SESSION, DO_START_SESSION, le=True)


def end_session() -> bytes:
    """``FF C2 00 00 02 82 00 00``."""
    return _apdu(P2_MANAGE_SESSION, DO_END_SESSION, le=True)


def switch_protocol(protocol: int = PROTOCOL_ISO15693, layer: int = LAYER_3) -> bytes:
    """``FF C2 00 02 04 8F 02 02 03`` for ISO 15693 layer 3 (no Le, as in the transcript)."""
    check_int("protocol", protocol, 0, 0xFF)
    check_int("layer", layer, 0, 0xFF)
    return _apdu(P2_SWITCH_PROTOCOL, bytes([TAG_SWITCH_PROTOCOL, 2, protocol, layer]), le=False)


def exchange(frame: bytes, *, timeout_us: int | None = None) -> bytes:
    """A transparent exchange of one card frame, with an optional timer object.

    Raises:
        DriverArgumentError: an empty frame or a timeout outside 1..2**32-1 microseconds.
        FrameError: too long for a short APDU.
    """
    frame = check_bytes("frame", frame)
    if not frame:
        raise DriverArgumentError("a transparent exchange needs a non-empty card frame")
    data = b""
    if timeout_us is not None:
        check_int("timeout (microseconds)", timeout_us, 1, 0xFFFFFFFF)
        data += TAG_TIMER + b"\x04" + timeout_us.to_bytes(4, "little")
    data += bytes([TAG_TRANSCEIVE]) + _length(len(frame)) + frame
    return _apdu(P2_EXCHANGE, data, le=True)


@dataclass(frozen=True, slots=True)
class SessionAnswer:
    """The data objects of a transparent-session answer (SW 90 00 already removed)."""

    error_index: int
    error_sw: int
    card_answer: bytes | None
    valid_bits: int | None
    response_status: bytes | None

    @property
    def ok(self) -> bool:
        return self.error_sw == 0x9000


def parse_objects(data: bytes) -> list[tuple[int, bytes]]:
    """BER-TLV objects (one- or two-byte tags, short or 81-form lengths), in order.

    Raises:
        FrameError: a truncated tag, length or value.
    """
    data = bytes(data)
    out: list[tuple[int, bytes]] = []
    i = 0
    while i < len(data):
        tag = data[i]
        i += 1
        if tag & 0x1F == 0x1F:  # two-byte tag (5F 46)
            if i >= len(data):
                raise FrameError(f"data object tag {tag:#04x} truncated at byte {i}")
            tag = tag << 8 | data[i]
            i += 1
        if i >= len(data):
            raise FrameError(f"data object {tag:#x} has no length (byte {i})")
        n = data[i]
        i += 1
        if n == 0x81:
            if i >= len(data):
                raise FrameError(f"data object {tag:#x} length truncated")
            n = data[i]
            i += 1
        elif n > 0x80:
            raise FrameError(f"data object {tag:#x}: length form {n:#04x} not supported")
        if i + n > len(data):
            raise FrameError(f"data object {tag:#x} announces {n} bytes, {len(data) - i} left")
        out.append((tag, data[i:i + n]))
        i += n
    return out


def parse_answer(data: bytes) -> SessionAnswer:
    """Decode the data objects of an answer (the part before SW1 SW2).

    Raises:
        FrameError: no generic error status object, or a malformed one.
    """
    objects = parse_objects(data)
    status = [v for t, v in objects if t == TAG_GENERIC_ERROR]
    if not status or len(status[0]) != 3:
        raise FrameError(f"transparent-session answer {bytes(data).hex(' ')} has no "
                         "3-byte generic error status (C0 03)")
    err = status[0]
    found = dict(objects)
    bits = found.get(TAG_VALID_BITS)
    return SessionAnswer(error_index=err[0], error_sw=err[1] << 8 | err[2],
                         card_answer=found.get(TAG_ICC_RESPONSE),
                         valid_bits=bits[0] if bits else None,
                         response_status=found.get(TAG_RESPONSE_STATUS))
