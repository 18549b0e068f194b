"""Sans-IO payloads of the ISC commands smartlib uses: builders and response parsers.

Each builder returns ``(cmd, data)`` for :func:`drivers.feig.codec.encode_frame`; each
parser takes the ``data`` of a :class:`~drivers.feig.codec.Response` (after STATUS) and
returns a frozen dataclass. No I/O here. Layouts (protocols.md §4)::

    ISO host command   B0 | SUBCMD | MODE | [UID(8) when MODE&7 == 1] | params
    NXP custom (EAS)   B1 | MFR=04 | SUBCMD | MODE | [UID(8)]

    0x01 inventory     -> DATA-SETS | DATA-SETS x (TR-TYPE | DSFID | UID(8))     (ISO 15693)
    antenna mode       B0 01 MODE|0x10 ANT-SEL
                       -> DATA-SETS | x (FLAGS | TR-TYPE | DSFID | IDD-LEN | IDD |
                                         [FLAGS&1: ANT-CNT | x (ANT-NR ANT-STATUS RSSI 4xRFU)])
    0x23 read blocks   B0 23 MODE [UID] DB-ADR DB-N
                       -> DB-N | DB-SIZE | DB-N x (SEC-STATUS | DB-SIZE bytes, reversed)
    0x24 write blocks  B0 24 MODE [UID] DB-ADR DB-N DB-SIZE | DB-N x (DB-SIZE bytes, reversed)
    0x2B system info   -> DSFID | UID(8) | AFI | MEM-SIZE(2) | IC-REF
    0x02 stay quiet    B0 02 01 UID(8)                        -> (status only)
    0x25 select        B0 25 01 UID(8)                        -> (status only)
    0x26 reset ready   B0 26 MODE [UID]                       -> (status only)
    0x27 write AFI     B0 27 MODE [UID] AFI                   -> (status only)
    0x28 lock AFI      B0 28 MODE [UID]                       -> (status only)
    0x29 write DSFID   B0 29 MODE [UID] DSFID                 -> (status only)
    0x2A lock DSFID    B0 2A MODE [UID]                       -> (status only)
    0x2C block sec.    B0 2C MODE [UID] DB-ADR DB-N
                       -> DB-N | DB-N x SEC-STATUS            (bit 0 = block locked)
    any ISO error      STATUS 0x95 -> ISO-ERROR [| DB-ADR-E]
    0x22 read buffer   22 | DATA-SETS(2)
                       -> TR-DATA1 | [TR-DATA2] | DATA-SETS(2) | records
    0x31 buffer info   -> TAB-SIZE(2) | TAB-START(2) | TAB-LEN(2)
    0x71 set output    71 | OS(2) | OSF(2) | OS-TIME(2) | OUT-TIME(2)
    0x74 get input     -> INPUT

Multi-byte fields are MSB first. UIDs travel as the inventory delivered them (E0 first)
and are represented here as 8 raw bytes in that order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from drivers._checks import check_block_range, check_bytes, check_int
from drivers.errors import DriverArgumentError, FrameError

# ---- command codes -----------------------------------------------------------------------

CMD_BAUD_DETECT: Final = 0x52
CMD_CPU_RESET: Final = 0x63
CMD_SYSTEM_RESET: Final = 0x64
CMD_SOFTWARE_VERSION: Final = 0x65
CMD_READER_INFO: Final = 0x66
CMD_RF_RESET: Final = 0x69
CMD_RF_ONOFF: Final = 0x6A
CMD_SET_OUTPUT: Final = 0x71
CMD_GET_INPUT: Final = 0x74
CMD_READ_BUFFER: Final = 0x22
CMD_BUFFER_INFO: Final = 0x31
CMD_CLEAR_BUFFER: Final = 0x32
CMD_INIT_BUFFER: Final = 0x33
CMD_ISO: Final = 0xB0
CMD_ISO_CUSTOM: Final = 0xB1

ISO_INVENTORY: Final = 0x01
ISO_STAY_QUIET: Final = 0x02
ISO_READ_MULTIPLE: Final = 0x23
ISO_WRITE_MULTIPLE: Final = 0x24
ISO_SELECT: Final = 0x25
ISO_RESET_TO_READY: Final = 0x26
ISO_WRITE_AFI: Final = 0x27
ISO_LOCK_AFI: Final = 0x28
ISO_WRITE_DSFID: Final = 0x29
ISO_LOCK_DSFID: Final = 0x2A
ISO_SYSTEM_INFO: Final = 0x2B
ISO_BLOCK_SECURITY: Final = 0x2C

MFR_NXP: Final = 0x04
NXP_SET_EAS: Final = 0xA2
NXP_RESET_EAS: Final = 0xA3
NXP_LOCK_EAS: Final = 0xA4
NXP_EAS_ALARM: Final = 0xA5

MODE_NON_ADDRESSED: Final = 0x00
MODE_ADDRESSED: Final = 0x01
MODE_SELECTED: Final = 0x02
MODE_SEC: Final = 0x08
MODE_ANTENNA: Final = 0x10
MODE_MORE: Final = 0x80

TR_TYPE_ISO15693: Final = 0x03

# ---- status bytes ------------------------------------------------------------------------

STATUS_OK: Final = 0x00
STATUS_NO_TRANSPONDER: Final = 0x01
STATUS_DATA_FALSE: Final = 0x02
STATUS_WRITE_ERROR: Final = 0x03
STATUS_ADDRESS_ERROR: Final = 0x04
STATUS_WRONG_TYPE: Final = 0x05
STATUS_READ_ERROR: Final = 0x06
STATUS_PARAMETER_RANGE: Final = 0x11
STATUS_UNKNOWN_COMMAND: Final = 0x80
STATUS_LENGTH_ERROR: Final = 0x81
STATUS_NOT_AVAILABLE: Final = 0x82
STATUS_RF_COMM_ERROR: Final = 0x83
STATUS_RF_WARNING: Final = 0x84
STATUS_UNSUPPORTED_OPTION: Final = 0x86
STATUS_NO_VALID_DATA: Final = 0x92
STATUS_MORE_DATA: Final = 0x94
STATUS_ISO_ERROR: Final = 0x95

STATUS_NAMES: Final[dict[int, str]] = {
    0x00: "OK", 0x01: "no transponder", 0x02: "data false", 0x03: "write error",
    0x04: "address error", 0x05: "wrong transponder type", 0x06: "read error",
    0x07: "select error", 0x0A: "transponder changed", 0x0B: "collision",
    0x0E: "general error", 0x10: "EEPROM error", 0x11: "parameter range error",
    0x13: "login request", 0x15: "read protection", 0x16: "write protection",
    0x17: "firmware activation required", 0x80: "unknown command",
    0x81: "protocol length error", 0x82: "command not available",
    0x83: "RF communication error", 0x84: "RF warning", 0x85: "synchronisation error",
    0x86: "unsupported option", 0x90: "data table overrun", 0x92: "no valid data",
    0x93: "data table overflow", 0x94: "more data", 0x95: "ISO error",
    0xF1: "hardware warning",
}

ISO_ERROR_NAMES: Final[dict[int, str]] = {
    0x01: "not supported", 0x02: "not recognised", 0x03: "option not supported",
    0x0F: "unknown error", 0x10: "block not available", 0x11: "already locked",
    0x12: "locked", 0x13: "not programmed", 0x14: "not locked",
}

ISO_ERROR_LOCKED: Final = 0x12


def status_name(status: int) -> str:
    """Human name of a STATUS byte, e.g. ``0x95 ISO error``."""
    return f"{status:#04x} {STATUS_NAMES.get(status, 'unknown status')}"


# ---- typed results ------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class InventoryRecord:
    """One transponder from an inventory answer."""

    tr_type: int
    dsfid: int
    uid: bytes
    antenna: int | None = None
    rssi: int | None = None


@dataclass(frozen=True, slots=True)
class BlockData:
    """Blocks read from a tag, in tag-memory byte order."""

    block_size: int
    blocks: tuple[bytes, ...]
    security: tuple[int, ...]

    @property
    def data(self) -> bytes:
        return b"".join(self.blocks)


@dataclass(frozen=True, slots=True)
class SystemInfoData:
    """Get System Information answer (0x2B)."""

    dsfid: int
    uid: bytes
    afi: int
    block_size: int
    block_count: int
    ic_ref: int


@dataclass(frozen=True, slots=True)
class ReaderInfoData:
    """Reader info mode 0 (0x66 00): RF controller firmware and type. Layout [uncertain]."""

    sw_rev: int
    d_rev: int
    hw_type: int
    sw_type: int
    tr_type: int
    raw: bytes


@dataclass(frozen=True, slots=True)
class BufferInfo:
    """Buffer Info answer (0x31)."""

    size: int
    start: int
    length: int


@dataclass(frozen=True, slots=True)
class BufferedRecord:
    """One record of a Read Buffer answer (0x22)."""

    tr_type: int
    uid: bytes
    antenna: int | None = None
    time_ms: int | None = None  # milliseconds since midnight when the time field is present
    direction: int | None = None
    inputs: int | None = None


@dataclass(frozen=True, slots=True)
class BufferRead:
    """A Read Buffer answer: the flags and the records."""

    tr_data1: int
    tr_data2: int
    records: tuple[BufferedRecord, ...] = field(default_factory=tuple)


# ---- builders ----------------------------------------------------------------------------

def _check_uid(uid: bytes) -> bytes:
    uid = check_bytes("UID", uid)
    if len(uid) != 8:
        raise DriverArgumentError(f"a UID is 8 bytes, got {len(uid)}")
    return uid


def _iso(sub: int, uid: bytes | None, params: bytes = b"", mode_extra: int = 0) -> tuple[int, bytes]:
    if uid is None:
        return CMD_ISO, bytes((sub, MODE_NON_ADDRESSED | mode_extra)) + params
    return CMD_ISO, bytes((sub, MODE_ADDRESSED | mode_extra)) + _check_uid(uid) + params


def inventory(more: bool = False, antenna_mask: int | None = None) -> tuple[int, bytes]:
    """``B0 01 MODE [ANT-SEL]``; ``more`` sets MODE bit 7 to fetch the rest after 0x94."""
    mode = MODE_MORE if more else 0
    if antenna_mask is None:
        return CMD_ISO, bytes((ISO_INVENTORY, mode))
    check_int("ANT-SEL antenna mask", antenna_mask, 1, 0xFF)
    return CMD_ISO, bytes((ISO_INVENTORY, mode | MODE_ANTENNA, antenna_mask))


def read_multiple(uid: bytes | None, first: int, count: int) -> tuple[int, bytes]:
    """``B0 23 MODE [UID] DB-ADR DB-N``."""
    check_block_range(first, count, max_count=0xFF)
    return _iso(ISO_READ_MULTIPLE, uid, bytes((first, count)))


def write_multiple(uid: bytes | None, first: int, blocks: list[bytes]) -> tuple[int, bytes]:
    """``B0 24 MODE [UID] DB-ADR DB-N DB-SIZE data``; each block is reversed on the wire."""
    if not blocks:
        raise DriverArgumentError("nothing to write: expected at least one block")
    blocks = [check_bytes("block", b) for b in blocks]
    size = len(blocks[0])
    if any(len(b) != size for b in blocks) or not 1 <= size <= 32:
        raise DriverArgumentError(
            f"every block must have the same size of 1..32 bytes, got sizes {sorted({len(b) for b in blocks})}")
    check_block_range(first, len(blocks), max_count=0xFF)
    payload = bytes((first, len(blocks), size)) + b"".join(bytes(reversed(b)) for b in blocks)
    return _iso(ISO_WRITE_MULTIPLE, uid, payload)


def write_afi(uid: bytes | None, afi: int) -> tuple[int, bytes]:
    """``B0 27 MODE [UID] AFI``."""
    check_int("AFI", afi, 0, 0xFF)
    return _iso(ISO_WRITE_AFI, uid, bytes((afi,)))


def lock_afi(uid: bytes | None) -> tuple[int, bytes]:
    """``B0 28 MODE [UID]``."""
    return _iso(ISO_LOCK_AFI, uid)


def write_dsfid(uid: bytes | None, dsfid: int) -> tuple[int, bytes]:
    """``B0 29 MODE [UID] DSFID``."""
    check_int("DSFID", dsfid, 0, 0xFF)
    return _iso(ISO_WRITE_DSFID, uid, bytes((dsfid,)))


def lock_dsfid(uid: bytes | None) -> tuple[int, bytes]:
    """``B0 2A MODE [UID]``."""
    return _iso(ISO_LOCK_DSFID, uid)


def system_info(uid: bytes | None) -> tuple[int, bytes]:
    """``B0 2B MODE [UID]``."""
    return _iso(ISO_SYSTEM_INFO, uid)


def block_security(uid: bytes | None, first: int, count: int) -> tuple[int, bytes]:
    """``B0 2C MODE [UID] DB-ADR DB-N`` (Get Multiple Block Security Status)."""
    check_block_range(first, count, max_count=0xFF)
    return _iso(ISO_BLOCK_SECURITY, uid, bytes((first, count)))


def reset_to_ready(uid: bytes | None) -> tuple[int, bytes]:
    """``B0 26 MODE [UID]``; non-addressed, every tag in the field returns to Ready."""
    return _iso(ISO_RESET_TO_READY, uid)


def select(uid: bytes) -> tuple[int, bytes]:
    """``B0 25 01 UID``: the tag becomes the one MODE 0x02 (selected) commands address."""
    return _iso(ISO_SELECT, _check_uid(uid))


def stay_quiet(uid: bytes) -> tuple[int, bytes]:
    """``B0 02 01 UID``: the tag stops answering non-addressed commands (inventory)."""
    return _iso(ISO_STAY_QUIET, _check_uid(uid))


def nxp_eas(sub: int, uid: bytes | None) -> tuple[int, bytes]:
    """``B1 04 SUBCMD MODE [UID]`` for Set/Reset/Lock EAS and EAS Alarm."""
    if sub not in (NXP_SET_EAS, NXP_RESET_EAS, NXP_LOCK_EAS, NXP_EAS_ALARM):
        raise DriverArgumentError(
            f"not an NXP EAS command: {sub!r}; expected one of 0xA2, 0xA3, 0xA4, 0xA5")
    if uid is None:
        return CMD_ISO_CUSTOM, bytes((MFR_NXP, sub, MODE_NON_ADDRESSED))
    return CMD_ISO_CUSTOM, bytes((MFR_NXP, sub, MODE_ADDRESSED)) + _check_uid(uid)


def reader_info(mode: int = 0) -> tuple[int, bytes]:
    """``66 MODE``."""
    return CMD_READER_INFO, bytes((mode,))


def rf_reset() -> tuple[int, bytes]:
    """``69``."""
    return CMD_RF_RESET, b""


def set_output(os_bits: int, osf: int = 0, os_time: int = 0, out_time: int = 0) -> tuple[int, bytes]:
    """``71 OS(2) OSF(2) OS-TIME(2) OUT-TIME(2)``; OS-TIME in units of 100 ms."""
    for name, v in (("OS", os_bits), ("OSF", osf), ("OS-TIME", os_time), ("OUT-TIME", out_time)):
        check_int(name, v, 0, 0xFFFF)
    return CMD_SET_OUTPUT, b"".join(v.to_bytes(2, "big") for v in (os_bits, osf, os_time, out_time))


def get_input() -> tuple[int, bytes]:
    """``74``."""
    return CMD_GET_INPUT, b""


def read_buffer(data_sets: int) -> tuple[int, bytes]:
    """``22 DATA-SETS(2)``."""
    check_int("DATA-SETS", data_sets, 1, 0xFFFF)
    return CMD_READ_BUFFER, data_sets.to_bytes(2, "big")


def buffer_info() -> tuple[int, bytes]:
    return CMD_BUFFER_INFO, b""


def clear_buffer() -> tuple[int, bytes]:
    return CMD_CLEAR_BUFFER, b""


def init_buffer() -> tuple[int, bytes]:
    return CMD_INIT_BUFFER, b""


# ---- parsers -----------------------------------------------------------------------------

def _need(data: bytes, n: int, what: str) -> None:
    if len(data) < n:
        raise FrameError(f"{what}: expected at least {n} data bytes, got {len(data)} ({data.hex(' ')})")


def parse_inventory(data: bytes, antenna_mode: bool = False) -> list[InventoryRecord]:
    """Records of an inventory answer (STATUS 0x00, 0x83, 0x84 or 0x94).

    Records of other transponder types are skipped by their known length; an unknown
    TR-TYPE in plain mode cannot be skipped and raises.

    Raises:
        FrameError: the answer is shorter than its DATA-SETS count says.
    """
    if not data:
        return []
    count = data[0]
    pos = 1
    out: list[InventoryRecord] = []
    for n in range(count):
        if antenna_mode:
            _need(data[pos:], 4, f"inventory record {n}")
            flags, tr_type, dsfid, idd_len = data[pos:pos + 4]
            pos += 4
            _need(data[pos:], idd_len, f"inventory record {n} IDD")
            uid = data[pos:pos + idd_len]
            pos += idd_len
            antenna = rssi = None
            if flags & 0x01:
                _need(data[pos:], 1, f"inventory record {n} ANT-CNT")
                ant_cnt = data[pos]
                pos += 1
                _need(data[pos:], 7 * ant_cnt, f"inventory record {n} antenna data")
                best = -1
                for k in range(ant_cnt):
                    nr, _st, rs = data[pos + 7 * k:pos + 7 * k + 3]
                    if rs > best:
                        best, antenna, rssi = rs, nr, rs
                pos += 7 * ant_cnt
            out.append(InventoryRecord(tr_type, dsfid, bytes(uid), antenna, rssi))
            continue
        _need(data[pos:], 1, f"inventory record {n}")
        tr_type = data[pos]
        size = _PLAIN_RECORD_SIZES.get(tr_type)
        if size is None:
            raise FrameError(f"inventory record {n}: unknown TR-TYPE {tr_type:#04x}, cannot skip it")
        _need(data[pos:], size, f"inventory record {n} (TR-TYPE {tr_type:#04x})")
        if tr_type == TR_TYPE_ISO15693:
            out.append(InventoryRecord(tr_type, data[pos + 1], bytes(data[pos + 2:pos + 10])))
        pos += size
    return out


# Record sizes in plain inventory answers, TR-TYPE byte included (FEIG ISC manuals).
_PLAIN_RECORD_SIZES: Final[dict[int, int]] = {
    0x00: 10,  # I-Code1: TR-TYPE | DSFID? | SNR(8)
    0x01: 10,  # Tag-it HF: TR-TYPE | ? | SNR(8)
    0x03: 10,  # ISO 15693: TR-TYPE | DSFID | UID(8)
    0x07: 10,  # I-Code UID
}


def parse_read_multiple(data: bytes) -> BlockData:
    """Blocks of a Read Multiple Blocks answer, each turned back into tag-memory order.

    Raises:
        FrameError: the answer is shorter than DB-N x (1 + DB-SIZE).
    """
    _need(data, 2, "read multiple blocks")
    count, size = data[0], data[1]
    _need(data, 2 + count * (size + 1), "read multiple blocks")
    blocks, sec = [], []
    pos = 2
    for _ in range(count):
        sec.append(data[pos])
        blocks.append(bytes(reversed(data[pos + 1:pos + 1 + size])))
        pos += 1 + size
    return BlockData(size, tuple(blocks), tuple(sec))


def parse_system_info(data: bytes) -> SystemInfoData:
    """Get System Information answer: ``DSFID UID(8) AFI MEM-SIZE(2) IC-REF``.

    The first MEM-SIZE byte's low 5 bits are bytes-per-block - 1 and the second byte is
    blocks - 1 (FEIG's class library). A 3-byte MEM-SIZE (14-byte answer) is accepted.
    """
    _need(data, 13, "system information")
    if len(data) >= 14:
        mem = data[10:13]
        return SystemInfoData(data[0], bytes(data[1:9]), data[9], (mem[0] & 0x1F) + 1,
                              ((mem[1] << 8) | mem[2]) + 1, data[13])
    return SystemInfoData(data[0], bytes(data[1:9]), data[9], (data[10] & 0x1F) + 1,
                          data[11] + 1, data[12])


def parse_block_security(data: bytes) -> tuple[int, ...]:
    """SEC-STATUS bytes of a Get Multiple Block Security Status answer (``DB-N | SEC x DB-N``).

    Raises:
        FrameError: fewer SEC-STATUS bytes than DB-N announces.
    """
    _need(data, 1, "block security status")
    count = data[0]
    _need(data, 1 + count, "block security status")
    return tuple(data[1:1 + count])


def parse_reader_info(data: bytes) -> ReaderInfoData:
    """Reader info mode 0: ``SW-REV(2) D-REV HW-TYPE SW-TYPE TR-TYPE(2) ...``."""
    _need(data, 7, "reader info")
    return ReaderInfoData((data[0] << 8) | data[1], data[2], data[3], data[4],
                          (data[5] << 8) | data[6], bytes(data))


def parse_input(data: bytes) -> int:
    """The INPUT byte of a Get Input answer."""
    _need(data, 1, "get input")
    return data[0]


def parse_buffer_info(data: bytes) -> BufferInfo:
    """``TAB-SIZE(2) TAB-START(2) TAB-LEN(2)``."""
    _need(data, 6, "buffer info")
    return BufferInfo(int.from_bytes(data[0:2], "big"), int.from_bytes(data[2:4], "big"),
                      int.from_bytes(data[4:6], "big"))


# TR-DATA1 and TR-DATA2 bits of Read Buffer (protocols.md §4).
TR1_IDD: Final = 0x01
TR1_DATA: Final = 0x02
TR1_BYTE_ORDER: Final = 0x08
TR1_ANTENNA: Final = 0x10
TR1_TIME: Final = 0x20
TR1_DATE: Final = 0x40
TR1_EXT: Final = 0x80
TR2_INPUT: Final = 0x01
TR2_DIRECTION: Final = 0x20


def parse_read_buffer(data: bytes) -> BufferRead:
    """Records of a Read Buffer answer.

    Record layout, in the order FEIG's class library reads it [uncertain against the
    manuals]: ``REC-LEN(2) | TR-TYPE IDDT IDD-LEN IDD`` (IDD), then ``TIME(4)`` (time:
    hour, minute, ms-in-minute(2)), ``DATE(5)`` (skipped), ``ANT(1)`` (antenna),
    ``INPUT(1)``, ``DIR(1)``. REC-LEN counts the record with its own two bytes, so unknown
    trailing fields are skipped.

    Raises:
        FrameError: a record runs past the end of the answer or lacks a field its flags announce.
    """
    _need(data, 3, "read buffer")
    tr1 = data[0]
    pos = 1
    tr2 = 0
    if tr1 & TR1_EXT:
        tr2 = data[1]
        pos = 2
    _need(data[pos:], 2, "read buffer DATA-SETS")
    count = int.from_bytes(data[pos:pos + 2], "big")
    pos += 2
    records = []
    for n in range(count):
        _need(data[pos:], 2, f"buffer record {n}")
        rec_len = int.from_bytes(data[pos:pos + 2], "big")
        if rec_len < 2:
            raise FrameError(f"buffer record {n}: REC-LEN {rec_len} is shorter than itself")
        _need(data[pos:], rec_len, f"buffer record {n}")
        rec = data[pos + 2:pos + rec_len]
        pos += rec_len
        r = 0
        tr_type, uid = 0, b""
        if tr1 & TR1_IDD:
            _need(rec, 3, f"buffer record {n} IDD header")
            tr_type, _iddt, idd_len = rec[0], rec[1], rec[2]
            _need(rec, 3 + idd_len, f"buffer record {n} IDD")
            uid = bytes(rec[3:3 + idd_len])
            r = 3 + idd_len
        time_ms = antenna = inputs = direction = None
        if tr1 & TR1_TIME:
            _need(rec[r:], 4, f"buffer record {n} time")
            h, m, ms = rec[r], rec[r + 1], int.from_bytes(rec[r + 2:r + 4], "big")
            time_ms = (h * 60 + m) * 60_000 + ms
            r += 4
        if tr1 & TR1_DATE:
            r += 5
        if tr1 & TR1_ANTENNA:
            _need(rec[r:], 1, f"buffer record {n} antenna")
            antenna = rec[r]
            r += 1
        if tr2 & TR2_INPUT:
            _need(rec[r:], 1, f"buffer record {n} input")
            inputs = rec[r]
            r += 1
        if tr2 & TR2_DIRECTION:
            _need(rec[r:], 1, f"buffer record {n} direction")
            direction = rec[r]
            r += 1
        records.append(BufferedRecord(tr_type, uid, antenna, time_ms, direction, inputs))
    return BufferRead(tr1, tr2, tuple(records))
