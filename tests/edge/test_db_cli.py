"""``smartlib db restore`` refuses while serve or sync holds the store, and restores whole."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from edge.store import open_store
from edge.store.cli import db
from edge.store.doorbell import Doorbell


def _store_with_one_entry(path: Path, item: str) -> None:
    with open_store(path) as store:
        store.outbox.append("checkout", {"item": item}, item_id=item, patron_ref="p1")


def test_restore_refuses_while_the_sync_agent_holds_the_store(tmp_path: Path) -> None:
    live, backup = tmp_path / "live.db", tmp_path / "backup.db"
    _store_with_one_entry(live, "A")
    _store_with_one_entry(backup, "B")
    agent_bell = Doorbell(live, "agent")
    try:
        assert agent_bell.bound
        res = CliRunner().invoke(db, ["restore", "--db", str(live), str(backup)])
    finally:
        agent_bell.close()
    assert res.exit_code == 1
    assert "smartlib sync has this store open" in res.output
    with open_store(live) as store:
        assert [e.item_id for e in store.outbox.next_sendable(10)] == ["A"]


def test_restore_replaces_the_store_when_nothing_holds_it(tmp_path: Path) -> None:
    live, backup = tmp_path / "live.db", tmp_path / "backup.db"
    _store_with_one_entry(live, "A")
    _store_with_one_entry(backup, "B")
    res = CliRunner().invoke(db, ["restore", "--db", str(live), str(backup)])
    assert res.exit_code == 0, res.output
    with open_store(live) as store:
        assert [e.item_id for e in store.outbox.next_sendable(10)] == ["B"]


def _sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_restore_refuses_while_an_idle_serve_runs(settings, reader, tmp_path: Path) -> None:
    """``serve`` started and idle (no request, no wait yet, no agent) blocks a restore."""
    from edge.services.container import EdgeServices

    svc = EdgeServices.build(settings, reader=reader)
    svc.start(background=False, poll_pad=False)
    try:
        live = svc.store.path
        svc.store.outbox.append("checkout", {"item": "A"}, item_id="A", patron_ref="p1")
        backup = tmp_path / "backup.db"
        _store_with_one_entry(backup, "B")
        res = CliRunner().invoke(db, ["restore", "--db", str(live), str(backup)])
        assert res.exit_code == 1, res.output
        assert "Error: smartlib serve has this store open" in res.output
        assert [e.item_id for e in svc.store.outbox.list()] == ["A"]
    finally:
        svc.stop()
    res = CliRunner().invoke(db, ["restore", "--db", str(live), str(backup)])  # stopped: ok
    assert res.exit_code == 0, res.output


def test_restore_refuses_while_a_serve_lock_is_held_and_works_once_its_process_died(
        tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys

    live, backup = tmp_path / "live.db", tmp_path / "backup.db"
    _store_with_one_entry(live, "A")
    _store_with_one_entry(backup, "B")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom edge.store.db import ServeLock\n"
         "ServeLock(sys.argv[1]).acquire()\nprint('held', flush=True)\ntime.sleep(120)",
         str(live)], stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(Path.cwd())})
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        res = CliRunner().invoke(db, ["restore", "--db", str(live), str(backup)])
        assert res.exit_code == 1 and "smartlib serve has this store open" in res.output
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
    # kill -9 releases the lock; the lock file left behind means nothing.
    assert (tmp_path / "live.db.serve.lock").exists()
    res = CliRunner().invoke(db, ["restore", "--db", str(live), str(backup)])
    assert res.exit_code == 0, res.output
    with open_store(live) as store:
        assert [e.item_id for e in store.outbox.list()] == ["B"]


def test_serve_does_not_start_during_a_restore(settings, reader, gateway) -> None:
    from edge.services.container import EdgeServices
    from edge.store import StoreBusy
    from edge.store.db import ServeLock

    svc = EdgeServices.build(settings, reader=reader)
    try:
        with ServeLock(settings.store.path):  # what restore holds while it copies
            with pytest.raises(StoreBusy, match="held by another process"):
                svc.start(background=False, poll_pad=False)
        svc.start(background=False, poll_pad=False)
    finally:
        svc.stop()


def test_restore_validates_the_backup_read_only_and_leaves_it_unchanged(tmp_path: Path) -> None:
    live, backup = tmp_path / "live.db", tmp_path / "b" / "backup.db"
    _store_with_one_entry(live, "A")
    with open_store(tmp_path / "src.db") as src:
        src.outbox.append("checkout", {"item": "B"}, item_id="B", patron_ref="p1")
        src.backup(backup)
    before = _sha(backup)
    res = CliRunner().invoke(db, ["restore", "--db", str(live), str(backup)])
    assert res.exit_code == 0, res.output
    assert _sha(backup) == before
    assert sorted(p.name for p in backup.parent.iterdir()) == ["backup.db"]  # no -wal/-shm
    with open_store(live) as store:
        assert [e.item_id for e in store.outbox.list()] == ["B"]
        assert store.integrity_check("full") == []


@pytest.mark.parametrize("what", ["garbage", "newer", "not_a_store", "live_wal"])
def test_restore_refuses_an_unusable_backup_and_writes_nothing(tmp_path: Path, what: str) -> None:
    import sqlite3

    from edge.store import SCHEMA_VERSION

    live, bad = tmp_path / "live.db", tmp_path / "bad.db"
    _store_with_one_entry(live, "A")
    other = None
    if what == "garbage":
        bad.write_bytes(b"not sqlite at all " * 300)
    elif what in ("newer", "not_a_store"):
        conn = sqlite3.connect(bad)
        conn.execute("CREATE TABLE t (x)" if what == "not_a_store" else "CREATE TABLE outbox (x)")
        conn.execute(f"PRAGMA user_version = {0 if what == 'not_a_store' else SCHEMA_VERSION + 1}")
        conn.commit()
        conn.close()
    else:  # a live store with uncheckpointed WAL content: not a backup
        other = open_store(bad)
        other.outbox.append("checkout", {}, item_id="C", patron_ref="p1")
    try:
        before = _sha(bad)
        res = CliRunner().invoke(db, ["restore", "--db", str(live), str(bad)])
        assert res.exit_code == 1
        assert "is not a usable store" in res.output
        expected = {"garbage": "not a usable SQLite database", "newer": "newer than this release",
                    "not_a_store": "not an edge store", "live_wal": "write-ahead log"}[what]
        assert expected in res.output
        assert _sha(bad) == before
    finally:
        if other is not None:
            other.close()
    with open_store(live) as store:
        assert [e.item_id for e in store.outbox.list()] == ["A"]


def test_db_backup_writes_a_consistent_copy(tmp_path: Path) -> None:
    live, dest = tmp_path / "live.db", tmp_path / "out" / "copy.db"
    _store_with_one_entry(live, "A")
    res = CliRunner().invoke(db, ["backup", "--db", str(live), str(dest)])
    assert res.exit_code == 0, res.output
    assert f"backed up to {dest}" in res.output
    with open_store(dest) as copy:
        assert [e.item_id for e in copy.outbox.list()] == ["A"]
        assert copy.integrity_check("full") == []


def test_db_stats_prints_counts_backlog_and_version(tmp_path: Path) -> None:
    import json

    from edge.store import SCHEMA_VERSION, ItemRecord

    live = tmp_path / "live.db"
    with open_store(live) as store:
        store.outbox.append("checkout", {}, item_id="A", patron_ref="p1")
        e = store.outbox.append("checkin", {}, item_id="B", patron_ref="p1")
        store.outbox.record_result(e.key, {"ok": True}, "applied")
        store.cache.bulk_load("items", [ItemRecord("A"), ItemRecord("B"), ItemRecord("C")])
        store.security.create("A", "E0040000000000AA", "release")
    res = CliRunner().invoke(db, ["stats", "--db", str(live)])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["schema_version"] == SCHEMA_VERSION
    assert out["tables"]["items"] == 3 and out["tables"]["outbox"] == 2
    assert out["outbox"] == {"pending": 1, "applied": 1}
    assert out["oldest_open_at"] and out["security_tasks_open"] == 1


def test_db_rebuild_cache_empties_the_cache_and_asks_for_a_snapshot(tmp_path: Path) -> None:
    from edge.store import ItemRecord, LoanRecord

    live = tmp_path / "live.db"
    with open_store(live) as store:
        store.cache.bulk_load("items", [ItemRecord("A"), ItemRecord("B")])
        store.cache.record_loan(LoanRecord("A", "p1", "2030-01-01"))
        store.outbox.append("checkout", {}, item_id="A", patron_ref="p1")
        agent_bell = store.doorbell("agent")
        res = CliRunner().invoke(db, ["rebuild-cache", "--db", str(live)])
        assert res.exit_code == 0, res.output
        assert agent_bell.wait(5)  # the agent is woken to send its SnapshotRequest
        assert store.cache.item("A") is None and store.cache.loan("A") is None
        assert store.meta.get("cache.rebuild_requested_at")
        assert [e.item_id for e in store.outbox.list()] == ["A"]  # the journal is kept
