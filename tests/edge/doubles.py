"""Test doubles for the edge: a fake pad reader, and GatewayDouble.

``GatewayDouble`` is a TEST DOUBLE of the sync agent + central gateway + ILS together: it
opens the store like the agent does, answers look-ups, takes sendable journal entries,
applies them to an in-memory "ILS" exactly once per key, and records the results through
``edge.store`` (which rings the edge). The real agent and gateway are in ``sync/``.
"""

from __future__ import annotations

import json
import random
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drivers.errors import TagNotFound, WriteFailed
from drivers.reader import InventoryItem, SystemInfo
from drivers.tags import ItemTagData, encode_tag
from edge.store import open_store


@dataclass
class FakeTag:
    uid: str
    memory: bytes
    afi: int = 0x07
    eas: bool = True


class FakeReader:
    """The methods of ``drivers.reader.Reader`` the edge uses, over an in-memory pad.

    ``afi_fail_rate`` makes that share of AFI writes fail (seeded); ``state_file`` persists
    the tags' AFI/EAS so a restarted process (crash tests) sees the same tags.
    """

    def __init__(self, tags: list[FakeTag] | None = None, *, afi_fail_rate: float = 0.0,
                 seed: int = 1, state_file: Path | None = None) -> None:
        self.tags: dict[str, FakeTag] = {t.uid: t for t in tags or []}
        self.afi_fail_rate = afi_fail_rate
        self.rng = random.Random(seed)
        self.state_file = state_file
        self.writes: Counter[str] = Counter()
        self.opened = False
        if state_file is not None and state_file.exists():
            for uid, st in json.loads(state_file.read_text()).items():
                self.tags[uid] = FakeTag(uid, bytes.fromhex(st["memory"]), st["afi"], st["eas"])

    def _save(self) -> None:
        if self.state_file is not None:
            self.state_file.write_text(json.dumps(
                {u: {"memory": t.memory.hex(), "afi": t.afi, "eas": t.eas}
                 for u, t in self.tags.items()}))

    def open(self) -> FakeReader:
        self.opened = True
        return self

    def close(self) -> None:
        self.opened = False

    def metrics(self) -> dict[str, int]:
        return {"write_afi_calls": sum(self.writes.values())}

    def inventory(self, antennas: Any = None, afi: int | None = None) -> list[InventoryItem]:
        return [InventoryItem(t.uid, 0, "pad") for t in self.tags.values()
                if afi is None or t.afi == afi]

    def _tag(self, uid: str) -> FakeTag:
        t = self.tags.get(uid)
        if t is None:
            raise TagNotFound(f"tag {uid} is not in the field", 0x01)
        return t

    def read_blocks(self, uid: str, first: int, count: int) -> bytes:
        return self._tag(uid).memory[first * 4:(first + count) * 4]

    def system_info(self, uid: str) -> SystemInfo:
        t = self._tag(uid)
        return SystemInfo(uid, 0, t.afi, 4, len(t.memory) // 4, 0)

    def write_afi(self, uid: str, afi: int, verify: bool = True) -> None:
        t = self._tag(uid)
        self.writes[uid] += 1
        if self.rng.random() < self.afi_fail_rate:
            raise WriteFailed(f"AFI write to {uid} failed (injected)")
        t.afi = afi
        self._save()

    def set_eas(self, uid: str, on: bool) -> None:
        self._tag(uid).eas = on
        self._save()


def make_tag(item_id: str, *, uid: str | None = None, parts: int = 1, part: int = 1,
             usage: int = 1, afi: int = 0x07) -> FakeTag:
    uid = uid or f"E004{abs(hash((item_id, part))) % 16**12:012X}"
    mem = encode_tag(ItemTagData(item_id, parts_in_item=parts, part_number=part,
                                 type_of_usage=usage, isil="VN-DEMO"), blocks=8)
    return FakeTag(uid, mem, afi=afi)


@dataclass
class Ils:
    """The in-memory ILS of the double."""

    loans: dict[str, str] = field(default_factory=dict)         # item -> patron
    holds: dict[str, str] = field(default_factory=dict)         # item -> patron
    blocked: set[str] = field(default_factory=set)
    patrons: dict[str, str] = field(default_factory=dict)       # id -> pin
    titles: dict[str, str] = field(default_factory=dict)
    calls: Counter[str] = field(default_factory=Counter)        # per transaction key
    applied: list[tuple[str, str, str]] = field(default_factory=list)
    checks_pins: bool = True                                    # False: valid_pin never set


class GatewayDouble:
    """TEST DOUBLE of agent + gateway + ILS over the shared store (see module docstring)."""

    def __init__(self, db_path: Path, ils: Ils | None = None, *, online: bool = True) -> None:
        self.ils = ils or Ils()
        self.online = online
        self.ledger: dict[str, tuple[dict[str, Any], str]] = {}
        self._store = open_store(db_path)
        self._bell = self._store.doorbell("agent")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gateway-double", daemon=True)

    def __enter__(self) -> GatewayDouble:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        self._store.ring("agent")
        if self._thread.is_alive():
            self._thread.join(5)
        self._store.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.online:
                self.pump()
            self._bell.wait(0.05)

    def pump(self) -> int:
        n = 0
        for lk in self._store.lookups.claim():
            self._store.lookups.answer(lk.id, self._lookup(lk.kind, lk.request))
        while True:
            batch = self._store.outbox.next_sendable(50)
            if not batch:
                return n
            for e in batch:
                self._store.outbox.mark_sent(e.key)
                if e.key not in self.ledger:
                    self.ils.calls[e.key] += 1
                    self.ledger[e.key] = self._apply(e.kind, e.item_id, e.patron_ref, e.payload)
                result, state = self.ledger[e.key]
                self._store.outbox.record_result(e.key, result, state)
                n += 1

    def _lookup(self, kind: str, req: dict[str, Any]) -> dict[str, Any]:
        pid = req.get("patron_id", "")
        if kind == "account":
            return {"loans": [{"item_id": i, "title": self.ils.titles.get(i, ""),
                               "due_date": "2099-01-01"}
                              for i, p in self.ils.loans.items() if p == pid],
                    "holds": [], "fines": []}
        if pid not in self.ils.patrons:
            return {"valid": False}
        pin = req.get("pin")
        return {"valid": True, "name": f"Patron {pid[-3:]}",
                "pin_ok": None if pin is None or not self.ils.checks_pins
                else pin == self.ils.patrons[pid],
                "blocked": pid in self.ils.blocked, "loan_limit": 20}

    def _apply(self, kind: str, item: str | None, patron: str | None,
               payload: dict[str, Any]) -> tuple[dict[str, Any], str]:
        ils = self.ils
        if payload.get("compensates"):
            ils.loans.pop(item or "", None)
            return {"ok": True}, "applied"
        if kind == "checkout":
            if patron in ils.blocked and not payload.get("no_block"):
                return {"ok": False, "code": "patron_blocked", "screen_message": "blocked"}, "refused"
            if item in ils.holds and ils.holds[item] != patron:
                return {"ok": False, "code": "on_hold_for_other",
                        "screen_message": "on hold"}, "refused"
            ils.loans[item or ""] = patron or ""
            ils.applied.append((kind, item or "", patron or ""))
            return {"ok": True, "due_date": "2026-12-14", "title": ils.titles.get(item or "", ""),
                    "desensitize": "Y"}, "applied"
        if kind == "checkin":
            if item not in ils.loans:
                return {"ok": False, "code": "not_on_loan"}, "refused"
            del ils.loans[item or ""]
            ils.applied.append((kind, item or "", patron or ""))
            sort = {"kind": "hold_shelf", "destination": "MAIN", "bin": "H"} \
                if item in ils.holds else None
            return {"ok": True, "sort": sort} if sort else {"ok": True}, "applied"
        if kind == "renew":
            return {"ok": True, "due_date": "2027-01-01"}, "applied"
        if kind == "renew_all":
            return {"ok": True, "items": [{"item_id": i, "ok": True, "due_date": "2027-01-01"}
                                          for i, p in ils.loans.items() if p == patron]}, "applied"
        return {"ok": False, "code": "unsupported"}, "failed"
