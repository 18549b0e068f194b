"""The agent's remote configuration link: a configuration on the box's own topic is checked
and kept in the edge store (through the receiver, in its transaction); another box's, a
damaged one or garbage is a dead letter; the edge's outcome goes out as a retained ack, the
newest again after a reconnect."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from edge.store import Store
from smartlib.remote import document_hash
from sync import topics
from sync.agent.config_apply import RemoteConfigLink
from sync.agent.context import AgentContext, AgentStats, AgentTuning
from sync.agent.receiver import Receiver
from sync.agent.site_view import SiteView
from sync.messages import ConfigAck, DeviceConfig, decode, encode
from sync.mqtt import ReceivedMessage

SITE, DEVICE = "hn-01", "kiosk-01"
DOC = "[policy]\noffline_max_items = 7\n"


class RecordingClient:
    """Stands in for paho: records publishes and acknowledgements."""

    def __init__(self) -> None:
        self.published: list[tuple[str, bytes, int, bool]] = []
        self.acked: list[int] = []
        self.rc = 0

    def publish(self, topic: str, payload: bytes, qos: int = 0, retain: bool = False) -> Any:
        self.published.append((topic, payload, qos, retain))
        return type("Info", (), {"rc": self.rc})()

    def ack(self, mid: int, qos: int) -> None:
        self.acked.append(mid)


@pytest.fixture
def ctx(store: Store) -> AgentContext:
    return AgentContext(store=store, client=RecordingClient(), site=SITE,  # type: ignore[arg-type]
                        device=DEVICE, role="kiosk", tuning=AgentTuning(), stats=AgentStats())


def config_msg(device: str = DEVICE, version: int = 1, document: str = DOC, mid: int = 1,
               sha: str | None = None) -> ReceivedMessage:
    payload = encode(DeviceConfig(site=SITE, device=device, version=version,
                                  sha256=document_hash(document), document=document,
                                  by="boss", at=datetime.now(UTC)))
    if sha is not None:
        data = json.loads(payload)
        data["sha256"] = sha
        payload = json.dumps(data).encode()
    return ReceivedMessage(topics.config(SITE, DEVICE), payload, qos=1, mid=mid, retain=True)


def receiver(ctx: AgentContext, link: RemoteConfigLink) -> Receiver:
    return Receiver(ctx, SiteView(ctx, gateway_back=lambda: None), heard=lambda: None,
                    answered=lambda _k: None, remote_config=link)


def test_a_configuration_is_stored_once_and_acknowledged_after_the_commit(
        ctx: AgentContext, store: Store) -> None:
    link = RemoteConfigLink(ctx)
    rx = receiver(ctx, link)
    rx._write_with_retry([config_msg(mid=5)])
    rec = store.remote_config.pending()
    assert rec is not None and (rec.version, rec.document, rec.by) == (1, DOC, "boss")
    assert ctx.client.acked == [5] and ctx.stats.configs == 1  # type: ignore[attr-defined]
    rx._write_with_retry([config_msg(mid=6)])          # the retained copy after a reconnect
    assert ctx.stats.configs == 1 and store.remote_config.pending() == rec


@pytest.mark.parametrize(("msg", "why"), [
    (config_msg(device="kiosk-02"), "configuration for hn-01/kiosk-02"),
    (config_msg(sha="0" * 64), "sha256 does not match"),
    (ReceivedMessage(topics.config(SITE, DEVICE), b"{nope", qos=1, mid=9), "JSON"),
])
def test_a_bad_configuration_is_a_dead_letter(ctx: AgentContext, store: Store,
                                              msg: ReceivedMessage, why: str) -> None:
    rx = receiver(ctx, RemoteConfigLink(ctx))
    rx._write_with_retry([msg])
    assert store.remote_config.pending() is None
    [event] = [e for e in store.events.recent() if e.kind == "dead_letter"]
    assert why in event.detail["reason"]
    assert ctx.client.acked == [msg.mid]  # type: ignore[attr-defined]


def test_outcomes_go_out_retained_and_the_newest_again_after_a_reconnect(
        ctx: AgentContext, store: Store) -> None:
    link = RemoteConfigLink(ctx)
    store.remote_config.receive(1, document_hash(DOC), DOC)
    assert link.publish() == 0                          # the edge has not decided yet
    store.remote_config.decide(1, "applied", needs_restart=["gate.debounce_s"])
    assert link.publish() == 1 and link.publish() == 0
    [(topic, payload, qos, retain)] = ctx.client.published  # type: ignore[attr-defined]
    assert (topic, qos, retain) == ("smartlib/v1/hn-01/kiosk-01/config/ack", 1, True)
    ack = decode(ConfigAck, payload)
    assert (ack.version, ack.state, ack.needs_restart, ack.sha256) == (
        1, "applied", ["gate.debounce_s"], document_hash(DOC))

    link.reconnected()
    assert link.publish() == 1
    ctx.client.rc = 4  # type: ignore[attr-defined]  # not connected: kept for later
    link.reconnected()
    assert link.publish() == 0 and [a.version for a in store.remote_config.acks_to_send()] == [1]
