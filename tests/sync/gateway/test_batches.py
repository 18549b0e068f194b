"""TransactionBatch messages through a real Mosquitto and the real gateway (demo ILS).

A probe stands in for the agent: it publishes hand-written batches on a device's ``tx``
topic and collects what comes back on the ``result`` topics. Acknowledgements are observed
the way ``test_ack_durability`` does: a message the gateway did not PUBACK is redelivered
by the broker to the next session of the same gateway id (and then applied, replayed or
rejected again there); an acknowledged one is not.
"""

from __future__ import annotations

import json
import queue
import threading
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest

from sync import topics
from sync.errors import InvalidMessageError, LedgerError
from sync.messages import (
    MAX_BATCH,
    ResultBatch,
    TransactionRequest,
    TransactionResult,
    encode,
    utcnow,
    validate,
)
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

DEVICE = "kiosk-01"
ALL_RESULTS = f"smartlib/v1/{SITE}/+/result"


# ---- helpers ---------------------------------------------------------------------------------

class _Clock:
    """Journal times, increasing from a minute ago (the ledger orders one item's transactions
    by ``created_at``)."""

    def __init__(self) -> None:
        self.base = utcnow() - timedelta(minutes=1)
        self.n = 0

    def __call__(self) -> str:
        self.n += 1
        return (self.base + timedelta(seconds=self.n)).isoformat().replace("+00:00", "Z")


def _tx(clock: _Clock, kind: str, item: str | None, *, patron: str | None = PATRON,
        device: str = DEVICE, key: str | None = None, offline: bool = True) -> dict[str, Any]:
    """One TransactionRequest as the agent writes it (hand-built JSON)."""
    entry: dict[str, Any] = {"v": 1, "key": key or new_key(), "kind": kind, "site": SITE,
                             "device": device, "created_at": clock(), "offline": offline,
                             "payload": {}}
    if item is not None:
        entry["item"] = item
    if patron is not None:
        entry["patron"] = patron
    return entry


def _batch(entries: list[dict[str, Any]], *, site: str = SITE, device: str = DEVICE,
           **extra: Any) -> bytes:
    return json.dumps({"v": 1, "site": site, "device": device, "transactions": entries,
                       **extra}).encode()


def _results_of(data: dict[str, Any]) -> list[dict[str, Any]]:
    return data["results"] if "results" in data else [data]


def _collect(probe: MqttProbe, keys: set[str], timeout: float = 30
             ) -> list[tuple[str, dict[str, Any]]]:
    """Result messages (topic, parsed payload) until every key of ``keys`` is answered."""
    got: list[tuple[str, dict[str, Any]]] = []
    seen: set[str] = set()
    while not keys <= seen:
        try:
            msg = probe.get(timeout)
        except queue.Empty:
            raise AssertionError(f"no result for {sorted(keys - seen)} within {timeout}s "
                                 f"(got {got})") from None
        data = json.loads(msg.payload)
        got.append((msg.topic, data))
        seen.update(r["key"] for r in _results_of(data))
    return got


def _key_counts(msgs: list[tuple[str, dict[str, Any]]]) -> Counter[str]:
    return Counter(r["key"] for _, data in msgs for r in _results_of(data))


def _assert_result_batches(msgs: list[tuple[str, dict[str, Any]]],
                           device: str = DEVICE) -> list[dict[str, Any]]:
    """Every message is a valid ResultBatch for ``device`` on its result topic; the results."""
    out: list[dict[str, Any]] = []
    for topic, data in msgs:
        assert topic == topics.result(SITE, device), topic
        assert "results" in data, f"a plain result where a ResultBatch was due: {data}"
        batch = validate(ResultBatch, data)
        assert (batch.site, batch.device) == (SITE, device)
        out.extend(data["results"])
    return out


def _send_batch(dev: MqttProbe, entries: list[dict[str, Any]], keys: list[str]
                ) -> list[dict[str, Any]]:
    """Publish ``entries`` as one batch and collect the answers: ResultBatches only, each
    of ``keys`` answered exactly once; the results."""
    assert dev.publish(topics.tx(SITE, DEVICE), _batch(entries)) == 0
    msgs = _collect(dev, set(keys))
    results = _assert_result_batches(msgs)
    assert _key_counts(msgs) == Counter(keys)
    return results


def _until_plain_result(probe: MqttProbe, key: str, timeout: float = 30
                        ) -> tuple[dict[str, Any], list[tuple[str, dict[str, Any]]]]:
    """Wait for the plain result of ``key``; returns it and what came before it."""
    before: list[tuple[str, dict[str, Any]]] = []
    while True:
        try:
            msg = probe.get(timeout)
        except queue.Empty:
            raise AssertionError(f"no result for {key} within {timeout}s (got {before})") from None
        data = json.loads(msg.payload)
        if data.get("key") == key:
            return data, before
        before.append((msg.topic, data))


def _loan_holder(ils: Any, item: str) -> str | None:
    """Who has ``item`` on loan at the demo ILS (None: not on loan)."""
    circ = ils.circulation
    with circ.lock:
        row = circ.db.execute("SELECT patron_id FROM loans WHERE item_id = ?", (item,)).fetchone()
    return None if row is None else str(row[0])


def _plain(clock: _Clock, item: str) -> tuple[str, bytes]:
    req = TransactionRequest.model_validate(_tx(clock, "checkout", item))
    return req.key, encode(req)


# ---- batches applied once, in order, answered in ResultBatches ------------------------------

def test_a_batch_is_applied_once_in_item_order_and_answered_in_result_batches(
        sync_env: SyncEnv) -> None:
    gw = sync_env.start_gateway(pool_size=4)
    clock = _Clock()
    loans = items(4)
    twice = items(1, start=30000250)[0]
    co_twice = _tx(clock, "checkout", twice)
    ci_twice = _tx(clock, "checkin", twice, patron=None)
    entries = [_tx(clock, "checkout", loans[0]), co_twice, _tx(clock, "checkout", loans[1]),
               ci_twice, _tx(clock, "checkout", loans[2]), _tx(clock, "checkout", loans[3])]
    keys = [e["key"] for e in entries]
    with mqtt_client(sync_env.broker.port) as dev:
        dev.subscribe(ALL_RESULTS)
        results = _send_batch(dev, entries, keys)  # every key answered exactly once
        by_key = {r["key"]: r for r in results}
        assert all(by_key[k]["status"] == "applied" and by_key[k]["ok"] for k in keys), results
        assert not any(r["replayed"] for r in results)
        assert by_key[co_twice["key"]]["kind"] == "checkout"
        assert by_key[ci_twice["key"]]["kind"] == "checkin"
        # A batched key sent again alone is answered alone (a plain, replayed result); no
        # other result came in between (no second answer to the batch).
        first = TransactionRequest.model_validate(entries[0])
        assert dev.publish(topics.tx(SITE, DEVICE), encode(first)) == 0
        again, between = _until_plain_result(dev, first.key)
        assert between == []
        assert "results" not in again and again["replayed"] is True
    apps = sync_env.ils.circulation.applications()
    assert sorted(a["xk"] for a in apps) == sorted(keys)
    assert sync_env.ils.duplicate_count() == 0
    same = [(a["kind"], a["xk"]) for a in apps if a["item_id"] == twice]
    assert same == [("checkout", co_twice["key"]), ("checkin", ci_twice["key"])]
    assert [_loan_holder(sync_env.ils, it) for it in loans] == [PATRON] * 4
    assert _loan_holder(sync_env.ils, twice) is None
    assert gw.stats["applied"] == len(entries)
    assert gw.stats["rejected"] == 0 and gw.stats["replayed"] == 1


def test_a_batch_of_one_gets_a_result_batch_and_a_lone_request_a_plain_result(
        sync_env: SyncEnv) -> None:
    sync_env.start_gateway()
    clock = _Clock()
    one, alone = items(2)
    entry = _tx(clock, "checkout", one)
    key, payload = _plain(clock, alone)
    with mqtt_client(sync_env.broker.port) as dev:
        dev.subscribe(topics.result(SITE, DEVICE))
        dev.publish(topics.tx(SITE, DEVICE), _batch([entry]))
        msgs = _collect(dev, {entry["key"]})
        assert [r["key"] for r in _assert_result_batches(msgs)] == [entry["key"]]
        dev.publish(topics.tx(SITE, DEVICE), payload)
        msg = dev.get(30)
    assert msg.topic == topics.result(SITE, DEVICE)
    data = json.loads(msg.payload)
    assert "results" not in data, "a lone request must get a plain TransactionResult"
    res = validate(TransactionResult, data)
    assert (res.key, res.status, res.ok, res.replayed) == (key, "applied", True, False)
    assert (res.site, res.device, res.item) == (SITE, DEVICE, alone)
    assert sorted(applied_keys(sync_env.ils)) == sorted([entry["key"], key])


# ---- bad entries, bad envelopes ---------------------------------------------------------------

def test_bad_entries_are_rejected_alone_and_the_message_is_still_acknowledged(
        sync_env: SyncEnv, caplog: pytest.LogCaptureFixture) -> None:
    gw = sync_env.start_gateway()
    clock = _Clock()
    good_items = items(3)
    bad_key_item, other_device_item = items(2, start=30000260)
    good = [_tx(clock, "checkout", it) for it in good_items]
    bad_key = {**_tx(clock, "checkout", bad_key_item), "key": "not-a-uuid"}
    other_device = _tx(clock, "checkout", other_device_item, device="kiosk-02")
    entries = [good[0], bad_key, good[1], other_device, good[2]]
    good_keys = [e["key"] for e in good]
    with mqtt_client(sync_env.broker.port) as dev:
        dev.subscribe(ALL_RESULTS)
        results = _send_batch(dev, entries, good_keys)
        assert all(r["status"] == "applied" for r in results), results
        assert gw.stats["rejected"] == 2
        # The message was acknowledged: the next session of this gateway gets no
        # redelivery (it would come before this marker, and be replayed and rejected again).
        gw.stop()
        gw2 = sync_env.start_gateway()
        marker, payload = _plain(clock, items(1, start=30000270)[0])
        dev.publish(topics.tx(SITE, DEVICE), payload)
        res, between = _until_plain_result(dev, marker)
        assert res["status"] == "applied" and between == []
    assert gw2.stats["replayed"] == 0 and gw2.stats["rejected"] == 0
    assert gw2.stats["applied"] == 1
    apps = sync_env.ils.circulation.applications()
    assert sorted(a["xk"] for a in apps) == sorted([*good_keys, marker])
    assert not [a for a in apps if a["item_id"] in (bad_key_item, other_device_item)]
    assert sync_env.ils.duplicate_count() == 0
    assert _loan_holder(sync_env.ils, bad_key_item) is None
    assert _loan_holder(sync_env.ils, other_device_item) is None
    text = caplog.text
    assert "rejected transactions[1] of a batch" in text and "key" in text
    assert "rejected transactions[3] of a batch" in text
    assert "names s1/kiosk-02 but came on s1/kiosk-01" in text



def test_entries_the_model_refuses_for_missing_fields_are_rejected_on_arrival(
        sync_env: SyncEnv, caplog: pytest.LogCaptureFixture) -> None:
    gw = sync_env.start_gateway()
    clock = _Clock()
    good = _tx(clock, "checkout", items(1)[0])
    no_patron = _tx(clock, "checkout", items(1, start=30000260)[0], patron=None)
    no_item = _tx(clock, "checkin", None, patron=None)
    for bad in (no_patron, no_item):  # what the message model says of them
        with pytest.raises(InvalidMessageError, match="needs"):
            validate(TransactionRequest, bad)
    with mqtt_client(sync_env.broker.port) as dev:
        dev.subscribe(ALL_RESULTS)
        dev.publish(topics.tx(SITE, DEVICE), _batch([good, no_patron, no_item]))
        msgs = _collect(dev, {good["key"]})
        marker, payload = _plain(clock, items(1, start=30000270)[0])
        dev.publish(topics.tx(SITE, DEVICE), payload)
        _res, between = _until_plain_result(dev, marker)
    assert _key_counts(msgs + between) == Counter([good["key"]])  # no answer to the bad ones
    assert gw.ledger.get(no_patron["key"]) is None and gw.ledger.get(no_item["key"]) is None
    assert gw.stats["rejected"] == 2 and gw.stats["applied"] == 2
    assert "rejected transactions[1] of a batch" in caplog.text
    assert "rejected transactions[2] of a batch" in caplog.text
    assert sorted(applied_keys(sync_env.ils)) == sorted([good["key"], marker])


def _envelope_other_device(clock: _Clock) -> bytes:
    entries = [_tx(clock, "checkout", it, device="kiosk-02") for it in items(2, start=30000280)]
    return _batch(entries, device="kiosk-02")


def _envelope_other_site(clock: _Clock) -> bytes:
    return _batch([_tx(clock, "checkout", items(1, start=30000280)[0])], site="s2")


def _envelope_version(clock: _Clock) -> bytes:
    data = json.loads(_batch([_tx(clock, "checkout", items(1, start=30000280)[0])]))
    return json.dumps({**data, "v": 2}).encode()


def _envelope_unknown_field(clock: _Clock) -> bytes:
    return _batch([_tx(clock, "checkout", items(1, start=30000280)[0])], priority="high")


def _envelope_empty(clock: _Clock) -> bytes:
    return _batch([])


def _envelope_too_many(clock: _Clock) -> bytes:
    return _batch([_tx(clock, "checkout", it) for it in items(MAX_BATCH + 1, start=30000280)])


@pytest.mark.parametrize(("make", "reason"), [
    (_envelope_other_device, "batch names s1/kiosk-02 but came on s1/kiosk-01"),
    (_envelope_other_site, "batch names s2/kiosk-01 but came on s1/kiosk-01"),
    (_envelope_version, "TransactionBatch: version 2"),
    (_envelope_unknown_field, "unknown field(s) ['priority']"),
    (_envelope_empty, f"transactions must be a list of 1 to {MAX_BATCH}"),
    (_envelope_too_many, f"transactions must be a list of 1 to {MAX_BATCH}"),
], ids=["other-device", "other-site", "version", "unknown-field", "empty", "too-many"])
def test_a_bad_envelope_rejects_the_whole_batch(sync_env: SyncEnv,
                                                caplog: pytest.LogCaptureFixture,
                                                make: Any, reason: str) -> None:
    gw = sync_env.start_gateway()
    clock = _Clock()
    with mqtt_client(sync_env.broker.port) as dev:
        dev.subscribe(ALL_RESULTS)
        assert dev.publish(topics.tx(SITE, DEVICE), make(clock)) == 0
        # The envelope is judged as the message arrives: once rejected, nothing was queued.
        wait_until(lambda: gw.stats["rejected"] >= 1, 20, what="the batch's rejection")
        marker, payload = _plain(clock, items(1, start=30000210)[0])
        dev.publish(topics.tx(SITE, DEVICE), payload)
        res, between = _until_plain_result(dev, marker)
    assert res["status"] == "applied"
    assert between == [], "nothing of the rejected batch may be answered"
    assert gw.stats["rejected"] == 1 and gw.stats["applied"] == 1
    assert applied_keys(sync_env.ils) == [marker]
    assert reason in caplog.text


# ---- replays ---------------------------------------------------------------------------------

def test_a_batch_published_twice_is_answered_from_the_ledger_the_second_time(
        sync_env: SyncEnv) -> None:
    gw = sync_env.start_gateway()
    clock = _Clock()
    twice = items(1, start=30000290)[0]
    entries = [_tx(clock, "checkout", it) for it in items(3)]
    entries += [_tx(clock, "checkout", twice), _tx(clock, "checkin", twice, patron=None),
                _tx(clock, "checkout", "39999999")]  # unknown item: refused (a conflict)
    keys = [e["key"] for e in entries]
    payload = _batch(entries)
    with mqtt_client(sync_env.broker.port) as dev:
        dev.subscribe(ALL_RESULTS)
        dev.publish(topics.tx(SITE, DEVICE), payload)
        first = _collect(dev, set(keys))
        assert _key_counts(first) == Counter(keys)
        dev.publish(topics.tx(SITE, DEVICE), payload)
        second = _collect(dev, set(keys))
        assert _key_counts(second) == Counter(keys)
    before = {r["key"]: r for r in _assert_result_batches(first)}
    after = {r["key"]: r for r in _assert_result_batches(second)}
    assert [before[k]["status"] for k in keys] == ["applied"] * 5 + ["conflict"]
    assert not any(r["replayed"] for r in before.values())
    assert all(r["replayed"] is True for r in after.values()), after
    for k in keys:  # the recorded result, word for word, but for the replay flag
        assert {**after[k], "replayed": False} == before[k]
    apps = sync_env.ils.circulation.applications()
    assert sorted(a["xk"] for a in apps if a["xk"]) == sorted(keys[:5])  # one SIP2 call each
    assert [a["kind"] for a in apps if a["item_id"] == twice] == ["checkout", "checkin"]
    assert sync_env.ils.duplicate_count() == 0
    assert gw.stats["replayed"] == len(keys)


# ---- acknowledgement only once every entry is durable ---------------------------------------

@pytest.fixture
def claims(sync_env: SyncEnv) -> Any:
    """A gateway whose ``claim_many`` and PUBACKs are recorded, in one ordered event log.

    ``fail`` says how many claim calls fail first (None: all of them).
    """

    def start(fail: int | None) -> tuple[Any, list[tuple[str, Any]]]:
        gw = sync_env.start_gateway()
        gw.retry_s = 0.2
        events: list[tuple[str, Any]] = []
        lock = threading.Lock()
        real_claim, real_ack = gw.ledger.claim_many, gw.client.ack
        failed = [0]

        def claim_many(requests: list[dict[str, Any]], **kw: Any) -> Any:
            keys = [r["key"] for r in requests]
            if fail is None or failed[0] < fail:
                failed[0] += 1
                with lock:
                    events.append(("claim failed", keys))
                raise LedgerError("injected: database is locked")
            out = real_claim(requests, **kw)
            with lock:
                events.append(("claimed", [c.row.key for c in out if c.outcome != "wait"]))
            return out

        def ack(mid: int, qos: int) -> Any:
            with lock:
                events.append(("ack", mid))
            return real_ack(mid, qos)

        gw.ledger.claim_many = claim_many
        gw.client.ack = ack
        return gw, events

    return start


def test_a_batch_is_acknowledged_only_once_every_entry_is_claimed(
        sync_env: SyncEnv, claims: Any) -> None:
    gw, events = claims(fail=1)  # the first claim fails; the gateway retries from memory
    clock = _Clock()
    entries = [_tx(clock, "checkout", it) for it in items(8)]
    keys = [e["key"] for e in entries]
    with mqtt_client(sync_env.broker.port) as dev:
        dev.subscribe(ALL_RESULTS)
        dev.publish(topics.tx(SITE, DEVICE), _batch(entries))
        msgs = _collect(dev, set(keys))
        assert _key_counts(msgs) == Counter(keys)
        assert all(r["status"] == "applied" for r in _assert_result_batches(msgs))
        wait_until(lambda: any(e[0] == "ack" for e in events), 20, what="the PUBACK")
        log = list(events)
        assert log[0][0] == "claim failed"
        assert set(log[0][1]) != set(keys), "the failed claim held the whole batch: no test"
        acks = [i for i, (what, _) in enumerate(log) if what == "ack"]
        assert len(acks) == 1, log  # one PUBACK for the whole message
        claimed_before = {k for what, ks in log[:acks[0]] if what == "claimed" for k in ks}
        assert claimed_before == set(keys), log  # not before every entry was durable
        # And the PUBACK did reach the broker: a new session gets no redelivery.
        gw.stop()
        gw2 = sync_env.start_gateway()
        marker, payload = _plain(clock, items(1, start=30000270)[0])
        dev.publish(topics.tx(SITE, DEVICE), payload)
        _res, between = _until_plain_result(dev, marker)
        assert between == []
    assert gw2.stats["replayed"] == 0
    assert sorted(applied_keys(sync_env.ils)) == sorted([*keys, marker])
    assert sync_env.ils.duplicate_count() == 0


def test_an_unclaimed_batch_is_not_acknowledged_and_comes_back_from_the_broker(
        sync_env: SyncEnv, claims: Any) -> None:
    gw, events = claims(fail=None)  # this gateway never manages to claim
    clock = _Clock()
    entries = [_tx(clock, "checkout", it) for it in items(4)]
    entries.append(_tx(clock, "checkin", entries[0]["item"], patron=None))
    keys = [e["key"] for e in entries]
    with mqtt_client(sync_env.broker.port) as dev:
        dev.subscribe(ALL_RESULTS)
        dev.publish(topics.tx(SITE, DEVICE), _batch(entries))
        wait_until(lambda: sum(e[0] == "claim failed" for e in events) >= 2, 20,
                   what="failed claims")
        gw.stop()  # no PUBACK was sent: the broker keeps the message in the session
        assert not any(e[0] == "ack" for e in events)
        assert applied_keys(sync_env.ils) == []
        gw2 = sync_env.start_gateway()  # same client id: the session and its message resume
        msgs = _collect(dev, set(keys))
    assert _key_counts(msgs) == Counter(keys)
    results = _assert_result_batches(msgs)
    assert all(r["status"] == "applied" and not r["replayed"] for r in results), results
    apps = sync_env.ils.circulation.applications()
    assert sorted(a["xk"] for a in apps) == sorted(keys)
    assert [a["kind"] for a in apps if a["item_id"] == entries[0]["item"]] == [
        "checkout", "checkin"]
    assert sync_env.ils.duplicate_count() == 0
    assert gw2.stats["applied"] == len(keys)
