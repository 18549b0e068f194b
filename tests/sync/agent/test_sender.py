"""The agent's sender without a broker: mark_sent before publish, cancel, payloads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from edge.store import open_store
from sync.agent.service import AgentTuning, SyncAgent
from sync.messages import TransactionRequest, decode


class _Info:
    def __init__(self, mid: int) -> None:
        self.rc, self.mid = mqtt.MQTT_ERR_SUCCESS, mid


class RecordingClient:
    """Stands in for paho: records each publish and the store state of the entry at that moment."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.published: list[tuple[str, bytes, str | None]] = []
        self._mid = 0

    def publish(self, topic: str, payload: bytes, qos: int = 0, retain: bool = False,
                properties: Any = None) -> _Info:
        self._mid += 1
        state = None
        if topic.endswith("/tx"):
            state = self.store.outbox.get(json.loads(payload)["key"]).state
        self.published.append((topic, payload, state))
        return _Info(self._mid)


@pytest.fixture
def store(tmp_path: Path) -> Any:
    s = open_store(tmp_path / "edge.db")
    yield s
    s.close()


def _agent(store: Any) -> tuple[SyncAgent, RecordingClient]:
    client = RecordingClient(store)
    agent = SyncAgent(store, site="s1", device="kiosk-01", client=client,  # type: ignore[arg-type]
                      host="127.0.0.1", port=1, tuning=AgentTuning(publish_ops=False))
    agent.connected.set()
    return agent, client


def test_entries_are_marked_sent_before_they_are_published(store: Any) -> None:
    keys = [store.outbox.append("checkout", {}, item_id=f"3000{i}", patron_ref="2000001").key
            for i in range(3)]
    agent, client = _agent(store)
    agent._send_transactions()
    tx = [(json.loads(p)["key"], state) for t, p, state in client.published if t.endswith("/tx")]
    assert tx == [(k, "sent") for k in keys]  # never published while still "pending"


def test_a_cancelled_entry_is_never_published(store: Any) -> None:
    a = store.outbox.append("checkout", {}, item_id="30001", patron_ref="2000001")
    b = store.outbox.append("checkout", {}, item_id="30002", patron_ref="2000001")
    agent, client = _agent(store)
    real_mark_sent = store.outbox.mark_sent

    def cancel_then_mark(*keys: str) -> list[str]:
        # The edge cancels `a` between the agent's read and its mark_sent.
        store.outbox.cancel(a.key, "patron walked away")
        return real_mark_sent(*keys)

    store.outbox.mark_sent = cancel_then_mark
    agent._send_transactions()
    sent = [json.loads(p)["key"] for t, p, _ in client.published if t.endswith("/tx")]
    assert sent == [b.key]
    assert store.outbox.get(a.key).state == "failed" and agent.stats.cancelled == 1
    # Once the cancel came first, cancel() on a published entry refuses to withdraw it.
    _, withdrawn = store.outbox.cancel(b.key, "too late")
    assert withdrawn is False


@pytest.mark.parametrize(("kind", "item", "patron", "offline", "payload"), [
    ("checkout", "30001", "2000001", False, {}),
    ("checkin", "30001", None, True, {"location": "MAIN"}),
    ("renew", "30001", "2000001", True, {"nb_due_date": "2026-12-01"}),
    ("renew_all", None, "2000001", False, {}),
])
def test_direct_payload_equals_the_model(store: Any, kind: str, item: str | None,
                                         patron: str | None, offline: bool,
                                         payload: dict[str, Any]) -> None:
    e = store.outbox.append(kind, payload, item_id=item, patron_ref=patron, offline=offline)
    agent, _ = _agent(store)
    fast = agent._payload(e)
    assert fast is not None
    model = TransactionRequest(key=e.key, kind=kind, site="s1", device="kiosk-01",  # type: ignore[arg-type]
                               patron=patron, item=item, created_at=e.created_at,  # type: ignore[arg-type]
                               offline=offline, payload=payload)
    assert decode(TransactionRequest, fast) == model


def test_an_unsendable_entry_is_marked_failed(store: Any) -> None:
    e = store.outbox.append("fee_paid", {}, item_id=None, patron_ref="2000001")
    agent, client = _agent(store)
    agent._send_transactions()
    assert store.outbox.get(e.key).state == "failed"
    assert not [t for t, _, _ in client.published if t.endswith("/tx")]
