"""The agent receives ResultBatch messages (a real Mosquitto; a probe stands in for the gateway).

No gateway runs: the journaled entries stay unanswered until the probe publishes their
results, written by hand, on the device's result topic.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from sync import topics
from tests.sync.gateway.harness import (
    PATRON,
    SITE,
    SyncEnv,
    items,
    journal,
    mqtt_client,
    new_key,
    wait_until,
)

DEVICE = "kiosk-01"
AT = "2026-11-23T12:00:01Z"


def _result(key: str, kind: str, status: str, ok: bool, item: str | None, *,
            device: str = DEVICE, **extra: Any) -> dict[str, Any]:
    res: dict[str, Any] = {"v": 1, "key": key, "kind": kind, "site": SITE, "device": device,
                           "status": status, "ok": ok, "applied_at": AT, **extra}
    if item is not None:
        res["item"] = item
    return res


def _batch(results: list[dict[str, Any]], *, device: str = DEVICE) -> bytes:
    return json.dumps({"v": 1, "site": SITE, "device": device, "results": results}).encode()


def _publish(sync_env: SyncEnv, *payloads: bytes) -> None:
    """Publish on the device's result topic, in order, from one client."""
    with mqtt_client(sync_env.broker.port) as gateway_stand_in:
        for payload in payloads:
            assert gateway_stand_in.publish(topics.result(SITE, DEVICE), payload) == 0


def _wait(store: Any, key: str) -> Any:
    entry = store.outbox.wait_for_result(key, 20)
    assert entry is not None, f"no result stored for {key}"
    return entry


def test_every_result_of_a_batch_reaches_its_journal_entry(sync_env: SyncEnv) -> None:
    store = sync_env.open_store()
    agent = sync_env.start_agent()
    a, b, c, d = items(4)
    k_applied = journal(store, "checkout", a, offline=False)
    k_refused = journal(store, "checkout", b, offline=False)
    k_conflict = journal(store, "checkout", c, offline=True)
    k_error = journal(store, "checkin", d, patron=None)
    payload = _batch([
        _result(k_applied, "checkout", "applied", True, a, patron=PATRON,
                due_date="2026-12-07T23:59:00", desensitize="Y"),
        _result(k_refused, "checkout", "refused", False, b, screen_message="Loan limit",
                reason_code="loan_limit"),
        _result(k_conflict, "checkout", "conflict", False, c, screen_message="Unknown item"),
        _result(k_error, "checkin", "error", False, d, screen_message="ILS unavailable"),
    ])
    _publish(sync_env, payload)
    got = {k: _wait(store, k) for k in (k_applied, k_refused, k_conflict, k_error)}
    assert {k: e.state for k, e in got.items()} == {
        k_applied: "applied", k_refused: "refused", k_conflict: "conflict", k_error: "failed"}
    applied = got[k_applied].result
    assert applied["ok"] is True and applied["due_date"] == "2026-12-07T23:59:00"
    assert applied["desensitize"] == "Y" and applied["item"] == a
    refused = got[k_refused].result
    assert refused["ok"] is False and refused["reason_code"] == "loan_limit"
    assert refused["message"] == "Loan limit" and refused["code"] == "ils_refused"
    assert got[k_conflict].result["message"] == "Unknown item"
    assert [x.key for x in store.conflicts.list()] == [k_conflict]
    assert got[k_error].result["message"] == "ILS unavailable"
    wait_until(lambda: agent.stats.results == 4, 10, what="the results to be counted")
    assert agent.stats.rejected == 0
    assert store.outbox.backlog().open == 0


@pytest.mark.parametrize(("spoil", "reason"), [
    (lambda r: r.update(status="maybe"), "results[1]: TransactionResult: status"),
    (lambda r: r.pop("ok"), "results[1]: TransactionResult: ok"),
    (lambda r: r.update(key="not-a-uuid"), "results[1]: TransactionResult: key"),
    (lambda r: r.update(device="gate-01"), "results[1] names s1/gate-01, not the batch's s1/kiosk-01"),
], ids=["status", "missing-ok", "key", "other-device"])
def test_a_malformed_entry_is_rejected_and_the_others_are_stored(
        sync_env: SyncEnv, caplog: pytest.LogCaptureFixture, spoil: Any, reason: str) -> None:
    store = sync_env.open_store()
    agent = sync_env.start_agent()
    a, b, c = items(3)
    keys = [journal(store, "checkout", it, offline=False) for it in (a, b, c)]
    results = [_result(k, "checkout", "applied", True, it, patron=PATRON)
               for k, it in zip(keys, (a, b, c), strict=True)]
    spoil(results[1])
    _publish(sync_env, _batch(results))
    for k in (keys[0], keys[2]):
        assert _wait(store, k).state == "applied"
    wait_until(lambda: agent.stats.results == 2, 10, what="the results to be counted")
    # The whole message was handled in one pass: the bad entry is counted by now.
    assert agent.stats.rejected == 1
    assert store.outbox.get(keys[1]).state in ("pending", "sent")
    assert reason in caplog.text


def test_a_result_batch_for_another_device_stores_nothing(sync_env: SyncEnv) -> None:
    store = sync_env.open_store()
    agent = sync_env.start_agent()
    a, b, marker_item = items(3)
    keys = [journal(store, "checkout", it, offline=False) for it in (a, b)]
    marker = journal(store, "checkout", marker_item, offline=False)
    # Envelope and entries name gate-01, but the batch comes on kiosk-01's topic.
    other = _batch([_result(k, "checkout", "applied", True, it, device="gate-01")
                    for k, it in zip(keys, (a, b), strict=True)], device="gate-01")
    _publish(sync_env, other, _batch([_result(marker, "checkout", "applied", True, marker_item)]))
    assert _wait(store, marker).state == "applied"  # came after the bad batch
    wait_until(lambda: agent.stats.results == 1, 10, what="the marker to be counted")
    wait_until(lambda: agent.stats.rejected >= 1, 10, what="the rejection to be counted")
    assert agent.stats.rejected == 1 and agent.stats.results == 1
    assert [store.outbox.get(k).state in ("pending", "sent") for k in keys] == [True, True]


def test_a_batch_result_for_an_unknown_key_does_not_stop_the_others(
        sync_env: SyncEnv, caplog: pytest.LogCaptureFixture) -> None:
    store = sync_env.open_store()
    agent = sync_env.start_agent()
    a, b = items(2)
    keys = [journal(store, "checkout", it, offline=False) for it in (a, b)]
    stranger = new_key()
    _publish(sync_env, _batch([_result(keys[0], "checkout", "applied", True, a),
                               _result(stranger, "checkout", "applied", True, "30009999"),
                               _result(keys[1], "checkout", "applied", True, b)]))
    assert [_wait(store, k).state for k in keys] == ["applied", "applied"]
    assert agent.stats.rejected == 0
    wait_until(lambda: f"result for {stranger} not stored" in caplog.text, 10,
               what="the unknown key to be logged")
