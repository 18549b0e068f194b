"""Liveness means working, not existing (issue 17 §2): the gateway's ``online`` comes from
a heartbeat of its working loops, so a gateway whose pipeline thread died, still connected
to the broker with its retained ``online``, is seen as offline by the edges in bounded
time; both the gateway and the agent call an injected ``heartbeat`` while they work."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sync import topics
from sync.agent.service import AgentTuning, SyncAgent
from tests.sync.gateway.harness import SITE, SyncEnv, items, journal, mqtt_client, wait_until


def _agent(env: SyncEnv, beats: list[str]) -> SyncAgent:
    tuning = AgentTuning(poll_s=0.1, ops_interval_s=0.2, gateway_stale_s=1.5)
    agent: SyncAgent = env.start_agent("kiosk-01", tuning=tuning,
                                       heartbeat=lambda: beats.append("agent"))
    return agent


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_gateway_whose_pipeline_died_is_seen_offline(
        sync_env: SyncEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    store = sync_env.open_store()
    beats: list[str] = []
    gw = sync_env.start_gateway()
    gw.heartbeat_s = 0.3
    gw.heartbeat = lambda: beats.append("gateway")
    _agent(sync_env, beats)
    wait_until(lambda: store.meta.connectivity()[0] == "online", 10, what="online")
    wait_until(lambda: beats.count("gateway") >= 3 and "agent" in beats, 10,
               what="heartbeats of both")
    online = store.meta.connectivity()
    assert online[0] == "online"

    def dies(*_a: Any, **_k: Any) -> Any:
        raise SystemExit("the pipeline's loop ends (as an uncaught error would end it)")

    monkeypatch.setattr(gw, "_process_batch", dies)
    journal(store, "checkout", items(1)[0])  # the pipeline that takes it dies
    wait_until(lambda: not gw.working(), 10, what="the gateway to stop working")
    assert gw.connected.is_set()  # the process and its broker session are still there
    with mqtt_client(sync_env.broker.port) as observer:
        observer.subscribe(topics.status(SITE, gw.gateway_id))
        retained = json.loads(observer.get(5).payload)
    assert retained["state"] == "online"  # what the edges used to believe
    before = beats.count("gateway")
    wait_until(lambda: store.meta.connectivity()[0] == "offline", 10,
               what="the edge to see the gateway offline")
    assert beats.count("gateway") == before  # no heartbeat since it stopped working
    assert "agent" in beats


def test_a_gateway_cut_off_from_its_broker_still_feeds_its_watchdog(sync_env: SyncEnv) -> None:
    """A broker restart is not a hang: while paho reconnects (its back-off reaches 30 s), the
    gateway's threads work and its watchdog hook goes on, so a supervisor does not restart a
    healthy gateway; it just publishes no ``online`` until it is back."""
    beats: list[float] = []
    gw = sync_env.start_gateway()
    gw.heartbeat_s = 0.2
    gw.heartbeat = lambda: beats.append(1)
    wait_until(lambda: len(beats) >= 2, 10, what="heartbeats while connected")
    sync_env.broker.stop()
    wait_until(lambda: not gw.connected.is_set(), 10, what="the gateway to see the broker gone")
    published = gw.stats["heartbeats"]
    before = len(beats)
    wait_until(lambda: len(beats) >= before + 5, 10, what="heartbeats without a broker")
    assert gw.working() and not gw.connected.is_set()
    assert gw.stats["heartbeats"] >= published + 5
    sync_env.broker.start()
    wait_until(gw.connected.is_set, 60, what="the gateway back on its broker")
    with mqtt_client(sync_env.broker.port) as observer:
        observer.subscribe(topics.status(SITE, gw.gateway_id))
        assert json.loads(observer.get(10).payload)["state"] == "online"


def test_a_gateways_status_reports_its_own_starts(sync_env: SyncEnv) -> None:
    """The central console's restart count of a gateway: its retained status carries the
    starts counted in its ledger, one more after each start."""
    gw = sync_env.start_gateway()
    with mqtt_client(sync_env.broker.port) as observer:
        observer.subscribe(topics.status(SITE, gw.gateway_id))
        first = json.loads(observer.get(5).payload)
    assert (first["role"], first["starts"]) == ("gateway", {"gateway": 1})
    gw.stop()
    again = sync_env.start_gateway()
    with mqtt_client(sync_env.broker.port) as observer:
        observer.subscribe(topics.status(SITE, again.gateway_id))
        wait_until(lambda: json.loads(observer.get(5).payload)["starts"] == {"gateway": 2},
                   10, what="the second start in the retained status")
