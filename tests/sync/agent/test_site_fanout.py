"""What a box publishes to its whole site, without a broker: the status's backlog counts
only the work that waits (``status_backlog_age_s``), and the live counters go at most every
``stats_live_interval_s`` (issue 17 §4: every box of the site receives each publish)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt

from edge.store.connection import stamp
from sync import topics
from sync.agent.ops import OpsStreams
from sync.agent.service import AgentTuning, SyncAgent
from tests.support.clock import ManualClock

OK = mqtt.ReasonCode(mqtt.PacketTypes.PUBACK, "Success")


class _Info:
    def __init__(self, mid: int) -> None:
        self.rc, self.mid = mqtt.MQTT_ERR_SUCCESS, mid


class PublishLog:
    """Stands in for paho: keeps every publish as ``(topic, decoded payload)``."""

    def __init__(self) -> None:
        self.published: list[tuple[str, dict[str, Any]]] = []

    def publish(self, topic: str, payload: bytes, qos: int = 0, retain: bool = False,
                properties: Any = None) -> _Info:
        self.published.append((topic, json.loads(payload)))
        return _Info(len(self.published))

    def on(self, topic: str) -> list[dict[str, Any]]:
        return [p for t, p in self.published if t == topic]


def _agent(store: Any, **tuning: Any) -> tuple[SyncAgent, PublishLog]:
    client = PublishLog()
    agent = SyncAgent(store, site="s1", device="kiosk-01", client=client,  # type: ignore[arg-type]
                      host="127.0.0.1", port=1, tuning=AgentTuning(**tuning))
    agent.connected.set()
    return agent, client


def _journal_in_flight(store: Any, item: str) -> str:
    key: str = store.outbox.append("checkout", {}, item_id=item, patron_ref="2000001").key
    assert store.outbox.mark_sent(key) == [key]
    return key


def _journaled_ago(store: Any, key: str, seconds: float) -> None:
    with store.transaction() as conn:
        conn.execute("UPDATE outbox SET created_at = ? WHERE key = ?",
                     (stamp(datetime.now(UTC) - timedelta(seconds=seconds)), key))


# ---- the status's backlog -----------------------------------------------------------------

def test_an_entry_in_flight_publishes_no_new_status_and_one_that_waits_does(store: Any) -> None:
    # ops_interval_s=0: every call is an ops pass.
    agent, client = _agent(store, ops_interval_s=0.0, status_backlog_age_s=10.0)
    status = topics.status("s1", "kiosk-01")
    agent.status.publish_if_changed()
    assert [s["backlog"] for s in client.on(status)] == [0]
    key = _journal_in_flight(store, "30001")
    agent.status.publish_if_changed()
    assert [s["backlog"] for s in client.on(status)] == [0]  # in flight: nothing new
    _journaled_ago(store, key, 11.0)  # no answer for longer than the age: it waits
    agent.status.publish_if_changed()
    assert [s["backlog"] for s in client.on(status)] == [0, 1]
    store.outbox.record_result(key, {"ok": True}, "applied")
    agent.status.publish_if_changed()
    assert [s["backlog"] for s in client.on(status)] == [0, 1, 0]


def test_with_backlog_age_0_every_open_entry_counts(store: Any) -> None:
    agent, client = _agent(store, ops_interval_s=0.0, status_backlog_age_s=0.0)
    status = topics.status("s1", "kiosk-01")
    agent.status.publish_if_changed()
    key = _journal_in_flight(store, "30001")
    agent.status.publish_if_changed()
    store.outbox.record_result(key, {"ok": True}, "applied")
    agent.status.publish_if_changed()
    assert [s["backlog"] for s in client.on(status)] == [0, 1, 0]


# ---- live statistics ----------------------------------------------------------------------


def _ops(agent: SyncAgent, clock: ManualClock, replay: list[bool]) -> OpsStreams:
    """The agent's operations streams on ``clock``; ``replay`` holds the answers of
    ``replay_stats`` still to come (False once it is empty)."""
    return OpsStreams(agent.ctx, agent.acks, clock=clock,
                      replay_stats=lambda: replay.pop(0) if replay else False)


def _pass(agent: SyncAgent, ops: OpsStreams) -> None:
    """One ops pass, its PUBACKs arriving at once."""
    ops.publish()
    for mid in agent.acks.waiting():
        agent.acks.acked(mid, OK, 0.0)


def test_live_counters_go_at_most_every_interval_and_the_last_change_is_not_lost(
        store: Any) -> None:
    agent, client = _agent(store, ops_interval_s=2.0, stats_live_interval_s=15.0)
    clock, replay = ManualClock(), []
    ops = _ops(agent, clock, replay)
    live = topics.stats_live("s1", "kiosk-01")

    def checkouts() -> list[int]:
        return [p["counters"]["checkout"] for p in client.on(live)]

    store.counters.incr("checkout", 1)
    _pass(agent, ops)
    assert checkouts() == [1]  # the first change goes at once
    for _ in range(2):  # two changes inside the interval, an ops pass after each
        clock.now += 2.0
        store.counters.incr("checkout", 1)
        _pass(agent, ops)
    assert checkouts() == [1]
    clock.now += 11.0  # the interval has passed: the counters as they are now
    _pass(agent, ops)
    assert checkouts() == [1, 3]
    clock.now += 16.0  # no change: nothing goes
    _pass(agent, ops)
    assert checkouts() == [1, 3]
    # Inside the interval again, a box (re)joins: its replay goes at once.
    store.counters.incr("checkout", 1)
    clock.now += 2.0
    _pass(agent, ops)
    assert checkouts() == [1, 3, 4]
    store.counters.incr("checkout", 1)
    clock.now += 2.0
    replay.append(True)
    _pass(agent, ops)
    assert checkouts() == [1, 3, 4, 5]


def test_with_live_interval_0_every_pass_that_sees_a_change_publishes(store: Any) -> None:
    agent, client = _agent(store, ops_interval_s=2.0, stats_live_interval_s=0.0)
    clock = ManualClock()
    ops = _ops(agent, clock, [])
    for _ in range(3):
        store.counters.incr("checkout", 1)
        _pass(agent, ops)
        clock.now += 2.0
    assert [p["counters"] for p in client.on(topics.stats_live("s1", "kiosk-01"))] == [
        {"checkout": 1}, {"checkout": 2}, {"checkout": 3}]
