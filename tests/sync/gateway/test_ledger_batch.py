"""The ledger's batched path (``claim_many`` / ``complete_many``) and the gateway's fast
request decoding, on SQLite and on PostgreSQL (``ledger_url`` param)."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from sync.gateway.ledger import Ledger

T0 = 1_000_000.0


def _req(item: str | None, created: str, **kw) -> dict:
    return {"v": 1, "key": str(uuid.uuid4()), "kind": "checkout", "site": "demo-site",
            "device": "kiosk-01", "patron": "2000001", "item": item, "created_at": created,
            "offline": True, "payload": {}, **kw}


def test_claim_many_gives_each_outcome_in_one_batch(make_ledger: Callable[..., Ledger]) -> None:
    a, b = make_ledger("gw-a", lease_s=5), make_ledger("gw-b", lease_s=5)
    done = _req("1", "2026-11-23T12:00:00Z")
    busy = _req("2", "2026-11-23T12:00:00Z")
    stale = _req("3", "2026-11-23T12:00:00Z")
    earlier = _req("4", "2026-11-23T12:00:00Z")
    assert [c.outcome for c in b.claim_many([done, busy], now=T0 + 4)] == ["new", "new"]
    assert b.complete_many([(done["key"], {"ok": True}, "applied", None)], now=T0 + 4) == [True]
    assert [c.outcome for c in b.claim_many([stale, earlier], now=T0)] == ["new", "new"]
    later = _req("4", "2026-11-23T12:05:00Z")  # after ``earlier``, which is unfinished
    fresh = _req("5", "2026-11-23T12:00:00Z")
    claims = a.claim_many([done, busy, stale, later, fresh], now=T0 + 6)
    assert [c.outcome for c in claims] == ["done", "busy", "recover", "wait", "new"]
    assert claims[0].row.result == {"ok": True}
    assert claims[2].row.owner == "gw-a" and claims[2].row.attempts == 2
    assert a.get(later["key"]) is None  # a wait writes no intent
    assert claims[4].row.request == fresh and a.get(fresh["key"]) is not None


def test_claim_many_does_not_wait_for_a_later_transaction(make_ledger: Callable[..., Ledger]) -> None:
    led = make_ledger()
    later = _req("7", "2026-11-23T12:05:00Z")
    assert led.claim_many([later], now=T0)[0].outcome == "new"
    earlier = _req("7", "2026-11-23T12:00:00Z")  # journaled first, arrived second
    assert led.claim_many([earlier], now=T0)[0].outcome == "new"


def test_claim_many_with_an_item_twice_keeps_their_order(make_ledger: Callable[..., Ledger]) -> None:
    led = make_ledger()
    first, second = _req("8", "2026-11-23T12:00:00Z"), _req("8", "2026-11-23T12:01:00Z")
    assert [c.outcome for c in led.claim_many([first, second], now=T0)] == ["new", "wait"]


def test_claim_many_of_a_key_twice_without_item(make_ledger: Callable[..., Ledger]) -> None:
    led = make_ledger()
    req = _req(None, "2026-11-23T12:00:00Z", kind="renew_all")
    assert [c.outcome for c in led.claim_many([req, req], now=T0)] == ["new", "busy"]


def test_complete_many_stores_only_while_the_lease_is_ours(make_ledger: Callable[..., Ledger]) -> None:
    a, b = make_ledger("gw-a", lease_s=5), make_ledger("gw-b", lease_s=5)
    kept, lost = _req("10", "2026-11-23T12:00:00Z"), _req("11", "2026-11-23T12:00:00Z")
    a.claim_many([kept, lost], now=T0)
    assert b.claim_many([lost], now=T0 + 6)[0].outcome == "recover"  # a's lease expired
    conflict = {"site": "demo-site", "device": "kiosk-01", "kind": "checkout", "item": "10",
                "patron": "2000001", "created_at": "2026-11-23T12:00:00Z", "reason": "blocked"}
    stored = a.complete_many([(kept["key"], {"ok": False}, "conflict", conflict),
                              (lost["key"], {"ok": False}, "conflict", dict(conflict, item="11"))],
                             now=T0 + 7)
    assert stored == [True, False]
    row = a.get(lost["key"])
    assert row is not None and row.state == "in_progress" and row.owner == "gw-b"
    assert [c.key for c in a.conflicts()] == [kept["key"]]
    assert b.complete_many([(lost["key"], {"ok": True}, "applied", None)], now=T0 + 8) == [True]
    assert a.counts() == {"done": 2, "conflicts": 1}
