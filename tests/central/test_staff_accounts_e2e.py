"""Staff accounts end to end: an account created at the central console is published by the
collector (its own account, retained on ``{site}/staff/accounts``), cached by a real
``smartlib sync`` agent in the edge store, and logs in on the box's staff API; a disabled
one is refused after the next publish; the cache still logs staff in with the broker down.
A private Mosquitto with the product's ACLs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from central.auth import StaffAuth
from edge.api import create_app
from sync import topics
from tests.central.conftest import Central
from tests.central.test_remote_config_e2e import ALLOWED, SITE, Box
from tests.sync.gateway.harness import mqtt_client, wait_until

FAST = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)


@pytest.fixture
def box(tmp_path: Path, site_broker: Any) -> Iterator[Box]:
    b = Box(tmp_path, site_broker).start()
    try:
        yield b
    finally:
        b.stop()


def login(client: TestClient, user: str, password: str) -> tuple[int, dict[str, Any]]:
    r = client.post("/staff/login", json={"username": user, "password": password})
    return r.status_code, r.json()


def test_a_central_account_logs_in_on_the_box_and_offline_too(
        central: Central, box: Box, site_broker: Any) -> None:
    auth = StaffAuth(central.store, hasher=FAST)
    auth.create_account("lan", "lan-password-1", role="librarian")
    auth.create_account("vy", "vy-password-12", role="viewer")
    services = box.services
    assert services is not None
    with TestClient(create_app(services.settings, services, start_services=False)) as client:
        assert login(client, "lan", "lan-password-1")[0] == 401      # nothing cached yet
        wait_until(lambda: login(client, "lan", "lan-password-1")[0] == 200,
                   what=lambda: f"lan logs in on the box; agent: {box.agent.output()[-2000:]}")
        status, body = login(client, "vy", "vy-password-12")
        assert status == 200 and body["role"] == "viewer"
        viewer = {"Authorization": f"Bearer {body['token']}"}
        alarm = services.store.alarms.raise_alarm("unpaid_exit", "an item left unpaid")
        assert client.get("/alarms", headers=viewer).status_code == 200
        assert client.post(f"/alarms/{alarm.id}/ack", headers=viewer).status_code == 403
        # the shared staff token is off now that accounts are cached
        shared = {"Authorization": f"Bearer {services.settings.api.staff_token.get_secret_value()}"}
        assert client.get("/alarms", headers=shared).status_code == 401

        central.store.staff.set_disabled("vy", True)
        wait_until(lambda: login(client, "vy", "vy-password-12")[0] == 401,
                   what="the disabled account refused on the box")
        assert client.get("/alarms", headers=viewer).status_code == 401  # its session ends

        site_broker.stop()
        wait_until(lambda: services.store.meta.connectivity()[0] == "offline",
                   what="the agent sees the broker gone")
        status, body = login(client, "lan", "lan-password-1")
        assert status == 200 and body["role"] == "librarian"
        lib = {"Authorization": f"Bearer {body['token']}"}
        assert client.post(f"/alarms/{alarm.id}/ack", headers=lib).status_code == 200
        assert login(client, "vy", "vy-password-12")[0] == 401


def test_only_the_collector_may_publish_staff_accounts(site_broker: Any, central: Central) -> None:
    with mqtt_client(site_broker.port, user="kiosk-01", password="kiosk-pw",
                     client_id="kiosk-probe") as kiosk:
        assert kiosk.publish(topics.staff_accounts(SITE), b"{}") == 0x87
    with mqtt_client(site_broker.port, user="central", password="central-pw",
                     client_id="central-probe") as as_central:
        assert as_central.publish(topics.staff_accounts(SITE), b"") in ALLOWED
