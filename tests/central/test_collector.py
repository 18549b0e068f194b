"""The collector: each message kind stored, bad messages set aside (never fatal), and the
whole path against a real Mosquitto with the product's agent publishing and the collector's
own read-only account."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from central.collector import (
    CentralCollector,
    collector_acl,
    collector_filters,
    collector_writes,
    make_collector_client,
)
from central.errors import DatabaseError
from central.store import CentralStore
from smartlib.config import BrokerSection
from sync import topics
from sync.messages import (
    Alarm,
    Conflict,
    DeviceEventReport,
    DeviceStatus,
    Statistics,
    encode,
)
from tests.central.conftest import Central, Clock, agent_toml
from tests.sync.gateway.harness import Proc, mqtt_client, wait_until

SITE = "hn-01"
AT = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


@pytest.fixture
def collector(sqlite_store: CentralStore, clock: Clock) -> CentralCollector:
    client = make_collector_client(BrokerSection(), "central-unit")
    return CentralCollector(sqlite_store, client, host="127.0.0.1", port=1, clock=clock)


def test_filters_cover_every_site_or_the_listed_ones() -> None:
    assert collector_filters(None) == [
        "smartlib/v1/+/+/status", "smartlib/v1/+/+/alarm", "smartlib/v1/+/+/stats",
        "smartlib/v1/+/+/stats/live", "smartlib/v1/+/+/event", "smartlib/v1/+/+/command/ack",
        "smartlib/v1/+/+/security", "smartlib/v1/+/staff/alarm/+", "smartlib/v1/+/staff/conflict"]
    assert collector_filters(["hn-01"])[0] == "smartlib/v1/hn-01/+/status"
    acl = collector_acl("central", None)
    assert acl.startswith("user central\ntopic read smartlib/v1/+/+/status\n")
    assert "topic read smartlib/v1/+/+/config/ack" in acl.splitlines()
    assert [line for line in acl.splitlines() if "write" in line] == [
        "topic write smartlib/v1/+/+/config", "topic write smartlib/v1/+/+/command",
        "topic write smartlib/v1/+/+/tx", "topic write smartlib/v1/+/staff/accounts"]
    assert collector_writes(["hn-01"]) == ["smartlib/v1/hn-01/+/config",
                                           "smartlib/v1/hn-01/+/command",
                                           "smartlib/v1/hn-01/+/tx",
                                           "smartlib/v1/hn-01/staff/accounts"]


def test_each_kind_is_stored(collector: CentralCollector, sqlite_store: CentralStore) -> None:
    status = DeviceStatus(site=SITE, device="kiosk-01", state="online", role="kiosk", backlog=3,
                          since=AT, reader="online", reader_failures=0, at=AT)
    assert collector.handle(topics.status(SITE, "kiosk-01"), encode(status)) == "status"
    alarm = Alarm(site=SITE, device="gate-01", alarm_id=5, kind="gate", item="70000002",
                  title="Truyện Kiều", detail={"reason": "secured"}, at=AT)
    assert collector.handle(topics.staff_alarm(SITE, "gate-01"), encode(alarm)) == "alarm"
    assert collector.handle(topics.alarm(SITE, "gate-01"), encode(alarm)) == "alarm"  # legacy
    stats = Statistics(site=SITE, device="gate-01", period_start=AT, counters={"visitors_out": 4})
    assert collector.handle(topics.stats(SITE, "gate-01"), encode(stats)) == "stats"
    event = DeviceEventReport(site=SITE, device="kiosk-01", event_id=9, source="printer",
                              kind="printer_paper_out", at=AT)
    assert collector.handle(topics.event(SITE, "kiosk-01"), encode(event)) == "event"
    conflict = Conflict(key=str(uuid.uuid4()), kind="checkout", site=SITE, device="kiosk-01",
                        item="30000200", created_at=AT, reason="patron blocked")
    assert collector.handle(topics.staff_conflict(SITE), encode(conflict)) == "conflict"
    assert collector.handle(topics.status(SITE, "kiosk-01"), b"", retained=True) == "cleared"

    kiosk = sqlite_store.devices.get(SITE, "kiosk-01")
    assert (kiosk.state, kiosk.backlog, kiosk.reader, kiosk.printer) == (
        "online", 3, "online", "paper_out")
    [stored] = sqlite_store.alarms.search()
    assert (stored.edge_alarm_id, stored.title, stored.detail) == (5, "Truyện Kiều",
                                                                    {"reason": "secured"})
    assert sqlite_store.stats.totals(SITE, "2026", "2027") == {"visitors_out": 4}
    assert [c.reason for c in sqlite_store.conflicts.list()] == ["patron blocked"]
    assert collector.stats.dead_letters == 0


@pytest.mark.parametrize(("topic", "payload", "reason"), [
    ("smartlib/v1/hn-01/kiosk-01/status", b"{not json", "not JSON"),
    ("smartlib/v1/hn-01/kiosk-01/status",
     encode(DeviceStatus(site=SITE, device="gate-01", state="online")), "names hn-01/gate-01"),
    ("smartlib/v1/hn-01/gate-01/staff/alarm/x", b"{}", "unknown device topic"),
    ("smartlib/v1/hn-01/kiosk-01/tx", b"{}", "does not read"),
    ("smartlib/v1/hn-01/gate-01/alarm",
     encode(Alarm(site=SITE, device="gate-01", kind="gate")), "alarm_id"),
    ("smartlib/v1/hn-01/kiosk-01/status", b'{"v": 2, "site": "hn-01"}', "version"),
])
def test_bad_messages_become_dead_letters(collector: CentralCollector,
                                          sqlite_store: CentralStore, topic: str,
                                          payload: bytes, reason: str) -> None:
    assert collector.handle(topic, payload) == "dead"
    [dead] = sqlite_store.dead_letters.list()
    assert dead.topic == topic and reason in dead.reason


def test_a_bug_is_kept_aside_but_a_database_failure_is_raised(
        collector: CentralCollector, sqlite_store: CentralStore,
        monkeypatch: pytest.MonkeyPatch) -> None:
    status = encode(DeviceStatus(site=SITE, device="kiosk-01", state="online"))

    def boom(*_a: Any, **_k: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(sqlite_store.devices, "record_status", boom)
    assert collector.handle(topics.status(SITE, "kiosk-01"), status) == "dead"
    assert "a bug" in sqlite_store.dead_letters.list()[0].reason

    def down(*_a: Any, **_k: Any) -> None:
        raise DatabaseError("disk full")

    monkeypatch.setattr(sqlite_store.devices, "record_status", down)
    with pytest.raises(DatabaseError):  # left unacknowledged: the broker sends it again
        collector.handle(topics.status(SITE, "kiosk-01"), status)


# ---- against a real broker ------------------------------------------------------------------

def test_agents_statuses_wills_and_alarms_reach_the_console(tmp_path: Path, site_broker: Any,
                                                            central: Central) -> None:
    from edge.store import open_store

    kiosk = Proc(["sync", "--config", str(agent_toml(tmp_path, site_broker, SITE, "kiosk-01"))],
                 tmp_path / "kiosk.log").start()
    try:
        wait_until(lambda: (d := central.device("kiosk-01")) and d.state == "online",
                   what=lambda: f"kiosk-01 online; agent log: {kiosk.output()[-2000:]}")
        first = central.device("kiosk-01")
        assert first.role == "kiosk" and first.backlog == 0 and first.reconnects == 0
        assert first.process_starts == {"sync": 1} and first.restarts == 0
        from smartlib import __version__
        assert first.software_version == __version__  # the agent's status carries it

        # A gate's alarm, as its edge stored it, published by the product's agent.
        gate_store = open_store(tmp_path / "edge-gate-01.db")
        gate_store.alarms.raise_alarm("gate", "gate gate-01: an item going out: secured",
                                      device="gate-01", item_id="70000002",
                                      detail={"title": "Những ngày thơ ấu", "direction": "out"})
        gate = Proc(["sync", "--config", str(agent_toml(tmp_path, site_broker, SITE, "gate-01"))],
                    tmp_path / "gate.log").start()
        try:
            [alarm] = wait_until(lambda: central.store.alarms.search(),
                                 what=lambda: f"the gate's alarm; {gate.output()[-2000:]}")
            assert (alarm.device_id, alarm.kind, alarm.item, alarm.title, alarm.direction) == (
                "gate-01", "gate", "70000002", "Những ngày thơ ấu", "out")

            # The kiosk dies (kill -9): its last will says offline; it comes back: a restart
            # (the box counted its agent's second start) and a reconnect.
            kiosk.kill9()
            wait_until(lambda: central.device("kiosk-01").state == "offline", what="the will")
            kiosk.start()
            wait_until(lambda: central.device("kiosk-01").state == "online", what="back online")
            back = central.device("kiosk-01")
            assert (back.reconnects, back.restarts, back.process_starts) == (1, 1, {"sync": 2})

            # While the collector is away, the gate raises another alarm: its persistent
            # session keeps it in the broker until the collector is back.
            central.stop()
            second = gate_store.alarms.raise_alarm("gate", "second", device="gate-01",
                                                   item_id="70000003")
            # The agent moves its cursor once the broker has acknowledged the alarm.
            wait_until(lambda: int(gate_store.meta.get("sync.published.alarms", "0") or 0)
                       >= second.id, what="the agent to publish the second alarm")
            central.start()
            wait_until(lambda: len(central.store.alarms.search()) == 2, what="the second alarm")
        finally:
            gate.stop()
            gate_store.close()
    finally:
        kiosk.stop()


def test_the_collector_account_reads_only_and_survives_garbage(site_broker: Any,
                                                               central: Central) -> None:
    with mqtt_client(site_broker.port, user="central", password="central-pw",
                     client_id="central-writer") as as_central:
        # It may not forge a device's status or look-up (PUBACK 0x87); of a device's own
        # topics it writes only tx (the fine payments' Fee Paid, docs/payments.md).
        assert as_central.publish(topics.status(SITE, "kiosk-01"), b"{}") == 0x87
        assert as_central.publish(topics.lookup(SITE, "kiosk-01"), b"{}") == 0x87
    with mqtt_client(site_broker.port, user="kiosk-01", password="kiosk-pw",
                     client_id="kiosk-probe") as box:
        assert box.publish(topics.status(SITE, "kiosk-01"), b"\x00garbage") == 0
        good = DeviceStatus(site=SITE, device="kiosk-01", state="online", backlog=12)
        assert box.publish(topics.status(SITE, "kiosk-01"), encode(good)) == 0
        wait_until(lambda: (d := central.device("kiosk-01")) and d.backlog == 12,
                   what="the status after the garbage")
    [dead] = central.store.dead_letters.list()
    assert dead.topic == topics.status(SITE, "kiosk-01") and "JSON" in dead.reason


def test_a_database_failure_is_retried_before_the_acknowledgement(
        sqlite_store: CentralStore, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    import paho.mqtt.client as mqtt

    acked: list[int] = []
    client = make_collector_client(BrokerSection(), "central-unit")
    monkeypatch.setattr(client, "ack", lambda mid, qos: acked.append(mid))
    collector = CentralCollector(sqlite_store, client, host="127.0.0.1", port=1, clock=clock,
                                 db_retry_s=(0.0, 0.0))
    real = sqlite_store.devices.record_status
    failures = iter([DatabaseError("connection lost")] * 4)

    def flaky(*a: Any, **k: Any) -> Any:
        error = next(failures, None)
        if error is not None:
            raise error
        return real(*a, **k)

    monkeypatch.setattr(sqlite_store.devices, "record_status", flaky)

    def message(mid: int) -> mqtt.MQTTMessage:
        msg = mqtt.MQTTMessage(mid=mid, topic=topics.status(SITE, "kiosk-01").encode())
        msg.payload = encode(DeviceStatus(site=SITE, device="kiosk-01", state="online"))
        msg.qos = 1
        return msg

    collector._on_message(client, None, message(1))      # three failures: not acknowledged
    assert acked == [] and sqlite_store.devices.find(SITE, "kiosk-01") is None
    collector._on_message(client, None, message(2))      # one failure, then stored
    assert acked == [2] and sqlite_store.devices.get(SITE, "kiosk-01").state == "online"
    assert collector.stats.db_failures == 4


def test_a_status_carries_the_boxs_software_version(collector: CentralCollector,
                                                     sqlite_store: CentralStore) -> None:
    status = DeviceStatus(site=SITE, device="kiosk-01", state="online", role="kiosk",
                          software="0.9.1", at=AT)
    assert collector.handle(topics.status(SITE, "kiosk-01"), encode(status)) == "status"
    device = sqlite_store.devices.find(SITE, "kiosk-01")
    assert device is not None and device.software_version == "0.9.1"
    # the last will carries none: the version stays
    will = DeviceStatus(site=SITE, device="kiosk-01", state="offline")
    assert collector.handle(topics.status(SITE, "kiosk-01"), encode(will)) == "status"
    assert sqlite_store.devices.find(SITE, "kiosk-01").software_version == "0.9.1"  # type: ignore[union-attr]


def test_a_status_carries_the_printer_state_and_process_starts(collector: CentralCollector,
                                                                sqlite_store: CentralStore) -> None:
    status = DeviceStatus(site=SITE, device="kiosk-01", state="online", role="kiosk",
                          printer="paper_out", starts={"serve": 3, "sync": 2, "kiosk": 1}, at=AT)
    assert collector.handle(topics.status(SITE, "kiosk-01"), encode(status)) == "status"
    device = sqlite_store.devices.get(SITE, "kiosk-01")
    assert (device.printer, device.restarts, device.reconnects) == ("paper_out", 3, 0)
    # The last will carries neither: both stay.
    will = DeviceStatus(site=SITE, device="kiosk-01", state="offline")
    collector.handle(topics.status(SITE, "kiosk-01"), encode(will))
    device = sqlite_store.devices.get(SITE, "kiosk-01")
    assert (device.printer, device.process_starts) == ("paper_out", {"serve": 3, "sync": 2,
                                                                    "kiosk": 1})
    # A state that is not a word is refused (a dead letter), as is a start count of 0.
    for bad in ({"printer": "Paper Out!"}, {"starts": {"serve": 0}}, {"starts": {"gate": 1}}):
        raw = {**json.loads(encode(status)), **bad}
        assert collector.handle(topics.status(SITE, "kiosk-01"), json.dumps(raw).encode()) == "dead"


def test_a_gateways_own_starts_are_its_restarts_in_the_fleet(collector: CentralCollector,
                                                             sqlite_store: CentralStore) -> None:
    """A gateway showed "—" for restarts (only its reconnects were counted)."""
    status = DeviceStatus(site=SITE, device="gw-1", state="online", role="gateway",
                          starts={"gateway": 3}, at=AT)
    assert collector.handle(topics.status(SITE, "gw-1"), encode(status)) == "status"
    device = sqlite_store.devices.get(SITE, "gw-1")
    assert (device.role, device.process_starts, device.restarts) == ("gateway",
                                                                     {"gateway": 3}, 2)
