"""The central console's commands through a real Mosquitto (with the production ACLs), the
real agent and its edge store: stored once, carried out, acknowledged with the outcome; the
box's failed security tasks reported (retained) for the console."""

from __future__ import annotations

import json
import queue
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sync import topics
from sync.broker import central_acl, device_acl
from sync.messages import Command, CommandAck, SecurityTaskReport, decode, encode
from tests.sync.gateway.harness import SITE, MqttProbe, SyncEnv, mqtt_client, wait_until

PASSWORDS = {"kiosk-01": "kiosk-pw", "kiosk-02": "kiosk2-pw", "central": "central-pw"}
CENTRAL_READS = ["smartlib/v1/+/+/command/ack", "smartlib/v1/+/+/security"]
CENTRAL_WRITES = ["smartlib/v1/+/+/command"]


@pytest.fixture
def acl_broker(mosquitto_factory: Any) -> Any:
    acl = "\n".join([device_acl(SITE, "kiosk-01"), device_acl(SITE, "kiosk-02"),
                     central_acl("central", CENTRAL_READS, CENTRAL_WRITES)])
    return mosquitto_factory(users=PASSWORDS, acl=acl)


@pytest.fixture
def env(tmp_path: Path, acl_broker: Any) -> Any:
    e = SyncEnv(tmp_path, acl_broker, None)
    try:
        yield e
    finally:
        e.close()


def next_message(probe: MqttProbe, topic: str, pred: Any = lambda _m: True,
                 timeout: float = 20.0) -> Any:
    """The next message on ``topic`` that ``pred`` accepts (others are skipped)."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no matching message on {topic}")
        try:
            m = probe.get(timeout=left)
        except queue.Empty as exc:
            raise AssertionError(f"no matching message on {topic}") from exc
        if m.topic == topic and pred(m):
            return m


def command(action: str, target: str, *, device: str = "kiosk-01",
            resolution: str | None = None, command_id: str | None = None,
            expires_at: datetime | None = None) -> Command:
    return Command(command_id=command_id or str(uuid.uuid4()), site=SITE, device=device,
                   action=action, target=target, resolution=resolution, issued_by="lan",  # type: ignore[arg-type]
                   expires_at=expires_at)


def failed_release(store: Any, item: str, uid: str) -> Any:
    task = store.security.create(item, uid, "release")
    return store.security.record_failure(task.id, "RfidError: no answer", alarm=True)


def test_commands_are_stored_once_carried_out_and_acknowledged(env: Any) -> None:
    store = env.open_store("kiosk-01")
    task = failed_release(store, "3000123", "e004010000000001")
    store.conflicts.add("9a1f3e0c-0000-4000-8000-000000000001", "checkout",
                        item_id="3000200", patron_ref=None, reason="refused by the ILS")
    ack_topic = topics.command_ack(SITE, "kiosk-01")
    report_topic = topics.security_tasks(SITE, "kiosk-01")
    with mqtt_client(env.broker.port, user="central", password="central-pw",
                     client_id="central-test") as centre:
        centre.subscribe(ack_topic)
        centre.subscribe(report_topic)
        env.start_agent("kiosk-01", user="kiosk-01", password="kiosk-pw")

        # The failed release is reported, retained, with what staff need to decide.
        m = next_message(centre, report_topic,
                         lambda m: decode(SecurityTaskReport, m.payload).tasks)
        [reported] = decode(SecurityTaskReport, m.payload).tasks
        assert (reported.task_id, reported.item, reported.action, reported.state,
                reported.attempts, reported.last_error) == (
            task.id, "3000123", "release", "alarm_on", 1, "RfidError: no answer")

        # Abandon: carried out in the edge store, acknowledged done; the report empties.
        abandon = command("abandon_security", str(task.id))
        assert centre.publish(topics.command(SITE, "kiosk-01"), encode(abandon)) == 0
        ack = decode(CommandAck, next_message(centre, ack_topic).payload)
        assert (ack.command_id, ack.action, ack.outcome, ack.reason) == (
            abandon.command_id, "abandon_security", "done", None)
        after = store.security.get(task.id)
        assert after.state == "abandoned" and after.last_error == "abandoned by lan"
        next_message(centre, report_topic, lambda m: not decode(SecurityTaskReport,
                                                                m.payload).tasks)

        # The same command again (a re-delivery): answered again, not carried out twice.
        assert centre.publish(topics.command(SITE, "kiosk-01"), encode(abandon)) == 0
        again = decode(CommandAck, next_message(centre, ack_topic).payload)
        assert (again.command_id, again.outcome) == (abandon.command_id, "done")
        assert store.query_one("SELECT COUNT(*) AS n FROM commands")["n"] == 1

        # A new abandon of a task no longer open fails, with the reason.
        late = command("abandon_security", str(task.id))
        centre.publish(topics.command(SITE, "kiosk-01"), encode(late))
        ack = decode(CommandAck, next_message(centre, ack_topic).payload)
        assert (ack.command_id, ack.outcome, ack.reason) == (
            late.command_id, "failed", f"security task {task.id} is abandoned")

        # Resolving a conflict resolves the box's own copy (by transaction key).
        resolve = command("resolve_conflict", "9a1f3e0c-0000-4000-8000-000000000001",
                          resolution="loan_stands")
        centre.publish(topics.command(SITE, "kiosk-01"), encode(resolve))
        ack = decode(CommandAck, next_message(centre, ack_topic).payload)
        assert (ack.command_id, ack.outcome) == (resolve.command_id, "done")
        assert store.conflicts.list(unresolved_only=True) == []

        # Retry waits for the edge's security service; its outcome is then acknowledged.
        second = failed_release(store, "3000124", "e004010000000002")
        retry = command("retry_security", str(second.id))
        centre.publish(topics.command(SITE, "kiosk-01"), encode(retry))
        wait_until(lambda: store.commands.pending("retry_security"), what="the stored retry")
        with pytest.raises(AssertionError):
            next_message(centre, ack_topic, timeout=1.0)  # nothing before the edge acted
        store.commands.finish(retry.command_id, "failed", "RfidError: no answer")
        ack = decode(CommandAck, next_message(centre, ack_topic).payload)
        assert (ack.command_id, ack.outcome, ack.reason) == (
            retry.command_id, "failed", "RfidError: no answer")
        wait_until(lambda: store.commands.get(retry.command_id).acked_at,
                   what="the acknowledgement marked sent")


def test_bad_or_foreign_commands_are_dead_letters(env: Any) -> None:
    store = env.open_store("kiosk-01")
    agent = env.start_agent("kiosk-01", user="kiosk-01", password="kiosk-pw")
    with mqtt_client(env.broker.port, user="central", password="central-pw",
                     client_id="central-test") as centre:
        assert centre.publish(topics.command(SITE, "kiosk-01"), b"{not json") == 0
        foreign = command("abandon_security", "1", device="kiosk-02")
        centre.publish(topics.command(SITE, "kiosk-01"), encode(foreign))
        no_resolution = json.loads(encode(command("abandon_security", "1")))
        no_resolution.update(action="resolve_conflict")
        centre.publish(topics.command(SITE, "kiosk-01"), json.dumps(no_resolution).encode())
    wait_until(lambda: agent.stats.dead_letters == 3, what="three dead letters")
    reasons = [e.detail["reason"] for e in store.events.dead_letters()]
    assert any("JSON" in r for r in reasons) and any("kiosk-02" in r for r in reasons)
    assert any("resolution" in r for r in reasons)
    assert store.query_one("SELECT COUNT(*) AS n FROM commands")["n"] == 0


def test_the_acls_let_only_the_centre_command_and_only_the_box_answer(acl_broker: Any) -> None:
    port = acl_broker.port
    cmd = encode(command("abandon_security", "1"))
    with mqtt_client(port, user="kiosk-01", password="kiosk-pw", client_id="k1") as box:
        # A box cannot command itself or another box; it answers and reports only its own.
        assert box.publish(topics.command(SITE, "kiosk-01"), cmd) == 0x87
        assert box.publish(topics.command(SITE, "kiosk-02"), cmd) == 0x87
        assert box.publish(topics.command_ack(SITE, "kiosk-02"), b"{}") == 0x87
        assert box.publish(topics.security_tasks(SITE, "kiosk-02"), b"{}") == 0x87
        assert box.publish(topics.command_ack(SITE, "kiosk-01"), b"{}") in (0, 0x10)
    with mqtt_client(port, user="central", password="central-pw", client_id="c1") as centre:
        assert centre.publish(topics.command(SITE, "kiosk-02"), cmd) in (0, 0x10)
        assert centre.publish(topics.tx(SITE, "kiosk-01"), b"{}") == 0x87
        assert centre.publish(topics.command_ack(SITE, "kiosk-01"), b"{}") == 0x87


def test_an_outcome_not_yet_acknowledged_is_sent_after_a_restart(env: Any) -> None:
    # As a crash leaves it: the command carried out (in the store), its answer never sent.
    store = env.open_store("kiosk-01")
    task = failed_release(store, "3000125", "e004010000000003")
    command_id = str(uuid.uuid4())
    record, new = store.commands.receive(command_id, "abandon_security", str(task.id),
                                         issued_by="lan")
    assert new and record.state == "done" and record.acked_at is None
    ack_topic = topics.command_ack(SITE, "kiosk-01")
    with mqtt_client(env.broker.port, user="central", password="central-pw",
                     client_id="central-test") as centre:
        centre.subscribe(ack_topic)
        env.start_agent("kiosk-01", user="kiosk-01", password="kiosk-pw")
        ack = decode(CommandAck, next_message(centre, ack_topic).payload)
        assert (ack.command_id, ack.outcome) == (command_id, "done")
    wait_until(lambda: store.commands.get(command_id).acked_at, what="marked sent")


def test_a_command_received_after_its_expiry_is_not_carried_out(env: Any) -> None:
    store = env.open_store("kiosk-01")
    task = failed_release(store, "3000125", "e004010000000003")
    ack_topic = topics.command_ack(SITE, "kiosk-01")
    report_topic = topics.security_tasks(SITE, "kiosk-01")
    with mqtt_client(env.broker.port, user="central", password="central-pw",
                     client_id="central-test") as centre:
        centre.subscribe(ack_topic)
        centre.subscribe(report_topic)
        env.start_agent("kiosk-01", user="kiosk-01", password="kiosk-pw")
        next_message(centre, report_topic)  # the agent is connected and subscribed
        # The console gave up on it an hour ago (the box was away): the box must not act.
        stale = command("abandon_security", str(task.id),
                        expires_at=datetime.now(UTC) - timedelta(hours=1))
        assert centre.publish(topics.command(SITE, "kiosk-01"), encode(stale)) == 0
        ack = decode(CommandAck, next_message(centre, ack_topic).payload)
        assert (ack.command_id, ack.outcome) == (stale.command_id, "failed")
        assert ack.reason is not None and ack.reason.startswith("expired at ")
        assert store.security.get(task.id).state == "alarm_on"  # not abandoned
        # One still valid is carried out as before.
        fresh = command("abandon_security", str(task.id),
                        expires_at=datetime.now(UTC) + timedelta(hours=1))
        centre.publish(topics.command(SITE, "kiosk-01"), encode(fresh))
        ack = decode(CommandAck, next_message(centre, ack_topic).payload)
        assert (ack.command_id, ack.outcome) == (fresh.command_id, "done")
        assert store.security.get(task.id).state == "abandoned"
