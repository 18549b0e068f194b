"""The agent's sender without a broker: mark_sent before publish, cancel, payloads."""

from __future__ import annotations

import json
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from sync.agent.service import AgentTuning, SyncAgent
from sync.messages import TransactionBatch, TransactionRequest, decode


def _requests(payload: bytes) -> list[dict[str, Any]]:
    """The requests in a tx payload: one request, or a TransactionBatch's."""
    data = json.loads(payload)
    return data["transactions"] if "transactions" in data else [data]


class _Info:
    def __init__(self, mid: int) -> None:
        self.rc, self.mid = mqtt.MQTT_ERR_SUCCESS, mid


class RecordingClient:
    """Stands in for paho: records each publish and the store state of the entry at that moment."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.published: list[tuple[str, bytes, list[str] | None]] = []
        self.props: list[Any] = []
        self._mid = 0

    def publish(self, topic: str, payload: bytes, qos: int = 0, retain: bool = False,
                properties: Any = None) -> _Info:
        self._mid += 1
        states = None
        if topic.endswith("/tx"):
            states = [self.store.outbox.get(r["key"]).state for r in _requests(payload)]
            self.props.append(properties)
        self.published.append((topic, payload, states))
        return _Info(self._mid)

    def tx(self) -> list[bytes]:
        return [p for t, p, _ in self.published if t.endswith("/tx")]


def _agent(store: Any, **tuning: Any) -> tuple[SyncAgent, RecordingClient]:
    client = RecordingClient(store)
    agent = SyncAgent(store, site="s1", device="kiosk-01", client=client,  # type: ignore[arg-type]
                      host="127.0.0.1", port=1, tuning=AgentTuning(publish_ops=False, **tuning))
    agent.connected.set()
    return agent, client


def test_entries_are_marked_sent_before_they_are_published(store: Any) -> None:
    keys = [store.outbox.append("checkout", {}, item_id=f"3000{i}", patron_ref="2000001").key
            for i in range(3)]
    agent, client = _agent(store)
    agent.sender.send()
    tx = [(r["key"], state) for t, p, states in client.published if t.endswith("/tx")
          for r, state in zip(_requests(p), states or [], strict=True)]
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
    agent.sender.send()
    sent = [r["key"] for p in client.tx() for r in _requests(p)]
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
    fast = agent.sender.payload(e)
    assert fast is not None
    model = TransactionRequest(key=e.key, kind=kind, site="s1", device="kiosk-01",  # type: ignore[arg-type]
                               patron=patron, item=item, created_at=e.created_at,  # type: ignore[arg-type]
                               offline=offline, payload=payload)
    assert decode(TransactionRequest, fast) == model


def test_an_unsendable_entry_is_marked_failed(store: Any) -> None:
    e = store.outbox.append("fee_paid", {}, item_id=None, patron_ref="2000001")
    agent, client = _agent(store)
    agent.sender.send()
    assert store.outbox.get(e.key).state == "failed"
    assert not [t for t, _, _ in client.published if t.endswith("/tx")]


def test_a_backlog_goes_in_batches_of_tx_batch_in_journal_order(store: Any) -> None:
    keys = [store.outbox.append("checkout", {}, item_id=f"3{i:04d}", patron_ref="2000001",
                                offline=True, ring=False).key for i in range(250)]
    agent, client = _agent(store, tx_batch=100)
    agent.sender.send()
    batches = [decode(TransactionBatch, p) for p in client.tx()]
    assert [len(b.transactions) for b in batches] == [100, 100, 50]
    assert [t.key for b in batches for t in b.transactions] == keys
    assert all((b.site, b.device) == ("s1", "kiosk-01") for b in batches)
    assert agent.stats.published == 250 and agent.stats.messages == 3
    # One PUBACK acknowledges the 100 transactions of its message, and only those.
    agent._on_publish(None, None, 1, mqtt.ReasonCode(mqtt.PacketTypes.PUBACK, "Success"), None)
    assert agent.stats.acked == 100
    assert sum(p.acked for p in agent.sender.pending.values()) == 100


def test_a_refused_batch_puback_backs_off_every_transaction_in_it(store: Any) -> None:
    for i in range(3):
        store.outbox.append("checkin", {}, item_id=f"3{i:04d}", patron_ref=None, offline=True, ring=False)
    agent, client = _agent(store)
    agent.sender.send()
    assert len(client.tx()) == 1
    agent._on_publish(None, None, 1, mqtt.ReasonCode(mqtt.PacketTypes.PUBACK, "Not authorized"),
                      None)
    assert agent.stats.refused_pubacks == 3 and agent.stats.acked == 0
    assert all(p.mid is None and p.next_try > 0 for p in agent.sender.pending.values())


def test_online_and_offline_entries_go_in_separate_messages_in_order(store: Any) -> None:
    flags = [True, True, False, False, True]
    keys = [store.outbox.append("checkin", {}, item_id=f"3{i:04d}", patron_ref=None, offline=off, ring=False).key
            for i, off in enumerate(flags)]
    agent, client = _agent(store, online_expiry_s=15.0)
    agent.sender.send()
    parts = [_requests(p) for p in client.tx()]
    assert [[r["offline"] for r in part] for part in parts] == [[True, True], [False, False], [True]]
    assert [r["key"] for part in parts for r in part] == keys
    # Only the online message carries the MQTT 5 message expiry.
    assert [getattr(pr, "MessageExpiryInterval", None) for pr in client.props] == [None, 15, None]


def test_tx_batch_1_sends_every_transaction_alone(store: Any) -> None:
    keys = [store.outbox.append("checkin", {}, item_id=f"3{i:04d}", patron_ref=None, offline=True, ring=False).key
            for i in range(3)]
    agent, client = _agent(store, tx_batch=1)
    agent.sender.send()
    assert [decode(TransactionRequest, p).key for p in client.tx()] == keys


def test_after_a_restart_every_entry_left_sent_goes_again_beyond_one_window(store: Any) -> None:
    # A previous process marked 12 entries sent and died; the window holds 5 at a time.
    keys = [store.outbox.append("checkout", {}, item_id=f"3100{i:02d}", patron_ref="2000001").key
            for i in range(12)]
    store.outbox.mark_sent(*keys)
    agent, client = _agent(store, window=5, tx_batch=1)
    ok = mqtt.ReasonCode(mqtt.PacketTypes.PUBACK, "Success")
    for _ in range(6):
        agent.sender.send()
        for mid in agent.acks.waiting():
            agent._on_publish(None, None, mid, ok, None)
    sent = [r["key"] for p in client.tx() for r in _requests(p)]
    assert sorted(sent) == sorted(keys) and len(sent) == 12


@pytest.mark.parametrize("window", [5, 2])
def test_a_puback_wakes_the_sender_only_when_the_window_held_entries_back(
        store: Any, window: int) -> None:
    bell = store.doorbell("agent")
    ok = mqtt.ReasonCode(mqtt.PacketTypes.PUBACK, "Success")
    for i in range(3):
        store.outbox.append("checkout", {}, item_id=f"3200{i:02d}", patron_ref="2000001")
    agent, client = _agent(store, window=window, tx_batch=1)
    if window == 5:
        # The pass sent all three: their PUBACKs are no reason for another pass.
        agent.sender_pass()
        bell.take()
        for mid in agent.acks.waiting():
            agent._on_publish(None, None, mid, ok, None)
        assert len(client.tx()) == 3 and bell.take() is False
        return
    # A window of 2 held the third back: the first PUBACK after the pass wakes the sender
    # (once), and the pass it wakes sends the third.
    agent.sender_pass()
    bell.take()
    first, second = agent.acks.waiting()
    agent._on_publish(None, None, first, ok, None)
    assert bell.take() is True
    agent._on_publish(None, None, second, ok, None)
    assert bell.take() is False
    agent.sender_pass()
    assert len(client.tx()) == 3


def test_a_puback_during_the_pass_still_lets_the_window_refill(store: Any) -> None:
    """The first version of the rule above woke the sender only when the window was full
    at the PUBACK: PUBACKs that came while the pass still published left it one short, no
    PUBACK woke the sender again, and it slept until ``poll_s`` (the MQTT leg fell from
    0.61 to 0.055 of raw paho in bench/sync.py)."""
    bell = store.doorbell("agent")
    ok = mqtt.ReasonCode(mqtt.PacketTypes.PUBACK, "Success")
    for i in range(6):
        store.outbox.append("checkout", {}, item_id=f"3201{i:02d}", patron_ref="2000001")
    agent, client = _agent(store, window=3, tx_batch=1)
    publish = client.publish
    mids: list[int] = []

    def publish_and_ack_the_first(*a: Any, **kw: Any) -> Any:
        if len(mids) == 1:   # the broker answers the first message while the pass goes on
            agent._on_publish(None, None, mids[0], ok, None)
        info = publish(*a, **kw)
        if a[0].endswith("/tx"):
            mids.append(info.mid)
        return info

    client.publish = publish_and_ack_the_first  # type: ignore[method-assign]
    bell.take()                # the journal's rings
    agent.sender_pass()        # 3 published (the window), the first acknowledged meanwhile
    assert len(client.tx()) == 3
    assert bell.take() is True  # that PUBACK asked for a pass: the window held entries back
    agent._on_publish(None, None, mids[1], ok, None)
    agent.sender_pass()
    assert len(client.tx()) == 5
