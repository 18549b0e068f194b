"""``SimTag``: an ISO 15693 tag that behaves like an NXP ICODE SLIX.

It holds the UID, DSFID, AFI, the EAS bit, block memory and locks, and answers the ISO
commands the simulated reader forwards to it, raising :class:`IsoError` with the ISO 15693
error code where a real tag would (0x10 block not available, 0x11 already locked, 0x12
locked). It does no timing and no I/O; the reader device and :mod:`hardware_sim.air` do.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Any

from hardware_sim.errors import SimError

ISO_BLOCK_NOT_AVAILABLE = 0x10
ISO_ALREADY_LOCKED = 0x11
ISO_LOCKED = 0x12


class IsoError(SimError):
    """A tag answered with the ISO 15693 error flag and ``code``."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"ISO error {code:#04x}: {message}")
        self.code = code


class TagSpecError(SimError):
    """A tag specification (control API, scenario) is invalid: names the field."""


def random_uid(rng: random.Random | None = None) -> bytes:
    """A plausible NXP ICODE SLIX UID: E0 04 01 then 5 random bytes (E0 first)."""
    r = rng or random
    return bytes((0xE0, 0x04, 0x01)) + bytes(r.randrange(256) for _ in range(5))


def parse_uid(text: str | bytes) -> bytes:
    """8 UID bytes from hex text, E0 first.

    Raises:
        TagSpecError: not 16 hex digits, or not starting with E0.
    """
    if isinstance(text, (bytes, bytearray)):
        raw = bytes(text)
    else:
        try:
            raw = bytes.fromhex(text.replace(":", "").replace(" ", ""))
        except ValueError as exc:
            raise TagSpecError(f"uid: {text!r} is not hex") from exc
    if len(raw) != 8 or raw[0] != 0xE0:
        raise TagSpecError(f"uid: expected 8 bytes starting with E0, got {raw.hex().upper()!r}")
    return raw


@dataclass
class SimTag:
    """A simulated ICODE SLIX (28 blocks of 4 bytes by default).

    ``memory`` is in tag-memory order; ``locked`` holds locked block numbers.
    """

    uid: bytes
    dsfid: int = 0x00
    afi: int = 0x00
    eas: bool = False
    block_size: int = 4
    block_count: int = 28
    ic_ref: int = 0x01
    memory: bytearray = field(default_factory=bytearray)
    locked: set[int] = field(default_factory=set)
    afi_locked: bool = False
    dsfid_locked: bool = False
    eas_locked: bool = False
    item_id: str | None = None
    writes: int = 0
    quiet: bool = False  # ISO 15693 Quiet state: silent to non-addressed commands
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.uid = parse_uid(self.uid)
        if not self.memory:
            self.memory = bytearray(self.block_size * self.block_count)
        if len(self.memory) != self.block_size * self.block_count:
            raise TagSpecError(f"memory: {len(self.memory)} bytes, expected "
                               f"{self.block_count} blocks of {self.block_size}")
        for name in ("dsfid", "afi"):
            if not 0 <= getattr(self, name) <= 0xFF:
                raise TagSpecError(f"{name}: must be 0..255")

    @property
    def uid_hex(self) -> str:
        return self.uid.hex().upper()

    # ---- ISO 15693 commands --------------------------------------------------------------

    def _check_range(self, first: int, count: int) -> None:
        if first < 0 or count < 1 or first + count > self.block_count:
            raise IsoError(ISO_BLOCK_NOT_AVAILABLE,
                           f"blocks {first}..{first + count - 1} of {self.block_count}")

    def read_blocks(self, first: int, count: int) -> list[bytes]:
        """Blocks in tag-memory order."""
        with self._lock:
            self._check_range(first, count)
            s = self.block_size
            return [bytes(self.memory[(first + i) * s:(first + i + 1) * s]) for i in range(count)]

    def write_block(self, number: int, data: bytes) -> None:
        """Write one block (tag-memory order)."""
        with self._lock:
            self._check_range(number, 1)
            if len(data) != self.block_size:
                raise IsoError(0x0F, f"block of {len(data)} bytes, the tag has {self.block_size}")
            if number in self.locked:
                raise IsoError(ISO_LOCKED, f"block {number} is locked")
            self.memory[number * self.block_size:(number + 1) * self.block_size] = data
            self.writes += 1

    def lock_block(self, number: int) -> None:
        with self._lock:
            self._check_range(number, 1)
            if number in self.locked:
                raise IsoError(ISO_ALREADY_LOCKED, f"block {number} is already locked")
            self.locked.add(number)

    def write_afi(self, afi: int) -> None:
        with self._lock:
            if self.afi_locked:
                raise IsoError(ISO_LOCKED, "AFI is locked")
            self.afi = afi & 0xFF
            self.writes += 1

    def lock_afi(self) -> None:
        with self._lock:
            if self.afi_locked:
                raise IsoError(ISO_ALREADY_LOCKED, "AFI is already locked")
            self.afi_locked = True

    def write_dsfid(self, dsfid: int) -> None:
        with self._lock:
            if self.dsfid_locked:
                raise IsoError(ISO_LOCKED, "DSFID is locked")
            self.dsfid = dsfid & 0xFF
            self.writes += 1

    def lock_dsfid(self) -> None:
        with self._lock:
            if self.dsfid_locked:
                raise IsoError(ISO_ALREADY_LOCKED, "DSFID is already locked")
            self.dsfid_locked = True

    def block_security(self, first: int, count: int) -> list[int]:
        """Security status per block (Get Multiple Block Security Status): 1 = locked."""
        with self._lock:
            self._check_range(first, count)
            return [1 if first + i in self.locked else 0 for i in range(count)]

    def set_eas(self, on: bool) -> None:
        with self._lock:
            if self.eas_locked:
                raise IsoError(ISO_LOCKED, "EAS is locked")
            self.eas = on
            self.writes += 1

    def lock_eas(self) -> None:
        with self._lock:
            if self.eas_locked:
                raise IsoError(ISO_ALREADY_LOCKED, "EAS is already locked")
            self.eas_locked = True

    def eas_alarm(self) -> bool:
        """True when the tag answers an EAS ALARM (only while its EAS bit is set)."""
        return self.eas

    # ---- construction --------------------------------------------------------------------

    @classmethod
    def from_item(cls, item_id: str, *, parts: int = 1, part: int = 1, isil: str = "",
                  country: str = "VN", afi: int = 0x07, eas: bool = True,
                  fmt: str = "iso28560-3", uid: str | bytes | None = None,
                  type_of_usage: int = 1, lock_blocks: int = 0,
                  rng: random.Random | None = None) -> SimTag:
        """A tag programmed with ISO 28560 data for ``item_id`` (via ``drivers.tags``).

        ``lock_blocks`` locks that many leading blocks (for the "locked tag" fault).

        Raises:
            TagSpecError: the tag codec refused the data.
        """
        from drivers.errors import TagFormatError
        from drivers.tags import DSFID_ISO28560_2, ItemTagData, encode_tag

        try:
            image = encode_tag(ItemTagData(item_id, parts_in_item=parts, part_number=part,
                                           type_of_usage=type_of_usage, country=country,
                                           isil=isil),
                               fmt=fmt, blocks=28)
        except TagFormatError as exc:
            raise TagSpecError(f"item {item_id!r}: {exc}") from exc
        dsfid = DSFID_ISO28560_2 if fmt == "iso28560-2" else 0x00
        tag = cls(uid=parse_uid(uid) if uid is not None else random_uid(rng), dsfid=dsfid,
                  afi=afi, eas=eas, memory=bytearray(image), item_id=item_id)
        tag.locked = set(range(lock_blocks))
        return tag

    @classmethod
    def from_spec(cls, spec: dict[str, Any], rng: random.Random | None = None) -> SimTag:
        """A tag from a control-API or scenario spec.

        Keys: ``item`` (+ ``parts``, ``part``, ``isil``, ``country``, ``format``,
        ``usage``) or ``memory`` (hex, tag-memory order); ``uid``, ``afi``, ``eas``,
        ``dsfid``, ``locked`` (block list), ``afi_locked``, ``dsfid_locked``, ``eas_locked``,
        ``blocks``.

        Raises:
            TagSpecError: a key is unknown or a value invalid.
        """
        known = {"item", "parts", "part", "isil", "country", "format", "usage", "memory", "uid",
                 "afi", "eas", "dsfid", "locked", "afi_locked", "dsfid_locked", "eas_locked", "blocks",
                 "lock_blocks", "zone"}
        unknown = set(spec) - known
        if unknown:
            raise TagSpecError(f"unknown tag spec keys {sorted(unknown)}; known: {sorted(known)}")
        try:
            afi = _byte(spec.get("afi", 0x07), "afi")
            if "item" in spec:
                tag = cls.from_item(str(spec["item"]), parts=int(spec.get("parts", 1)),
                                    part=int(spec.get("part", 1)), isil=str(spec.get("isil", "")),
                                    country=str(spec.get("country", "VN")), afi=afi,
                                    eas=bool(spec.get("eas", True)),
                                    fmt=str(spec.get("format", "iso28560-3")),
                                    uid=spec.get("uid"), type_of_usage=int(spec.get("usage", 1)),
                                    lock_blocks=int(spec.get("lock_blocks", 0)), rng=rng)
            else:
                blocks = int(spec.get("blocks", 28))
                mem = bytearray(bytes.fromhex(str(spec.get("memory", "")).replace(" ", "")))
                mem += bytes(blocks * 4 - len(mem)) if len(mem) < blocks * 4 else b""
                tag = cls(uid=parse_uid(spec["uid"]) if "uid" in spec else random_uid(rng),
                          afi=afi, eas=bool(spec.get("eas", False)), block_count=blocks,
                          memory=mem)
                tag.locked = set(range(int(spec.get("lock_blocks", 0))))
            if "dsfid" in spec:
                tag.dsfid = _byte(spec["dsfid"], "dsfid")
            tag.locked |= {int(b) for b in spec.get("locked", [])}
            tag.afi_locked = bool(spec.get("afi_locked", False))
            tag.eas_locked = bool(spec.get("eas_locked", False))
            tag.dsfid_locked = bool(spec.get("dsfid_locked", False))
        except (TypeError, ValueError) as exc:
            raise TagSpecError(f"tag spec {spec!r}: {exc}") from exc
        return tag

    def to_spec(self) -> dict[str, Any]:
        """A JSON-able description (what the control API reports)."""
        return {"uid": self.uid_hex, "item": self.item_id, "dsfid": self.dsfid, "afi": self.afi,
                "eas": self.eas, "memory": self.memory.hex().upper(), "locked": sorted(self.locked),
                "afi_locked": self.afi_locked, "dsfid_locked": self.dsfid_locked,
                "eas_locked": self.eas_locked, "quiet": self.quiet,
                "blocks": self.block_count, "writes": self.writes}


def _byte(v: Any, name: str) -> int:
    n = int(v, 0) if isinstance(v, str) else int(v)
    if not 0 <= n <= 0xFF:
        raise TagSpecError(f"{name}: must be 0..255, got {v!r}")
    return n
