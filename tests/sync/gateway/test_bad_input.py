"""No message may kill the gateway's consumer (issue 18, "Bad input"): a poison message is
refused before parsing, kept aside as a dead letter, acknowledged (never redelivered), and
the gateway goes on serving; a gate may not lend, return or renew."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sync import topics
from sync.messages import TransactionBatch, TransactionRequest, encode, utcnow
from tests.sync.gateway.harness import (
    PATRON,
    SITE,
    MqttProbe,
    SyncEnv,
    applied_keys,
    items,
    mqtt_client,
    new_key,
    wait_until,
)

DEEP = b'{"v":1,"x":' + b"[" * 3000 + b"]" * 3000 + b"}"
"""The poison of issue 18: about 6 KB, 3,000 levels deep (``json.loads`` recurses)."""
DEEP_BATCH = (b'{"v":1,"site":"s1","device":"kiosk-01","transactions":' + b"[" * 3000
              + b"]" * 3000 + b"}")
"""Looks like a TransactionBatch: goes to pydantic-core first, then is checked before json."""


def _request(item: str, device: str = "kiosk-01") -> TransactionRequest:
    return TransactionRequest(key=new_key(), kind="checkout", site=SITE, device=device,
                              patron=PATRON, item=item, created_at=utcnow(), offline=True)


def _still_serves(dev: MqttProbe, item: str) -> None:
    """A normal transaction published after the bad input is applied and answered."""
    req = _request(item)
    assert dev.publish(topics.tx(SITE, "kiosk-01"), encode(req)) == 0
    got = json.loads(dev.get(20).payload)
    assert got["key"] == req.key and got["status"] == "applied"


@pytest.mark.parametrize(("topic", "poison"), [
    (topics.tx(SITE, "kiosk-01"), DEEP),
    (topics.tx(SITE, "kiosk-01"), DEEP_BATCH),
    (topics.lookup(SITE, "kiosk-01"), DEEP),
    (topics.staff_alarm(SITE, "kiosk-01"), DEEP),
], ids=["tx", "tx-batch", "lookup", "staff-alarm"])
def test_a_deeply_nested_message_is_a_dead_letter_and_the_gateway_goes_on(
        sync_env: SyncEnv, topic: str, poison: bytes) -> None:
    with pytest.raises(RecursionError):
        json.loads(poison)  # what used to end paho's network thread
    gw = sync_env.start_gateway()
    with mqtt_client(sync_env.broker.port) as dev:
        dev.subscribe(topics.result(SITE, "kiosk-01"))
        assert dev.publish(topic, poison) == 0  # acknowledged by the broker
        wait_until(lambda: gw.stats["dead_letters"] == 1, 10, what="the dead letter")
        _still_serves(dev, items(1)[0])
    [letter] = gw.ledger.dead_letters(SITE)
    assert letter.topic == topic and letter.device == "kiosk-01"
    assert "TooDeepMessageError" in letter.reason and letter.size == len(poison)
    assert gw.stats["callback_errors"] == 0  # refused by the check, not by an accident


def test_an_oversized_payload_is_a_dead_letter_and_is_not_stored(sync_env: SyncEnv) -> None:
    gw = sync_env.start_gateway()
    req = _request(items(1)[0])
    big = encode(req.model_copy(update={"payload": {"note": "x" * (gw.intake.limits.max_bytes + 1)}}))
    with mqtt_client(sync_env.broker.port) as dev:
        dev.subscribe(topics.result(SITE, "kiosk-01"))
        assert dev.publish(topics.tx(SITE, "kiosk-01"), big) == 0
        wait_until(lambda: gw.stats["dead_letters"] == 1, 10, what="the dead letter")
        _still_serves(dev, items(1, start=30000250)[0])
    [letter] = gw.ledger.dead_letters()
    assert "OversizedMessageError" in letter.reason and letter.size == len(big)
    assert gw.ledger.get(req.key) is None  # nothing of it reached the ledger
    assert applied_keys(sync_env.ils) != [] and req.key not in applied_keys(sync_env.ils)


def test_a_dead_letter_is_not_redelivered_to_a_restarted_gateway(sync_env: SyncEnv) -> None:
    gw1 = sync_env.start_gateway()
    gw1.stop()  # the session stays at the broker: the poison is queued for the gateways
    with mqtt_client(sync_env.broker.port) as dev:
        dev.subscribe(topics.result(SITE, "kiosk-01"))
        assert dev.publish(topics.tx(SITE, "kiosk-01"), DEEP) == 0
        gw2 = sync_env.start_gateway()  # gets it from its session: keeps it aside, acks it
        wait_until(lambda: gw2.stats["dead_letters"] == 1, 20, what="the dead letter")
        _still_serves(dev, items(1)[0])
        gw2.stop()
        gw3 = sync_env.start_gateway()
        _still_serves(dev, items(1, start=30000250)[0])
    assert gw3.stats["dead_letters"] == 0 and gw3.stats["callback_errors"] == 0
    assert len(gw3.ledger.dead_letters()) == 1


def test_a_gate_may_not_lend_return_or_renew(sync_env: SyncEnv) -> None:
    gw = sync_env.start_gateway()
    item = items(1)[0]
    lone = _request(item, device="gate-01")
    batch = TransactionBatch(site=SITE, device="gate-01", transactions=[
        _request(i, device="gate-01").model_copy(update={"kind": kind})
        for i, kind in zip(items(2, start=30000250), ("checkin", "renew"), strict=True)])
    with mqtt_client(sync_env.broker.port) as gate:
        gate.subscribe(topics.result(SITE, "gate-01"))
        assert gate.publish(topics.tx(SITE, "gate-01"), encode(lone)) == 0
        assert gate.publish(topics.tx(SITE, "gate-01"), encode(batch)) == 0
        got = [json.loads(gate.get(20).payload) for _ in range(3)]
    for res in got:
        assert res["status"] == "refused" and res["ok"] is False
        assert "a gate may not lend, return or renew" in res["screen_message"]
    assert sorted(r["key"] for r in got) == sorted(
        [lone.key, *(t.key for t in batch.transactions)])
    assert gw.stats["role_refused"] == 3
    assert applied_keys(sync_env.ils) == [] and gw.ledger.get(lone.key) is None
    with mqtt_client(sync_env.broker.port) as dev:  # a kiosk is still served
        dev.subscribe(topics.result(SITE, "kiosk-01"))
        _still_serves(dev, item)


def test_device_roles_override_the_naming_rule(sync_env: SyncEnv) -> None:
    gw = sync_env.start_gateway()
    gw.intake.device_roles = {"kiosk-02": "gate", "gate-07": "kiosk"}
    assert [gw.role_of(d) for d in ("kiosk-01", "kiosk-02", "gate-01", "gate-07")] == [
        "kiosk", "gate", "gate", "kiosk"]


def test_an_unforeseen_failure_in_the_callback_is_a_dead_letter(
        sync_env: SyncEnv, monkeypatch: Any) -> None:
    gw = sync_env.start_gateway()
    real = gw.intake._enqueue
    calls = {"n": 0}

    def enqueue(*a: Any, **k: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("injected bug")
        real(*a, **k)

    monkeypatch.setattr(gw.intake, "_enqueue", enqueue)
    with mqtt_client(sync_env.broker.port) as dev:
        dev.subscribe(topics.result(SITE, "kiosk-01"))
        assert dev.publish(topics.tx(SITE, "kiosk-01"), encode(_request(items(1)[0]))) == 0
        wait_until(lambda: gw.stats["dead_letters"] == 1, 10, what="the dead letter")
        _still_serves(dev, items(1, start=30000250)[0])
    assert gw.stats["callback_errors"] == 1
    assert "RuntimeError: injected bug" in gw.ledger.dead_letters()[0].reason


def _tx_json(**changes: Any) -> bytes:
    body = json.loads(encode(_request(items(1, start=30000400)[0])))
    body.update(changes)
    return json.dumps(body).encode()


@pytest.mark.parametrize(("topic", "payload", "reason"), [
    (topics.tx(SITE, "kiosk-01"), _tx_json(item=30000400), "item"),           # a number
    (topics.tx(SITE, "kiosk-01"), _tx_json(offline="yes"), "offline"),       # not a bool
    (topics.tx(SITE, "kiosk-01"), _tx_json(kind="fly"), "kind"),             # not a kind
    (topics.tx(SITE, "kiosk-01"), _tx_json(payload=[1, 2]), "payload"),      # not an object
    (topics.tx(SITE, "kiosk-01"), _tx_json(site="s2"), "s1/kiosk-01"),       # another site
    (topics.tx(SITE, "kiosk-01"), _tx_json(device="kiosk-02"), "s1/kiosk-01"),  # another box
    (topics.lookup(SITE, "kiosk-01"),
     json.dumps({"v": 1, "request_id": "r-1", "kind": "item", "site": SITE,
                 "device": "kiosk-02", "item": "30000100",
                 "created_at": "2026-12-07T00:00:00.000Z"}).encode(), "s1/kiosk-01"),
    (topics.lookup(SITE, "kiosk-01"),
     json.dumps({"v": 1, "request_id": 7, "kind": "item", "site": SITE,
                 "device": "kiosk-01", "item": "30000100",
                 "created_at": "2026-12-07T00:00:00.000Z"}).encode(), "request_id"),
], ids=["item-number", "offline-string", "unknown-kind", "payload-list", "other-site",
        "other-device", "lookup-other-device", "lookup-id-number"])
def test_wrong_types_and_other_devices_are_refused_and_the_gateway_goes_on(
        sync_env: SyncEnv, topic: str, payload: bytes, reason: str,
        caplog: pytest.LogCaptureFixture) -> None:
    gw = sync_env.start_gateway()
    with mqtt_client(sync_env.broker.port) as dev:
        dev.subscribe(topics.result(SITE, "kiosk-01"))
        assert dev.publish(topic, payload) == 0
        wait_until(lambda: gw.stats["rejected"] + gw.stats["dead_letters"] >= 1, 10,
                   what="the refusal")
        _still_serves(dev, items(1)[0])
    assert "30000400" not in applied_keys(sync_env.ils)
    assert [a for a in sync_env.ils.circulation.applications() if a.get("item") == "30000400"] == []
    assert reason in caplog.text
    assert gw.stats["callback_errors"] == 0
