"""A virtual patron card that any PC/SC application sees through pcscd and vpcd.

:class:`SimCardDevice` connects to the vpcd driver inside pcscd as the virtual card
(default ``127.0.0.1:35963``, Debian's vpcd port). vpcd has no notion of an empty reader
with a connected card: a connection *is* a card in the field. So the device is connected
exactly while a card is inserted, and reconnects when pcscd restarts.

Card models answer the PC/SC part 3 pseudo-APDUs the way a desk reader does:

- :class:`SimIso14443Card`: MIFARE Classic 1K/4K, Ultralight, DESFire, with a UID and ATR;
- :class:`SimIso15693Card`: an ISO 15693 tag (ICODE SLI) whose block memory answers
  READ BINARY and UPDATE BINARY.

``--patron ID`` cards (:func:`patron_card`): an ISO 15693 card whose memory holds the
ISO 28560-3 basic block with primary identifier ID and type of usage 8 (patron card), and
whose UID is ``E0 04 01`` followed by the first five bytes of SHA-256(ID) — deterministic,
so a UID-based identity rule or a mapping table also works.

Faults (:meth:`SimCardDevice.fault`): the card leaves in the middle of the next APDU, the
next APDUs get a wrong status word, or the answers come late.

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
from hardware_sim.errors import CardSimError, VpcdProtocolError
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


FaultKind = Literal["remove-mid-apdu", "status-word", "slow", "clear"]


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
                ``slow`` (answer the next ``count`` APDUs after ``delay_s`` seconds) or
                ``clear``.
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
            elif kind == "clear":
                self._faults = _Faults(log=f.log)
            else:
                raise CardSimError(f"unknown card fault {kind!r}; expected remove-mid-apdu, "
                                   "status-word, slow or clear")
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

    kind: Literal["remove-mid-apdu", "status-word", "slow", "clear"]
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
