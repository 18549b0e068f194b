"""The gateway with a real Mosquitto, the demo ILS, and an in-process agent and edge store."""

from __future__ import annotations

import json
import time
from typing import Any

from sync import topics
from sync.messages import TransactionRequest, encode, utcnow
from tests.sync.gateway.harness import (
    PATRON,
    SITE,
    SyncEnv,
    applied_keys,
    items,
    journal,
    mqtt_client,
    new_key,
    wait_until,
)


def test_online_round_trip_applied_once_and_result_back(sync_env: SyncEnv) -> None:
    store = sync_env.open_store()
    gw = sync_env.start_gateway()
    sync_env.start_agent()
    item = items(1)[0]
    key = journal(store, "checkout", item, offline=False)
    entry = store.outbox.wait_for_result(key, timeout=20)
    assert entry is not None, "no result came back"
    assert entry.state == "applied" and entry.result is not None
    assert entry.result["ok"] is True and entry.result["due_date"]
    assert applied_keys(sync_env.ils) == [key]
    assert sync_env.ils.duplicate_count() == 0
    # The delta of the applied checkout reached this edge's cache too.
    wait_until(lambda: store.cache.loan(item) is not None, 10, what="cache delta")
    assert store.cache.loan(item).patron_id == PATRON
    assert gw.stats["applied"] == 1


def test_refused_offline_checkout_becomes_a_conflict(sync_env: SyncEnv) -> None:
    store = sync_env.open_store()
    gw = sync_env.start_gateway()
    sync_env.start_agent()
    with mqtt_client(sync_env.broker.port) as staff:
        staff.subscribe(topics.staff_conflict(SITE))
        key = journal(store, "checkout", "99999999", offline=True)  # unknown to the ILS
        entry = store.outbox.wait_for_result(key, timeout=20)
        assert entry is not None and entry.state == "conflict"
        msg = json.loads(staff.get().payload)
        assert msg["key"] == key and "Unknown item" in msg["reason"]
    assert [c.key for c in store.conflicts.list()] == [key]
    assert [c.key for c in gw.ledger.conflicts(SITE)] == [key]


def test_replayed_key_gets_the_recorded_result_without_a_second_sip2_call(sync_env: SyncEnv) -> None:
    gw = sync_env.start_gateway()
    req = TransactionRequest(key=new_key(), kind="checkout", site=SITE, device="kiosk-01",
                             patron=PATRON, item=items(1)[0], created_at=utcnow(), offline=True)
    with mqtt_client(sync_env.broker.port) as dev:
        dev.subscribe(topics.result(SITE, "kiosk-01"))
        for _ in range(3):
            dev.publish(topics.tx(SITE, "kiosk-01"), encode(req))
        got = [json.loads(dev.get().payload) for _ in range(3)]
    assert [g["status"] for g in got] == ["applied"] * 3
    assert sorted(g.get("replayed", False) for g in got) == [False, True, True]
    assert applied_keys(sync_env.ils) == [req.key]
    assert sync_env.ils.duplicate_count() == 0
    assert gw.stats["replayed"] == 2


def test_invalid_messages_are_rejected_with_a_reason(sync_env: SyncEnv, caplog: Any) -> None:
    gw = sync_env.start_gateway()
    good = TransactionRequest(key=new_key(), kind="checkout", site=SITE, device="gate-01",
                              patron=PATRON, item=items(1)[0], created_at=utcnow(), offline=True)
    with mqtt_client(sync_env.broker.port) as dev:
        dev.publish(topics.tx(SITE, "kiosk-01"), b"{not json")
        dev.publish(topics.tx(SITE, "kiosk-01"), encode(good))  # payload names another device
        # A site the gateway does not serve: it is not even subscribed to it (per-site filters).
        dev.publish(topics.tx("other-site", "kiosk-01"), encode(good))
    wait_until(lambda: gw.stats["rejected"] >= 2, 10, what="rejections")
    assert applied_keys(sync_env.ils) == []
    text = caplog.text
    assert "not JSON" in text and "came on s1/kiosk-01" in text


def test_patron_lookup_with_pin_through_mqtt5_response_topic(sync_env: SyncEnv) -> None:
    store = sync_env.open_store()
    sync_env.start_gateway()
    sync_env.start_agent()
    seal = sync_env.pin_keys.seal
    good = store.lookups.request("patron", {"patron": PATRON, "pin_sealed": seal("1234")})
    bad = store.lookups.request("patron", {"patron": PATRON, "pin_sealed": seal("0000")})
    item = store.lookups.request("item", {"item": "30000100"})
    a, b, c = (store.lookups.wait(x.id, 20) for x in (good, bad, item))
    assert a is not None and a.response is not None and a.response["valid_pin"] is True
    assert b is not None and b.response is not None and b.response["valid_pin"] is False
    assert c is not None and c.response is not None and c.response["circulation_status"] == "03"
    assert "pin_sealed" not in store.lookups.get(good.id).request


def test_transactions_for_one_item_are_applied_in_journal_order(sync_env: SyncEnv) -> None:
    store = sync_env.open_store()
    sync_env.start_gateway(pool_size=4)
    sync_env.start_agent()
    its = items(5)
    keys: list[str] = []
    for round_ in range(3):
        for it in its:
            keys.append(journal(store, "checkout", it))
            keys.append(journal(store, "checkin", it))
        if round_ == 1:
            # Reconnect the broker mid-way: in-flight messages are re-sent.
            sync_env.broker.stop()
            time.sleep(0.5)
            sync_env.broker.start()
    b = sync_env.broker
    wait_until(lambda: store.outbox.backlog().open == 0, 60,
               what=lambda: f"drain (broker running: {b.running}; its log: {b.log_text()!r})")
    apps = sync_env.ils.circulation.applications()
    assert sync_env.ils.duplicate_count() == 0
    assert sorted(a["xk"] for a in apps) == sorted(keys)
    for it in its:
        kinds = [a["kind"] for a in apps if a["item_id"] == it]
        assert kinds == ["checkout", "checkin"] * 3, (it, kinds)


def test_a_gateway_coming_online_gets_what_the_broker_dropped(
        sync_env: SyncEnv, monkeypatch: Any) -> None:
    """Mosquitto 2.0 drops what reaches a shared subscription while no member is connected
    after a restart; the gateway's "online" status makes the agent re-send at once (the
    timed resend is an hour away here)."""
    monkeypatch.setenv("SMARTLIB_SYNC__RESEND_S", "3600")
    store = sync_env.open_store()
    gw = sync_env.start_gateway()
    agent = sync_env.start_agent()
    gw.stop()  # clean stop: its session (and shared subscription) stays with the broker
    sync_env.broker.stop()
    sync_env.broker.start()
    wait_until(lambda: agent.connected.is_set(), 30, what="the agent reconnected")
    key = journal(store, "checkout", items(1)[0])
    wait_until(lambda: agent.stats.acked >= 1, 20, what="the broker took the transaction")
    assert store.outbox.get(key).state != "applied"
    gw2 = sync_env.start_gateway()
    entry = store.outbox.wait_for_result(key, 30)
    assert entry is not None and entry.state == "applied"
    assert agent.stats.extra.get("gateway_online_resends", 0) >= 1
    assert applied_keys(sync_env.ils) == [key]
    assert sync_env.ils.duplicate_count() == 0
    assert gw2.stats["applied"] == 1


def test_an_online_refusal_carries_the_reason_the_ils_gives(sync_env: SyncEnv) -> None:
    """The gateway asks the ILS why (17 on the item, 63 status flags) and sends an edge code."""
    store = sync_env.open_store()
    sync_env.start_gateway()
    sync_env.start_agent()
    on_shelf_for_other = "30000015"  # demo data: on the hold shelf for another patron
    blocked_patron = "2000002"       # demo data: card reported lost
    k_hold = journal(store, "checkout", on_shelf_for_other, offline=False)
    k_blocked = journal(store, "checkout", items(1)[0], patron=blocked_patron, offline=False)
    k_unknown = journal(store, "checkout", "39999999", offline=False)
    got = {k: store.outbox.wait_for_result(k, 20) for k in (k_hold, k_blocked, k_unknown)}
    assert all(e is not None and e.state == "refused" for e in got.values()), got
    assert got[k_hold].result["reason_code"] == "on_hold_for_other"      # type: ignore[union-attr,index]
    assert got[k_blocked].result["reason_code"] == "patron_blocked"      # type: ignore[union-attr,index]
    assert got[k_unknown].result["reason_code"] == "item_unknown"        # type: ignore[union-attr,index]
    assert applied_keys(sync_env.ils) == []
