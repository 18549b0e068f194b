"""The console's HTTP side: page and assets, ``/staff/state``, ``/gate`` and ``/gate/reset``,
auth, and the gate's life cycle in the app (``serve --role gate``)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from edge.api import create_app
from tests.edge.gate.conftest import GateRig, Walk

STAFF = {"Authorization": "Bearer staff-tok"}
DEV = {"Authorization": "Bearer dev-tok"}


@pytest.fixture
def client(settings, services) -> Iterator[TestClient]:
    app = create_app(settings, services, start_services=False)
    with TestClient(app) as c:
        yield c


def test_page_and_assets_are_served_without_data(client: TestClient) -> None:
    r = client.get("/staff")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "staff.js" in r.text and "Bàn thủ thư" in r.text
    assert client.get("/staff/assets/staff.js").headers["content-type"].startswith("text/javascript")
    assert client.get("/staff/assets/staff.css").status_code == 200
    r = client.get("/staff/assets/..%2Fapp.py")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def test_state_needs_the_staff_token(client: TestClient) -> None:
    assert client.get("/staff/state").status_code == 401
    assert client.get("/staff/state", headers=DEV).status_code == 403
    assert client.post("/gate/reset", headers=DEV).status_code == 403


def test_state_on_a_kiosk_box(client: TestClient, services) -> None:
    store = services.store
    store.outbox.append("checkout", {"x": 1}, item_id="3000001", patron_ref="2000001",
                        offline=True, ring=False)
    store.conflicts.add("k-1", "checkout", item_id="3000002", patron_ref="2000001",
                        reason="patron_blocked", detail={"patron_id": "2000001", "screen": "no"})
    store.events.record("gate-02", "offline", {"role": "gate"})
    store.counters.incr("checkout", 2)
    s = client.get("/staff/state", headers=STAFF).json()
    assert s["device"] == {"id": "kiosk-01", "role": "kiosk"} and s["gate"] is None
    assert s["today"]["loans"] == 2 and s["today"]["visitors_in"] == 0
    [c] = s["conflicts"]
    assert c["reason"] == "patron_blocked" and c["detail"] == {"screen": "no"}
    assert s["backlog"]["open"] >= 1 and s["backlog"]["entries"][0]["item_id"] == "3000001"
    assert "2000001" not in json.dumps(s)                  # no patron identifiers
    ids = {d["id"]: d for d in s["devices"]}
    assert ids["gate-02"]["state"] == "offline" and "gateway" in ids
    assert client.get("/gate", headers=STAFF).status_code == 404
    assert client.post("/gate/reset", headers=STAFF).json()["error"]["code"] == "not_found"


def test_gate_routes_with_a_gate(client: TestClient, gate_rig: GateRig) -> None:
    gate = gate_rig.make_gate(detection="afi", alarm_duration_ms=60_000)
    client.app.state.gate = gate  # type: ignore[attr-defined]
    Walk(gate_rig, gate).through([gate_rig.tag("80000001")], "out")
    st = client.get("/gate", headers=STAFF).json()
    assert st["id"] == "gate-01" and st["alarm_active"] is True and st["state"] == "online"
    assert client.post("/gate/reset", headers=STAFF).json() == {"reset": True, "gate": "gate-01"}
    assert gate_rig.device.outputs_now()["buzzer"] == "off"
    gate_rig.device.inject("timeout", count=None)
    r = client.post("/gate/reset", headers=STAFF)
    assert r.status_code == 503 and r.json()["error"]["code"] == "device_unavailable"
    gate_rig.device.faults.clear()


def test_role_gate_starts_and_stops_the_gate_loop(settings, services, gate_rig: GateRig) -> None:
    gate_settings = settings.model_copy(update={"device": settings.device.model_copy(
        update={"id": "gate-07", "role": "gate"})})
    services.settings = gate_settings
    services.devices.reader = gate_rig.reader
    app = create_app(gate_settings, services, start_services=False)
    with TestClient(app) as c:
        gate = app.state.gate
        assert gate is not None and gate.running and gate.gate_id == "gate-07"
        assert c.get("/gate", headers=STAFF).json()["running"] is True
    assert not gate.running
