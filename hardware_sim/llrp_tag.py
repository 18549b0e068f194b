"""Simulated EPC Gen2 UHF tags and the zones they sit in, for the simulated LLRP reader.

A :class:`UhfTag` holds the four Gen2 memory banks, word addressed: reserved (kill and
access passwords), EPC (word 0 StoredCRC, word 1 PC, then the UII), TID and user. Writing
the PC or UII recomputes the StoredCRC as a tag does. A :class:`UhfField` keeps which zone
(a set of antennas: a pad, a gate) each tag is in. No I/O and no sleeping here.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from hardware_sim.errors import SimError

BANKS = ("reserved", "epc", "tid", "user")
DEFAULT_USER_WORDS = 32  # 512 bits, as on common library UHF tags
_serials = itertools.count(1)


class UhfTagError(SimError):
    """A memory access outside a bank (a Gen2 memory overrun) or a bad tag spec."""


class UhfLocked(UhfTagError):
    """A write to a locked bank."""


def gen2_crc16(data: bytes) -> int:
    """The Gen2 StoredCRC: CRC-16/ISO 13239 (poly 0x1021, preset 0xFFFF, complemented)."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = (crc << 1) ^ 0x1021 if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc ^ 0xFFFF


@dataclass(eq=False)
class UhfTag:
    """One Gen2 tag. ``item_id`` only labels it for the control API."""

    epc_bank: bytearray
    user: bytearray
    tid: bytes
    reserved: bytearray = field(default_factory=lambda: bytearray(8))
    item_id: str | None = None
    locked_banks: set[int] = field(default_factory=set)

    @classmethod
    def from_memory(cls, epc: bytes, user: bytes = b"", *, item_id: str | None = None,
                    user_words: int = DEFAULT_USER_WORDS) -> UhfTag:
        """A tag holding ``epc`` (PC word + UII, from word 1) and ``user`` (padded with
        zeros to ``user_words``, or to its own length when longer)."""
        if len(epc) < 2 or len(epc) % 2:
            raise UhfTagError(f"the EPC bank from word 1 must be whole words with the PC, "
                              f"got {len(epc)} bytes")
        serial = next(_serials)
        tid = bytes.fromhex("E2801130") + serial.to_bytes(8, "big")  # class E2, a maker's model
        user_bytes = bytearray(user) + bytearray(max(0, 2 * user_words - len(user)))
        tag = cls(bytearray(2) + bytearray(epc), user_bytes, tid, item_id=item_id)
        tag._update_crc()
        return tag

    # ---- views -----------------------------------------------------------------------------

    @property
    def pc(self) -> int:
        return int.from_bytes(self.epc_bank[2:4], "big")

    @property
    def uii(self) -> bytes:
        """The UII (EPC) as the PC word's length field says: what inventories report."""
        words = self.pc >> 11
        return bytes(self.epc_bank[4:4 + 2 * words])

    @property
    def epc_hex(self) -> str:
        return self.uii.hex().upper()

    @property
    def key(self) -> str:
        """A stable identity (the TID serial): the EPC may be rewritten."""
        return self.tid.hex().upper()

    def _bank(self, bank: int) -> bytearray:
        if bank == 0:
            return self.reserved
        if bank == 1:
            return self.epc_bank
        if bank == 3:
            return self.user
        if bank == 2:
            return bytearray(self.tid)
        raise UhfTagError(f"memory bank must be 0..3, got {bank}")

    def _update_crc(self) -> None:
        words = self.pc >> 11
        self.epc_bank[0:2] = gen2_crc16(bytes(self.epc_bank[2:4 + 2 * words])).to_bytes(2, "big")

    # ---- access -----------------------------------------------------------------------------

    def read(self, bank: int, word: int, count: int) -> bytes:
        """``count`` words from ``word`` (count 0: to the end of the bank).

        Raises:
            UhfTagError: past the end of the bank (Gen2 memory overrun).
        """
        mem = self._bank(bank)
        end = len(mem) // 2 if count == 0 else word + count
        if word < 0 or end > len(mem) // 2 or end < word:
            raise UhfTagError(f"{BANKS[bank]} bank has {len(mem) // 2} words; asked "
                              f"{word}..{end - 1}")
        return bytes(mem[2 * word:2 * end])

    def write(self, bank: int, word: int, data: bytes) -> None:
        """Write whole words; writing the EPC bank recomputes its StoredCRC.

        Raises:
            UhfTagError: past the end of the bank, or the TID bank (read-only).
            UhfLocked: the bank is locked.
        """
        if bank == 2:
            raise UhfTagError("the TID bank is read-only")
        if bank in self.locked_banks:
            raise UhfLocked(f"the {BANKS[bank]} bank is locked")
        mem = self._bank(bank)
        if len(data) % 2 or word < 0 or 2 * word + len(data) > len(mem):
            raise UhfTagError(f"{BANKS[bank]} bank has {len(mem) // 2} words; cannot write "
                              f"{len(data) / 2:g} words at {word}")
        mem[2 * word:2 * word + len(data)] = data
        if bank == 1 and word > 0:
            self._update_crc()

    def bits(self, bank: int, pointer: int, nbits: int) -> int | None:
        """``nbits`` bits of a bank from bit ``pointer`` as an integer (None past the end)."""
        mem = self._bank(bank)
        if pointer + nbits > 8 * len(mem):
            return None
        whole = int.from_bytes(mem, "big")
        return (whole >> (8 * len(mem) - pointer - nbits)) & ((1 << nbits) - 1)

    @property
    def uid_hex(self) -> str:
        """The UHF "UID" the reader interface uses: the EPC (UII) in hex."""
        return self.epc_hex

    def to_spec(self) -> dict[str, object]:
        """What the control API shows of the tag."""
        return {"protocol": "uhf", "epc": self.epc_hex, "pc": f"{self.pc:04X}", "tid": self.key,
                "user": self.user.hex().upper(), "item": self.item_id}


class UhfField:
    """UHF tags by zone; each zone is a set of antenna numbers of one reader."""

    def __init__(self, zones: Mapping[str, Iterable[int]]) -> None:
        if not zones:
            raise UhfTagError("a UHF field needs at least one zone")
        self.zones = {name: tuple(ants) for name, ants in zones.items()}
        self._lock = threading.RLock()
        self._where: dict[str, str] = {}
        self._tags: dict[str, UhfTag] = {}

    def place(self, tag: UhfTag, zone: str) -> None:
        if zone not in self.zones:
            raise UhfTagError(f"unknown UHF zone {zone!r}; zones: {sorted(self.zones)}")
        with self._lock:
            self._tags[tag.key] = tag
            self._where[tag.key] = zone

    def remove(self, tag: UhfTag) -> bool:
        with self._lock:
            return self._where.pop(tag.key, None) is not None

    def clear(self, zone: str | None = None) -> int:
        with self._lock:
            gone = [k for k, z in self._where.items() if zone is None or z == zone]
            for k in gone:
                del self._where[k]
            return len(gone)

    def catalog(self) -> list[UhfTag]:
        with self._lock:
            return list(self._tags.values())

    def zone_of(self, tag: UhfTag) -> str | None:
        with self._lock:
            return self._where.get(tag.key)

    def find(self, key: str) -> list[UhfTag]:
        """Catalogued tags by item id, EPC hex or TID hex."""
        wanted = key.upper()
        with self._lock:
            return [t for t in self._tags.values()
                    if t.item_id == key or t.epc_hex == wanted or t.key == wanted]

    def seen_by(self, antenna: int) -> list[UhfTag]:
        """Tags in a zone that includes ``antenna``."""
        with self._lock:
            return [self._tags[k] for k, z in self._where.items() if antenna in self.zones[z]]

    def snapshot(self) -> dict[str, list[str]]:
        with self._lock:
            out: dict[str, list[str]] = {z: [] for z in self.zones}
            for k, z in self._where.items():
                out[z].append(self._tags[k].epc_hex)
            return out
