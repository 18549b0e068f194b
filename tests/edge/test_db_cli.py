"""``smartlib db restore`` refuses while serve or sync holds the store, and restores whole."""

from __future__ import annotations

from pathlib import Path

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
