"""The console's HTTP side: page and assets, ``/staff/state``, ``/gate`` and ``/gate/reset``,
auth, and the gate's life cycle in the app (``serve --role gate``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from edge.api import create_app
from edge.store import open_store
from smartlib.config import load_settings
from sync.agent.service import AgentTuning, SyncAgent, make_agent_client
from tests.edge.gate.conftest import GateRig, Walk
from tests.sync.gateway.harness import Proc, wait_until, write_toml

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


def test_state_on_a_kiosk_box(client: TestClient, services, gateway) -> None:
    gateway.online = False  # the backlog stays open
    store = services.store
    store.outbox.append("checkout", {"x": 1}, item_id="3000001", patron_ref="2000001",
                        offline=True, ring=False)
    store.conflicts.add("k-1", "checkout", item_id="3000002", patron_ref="2000001",
                        reason="patron_blocked", detail={"patron_id": "2000001", "screen": "no"})
    store.counters.incr("checkout", 2)
    s = client.get("/staff/state", headers=STAFF).json()
    assert s["device"] == {"id": "kiosk-01", "role": "kiosk"} and s["gate"] is None
    assert s["today"]["loans"] == 2 and s["today"]["visitors_in"] == 0
    assert s["today"]["devices"]["kiosk-01"]["loans"] == 2
    [c] = s["conflicts"]
    assert c["reason"] == "patron_blocked" and c["detail"] == {"screen": "no"}
    assert s["backlog"]["open"] >= 1 and s["backlog"]["entries"][0]["item_id"] == "3000001"
    assert "2000001" not in json.dumps(s)                  # no patron identifiers
    ids = {d["id"]: d for d in s["devices"]}
    assert "gateway" in ids and set(ids) <= {"kiosk-01/reader", "gateway"}  # no other box heard of
    assert client.get("/gate", headers=STAFF).status_code == 404
    assert client.post("/gate/reset", headers=STAFF).json()["error"]["code"] == "not_found"


def test_the_sites_other_boxes_through_a_real_broker(client: TestClient, settings, services,
                                                     mosquitto_broker, tmp_path: Path) -> None:
    """This kiosk's agent and a gate box's agent (a process) on one Mosquitto: the console
    shows the gate online with its backlog and reader failures, the site's counts summed
    (loans from the kiosk, visitors and the alarm from the gate), the gate's alarm; and
    the gate offline once its agent is killed (its last will)."""
    site = settings.site.id
    broker = {"host": "127.0.0.1", "port": mosquitto_broker.port}
    me = SyncAgent(services.store, site=site, device="kiosk-01", host="127.0.0.1",
                   port=mosquitto_broker.port, role="kiosk",
                   client=make_agent_client(load_settings(None, broker=broker).broker, site,
                                            "kiosk-01"),
                   tuning=AgentTuning(ops_interval_s=0.2, poll_s=0.1))
    gate_store = open_store(tmp_path / "gate-02.db")
    gate_store.counters.incr("visitors_in", 4)
    gate_store.counters.incr("gate_alarm", 1)
    gate_store.alarms.raise_alarm("gate", "gate-02: 'Truyện Kiều' going out", device="gate-02",
                                  item_id="30000100", uid="E004010012345678",
                                  detail={"direction": "out", "title": "Truyện Kiều",
                                          "reason": "secured"})
    gate_store.events.record("gate-02", "reader_offline", {"error": "timeout"})
    gate_store.outbox.append("checkin", {}, item_id="30000101", patron_ref=None, ring=False)
    gate_store.close()
    cfg = write_toml(tmp_path / "gate-02.toml", {
        "site": {"id": site}, "device": {"id": "gate-02", "role": "gate"}, "broker": broker,
        "store": {"path": str(tmp_path / "gate-02.db")},
        # status_backlog_age_s = 0: the fresh entry counts in the gate's backlog at once.
        "sync": {"poll_s": 0.1, "stats_grace_s": 0, "status_backlog_age_s": 0}})
    gate = Proc(["sync", "--config", str(cfg)], tmp_path / "gate-02.log")
    services.store.counters.incr("checkout", 2)
    me.start()
    try:
        gate.start()

        def state() -> dict:
            return client.get("/staff/state", headers=STAFF).json()

        def gate_seen() -> dict | None:
            s = state()
            ids = {d["id"]: d for d in s["devices"]}
            g = ids.get("gate-02")
            ok = (g is not None and g["state"] == "online" and s["today"]["visitors_in"] == 4
                  and any(a.get("remote") for a in s["alarms"]))
            return s if ok else None
        s = wait_until(gate_seen, 30, what=lambda: f"the gate in the console: {state()}")
        g = {d["id"]: d for d in s["devices"]}["gate-02"]
        assert (g["role"], g["backlog"], g["failures"], g["reader"]) == ("gate", 1, 1, "offline")
        assert s["today"]["loans"] == 2 and s["today"]["alarms"] == 1
        assert s["today"]["devices"]["gate-02"]["visitors_in"] == 4
        assert s["today"]["devices"]["kiosk-01"]["visitors_in"] == 0
        [a] = [a for a in s["alarms"] if a["remote"]]
        assert (a["id"], a["box"], a["title"], a["item_id"], a["direction"], a["reason"]) == (
            "gate-02:1", "gate-02", "Truyện Kiều", "30000100", "out", "secured")
        version = client.get("/staff/site-version", headers=STAFF).json()["version"]
        assert version > 0
        devs = client.get("/devices", headers=STAFF).json()
        [sd] = [d for d in devs["site_devices"] if d["device"] == "gate-02"]
        assert sd["state"] == "online" and sd["reader_failures"] == 1 and devs["site"] == site
        stats = client.get("/stats/today", headers=STAFF).json()
        assert stats["site"]["devices"]["gate-02"]["totals"]["visitors_in"] == 4
        assert stats["site"]["totals"]["visitors_in"] == 4
        assert stats["site"]["totals"]["checkout"] == 2 and stats["totals"] == {"checkout": 2}

        gate.kill9()                    # no clean disconnect: the broker sends the last will

        def gate_offline() -> dict | None:
            d = {d["id"]: d for d in state()["devices"]}.get("gate-02")
            return d if d is not None and d["state"] == "offline" else None
        off = wait_until(gate_offline, 60, what=lambda: f"the gate offline: {state()['devices']}")
        assert off["since"] >= g["since"]
        assert client.get("/staff/site-version", headers=STAFF).json()["version"] > version
    finally:
        gate.stop()
        me.stop()


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


def test_state_lists_the_supervised_processes_and_their_restarts(client: TestClient, services,
                                                                 tmp_path: Path) -> None:
    assert client.get("/staff/state", headers=STAFF).json()["processes"] == []  # none configured
    path = tmp_path / "supervisor.json"
    api = services.settings.api.model_copy(update={"process_state": path})
    services.settings = services.settings.model_copy(update={"api": api})
    path.write_text(json.dumps({"updated": "2026-12-07T04:00:09Z", "processes": {
        "gateway": {"pid": 4242, "state": "running", "restarts": 2,
                    "last_start": "2026-12-07T04:00:00Z", "last_exit": "killed by SIGKILL"},
        "kiosk-serve": {"pid": 4243, "state": "starting", "restarts": 0,
                        "last_start": "2026-12-07T03:59:00Z", "last_exit": None}}}))
    assert client.get("/staff/state", headers=STAFF).json()["processes"] == [
        {"name": "gateway", "state": "running", "restarts": 2,
         "last_start": "2026-12-07T04:00:00Z", "last_exit": "killed by SIGKILL"},
        {"name": "kiosk-serve", "state": "starting", "restarts": 0,
         "last_start": "2026-12-07T03:59:00Z", "last_exit": None}]
    for broken in ("{half", '{"processes": {"gateway": {"restarts": -1}}}', "[]"):
        path.write_text(broken)
        assert client.get("/staff/state", headers=STAFF).json()["processes"] == []
