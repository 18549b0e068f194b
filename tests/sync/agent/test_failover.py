"""The agent moves to the next broker address when the current one cannot be reached
(issue 17 §4: a broker cluster's other node, or a standby), and nothing is lost or applied
twice: the journal is the truth, and the shared ledger answers a key it has seen."""

from __future__ import annotations

from typing import Any

from tests.sync.gateway.harness import SyncEnv, applied_keys, items, journal, wait_until


def test_the_agent_fails_over_to_the_second_broker_without_loss(
        sync_env: SyncEnv, mosquitto_factory: Any, pg_dsn: str) -> None:
    broker_a, broker_b = sync_env.broker, mosquitto_factory()
    store = sync_env.open_store()
    g_a = sync_env.start_gateway("gw-a", ledger=pg_dsn)
    g_b = sync_env.start_gateway("gw-b", ledger=pg_dsn, broker=broker_b)
    agent = sync_env.start_agent(failover=[f"127.0.0.1:{broker_b.port}"])
    assert agent.port == broker_a.port
    first = [journal(store, "checkout", it) for it in items(20)]
    wait_until(lambda: store.outbox.backlog().open == 0, 60, what="the first 20 via broker A")

    broker_a.stop()  # node A dies: the agent must reach B
    second = [journal(store, "checkin", it) for it in items(20)]
    wait_until(lambda: agent.port == broker_b.port and agent.connected.is_set(), 60,
               what="the agent on broker B")
    wait_until(lambda: store.outbox.backlog().open == 0, 60, what="the next 20 via broker B")

    assert agent.stats.failovers >= 1
    assert sorted(applied_keys(sync_env.ils)) == sorted(first + second)
    assert sync_env.ils.duplicate_count() == 0
    assert g_a.stats["applied"] == 20 and g_b.stats["applied"] == 20
    assert {e.state for e in store.outbox.list(limit=100)} == {"applied"}


def test_failover_addresses_are_validated() -> None:
    import pytest

    from smartlib.config import load_settings
    from smartlib.errors import ConfigError

    s = load_settings(None, broker={"host": "a.example", "port": 1883,
                                    "failover": ["b.example:8883", "[::1]:1884"]})
    assert s.broker.addresses() == [("a.example", 1883), ("b.example", 8883), ("::1", 1884)]
    with pytest.raises(ConfigError):
        load_settings(None, broker={"failover": ["no-port"]})
