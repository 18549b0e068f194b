"""The fleet's health columns from the boxes' own reports: the status heartbeat that keeps
*last seen* true (and the *offline for more than N minutes* filter for a box that went
silent without a last will)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from central.db import stamp
from central.store import CentralStore, StatusReport
from tests.central.conftest import Central, agent_toml
from tests.sync.gateway.harness import Proc, wait_until

SITE = "hn-01"
T0 = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


def _online(store: CentralStore, device: str, at: datetime, since: datetime = T0) -> None:
    store.devices.record_status(StatusReport(
        site_id=SITE, device_id=device, state="online", received_at=stamp(at),
        reported_at=stamp(at), since=stamp(since), role="kiosk", backlog=0))


def test_a_box_silent_for_longer_than_n_minutes_is_in_the_offline_filter(
        sqlite_store: CentralStore) -> None:
    _online(sqlite_store, "kiosk-01", T0)                         # connected, then silence
    _online(sqlite_store, "kiosk-02", T0)
    _online(sqlite_store, "kiosk-02", T0 + timedelta(minutes=14))  # its heartbeats go on
    sqlite_store.devices.record_status(StatusReport(
        site_id=SITE, device_id="kiosk-03", state="offline", received_at=stamp(T0),
        reported_at=stamp(T0)))
    now = T0 + timedelta(minutes=15)
    found = sqlite_store.devices.list(offline_minutes=10, now=now)
    assert [d.device_id for d in found] == ["kiosk-01", "kiosk-03"]
    silent = sqlite_store.devices.get(SITE, "kiosk-01")
    assert silent.state == "online" and silent.unheard_minutes(now) == 15
    assert sqlite_store.devices.get(SITE, "kiosk-02").last_seen == stamp(T0 + timedelta(minutes=14))
    assert sqlite_store.devices.get(SITE, "kiosk-02").reconnects == 0  # a heartbeat is no restart


def test_the_agents_heartbeat_moves_last_seen(tmp_path: Path, site_broker: Any,
                                              central: Central) -> None:
    config = agent_toml(tmp_path, site_broker, SITE, "kiosk-01",
                        sync={"status_heartbeat_s": 1.0})
    kiosk = Proc(["sync", "--config", str(config)], tmp_path / "kiosk.log").start()
    try:
        first = wait_until(lambda: (d := central.device("kiosk-01")) and d.state == "online" and d,
                           what=lambda: f"kiosk-01 online; {kiosk.output()[-2000:]}")
        # Nothing changes on the box; its status comes again, unchanged, and moves last seen.
        later = wait_until(lambda: (d := central.device("kiosk-01")).last_seen > first.last_seen
                           and d, what="a heartbeat after the first status")
        again = wait_until(lambda: (d := central.device("kiosk-01")).last_seen > later.last_seen
                           and d, what="a second heartbeat")
        assert again.online_since == first.online_since and again.reconnects == 0
        assert again.state_since == first.state_since
    finally:
        kiosk.stop()


def test_the_boxs_printer_state_and_restarts_reach_the_fleet(tmp_path: Path, site_broker: Any,
                                                             central: Central,
                                                             clock: Any) -> None:
    from fastapi.testclient import TestClient

    from central.config import CentralSection
    from central.web.app import create_app
    from edge.store import open_store
    from tests.central.conftest import make_auth
    from tests.central.test_web import PASSWORD, login

    edge = open_store(tmp_path / "edge-kiosk-01.db")
    edge.meta.count_start("serve")
    edge.meta.count_start("serve")                     # serve restarted once
    edge.events.record("printer", "printer_paper_out", {"error": None})
    config = agent_toml(tmp_path, site_broker, SITE, "kiosk-01")
    kiosk = Proc(["sync", "--config", str(config)], tmp_path / "kiosk.log").start()
    try:
        d = wait_until(lambda: (d := central.device("kiosk-01")) and d.printer == "paper_out"
                       and d, what=lambda: f"the printer state; {kiosk.output()[-2000:]}")
        assert d.process_starts == {"serve": 2, "sync": 1} and d.restarts == 1
        edge.events.record("printer", "printer_ok", {"error": None})  # paper put in
        wait_until(lambda: central.device("kiosk-01").printer == "ok", what="printer ok")
        auth = make_auth(central.store, clock)
        auth.create_account("xem", PASSWORD, role="viewer")
        edge.events.record("printer", "printer_paper_out", {"error": None})
        wait_until(lambda: central.device("kiosk-01").printer == "paper_out", what="paper out")
        with TestClient(create_app(central.store, auth, CentralSection())) as web:
            login(web, "xem")
            page = web.get("/fleet").text
            assert 'data-printer="paper_out">Hết giấy</td>' in page
            assert '<td class="n restarts" title="serve: 2 sync: 1 ">1</td>' in page
            assert "Out of paper" in web.get("/sites/hn-01/devices/kiosk-01?lang=en").text
    finally:
        kiosk.stop()
        edge.close()
