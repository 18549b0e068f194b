"""A sans-IO codec for the vsmartcard vpcd protocol, seen from the virtual card.

The virtual card is a TCP *client* of the vpcd driver inside pcscd. Every message in both
directions is a 2-byte big-endian length followed by the payload::

    +--------+--------+---------------------------+
    | len hi | len lo | payload (len bytes)       |
    +--------+--------+---------------------------+

From vpcd, a 1-byte payload is a control message and anything longer is a command APDU::

    00 power off      01 power on      02 reset      04 send your ATR

Only ``04`` and APDUs are answered: with the ATR, or with the response APDU
(data | SW1 SW2). vpcd treats a zero-length answer, or a closed socket, as "card gone".

Shaped like h11: :meth:`VpcdCardConnection.receive_data` buffers bytes,
:meth:`~VpcdCardConnection.next_event` returns one event or :data:`NEED_DATA`, and
``send_*`` return the bytes to write. No sockets and no sleeps here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Final

from hardware_sim.errors import VpcdProtocolError

MAX_PAYLOAD: Final = 0xFFFF


class Control(IntEnum):
    """vpcd control codes (1-byte payloads)."""

    POWER_OFF = 0x00
    POWER_ON = 0x01
    RESET = 0x02
    ATR = 0x04


@dataclass(frozen=True)
class PowerOff:
    """vpcd switched the card off (no answer expected)."""


@dataclass(frozen=True)
class PowerOn:
    """vpcd switched the card on (no answer expected)."""


@dataclass(frozen=True)
class Reset:
    """vpcd reset the card (no answer expected)."""


@dataclass(frozen=True)
class AtrRequest:
    """vpcd asks for the ATR: answer with :meth:`VpcdCardConnection.send_atr`."""


@dataclass(frozen=True)
class CommandApdu:
    """A command APDU: answer with :meth:`VpcdCardConnection.send_response`."""

    apdu: bytes


class _NeedData:
    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA: Final = _NeedData()
"""Returned by :meth:`VpcdCardConnection.next_event` until a whole message is buffered."""

VpcdEvent = PowerOff | PowerOn | Reset | AtrRequest | CommandApdu

_CONTROL_EVENTS: dict[int, VpcdEvent] = {
    Control.POWER_OFF: PowerOff(),
    Control.POWER_ON: PowerOn(),
    Control.RESET: Reset(),
    Control.ATR: AtrRequest(),
}


def encode_message(payload: bytes) -> bytes:
    """Frame ``payload`` with its 2-byte big-endian length.

    Raises:
        VpcdProtocolError: the payload is longer than 65535 bytes.
    """
    if len(payload) > MAX_PAYLOAD:
        raise VpcdProtocolError(f"vpcd payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    return len(payload).to_bytes(2, "big") + bytes(payload)


def decode_event(payload: bytes) -> VpcdEvent:
    """Turn one message payload from vpcd into an event.

    Raises:
        VpcdProtocolError: an empty payload or an unknown control code.
    """
    if not payload:
        raise VpcdProtocolError("empty vpcd message; expected a control byte or an APDU")
    if len(payload) == 1:
        event = _CONTROL_EVENTS.get(payload[0])
        if event is None:
            raise VpcdProtocolError(f"unknown vpcd control code 0x{payload[0]:02X}; "
                                    "expected 00, 01, 02 or 04")
        return event
    return CommandApdu(bytes(payload))


class VpcdCardConnection:
    """The card's side of one vpcd connection (sans-IO)."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def receive_data(self, data: bytes) -> None:
        """Buffer bytes read from the socket (``b""`` is not special here)."""
        self._buf += data

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def next_event(self) -> VpcdEvent | _NeedData:
        """Return the next complete event, or :data:`NEED_DATA`.

        Raises:
            VpcdProtocolError: a malformed message (the connection should be closed).
        """
        if len(self._buf) < 2:
            return NEED_DATA
        size = int.from_bytes(self._buf[:2], "big")
        if len(self._buf) < 2 + size:
            return NEED_DATA
        payload = bytes(self._buf[2:2 + size])
        del self._buf[:2 + size]
        return decode_event(payload)

    def send_atr(self, atr: bytes) -> bytes:
        """Return the bytes answering an :class:`AtrRequest`.

        Raises:
            VpcdProtocolError: the ATR is empty (vpcd would read that as no card).
        """
        if not atr:
            raise VpcdProtocolError("an empty ATR means 'no card' to vpcd; close instead")
        return encode_message(atr)

    def send_response(self, rapdu: bytes) -> bytes:
        """Return the bytes answering a :class:`CommandApdu` (data | SW1 SW2).

        Raises:
            VpcdProtocolError: the response has no status word.
        """
        if len(rapdu) < 2:
            raise VpcdProtocolError(f"response APDU of {len(rapdu)} bytes has no status word")
        return encode_message(rapdu)
