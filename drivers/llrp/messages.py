"""LLRP messages as frozen dataclasses: what a reader driver and a reader simulator exchange.

Each class has its LLRP 1.0.1 §17.1 message type number (``TYPE``) and encodes only its
body; :mod:`drivers.llrp.codec` adds the 10-byte header. Every message carries the
``msg_id`` of its header (a response repeats its request's) and the protocol ``version``
(1 = LLRP 1.0.1, 2 = LLRP 1.1). Sans-IO: no sockets, no clocks.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import ClassVar, TypeVar

from drivers.llrp.errors import LlrpFrameError
from drivers.llrp.params import (
    AccessSpec,
    Cursor,
    GeneralDeviceCapabilities,
    KeepaliveSpec,
    LLRPStatus,
    Parameter,
    ReaderEventNotificationData,
    ReaderEventNotificationSpec,
    ROReportSpec,
    ROSpec,
    TagReportData,
    encode_params,
    many,
    need,
    only,
    others,
)


@dataclass(frozen=True, slots=True)
class Message:
    """The base of every message: the header's ID and version travel with it."""

    TYPE: ClassVar[int]
    msg_id: int = field(default=0, kw_only=True)
    version: int = field(default=1, kw_only=True)

    def body(self) -> bytes:
        return b""

    @classmethod
    def from_body(cls: type[M], c: Cursor, msg_id: int, version: int) -> M:
        if c.left():
            raise LlrpFrameError(f"{cls.__name__} has no body, got {c.left()} bytes", cls.__name__,
                                 c.base + c.pos)
        return cls(msg_id=msg_id, version=version)


M = TypeVar("M", bound=Message)

MESSAGES: dict[int, type[Message]] = {}


def _register(cls: type[M]) -> type[M]:
    MESSAGES[cls.TYPE] = cls
    return cls


@dataclass(frozen=True, slots=True)
class UnknownMessage(Message):
    """A message type this codec does not interpret (a reader answers M_UnsupportedMessage)."""

    TYPE: ClassVar[int] = -1
    msg_type: int = 0
    payload: bytes = b""

    def body(self) -> bytes:
        return self.payload


@dataclass(frozen=True, slots=True)
class StatusResponse(Message):
    """A response that carries only its LLRPStatus."""

    status: LLRPStatus = field(default_factory=LLRPStatus)

    def body(self) -> bytes:
        return encode_params((self.status,))

    @classmethod
    def from_body(cls: type[SR], c: Cursor, msg_id: int, version: int) -> SR:
        return cls(need(c.params(), LLRPStatus, cls.__name__, c), msg_id=msg_id, version=version)


SR = TypeVar("SR", bound=StatusResponse)


@dataclass(frozen=True, slots=True)
class SpecIdRequest(Message):
    """A request that names one ROSpec or AccessSpec by ID (0 = all of them)."""

    spec_id: int = 0

    def body(self) -> bytes:
        return struct.pack("!I", self.spec_id)

    @classmethod
    def from_body(cls: type[SI], c: Cursor, msg_id: int, version: int) -> SI:
        value = cls(c.u32("spec ID"), msg_id=msg_id, version=version)
        if c.left():
            raise LlrpFrameError(f"{c.left()} bytes after the spec ID", cls.__name__, c.base + c.pos)
        return value


SI = TypeVar("SI", bound=SpecIdRequest)


# ---- capabilities and configuration --------------------------------------------------------

@_register
@dataclass(frozen=True, slots=True)
class GetReaderCapabilities(Message):
    """RequestedData: 0 all, 1 general device, 2 LLRP, 3 regulatory, 4 air protocol."""

    TYPE: ClassVar[int] = 1
    requested_data: int = 0

    def body(self) -> bytes:
        return bytes([self.requested_data])

    @classmethod
    def from_body(cls, c: Cursor, msg_id: int, version: int) -> GetReaderCapabilities:
        value = cls(c.u8("RequestedData"), msg_id=msg_id, version=version)
        c.params()  # custom parameters may follow
        return value


@_register
@dataclass(frozen=True, slots=True)
class GetReaderCapabilitiesResponse(Message):
    TYPE: ClassVar[int] = 11
    status: LLRPStatus = field(default_factory=LLRPStatus)
    general: GeneralDeviceCapabilities | None = None
    details: tuple[Parameter, ...] = ()

    def body(self) -> bytes:
        return encode_params((self.status, self.general, *self.details))

    @classmethod
    def from_body(cls, c: Cursor, msg_id: int, version: int) -> GetReaderCapabilitiesResponse:
        ps = c.params()
        return cls(need(ps, LLRPStatus, "GET_READER_CAPABILITIES_RESPONSE", c),
                   only(ps, GeneralDeviceCapabilities, "GET_READER_CAPABILITIES_RESPONSE", c,
                        required=False),
                   others(ps, LLRPStatus, GeneralDeviceCapabilities), msg_id=msg_id, version=version)


@_register
@dataclass(frozen=True, slots=True)
class GetReaderConfig(Message):
    """RequestedData: 0 all, 1 identification, 2 antenna properties, … (parameters kept)."""

    TYPE: ClassVar[int] = 2
    antenna_id: int = 0
    requested_data: int = 0
    gpi_port: int = 0
    gpo_port: int = 0
    details: tuple[Parameter, ...] = ()

    def body(self) -> bytes:
        return (struct.pack("!HBHH", self.antenna_id, self.requested_data, self.gpi_port,
                            self.gpo_port) + encode_params(self.details))

    @classmethod
    def from_body(cls, c: Cursor, msg_id: int, version: int) -> GetReaderConfig:
        antenna, requested = c.u16("AntennaID"), c.u8("RequestedData")
        gpi, gpo = c.u16("GPIPortNum"), c.u16("GPOPortNum")
        return cls(antenna, requested, gpi, gpo, tuple(c.params()), msg_id=msg_id, version=version)


@_register
@dataclass(frozen=True, slots=True)
class GetReaderConfigResponse(Message):
    TYPE: ClassVar[int] = 12
    status: LLRPStatus = field(default_factory=LLRPStatus)
    details: tuple[Parameter, ...] = ()  # the configuration parameters

    def body(self) -> bytes:
        return encode_params((self.status, *self.details))

    @classmethod
    def from_body(cls, c: Cursor, msg_id: int, version: int) -> GetReaderConfigResponse:
        ps = c.params()
        return cls(need(ps, LLRPStatus, "GET_READER_CONFIG_RESPONSE", c), others(ps, LLRPStatus),
                   msg_id=msg_id, version=version)


@_register
@dataclass(frozen=True, slots=True)
class SetReaderConfig(Message):
    TYPE: ClassVar[int] = 3
    reset_to_factory_default: bool = False
    events: ReaderEventNotificationSpec | None = None
    report: ROReportSpec | None = None
    keepalive: KeepaliveSpec | None = None
    details: tuple[Parameter, ...] = ()

    def body(self) -> bytes:
        # the specification's order: ReaderEventNotificationSpec, antenna parameters,
        # ROReportSpec, AccessReportSpec, KeepaliveSpec, GPO/GPI, EventsAndReports, custom.
        return (bytes([0x80 if self.reset_to_factory_default else 0])
                + encode_params((self.events, *self.details, self.report, self.keepalive)))

    @classmethod
    def from_body(cls, c: Cursor, msg_id: int, version: int) -> SetReaderConfig:
        reset = bool(c.u8("ResetToFactoryDefault") & 0x80)
        ps = c.params()
        name = "SET_READER_CONFIG"
        return cls(reset, only(ps, ReaderEventNotificationSpec, name, c, required=False),
                   only(ps, ROReportSpec, name, c, required=False),
                   only(ps, KeepaliveSpec, name, c, required=False),
                   others(ps, ReaderEventNotificationSpec, ROReportSpec, KeepaliveSpec),
                   msg_id=msg_id, version=version)


@_register
@dataclass(frozen=True, slots=True)
class SetReaderConfigResponse(StatusResponse):
    TYPE: ClassVar[int] = 13


# ---- ROSpecs -------------------------------------------------------------------------------

@_register
@dataclass(frozen=True, slots=True)
class AddROSpec(Message):
    TYPE: ClassVar[int] = 20
    rospec: ROSpec = field(default_factory=lambda: ROSpec(1))

    def body(self) -> bytes:
        return encode_params((self.rospec,))

    @classmethod
    def from_body(cls, c: Cursor, msg_id: int, version: int) -> AddROSpec:
        return cls(need(c.params(), ROSpec, "ADD_ROSPEC", c), msg_id=msg_id, version=version)


@_register
@dataclass(frozen=True, slots=True)
class DeleteROSpec(SpecIdRequest):
    TYPE: ClassVar[int] = 21


@_register
@dataclass(frozen=True, slots=True)
class StartROSpec(SpecIdRequest):
    TYPE: ClassVar[int] = 22


@_register
@dataclass(frozen=True, slots=True)
class StopROSpec(SpecIdRequest):
    TYPE: ClassVar[int] = 23


@_register
@dataclass(frozen=True, slots=True)
class EnableROSpec(SpecIdRequest):
    TYPE: ClassVar[int] = 24


@_register
@dataclass(frozen=True, slots=True)
class DisableROSpec(SpecIdRequest):
    TYPE: ClassVar[int] = 25


@_register
@dataclass(frozen=True, slots=True)
class AddROSpecResponse(StatusResponse):
    TYPE: ClassVar[int] = 30


@_register
@dataclass(frozen=True, slots=True)
class DeleteROSpecResponse(StatusResponse):
    TYPE: ClassVar[int] = 31


@_register
@dataclass(frozen=True, slots=True)
class StartROSpecResponse(StatusResponse):
    TYPE: ClassVar[int] = 32


@_register
@dataclass(frozen=True, slots=True)
class StopROSpecResponse(StatusResponse):
    TYPE: ClassVar[int] = 33


@_register
@dataclass(frozen=True, slots=True)
class EnableROSpecResponse(StatusResponse):
    TYPE: ClassVar[int] = 34


@_register
@dataclass(frozen=True, slots=True)
class DisableROSpecResponse(StatusResponse):
    TYPE: ClassVar[int] = 35


# ---- AccessSpecs ---------------------------------------------------------------------------

@_register
@dataclass(frozen=True, slots=True)
class AddAccessSpec(Message):
    TYPE: ClassVar[int] = 40
    access_spec: AccessSpec | None = None

    def body(self) -> bytes:
        if self.access_spec is None:
            raise LlrpFrameError("ADD_ACCESSSPEC needs an AccessSpec", "AccessSpec")
        return encode_params((self.access_spec,))

    @classmethod
    def from_body(cls, c: Cursor, msg_id: int, version: int) -> AddAccessSpec:
        return cls(need(c.params(), AccessSpec, "ADD_ACCESSSPEC", c), msg_id=msg_id, version=version)


@_register
@dataclass(frozen=True, slots=True)
class DeleteAccessSpec(SpecIdRequest):
    TYPE: ClassVar[int] = 41


@_register
@dataclass(frozen=True, slots=True)
class EnableAccessSpec(SpecIdRequest):
    TYPE: ClassVar[int] = 42


@_register
@dataclass(frozen=True, slots=True)
class DisableAccessSpec(SpecIdRequest):
    TYPE: ClassVar[int] = 43


@_register
@dataclass(frozen=True, slots=True)
class AddAccessSpecResponse(StatusResponse):
    TYPE: ClassVar[int] = 50


@_register
@dataclass(frozen=True, slots=True)
class DeleteAccessSpecResponse(StatusResponse):
    TYPE: ClassVar[int] = 51


@_register
@dataclass(frozen=True, slots=True)
class EnableAccessSpecResponse(StatusResponse):
    TYPE: ClassVar[int] = 52


@_register
@dataclass(frozen=True, slots=True)
class DisableAccessSpecResponse(StatusResponse):
    TYPE: ClassVar[int] = 53


# ---- reports, events, keepalives, connection ---------------------------------------------

@_register
@dataclass(frozen=True, slots=True)
class ROAccessReport(Message):
    TYPE: ClassVar[int] = 61
    tags: tuple[TagReportData, ...] = ()
    details: tuple[Parameter, ...] = ()

    def body(self) -> bytes:
        return encode_params((*self.tags, *self.details))

    @classmethod
    def from_body(cls, c: Cursor, msg_id: int, version: int) -> ROAccessReport:
        ps = c.params()
        return cls(many(ps, TagReportData), others(ps, TagReportData), msg_id=msg_id, version=version)


@_register
@dataclass(frozen=True, slots=True)
class Keepalive(Message):
    TYPE: ClassVar[int] = 62


@_register
@dataclass(frozen=True, slots=True)
class ReaderEventNotification(Message):
    TYPE: ClassVar[int] = 63
    data: ReaderEventNotificationData | None = None

    def body(self) -> bytes:
        if self.data is None:
            raise LlrpFrameError("READER_EVENT_NOTIFICATION needs its data",
                                 "ReaderEventNotificationData")
        return encode_params((self.data,))

    @classmethod
    def from_body(cls, c: Cursor, msg_id: int, version: int) -> ReaderEventNotification:
        return cls(need(c.params(), ReaderEventNotificationData, "READER_EVENT_NOTIFICATION", c),
                   msg_id=msg_id, version=version)


@_register
@dataclass(frozen=True, slots=True)
class EnableEventsAndReports(Message):
    """64: the reader may send reports and events it held back (no response)."""

    TYPE: ClassVar[int] = 64


@_register
@dataclass(frozen=True, slots=True)
class KeepaliveAck(Message):
    TYPE: ClassVar[int] = 72


@_register
@dataclass(frozen=True, slots=True)
class CloseConnection(Message):
    TYPE: ClassVar[int] = 14


@_register
@dataclass(frozen=True, slots=True)
class CloseConnectionResponse(StatusResponse):
    TYPE: ClassVar[int] = 4


@_register
@dataclass(frozen=True, slots=True)
class ErrorMessage(StatusResponse):
    """100: the reader's answer to a message it cannot parse or does not support."""

    TYPE: ClassVar[int] = 100


RESPONSE_TO: dict[type[Message], type[Message]] = {
    GetReaderCapabilities: GetReaderCapabilitiesResponse, GetReaderConfig: GetReaderConfigResponse,
    SetReaderConfig: SetReaderConfigResponse,
    AddROSpec: AddROSpecResponse, DeleteROSpec: DeleteROSpecResponse,
    StartROSpec: StartROSpecResponse, StopROSpec: StopROSpecResponse,
    EnableROSpec: EnableROSpecResponse, DisableROSpec: DisableROSpecResponse,
    AddAccessSpec: AddAccessSpecResponse, DeleteAccessSpec: DeleteAccessSpecResponse,
    EnableAccessSpec: EnableAccessSpecResponse, DisableAccessSpec: DisableAccessSpecResponse,
    CloseConnection: CloseConnectionResponse,
}
"""Each request's response class."""
