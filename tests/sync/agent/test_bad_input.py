"""No message may kill the agent's consumer: a poison message on any topic the agent reads
(results, look-up replies, the site's staff alarms) is acknowledged and kept aside as a
``dead_letter`` device event, and the agent goes on storing results."""

from __future__ import annotations

import pytest

from sync import topics
from sync.mqtt import fingerprint
from tests.sync.gateway.harness import SITE, SyncEnv, items, journal, mqtt_client, wait_until

DEEP = b'{"v":1,"x":' + b"[" * 3000 + b"]" * 3000 + b"}"
DEEP_BATCH = b'{"v":1,"site":"s1","device":"kiosk-01","results":' + b"[" * 3000 + b"]" * 3000 + b"}"
"""Looks like a ResultBatch: goes to pydantic-core first, then is checked before json."""


@pytest.mark.parametrize(("topic", "poison"), [
    (topics.result(SITE, "kiosk-01"), DEEP),
    (topics.result(SITE, "kiosk-01"), DEEP_BATCH),
    (topics.lookup_reply(SITE, "kiosk-01"), DEEP),
    (topics.staff_alarm(SITE, "kiosk-02"), DEEP),
], ids=["result", "result-batch", "lookup-reply", "staff-alarm"])
def test_a_deeply_nested_message_is_a_dead_letter_and_the_agent_goes_on(
        sync_env: SyncEnv, topic: str, poison: bytes) -> None:
    store = sync_env.open_store()
    sync_env.start_gateway()
    agent = sync_env.start_agent()
    with mqtt_client(sync_env.broker.port) as other:
        assert other.publish(topic, poison) == 0
        wait_until(lambda: agent.stats.dead_letters == 1, 10, what="the dead letter")
    key = journal(store, "checkout", items(1)[0])
    entry = store.outbox.wait_for_result(key, 20)
    assert entry is not None and entry.state == "applied"
    [letter] = store.events.dead_letters()
    assert letter.detail["topic"] == topic and letter.detail["size"] == len(poison)
    assert letter.detail["sha256"] == fingerprint(poison)
    assert "TooDeepMessageError" in letter.detail["reason"]
    assert agent.stats.callback_errors == 0


def test_an_oversized_result_is_a_dead_letter(sync_env: SyncEnv) -> None:
    store = sync_env.open_store()
    agent = sync_env.start_agent()
    big = b'{"v":1,"pad":"' + b"x" * agent.tuning.max_payload_bytes + b'"}'
    with mqtt_client(sync_env.broker.port) as other:
        assert other.publish(topics.result(SITE, "kiosk-01"), big) == 0
        wait_until(lambda: agent.stats.dead_letters == 1, 20, what="the dead letter")
    [letter] = store.events.dead_letters()
    assert "OversizedMessageError" in letter.detail["reason"]


def _result(key: str, **changes: object) -> bytes:
    import json

    body: dict[str, object] = {"v": 1, "key": key, "kind": "checkout", "site": SITE,
                               "device": "kiosk-01", "status": "applied", "ok": True}
    body.update(changes)
    return json.dumps(body).encode()


@pytest.mark.parametrize("changes", [
    {"ok": "yes"},                 # wrong type
    {"status": 5},                 # wrong type
    {"device": "kiosk-02"},        # names another device than its topic
    {"site": "s2"},                # names another site
], ids=["ok-string", "status-number", "other-device", "other-site"])
def test_a_wrong_or_foreign_result_is_refused_and_the_entry_still_gets_its_own(
        sync_env: SyncEnv, changes: dict[str, object]) -> None:
    store = sync_env.open_store()
    # the gateways' session exists (the transaction waits for them at the broker), but no
    # gateway runs yet: only the forged result can answer
    sync_env.start_gateway().stop()
    agent = sync_env.start_agent()
    key = journal(store, "checkout", items(1)[0])
    with mqtt_client(sync_env.broker.port) as other:
        # a forged answer for the box's own pending transaction, before the gateway runs
        assert other.publish(topics.result(SITE, "kiosk-01"), _result(key, **changes)) == 0
        wait_until(lambda: agent.stats.dead_letters + agent.stats.rejected >= 1, 10,
                   what="the refusal")
    assert store.outbox.get(key).state != "applied"   # the forged result was not taken
    sync_env.start_gateway()
    entry = store.outbox.wait_for_result(key, 30)
    assert entry is not None and entry.state == "applied"
    assert agent.stats.callback_errors == 0


def test_a_replayed_result_changes_nothing(sync_env: SyncEnv) -> None:
    store = sync_env.open_store()
    sync_env.start_gateway()
    agent = sync_env.start_agent()
    with mqtt_client(sync_env.broker.port) as spy:
        spy.subscribe(topics.result(SITE, "kiosk-01"))
        key = journal(store, "checkout", items(1)[0])
        entry = store.outbox.wait_for_result(key, 20)
        assert entry is not None and entry.state == "applied"
        answer = spy.get(20).payload
        # the same result again, twice, with the result of a refusal for good measure
        assert spy.publish(topics.result(SITE, "kiosk-01"), answer) == 0
        refused = answer.replace(b'"status":"applied"', b'"status":"refused"')
        assert spy.publish(topics.result(SITE, "kiosk-01"), refused) == 0
        second = journal(store, "checkout", items(1, start=30000250)[0])
        assert store.outbox.wait_for_result(second, 20) is not None
    assert store.outbox.get(key).state == "applied"
    assert agent.stats.callback_errors == 0
