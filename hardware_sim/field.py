"""``SimField``: where simulated tags are, by zone (antenna), with ISO 15693 anticollision.

Zones are named (``pad``, ``gate-in``, ``gate-out`` by default). A tag is in at most one
zone; entering and leaving are recorded with timestamps and announced to listeners (the
gate reader's buffered-read mode). :meth:`SimField.anticollision` runs the 16-slot
algorithm with masks on the tags' real UIDs and reports slots and collisions, so the air
model can charge each round. No I/O and no sleeping here.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from hardware_sim.errors import SimError
from hardware_sim.tag import SimTag

DEFAULT_ZONES = ("pad", "gate-in", "gate-out")


class FieldError(SimError):
    """An unknown zone or tag."""


@dataclass(frozen=True)
class FieldEvent:
    """A tag entering or leaving a zone."""

    at: float
    kind: str  # "enter" or "leave"
    uid: str
    zone: str


@dataclass(frozen=True)
class AnticollisionResult:
    """Tags found (UID order of discovery) and the rounds it took.

    ``rounds`` lists ``(mask_bits, occupied_slots, empty_slots)`` per 16-slot round.
    """

    tags: tuple[SimTag, ...]
    rounds: tuple[tuple[int, int, int], ...]
    collisions: int


class SimField:
    """Tags by zone, plus a catalogue of every tag ever made (so items keep their UID)."""

    def __init__(self, zones: Iterable[str] = DEFAULT_ZONES,
                 clock: Callable[[], float] = time.time) -> None:
        self.zones = tuple(zones)
        if not self.zones:
            raise FieldError("a field needs at least one zone")
        self.clock = clock
        self._lock = threading.RLock()
        self._catalog: dict[bytes, SimTag] = {}
        self._where: dict[bytes, str] = {}
        self.events: deque[FieldEvent] = deque(maxlen=10_000)
        self._listeners: list[Callable[[FieldEvent, SimTag], None]] = []

    def _zone(self, zone: str) -> str:
        if zone not in self.zones:
            raise FieldError(f"unknown zone {zone!r}; zones are {list(self.zones)}")
        return zone

    def add_listener(self, fn: Callable[[FieldEvent, SimTag], None]) -> None:
        """Call ``fn(event, tag)`` on every enter and leave."""
        with self._lock:
            self._listeners.append(fn)

    def _emit(self, kind: str, tag: SimTag, zone: str) -> None:
        ev = FieldEvent(self.clock(), kind, tag.uid_hex, zone)
        self.events.append(ev)
        for fn in list(self._listeners):
            fn(ev, tag)

    # ---- catalogue -----------------------------------------------------------------------

    def register(self, tag: SimTag) -> SimTag:
        """Remember ``tag`` (not placed); an existing UID is replaced."""
        with self._lock:
            self._catalog[tag.uid] = tag
            return tag

    def tag(self, uid: str | bytes) -> SimTag:
        """A catalogued tag by UID.

        Raises:
            FieldError: unknown UID.
        """
        raw = bytes.fromhex(uid) if isinstance(uid, str) else bytes(uid)
        with self._lock:
            try:
                return self._catalog[raw]
            except KeyError:
                raise FieldError(f"no tag with UID {raw.hex().upper()}") from None

    def tags_for_item(self, item_id: str) -> list[SimTag]:
        with self._lock:
            return [t for t in self._catalog.values() if t.item_id == item_id]

    def catalog(self) -> list[SimTag]:
        with self._lock:
            return list(self._catalog.values())

    # ---- presence ------------------------------------------------------------------------

    # The listeners (the readers) are called after the field's lock is released: a reader
    # thread holds its own lock and then asks the field (find, in_zones), so calling a
    # listener, which takes the reader's lock, under the field's lock would deadlock.

    def place(self, tag: SimTag, zone: str) -> None:
        """Put ``tag`` in ``zone`` (moving it out of any other)."""
        self._zone(zone)
        with self._lock:
            self._catalog[tag.uid] = tag
            old = self._where.get(tag.uid)
            if old == zone:
                return
            if old is not None:
                del self._where[tag.uid]
            self._where[tag.uid] = zone
        if old is not None:
            self._emit("leave", tag, old)
        self._emit("enter", tag, zone)

    def remove(self, uid: str | bytes) -> bool:
        """Take a tag out of the field; False if it was not in it."""
        tag = self.tag(uid)
        with self._lock:
            zone = self._where.pop(tag.uid, None)
        if zone is None:
            return False
        self._emit("leave", tag, zone)
        return True

    def clear(self, zone: str | None = None) -> int:
        """Remove every tag (of ``zone``); returns how many left."""
        with self._lock:
            uids = [u for u, z in self._where.items() if zone is None or z == zone]
        return sum(1 for u in uids if self.remove(u))

    def zone_of(self, uid: str | bytes) -> str | None:
        tag = self.tag(uid)
        with self._lock:
            return self._where.get(tag.uid)

    def in_zones(self, zones: Iterable[str]) -> list[SimTag]:
        """Tags now in any of ``zones``, in placement order."""
        wanted = {self._zone(z) for z in zones}
        with self._lock:
            return [self._catalog[u] for u, z in self._where.items() if z in wanted]

    def find(self, uid: bytes, zones: Iterable[str]) -> SimTag | None:
        """The tag with ``uid`` if it is in one of ``zones``."""
        wanted = set(zones)
        with self._lock:
            z = self._where.get(uid)
            return self._catalog[uid] if z is not None and z in wanted else None

    def snapshot(self) -> dict[str, list[str]]:
        """UIDs by zone."""
        with self._lock:
            out: dict[str, list[str]] = {z: [] for z in self.zones}
            for u, z in self._where.items():
                out[z].append(u.hex().upper())
            return out

    # ---- anticollision -------------------------------------------------------------------

    @staticmethod
    def anticollision(tags: Iterable[SimTag]) -> AnticollisionResult:
        """ISO 15693 16-slot inventory with masks over ``tags``.

        In a round with mask length L, a tag answers in the slot given by UID bits
        L..L+3 (counting from the least significant bit). A slot with two or more
        answers is a collision and gets its own round with the mask extended by 4 bits.
        """
        found: list[SimTag] = []
        rounds: list[tuple[int, int, int]] = []
        collisions = 0
        pending: list[tuple[int, int, list[SimTag]]] = [(0, 0, list(tags))]
        while pending:
            mask_len, mask, group = pending.pop(0)
            slots: dict[int, list[SimTag]] = {}
            for t in group:
                value = int.from_bytes(t.uid, "big")
                slots.setdefault((value >> mask_len) & 0xF, []).append(t)
            occupied = len(slots)
            rounds.append((mask_len, occupied, 16 - occupied))
            for slot in sorted(slots):
                members = slots[slot]
                if len(members) == 1:
                    found.append(members[0])
                elif mask_len + 4 >= 64:
                    found.extend(members)  # identical UIDs: cannot be split
                else:
                    collisions += 1
                    pending.append((mask_len + 4, mask | slot << mask_len, members))
        return AnticollisionResult(tuple(found), tuple(rounds), collisions)
