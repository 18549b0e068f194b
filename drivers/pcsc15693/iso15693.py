"""ISO/IEC 15693-3 request frames and answers as a PC/SC pass-through carries them (sans-IO).

A request is ``flags | command | [manufacturer code] | [UID, LSB first] | parameters``;
the reader adds SOF, CRC and EOF, and strips the CRC of the answer. An answer is
``flags | data``, or ``flags (bit 0 set) | error code``. The UID travels least
significant byte first on the air; :class:`drivers.reader.Reader` passes it E0 first, so
these functions reverse it.

Request flags used here (ISO/IEC 15693-3, table 3/4): bit 2 (0x02) high data rate,
bit 6 (0x20) addressed. NXP custom commands (ICODE SLIX data sheet): SET EAS 0xA2,
RESET EAS 0xA3, EAS ALARM 0xA5, each followed by the IC manufacturer code 0x04.

This module builds and parses bytes only; it knows no reader and does no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from drivers._checks import check_bytes, check_int
from drivers.errors import FrameError

FLAG_HIGH_DATA_RATE: Final = 0x02
FLAG_ADDRESSED: Final = 0x20
FLAG_ERROR: Final = 0x01

STAY_QUIET: Final = 0x02
SELECT: Final = 0x25
RESET_TO_READY: Final = 0x26
WRITE_AFI: Final = 0x27
LOCK_AFI: Final = 0x28
WRITE_DSFID: Final = 0x29
LOCK_DSFID: Final = 0x2A
GET_SYSTEM_INFO: Final = 0x2B
GET_BLOCK_SECURITY: Final = 0x2C
NXP_SET_EAS: Final = 0xA2
NXP_RESET_EAS: Final = 0xA3
NXP_EAS_ALARM: Final = 0xA5
MFR_NXP: Final = 0x04

WRITE_COMMANDS: Final = frozenset({WRITE_AFI, LOCK_AFI, WRITE_DSFID, LOCK_DSFID, NXP_SET_EAS,
                                   NXP_RESET_EAS})
"""Commands after which the tag programs its EEPROM before it answers."""

ERROR_NAMES: Final = {
    0x01: "command not supported", 0x02: "command not recognised", 0x03: "option not supported",
    0x0F: "unknown error", 0x10: "block not available", 0x11: "already locked",
    0x12: "locked, cannot be changed", 0x13: "not successfully programmed",
    0x14: "not successfully locked",
}


def _uid_on_air(uid: bytes) -> bytes:
    uid = check_bytes("UID", uid)
    if len(uid) != 8:
        raise FrameError(f"an ISO 15693 UID has 8 bytes, got {len(uid)}")
    return bytes(reversed(uid))


def request(command: int, uid: bytes | None, params: bytes = b"", *,
            manufacturer: int | None = None) -> bytes:
    """A request frame: addressed when ``uid`` (E0 first) is given, else non-addressed.

    Raises:
        DriverArgumentError: a command or manufacturer code outside 0..255.
        FrameError: a UID that is not 8 bytes.
    """
    check_int("ISO 15693 command", command, 0, 0xFF)
    flags = FLAG_HIGH_DATA_RATE | (FLAG_ADDRESSED if uid is not None else 0)
    out = bytes([flags, command])
    if manufacturer is not None:
        check_int("IC manufacturer code", manufacturer, 0, 0xFF)
        out += bytes([manufacturer])
    if uid is not None:
        out += _uid_on_air(uid)
    return out + bytes(params)


@dataclass(frozen=True, slots=True)
class Answer:
    """A tag's answer: ``error`` is the ISO error code when the error flag is set."""

    flags: int
    data: bytes
    error: int | None

    @property
    def ok(self) -> bool:
        return self.error is None


def parse_answer(raw: bytes) -> Answer:
    """Split a tag answer (CRC already removed by the reader).

    Raises:
        FrameError: empty, or an error answer without its error code.
    """
    raw = bytes(raw)
    if not raw:
        raise FrameError("empty ISO 15693 answer: expected at least the flags byte")
    if raw[0] & FLAG_ERROR:
        if len(raw) < 2:
            raise FrameError(f"ISO 15693 error answer {raw.hex(' ')} has no error code")
        return Answer(raw[0], b"", raw[1])
    return Answer(raw[0], raw[1:], None)


@dataclass(frozen=True, slots=True)
class TagSystemInfo:
    """Get System Information: UID E0 first; absent fields are None."""

    uid: bytes
    dsfid: int | None
    afi: int | None
    block_count: int | None
    block_size: int | None
    ic_ref: int | None


def parse_system_info(data: bytes) -> TagSystemInfo:
    """Decode the data of a Get System Information answer (after the flags byte).

    ``info flags | UID(8, LSB first) | [DSFID] | [AFI] | [blocks-1, size-1] | [IC ref]``,
    present as info flags bits 0..3 say.

    Raises:
        FrameError: shorter than its info flags announce.
    """
    data = bytes(data)
    if len(data) < 9:
        raise FrameError(f"system information of {len(data)} bytes; expected at least 9")
    info = data[0]
    uid = bytes(reversed(data[1:9]))
    need = 9 + (info & 1) + (info >> 1 & 1) + 2 * (info >> 2 & 1) + (info >> 3 & 1)
    if len(data) < need:
        raise FrameError(f"system information flags {info:#04x} announce {need} bytes, got {len(data)}")
    pos = 9
    dsfid = afi = blocks = size = ic = None
    if info & 1:
        dsfid, pos = data[pos], pos + 1
    if info & 2:
        afi, pos = data[pos], pos + 1
    if info & 4:
        blocks, size, pos = data[pos] + 1, (data[pos + 1] & 0x1F) + 1, pos + 2
    if info & 8:
        ic = data[pos]
    return TagSystemInfo(uid, dsfid, afi, blocks, size, ic)


def get_system_info(uid: bytes) -> bytes:
    return request(GET_SYSTEM_INFO, uid)


def write_afi(uid: bytes, afi: int) -> bytes:
    check_int("AFI", afi, 0, 0xFF)
    return request(WRITE_AFI, uid, bytes([afi]))


def lock_afi(uid: bytes) -> bytes:
    return request(LOCK_AFI, uid)


def write_dsfid(uid: bytes, dsfid: int) -> bytes:
    check_int("DSFID", dsfid, 0, 0xFF)
    return request(WRITE_DSFID, uid, bytes([dsfid]))


def lock_dsfid(uid: bytes) -> bytes:
    return request(LOCK_DSFID, uid)


def get_block_security(uid: bytes, first: int, count: int) -> bytes:
    """Get Multiple Block Security Status: the count is sent as ``count - 1``."""
    check_int("first block", first, 0, 0xFF)
    check_int("block count", count, 1, 0x100 - first)
    return request(GET_BLOCK_SECURITY, uid, bytes([first, count - 1]))


def nxp_eas(command: int, uid: bytes | None) -> bytes:
    """SET EAS / RESET EAS (addressed) or EAS ALARM (non-addressed when ``uid`` is None)."""
    if command not in (NXP_SET_EAS, NXP_RESET_EAS, NXP_EAS_ALARM):
        raise FrameError(f"not an NXP EAS command: {command:#04x}; expected 0xA2, 0xA3 or 0xA5")
    return request(command, uid, manufacturer=MFR_NXP)


def stay_quiet(uid: bytes) -> bytes:
    return request(STAY_QUIET, uid)


def select(uid: bytes) -> bytes:
    return request(SELECT, uid)


def reset_to_ready(uid: bytes | None) -> bytes:
    return request(RESET_TO_READY, uid)
