"""The simulator's control API over its embedded demo ILS: ``POST /ils/faults``."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from hardware_sim.control_api import make_control_app
from hardware_sim.ils.server import DemoIlsServer
from hardware_sim.world import SimWorld, WorldSpec


@pytest.fixture
def client(demo_ils: DemoIlsServer) -> Iterator[TestClient]:
    world = SimWorld(WorldSpec.default(), timing=False).start()
    world.ils = demo_ils
    try:
        yield TestClient(make_control_app(world))
    finally:
        world.ils = None  # the demo_ils fixture stops it
        world.stop()


def test_drop_connections_closes_open_sip2_connections_and_the_ils_stays_up(
        client: TestClient, demo_ils: DemoIlsServer) -> None:
    port = demo_ils.port
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(b"9900302.00\r")  # SC Status: the connection is being served
        assert conn.recv(4096).startswith(b"98")
        r = client.post("/ils/faults", json={"drop_connections": True})
        assert r.status_code == 200
        assert r.json()["faults"] == {"outage": False, "latency_s": 0.0}
        assert conn.recv(4096) == b""  # closed by the ILS
    with socket.create_connection(("127.0.0.1", port), timeout=5) as again:
        again.sendall(b"9900302.00\r")
        assert again.recv(4096).startswith(b"98")


def test_latency_and_outage_are_set_and_reported(client: TestClient) -> None:
    r = client.post("/ils/faults", json={"latency_s": 0.5, "outage": True})
    assert r.json()["faults"] == {"outage": True, "latency_s": 0.5}
    r = client.post("/ils/faults", json={"latency_s": 0, "outage": False})
    assert r.json()["faults"] == {"outage": False, "latency_s": 0.0}
    assert client.post("/ils/faults", json={"latency_s": -1}).status_code == 422
