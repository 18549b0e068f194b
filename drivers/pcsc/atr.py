"""ATR parsing and contactless card classification (sans-IO).

An ATR (ISO/IEC 7816-3) as a PC/SC contactless reader builds it::

    +----+----+-----------------------------+------------------+-----+
    | TS | T0 | TA1 TB1 TC1 TD1 TA2 ... TDn | historical bytes | TCK |
    +----+----+-----------------------------+------------------+-----+
    T0  = Y1 (high nibble: which of TA1..TD1 follow) | K (low nibble: number of
          historical bytes); each TDi again = Yi+1 | protocol T.
    TCK = XOR of every byte from T0 to the byte before TCK; present unless only T=0.

The PC/SC part 3 *storage card* ATR carries the card's standard and name in its
historical bytes::

    3B 8F 80 01 | 80 4F 0C A0 00 00 03 06 SS NN NN 00 00 00 00 | TCK
                  |  |  |  `-- RID (PC/SC)  |  `--+-- card name
                  |  |  `-- length 12       `-- standard (0x03 ISO 14443A-3, 0x0B ISO 15693-3)
                  |  `-- tag 4: application identifier
                  `-- category indicator 0x80 (compact TLV follows)

ISO 14443-4 cards (DESFire and other contactless smart cards) get ``3B 8n 80 01``
followed by the ATS historical bytes; DESFire's is ``3B 81 80 01 80 80``.

This module only parses bytes; it never talks to a reader.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from drivers.errors import AtrError

PCSC_RID = bytes.fromhex("A000000306")

STANDARDS: dict[int, str] = {
    0x00: "no information",
    0x01: "ISO 14443 A part 1",
    0x02: "ISO 14443 A part 2",
    0x03: "ISO 14443 A part 3",
    0x05: "ISO 14443 B part 1",
    0x06: "ISO 14443 B part 2",
    0x07: "ISO 14443 B part 3",
    0x09: "ISO 15693 part 1",
    0x0A: "ISO 15693 part 2",
    0x0B: "ISO 15693 part 3",
    0x0C: "ISO 15693 part 4",
}
"""PC/SC part 3 standard byte ``SS`` (PC/SC Workgroup, part 3 supplement)."""

CARD_NAMES: dict[int, str] = {
    0x0001: "MIFARE Classic 1K",
    0x0002: "MIFARE Classic 4K",
    0x0003: "MIFARE Ultralight",
    0x0014: "ICODE SLI",
    0x0026: "MIFARE Mini",
}
"""PC/SC part 3 card name ``NN NN`` for the cards a library meets (protocols.md §5)."""


class CardKind(StrEnum):
    """What a card is, as far as the ATR tells."""

    MIFARE_CLASSIC = "mifare-classic"
    MIFARE_ULTRALIGHT = "mifare-ultralight"
    DESFIRE = "desfire"
    ISO14443_4 = "iso14443-4"
    ISO15693 = "iso15693"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class StorageCardInfo:
    """The PC/SC part 3 storage-card fields of an ATR."""

    standard: int
    card_name: int

    @property
    def standard_text(self) -> str:
        return STANDARDS.get(self.standard, f"unknown standard 0x{self.standard:02X}")

    @property
    def card_name_text(self) -> str:
        return CARD_NAMES.get(self.card_name, f"unknown card 0x{self.card_name:04X}")


@dataclass(frozen=True)
class Atr:
    """A parsed ATR.

    Attributes:
        raw: the ATR bytes.
        protocols: the protocols T announced in TD bytes (``(0,)`` if none).
        interface_bytes: TA1, TB1, ... in order, as ``(name, value)`` pairs.
        historical: the historical bytes.
        tck: the check byte, or None when only T=0 is indicated.
        storage: the PC/SC part 3 storage-card fields, if this is a storage-card ATR.
        kind: the card classification.
    """

    raw: bytes
    protocols: tuple[int, ...]
    interface_bytes: tuple[tuple[str, int], ...]
    historical: bytes
    tck: int | None
    storage: StorageCardInfo | None
    kind: CardKind

    @property
    def hex(self) -> str:
        return self.raw.hex(" ").upper()


def atr_checksum(body: bytes) -> int:
    """Return TCK for ``body`` = the ATR bytes from T0 up to (not including) TCK."""
    tck = 0
    for b in body:
        tck ^= b
    return tck


def parse_atr(raw: bytes) -> Atr:
    """Parse and classify an ATR.

    Args:
        raw: the ATR as returned by the reader.

    Returns:
        The parsed :class:`Atr`.

    Raises:
        AtrError: the ATR is too short, has a bad TS, is truncated, or its TCK is wrong.
    """
    raw = bytes(raw)
    if len(raw) < 2:
        raise AtrError(f"ATR too short: {len(raw)} bytes, expected at least TS and T0")
    if raw[0] not in (0x3B, 0x3F):
        raise AtrError(f"ATR TS byte is 0x{raw[0]:02X}, expected 0x3B (direct) or 0x3F (inverse)")
    t0 = raw[1]
    k = t0 & 0x0F
    y = t0 >> 4
    pos = 2
    level = 1
    protocols: list[int] = []
    iface: list[tuple[str, int]] = []
    while True:
        for bit, letter in ((0x1, "A"), (0x2, "B"), (0x4, "C"), (0x8, "D")):
            if y & bit:
                if pos >= len(raw):
                    raise AtrError(f"ATR truncated in interface byte T{letter}{level} "
                                   f"(offset {pos})")
                iface.append((f"T{letter}{level}", raw[pos]))
                pos += 1
        if not y & 0x8:
            break
        td = iface[-1][1]
        protocols.append(td & 0x0F)
        y = td >> 4
        level += 1
    if pos + k > len(raw):
        raise AtrError(f"ATR truncated in historical bytes: T0 announces {k}, "
                       f"{len(raw) - pos} present")
    historical = raw[pos:pos + k]
    pos += k
    needs_tck = any(p != 0 for p in protocols)
    tck: int | None = None
    if needs_tck:
        if pos >= len(raw):
            raise AtrError("ATR has no TCK although a protocol other than T=0 is announced")
        tck = raw[pos]
        expected = atr_checksum(raw[1:pos])
        if tck != expected:
            raise AtrError(f"ATR TCK is 0x{tck:02X}, expected 0x{expected:02X}")
        pos += 1
    if pos != len(raw):
        raise AtrError(f"ATR has {len(raw) - pos} unexpected trailing bytes")
    storage = _storage_info(historical)
    return Atr(raw=raw, protocols=tuple(protocols) or (0,), interface_bytes=tuple(iface),
               historical=historical, tck=tck, storage=storage,
               kind=_classify(raw, historical, storage))


def _storage_info(hist: bytes) -> StorageCardInfo | None:
    # 80 4F 0C <RID 5> SS NN NN 00 00 00 00
    if len(hist) >= 15 and hist[0] == 0x80 and hist[1] == 0x4F and hist[2] == 0x0C \
            and hist[3:8] == PCSC_RID:
        return StorageCardInfo(standard=hist[8], card_name=int.from_bytes(hist[9:11], "big"))
    return None


def _classify(raw: bytes, hist: bytes, storage: StorageCardInfo | None) -> CardKind:
    if storage is not None:
        if 0x09 <= storage.standard <= 0x0C:
            return CardKind.ISO15693
        if 0x01 <= storage.standard <= 0x03:
            if storage.card_name in (0x0001, 0x0002, 0x0026):
                return CardKind.MIFARE_CLASSIC
            if storage.card_name == 0x0003:
                return CardKind.MIFARE_ULTRALIGHT
        return CardKind.UNKNOWN
    # ISO 14443-4: 3B 8n 80 01 <ATS historical bytes> TCK
    if len(raw) >= 4 and raw[0] == 0x3B and raw[1] >> 4 == 0x8 and raw[2:4] == b"\x80\x01":
        if hist == b"\x80":
            return CardKind.DESFIRE
        return CardKind.ISO14443_4
    return CardKind.UNKNOWN


def storage_atr(standard: int, card_name: int) -> bytes:
    """Build the PC/SC part 3 storage-card ATR for ``standard`` and ``card_name``.

    Used by the simulator; the tests pin it against ATRs from protocols.md, not against
    this function.
    """
    body = bytes([0x8F, 0x80, 0x01, 0x80, 0x4F, 0x0C]) + PCSC_RID + bytes(
        [standard]) + card_name.to_bytes(2, "big") + bytes(4)
    return b"\x3B" + body + bytes([atr_checksum(body)])
