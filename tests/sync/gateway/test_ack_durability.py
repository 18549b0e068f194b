"""The gateway acknowledges an MQTT message only once its request is durable (review C1).

A failed ledger claim must neither lose the transaction (an ack with no intent) nor leave
the message un-acknowledged for good (Mosquitto stops delivering after max_inflight). The
agent's resend is pushed out of reach (``resend_s`` = 1 h), so only the gateway's own
retry or the broker's redelivery can bring the transaction to the ILS.
"""

from __future__ import annotations

from typing import Any

import pytest

from sync.errors import LedgerError
from sync.messages import Alarm, LookupRequest
from tests.sync.gateway.harness import (
    SITE,
    SyncEnv,
    applied_keys,
    items,
    journal,
    new_key,
    wait_until,
)


@pytest.fixture
def no_agent_resend(monkeypatch: pytest.MonkeyPatch) -> None:
    # Only the broker's session may bring a message back in these tests: no timed resend,
    # and no resend when a gateway comes online.
    monkeypatch.setenv("SMARTLIB_SYNC__RESEND_S", "3600")
    monkeypatch.setenv("SMARTLIB_SYNC__RESEND_ON_GATEWAY_ONLINE", "false")


def _fail_claims(gw: Any, times: int | None) -> dict[str, int]:
    """Make ``gw.ledger.claim_many`` raise ``times`` times (None: always)."""
    real = gw.ledger.claim_many
    calls = {"failed": 0, "ok": 0}

    def claim_many(requests: list[dict[str, Any]], **kw: Any) -> Any:
        if times is None or calls["failed"] < times:
            calls["failed"] += 1
            raise LedgerError("injected: database is locked")
        calls["ok"] += 1
        return real(requests, **kw)

    gw.ledger.claim_many = claim_many
    return calls


def test_a_failed_claim_is_retried_with_the_message_and_applied_once(
        sync_env: SyncEnv, no_agent_resend: None) -> None:
    store = sync_env.open_store()
    gw = sync_env.start_gateway()
    gw.retry_s = 0.2
    calls = _fail_claims(gw, times=1)
    agent = sync_env.start_agent()
    key = journal(store, "checkout", items(1)[0])
    entry = store.outbox.wait_for_result(key, 30)
    assert entry is not None and entry.state == "applied"
    assert calls["failed"] == 1 and calls["ok"] >= 1
    assert agent.stats.resent == 0  # the gateway's retry did it, not the agent
    assert applied_keys(sync_env.ils) == [key]
    # Nothing stalls afterwards: more transactions than Mosquitto's max_inflight (20) go through.
    keys = [journal(store, "checkout", it) for it in items(40, start=30000300)]
    wait_until(lambda: store.outbox.backlog().open == 0, 60, what="the rest to drain")
    assert sorted(applied_keys(sync_env.ils)) == sorted([key, *keys])
    assert sync_env.ils.duplicate_count() == 0
    # Every message was acknowledged in the end: a new gateway session gets no redelivery
    # (it would come before this last transaction, and be answered as a replay).
    gw.stop()
    gw2 = sync_env.start_gateway()
    last = journal(store, "checkout", "30000400")
    entry = store.outbox.wait_for_result(last, 30)
    assert entry is not None and entry.state == "applied"
    assert gw2.stats["replayed"] == 0 and gw2.stats["busy"] == 0


def test_an_unclaimed_message_is_not_acknowledged_and_comes_back_from_the_broker(
        sync_env: SyncEnv, no_agent_resend: None) -> None:
    store = sync_env.open_store()
    gw = sync_env.start_gateway()
    calls = _fail_claims(gw, times=None)  # this gateway never manages to claim
    agent = sync_env.start_agent()
    key = journal(store, "checkout", items(1)[0])
    wait_until(lambda: calls["failed"] >= 1, 20, what="the failed claim")
    gw.stop()  # no PUBACK was sent: the broker keeps the message in the session
    assert applied_keys(sync_env.ils) == []
    gw2 = sync_env.start_gateway()  # same client id: the session and its message resume
    entry = store.outbox.wait_for_result(key, 30)
    assert entry is not None and entry.state == "applied"
    assert agent.stats.resent == 0
    assert applied_keys(sync_env.ils) == [key]
    assert gw2.stats["applied"] == 1


def test_failed_ops_and_lookups_are_retried_then_rejected_not_dropped(
        sync_env: SyncEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    """store_ops failing for good: the alarm is retried, then rejected (logged and acked);
    a look-up whose applier raises gets an ``ok=False`` answer."""
    from sync import topics
    from sync.gateway import service
    from sync.messages import LookupResponse, decode, encode
    from tests.sync.gateway.harness import mqtt_client

    monkeypatch.setattr(service, "MAX_ATTEMPTS", 2)
    gw = sync_env.start_gateway()
    gw.retry_s = 0.05
    tries = {"n": 0}

    def store_ops(*_a: Any, **_k: Any) -> None:
        tries["n"] += 1
        raise LedgerError("injected")

    gw.ledger.store_ops = store_ops

    def lookup(_req: Any) -> Any:
        raise RuntimeError("injected applier bug")

    gw.appliers[SITE].lookup = lookup
    with mqtt_client(sync_env.broker.port) as probe:
        probe.subscribe(topics.lookup_reply(SITE, "kiosk-01"))
        alarm = Alarm(site=SITE, device="kiosk-01", alarm_id=1, kind="gate")
        assert probe.publish(topics.alarm(SITE, "kiosk-01"), encode(alarm)) == 0
        wait_until(lambda: gw.stats["rejected"] >= 1, 20, what="the alarm to be rejected")
        assert tries["n"] == 2
        req = LookupRequest(request_id=new_key(), kind="patron", site=SITE, device="kiosk-01",
                            patron="2000001")
        assert probe.publish(topics.lookup(SITE, "kiosk-01"), encode(req)) == 0
        resp = decode(LookupResponse, probe.get(20).payload)
        assert resp.request_id == req.request_id and resp.ok is False
