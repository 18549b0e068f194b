"""Remote configuration end to end: the console's change, published by the collector on its
own account, received by a real ``smartlib sync`` agent into the edge store, applied by the
edge services' background applier, and acknowledged back to the console; an invalid one is
refused with its reason and the old one kept. A private Mosquitto with the product's ACLs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from central.remote_config import RemoteConfigService
from edge.services.container import EdgeServices
from smartlib.config import load_settings, overlay_path
from sync import topics
from tests.central.conftest import Central, agent_toml
from tests.edge.doubles import FakeReader
from tests.sync.gateway.harness import Proc, mqtt_client, wait_until

SITE = "hn-01"
ALLOWED = (0x00, 0x10)
"""PUBACK reason codes of an allowed publish (0x10: no subscriber matched)."""


class Box:
    """A kiosk box: its agent (``smartlib sync``) and its edge services on one store."""

    def __init__(self, tmp: Path, broker: Any) -> None:
        self.config = agent_toml(tmp, broker, SITE, "kiosk-01")
        self.agent = Proc(["sync", "--config", str(self.config)], tmp / "agent.log")
        self.services: EdgeServices | None = None

    def start(self) -> Box:
        self.agent.start()
        settings = load_settings(self.config, card_reader={"enabled": False})
        self.services = EdgeServices.build(settings, reader=FakeReader())
        self.services.start(background=True, poll_pad=False)
        return self

    def stop(self) -> None:
        if self.services is not None:
            self.services.stop()
            self.services = None
        self.agent.stop()


@pytest.fixture
def box(tmp_path: Path, site_broker: Any) -> Iterator[Box]:
    b = Box(tmp_path, site_broker).start()
    try:
        yield b
    finally:
        b.stop()


def state_of(central: Central) -> Any:
    return central.store.configs.device_state(SITE, "kiosk-01")


def test_a_change_is_applied_and_an_invalid_one_refused(central: Central, box: Box) -> None:
    wait_until(lambda: (d := central.device("kiosk-01")) and d.state == "online",
               what=lambda: f"the kiosk online; agent: {box.agent.output()[-2000:]}")
    services = box.services
    assert services is not None and services.circulation.policy.offline_max_items == 5
    service = RemoteConfigService(central.store)
    service.change(SITE, None, "[policy]\nsession_idle_s = 120\n", base_version=0,
                   actor="boss")
    service.change(SITE, "kiosk-01", "[policy]\noffline_max_items = 7\n\n[gate]\n"
                   "debounce_s = 3.0\n", base_version=0, actor="boss")

    wait_until(lambda: (s := state_of(central)) and s.state == "applied" and s.version == 2,
               what=lambda: f"the change applied; agent: {box.agent.output()[-2000:]}")
    state = state_of(central)
    assert state.needs_restart == ("gate.debounce_s",)
    assert services.circulation.policy.offline_max_items == 7      # live
    assert services.sessions.policy.session_idle_s == 120
    assert central.device("kiosk-01").config_version == "2"
    overlay = overlay_path(services.store.path)
    assert "offline_max_items = 7" in overlay.read_text()

    # A configuration the box's models refuse (as from a console of another release: this
    # one would refuse it before pushing) is answered "failed" with the reason.
    central.store.configs.record_push(SITE, "kiosk-01", site_version=1, device_version=1,
                                      document="[policy]\noffline_max_items = -3\n",
                                      by="boss", at="2026-12-07T05:00:00.000Z")
    wait_until(lambda: (s := state_of(central)) and s.state == "failed",
               what=lambda: f"the refusal; agent: {box.agent.output()[-2000:]}")
    state = state_of(central)
    assert state.version == 3 and "policy.offline_max_items" in (state.reason or "")
    assert services.circulation.policy.offline_max_items == 7      # the old one kept
    assert "offline_max_items = 7" in overlay.read_text()
    assert central.device("kiosk-01").config_version == "2"


def test_the_acl_lets_only_the_collector_push_and_only_the_device_answer(
        site_broker: Any, central: Central) -> None:
    with mqtt_client(site_broker.port, user="kiosk-01", password="kiosk-pw",
                     client_id="kiosk-probe") as kiosk:
        assert kiosk.publish(topics.config(SITE, "kiosk-01"), b"{}") == 0x87   # not its own
        assert kiosk.publish(topics.config_ack(SITE, "gate-01"), b"{}") == 0x87  # another's
        assert kiosk.publish(topics.config_ack(SITE, "kiosk-01"), b"") in ALLOWED
    with mqtt_client(site_broker.port, user="central", password="central-pw",
                     client_id="central-probe") as as_central:
        assert as_central.publish(topics.config(SITE, "kiosk-01"), b"") in ALLOWED
        assert as_central.publish(topics.config_ack(SITE, "kiosk-01"), b"{}") == 0x87
