"""Failed security tasks through TestClient and the collector: the boxes' reports, Retry
and Abandon (commands, audited; a viewer gets 403), and the outcomes the boxes send."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from central.collector import CentralCollector, make_collector_client
from central.config import CentralSection
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
