"""A virtual patron card that any PC/SC application sees through pcscd and vpcd.

:class:`SimCardDevice` connects to the vpcd driver inside pcscd as the virtual card
(default ``127.0.0.1:35963``, Debian's vpcd port). vpcd has no notion of an empty reader
with a connected card: a connection *is* a card in the field. So the device is connected
exactly while a card is inserted, and reconnects when pcscd restarts.

Card models answer the PC/SC part 3 pseudo-APDUs the way a desk reader does:

- :class:`SimIso14443Card`: MIFARE Classic 1K/4K, Ultralight, DESFire, with a UID and ATR;
- :class:`SimIso15693Card`: an ISO 15693 tag (ICODE SLI) whose block memory answers
  READ BINARY and UPDATE BINARY;
- :class:`SimDeskReaderTag`: a library tag (a :class:`hardware_sim.tag.SimTag`) on an ACS
  or HID OMNIKEY desk reader: GET DATA, READ/UPDATE BINARY with the family's status words,
  and ISO 15693 commands (AFI, DSFID, EAS, system information, block security, Quiet)
  through the PC/SC 2.02 transparent session ``FF C2`` (docs/desktop-readers.md).

``--patron ID`` cards (:func:`patron_card`): an ISO 15693 card whose memory holds the
ISO 28560-3 basic block with primary identifier ID and type of usage 8 (patron card), and
whose UID is ``E0 04 01`` followed by the first five bytes of SHA-256(ID) — deterministic,
so a UID-based identity rule or a mapping table also works.

Faults (:meth:`SimCardDevice.fault`): the card leaves in the middle of the next APDU, the
next APDUs get a wrong status word, the answers come late, or (desk-reader tags) the next
writes fail.

:func:`card_router` exposes the device on the simulator's control API under ``/card``.
"""

from __future__ import annotations

import hashlib
import logging
import selectors
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from drivers.pcsc.atr import storage_atr
from hardware_sim.errors import CardSimError, SimError, VpcdProtocolError
from hardware_sim.tag import IsoError, SimTag
from hardware_sim.vpcd import (
    NEED_DATA,
    AtrRequest,
    CommandApdu,
    PowerOff,
    PowerOn,
    Reset,
    VpcdCardConnection,
)
from smartlib.logs import TRACE

log = logging.getLogger(__name__)

DEFAULT_VPCD_PORT = 35963

SW_OK = b"\x90\x00"
SW_FAILED = b"\x63\x00"
SW_NOT_SUPPORTED = b"\x6a\x81"
SW_NO_BLOCK = b"\x6a\x82"
SW_WRONG_LENGTH = b"\x67\x00"
SW_SECURITY = b"\x69\x82"
SW_INS_NOT_SUPPORTED = b"\x6d\x00"
SW_CLA_NOT_SUPPORTED = b"\x6e\x00"

Iso14443Kind = Literal["mifare-classic-1k", "mifare-classic-4k", "ultralight", "desfire"]

_ISO14443_ATRS: dict[str, bytes] = {
    "mifare-classic-1k": storage_atr(0x03, 0x0001),
    "mifare-classic-4k": storage_atr(0x03, 0x0002),
    "ultralight": storage_atr(0x03, 0x0003),
    "desfire": bytes.fromhex("3B8180018080"),
}
ISO15693_ATR = storage_atr(0x0B, 0x0014)
"""ICODE SLI: ``3B 8F 80 01 80 4F 0C A0 00 00 03 06 0B 00 14 00 00 00 00 77``."""


def _parse_apdu(apdu: bytes) -> tuple[int, int, int, int, bytes, int | None]:
    """Split a short APDU into CLA INS P1 P2, data and Le (None if absent)."""
    cla, ins, p1, p2 = apdu[0], apdu[1], apdu[2], apdu[3]
    body = apdu[4:]
    if not body:
        return cla, ins, p1, p2, b"", None
    if len(body) == 1:
        return cla, ins, p1, p2, b"", body[0] or 256
    lc = body[0]
    data = body[1:1 + lc]
    if len(data) != lc:
        raise CardSimError(f"APDU Lc={lc} but {len(data)} data bytes")
    rest = body[1 + lc:]
    le = (rest[0] or 256) if rest else None
    return cla, ins, p1, p2, data, le


class SimCard:
    """A card in the simulated field: an ATR, a UID and an APDU handler."""

    kind: str = "unknown"

    def __init__(self, uid: bytes, atr: bytes) -> None:
        if not uid:
            raise CardSimError("a card needs a non-empty UID")
        self.uid = bytes(uid)
        self.atr = bytes(atr)

    def handle_apdu(self, apdu: bytes) -> bytes:
        """Answer one command APDU with data | SW1 SW2."""
        if len(apdu) < 4:
            return SW_WRONG_LENGTH
        try:
            cla, ins, p1, p2, data, le = _parse_apdu(apdu)
        except CardSimError:
            return SW_WRONG_LENGTH
        if cla != 0xFF:
            return SW_CLA_NOT_SUPPORTED
        if ins == 0xCA:
            if p1 == 0x00 and p2 == 0x00:
                return self.uid + SW_OK
            return SW_NOT_SUPPORTED
        if ins == 0xB0:
            return self.read_binary((p1 << 8) | p2, le)
        if ins == 0xD6:
            return self.update_binary((p1 << 8) | p2, data)
        return SW_INS_NOT_SUPPORTED

    def read_binary(self, block: int, le: int | None) -> bytes:
        return SW_NOT_SUPPORTED

    def update_binary(self, block: int, data: bytes) -> bytes:
        return SW_NOT_SUPPORTED

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "uid": self.uid.hex().upper(), "atr": self.atr.hex(" ").upper()}


class _BlockMemory(SimCard):
    """Block memory answering READ/UPDATE BINARY (Le = a whole number of blocks)."""

    def __init__(self, uid: bytes, atr: bytes, memory: bytes, block_size: int,
                 locked: set[int] | None = None) -> None:
        super().__init__(uid, atr)
        if block_size < 1:
            raise CardSimError("block size must be at least 1")
        pad = (-len(memory)) % block_size
        self.memory = bytearray(memory) + bytes(pad)
        self.block_size = block_size
        self.locked = set(locked or ())

    @property
    def blocks(self) -> int:
        return len(self.memory) // self.block_size

    def read_binary(self, block: int, le: int | None) -> bytes:
        length = self.block_size if le is None or le == 256 else le
        if length % self.block_size:
            return SW_WRONG_LENGTH
        count = length // self.block_size
        if block + count > self.blocks:
            return SW_NO_BLOCK
        start = block * self.block_size
        return bytes(self.memory[start:start + length]) + SW_OK

    def update_binary(self, block: int, data: bytes) -> bytes:
        if not data or len(data) % self.block_size:
            return SW_WRONG_LENGTH
        count = len(data) // self.block_size
        if block + count > self.blocks:
            return SW_NO_BLOCK
        if any(b in self.locked for b in range(block, block + count)):
            return SW_FAILED
        start = block * self.block_size
        self.memory[start:start + len(data)] = data
        return SW_OK

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d.update(block_size=self.block_size, blocks=self.blocks)
        return d


class SimIso14443Card(SimCard):
    """An ISO 14443A card: MIFARE Classic (READ BINARY needs authentication: 69 82),
    Ultralight (16 pages of 4 bytes, readable and writable from page 4), or DESFire
    (ISO 14443-4; storage pseudo-APDUs not supported: 6A 81).

    Args:
        uid: 4 or 7 bytes (7 for Ultralight and DESFire).
        atr: override the ATR (default: the PC/SC part 3 ATR of ``kind``).
        kind: ``mifare-classic-1k``, ``mifare-classic-4k``, ``ultralight`` or ``desfire``.

    Raises:
        CardSimError: an unknown kind or a UID of the wrong length.
    """

    def __init__(self, uid: bytes, atr: bytes | None = None,
                 kind: str = "mifare-classic-1k") -> None:
        if kind not in _ISO14443_ATRS:
            raise CardSimError(f"unknown ISO 14443 card kind {kind!r}; expected one of "
                               f"{', '.join(_ISO14443_ATRS)}")
        if len(uid) not in (4, 7, 10):
            raise CardSimError(f"ISO 14443A UID of {len(uid)} bytes; expected 4, 7 or 10")
        super().__init__(uid, atr if atr is not None else _ISO14443_ATRS[kind])
        self.kind = kind
        self._pages: _BlockMemory | None = None
        if kind == "ultralight":
            pages = bytes(uid[:3]) + bytes(1) + bytes(uid[3:7]) + bytes(56)
            self._pages = _BlockMemory(uid, self.atr, pages, 4, locked={0, 1, 2, 3})

    def read_binary(self, block: int, le: int | None) -> bytes:
        if self._pages is not None:
            return self._pages.read_binary(block, le)
        if self.kind.startswith("mifare-classic"):
            return SW_SECURITY
        return SW_NOT_SUPPORTED

    def update_binary(self, block: int, data: bytes) -> bytes:
        if self._pages is not None:
            return self._pages.update_binary(block, data)
        if self.kind.startswith("mifare-classic"):
            return SW_SECURITY
        return SW_NOT_SUPPORTED


class SimIso15693Card(_BlockMemory):
    """An ISO 15693 tag on a desk reader (ICODE SLI by default: 28 blocks of 4 bytes).

    Args:
        uid: 8 bytes, most significant (0xE0) first, as GET DATA returns it here.
        memory: the user memory (padded to whole blocks).
        block_size: bytes per block.
        atr: override the ATR (default: PC/SC part 3, ISO 15693 part 3, ICODE SLI).
        locked: blocks that refuse UPDATE BINARY (63 00).

    Raises:
        CardSimError: the UID is not 8 bytes.
    """

    kind = "iso15693"

    def __init__(self, uid: bytes, memory: bytes = bytes(112), block_size: int = 4,
                 atr: bytes | None = None, locked: set[int] | None = None) -> None:
        if len(uid) != 8:
            raise CardSimError(f"ISO 15693 UID of {len(uid)} bytes; expected 8")
        super().__init__(uid, atr if atr is not None else ISO15693_ATR, memory, block_size, locked)


# ---- library tags on desk readers (PC/SC part 3 + transparent session) -------------------

DESK_FAMILIES = ("acs", "omnikey")
SW_MEMORY_FAILURE = b"\x65\x81"
SW_NOT_ALLOWED = b"\x69\x86"
_SESSION_OK = bytes.fromhex("C003009000")
_NO_ANSWER = bytes.fromhex("C003016401")  # the tag did not answer within the reader's timeout
_WRITE_CMDS = frozenset({0x27, 0x28, 0x29, 0x2A, 0xA2, 0xA3})
_ACS_WRITE_WAIT_US = 20_000  # below this timer an ACS reader stops waiting before the tag answers
_EAS_SEQUENCE = bytes(range(32))  # the ICODE SLIX 256-bit EAS answer (content irrelevant here)


def _data_objects(data: bytes) -> dict[int, bytes] | None:
    """BER-TLV objects of a transparent-session command (None if malformed)."""
    out: dict[int, bytes] = {}
    i = 0
    while i < len(data):
        tag = data[i]
        i += 1
        if tag & 0x1F == 0x1F and i < len(data):
            tag, i = tag << 8 | data[i], i + 1
        if i >= len(data):
            return None
        n, i = data[i], i + 1
        if n == 0x81 and i < len(data):
            n, i = data[i], i + 1
        if i + n > len(data):
            return None
        out[tag] = bytes(data[i:i + n])
        i += n
    return out


class SimDeskReaderTag(SimCard):
    """A :class:`SimTag` on a PC/SC desk reader of family ``acs`` or ``omnikey``.

    Storage-card APDUs (one 4-byte block, block-number addressing):

    - GET DATA ``FF CA 00 00 00`` → the UID, E0 first;
    - READ BINARY ``FF B0 00 <block> <Le>``: ACS takes Le as bytes (a multiple of the
      block size); OMNIKEY takes Le 00 (or the block size) as one block;
    - UPDATE BINARY ``FF D6 00 <block> 04 <data>``;
    - failures: ACS ``63 00`` for everything; OMNIKEY ``6A 82`` (no such block) and
      ``65 81`` (write failed: locked block or a write fault).

    Transparent session ``FF C2 00 P2``: P2 00 ``81 00``/``82 00`` start and end it,
    P2 02 ``8F 02 02 03`` switches to ISO 15693 layer 3 (ACS answers nothing on the air
    without it), P2 01 carries ``[5F 46 04 timer] 95 Ln frame``; the answer is ``C0 03 00
    90 00 92 01 00 96 02 00 00 97 Ln answer`` or ``C0 03 01 64 01`` when the tag keeps
    silent. On ACS an EEPROM-programming command with a timer under 20 ms is executed
    but reported as ``64 01``, as the published ACR1552 transcript shows.

    Args:
        tag: the tag (shared with a :class:`~hardware_sim.field.SimField` if wanted).
        family: ``acs`` or ``omnikey``.

    Raises:
        CardSimError: an unknown family.
    """

    kind = "iso15693-desk"

    def __init__(self, tag: SimTag, family: str = "omnikey", atr: bytes | None = None) -> None:
        if family not in DESK_FAMILIES:
            raise CardSimError(f"unknown desk reader family {family!r}; expected one of "
                               f"{', '.join(DESK_FAMILIES)}")
        super().__init__(tag.uid, atr if atr is not None else ISO15693_ATR)
        self.tag = tag
        self.family = family
        self.fail_writes = 0
        self.in_session = False
        self.iso15693_selected = family != "acs"

    @property
    def _sw_failed(self) -> bytes:
        return SW_FAILED if self.family == "acs" else SW_MEMORY_FAILURE

    @property
    def _sw_no_block(self) -> bytes:
        return SW_FAILED if self.family == "acs" else SW_NO_BLOCK

    def handle_apdu(self, apdu: bytes) -> bytes:
        if len(apdu) >= 5 and apdu[0] == 0xFF and apdu[1] == 0xC2:
            return self._transparent(apdu)
        return super().handle_apdu(apdu)

    def read_binary(self, block: int, le: int | None) -> bytes:
        size = self.tag.block_size
        if self.family == "acs":
            if le is None or le == 256 or le % size:
                return SW_WRONG_LENGTH
            count = le // size
        else:
            if le not in (256, size):
                return SW_WRONG_LENGTH
            count = 1
        try:
            return b"".join(self.tag.read_blocks(block, count)) + SW_OK
        except IsoError:
            return self._sw_no_block

    def update_binary(self, block: int, data: bytes) -> bytes:
        if len(data) != self.tag.block_size:
            return SW_WRONG_LENGTH
        if self.fail_writes:
            self.fail_writes -= 1
            return self._sw_failed
        try:
            self.tag.write_block(block, data)
        except IsoError as exc:
            return self._sw_no_block if exc.code == 0x10 else self._sw_failed
        return SW_OK

    def _transparent(self, apdu: bytes) -> bytes:
        try:
            _, _, _, p2, data, _ = _parse_apdu(apdu)
        except CardSimError:
            return SW_WRONG_LENGTH
        objects = _data_objects(data)
        if objects is None:
            return SW_WRONG_LENGTH
        if p2 == 0x00:
            if 0x81 in objects:
                self.in_session = True
            if 0x82 in objects:
                self.in_session = False
                self.iso15693_selected = self.family != "acs"
            return _SESSION_OK + SW_OK
        if not self.in_session:
            return SW_NOT_ALLOWED
        if p2 == 0x02:
            if objects.get(0x8F) == b"\x02\x03":
                self.iso15693_selected = True
            return _SESSION_OK + bytes.fromhex("8F0100") + SW_OK
        if p2 != 0x01 or 0x95 not in objects:
            return SW_NOT_SUPPORTED
        frame = objects[0x95]
        timer = objects.get(0x5F46)
        waited = int.from_bytes(timer, "little") if timer else None
        answer = self._air(frame) if self.iso15693_selected else None
        if (self.family == "acs" and answer is not None and len(frame) > 1
                and frame[1] in _WRITE_CMDS and (waited or 0) < _ACS_WRITE_WAIT_US):
            answer = None  # written, but the reader gave up before the tag answered
        if answer is None:
            return _NO_ANSWER + SW_OK
        return (_SESSION_OK + bytes.fromhex("92 01 00 96 02 00 00 97") + bytes([len(answer)])
                + answer + SW_OK)

    def _air(self, frame: bytes) -> bytes | None:
        """The tag's answer to one ISO 15693 request frame (None: it keeps silent)."""
        if len(frame) < 2:
            return None
        flags, cmd, pos = frame[0], frame[1], 2
        tag = self.tag
        if 0xA0 <= cmd <= 0xDF:  # custom commands carry the IC manufacturer code
            if len(frame) < 3 or frame[2] != 0x04:
                return None  # another manufacturer's custom command
            pos = 3
        if flags & 0x20:
            if bytes(reversed(frame[pos:pos + 8])) != tag.uid:
                return None
            pos += 8
        elif tag.quiet and cmd != 0x26:
            return None
        params = frame[pos:]
        try:
            if cmd in _WRITE_CMDS and self.fail_writes:
                self.fail_writes -= 1
                return b"\x01\x13"  # not successfully programmed
            if cmd == 0x2B:
                return (bytes([0x00, 0x0F]) + bytes(reversed(tag.uid))
                        + bytes([tag.dsfid, tag.afi, tag.block_count - 1,
                                 (tag.block_size - 1) & 0x1F, tag.ic_ref]))
            if cmd == 0x27 and params:
                tag.write_afi(params[0])
            elif cmd == 0x28:
                tag.lock_afi()
            elif cmd == 0x29 and params:
                tag.write_dsfid(params[0])
            elif cmd == 0x2A:
                tag.lock_dsfid()
            elif cmd == 0x2C and len(params) >= 2:
                return b"\x00" + bytes(tag.block_security(params[0], params[1] + 1))
            elif cmd == 0x02:
                tag.quiet = True
                return None
            elif cmd in (0x25, 0x26):
                tag.quiet = False
            elif cmd in (0xA2, 0xA3):
                tag.set_eas(cmd == 0xA2)
            elif cmd == 0xA5:
                return b"\x00" + _EAS_SEQUENCE if tag.eas else None
            else:
                return b"\x01\x01"  # command not supported
        except IsoError as exc:
            return bytes([0x01, exc.code])
        return b"\x00"

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d.update(family=self.family, tag=self.tag.to_spec(), fail_writes=self.fail_writes)
        return d


# ---- patron cards (--patron) ---------------------------------------------------------------

def crc16_ccitt(data: bytes, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT as ISO 28560-3 uses it: poly 0x1021, init 0xFFFF, no reflection/xor."""
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def danish_basic_block(primary_id: str, *, usage: int = 8, country: str = "VN",
                       library: str = "DEMO", parts: int = 1, part: int = 1) -> bytes:
    """Build the 32-byte ISO 28560-3 basic block (version 1) for the simulator's cards.

    Raises:
        CardSimError: a field does not fit.
    """
    ident = primary_id.encode("ascii", errors="strict") if primary_id.isascii() else None
    if ident is None or not 1 <= len(ident) <= 16:
        raise CardSimError(f"patron identifier must be 1..16 ASCII characters, got {len(primary_id)}")
    if len(country) != 2 or len(library.encode()) > 9 or not 0 <= usage <= 15:
        raise CardSimError("country must be 2 letters, library at most 9 bytes, usage 0..15")
    head = bytes([0x10 | usage, parts, part]) + ident.ljust(16, b"\0")
    tail = country.encode("ascii") + library.encode("ascii").ljust(9, b"\0")
    crc = crc16_ccitt(head + tail + b"\0\0")
    return head + crc.to_bytes(2, "little") + tail


def patron_uid(patron_id: str) -> bytes:
    """The deterministic UID of the simulator's card for ``patron_id``."""
    return b"\xE0\x04\x01" + hashlib.sha256(patron_id.encode()).digest()[:5]


def patron_card(patron_id: str, *, country: str = "VN", library: str = "DEMO") -> SimIso15693Card:
    """An ISO 15693 patron card: ISO 28560-3 data with type of usage 8 and ID as identifier."""
    block = danish_basic_block(patron_id, usage=8, country=country, library=library)
    return SimIso15693Card(patron_uid(patron_id), block + bytes(112 - len(block)))


def make_card(*, uid: str | None = None, patron: str | None = None,
              kind: str | None = None) -> SimCard:
    """Build a card from control-plane arguments (exactly one of ``uid`` or ``patron``).

    ``kind`` ``iso15693-acs`` or ``iso15693-omnikey`` gives a blank library tag on that
    desk-reader family (:class:`SimDeskReaderTag`).

    Raises:
        CardSimError: both or neither given, a bad hex UID, or an unknown kind.
    """
    if (uid is None) == (patron is None):
        raise CardSimError("give exactly one of uid or patron")
    if patron is not None:
        if kind not in (None, "iso15693"):
            raise CardSimError("patron cards are ISO 15693 cards with ISO 28560 data")
        return patron_card(patron)
    assert uid is not None
    try:
        raw = bytes.fromhex(uid.replace(":", "").replace(" ", ""))
    except ValueError as exc:
        raise CardSimError(f"UID {uid!r} is not hex") from exc
    kind = kind or ("iso15693" if len(raw) == 8 else "mifare-classic-1k")
    if kind.startswith("iso15693-") and kind.removeprefix("iso15693-") in DESK_FAMILIES:
        try:
            tag = SimTag(uid=raw)
        except SimError as exc:
            raise CardSimError(str(exc)) from exc
        return SimDeskReaderTag(tag, kind.removeprefix("iso15693-"))
    if kind == "iso15693":
        return SimIso15693Card(raw)
    return SimIso14443Card(raw, kind=kind)


# ---- the device ------------------------------------------------------------------------------

@dataclass
class _Faults:
    remove_mid_apdu: bool = False
    status_word: bytes | None = None
    status_word_count: int = 0
    slow_s: float = 0.0
    slow_count: int = 0
    log: list[str] = field(default_factory=list)


FaultKind = Literal["remove-mid-apdu", "status-word", "slow", "write-fail", "clear"]


class SimCardDevice:
    """The virtual card as a vpcd client, with a background I/O thread.

    Args:
        host: where pcscd's vpcd listens.
        port: the vpcd port of the reader slot (35963 = ``Virtual PCD 00 00`` on Debian).
        reconnect_interval: seconds between connection attempts while a card is inserted.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = DEFAULT_VPCD_PORT,
                 reconnect_interval: float = 0.1) -> None:
        self.host = host
        self.port = port
        self.reconnect_interval = reconnect_interval
        self._card: SimCard | None = None
        self._faults = _Faults()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self._connected = False
        self._connections = 0
        self._apdus = 0
        self._generation = 0

    # ---- control -------------------------------------------------------------------------

    def start(self) -> None:
        """Start the I/O thread (idempotent)."""
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="sim-card-vpcd", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Disconnect and stop the I/O thread."""
        self._stopping.set()
        self._wake.set()
        self._close_socket()
        if self._thread is not None:
            self._thread.join(timeout=5)
            if self._thread.is_alive():
                log.error("sim card thread did not stop")
            self._thread = None

    def insert(self, card: SimCard) -> None:
        """Put ``card`` in the field (replacing any card there)."""
        with self._lock:
            self._card = card
            self._generation += 1
        log.info("sim card inserted: %s", card.kind)
        self._close_socket()
        self._wake.set()

    def remove(self) -> None:
        """Take the card out of the field (vpcd sees the connection close)."""
        with self._lock:
            self._card = None
            self._generation += 1
        log.info("sim card removed")
        self._close_socket()
        self._wake.set()

    @property
    def card(self) -> SimCard | None:
        return self._card

    @property
    def connected(self) -> bool:
        return self._connected

    def fault(self, kind: str, *, sw: str | bytes | None = None, delay_s: float = 1.0,
              count: int = 1) -> None:
        """Arm a fault for the next APDUs.

        Args:
            kind: ``remove-mid-apdu`` (the card leaves when the next APDU arrives, before
                answering), ``status-word`` (answer the next ``count`` APDUs with ``sw``),
                ``slow`` (answer the next ``count`` APDUs after ``delay_s`` seconds),
                ``write-fail`` (the next ``count`` writes of a :class:`SimDeskReaderTag`
                fail with the family's status word, or ISO error 0x13 through the
                pass-through, and change nothing) or ``clear``.
            sw: the status word, as 4 hex digits or 2 bytes.
            delay_s: the delay for ``slow``.
            count: how many APDUs the fault applies to.

        Raises:
            CardSimError: an unknown kind or bad arguments.
        """
        if count < 1:
            raise CardSimError("fault count must be at least 1")
        with self._lock:
            f = self._faults
            if kind == "remove-mid-apdu":
                f.remove_mid_apdu = True
            elif kind == "status-word":
                raw = bytes.fromhex(sw) if isinstance(sw, str) else sw
                if raw is None or len(raw) != 2:
                    raise CardSimError(f"status-word fault needs 2 bytes (4 hex digits), got {sw!r}")
                f.status_word, f.status_word_count = raw, count
            elif kind == "slow":
                if not 0 <= delay_s <= 60:
                    raise CardSimError(f"slow fault delay {delay_s}s outside 0..60")
                f.slow_s, f.slow_count = delay_s, count
            elif kind == "write-fail":
                if not isinstance(self._card, SimDeskReaderTag):
                    raise CardSimError("write-fail needs a desk-reader tag in the field")
                self._card.fail_writes = count
            elif kind == "clear":
                self._faults = _Faults(log=f.log)
                if isinstance(self._card, SimDeskReaderTag):
                    self._card.fail_writes = 0
            else:
                raise CardSimError(f"unknown card fault {kind!r}; expected remove-mid-apdu, "
                                   "status-word, slow, write-fail or clear")
        log.info("sim card fault armed: %s", kind)

    def state(self) -> dict[str, Any]:
        """A JSON-able snapshot: the card, the connection and the armed faults."""
        with self._lock:
            f = self._faults
            return {
                "vpcd": f"{self.host}:{self.port}",
                "connected": self._connected,
                "connections": self._connections,
                "apdus": self._apdus,
                "card": self._card.describe() if self._card else None,
                "faults": {
                    "remove_mid_apdu": f.remove_mid_apdu,
                    "status_word": f.status_word.hex().upper() if f.status_word else None,
                    "status_word_count": f.status_word_count,
                    "slow_s": f.slow_s,
                    "slow_count": f.slow_count,
                    "applied": list(f.log),
                },
            }

    # ---- I/O thread ----------------------------------------------------------------------

    def _close_socket(self) -> None:
        sock = self._sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError as exc:
                log.debug("sim card socket shutdown: %s", exc)

    def _run(self) -> None:
        while not self._stopping.is_set():
            with self._lock:
                card, gen = self._card, self._generation
            if card is None:
                self._wake.wait(0.5)
                self._wake.clear()
                continue
            try:
                sock = socket.create_connection((self.host, self.port), timeout=1.0)
            except OSError as exc:
                log.debug("vpcd %s:%d not reachable: %s", self.host, self.port, exc)
                self._stopping.wait(self.reconnect_interval)
                continue
            with self._lock:
                if self._generation != gen or self._stopping.is_set():
                    sock.close()
                    continue
                self._sock = sock
                self._connected = True
                self._connections += 1
            log.info("sim card connected to vpcd %s:%d", self.host, self.port)
            try:
                self._serve(sock, card, gen)
            except (OSError, VpcdProtocolError) as exc:
                log.info("vpcd connection ended: %s", exc)
            finally:
                with self._lock:
                    self._sock = None
                    self._connected = False
                sock.close()
            self._stopping.wait(self.reconnect_interval)

    def _serve(self, sock: socket.socket, card: SimCard, gen: int) -> None:
        conn = VpcdCardConnection()
        sock.settimeout(None)
        sel = selectors.DefaultSelector()
        sel.register(sock, selectors.EVENT_READ)
        try:
            while not self._stopping.is_set() and self._generation == gen:
                if not sel.select(timeout=0.2):
                    continue
                data = sock.recv(4096)
                if not data:
                    log.info("vpcd closed the connection")
                    return
                log.log(TRACE, "vpcd > card %s", data.hex(" "))
                conn.receive_data(data)
                while True:
                    event = conn.next_event()
                    if event is NEED_DATA:
                        break
                    out = self._answer(conn, card, event)
                    if out is None:
                        continue
                    if out == b"":
                        return  # the card left mid-APDU
                    log.log(TRACE, "card > vpcd %s", out.hex(" "))
                    sock.sendall(out)
        finally:
            sel.close()

    def _answer(self, conn: VpcdCardConnection, card: SimCard, event: object) -> bytes | None:
        if isinstance(event, AtrRequest):
            return conn.send_atr(card.atr)
        if isinstance(event, (PowerOn, PowerOff, Reset)):
            return None
        assert isinstance(event, CommandApdu)
        with self._lock:
            self._apdus += 1
            f = self._faults
            if f.remove_mid_apdu:
                f.remove_mid_apdu = False
                f.log.append("remove-mid-apdu")
                self._card = None
                self._generation += 1
                return b""
            delay = 0.0
            if f.slow_count:
                f.slow_count -= 1
                delay = f.slow_s
                f.log.append(f"slow {delay}s")
            sw = None
            if f.status_word_count:
                f.status_word_count -= 1
                sw = f.status_word
                f.log.append(f"status-word {sw.hex().upper() if sw else ''}")
        if delay:
            self._stopping.wait(delay)
        if sw is not None:
            return conn.send_response(sw)
        return conn.send_response(card.handle_apdu(event.apdu))


# ---- control API -----------------------------------------------------------------------------

class CardInsertBody(BaseModel):
    """``POST /card/insert``: exactly one of ``uid`` (hex) or ``patron``."""

    uid: str | None = None
    patron: str | None = None
    kind: str | None = None


class CardFaultBody(BaseModel):
    """``POST /card/fault``."""

    kind: Literal["remove-mid-apdu", "status-word", "slow", "write-fail", "clear"]
    sw: str | None = None
    delay_s: float = Field(1.0, ge=0, le=60)
    count: int = Field(1, ge=1)


def card_router(device: SimCardDevice,
                patron_lookup: Callable[[str], str | None] | None = None) -> APIRouter:
    """Return a FastAPI ``APIRouter`` (prefix ``/card``) controlling ``device``.

    Routes: ``POST /card/insert`` ``{"uid": hex | "patron": id, "kind": ...}``,
    ``POST /card/remove``, ``POST /card/fault`` ``{"kind", "sw", "delay_s", "count"}``,
    ``GET /card``.

    Args:
        device: the device to control.
        patron_lookup: maps a ``patron`` argument to the identifier to write on the card,
            or None for an unknown patron (404). Without it the argument is used as is.
    """
    router = APIRouter(prefix="/card", tags=["card"])

    @router.get("")
    def get_card() -> dict[str, Any]:
        return device.state()

    @router.post("/insert")
    def insert(body: CardInsertBody) -> dict[str, Any]:
        patron = body.patron
        if patron is not None and patron_lookup is not None:
            found = patron_lookup(patron)
            if found is None:
                raise HTTPException(404, f"unknown patron {patron!r}")
            patron = found
        try:
            card = make_card(uid=body.uid, patron=patron, kind=body.kind)
        except CardSimError as exc:
            raise HTTPException(422, str(exc)) from exc
        device.insert(card)
        return device.state()

    @router.post("/remove")
    def remove() -> dict[str, Any]:
        device.remove()
        return device.state()

    @router.post("/fault")
    def fault(body: CardFaultBody) -> dict[str, Any]:
        try:
            device.fault(body.kind, sw=body.sw, delay_s=body.delay_s, count=body.count)
        except (CardSimError, ValueError) as exc:
            raise HTTPException(422, str(exc)) from exc
        return device.state()

    return router
