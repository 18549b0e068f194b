"""Unit tests of edge.store: schema, journal, cache, look-ups, security tasks, doorbell."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from edge.store import (
    ClearSecret,
    HoldRecord,
    InvalidState,
    ItemRecord,
    LoanRecord,
    PatronRecord,
    SchemaTooNew,
    StoreCorrupt,
    UnknownTransaction,
    open_store,
    schema,
)
from edge.store.connection import stamp


@pytest.fixture
def store(tmp_path: Path):
    s = open_store(tmp_path / "edge.db")
    yield s
    s.close()


# ---- schema ------------------------------------------------------------------------------

def test_new_store_is_wal_and_current(store) -> None:
    assert store.query_one("PRAGMA journal_mode")[0] == "wal"
    assert store.schema_version == schema.SCHEMA_VERSION
    assert {"items", "patrons", "loans", "holds", "outbox", "security_tasks", "alarms",
            "counters", "conflicts", "device_events", "lookups", "meta"} <= set(store.db.table_names())


def test_migrations_upgrade_an_empty_v0_file(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    assert schema.migrate(conn, target=0) == []
    assert schema.current_version(conn) == 0
    conn.close()
    with open_store(path) as s:
        assert s.schema_version == schema.SCHEMA_VERSION
    with open_store(path) as s:  # a second open changes nothing
        assert s.schema_version == schema.SCHEMA_VERSION


def test_migrations_upgrade_a_populated_v1_file_and_keep_its_data(tmp_path: Path) -> None:
    """A v1 file written with v1's SQL (not today's repositories), then opened: every later
    migration runs over the data, the rows read back through the repositories, and the
    open journal entry is still sendable. With only V1 this is the "re-open is a no-op
    that keeps data" case; with more migrations it is a real upgrade."""
    path = tmp_path / "v1.db"
    conn = sqlite3.connect(path, isolation_level=None)
    assert schema.migrate(conn, target=1) == [1]
    conn.execute("BEGIN")
    conn.execute("INSERT INTO items (item_id, title, usage, value, parts) "
                 "VALUES ('3000001', 'Truyện Kiều', 1, 50, 2)")
    conn.execute("INSERT INTO loans (item_id, patron_id, due_date, loaned_at, offline) "
                 "VALUES ('3000001', '2000001', '2030-01-01', '2029-12-01T00:00:00Z', 0)")
    conn.execute("INSERT INTO outbox (key, kind, item_id, patron_ref, payload, state, "
                 "created_at, offline) VALUES ('00000000-0000-4000-8000-000000000001', "
                 "'checkin', '3000001', '2000001', '{\"x\":1}', 'pending', "
                 "'2029-12-02T00:00:00Z', 1)")
    conn.execute("COMMIT")
    conn.close()
    with open_store(path) as s:
        assert s.schema_version == schema.SCHEMA_VERSION
        assert s.cache.item("3000001") == ItemRecord("3000001", "Truyện Kiều", 1, 50, 2)
        loan = s.cache.loan("3000001")
        assert (loan.patron_id, loan.due_date) == ("2000001", "2030-01-01")
        [e] = s.outbox.next_sendable(10)
        assert (e.key, e.kind, e.payload, e.offline) == (
            "00000000-0000-4000-8000-000000000001", "checkin", {"x": 1}, True)
        assert s.integrity_check("full") == []
    with open_store(path) as s:  # opening it again migrates nothing and loses nothing
        assert s.schema_version == schema.SCHEMA_VERSION
        assert len(s.outbox.list()) == 1 and s.cache.item("3000001") is not None


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(SchemaTooNew, match="newer"):
        open_store(path)


def test_garbage_file_is_reported_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "bad.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreCorrupt):
        open_store(path)


def test_backup_is_a_consistent_copy(store, tmp_path: Path) -> None:
    store.outbox.append("checkout", {"x": 1}, item_id="i1", patron_ref="p1")
    dest = store.backup(tmp_path / "b" / "copy.db")
    with open_store(dest) as copy:
        assert [e.item_id for e in copy.outbox.list()] == ["i1"]


# ---- outbox --------------------------------------------------------------------------------

def test_append_is_pending_with_uuid_key(store) -> None:
    e = store.outbox.append("checkout", {"item": "i1"}, item_id="i1", patron_ref="p1")
    assert e.state == "pending" and len(e.key) == 36 and e.payload == {"item": "i1"}
    assert store.outbox.get(e.key) == e
    again = store.outbox.append("checkout", {"other": 2}, item_id="i1", patron_ref="p1", key=e.key)
    assert again == e  # idempotent by key


def test_next_sendable_keeps_one_in_flight_per_item(store) -> None:
    a1 = store.outbox.append("checkout", {}, item_id="A", patron_ref="p")
    b1 = store.outbox.append("checkout", {}, item_id="B", patron_ref="p")
    a2 = store.outbox.append("checkin", {}, item_id="A", patron_ref="p")
    n1 = store.outbox.append("renew_all", {}, item_id=None, patron_ref="p")
    assert [e.key for e in store.outbox.next_sendable(10)] == [a1.key, b1.key, n1.key]
    store.outbox.mark_sent(a1.key, b1.key)
    assert [e.key for e in store.outbox.next_sendable(10, include_sent=False)] == [n1.key]
    assert [e.key for e in store.outbox.next_sendable(10)] == [a1.key, b1.key, n1.key]
    store.outbox.record_result(a1.key, {"ok": True}, "applied")
    assert [e.key for e in store.outbox.next_sendable(10, include_sent=False)] == [a2.key, n1.key]
    assert store.outbox.get(a1.key).attempts == 1


def test_next_sendable_pages_on_from_a_sequence_number(store) -> None:
    es = [store.outbox.append("checkout", {}, item_id=f"P{i}", patron_ref="p") for i in range(5)]
    store.outbox.mark_sent(*(e.key for e in es))
    first = store.outbox.next_sendable(2)
    assert [e.key for e in first] == [es[0].key, es[1].key]
    rest = store.outbox.next_sendable(10, after_seq=first[-1].seq)
    assert [e.key for e in rest] == [e.key for e in es[2:]]
    assert store.outbox.next_sendable(10, after_seq=rest[-1].seq) == []


def test_record_result_is_final_and_idempotent(store) -> None:
    e = store.outbox.append("checkout", {}, item_id="A", patron_ref="p")
    done = store.outbox.record_result(e.key, {"ok": True, "due_date": "2026-12-01"}, "applied")
    assert done.state == "applied" and done.result == {"ok": True, "due_date": "2026-12-01"}
    again = store.outbox.record_result(e.key, {"ok": False}, "refused")
    assert again.state == "applied" and again.result == done.result
    with pytest.raises(InvalidState):
        store.outbox.record_result(e.key, {}, "sent")
    with pytest.raises(UnknownTransaction):
        store.outbox.record_result("nope", {}, "applied")


def test_offline_refusal_becomes_conflict(store) -> None:
    e = store.outbox.append("checkout", {}, item_id="A", patron_ref="p")
    off = store.outbox.mark_offline(e.key, {"no_block": True})
    assert off.offline and off.payload == {"no_block": True}
    res = store.outbox.record_result(e.key, {"ok": False, "message": "patron blocked"}, "refused")
    assert res.state == "conflict"
    [c] = store.conflicts.list()
    assert c.key == e.key and c.reason == "patron blocked" and c.item_id == "A"
    assert store.conflicts.resolve(c.id) and store.conflicts.list() == []


def test_mark_offline_after_result_returns_the_result(store) -> None:
    e = store.outbox.append("checkout", {}, item_id="A", patron_ref="p")
    store.outbox.record_result(e.key, {"ok": True}, "applied")
    after = store.outbox.mark_offline(e.key, {"no_block": True})
    assert after.state == "applied" and not after.offline and after.payload == {}


def test_unhandled_and_backlog(store) -> None:
    e1 = store.outbox.append("checkout", {}, item_id="A", patron_ref="p")
    e2 = store.outbox.append("checkout", {}, item_id="B", patron_ref="p")
    store.outbox.record_result(e1.key, {"ok": True}, "applied")
    assert [e.key for e in store.outbox.unhandled(terminal_only=True)] == [e1.key]
    store.outbox.mark_handled(e1.key)
    assert [e.key for e in store.outbox.unhandled()] == [e2.key]
    b = store.outbox.backlog()
    assert b.by_state == {"applied": 1, "pending": 1} and b.open == 1 and b.unhandled == 1


def test_open_count_counts_the_open_entries_older_than_an_age(store) -> None:
    old, _fresh, done = (store.outbox.append("checkout", {}, item_id=i, patron_ref="p")
                         for i in ("A", "B", "C"))
    store.outbox.mark_sent(old.key)
    store.outbox.record_result(done.key, {"ok": True}, "applied")
    with store.transaction() as conn:
        conn.execute("UPDATE outbox SET created_at = ? WHERE key IN (?, ?)",
                     (stamp(datetime.now(UTC) - timedelta(seconds=30)), old.key, done.key))
    assert store.outbox.open_count() == 2 == store.outbox.backlog().open
    assert store.outbox.open_count(older_than_s=10) == 1   # the sent one, 30 s old
    assert store.outbox.open_count(older_than_s=60) == 0
    with pytest.raises(ValueError, match="older_than_s"):
        store.outbox.open_count(older_than_s=-1)


def test_wait_for_result_wakes_on_result_from_another_thread(store) -> None:
    e = store.outbox.append("checkout", {}, item_id="A", patron_ref="p")
    t = threading.Timer(0.1, store.outbox.record_result, (e.key, {"ok": True}, "applied"))
    t.start()
    got = store.outbox.wait_for_result(e.key, timeout=5)
    t.join()
    assert got is not None and got.state == "applied"
    e2 = store.outbox.append("checkout", {}, item_id="B", patron_ref="p")
    assert store.outbox.wait_for_result(e2.key, timeout=0.05) is None


_AGENT = """
import sys, time
from edge.store import open_store
s = open_store(sys.argv[1])
bell = s.doorbell("agent")
deadline = time.monotonic() + 10
while time.monotonic() < deadline:
    batch = s.outbox.next_sendable(10)
    if batch:
        for e in batch:
            s.outbox.record_result(e.key, {"ok": True, "by": "child"}, "applied")
        break
    bell.wait(1.0)
s.close()
"""


def test_results_cross_processes_through_the_doorbell(tmp_path: Path) -> None:
    path = tmp_path / "edge.db"
    with open_store(path) as s:
        s.doorbell("edge")
        proc = subprocess.Popen([sys.executable, "-c", _AGENT, str(path)])
        try:
            time.sleep(0.3)  # let the child bind its bell (either order works; polling backs it)
            e = s.outbox.append("checkout", {}, item_id="A", patron_ref="p")
            got = s.outbox.wait_for_result(e.key, timeout=10)
        finally:
            proc.wait(15)
    assert got is not None and got.result == {"ok": True, "by": "child"}


def test_many_threads_wait_on_one_bell(store) -> None:
    keys = [store.outbox.append("checkout", {}, item_id=f"I{i}", patron_ref="p").key
            for i in range(5)]
    results: dict[str, str] = {}

    def waiter(k: str) -> None:
        r = store.outbox.wait_for_result(k, timeout=5)
        results[k] = r.state if r else "timeout"

    threads = [threading.Thread(target=waiter, args=(k,)) for k in keys]
    for t in threads:
        t.start()
    for k in keys:
        store.outbox.record_result(k, {"ok": True}, "applied")
    for t in threads:
        t.join()
    assert results == dict.fromkeys(keys, "applied")


# ---- look-ups --------------------------------------------------------------------------------

SEALED = "c2VhbGVkLWJsb2I="  # an opaque stand-in: the store never opens a sealed PIN


def test_lookup_claim_wipes_the_sealed_pin(store) -> None:
    req = store.lookups.request("patron", {"patron_id": "2000001", "pin_sealed": SEALED})
    [claimed] = store.lookups.claim()
    assert claimed.request["pin_sealed"] == SEALED
    assert "pin_sealed" not in store.lookups.get(req.id).request
    assert store.lookups.claim() == []
    store.lookups.answer(req.id, {"valid": True, "name": "Nguyen"})
    got = store.lookups.wait(req.id, timeout=1)
    assert got is not None and got.state == "answered" and got.response == {"valid": True, "name": "Nguyen"}


def test_lookup_abandon_and_timeout(store) -> None:
    req = store.lookups.request("patron", {"patron_id": "x", "pin_sealed": SEALED})
    assert store.lookups.wait(req.id, timeout=0.05) is None
    store.lookups.abandon(req.id)
    rec = store.lookups.get(req.id)
    assert rec.state == "failed" and "pin_sealed" not in rec.request


@pytest.mark.parametrize("secret", ["pin", "password"])
def test_lookup_refuses_a_clear_secret(store, secret: str) -> None:
    with pytest.raises(ClearSecret, match=secret):
        store.lookups.request("patron", {"patron_id": "2000001", secret: "1234"})
    assert store.query("SELECT * FROM lookups") == []


# ---- cache -------------------------------------------------------------------------------------

def test_bulk_load_accepts_tuples_records_and_mappings(store) -> None:
    n = store.cache.bulk_load("items", [("i1", "Title 1", 1, 100, 1, "A"),
                                        ItemRecord("i2", "Title 2", parts=2),
                                        {"item_id": "i3", "title": "T3", "value": 7}])
    assert n == 3
    assert store.cache.item("i2") == ItemRecord("i2", "Title 2", parts=2)
    assert store.cache.item("i3") == ItemRecord("i3", "T3", value=7)
    assert store.cache.item("nope") is None
    store.cache.bulk_load("items", [("i9", "x", 1, 0, 1, "")])
    assert store.cache.counts()["items"] == 1  # replace=True rebuilt the table


def test_bulk_load_of_a_generator_spans_batches_in_one_transaction(store) -> None:
    def rows():
        for i in range(25):
            yield (f"g{i:02d}", f"T{i}", 1, i, 1, "A") if i % 2 else {"item_id": f"g{i:02d}",
                                                                    "title": f"T{i}", "value": i}
    assert store.cache.bulk_load("items", rows(), batch=10) == 25
    assert store.cache.counts()["items"] == 25
    assert store.cache.item("g24") == ItemRecord("g24", "T24", value=24)
    assert store.cache.item("g13") == ItemRecord("g13", "T13", value=13, location="A")


def test_snapshot_chunks_replace_old_rows_when_complete(store) -> None:
    store.cache.bulk_load("items", [ItemRecord("old"), ItemRecord("a")])
    assert not store.cache.apply_snapshot_chunk("items", "s1", 1, 2, [ItemRecord("b")])
    store.cache.apply_delta(items=[ItemRecord("delta")])
    assert store.cache.item("old") is not None  # not complete yet
    assert not store.cache.apply_snapshot_chunk("items", "s1", 1, 2, [ItemRecord("b")])  # duplicate
    assert store.cache.apply_snapshot_chunk("items", "s1", 0, 2, [ItemRecord("a", "new title")])
    ids = set(store.cache.items(["old", "a", "b", "delta"]))
    assert ids == {"a", "b", "delta"}
    assert store.cache.item("a").title == "new title"


def test_delta_loans_holds_patrons(store) -> None:
    store.cache.apply_delta(
        loans=[LoanRecord("i1", "p1", "2026-12-01"), {"item_id": "i2", "patron_id": "p1"}],
        holds=[HoldRecord("i3", "p2", ready=True, pickup_location="MAIN")],
        patrons=[PatronRecord("p1", "Lan", blocked=True, block_reason="fines")])
    assert store.cache.is_on_loan("i1") and not store.cache.is_on_loan("i3")
    assert [loan.item_id for loan in store.cache.loans_of("p1")] == ["i1", "i2"]
    assert store.cache.holds_for_item("i3")[0].ready is True
    assert store.cache.patron("p1").blocked is True
    store.cache.apply_delta(returned_items=["i1"], deleted_holds=[("i3", "p2")])
    assert not store.cache.is_on_loan("i1") and store.cache.holds_of("p2") == []


def test_crossed_deltas_keep_each_items_latest_change(store) -> None:
    """Two gateways' deltas may arrive out of order: a loan made before a return the cache
    was told of is not cached again; a return older than the cached loan keeps it."""
    t0, t1, t2 = "2026-12-07T10:00:00+00:00", "2026-12-07T10:00:01Z", "2026-12-07T10:00:02+00:00"
    store.cache.apply_delta(returned_items=["i1"], returned_at={"i1": t1})  # return came first
    store.cache.apply_delta(loans=[LoanRecord("i1", "p1", loaned_at=t0)])   # its loan, late
    assert not store.cache.is_on_loan("i1")
    store.cache.apply_delta(loans=[LoanRecord("i1", "p2", loaned_at=t2)])   # lent again later
    assert store.cache.loan("i1").patron_id == "p2"
    store.cache.apply_delta(returned_items=["i1"], returned_at={"i1": t1})  # the old return again
    assert store.cache.loan("i1").patron_id == "p2"
    store.cache.apply_delta(returned_items=["i1"], returned_at={"i1": "2026-12-07T10:00:03Z"})
    assert not store.cache.is_on_loan("i1")
    # the edge's own late check-in result is ordered the same way
    store.cache.record_loan(LoanRecord("i1", "p3", loaned_at="2026-12-07T10:00:02.500Z"))
    assert not store.cache.is_on_loan("i1")


def test_untimed_changes_apply_as_they_come(store) -> None:
    store.cache.apply_delta(returned_items=["i1"], returned_at={"i1": "2026-12-07T10:00:01Z"})
    store.cache.apply_delta(loans=[LoanRecord("i1", "p1")])  # no loaned_at: cannot be ordered
    assert store.cache.is_on_loan("i1")
    store.cache.apply_delta(returned_items=["i1"])  # no time: off loan whatever the loan's time
    assert not store.cache.is_on_loan("i1")
    store.cache.clear()
    store.cache.apply_delta(loans=[LoanRecord("i1", "p1", loaned_at="2026-12-07T10:00:00Z")])
    assert store.cache.is_on_loan("i1")  # clear() forgot the remembered return


# ---- security tasks, alarms, counters -------------------------------------------------------------

def test_security_task_follow_up_is_journaled_once(store) -> None:
    follow = {"key": "k-1", "kind": "checkin", "payload": {"item_id": "i1"}, "item_id": "i1",
              "patron_ref": None}
    t = store.security.create("i1", "E004010012345678", "secure", follow_up=follow)
    assert store.security.create("i1", "E004010012345678", "secure").id == t.id
    failed = store.security.record_failure(t.id, "write failed", alarm=True)
    assert failed.state == "alarm_on" and failed.attempts == 1
    done, key = store.security.complete(t.id)
    assert done.state == "done" and key == "k-1"
    store.security.complete(t.id)
    assert [e.key for e in store.outbox.list()] == ["k-1"]
    assert store.security.open() == []


def test_new_security_intent_supersedes_the_opposite(store) -> None:
    r = store.security.create("i1", "UID1", "release", txn_key="t1")
    s = store.security.create("i1", "UID1", "secure")
    assert store.security.get(r.id).state == "abandoned"
    assert [t.id for t in store.security.open()] == [s.id]


def test_alarms_and_counters(store) -> None:
    a = store.alarms.raise_alarm("alarm_still_on", "release failed", item_id="i1", uid="U")
    assert store.alarms.list(unacked_only=True) == [a]
    acked = store.alarms.ack(a.id, by="staff-1")
    assert acked is not None and acked.acked_by == "staff-1"
    assert store.alarms.list(unacked_only=True) == []
    store.counters.incr("checkout", 2)
    store.counters.incr("checkout")
    store.counters.incr("return")
    assert store.counters.totals("0000") == {"checkout": 3, "return": 1}
    store.events.record("reader", "connected", {"url": "socket://x"})
    assert store.events.recent()[0].kind == "connected"
    store.meta.set("k", "v")
    assert store.meta.get("k") == "v"


def test_the_site_view_version_moves_only_on_news(store) -> None:
    from datetime import UTC, datetime

    site = store.site
    v0 = site.version()
    site.record_status("gate-02", "online", role="gate", backlog=0, since="2026-12-03T08:00:00Z")
    v1 = site.version()
    assert v1 > v0
    site.record_status("gate-02", "online", role="gate", backlog=0, since="2026-12-03T08:00:00Z",
                       reported_at="2026-12-03T08:05:00Z")  # the same status, re-published
    assert site.version() == v1
    site.record_status("gate-02", "online", role="gate", backlog=3, since="2026-12-03T08:00:00Z")
    v2 = site.version()
    assert v2 > v1
    hour = datetime(2026, 12, 3, 8, tzinfo=UTC)
    site.record_stats("gate-02", hour, {"visitors_out": 4})
    v3 = site.version()
    site.record_stats("gate-02", hour, {"visitors_out": 4})
    assert site.version() == v3 > v2
    site.record_stats("gate-02", hour, {"visitors_out": 5})
    assert site.version() > v3
    site.record_alarm("gate-02", 7, "gate", created_at="2026-12-03T08:06:00Z")
    v4 = site.version()
    site.record_alarm("gate-02", 7, "gate", created_at="2026-12-03T08:06:00Z")
    assert site.version() == v4
    site.record_alarm("gate-02", 7, "gate", created_at="2026-12-03T08:06:00Z",
                      acked_at="2026-12-03T08:07:00Z")
    assert site.version() > v4
    assert site.devices()[0].backlog == 3


def test_the_email_address_is_redacted_from_a_stored_answer(store) -> None:
    """The ILS's e-mail address stays in the session only: redact() removes it from the
    answer once read, and an answer that came after the edge gave up keeps none either."""
    req = store.lookups.request("patron", {"patron_id": "2000001"})
    store.lookups.answer(req.id, {"valid": True, "email": "a@example.org", "name": "A"})
    store.lookups.redact(req.id, "email")
    assert store.lookups.get(req.id).response == {"valid": True, "name": "A"}
    late = store.lookups.request("patron", {"patron_id": "2000002"})
    store.lookups.answer(late.id, {"valid": True, "email": "b@example.org"})
    store.lookups.abandon(late.id)
    assert "email" not in (store.lookups.get(late.id).response or {})
    with pytest.raises(ValueError):
        store.lookups.redact(req.id, "email') --")
