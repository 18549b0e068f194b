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
(TD1 = 80, TD2 = 01) followed by historical bytes taken from the card's ATS (type A)
or ATQB (type B), then TCK. Most readers copy only the ATS *historical* bytes; some
copy the whole ATS (``TL T0 [TA] [TB] [TC] historical``, TL counting itself)::

    3B 81 80 01 | 80 | 80                       DESFire / EV1 / EV2 (ATS historical bytes)
    3B 86 80 01 | 06 75 77 81 02 80 | 00        DESFire EV1, whole ATS (TL 06, T0 75,
                                                TA 77, TB 81, TC 02, historical 80)

The DESFire family's ATS historical bytes are the single category indicator ``80``
(ISO/IEC 7816-4: compact-TLV follows, here with no objects). That is how the ATR tells
a DESFire; it cannot prove it, because any card may send that ATS (pcsc-tools'
smartcard_list knows one other card with ``3B 81 80 01 80 80``). ATS historical bytes
that carry data (``80 82 90 00`` of a passport, ``59 75 62 ...`` of a YubiKey) or a
category indicator other than ``80`` give :attr:`CardKind.ISO14443_4`.

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

DESFIRE_ATS_HISTORICAL = b"\x80"
"""The ATS historical bytes of the MIFARE DESFire family (NXP ATS ``06 75 77 81 02 80``)."""

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
        ats_historical: for an ISO 14443-4 ATR (``3B 8n 80 01``), the historical bytes of
            the card's ATS (unwrapped when the reader copied the whole ATS); else None.
    """

    raw: bytes
    protocols: tuple[int, ...]
    interface_bytes: tuple[tuple[str, int], ...]
    historical: bytes
    tck: int | None
    storage: StorageCardInfo | None
    kind: CardKind
    ats_historical: bytes | None = None

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
    ats = None
    if storage is None and raw[0] == 0x3B and tuple(iface) == (("TD1", 0x80), ("TD2", 0x01)):
        ats = _ats_historical(historical)
    return Atr(raw=raw, protocols=tuple(protocols) or (0,), interface_bytes=tuple(iface),
               historical=historical, tck=tck, storage=storage,
               kind=_classify(storage, ats), ats_historical=ats)


def _storage_info(hist: bytes) -> StorageCardInfo | None:
    # 80 4F 0C <RID 5> SS NN NN 00 00 00 00
    if len(hist) >= 15 and hist[0] == 0x80 and hist[1] == 0x4F and hist[2] == 0x0C \
            and hist[3:8] == PCSC_RID:
        return StorageCardInfo(standard=hist[8], card_name=int.from_bytes(hist[9:11], "big"))
    return None


def _ats_historical(hist: bytes) -> bytes:
    """The ATS historical bytes inside an ISO 14443-4 ATR's historical bytes.

    A whole ATS is recognised by TL (its first byte) equal to its length and a T0 whose
    bit 8 is 0 (ISO/IEC 14443-4 §5.2); then TA/TB/TC (T0 bits 5..7) are skipped.
    Otherwise the bytes already are the ATS historical bytes.
    """
    if len(hist) >= 2 and hist[0] == len(hist) and not hist[1] & 0x80:
        skip = 2 + bin(hist[1] & 0x70).count("1")
        if skip <= len(hist):
            return hist[skip:]
    return hist


def _classify(storage: StorageCardInfo | None, ats: bytes | None) -> CardKind:
    if storage is not None:
        if 0x09 <= storage.standard <= 0x0C:
            return CardKind.ISO15693
        if 0x01 <= storage.standard <= 0x03:
            if storage.card_name in (0x0001, 0x0002, 0x0026):
                return CardKind.MIFARE_CLASSIC
            if storage.card_name == 0x0003:
                return CardKind.MIFARE_ULTRALIGHT
        return CardKind.UNKNOWN
    if ats is None:
        return CardKind.UNKNOWN
    if ats == DESFIRE_ATS_HISTORICAL:
        return CardKind.DESFIRE
    return CardKind.ISO14443_4


def storage_atr(standard: int, card_name: int) -> bytes:
    """Build the PC/SC part 3 storage-card ATR for ``standard`` and ``card_name``.

    Used by the simulator; the tests pin it against ATRs from protocols.md, not against
    this function.
    """
    body = bytes([0x8F, 0x80, 0x01, 0x80, 0x4F, 0x0C]) + PCSC_RID + bytes(
        [standard]) + card_name.to_bytes(2, "big") + bytes(4)
    return b"\x3B" + body + bytes([atr_checksum(body)])
