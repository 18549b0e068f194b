"""PC/SC part 3 pseudo-APDUs for contactless storage cards, and status words (sans-IO).

Command APDUs (ISO/IEC 7816-4 short form, CLA 0xFF = the reader itself)::

    GET DATA (UID)   FF CA 00 00 00              -> UID | SW1 SW2
    READ BINARY      FF B0 MSB LSB Le            -> data (Le bytes) | SW1 SW2
    UPDATE BINARY    FF D6 MSB LSB Lc data(Lc)   -> SW1 SW2

MSB LSB is the block number (ISO 15693 / MIFARE Ultralight: block = page). A response
APDU is ``data | SW1 | SW2``; SW 90 00 is success and every other status word maps to a
typed :class:`~drivers.errors.CardCommandError`.

This module builds and parses bytes only; :mod:`drivers.pcsc.reader` sends them.
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers._checks import check_bytes, check_int
from drivers.errors import (
    CardBlockNotFound,
    CardCommandError,
    CardLengthError,
    CardNotSupported,
    CardOperationFailed,
    CardReaderError,
    CardSecurityError,
    DriverArgumentError,
)

GET_UID = bytes.fromhex("FFCA000000")


def get_data_uid() -> bytes:
    """Return the GET DATA APDU that asks the reader for the card's UID."""
    return GET_UID


def read_binary(block: int, length: int) -> bytes:
    """Return a READ BINARY APDU for ``length`` bytes from ``block``.

    Raises:
        DriverArgumentError: the block is outside 0..0xFFFF or the length outside 1..256.
    """
    check_int("READ BINARY block", block, 0, 0xFFFF)
    check_int("READ BINARY length (Le)", length, 1, 256)
    return bytes([0xFF, 0xB0, block >> 8, block & 0xFF, length & 0xFF])


def update_binary(block: int, data: bytes) -> bytes:
    """Return an UPDATE BINARY APDU that writes ``data`` to ``block``.

    Raises:
        DriverArgumentError: the block is outside 0..0xFFFF or the data empty or over 255 bytes.
    """
    check_int("UPDATE BINARY block", block, 0, 0xFFFF)
    data = check_bytes("UPDATE BINARY data", data)
    if not 1 <= len(data) <= 255:
        raise DriverArgumentError(f"UPDATE BINARY data of {len(data)} bytes, expected 1..255 (Lc)")
    return bytes([0xFF, 0xD6, block >> 8, block & 0xFF, len(data)]) + bytes(data)


def describe_command(command: bytes, *, show_data: bool = False) -> str:
    """Render a command APDU for a TRACE log line with its data field masked.

    The header (CLA INS P1 P2) and Lc/Le stay in hex; the Lc data bytes (the patron data
    of an UPDATE BINARY) become ``<N bytes masked>`` unless ``show_data`` is set::

        FF D6 00 05 04 31 32 33 34  ->  "FF D6 00 05 04 <4 bytes masked>"

    Args:
        command: a short command APDU.
        show_data: log the data in hex too (test benches only).
    """
    command = bytes(command)
    if show_data or len(command) <= 5:
        return command.hex(" ").upper()  # header only, or header + Le
    lc = command[4]
    data = command[5:5 + lc]
    text = command[:5].hex(" ").upper() + f" <{len(data)} bytes masked>"
    rest = command[5 + lc:]
    if rest:
        text += " " + rest.hex(" ").upper()
    return text


@dataclass(frozen=True)
class ResponseApdu:
    """A response APDU split into data and status word."""

    data: bytes
    sw1: int
    sw2: int

    @property
    def sw(self) -> int:
        return (self.sw1 << 8) | self.sw2

    @property
    def ok(self) -> bool:
        return self.sw == 0x9000


def parse_response(raw: bytes) -> ResponseApdu:
    """Split a response APDU.

    Raises:
        CardReaderError: fewer than two bytes (no status word).
    """
    raw = bytes(raw)
    if len(raw) < 2:
        raise CardReaderError(f"response APDU of {len(raw)} bytes has no status word")
    return ResponseApdu(data=raw[:-2], sw1=raw[-2], sw2=raw[-1])


_SW_TEXT: dict[int, tuple[type[CardCommandError], str]] = {
    0x6300: (CardOperationFailed, "operation failed"),
    0x6581: (CardOperationFailed, "memory failure"),
    0x6282: (CardBlockNotFound, "end of data reached before Le bytes"),
    0x6A82: (CardBlockNotFound, "addressed block does not exist"),
    0x6B00: (CardBlockNotFound, "wrong parameters P1-P2 (block out of range)"),
    0x6A81: (CardNotSupported, "function not supported"),
    0x6D00: (CardNotSupported, "instruction not supported"),
    0x6E00: (CardNotSupported, "class not supported"),
    0x6981: (CardNotSupported, "command incompatible with the card"),
    0x6982: (CardSecurityError, "security status not satisfied"),
    0x6983: (CardSecurityError, "authentication method blocked"),
    0x6984: (CardSecurityError, "reference data not usable"),
    0x6986: (CardSecurityError, "command not allowed"),
    0x6700: (CardLengthError, "wrong length"),
}


def check_response(resp: ResponseApdu, what: str) -> bytes:
    """Return the data of a successful response, or raise the typed error for its SW.

    Args:
        resp: the parsed response.
        what: the command, for the message (e.g. ``"READ BINARY block 3"``).

    Raises:
        CardCommandError: a subclass chosen by the status word.
    """
    if resp.ok:
        return resp.data
    sw = resp.sw
    if sw in _SW_TEXT:
        cls, text = _SW_TEXT[sw]
    elif resp.sw1 == 0x6C:
        cls, text = CardLengthError, f"wrong Le, the card expects {resp.sw2}"
    elif resp.sw1 == 0x68:
        cls, text = CardNotSupported, "function in CLA not supported"
    else:
        cls, text = CardCommandError, "unexpected status word"
    raise cls(f"{what}: SW {resp.sw1:02X} {resp.sw2:02X} ({text}), expected 90 00",
              resp.sw1, resp.sw2)
