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
import uuid
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from drivers.errors import TagNotFound, WriteFailed
from drivers.reader import InventoryItem, SystemInfo
from drivers.tags import ItemTagData, encode_tag
from edge.store import open_store
from smartlib.sealing import open_pin


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
             usage: int = 1, afi: int = 0x07, isil: str = "VN-DEMO") -> FakeTag:
    uid = uid or f"E004{abs(hash((item_id, part))) % 16**12:012X}"
    mem = encode_tag(ItemTagData(item_id, parts_in_item=parts, part_number=part,
                                 type_of_usage=usage, isil=isil), blocks=8)
    return FakeTag(uid, mem, afi=afi)


@dataclass
class Ils:
    """The in-memory ILS of the double."""

    loans: dict[str, str] = field(default_factory=dict)         # item -> patron
    holds: dict[str, str] = field(default_factory=dict)         # item -> patron
    blocked: set[str] = field(default_factory=set)
    patrons: dict[str, str] = field(default_factory=dict)       # id -> pin
    titles: dict[str, str] = field(default_factory=dict)
    not_renewable: set[str] = field(default_factory=set)        # items whose renewal it refuses
    due_dates: dict[str, str] = field(default_factory=dict)     # item -> ISO due date
    ready_holds: set[str] = field(default_factory=set)          # held items on the hold shelf
    fines: dict[str, list[tuple[int, str]]] = field(default_factory=dict)  # patron -> (VND, why)
    calls: Counter[str] = field(default_factory=Counter)
    """ILS applications per transaction key (after the ledger: at most 1 by construction)."""
    applied: list[tuple[str, str, str]] = field(default_factory=list)
    """Every (kind, item, patron) the ILS carried out, duplicates included."""
    checks_pins: bool = True                                    # False: valid_pin never set
    reason_codes: bool = False
    """True: results also carry ``reason_code`` (the field a gateway should add, see
    ``edge.services.circulation.refusal_code``); False: exactly today's message."""

    def applications(self, kind: str) -> Counter[str]:
        """How many times the ILS carried out ``kind`` per item (a second journal entry for
        the same item shows up here, whatever its key)."""
        return Counter(item for k, item, _ in self.applied if k == kind)


SITE, DEVICE = "site-double", "kiosk-double"


class GatewayDouble:
    """TEST DOUBLE of agent + gateway + ILS over the shared store (see module docstring).

    Results are real :class:`sync.messages.TransactionResult` messages turned into the
    outbox's result dict by the agent's own :func:`sync.agent.service.result_dict`, with
    the agent's status → state mapping, so the edge sees exactly what the real pair sends.
    """

    def __init__(self, db_path: Path, ils: Ils | None = None, *, online: bool = True,
                 pin_key: Any = None) -> None:
        self.ils = ils or Ils()
        self.pin_key = pin_key
        """The gateways' private key: opens ``pin_sealed`` as the real gateway does."""
        self._online = online
        self.ledger: dict[str, tuple[dict[str, Any], str]] = {}
        self.deliveries: Counter[str] = Counter()
        """Entries received per key, before the ledger's de-duplication."""
        self._store = open_store(db_path)
        self._bell = self._store.doorbell("agent")
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="gateway-double", daemon=True)

    @property
    def online(self) -> bool:
        """Whether the background thread answers entries."""
        return self._online

    @online.setter
    def online(self, value: bool) -> None:
        self._online = value
        if not value:
            with self._lock:  # a pump under way has finished: nothing is answered after this
                pass

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
        """Answer look-ups and apply every sendable entry now (thread-safe)."""
        with self._lock:
            n = 0
            for lk in self._store.lookups.claim():
                answer = self._lookup(lk.kind, lk.request)
                self._store.lookups.answer(lk.id, answer, ok=answer.get("reason") is None)
            while True:
                batch = self._store.outbox.next_sendable(50)
                if not batch:
                    return n
                for e in batch:
                    self._store.outbox.mark_sent(e.key)
                    self.deliveries[e.key] += 1
                    if e.key not in self.ledger:
                        self.ils.calls[e.key] += 1
                        self.ledger[e.key] = self._apply(e)
                    result, state = self.ledger[e.key]
                    self._store.outbox.record_result(e.key, result, state)
                    n += 1

    def _lookup(self, kind: str, req: dict[str, Any]) -> dict[str, Any]:
        pid = req.get("patron_id", "")
        if kind == "account":
            return self._account(pid)
        if pid not in self.ils.patrons:
            return {"valid": False}
        sealed = req.get("pin_sealed")
        if sealed is not None and self.pin_key is None:
            return {"error": "PIN cannot be opened", "reason": "pin_unsealable"}
        pin = None if sealed is None else open_pin(sealed, self.pin_key)
        return {"valid": True, "name": f"Patron {pid[-3:]}",
                "pin_ok": None if pin is None or not self.ils.checks_pins
                else pin == self.ils.patrons[pid],
                "blocked": pid in self.ils.blocked, "loan_limit": 20}

    def _account(self, pid: str) -> dict[str, Any]:
        """The gateway's account answer: a real :class:`sync.messages.LookupResponse`
        carrying a :class:`sync.messages.Account`, dumped as the agent stores it."""
        from sync.messages import Account, AccountFine, AccountHold, AccountLoan, LookupResponse

        ils = self.ils
        fines = [AccountFine(fine_id=f"F{n}", amount=amount, reason=why, date="2026-12-01")
                 for n, (amount, why) in enumerate(ils.fines.get(pid, []), 1)]
        account = Account(
            loans=[AccountLoan(item_id=i, title=ils.titles.get(i, ""),
                               due_date=ils.due_dates.get(i, "2099-01-01"))
                   for i, p in ils.loans.items() if p == pid],
            holds=[AccountHold(item_id=i, title=ils.titles.get(i, ""), ready=i in ils.ready_holds,
                               pickup_location="MAIN",
                               expires="2099-01-08" if i in ils.ready_holds else None)
                   for i, p in ils.holds.items() if p == pid],
            fines=fines, fine_total=sum((f.amount or 0 for f in fines), start=Decimal(0)))
        resp = LookupResponse(request_id=str(uuid.uuid4()), kind="account", ok=True, patron=pid,
                              valid_patron=pid in ils.patrons, account=account)
        return resp.model_dump(mode="json", exclude_none=True)

    def _result(self, e: Any, ok: bool, reason: str | None = None,
                **fields: Any) -> tuple[dict[str, Any], str]:
        """The result the real gateway + agent would record (see the class docstring)."""
        from sync.agent.service import _STATE_OF, result_dict
        from sync.messages import TransactionResult

        status = "applied" if ok else ("conflict" if e.offline else "refused")
        res = TransactionResult(key=e.key, kind=e.kind, site=SITE, device=DEVICE,
                                status=status, ok=ok, item=e.item_id, patron=e.patron_ref,
                                **fields)
        out = result_dict(res)
        if reason and self.ils.reason_codes:
            out["reason_code"] = reason
        return out, _STATE_OF[status]

    def _apply(self, e: Any) -> tuple[dict[str, Any], str]:
        ils, kind, item, patron, payload = self.ils, e.kind, e.item_id, e.patron_ref, e.payload
        if kind not in ("checkout", "checkin", "renew", "renew_all"):
            # What the agent records for an entry it cannot turn into a TransactionRequest.
            return {"ok": False, "code": "unsupported", "message": f"kind {kind}"}, "failed"
        no_block = bool(e.offline or payload.get("no_block"))
        if kind == "checkout":
            if patron in ils.blocked and not no_block:
                return self._result(e, False, "patron_blocked",
                                    screen_message="Patron blocked: contact staff")
            if item in ils.holds and ils.holds[item] != patron:
                return self._result(e, False, "on_hold_for_other",
                                    screen_message="Item is on hold for another patron")
            ils.loans[item or ""] = patron or ""
            ils.applied.append((kind, item or "", patron or ""))
            return self._result(e, True, due_date="2026-12-14", desensitize="Y",
                                title=ils.titles.get(item or "") or None)
        if kind == "checkin":
            if item not in ils.loans:
                return self._result(e, False, "not_on_loan",
                                    screen_message="Item was not checked out")
            del ils.loans[item or ""]
            ils.applied.append((kind, item or "", patron or ""))
            if item in ils.holds:
                return self._result(e, True, resensitize="Y", hold_shelf=True, alert_type="01",
                                    destination="MAIN", sort_bin="H")
            return self._result(e, True, resensitize="Y")
        if kind == "renew":
            if item in ils.not_renewable or ils.loans.get(item or "") != patron:
                return self._result(e, False, "renew_refused",
                                    screen_message="Item cannot be renewed")
            ils.applied.append((kind, item or "", patron or ""))
            return self._result(e, True, due_date="2027-01-01")
        mine = sorted(i for i, p in ils.loans.items() if p == patron)
        renewed = [i for i in mine if i not in ils.not_renewable]
        for i in renewed:
            ils.applied.append(("renew", i, patron or ""))
        return self._result(e, patron in ils.patrons, renewed=len(renewed),
                            unrenewed=len(mine) - len(renewed), items=renewed)
