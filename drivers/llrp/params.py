"""LLRP parameters as frozen dataclasses, with their binary encoders and decoders.

Sans-IO: bytes in, typed values out; no sockets, no clocks. Type numbers and field layouts
are those of LLRP 1.0.1 (EPCglobal, 2007) §16-17, the same in LLRP 1.1 / ISO/IEC 24791-5.

Two parameter encodings exist::

    TLV:  0                   1                   2                   3
          +-----------+-------------------+-------------------------------+
          | rsvd (6)  | parameter type(10)|  length (16, header included) |
          +-----------+-------------------+-------------------------------+
          | fields ..., then sub-parameters ...                           |
          +---------------------------------------------------------------+

    TV:   +-+-------------+------------------------+
          |1| type (7)    | value (fixed length)    |   types 1..127; the length is
          +-+-------------+------------------------+   known from the type alone

A TV parameter whose type this module does not know cannot be skipped (its length is not
on the wire) and is an error; an unknown TLV parameter is kept as :class:`RawParameter`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field, fields
from typing import ClassVar, TypeVar

from drivers.llrp.errors import LlrpFrameError

# ---- status codes (LLRP 1.0.1 §14.1.4) -----------------------------------------------------

M_SUCCESS = 0
M_PARAMETER_ERROR = 100
M_FIELD_ERROR = 101
M_UNEXPECTED_PARAMETER = 102
M_MISSING_PARAMETER = 103
M_UNSUPPORTED_MESSAGE = 109
M_UNSUPPORTED_VERSION = 110
P_FIELD_ERROR = 201
A_INVALID = 300
R_DEVICE_ERROR = 401

STATUS_NAMES = {
    0: "M_Success", 100: "M_ParameterError", 101: "M_FieldError", 102: "M_UnexpectedParameter",
    103: "M_MissingParameter", 104: "M_DuplicateParameter", 105: "M_OverflowParameter",
    106: "M_OverflowField", 107: "M_UnknownParameter", 108: "M_UnknownField",
    109: "M_UnsupportedMessage", 110: "M_UnsupportedVersion", 111: "M_UnsupportedParameter",
    200: "P_ParameterError", 201: "P_FieldError", 202: "P_UnexpectedParameter",
    203: "P_MissingParameter", 204: "P_DuplicateParameter", 205: "P_OverflowParameter",
    206: "P_OverflowField", 207: "P_UnknownParameter", 208: "P_UnknownField",
    209: "P_UnsupportedParameter", 300: "A_Invalid", 301: "A_OutOfRange", 401: "R_DeviceError",
}

# C1G2 memory banks (MB)
BANK_RESERVED, BANK_EPC, BANK_TID, BANK_USER = 0, 1, 2, 3

# C1G2ReadOpSpecResult / C1G2WriteOpSpecResult result codes (§16.2.1.5.5.1-2)
READ_SUCCESS, READ_TAG_ERROR, READ_NO_RESPONSE, READ_READER_ERROR = 0, 1, 2, 3
(WRITE_SUCCESS, WRITE_OVERRUN, WRITE_LOCKED, WRITE_INSUFFICIENT_POWER, WRITE_TAG_ERROR,
 WRITE_NO_RESPONSE, WRITE_READER_ERROR) = range(7)

# ConnectionAttemptEvent status, ROSpecEvent types, EventNotificationState event types
CONNECTION_SUCCESS = 0
CONNECTION_FAILED_CLIENT_EXISTS = 2
ROSPEC_STARTED, ROSPEC_ENDED = 0, 1
EVENT_ROSPEC = 2

# ROSpec states (§10.2.1)
ROSPEC_DISABLED, ROSPEC_INACTIVE, ROSPEC_ACTIVE = 0, 1, 2

PROTOCOL_EPC_C1G2 = 1


# ---- the cursor --------------------------------------------------------------------------

class Cursor:
    """Reads big-endian fields from ``data[pos:end]``; errors name the field and offset.

    ``base`` is added to every reported offset (the frame position of ``data[0]``).
    """

    def __init__(self, data: bytes, pos: int = 0, end: int | None = None, base: int = 0) -> None:
        self.data = data
        self.pos = pos
        self.end = len(data) if end is None else end
        self.base = base

    def left(self) -> int:
        return self.end - self.pos

    def take(self, n: int, name: str) -> bytes:
        if n < 0 or self.pos + n > self.end:
            raise LlrpFrameError(f"truncated: {n} bytes needed, {self.left()} left", name,
                                 self.base + self.pos)
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def u8(self, name: str) -> int:
        return self.take(1, name)[0]

    def u16(self, name: str) -> int:
        return int.from_bytes(self.take(2, name), "big")

    def u32(self, name: str) -> int:
        return int.from_bytes(self.take(4, name), "big")

    def u64(self, name: str) -> int:
        return int.from_bytes(self.take(8, name), "big")

    def utf8(self, name: str) -> str:
        raw = self.take(self.u16(name + " length"), name)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise LlrpFrameError(f"not UTF-8: {exc}", name, self.base + self.pos) from exc

    def bits(self, name: str) -> tuple[int, bytes]:
        """A bit array: 16-bit bit count, then the bits padded to whole octets."""
        count = self.u16(name + " bit count")
        return count, self.take((count + 7) // 8, name)

    def words(self, name: str) -> bytes:
        """A u16v: 16-bit word count, then the words."""
        return self.take(2 * self.u16(name + " word count"), name)

    def params(self) -> list[Parameter]:
        out = []
        while self.pos < self.end:
            out.append(decode_param(self))
        return out


def _u16v(data: bytes) -> bytes:
    return struct.pack("!H", len(data) // 2) + data


def _utf8(text: str) -> bytes:
    raw = text.encode("utf-8")
    return struct.pack("!H", len(raw)) + raw


# ---- the parameter base ------------------------------------------------------------------

class Parameter:
    """A TLV parameter: subclasses set ``TYPE`` and implement ``body``/``from_body``."""

    TYPE: ClassVar[int]
    TV_LENGTH: ClassVar[int | None] = None  # value bytes of a TV parameter

    def body(self) -> bytes:
        raise NotImplementedError

    @classmethod
    def from_body(cls: type[P], c: Cursor) -> P:
        raise NotImplementedError


P = TypeVar("P", bound=Parameter)

_TLV: dict[int, type[Parameter]] = {}
_TV: dict[int, type[Parameter]] = {}

# Value lengths of every TV parameter of LLRP 1.0.1/1.1 (§17.2): known ones decode to types,
# the rest are kept as RawParameter but can still be skipped.
TV_LENGTHS = {1: 2, 2: 8, 3: 8, 4: 8, 5: 8, 6: 1, 7: 2, 8: 2, 9: 4, 10: 2, 11: 2, 12: 2, 13: 12,
              14: 2, 15: 2, 16: 4, 17: 2, 18: 4, 19: 2, 20: 2}


def _register(cls: type[P]) -> type[P]:
    (_TV if cls.TV_LENGTH is not None else _TLV)[cls.TYPE] = cls
    return cls


class FixedParameter(Parameter):
    """A TLV parameter of fixed big-endian fields only: ``LAYOUT`` is the struct format of
    the dataclass fields, in order."""

    LAYOUT: ClassVar[str]

    def body(self) -> bytes:
        return struct.pack("!" + self.LAYOUT, *(getattr(self, f.name) for f in fields(self)))  # type: ignore[arg-type]

    @classmethod
    def from_body(cls: type[FP], c: Cursor) -> FP:
        layout = struct.Struct("!" + cls.LAYOUT)
        return cls(*layout.unpack(c.take(layout.size, cls.__name__)))


FP = TypeVar("FP", bound=FixedParameter)


@dataclass(frozen=True, slots=True)
class RawParameter(Parameter):
    """A parameter this codec does not interpret: its type and value bytes, kept whole."""

    type: int
    value: bytes
    tv: bool = False

    def body(self) -> bytes:
        return self.value


def encode_param(p: Parameter) -> bytes:
    """One parameter with its TLV or TV header."""
    if isinstance(p, RawParameter):
        if p.tv:
            return bytes([0x80 | p.type]) + p.value
        return struct.pack("!HH", p.type & 0x3FF, 4 + len(p.value)) + p.value
    body = p.body()
    if p.TV_LENGTH is not None:
        return bytes([0x80 | p.TYPE]) + body
    return struct.pack("!HH", p.TYPE, 4 + len(body)) + body


def encode_params(ps: tuple[Parameter | None, ...] | list[Parameter]) -> bytes:
    return b"".join(encode_param(p) for p in ps if p is not None)


def decode_param(c: Cursor) -> Parameter:
    """The parameter at the cursor (TV or TLV), advancing past it.

    Raises:
        LlrpFrameError: an unknown TV type, a TLV length below 4 or past its container.
    """
    start = c.pos
    first = c.u8("parameter header")
    if first & 0x80:
        ptype = first & 0x7F
        size = TV_LENGTHS.get(ptype)
        if size is None:
            raise LlrpFrameError(f"unknown TV parameter type {ptype}: its length cannot be known",
                                 "TV type", c.base + start)
        if ptype not in _TV:
            return RawParameter(ptype, c.take(size, f"TV parameter {ptype}"), tv=True)
        sub = Cursor(c.data, c.pos, c.pos + size, c.base)
        c.take(size, _TV[ptype].__name__)
        return _TV[ptype].from_body(sub)
    c.pos = start
    ptype = c.u16("parameter type") & 0x3FF
    length = c.u16("parameter length")
    name = _TLV[ptype].__name__ if ptype in _TLV else f"parameter type {ptype}"
    if length < 4:
        raise LlrpFrameError(f"TLV length {length} is below its 4-byte header", name, c.base + start)
    if start + length > c.end:
        raise LlrpFrameError(f"TLV length {length} runs {start + length - c.end} bytes past "
                             f"its container", name, c.base + start)
    sub = Cursor(c.data, c.pos, start + length, c.base)
    c.pos = start + length
    cls = _TLV.get(ptype)
    if cls is None:
        return RawParameter(ptype, sub.take(sub.left(), name))
    value = cls.from_body(sub)
    if sub.left():
        raise LlrpFrameError(f"{sub.left()} bytes left over", name, c.base + sub.pos)
    return value


def only(children: list[Parameter], cls: type[P], parent: str, c: Cursor,
         required: bool = True) -> P | None:
    """The one child of type ``cls``, or None; a missing required one or two of it is an error."""
    found = [p for p in children if isinstance(p, cls)]
    if len(found) > 1:
        raise LlrpFrameError(f"{parent} holds {len(found)} {cls.__name__} parameters, expected one",
                             cls.__name__, c.base + c.pos)
    if not found:
        if required:
            raise LlrpFrameError(f"{parent} lacks its {cls.__name__} parameter", cls.__name__,
                                 c.base + c.pos)
        return None
    return found[0]


def need(children: list[Parameter], cls: type[P], parent: str, c: Cursor) -> P:
    value = only(children, cls, parent, c)
    assert value is not None
    return value


def many(children: list[Parameter], cls: type[P]) -> tuple[P, ...]:
    return tuple(p for p in children if isinstance(p, cls))


def others(children: list[Parameter], *known: type[Parameter]) -> tuple[Parameter, ...]:
    return tuple(p for p in children if not isinstance(p, known))


# ---- TV parameters -----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class TvInteger(Parameter):
    """A TV parameter holding one integer of ``TV_LENGTH`` bytes."""

    SIGNED: ClassVar[bool] = False
    value: int

    def body(self) -> bytes:
        assert self.TV_LENGTH is not None
        return int(self.value).to_bytes(self.TV_LENGTH, "big", signed=self.SIGNED)

    @classmethod
    def from_body(cls: type[TI], c: Cursor) -> TI:
        assert cls.TV_LENGTH is not None
        return cls(int.from_bytes(c.take(cls.TV_LENGTH, cls.__name__), "big", signed=cls.SIGNED))


TI = TypeVar("TI", bound=TvInteger)


@_register
@dataclass(frozen=True, slots=True)
class AntennaID(TvInteger):
    TYPE: ClassVar[int] = 1
    TV_LENGTH: ClassVar[int | None] = 2


@_register
@dataclass(frozen=True, slots=True)
class FirstSeenTimestampUTC(TvInteger):
    """Microseconds since 1970-01-01 UTC."""

    TYPE: ClassVar[int] = 2
    TV_LENGTH: ClassVar[int | None] = 8


@_register
@dataclass(frozen=True, slots=True)
class PeakRSSI(TvInteger):
    """dBm, signed."""

    TYPE: ClassVar[int] = 6
    TV_LENGTH: ClassVar[int | None] = 1
    SIGNED: ClassVar[bool] = True


@_register
@dataclass(frozen=True, slots=True)
class ROSpecIDParam(TvInteger):
    TYPE: ClassVar[int] = 9
    TV_LENGTH: ClassVar[int | None] = 4


@_register
@dataclass(frozen=True, slots=True)
class C1G2PC(TvInteger):
    """The PC word: length (5 bits), UMI, XI, T, then the AFI (T=1) or attribute bits."""

    TYPE: ClassVar[int] = 12
    TV_LENGTH: ClassVar[int | None] = 2


@_register
@dataclass(frozen=True, slots=True)
class AccessSpecIDParam(TvInteger):
    TYPE: ClassVar[int] = 16
    TV_LENGTH: ClassVar[int | None] = 4


@_register
@dataclass(frozen=True, slots=True)
class EPC96(Parameter):
    """TV 13: a 96-bit EPC."""

    TYPE: ClassVar[int] = 13
    TV_LENGTH: ClassVar[int | None] = 12
    epc: bytes

    def body(self) -> bytes:
        if len(self.epc) != 12:
            raise LlrpFrameError(f"EPC-96 needs 12 bytes, got {len(self.epc)}", "EPC-96")
        return self.epc

    @classmethod
    def from_body(cls, c: Cursor) -> EPC96:
        return cls(c.take(12, "EPC-96"))


# ---- simple TLV parameters ---------------------------------------------------------------

@_register
@dataclass(frozen=True, slots=True)
class LLRPStatus(Parameter):
    """287: StatusCode, ErrorDescription, optional FieldError/ParameterError (kept raw)."""

    TYPE: ClassVar[int] = 287
    code: int = M_SUCCESS
    description: str = ""
    details: tuple[Parameter, ...] = ()

    @property
    def name(self) -> str:
        return STATUS_NAMES.get(self.code, f"status {self.code}")

    def body(self) -> bytes:
        return struct.pack("!H", self.code) + _utf8(self.description) + encode_params(self.details)

    @classmethod
    def from_body(cls, c: Cursor) -> LLRPStatus:
        return cls(c.u16("StatusCode"), c.utf8("ErrorDescription"), tuple(c.params()))


@_register
@dataclass(frozen=True, slots=True)
class UTCTimestamp(FixedParameter):
    TYPE: ClassVar[int] = 128
    microseconds: int
    LAYOUT: ClassVar[str] = "Q"


@_register
@dataclass(frozen=True, slots=True)
class GeneralDeviceCapabilities(Parameter):
    """137: the reader's make, model, firmware and antenna count (sub-parameters kept raw)."""

    TYPE: ClassVar[int] = 137
    max_antennas: int
    manufacturer: int  # IANA private enterprise number
    model: int
    firmware: str
    can_set_antenna_properties: bool = False
    has_utc_clock: bool = True
    details: tuple[Parameter, ...] = ()

    def body(self) -> bytes:
        flags = (0x8000 if self.can_set_antenna_properties else 0) | (0x4000 if self.has_utc_clock else 0)
        return (struct.pack("!HHII", self.max_antennas, flags, self.manufacturer, self.model)
                + _utf8(self.firmware) + encode_params(self.details))

    @classmethod
    def from_body(cls, c: Cursor) -> GeneralDeviceCapabilities:
        antennas, flags = c.u16("MaxNumberOfAntennaSupported"), c.u16("capability flags")
        maker, model = c.u32("DeviceManufacturerName"), c.u32("ModelName")
        return cls(antennas, maker, model, c.utf8("ReaderFirmwareVersion"), bool(flags & 0x8000),
                   bool(flags & 0x4000), tuple(c.params()))


@_register
@dataclass(frozen=True, slots=True)
class ROSpecStartTrigger(Parameter):
    """179: 0 null (START_ROSPEC starts it), 1 immediate, 2 periodic, 3 GPI."""

    TYPE: ClassVar[int] = 179
    trigger_type: int = 0
    details: tuple[Parameter, ...] = ()

    def body(self) -> bytes:
        return bytes([self.trigger_type]) + encode_params(self.details)

    @classmethod
    def from_body(cls, c: Cursor) -> ROSpecStartTrigger:
        return cls(c.u8("ROSpecStartTriggerType"), tuple(c.params()))


@dataclass(frozen=True, slots=True)
class StopTrigger(Parameter):
    """A stop trigger: its type, a duration in ms, then optional sub-parameters (kept raw)."""

    trigger_type: int = 0
    duration_ms: int = 0
    details: tuple[Parameter, ...] = ()

    def body(self) -> bytes:
        return struct.pack("!BI", self.trigger_type, self.duration_ms) + encode_params(self.details)

    @classmethod
    def from_body(cls: type[ST], c: Cursor) -> ST:
        return cls(c.u8("stop trigger type"), c.u32("duration"), tuple(c.params()))


ST = TypeVar("ST", bound=StopTrigger)


@_register
@dataclass(frozen=True, slots=True)
class ROSpecStopTrigger(StopTrigger):
    """182: 0 null (STOP_ROSPEC stops it), 1 duration (ms), 2 GPI with timeout."""

    TYPE: ClassVar[int] = 182


@_register
@dataclass(frozen=True, slots=True)
class ROBoundarySpec(Parameter):
    TYPE: ClassVar[int] = 178
    start: ROSpecStartTrigger = field(default_factory=ROSpecStartTrigger)
    stop: ROSpecStopTrigger = field(default_factory=ROSpecStopTrigger)

    def body(self) -> bytes:
        return encode_params((self.start, self.stop))

    @classmethod
    def from_body(cls, c: Cursor) -> ROBoundarySpec:
        ps = c.params()
        return cls(need(ps, ROSpecStartTrigger, "ROBoundarySpec", c),
                   need(ps, ROSpecStopTrigger, "ROBoundarySpec", c))


@_register
@dataclass(frozen=True, slots=True)
class AISpecStopTrigger(StopTrigger):
    """184: 0 null (ends with the ROSpec), 1 duration, 2 GPI, 3 tag observation."""

    TYPE: ClassVar[int] = 184


@_register
@dataclass(frozen=True, slots=True)
class TagObservationTrigger(FixedParameter):
    """185 (in an AISpecStopTrigger of type 3): 0 upon N tags, 1 upon T ms of silence,
    2 after N attempts to see all tags in the field of view; or after ``timeout_ms``."""

    TYPE: ClassVar[int] = 185
    trigger_type: int = 2
    reserved: int = 0
    number_of_tags: int = 0
    number_of_attempts: int = 1
    t_ms: int = 0
    timeout_ms: int = 0
    LAYOUT: ClassVar[str] = "BBHHHI"


@_register
@dataclass(frozen=True, slots=True)
class InventoryParameterSpec(Parameter):
    TYPE: ClassVar[int] = 186
    spec_id: int = 1
    protocol_id: int = PROTOCOL_EPC_C1G2
    details: tuple[Parameter, ...] = ()  # AntennaConfiguration … (kept raw)

    def body(self) -> bytes:
        return struct.pack("!HB", self.spec_id, self.protocol_id) + encode_params(self.details)

    @classmethod
    def from_body(cls, c: Cursor) -> InventoryParameterSpec:
        return cls(c.u16("InventoryParameterSpecID"), c.u8("ProtocolID"), tuple(c.params()))


@_register
@dataclass(frozen=True, slots=True)
class AISpec(Parameter):
    """183: antennas (0 = all), a stop trigger and one or more InventoryParameterSpecs."""

    TYPE: ClassVar[int] = 183
    antenna_ids: tuple[int, ...] = (0,)
    stop: AISpecStopTrigger = field(default_factory=AISpecStopTrigger)
    inventory: tuple[InventoryParameterSpec, ...] = (InventoryParameterSpec(),)

    def body(self) -> bytes:
        return (struct.pack(f"!H{len(self.antenna_ids)}H", len(self.antenna_ids), *self.antenna_ids)
                + encode_params((self.stop, *self.inventory)))

    @classmethod
    def from_body(cls, c: Cursor) -> AISpec:
        ids = tuple(c.u16("AntennaID") for _ in range(c.u16("AntennaCount")))
        ps = c.params()
        inv = many(ps, InventoryParameterSpec)
        if not inv:
            raise LlrpFrameError("AISpec lacks an InventoryParameterSpec", "InventoryParameterSpec",
                                 c.base + c.pos)
        return cls(ids, need(ps, AISpecStopTrigger, "AISpec", c), inv)


@_register
@dataclass(frozen=True, slots=True)
class C1G2EPCMemorySelector(Parameter):
    TYPE: ClassVar[int] = 348
    enable_crc: bool = False
    enable_pc_bits: bool = True

    def body(self) -> bytes:
        return bytes([(0x80 if self.enable_crc else 0) | (0x40 if self.enable_pc_bits else 0)])

    @classmethod
    def from_body(cls, c: Cursor) -> C1G2EPCMemorySelector:
        flags = c.u8("C1G2EPCMemorySelector flags")
        return cls(bool(flags & 0x80), bool(flags & 0x40))


# TagReportContentSelector flag bits, most significant first (§13.2.1.1)
CONTENT_FLAGS = ("rospec_id", "spec_index", "inventory_parameter_spec_id", "antenna_id",
                 "channel_index", "peak_rssi", "first_seen_timestamp", "last_seen_timestamp",
                 "tag_seen_count", "access_spec_id")


@_register
@dataclass(frozen=True, slots=True)
class TagReportContentSelector(Parameter):
    """238: which fields each TagReportData carries (``enabled`` names, see CONTENT_FLAGS)."""

    TYPE: ClassVar[int] = 238
    enabled: frozenset[str] = frozenset({"antenna_id", "peak_rssi", "first_seen_timestamp"})
    memory: C1G2EPCMemorySelector | None = field(default_factory=C1G2EPCMemorySelector)

    def body(self) -> bytes:
        unknown = self.enabled - set(CONTENT_FLAGS)
        if unknown:
            raise LlrpFrameError(f"unknown content flags {sorted(unknown)}", "TagReportContentSelector")
        bits = sum(0x8000 >> n for n, name in enumerate(CONTENT_FLAGS) if name in self.enabled)
        return struct.pack("!H", bits) + encode_params((self.memory,))

    @classmethod
    def from_body(cls, c: Cursor) -> TagReportContentSelector:
        bits = c.u16("TagReportContentSelector flags")
        ps = c.params()
        return cls(frozenset(n for i, n in enumerate(CONTENT_FLAGS) if bits & (0x8000 >> i)),
                   only(ps, C1G2EPCMemorySelector, "TagReportContentSelector", c, required=False))


@_register
@dataclass(frozen=True, slots=True)
class ROReportSpec(Parameter):
    """237: trigger 0 none, 1 every N tags or end of AISpec, 2 every N tags or end of ROSpec."""

    TYPE: ClassVar[int] = 237
    trigger: int = 2
    n: int = 0
    content: TagReportContentSelector = field(default_factory=TagReportContentSelector)
    details: tuple[Parameter, ...] = ()  # vendor (custom) parameters, kept

    def body(self) -> bytes:
        return struct.pack("!BH", self.trigger, self.n) + encode_params((self.content, *self.details))

    @classmethod
    def from_body(cls, c: Cursor) -> ROReportSpec:
        trigger, n = c.u8("ROReportTrigger"), c.u16("N")
        ps = c.params()
        return cls(trigger, n, need(ps, TagReportContentSelector, "ROReportSpec", c),
                   others(ps, TagReportContentSelector))


@_register
@dataclass(frozen=True, slots=True)
class ROSpec(Parameter):
    """177: a reader operation: boundary (start/stop triggers), AISpecs, report spec."""

    TYPE: ClassVar[int] = 177
    rospec_id: int
    priority: int = 0
    state: int = ROSPEC_DISABLED
    boundary: ROBoundarySpec = field(default_factory=ROBoundarySpec)
    specs: tuple[AISpec, ...] = (AISpec(),)
    report: ROReportSpec | None = None
    details: tuple[Parameter, ...] = ()

    def body(self) -> bytes:
        return (struct.pack("!IBB", self.rospec_id, self.priority, self.state)
                + encode_params((self.boundary, *self.specs, *self.details, self.report)))

    @classmethod
    def from_body(cls, c: Cursor) -> ROSpec:
        rid, prio, state = c.u32("ROSpecID"), c.u8("Priority"), c.u8("CurrentState")
        ps = c.params()
        return cls(rid, prio, state, need(ps, ROBoundarySpec, "ROSpec", c), many(ps, AISpec),
                   only(ps, ROReportSpec, "ROSpec", c, required=False),
                   others(ps, ROBoundarySpec, AISpec, ROReportSpec))


# ---- access ----------------------------------------------------------------------------

@_register
@dataclass(frozen=True, slots=True)
class C1G2TargetTag(Parameter):
    """339: which tags an AccessSpec addresses: memory bank, bit pointer, mask and data."""

    TYPE: ClassVar[int] = 339
    bank: int
    match: bool
    pointer: int
    mask: bytes
    data: bytes
    mask_bits: int = -1  # -1: 8 * len(mask)
    data_bits: int = -1  # -1: 8 * len(data)

    def __post_init__(self) -> None:
        if self.mask_bits < 0:
            object.__setattr__(self, "mask_bits", 8 * len(self.mask))
        if self.data_bits < 0:
            object.__setattr__(self, "data_bits", 8 * len(self.data))

    def body(self) -> bytes:
        mbits, dbits = self.mask_bits, self.data_bits
        return (struct.pack("!BHH", (self.bank & 3) << 6 | (0x20 if self.match else 0), self.pointer,
                            mbits) + self.mask + struct.pack("!H", dbits) + self.data)

    @classmethod
    def from_body(cls, c: Cursor) -> C1G2TargetTag:
        flags, pointer = c.u8("MB/M"), c.u16("Pointer")
        mbits, mask = c.bits("TagMask")
        dbits, data = c.bits("TagData")
        return cls(flags >> 6, bool(flags & 0x20), pointer, mask, data, mbits, dbits)


@_register
@dataclass(frozen=True, slots=True)
class C1G2TagSpec(Parameter):
    TYPE: ClassVar[int] = 338
    targets: tuple[C1G2TargetTag, ...]

    def body(self) -> bytes:
        return encode_params(self.targets)

    @classmethod
    def from_body(cls, c: Cursor) -> C1G2TagSpec:
        targets = many(c.params(), C1G2TargetTag)
        if not 1 <= len(targets) <= 2:
            raise LlrpFrameError(f"C1G2TagSpec holds {len(targets)} C1G2TargetTags, expected 1 or 2",
                                 "C1G2TargetTag", c.base + c.pos)
        return cls(targets)


@_register
@dataclass(frozen=True, slots=True)
class C1G2Read(Parameter):
    TYPE: ClassVar[int] = 341
    op_spec_id: int
    bank: int
    word_pointer: int
    word_count: int
    access_password: int = 0

    def body(self) -> bytes:
        return struct.pack("!HIBHH", self.op_spec_id, self.access_password, (self.bank & 3) << 6,
                           self.word_pointer, self.word_count)

    @classmethod
    def from_body(cls, c: Cursor) -> C1G2Read:
        op, pw, mb = c.u16("OpSpecID"), c.u32("AccessPassword"), c.u8("MB")
        return cls(op, mb >> 6, c.u16("WordPointer"), c.u16("WordCount"), pw)


@_register
@dataclass(frozen=True, slots=True)
class C1G2Write(Parameter):
    TYPE: ClassVar[int] = 342
    op_spec_id: int
    bank: int
    word_pointer: int
    data: bytes  # a whole number of 16-bit words
    access_password: int = 0

    def body(self) -> bytes:
        if len(self.data) % 2:
            raise LlrpFrameError(f"C1G2Write data must be whole words, got {len(self.data)} bytes",
                                 "WriteData")
        return (struct.pack("!HIBH", self.op_spec_id, self.access_password, (self.bank & 3) << 6,
                            self.word_pointer) + _u16v(self.data))

    @classmethod
    def from_body(cls, c: Cursor) -> C1G2Write:
        op, pw, mb = c.u16("OpSpecID"), c.u32("AccessPassword"), c.u8("MB")
        pointer = c.u16("WordPointer")
        return cls(op, mb >> 6, pointer, c.words("WriteData"), pw)



@_register
@dataclass(frozen=True, slots=True)
class AccessCommand(Parameter):
    TYPE: ClassVar[int] = 209
    tag_spec: C1G2TagSpec
    op_specs: tuple[Parameter, ...]  # C1G2Read, C1G2Write, or others kept raw

    def body(self) -> bytes:
        return encode_params((self.tag_spec, *self.op_specs))

    @classmethod
    def from_body(cls, c: Cursor) -> AccessCommand:
        ps = c.params()
        ops = others(ps, C1G2TagSpec)
        if not ops:
            raise LlrpFrameError("AccessCommand holds no OpSpec", "OpSpec", c.base + c.pos)
        return cls(need(ps, C1G2TagSpec, "AccessCommand", c), ops)


@_register
@dataclass(frozen=True, slots=True)
class AccessSpecStopTrigger(FixedParameter):
    """208: 0 null, 1 after ``operation_count`` executions."""

    TYPE: ClassVar[int] = 208
    trigger_type: int = 1
    operation_count: int = 1
    LAYOUT: ClassVar[str] = "BH"


@_register
@dataclass(frozen=True, slots=True)
class AccessSpec(Parameter):
    """207: tag operations run on the tags an ROSpec singulates (ROSpecID 0 = any)."""

    TYPE: ClassVar[int] = 207
    access_spec_id: int
    command: AccessCommand
    antenna_id: int = 0
    protocol_id: int = PROTOCOL_EPC_C1G2
    enabled: bool = False
    rospec_id: int = 0
    stop: AccessSpecStopTrigger = field(default_factory=AccessSpecStopTrigger)
    details: tuple[Parameter, ...] = ()  # AccessReportSpec … (kept raw)

    def body(self) -> bytes:
        return (struct.pack("!IHBBI", self.access_spec_id, self.antenna_id, self.protocol_id,
                            0x80 if self.enabled else 0, self.rospec_id)
                + encode_params((self.stop, self.command, *self.details)))

    @classmethod
    def from_body(cls, c: Cursor) -> AccessSpec:
        aid, ant, proto = c.u32("AccessSpecID"), c.u16("AntennaID"), c.u8("ProtocolID")
        state, rid = c.u8("CurrentState"), c.u32("ROSpecID")
        ps = c.params()
        return cls(aid, need(ps, AccessCommand, "AccessSpec", c), ant, proto, bool(state & 0x80), rid,
                   need(ps, AccessSpecStopTrigger, "AccessSpec", c),
                   others(ps, AccessCommand, AccessSpecStopTrigger))


@_register
@dataclass(frozen=True, slots=True)
class C1G2ReadOpSpecResult(Parameter):
    TYPE: ClassVar[int] = 349
    result: int
    op_spec_id: int
    data: bytes = b""

    def body(self) -> bytes:
        return struct.pack("!BH", self.result, self.op_spec_id) + _u16v(self.data)

    @classmethod
    def from_body(cls, c: Cursor) -> C1G2ReadOpSpecResult:
        result, op = c.u8("Result"), c.u16("OpSpecID")
        return cls(result, op, c.words("ReadData"))


@_register
@dataclass(frozen=True, slots=True)
class C1G2WriteOpSpecResult(FixedParameter):
    TYPE: ClassVar[int] = 350
    result: int
    op_spec_id: int
    words_written: int = 0
    LAYOUT: ClassVar[str] = "BHH"


# ---- reports -----------------------------------------------------------------------------

@_register
@dataclass(frozen=True, slots=True)
class EPCData(Parameter):
    """241: an EPC of any length (a bit count, then the bits)."""

    TYPE: ClassVar[int] = 241
    epc: bytes
    bits: int = -1  # -1: 8 * len(epc)

    def __post_init__(self) -> None:
        if self.bits < 0:
            object.__setattr__(self, "bits", 8 * len(self.epc))

    def body(self) -> bytes:
        return struct.pack("!H", self.bits) + self.epc

    @classmethod
    def from_body(cls, c: Cursor) -> EPCData:
        bits, epc = c.bits("EPC")
        return cls(epc, bits)


@_register
@dataclass(frozen=True, slots=True)
class TagReportData(Parameter):
    """240: one tag seen (and the results of the AccessSpec run on it).

    A 12-byte EPC is sent as the EPC-96 TV parameter, any other length as EPCData.
    """

    TYPE: ClassVar[int] = 240
    epc: bytes
    antenna_id: int | None = None
    peak_rssi: int | None = None
    first_seen_utc: int | None = None
    pc: int | None = None
    rospec_id: int | None = None
    access_spec_id: int | None = None
    op_results: tuple[Parameter, ...] = ()
    details: tuple[Parameter, ...] = ()

    def body(self) -> bytes:
        epc: Parameter = EPC96(self.epc) if len(self.epc) == 12 else EPCData(self.epc)
        opt = (
            ROSpecIDParam(self.rospec_id) if self.rospec_id is not None else None,
            AntennaID(self.antenna_id) if self.antenna_id is not None else None,
            PeakRSSI(self.peak_rssi) if self.peak_rssi is not None else None,
            FirstSeenTimestampUTC(self.first_seen_utc) if self.first_seen_utc is not None else None,
            *self.details,
            C1G2PC(self.pc) if self.pc is not None else None,
            AccessSpecIDParam(self.access_spec_id) if self.access_spec_id is not None else None,
            *self.op_results,
        )
        return encode_params((epc, *opt))

    @classmethod
    def from_body(cls, c: Cursor) -> TagReportData:
        ps = c.params()
        epcs = [p for p in ps if isinstance(p, (EPC96, EPCData))]
        if len(epcs) != 1:
            raise LlrpFrameError(f"TagReportData holds {len(epcs)} EPCs, expected one", "EPCData",
                                 c.base + c.pos)

        def tv(kind: type[Parameter]) -> int | None:
            p = only(ps, kind, "TagReportData", c, required=False)
            return None if p is None else int(p.value)  # type: ignore[attr-defined]

        results = tuple(p for p in ps if isinstance(p, (C1G2ReadOpSpecResult, C1G2WriteOpSpecResult))
                        or (isinstance(p, RawParameter) and 349 <= p.type <= 360))
        known = (EPC96, EPCData, AntennaID, PeakRSSI, FirstSeenTimestampUTC, C1G2PC, ROSpecIDParam,
                 AccessSpecIDParam)
        return cls(epcs[0].epc, tv(AntennaID), tv(PeakRSSI), tv(FirstSeenTimestampUTC), tv(C1G2PC),
                   tv(ROSpecIDParam), tv(AccessSpecIDParam), results,
                   tuple(p for p in others(ps, *known) if p not in results))


@_register
@dataclass(frozen=True, slots=True)
class ROSpecEvent(FixedParameter):
    """249: an ROSpec started (0), ended (1) or was preempted (2)."""

    TYPE: ClassVar[int] = 249
    event_type: int
    rospec_id: int
    preempting_rospec_id: int = 0
    LAYOUT: ClassVar[str] = "BII"


@_register
@dataclass(frozen=True, slots=True)
class ConnectionAttemptEvent(FixedParameter):
    TYPE: ClassVar[int] = 256
    status: int = CONNECTION_SUCCESS
    LAYOUT: ClassVar[str] = "H"


@_register
@dataclass(frozen=True, slots=True)
class ReaderEventNotificationData(Parameter):
    """246: a timestamp and the events (ConnectionAttemptEvent, ROSpecEvent, others raw)."""

    TYPE: ClassVar[int] = 246
    timestamp: UTCTimestamp
    events: tuple[Parameter, ...] = ()

    def body(self) -> bytes:
        return encode_params((self.timestamp, *self.events))

    @classmethod
    def from_body(cls, c: Cursor) -> ReaderEventNotificationData:
        ps = c.params()
        # A reader without a UTC clock sends Uptime (129) instead: read it as a timestamp.
        stamp = only(ps, UTCTimestamp, "ReaderEventNotificationData", c, required=False)
        if stamp is None:
            up = [p for p in ps if isinstance(p, RawParameter) and p.type == 129 and len(p.value) == 8]
            if not up:
                raise LlrpFrameError("ReaderEventNotificationData lacks a timestamp", "UTCTimestamp",
                                     c.base + c.pos)
            stamp = UTCTimestamp(int.from_bytes(up[0].value, "big"))
            ps.remove(up[0])
        return cls(stamp, others(ps, UTCTimestamp))


# ---- reader configuration ---------------------------------------------------------------

@_register
@dataclass(frozen=True, slots=True)
class EventNotificationState(Parameter):
    TYPE: ClassVar[int] = 245
    event_type: int
    enabled: bool

    def body(self) -> bytes:
        return struct.pack("!HB", self.event_type, 0x80 if self.enabled else 0)

    @classmethod
    def from_body(cls, c: Cursor) -> EventNotificationState:
        return cls(c.u16("EventType"), bool(c.u8("NotificationState") & 0x80))


@_register
@dataclass(frozen=True, slots=True)
class ReaderEventNotificationSpec(Parameter):
    TYPE: ClassVar[int] = 244
    states: tuple[EventNotificationState, ...]

    def body(self) -> bytes:
        return encode_params(self.states)

    @classmethod
    def from_body(cls, c: Cursor) -> ReaderEventNotificationSpec:
        return cls(many(c.params(), EventNotificationState))


@_register
@dataclass(frozen=True, slots=True)
class KeepaliveSpec(FixedParameter):
    """220: trigger 0 none, 1 periodic every ``interval_ms``."""

    TYPE: ClassVar[int] = 220
    trigger_type: int = 1
    interval_ms: int = 5000
    LAYOUT: ClassVar[str] = "BI"


@_register
@dataclass(frozen=True, slots=True)
class GPOWriteData(Parameter):
    """219: drive one general-purpose output (in SET_READER_CONFIG)."""

    TYPE: ClassVar[int] = 219
    port: int
    on: bool

    def body(self) -> bytes:
        return struct.pack("!HB", self.port, 0x80 if self.on else 0)

    @classmethod
    def from_body(cls, c: Cursor) -> GPOWriteData:
        return cls(c.u16("GPOPortNumber"), bool(c.u8("GPOData") & 0x80))


GPI_LOW, GPI_HIGH, GPI_UNKNOWN = 0, 1, 2
CONFIG_GPI_STATE = 9  # GET_READER_CONFIG RequestedData: GPIPortCurrentState


@_register
@dataclass(frozen=True, slots=True)
class GPIPortCurrentState(Parameter):
    """225: one general-purpose input: enabled, and its state (0 low, 1 high, 2 unknown)."""

    TYPE: ClassVar[int] = 225
    port: int
    enabled: bool = True
    state: int = GPI_UNKNOWN

    def body(self) -> bytes:
        return struct.pack("!HBB", self.port, 0x80 if self.enabled else 0, self.state)

    @classmethod
    def from_body(cls, c: Cursor) -> GPIPortCurrentState:
        port, flags = c.u16("GPIPortNum"), c.u8("GPIConfig")
        return cls(port, bool(flags & 0x80), c.u8("GPIState"))
