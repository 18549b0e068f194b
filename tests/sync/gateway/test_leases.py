"""Exactly once when a lease is outlived or a renewal cannot be verified (the soak's item
30000594: one renewal applied twice at the ILS under one key, about a lease apart).

Real Mosquitto, the demo ILS, in-process gateways on a SQLite or PostgreSQL ledger.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pytest

from sync.errors import LeaseLostError
from sync.gateway.leases import LeaseKeeper
from sync.gateway.ledger import open_ledger
from tests.sync.gateway.harness import SyncEnv, items, journal, wait_until


def _done(store: Any) -> bool:
    return store.outbox.backlog().open == 0


def _applications(env: SyncEnv, kind: str) -> Counter[str]:
    """ILS applications of ``kind`` per transaction key (XK)."""
    return Counter(a["xk"] for a in env.ils.circulation.applications() if a["kind"] == kind)


def _check_out(env: SyncEnv, store: Any, its: list[str]) -> None:
    keys = [journal(store, "checkout", it) for it in its]
    wait_until(lambda: _done(store), 60, what="the checkouts")
    assert sorted(_applications(env, "checkout")) == sorted(keys)


class _CrashAfterSip2:
    """``Gateway.crash`` stand-in: the first time the SIP2 call returns, the gateway "dies"
    (the call took effect at the ILS; the ledger does not know)."""

    def __init__(self) -> None:
        self.crashed = 0
        self._lock = threading.Lock()

    def hit(self, point: str) -> None:
        if point != "after_sip2":
            return
        with self._lock:
            if self.crashed:
                return
            self.crashed += 1
        raise RuntimeError("gateway died after its SIP2 call")


def test_a_renewal_applied_before_a_crash_is_never_sent_again(
        sync_env: SyncEnv, ledger_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A loan made today, renewed today: the ILS (like Koha counting from today) gives it
    the same due date again, so the recovery cannot see the renewal in the due date. It
    was sent again before (two ``renew`` applications under one key); now the outcome is
    reported unconfirmed and the ILS renewed once."""
    monkeypatch.setenv("SMARTLIB_GATEWAY__LEASE_S", "3")
    monkeypatch.setenv("SMARTLIB_SYNC__RESEND_S", "3600")  # no help from the agent
    store = sync_env.open_store()
    gw = sync_env.start_gateway(ledger=ledger_url)
    sync_env.start_agent()
    [item] = items(1)
    _check_out(sync_env, store, [item])
    crash = _CrashAfterSip2()
    gw.crash = crash
    key = journal(store, "renew", item)
    wait_until(lambda: _done(store), 60, what="the renewal after its recovery")
    assert crash.crashed == 1
    assert _applications(sync_env, "renew") == Counter({key: 1})
    assert sync_env.ils.duplicate_count() == 0
    result = store.outbox.get(key).result
    assert result["recovered"] is True and result["ok"] is False
    assert "could not be confirmed" in result["screen_message"]
    assert gw.applier.stats["unconfirmed"] == 1


def test_a_batch_that_outlives_its_lease_keeps_it_and_each_renewal_is_applied_once(
        sync_env: SyncEnv, ledger_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two gateways on one ledger. One of them gets 16 renewals in one batch message and
    one SIP2 connection; the ILS answers each request after 0.3 s, so the batch takes
    about 10 s, twice the 5 s lease. Before, the leases of the batch's later keys ran out
    while their owner was still working; the other gateway (or the owner's own sweeper)
    took them over and renewed again. Now the owner extends its leases while it works:
    nothing is taken over, and every renewal is applied once, not recovered."""
    monkeypatch.setenv("SMARTLIB_GATEWAY__LEASE_S", "5")
    monkeypatch.setenv("SMARTLIB_SYNC__RESEND_S", "3600")
    store = sync_env.open_store()
    gws = [sync_env.start_gateway(gid, ledger=ledger_url, pool_size=1)
           for gid in ("gw-1", "gw-2")]
    its = items(16)
    agent = sync_env.start_agent()
    _check_out(sync_env, store, its)
    agent.stop()  # the renewals go out together, in one batch message, once it is back
    keys = [journal(store, "renew", it) for it in its]
    sync_env.ils.set_latency(0.3)
    sync_env.start_agent()
    wait_until(lambda: _done(store), 120, what="the renewals")
    sync_env.ils.set_latency(0)
    assert _applications(sync_env, "renew") == Counter(dict.fromkeys(keys, 1))
    assert sync_env.ils.duplicate_count() == 0
    assert {store.outbox.get(k).state for k in keys} == {"applied"}
    assert sum(g.stats["recovered"] for g in gws) == 0
    assert sum(g.leases.stats["renewals"] for g in gws) > 0


def test_a_lease_too_short_for_a_call_refuses_the_call(ledger_url: str) -> None:
    """The check before each SIP2 call: a lease not kept, lost to another gateway, or with
    less than a call's time left is refused (the call is not made)."""
    led = open_ledger(ledger_url, "gw-1", lease_s=30)
    other = open_ledger(ledger_url, "gw-2", lease_s=30)
    try:
        clock = [1000.0]
        keeper = LeaseKeeper(led, call_bound_s=10, clock=lambda: clock[0])
        req = {"key": "k-1", "site": "s1", "device": "kiosk-01", "kind": "checkout",
               "item": "30000200", "patron": "2000001", "created_at": "2026-12-07T10:00:00Z"}
        claim = led.claim(req, now=clock[0])
        assert claim.outcome == "new"
        with pytest.raises(LeaseLostError):
            keeper.check("k-1")  # not kept by this keeper
        keeper.hold({"k-1": claim.row.lease_until or 0.0})
        keeper.check("k-1")  # 30 s left
        clock[0] += 25
        with pytest.raises(LeaseLostError):
            keeper.check("k-1")  # 5 s left: a call may take 10
        keeper.renew()  # extended: 30 s from now
        keeper.check("k-1")
        assert (led.get("k-1").lease_until or 0) == pytest.approx(clock[0] + 30)
        clock[0] += 31  # the keeper stopped renewing: the other gateway takes it over
        assert other.claim(req, now=clock[0]).outcome == "recover"
        keeper.renew()
        with pytest.raises(LeaseLostError):
            keeper.check("k-1")
        assert keeper.stats["lost"] == 1
    finally:
        led.close()
        other.close()
