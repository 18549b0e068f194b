"""Failed security tasks through TestClient and the collector: the boxes' reports, Retry
and Abandon (commands, audited; a viewer gets 403), and the outcomes the boxes send."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from central.collector import CentralCollector, make_collector_client
from central.config import CentralSection
from central.db import stamp
from central.dispatch import CommandDispatcher
from central.store import CentralStore
from central.web.app import create_app
from smartlib.config import BrokerSection
from sync import topics
from sync.messages import CommandAck, SecurityTaskReport, SecurityTaskState, encode
from tests.central.conftest import Clock, make_auth
from tests.central.test_web import PASSWORD, csrf, login

AT = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


def report(*task_ids: int, device: str = "kiosk-01") -> bytes:
    return encode(SecurityTaskReport(site="hn-01", device=device, tasks=[
        SecurityTaskState(task_id=i, item=f"30001{i:02d}", uid=f"e0040100000000{i:02d}",
                          action="release", state="alarm_on", attempts=3,
                          last_error="RfidError: no answer", created_at=AT, updated_at=AT)
        for i in task_ids]))


@pytest.fixture
def collector(store: CentralStore, clock: Clock) -> CentralCollector:
    client = make_collector_client(BrokerSection(), "central-unit")
    return CentralCollector(store, client, host="127.0.0.1", port=1, clock=clock)


@pytest.fixture
def console(store: CentralStore, clock: Clock,
            collector: CentralCollector) -> Iterator[TestClient]:
    auth = make_auth(store, clock)
    auth.create_account("lan", PASSWORD, role="librarian")
    auth.create_account("xem", PASSWORD, role="viewer")
    assert collector.handle(topics.security_tasks("hn-01", "kiosk-01"), report(7, 8)) == "security"
    with TestClient(create_app(store, auth, CentralSection(), poll_s=0.05)) as client:
        yield client


def test_reports_replace_the_boxes_failed_tasks(collector: CentralCollector,
                                                store: CentralStore) -> None:
    topic = topics.security_tasks("hn-01", "kiosk-01")
    assert collector.handle(topic, report(7, 8)) == "security"
    assert collector.handle(topics.security_tasks("hn-01", "kiosk-02"),
                            report(7, device="kiosk-02")) == "security"
    assert [(t.device_id, t.task_id) for t in store.security_tasks.list()] == [
        ("kiosk-01", 7), ("kiosk-01", 8), ("kiosk-02", 7)]
    assert collector.handle(topic, report(8)) == "security"  # task 7 is no longer failing
    assert [(t.device_id, t.task_id) for t in store.security_tasks.list(site_id="hn-01")] == [
        ("kiosk-01", 8), ("kiosk-02", 7)]
    assert not store.security_tasks.get("hn-01", "kiosk-01", 7).failing
    # A report naming another box than its topic is a dead letter.
    assert collector.handle(topic, report(9, device="kiosk-02")) == "dead"


def test_a_viewer_sees_but_cannot_act(console: TestClient, store: CentralStore) -> None:
    login(console, "xem")
    tasks = console.get("/api/tasks").json()
    assert [(t["device"], t["task_id"], t["item"], t["last_error"]) for t in tasks] == [
        ("kiosk-01", 7, "3000107", "RfidError: no answer"),
        ("kiosk-01", 8, "3000108", "RfidError: no answer")]
    page = console.get("/tasks?lang=en")
    assert "3000107" in page.text and 'class="task-abandon"' not in page.text
    for action in ("retry", "abandon"):
        r = console.post(f"/api/tasks/hn-01/kiosk-01/7/{action}",
                         headers={"X-CSRF-Token": csrf(console)})
        assert r.status_code == 403
        r = console.post(f"/tasks/hn-01/kiosk-01/7/{action}", follow_redirects=False,
                         data={"csrf_token": csrf(console)})
        assert r.status_code == 403
    assert store.commands.list() == []


def test_abandon_and_retry_become_commands_with_their_outcome(
        console: TestClient, store: CentralStore, collector: CentralCollector) -> None:
    login(console, "lan")
    token = csrf(console)
    r = console.post("/api/tasks/hn-01/kiosk-01/7/abandon", headers={"X-CSRF-Token": token})
    assert r.status_code == 200
    abandon = r.json()
    assert (abandon["action"], abandon["target"], abandon["state"], abandon["sent"]) == (
        "abandon_security", "7", "pending", False)
    assert console.post("/api/tasks/hn-01/kiosk-01/99/abandon",
                        headers={"X-CSRF-Token": token}).status_code == 404
    assert console.post("/api/tasks/hn-01/kiosk-01/7/forget",
                        headers={"X-CSRF-Token": token}).status_code == 400
    r = console.post("/tasks/hn-01/kiosk-01/8/retry", data={"csrf_token": token},
                     follow_redirects=False)
    assert r.status_code == 303
    retry = next(c for c in store.commands.list() if c.action == "retry_security")
    audit = {(e.action, e.target) for e in store.audit.list()}
    assert {("security_task.abandon", "security_task:hn-01/kiosk-01/7"),
            ("security_task.retry", "security_task:hn-01/kiosk-01/8")} <= audit

    # The boxes answer through the collector: the outcome shows on the page and the API.
    ack_topic = topics.command_ack("hn-01", "kiosk-01")
    done = CommandAck(command_id=abandon["command_id"], site="hn-01", device="kiosk-01",
                      action="abandon_security", outcome="done")
    assert collector.handle(ack_topic, encode(done)) == "command_ack"
    failed = CommandAck(command_id=retry.command_id, site="hn-01", device="kiosk-01",
                        action="retry_security", outcome="failed",
                        reason="RfidError: tag not in the field")
    collector.handle(ack_topic, encode(failed))
    # The box sends an answer again (after a crash before it saw the PUBACK): no change.
    assert collector.handle(ack_topic, encode(failed)) == "command_ack"
    assert console.get(f"/api/commands/{abandon['command_id']}").json()["state"] == "done"
    shown = console.get(f"/api/commands/{retry.command_id}").json()
    assert (shown["state"], shown["reason"]) == ("failed", "RfidError: tag not in the field")
    page = console.get("/tasks?lang=en").text
    assert "RfidError: tag not in the field" in page and "Done" in page
    # An acknowledgement from another box for this command changes nothing.
    forged = CommandAck(command_id=abandon["command_id"], site="hn-01", device="kiosk-02",
                        action="abandon_security", outcome="failed", reason="forged")
    collector.handle(topics.command_ack("hn-01", "kiosk-02"), encode(forged))
    assert store.commands.get(abandon["command_id"]).state == "done"


def test_a_command_the_box_never_answers_expires(console: TestClient, store: CentralStore,
                                                 collector: CentralCollector,
                                                 clock: Clock) -> None:
    login(console, "lan")
    r = console.post("/api/tasks/hn-01/kiosk-01/7/abandon", headers={"X-CSRF-Token": csrf(console)})
    command = r.json()
    issued = store.commands.get(command["command_id"])
    # [central] command_ttl_hours (72 by default) after it was issued; the box is told.
    assert issued.expires_at == stamp(clock() + timedelta(hours=72))
    store.commands.mark_sent(issued.command_id, stamp(clock()))
    dispatcher = CommandDispatcher(store, collector.client, collector.connected, clock=clock)
    clock.advance(hours=71)
    assert dispatcher.expire_due() == 0
    clock.advance(hours=2)
    assert dispatcher.expire_due() == 1
    login(console, "lan")  # the session of 12 hours is long over
    shown = console.get(f"/api/commands/{issued.command_id}").json()
    assert (shown["state"], shown["reason"]) == (
        "expired", "not answered by the box before it expired")
    assert "Expired (no answer from the box)" in console.get("/tasks?lang=en").text
    # Expired and never sent: the dispatcher does not send it any more.
    r = console.post("/api/tasks/hn-01/kiosk-01/8/retry", headers={"X-CSRF-Token": csrf(console)})
    unsent = r.json()["command_id"]
    assert [c.command_id for c in store.commands.unsent(now=stamp(clock()))] == [unsent]
    clock.advance(hours=73)
    assert store.commands.unsent(now=stamp(clock())) == []  # expired: never sent now
    dispatcher.expire_due()
    assert store.commands.get(unsent).reason == "not sent before it expired"
    # The box answers late (it refused it as expired): recorded, still expired.
    late = CommandAck(command_id=issued.command_id, site="hn-01", device="kiosk-01",
                      action="abandon_security", outcome="failed",
                      reason="expired at …: received too late, not carried out")
    assert collector.handle(topics.command_ack("hn-01", "kiosk-01"), encode(late)) == "command_ack"
    after = store.commands.get(issued.command_id)
    assert after.state == "expired" and after.acked_at is not None


def test_staff_cancel_a_pending_command(console: TestClient, store: CentralStore,
                                        collector: CentralCollector) -> None:
    login(console, "lan")
    token = csrf(console)
    first = console.post("/api/tasks/hn-01/kiosk-01/7/abandon",
                         headers={"X-CSRF-Token": token}).json()["command_id"]
    second = console.post("/api/tasks/hn-01/kiosk-01/8/abandon",
                          headers={"X-CSRF-Token": token}).json()["command_id"]
    page = console.get("/tasks?lang=en").text
    assert page.count('class="command-cancel"') == 2
    # Without the CSRF token: refused.
    assert console.post(f"/api/commands/{first}/cancel").status_code == 403
    r = console.post(f"/api/commands/{first}/cancel", headers={"X-CSRF-Token": token})
    assert r.status_code == 200
    assert (r.json()["state"], r.json()["cancelled_by"]) == ("cancelled", "lan")
    assert [c.command_id for c in store.commands.unsent()] == [second]  # never sent now
    # Twice: 409; unknown: 404.
    assert console.post(f"/api/commands/{first}/cancel",
                        headers={"X-CSRF-Token": token}).status_code == 409
    assert console.post("/api/commands/00000000-0000-4000-8000-000000000000/cancel",
                        headers={"X-CSRF-Token": token}).status_code == 404
    r = console.post(f"/commands/{second}/cancel", data={"csrf_token": token},
                     follow_redirects=False)
    assert r.status_code == 303 and store.commands.get(second).state == "cancelled"
    audit = [(e.action, e.target, e.actor) for e in store.audit.list()]
    assert ("command.cancel", f"command:{first}", "lan") in audit
    assert ("command.cancel", f"command:{second}", "lan") in audit
    assert "Cancelled" in console.get("/tasks?lang=en").text
    # A box that had it already and carried it out: its answer is the truth.
    done = CommandAck(command_id=first, site="hn-01", device="kiosk-01",
                      action="abandon_security", outcome="done")
    collector.handle(topics.command_ack("hn-01", "kiosk-01"), encode(done))
    assert store.commands.get(first).state == "done"


def test_a_viewer_cannot_cancel(console: TestClient, store: CentralStore) -> None:
    login(console, "lan")
    command = console.post("/api/tasks/hn-01/kiosk-01/7/abandon",
                           headers={"X-CSRF-Token": csrf(console)}).json()["command_id"]
    console.post("/logout", data={"csrf_token": csrf(console)})
    login(console, "xem")
    assert 'class="command-cancel"' not in console.get("/tasks").text
    assert console.post(f"/api/commands/{command}/cancel",
                        headers={"X-CSRF-Token": csrf(console)}).status_code == 403
    assert console.post(f"/commands/{command}/cancel", data={"csrf_token": csrf(console)},
                        follow_redirects=False).status_code == 403
    assert store.commands.get(command).state == "pending"


def test_a_database_made_before_command_expiry_gets_its_columns(tmp_path: Any) -> None:
    import sqlite3

    from central.db import open_database

    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.execute("CREATE TABLE commands (command_id TEXT PRIMARY KEY, site_id TEXT NOT NULL, "
                "device_id TEXT NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL, "
                "resolution TEXT, note TEXT, issued_by TEXT NOT NULL, issued_at TEXT NOT NULL, "
                "sent_at TEXT, state TEXT NOT NULL DEFAULT 'pending', reason TEXT, acked_at TEXT)")
    old.execute("INSERT INTO commands (command_id, site_id, device_id, action, target, "
                "issued_by, issued_at) VALUES ('c1', 'hn-01', 'kiosk-01', 'retry_security', "
                "'7', 'lan', '2026-12-07T02:00:00.000Z')")
    old.commit()
    old.close()
    db = open_database(str(path))
    try:
        assert {"expires_at", "cancelled_by", "closed_at"} <= db.columns("commands")
        kept = CentralStore(db).commands.get("c1")
        assert (kept.state, kept.expires_at) == ("pending", None)  # an old one never expires
    finally:
        db.close()
