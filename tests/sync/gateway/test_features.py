"""Snapshot requests, alarms/stats/events, account look-up, per-site ILS, gateway ACL,
``smartlib gateway import`` as a command, and the applier's no-blind-resend rule."""

from __future__ import annotations

import csv
import shutil
import subprocess
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sync.broker import device_acl, gateway_acl
from sync.errors import Sip2ConnectionError, Sip2OutcomeUnknownError
from sync.gateway.applier import Applier
from sync.messages import TransactionRequest, utcnow
from tests.sync.gateway.harness import (
    ILS_PASSWORD,
    ILS_USER,
    PATRON,
    SITE,
    SMARTLIB,
    SyncEnv,
    applied_keys,
    items,
    journal,
    new_key,
    wait_until,
    write_toml,
)


def _items_csv(path: Path, n: int) -> Path:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["item_id", "title", "usage"])
        w.writerows([f"5{i:07d}", f"Tựa {i}", 1] for i in range(n))
    return path


def test_import_command_then_a_late_edge_asks_for_the_snapshot(sync_env: SyncEnv, tmp_path: Path) -> None:
    sync_env.start_gateway()
    early = sync_env.open_store("kiosk-01")
    sync_env.start_agent("kiosk-01")
    patrons = tmp_path / "patrons.csv"
    patrons.write_text("patron_id,display_name,blocked\n2000001,Nguyễn Văn A,0\n2000002,B,yes\n")
    cfg = sync_env.gateway_config()
    out = subprocess.run([SMARTLIB, "gateway", "import", "--config", str(cfg), "--site", SITE,
                          "--items", str(_items_csv(tmp_path / "items.csv", 1200)),
                          "--patrons", str(patrons), "--chunk-size", "500"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["items: 1200 rows in 3 chunk(s)",
                                       "patrons: 2 rows in 1 chunk(s)"]
    wait_until(lambda: early.cache.counts()["items"] == 1200, 30, what="live snapshot")
    # A box that joins later: its cache is empty, so its agent asks for the last import.
    late = sync_env.open_store("kiosk-02")
    agent = sync_env.start_agent("kiosk-02")
    wait_until(lambda: late.cache.counts()["items"] == 1200 and late.cache.counts()["patrons"] == 2,
               30, what="snapshot after the request")
    assert late.cache.patron("2000002").blocked is True
    assert agent.stats.snapshot_requests == 1
    # rebuild-cache on a box: the edge asks again through the store.
    late.cache.clear()
    late.lookups.request_snapshot()
    wait_until(lambda: late.cache.counts()["items"] == 1200, 30, what="snapshot after rebuild")
    assert agent.stats.snapshot_requests == 2
    # A gate that joins later gets the patron-free snapshot: items and no patrons.
    gate = sync_env.open_store("gate-01")
    sync_env.start_agent("gate-01")
    wait_until(lambda: gate.cache.counts()["items"] == 1200, 30, what="the gate's snapshot")
    assert gate.cache.counts()["patrons"] == 0


def test_import_command_reports_a_bad_line(sync_env: SyncEnv, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("item_id,title,parts\n1,ok,1\n2,bad,zero\n")
    out = subprocess.run([SMARTLIB, "gateway", "import", "--config",
                          str(sync_env.gateway_config()), "--items", str(bad)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "bad.csv:3: parts" in out.stderr


def test_alarms_counters_and_events_are_published_once_and_stored(sync_env: SyncEnv) -> None:
    store = sync_env.open_store("gate-01")
    gw = sync_env.start_gateway()
    two_hours_ago = datetime.now(UTC) - timedelta(hours=2)
    alarm = store.alarms.raise_alarm("gate", "gate-01: 'Sách' going out", device="gate-01",
                                     item_id="30000100", uid="E004010012345678",
                                     detail={"direction": "out", "title": "Sách", "reason": "secured"})
    store.counters.incr("visitors_out", 3, at=two_hours_ago)
    store.counters.incr("alarm", 1, at=two_hours_ago)
    store.counters.incr("visitors_in", 5)  # the current hour: not complete, not published yet
    store.events.record("reader", "reader_lost", {"error": "timeout"})
    agent = sync_env.start_agent("gate-01")
    wait_until(lambda: gw.ledger.staff_alarms(SITE) and gw.ledger.staff_stats(SITE)
               and gw.ledger.staff_events(SITE), 20, what="operations data at the gateway")
    [a] = gw.ledger.staff_alarms(SITE)
    assert (a["device"], a["alarm_id"], a["kind"], a["item"], a["direction"], a["title"]) == (
        "gate-01", alarm.id, "gate", "30000100", "out", "Sách")
    assert a["detail"]["reason"] == "secured" and a["source"] == "gate-01"
    [st] = gw.ledger.staff_stats(SITE)
    assert st["counters"] == {"visitors_out": 3, "alarm": 1}
    [ev] = gw.ledger.staff_events(SITE)
    assert (ev["source"], ev["kind"], ev["detail"]) == ("reader", "reader_lost", {"error": "timeout"})
    wait_until(lambda: store.meta.get("sync.published.alarms") == str(alarm.id), 10,
               what="the alarm cursor")
    agent.stop()
    # A restarted agent publishes nothing again; a new alarm only.
    second = store.alarms.raise_alarm("device", "reader failed", device="gate-01")
    agent2 = sync_env.start_agent("gate-01")
    wait_until(lambda: len(gw.ledger.staff_alarms(SITE)) == 2, 20, what="the second alarm")
    assert agent2.stats.alarms == 1 and agent2.stats.events == 0 and agent2.stats.stats == 0
    assert [x["alarm_id"] for x in gw.ledger.staff_alarms(SITE)] == [alarm.id, second.id]


def test_account_lookup_lists_loans(sync_env: SyncEnv) -> None:
    store = sync_env.open_store()
    sync_env.start_gateway()
    sync_env.start_agent()
    item = items(1)[0]
    key = journal(store, "checkout", item, offline=False)
    assert store.outbox.wait_for_result(key, 20).state == "applied"
    rec = store.lookups.wait(store.lookups.request("account", {"patron": PATRON}).id, 20)
    assert rec is not None and rec.state == "answered" and rec.response is not None
    r = rec.response
    assert r["kind"] == "account" and r["valid_patron"] is True and item in r["charged_items"]
    assert {"overdue_items", "hold_items", "fine_items", "fee_amount", "currency"} <= set(r)
    sealed = sync_env.pin_keys.seal("0000")
    bad = store.lookups.wait(store.lookups.request("account", {"patron": PATRON,
                                                               "pin_sealed": sealed}).id, 20)
    assert bad is not None and bad.response["valid_pin"] is False
    assert bad.response.get("charged_items", []) == []  # nothing listed with a wrong PIN


@contextmanager
def _second_ils(tmp: Path, template: Path, profile: str) -> Any:
    from hardware_sim.ils.server import DemoIlsServer

    db = tmp / f"ils-{profile}.db"
    shutil.copy(template, db)
    server = DemoIlsServer(db, profile=profile)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_two_sites_with_their_own_ils_profiles(sync_env: SyncEnv, _ils_template: Path,
                                               tmp_path: Path) -> None:
    with _second_ils(tmp_path, _ils_template, "koha") as ils2:
        cfg = write_toml(tmp_path / "gw2.toml", {
            "site": {"id": SITE}, "device": {"id": "gw-1", "role": "gateway"},
            "broker": sync_env.broker_section(),
            "ils": {"host": "127.0.0.1", "port": sync_env.ils.port, "user": ILS_USER,
                    "password": ILS_PASSWORD, "pool_size": 2},
            "gateway": {"ledger": sync_env.ledger_url, "sites": [SITE, "s2"]},
            "gateway.site_ils.s2": {"port": ils2.port, "profile": "koha"}})
        from smartlib.config import load_settings
        from sync.gateway.service import Gateway

        settings = load_settings(cfg)
        assert settings.ils_for("s2").port == ils2.port and settings.ils_for("s2").profile == "koha"
        gw = Gateway.from_settings(settings)
        gw.start()
        sync_env._stops.append(gw.stop)
        assert gw.connected.wait(10)
        s1 = sync_env.open_store("kiosk-01")
        sync_env.start_agent("kiosk-01")
        s2_cfg = write_toml(tmp_path / "agent-s2.toml", {
            "site": {"id": "s2"}, "device": {"id": "kiosk-01"},
            "broker": sync_env.broker_section(), "store": {"path": str(tmp_path / "edge-s2.db")}})
        from edge.store import open_store
        from sync.agent.service import SyncAgent

        s2 = open_store(tmp_path / "edge-s2.db")
        sync_env._stops.append(s2.close)
        a2 = SyncAgent.from_settings(load_settings(s2_cfg))
        a2.start()
        sync_env._stops.append(lambda: (a2.stop(), a2.store.close()))
        k1 = journal(s1, "checkout", items(1)[0], offline=False)
        k2 = journal(s2, "checkout", items(2)[1], offline=False)
        assert s1.outbox.wait_for_result(k1, 20).state == "applied"
        assert s2.outbox.wait_for_result(k2, 20).state == "applied"
        assert applied_keys(sync_env.ils) == [k1]
        assert applied_keys(ils2) == [k2]


def test_gateway_user_limited_to_its_sites(tmp_path: Path, mosquitto_factory: Any,
                                           demo_ils: Any) -> None:
    users = {"kiosk-01": "pw-k", "kiosk-09": "pw-o", "gateway": "pw-gw"}
    acl = (device_acl(SITE, "kiosk-01") + device_acl("other", "kiosk-09")
           + gateway_acl("gateway", [SITE]))
    assert "topic readwrite smartlib/v1/s1/#" in acl and "smartlib/v1/#" not in acl
    broker = mosquitto_factory(users=users, acl=acl)
    env = SyncEnv(tmp_path, broker, demo_ils)
    try:
        cfg = write_toml(tmp_path / "gw.toml", {
            "site": {"id": SITE}, "device": {"id": "gw-1", "role": "gateway"},
            "broker": env.broker_section("gateway", "pw-gw"),
            "ils": {"host": "127.0.0.1", "port": demo_ils.port, "user": ILS_USER,
                    "password": ILS_PASSWORD},
            "gateway": {"ledger": env.ledger_url, "sites": [SITE, "other"]}})
        from smartlib.config import load_settings
        from sync.gateway.service import Gateway

        gw = Gateway.from_settings(load_settings(cfg))
        gw.start()
        env._stops.append(gw.stop)
        assert gw.connected.wait(10)
        mine = env.open_store("kiosk-01")
        env.start_agent("kiosk-01", user="kiosk-01", password="pw-k")
        other_cfg = write_toml(tmp_path / "other.toml", {
            "site": {"id": "other"}, "device": {"id": "kiosk-09"},
            "broker": env.broker_section("kiosk-09", "pw-o"),
            "store": {"path": str(tmp_path / "edge-other.db")}})
        from edge.store import open_store
        from sync.agent.service import SyncAgent

        other = open_store(tmp_path / "edge-other.db")
        env._stops.append(other.close)
        ao = SyncAgent.from_settings(load_settings(other_cfg))
        ao.start()
        env._stops.append(lambda: (ao.stop(), ao.store.close()))
        bad = journal(other, "checkout", items(2)[1], offline=False)
        good = journal(mine, "checkout", items(1)[0], offline=False)
        assert mine.outbox.wait_for_result(good, 20).state == "applied"
        wait_until(lambda: ao.stats.acked >= 1, 10, what="the other site's publish")
        assert other.outbox.wait_for_result(bad, 2) is None  # never delivered to this gateway
        assert applied_keys(demo_ils) == [good]
    finally:
        env.close()


# ---- the applier never lets a circulation request go out twice unseen -------------------------

class _Resp:
    ok, title, due_date, desensitize, screen_message = True, "T", None, True, ()


class _FakeClient:
    """A SIP2 session whose checkout answers, or loses the connection mid-call."""

    def __init__(self, *, fail: bool = False) -> None:
        self.fail = fail
        self.kwargs: dict[str, Any] = {}

    def checkout(self, *_a: Any, **kw: Any) -> _Resp:
        self.kwargs = kw
        if self.fail:
            raise Sip2ConnectionError("connection lost")
        return _Resp()


class _Pool:
    def __init__(self, client: Any) -> None:
        self.client = client

    @contextmanager
    def connection(self) -> Any:
        yield self.client


def _req() -> TransactionRequest:
    return TransactionRequest(key=new_key(), kind="checkout", site=SITE, device="kiosk-01",
                              patron=PATRON, item="30000200", created_at=utcnow())


def test_a_connection_lost_mid_call_is_verified_not_trusted() -> None:
    applier = Applier(_Pool(_FakeClient(fail=True)))
    with pytest.raises(Sip2OutcomeUnknownError):
        applier.apply(_req())
    assert applier.stats["outcome_unknown"] == 1


def test_the_applier_never_lets_the_session_resend_a_circulation_request() -> None:
    client = _FakeClient()
    assert Applier(_Pool(client)).apply(_req()).result.ok
    assert client.kwargs["resend"] is False


def test_broker_config_command_limits_the_gateway_to_its_sites(tmp_path: Path) -> None:
    out = subprocess.run([SMARTLIB, "broker", "config", "--site", "s1", "--devices", "kiosk-01",
                          "--gateway-sites", "s1,s2", "--out", str(tmp_path / "b")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    acl = (tmp_path / "b" / "acl").read_text()
    gw = acl[acl.index("user gateway"):].split("\n\n")[0].splitlines()
    assert gw == ["user gateway", "topic readwrite smartlib/v1/s1/#",
                  "topic readwrite smartlib/v1/s2/#"]
    assert "topic write smartlib/v1/s1/kiosk-01/snapshot/request" in acl
    bad = subprocess.run([SMARTLIB, "broker", "config", "--site", "s1", "--devices", "kiosk-01",
                          "--gateway-sites", "S 1", "--out", str(tmp_path / "c")],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "site id" in bad.stderr
