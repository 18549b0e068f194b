"""Exactly once across outages and crashes; two gateways; ACLs (real Mosquitto, demo ILS)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from sync.broker import device_acl, gateway_acl
from tests.sync.gateway.harness import (
    SITE,
    SyncEnv,
    applied_keys,
    items,
    journal,
    wait_until,
)


def _done(store: Any) -> bool:
    return store.outbox.backlog().open == 0


def test_broker_down_queue_grows_then_drains_without_loss(sync_env: SyncEnv) -> None:
    store = sync_env.open_store()
    sync_env.start_gateway()
    agent = sync_env.start_agent()
    sync_env.broker.stop()
    wait_until(lambda: not agent.connected.is_set(), 10, what="agent to notice")
    keys = [journal(store, "checkout", it) for it in items(60)]
    time.sleep(0.5)
    backlog = store.outbox.backlog()
    assert backlog.open == 60 and backlog.by_state.get("pending") == 60  # the queue grew
    sync_env.broker.start()
    wait_until(lambda: _done(store), 60, what="drain after the broker came back")
    assert sorted(applied_keys(sync_env.ils)) == sorted(keys)
    assert sync_env.ils.duplicate_count() == 0
    assert {e.state for e in store.outbox.list(limit=1000)} == {"applied"}


class _Crash(Exception):
    """Stands for the gateway process dying at a crash point."""


class _CrashAt:
    """``Gateway.crash`` stand-in: the first ``budget[point]`` hits of a point raise."""

    def __init__(self, **budget: int) -> None:
        self.budget = dict(budget)
        self.crashed = dict.fromkeys(budget, 0)
        self._lock = threading.Lock()

    def hit(self, point: str) -> None:
        with self._lock:
            if self.budget.get(point, 0) <= 0:
                return
            self.budget[point] -= 1
            self.crashed[point] += 1
        raise _Crash(point)


def test_crash_between_sip2_call_and_ledger_write_is_recovered_once(
        sync_env: SyncEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real gateway path (``_process_txs`` → ``_call_ils`` → sweeper → ``verify``) with
    a crash injected after the SIP2 call (the ILS applied it, the ledger does not know) and
    before it (intent only): each is applied exactly once, the first kind "recovered"."""
    # 3 s: the SIP2 timeouts follow the lease (0.6 s here; 0.2 s with a 1 s lease, which a
    # busy machine can exceed, turning a call into an unknown outcome and a recovery)
    monkeypatch.setenv("SMARTLIB_GATEWAY__LEASE_S", "3")
    monkeypatch.setenv("SMARTLIB_SYNC__RESEND_S", "3600")  # no help from the agent
    store = sync_env.open_store()
    gw = sync_env.start_gateway()
    crash = _CrashAt(after_sip2=2, before_sip2=2)
    gw.crash = crash
    agent = sync_env.start_agent()
    keys = [journal(store, "checkout", it) for it in items(6)]
    wait_until(lambda: _done(store), 60, what="every transaction after the recoveries")
    assert crash.crashed == {"after_sip2": 2, "before_sip2": 2}
    assert {e.state for e in store.outbox.list(limit=100)} == {"applied"}
    assert sorted(applied_keys(sync_env.ils)) == sorted(keys)
    assert sync_env.ils.duplicate_count() == 0
    assert gw.stats["recovered"] == 2  # verified with the ILS, not sent again
    assert agent.stats.resent == 0


@pytest.mark.slow
def test_kill9_agent_mid_drain_then_gateway_after_sip2_then_restart(sync_env: SyncEnv) -> None:
    n = 150
    store = sync_env.open_store()
    keys = [journal(store, "checkout" if i % 2 == 0 else "checkin", it)
            for i, it in enumerate(x for it in items(n // 2) for x in (it, it))]
    env = {"SMARTLIB_GATEWAY__LEASE_S": "2", "SMARTLIB_SYNC__RESEND_S": "3"}
    gw_cfg, agent_cfg = sync_env.gateway_config(), sync_env.agent_config()
    gw = sync_env.proc("gateway", ["gateway", "run", "--config", str(gw_cfg)],
                       {**env, "SMARTLIB_SYNC_CRASH_AT": "after_sip2:100"}).start()
    agent = sync_env.proc("agent", ["sync", "--config", str(agent_cfg)], env).start()
    # kill -9 of the agent mid-drain.
    wait_until(lambda: 10 <= len(applied_keys(sync_env.ils)), 60, 0.01, what="first applications")
    agent.kill9()
    done_at_kill = n - store.outbox.backlog().open
    assert done_at_kill < n, "the agent finished before it could be killed"
    agent.start()
    # The gateway kills itself (SIGKILL) between its 100th SIP2 call and the ledger write.
    assert gw.wait_exit(90) == -9, gw.output()[-2000:]
    gw2 = sync_env.proc("gateway2", ["gateway", "run", "--config", str(gw_cfg)], env).start()
    wait_until(lambda: _done(store), 120, what="everything applied after the restarts")
    assert gw2.running and agent.running
    apps = sync_env.ils.circulation.applications()
    assert sorted(a["xk"] for a in apps) == sorted(keys)  # 0 lost
    assert sync_env.ils.duplicate_count() == 0  # 0 duplicated
    assert "(recovered)" in gw2.output()  # verified with the ILS, not sent again


def test_two_gateways_on_the_shared_subscription_apply_each_once(sync_env: SyncEnv,
                                                                 pg_dsn: str) -> None:
    store = sync_env.open_store()
    g1 = sync_env.start_gateway("gw-1", ledger=pg_dsn)
    g2 = sync_env.start_gateway("gw-2", ledger=pg_dsn)
    sync_env.start_agent()
    keys = [journal(store, "checkout", it) for it in items(120)]
    wait_until(lambda: _done(store), 60, what="drain")
    assert sorted(applied_keys(sync_env.ils)) == sorted(keys)
    assert sync_env.ils.duplicate_count() == 0
    assert g1.stats["applied"] > 0 and g2.stats["applied"] > 0
    assert g1.stats["applied"] + g2.stats["applied"] == 120


def test_acl_refuses_a_device_on_another_devices_topic(tmp_path: Any, mosquitto_factory: Any,
                                                       demo_ils: Any) -> None:
    users = {"kiosk-01": "pw-kiosk", "gate-01": "pw-gate", "gateway": "pw-gw"}
    acl = device_acl(SITE, "kiosk-01") + device_acl(SITE, "gate-01") + gateway_acl("gateway")
    broker = mosquitto_factory(users=users, acl=acl)
    env = SyncEnv(tmp_path, broker, demo_ils)
    try:
        env.start_gateway(user="gateway", password="pw-gw")
        # A box configured as gate-01 but logged in with kiosk-01's credentials.
        forged_store = env.open_store("gate-01")
        forged = env.start_agent("gate-01", user="kiosk-01", password="pw-kiosk")
        honest_store = env.open_store("kiosk-01")
        env.start_agent("kiosk-01", user="kiosk-01", password="pw-kiosk")
        bad = journal(forged_store, "checkout", items(1)[0])
        good = journal(honest_store, "checkout", items(2)[1])
        assert honest_store.outbox.wait_for_result(good, 20) is not None
        wait_until(lambda: forged.stats.refused_pubacks >= 1, 20, what="a refused PUBACK")
        assert applied_keys(demo_ils) == [good]
        # Marked sent before it was published (the broker refused it): still open, never applied.
        assert forged_store.outbox.get(bad).state == "sent"
    finally:
        env.close()
