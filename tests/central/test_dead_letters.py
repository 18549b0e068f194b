"""Dead letters reach the central console: a gateway reports each as a ``dead_letter``
event (no payload), the collector stores it like a box's, and ``/dead-letters`` lists them
with the collector's own, for every role, never without a login."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from central.collector import CentralCollector, make_collector_client
from central.config import CentralSection
from central.store import CentralStore
from central.web.app import create_app
from smartlib.config import BrokerSection
from sync import topics
from sync.gateway.intake import Intake
from sync.gateway.ledger import open_ledger
from sync.messages import DeviceEventReport, decode
from sync.mqtt import ReceivedMessage
from tests.central.conftest import Clock, make_auth
from tests.central.test_web import PASSWORD, login

POISON = b'{"v":1,"x":' + b"[" * 3000 + b"]" * 3000 + b"}"


class _Published:
    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes]] = []

    def publish(self, topic: str, payload: bytes, qos: int = 0, **_: Any) -> None:
        self.messages.append((topic, payload))


def _gateway_dead_letter(tmp_path: Path) -> tuple[str, bytes]:
    client = _Published()
    intake = Intake(sites={"hn-01"}, ledger=open_ledger(f"sqlite:///{tmp_path / 'l.db'}", "gw-1"),
                    client=client, count=lambda *_a, **_k: None, enqueue=lambda *a, **k: None,  # type: ignore[arg-type]
                    gateway_id="gw-1")
    intake.dead_letter(ReceivedMessage(topics.tx("hn-01", "kiosk-01"), POISON, qos=1, mid=3),
                       "nesting deeper than 32")
    [(topic, payload)] = client.messages
    return topic, payload


def test_a_gateway_reports_its_dead_letter_without_the_payload(tmp_path: Path) -> None:
    topic, payload = _gateway_dead_letter(tmp_path)
    assert topic == topics.event("hn-01", "gw-1")
    event = decode(DeviceEventReport, payload)
    assert event.kind == "dead_letter" and event.source == "gateway"
    assert event.detail["topic"] == topics.tx("hn-01", "kiosk-01")
    assert event.detail["from_device"] == "kiosk-01"
    assert event.detail["size"] == len(POISON) and len(event.detail["sha256"]) == 64
    assert b"[[[" not in payload


@pytest.fixture
def console(store: CentralStore, clock: Clock, tmp_path: Path) -> Iterator[TestClient]:
    collector = CentralCollector(store, make_collector_client(BrokerSection(), "central-unit"),
                                 host="127.0.0.1", port=1, clock=clock)
    assert collector.handle(*_gateway_dead_letter(tmp_path)) == "event"
    assert collector.handle(topics.status("hn-01", "kiosk-01"), b"not json") == "dead"
    auth = make_auth(store, clock)
    auth.create_account("xem", PASSWORD, role="viewer")
    with TestClient(create_app(store, auth, CentralSection(), poll_s=0.05)) as client:
        yield client


def test_the_console_lists_every_dead_letter(console: TestClient) -> None:
    assert console.get("/api/dead-letters").status_code == 401
    login(console, "xem")
    body = console.get("/api/dead-letters").json()
    [reported] = body["reported"]
    assert (reported["site"], reported["device"]) == ("hn-01", "gw-1")
    assert reported["detail"]["reason"] == "nesting deeper than 32"
    [own] = body["collector"]
    assert own["topic"] == topics.status("hn-01", "kiosk-01")
    page = console.get("/dead-letters?site=hn-01")
    assert page.status_code == 200 and "nesting deeper than 32" in page.text
    assert "hn-01 / gw-1" in page.text
