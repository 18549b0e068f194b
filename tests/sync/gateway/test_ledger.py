"""The idempotency ledger, on SQLite and on PostgreSQL (same tests, ``ledger_url`` param)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable

from sync.gateway.ledger import Ledger


def _req(item: str = "30001234", created: str = "2026-11-23T12:00:00+00:00", **kw) -> dict:
    return {"v": 1, "key": str(uuid.uuid4()), "kind": "checkout", "site": "demo-site",
            "device": "kiosk-01", "patron": "2000001", "item": item, "created_at": created,
            "offline": False, "payload": {}, **kw}


def test_first_claim_is_new_then_done_replays_the_result(make_ledger: Callable[..., Ledger]) -> None:
    led = make_ledger()
    req = _req()
    assert led.claim(req).outcome == "new"
    assert led.claim(req).outcome == "busy"  # our own live lease: no second ILS call
    assert led.complete(req["key"], {"ok": True, "due_date": "2026-12-07"}, "applied")
    again = led.claim(req)
    assert again.outcome == "done"
    assert again.row.result == {"ok": True, "due_date": "2026-12-07"}
    assert again.row.status == "applied"
    assert led.counts() == {"done": 1, "conflicts": 0}


def test_expired_lease_is_recovered_by_exactly_one_gateway(make_ledger: Callable[..., Ledger]) -> None:
    a, b, c = make_ledger("gw-a", lease_s=5), make_ledger("gw-b", lease_s=5), make_ledger("gw-c")
    req = _req()
    t0 = 1_000_000.0
    assert a.claim(req, now=t0).outcome == "new"
    assert b.claim(req, now=t0 + 1).outcome == "busy"
    outcomes = [b.claim(req, now=t0 + 6).outcome, c.claim(req, now=t0 + 6).outcome]
    assert sorted(outcomes) == ["busy", "recover"]
    row = b.get(req["key"])
    assert row is not None and row.attempts == 2
    # The old owner lost its lease: its late result is not stored.
    assert not a.complete(req["key"], {"ok": True}, "applied")
    winner = b if outcomes[0] == "recover" else c
    assert winner.complete(req["key"], {"ok": True}, "applied")
    assert a.claim(req).outcome == "done"


def test_expired_lists_unfinished_intents(make_ledger: Callable[..., Ledger]) -> None:
    led = make_ledger(lease_s=10)
    r1, r2 = _req(item="A"), _req(item="B")
    led.claim(r1, now=100.0)
    led.claim(r2, now=105.0)
    assert [r.key for r in led.expired(now=111.0)] == [r1["key"]]
    assert {r.key for r in led.expired(now=116.0)} == {r1["key"], r2["key"]}
    led.release(r2["key"], now=106.0)
    assert r2["key"] in [r.key for r in led.expired(now=106.5)]


def test_conflict_is_stored_with_the_result(make_ledger: Callable[..., Ledger]) -> None:
    led = make_ledger()
    req = _req(offline=True)
    led.claim(req)
    conflict = {**req, "reason": "patron blocked"}
    assert led.complete(req["key"], {"ok": False}, "conflict", conflict)
    rows = led.conflicts("demo-site")
    assert [(r.key, r.reason, r.item) for r in rows] == [(req["key"], "patron blocked", "30001234")]
    assert led.conflicts("other-site") == []


def test_open_before_orders_per_item(make_ledger: Callable[..., Ledger]) -> None:
    led = make_ledger()
    first = _req(item="X", created="2026-11-23T12:00:00+00:00")
    second = _req(item="X", created="2026-11-23T12:00:05+00:00", kind="checkin")
    led.claim(first)
    assert led.open_before("demo-site", "X", second["created_at"], second["key"]) == [first["key"]]
    led.complete(first["key"], {"ok": True}, "applied")
    assert led.open_before("demo-site", "X", second["created_at"], second["key"]) == []


def test_concurrent_claims_have_one_winner(make_ledger: Callable[..., Ledger]) -> None:
    ledgers = [make_ledger(f"gw-{i}") for i in range(4)]
    reqs = [_req(item=f"I{i}") for i in range(50)]
    wins: list[str] = []
    lock = threading.Lock()

    def run(led: Ledger) -> None:
        for r in reqs:
            if led.claim(r).outcome == "new":
                with lock:
                    wins.append(r["key"])

    threads = [threading.Thread(target=run, args=(led,)) for led in ledgers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == sorted(r["key"] for r in reqs)


def test_reopening_keeps_rows(ledger_url: str) -> None:
    from sync.gateway.ledger import open_ledger

    led = open_ledger(ledger_url, "gw-1")
    req = _req()
    led.claim(req)
    led.complete(req["key"], {"ok": True}, "applied")
    led.close()
    led = open_ledger(ledger_url, "gw-2")
    try:
        assert led.claim(req).outcome == "done"
    finally:
        led.close()


def test_a_gateways_starts_are_counted_per_gateway_across_reopening(ledger_url: str) -> None:
    """The fleet showed "—" for a gateway's restarts: its starts are now counted in its
    ledger (several gateways may share one), like a box's in its store."""
    from sync.gateway.ledger import open_ledger

    led = open_ledger(ledger_url, "gw-1")
    assert led.count_start("gw-1") == 1
    led.close()
    led = open_ledger(ledger_url, "gw-1")
    try:
        assert led.count_start("gw-1") == 2
        assert led.count_start("gw-2") == 1
        assert led.count_start("gw-1") == 3
    finally:
        led.close()


def test_the_delta_mark_and_what_was_completed_since(make_ledger: Callable[..., Ledger]) -> None:
    a, b = make_ledger("gw-a"), make_ledger("gw-b")
    assert a.deltas_sent_before("gw-a") is None  # never recorded
    a.record_deltas_sent("gw-a", 1000.25)
    a.record_deltas_sent("gw-a", 1500.5)
    assert a.deltas_sent_before("gw-a") == 1500.5 and a.deltas_sent_before("gw-b") is None
    reqs = [_req(item=f"3000{i}") for i in range(4)]
    for req, led in zip(reqs, (a, a, b, a), strict=True):
        led.claim(req)
    assert a.complete_many([(reqs[0]["key"], {"ok": True}, "applied", None)], now=1400.0) == [True]
    assert a.complete_many([(reqs[1]["key"], {"ok": True}, "applied", None),
                            (reqs[3]["key"], {"ok": True}, "applied", None)], now=1600.0) == [True, True]
    assert b.complete_many([(reqs[2]["key"], {"ok": True}, "applied", None)], now=1700.0) == [True]
    # a's own rows completed at or after the mark, oldest first; b's and older ones not
    assert sorted(r.key for r in a.completed_since(1500.5)) == sorted([reqs[1]["key"],
                                                                      reqs[3]["key"]])
    assert [r.key for r in a.completed_since(1000.0, limit=1)] == [reqs[0]["key"]]
    assert [r.key for r in b.completed_since(0.0)] == [reqs[2]["key"]]
