"""The central store's repositories, each test on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from central.db import open_database, stamp
from central.errors import NotFound, StaffError
from central.store import AlarmFilter, CentralStore, StatusReport
from tests.central.conftest import Clock


def status(clock: Clock, device: str = "kiosk-01", state: str = "online", *, since: str | None = None,
           retained: bool = False, reported_at: str | None = None, site: str = "hn-01",
           **kw: object) -> StatusReport:
    now = stamp(clock())
    return StatusReport(site_id=site, device_id=device, state=state, received_at=now,
                        reported_at=reported_at or now, since=since, retained=retained,
                        **kw)  # type: ignore[arg-type]


def test_schema_is_created_once_and_reopens(db_url: str) -> None:
    first = CentralStore(open_database(db_url))
    first.close()
    again = CentralStore(open_database(db_url))
    try:
        assert again.db.query("SELECT version FROM central_schema") == [(1,)]
    finally:
        again.close()


def test_status_will_and_return_count_a_restart(store: CentralStore, clock: Clock) -> None:
    since = stamp(clock())
    d = store.devices.record_status(status(clock, since=since, role="kiosk", backlog=4,
                                           reader="online", reader_failures=1))
    assert (d.state, d.role, d.backlog, d.reader, d.reader_failures, d.reconnects) == (
        "online", "kiosk", 4, "online", 1, 0)
    assert d.state_since == since

    clock.advance(minutes=5)
    d = store.devices.record_status(status(clock, backlog=2))  # a new backlog, same session
    assert (d.backlog, d.state_since, d.reconnects) == (2, since, 0)
    assert d.last_seen == stamp(clock())

    clock.advance(minutes=1)
    will = status(clock, state="offline")  # the last will: no backlog, no since
    d = store.devices.record_status(will)
    assert (d.state, d.state_since, d.backlog, d.role) == ("offline", stamp(clock()), 2, "kiosk")
    assert d.last_seen == stamp(clock() - timedelta(minutes=1))  # offline is not "seen"

    clock.advance(minutes=30)
    back = stamp(clock())
    d = store.devices.record_status(status(clock, since=back, backlog=0))
    assert (d.state, d.state_since, d.reconnects, d.backlog) == ("online", back, 1, 0)

    # The same status again (the broker's retained copy after a collector restart): no restart.
    d = store.devices.record_status(status(clock, since=back, retained=True))
    assert d.reconnects == 1
    # A new connection time without a will in between (a quick reconnect) is a restart too.
    clock.advance(minutes=1)
    d = store.devices.record_status(status(clock, since=stamp(clock())))
    assert d.reconnects == 2


def test_retained_status_does_not_move_last_seen_forward(store: CentralStore, clock: Clock) -> None:
    old = stamp(clock() - timedelta(hours=3))
    d = store.devices.record_status(status(clock, retained=True, reported_at=old, since=old))
    assert d.last_seen == old


def test_fleet_filters(store: CentralStore, clock: Clock) -> None:
    store.devices.record_status(status(clock, "kiosk-01", since=stamp(clock()), backlog=50))
    store.devices.record_status(status(clock, "kiosk-02", since=stamp(clock()), backlog=3))
    store.devices.record_status(status(clock, "gate-01", since=stamp(clock())))
    store.devices.record_status(status(clock, "gate-01", "offline"))
    clock.advance(minutes=20)
    store.devices.record_status(status(clock, "kiosk-01", since=stamp(clock() - timedelta(
        minutes=20)), backlog=50))  # its status heartbeat
    store.devices.record_status(status(clock, "kiosk-02", "offline"))
    store.devices.record_status(status(clock, "kiosk-09", site="hcm-02", since=stamp(clock()),
                                       backlog=7))
    clock.advance(minutes=5)

    def ids(**kw: object) -> list[str]:
        return [f"{d.site_id}/{d.device_id}" for d in store.devices.list(now=clock(), **kw)]  # type: ignore[arg-type]

    assert ids() == ["hcm-02/kiosk-09", "hn-01/gate-01", "hn-01/kiosk-01", "hn-01/kiosk-02"]
    assert ids(offline_minutes=10) == ["hn-01/gate-01"]           # offline 25 min; kiosk-02 5 min
    # online but unheard for 5 minutes (no heartbeat): silent for more than 1 minute
    assert ids(offline_minutes=1) == ["hcm-02/kiosk-09", "hn-01/gate-01", "hn-01/kiosk-01",
                                      "hn-01/kiosk-02"]
    assert ids(backlog_above=5) == ["hcm-02/kiosk-09", "hn-01/kiosk-01"]
    assert ids(backlog_above=5, site_id="hn-01") == ["hn-01/kiosk-01"]
    gate = store.devices.get("hn-01", "gate-01")
    assert gate.offline_minutes(clock()) == pytest.approx(25)
    sites = {s.site_id: s for s in store.sites.list()}
    assert (sites["hn-01"].devices, sites["hn-01"].online, sites["hn-01"].offline,
            sites["hn-01"].backlog) == (3, 1, 2, 53)
    with pytest.raises(NotFound):
        store.devices.get("hn-01", "nope")


def test_printer_health_needs_a_known_device(store: CentralStore, clock: Clock) -> None:
    store.devices.record_health("hn-01", "kiosk-01", printer="paper_out")  # unknown: ignored
    store.devices.record_status(status(clock, since=stamp(clock())))
    store.devices.record_health("hn-01", "kiosk-01", printer="paper_out")
    store.devices.record_health("hn-01", "kiosk-01", software_version="0.1.0")
    d = store.devices.get("hn-01", "kiosk-01")
    assert (d.printer, d.software_version, d.config_version) == ("paper_out", "0.1.0", None)


def _alarm(store: CentralStore, clock: Clock, edge_id: int, device: str = "gate-01",
           **kw: object) -> tuple:
    now = stamp(clock())
    return store.alarms.record(site_id=kw.pop("site", "hn-01"), device_id=device,  # type: ignore[arg-type]
                               edge_alarm_id=edge_id, kind=kw.pop("kind", "gate"),  # type: ignore[arg-type]
                               raised_at=now, received_at=now, **kw)  # type: ignore[arg-type]


def test_alarms_once_per_edge_id_and_acknowledged_by_name(store: CentralStore, clock: Clock) -> None:
    a, new = _alarm(store, clock, 7, title="Truyện Kiều", item="70000002",
                    detail={"reason": "secured", "direction": "out"})
    assert new and a.open and a.detail == {"reason": "secured", "direction": "out"}
    again, new = _alarm(store, clock, 7, title="changed")
    assert not new and again.id == a.id and again.title == "Truyện Kiều"
    # The box's own acknowledgement arrives with a re-send: recorded, still open here.
    edge_ack = stamp(clock())
    acked_at_edge, _ = _alarm(store, clock, 7, edge_acked_at=edge_ack)
    assert acked_at_edge.edge_acked_at == edge_ack and acked_at_edge.open

    clock.advance(seconds=30)
    done, changed = store.alarms.acknowledge(a.id, "lan.nguyen", stamp(clock()))
    assert changed and done.acked_by == "lan.nguyen" and not done.open
    twice, changed = store.alarms.acknowledge(a.id, "someone.else", stamp(clock()))
    assert not changed and twice.acked_by == "lan.nguyen"
    with pytest.raises(NotFound):
        store.alarms.acknowledge(999_999, "lan.nguyen", stamp(clock()))


def test_alarm_history_filters_and_live_feed(store: CentralStore, clock: Clock) -> None:
    first, _ = _alarm(store, clock, 1)
    clock.advance(days=1)
    second, _ = _alarm(store, clock, 2, kind="loaned_alarm_on", device="kiosk-01")
    third, _ = _alarm(store, clock, 1, site="hcm-02")
    store.alarms.acknowledge(first.id, "boss", stamp(clock()))

    def ids(**kw: object) -> list[int]:
        return [a.id for a in store.alarms.search(AlarmFilter(**kw))]  # type: ignore[arg-type]

    assert ids() == [third.id, second.id, first.id]
    assert ids(site_id="hn-01") == [second.id, first.id]
    assert ids(state="open") == [third.id, second.id]
    assert ids(state="acked") == [first.id]
    assert ids(kind="loaned_alarm_on") == [second.id]
    assert ids(device_id="kiosk-01") == [second.id]
    assert ids(since=stamp(clock() - timedelta(hours=1))) == [third.id, second.id]
    assert ids(until=stamp(clock() - timedelta(hours=1))) == [first.id]
    assert ids(after_id=first.id) == [second.id, third.id]
    assert ids(limit=1) == [third.id]
    assert store.alarms.latest_id() == third.id

    mark = stamp(clock())
    clock.advance(seconds=1)
    store.alarms.acknowledge(second.id, "boss", stamp(clock()))
    feed = store.alarms.changed_after(third.id, mark)
    assert [(a.id, a.acked_by) for a in feed] == [(second.id, "boss")]


def test_stats_live_never_overwrites_a_completed_hour(store: CentralStore, clock: Clock) -> None:
    hour = stamp(clock().replace(minute=0))
    now = stamp(clock())
    store.stats.record("hn-01", "kiosk-01", hour, 3600, {"checkouts": 3}, complete=False,
                       received_at=now)
    store.stats.record("hn-01", "kiosk-01", hour, 3600, {"checkouts": 5}, complete=True,
                       received_at=now)
    store.stats.record("hn-01", "kiosk-01", hour, 3600, {"checkouts": 4}, complete=False,
                       received_at=now)
    store.stats.record("hn-01", "gate-01", hour, 3600, {"visitors_in": 9}, complete=True,
                       received_at=now)
    end = stamp(clock() + timedelta(hours=1))
    assert store.stats.totals("hn-01", hour, end) == {"checkouts": 5, "visitors_in": 9}
    assert store.stats.totals("hn-01", end, end) == {}


def test_events_conflicts_and_dead_letters_once(store: CentralStore, clock: Clock) -> None:
    now = stamp(clock())
    assert store.events.record("hn-01", "kiosk-01", 3, "reader", "reader_offline", {"e": 1}, now)
    assert not store.events.record("hn-01", "kiosk-01", 3, "reader", "reader_offline", {}, now)
    assert store.events.recent("hn-01", "kiosk-01") == [
        {"event_id": 3, "source": "reader", "kind": "reader_offline", "detail": {"e": 1}, "at": now}]
    key = "0b8f2c8e-5d0c-4a53-9a43-6f3b7c1d2e4f"
    args = dict(tx_key=key, site_id="hn-01", device_id="kiosk-01", kind="checkout",
                item="30000200", patron="2000001", reason="blocked", screen_message=None,
                created_at=now, detected_at=now)
    assert store.conflicts.record(**args)  # type: ignore[arg-type]
    assert not store.conflicts.record(**args)  # type: ignore[arg-type]
    [c] = store.conflicts.list()
    assert c.tx_key == key and c.resolution is None and "2000001" not in repr(c)
    store.dead_letters.record("smartlib/v1/x", b"\xff not json", "not JSON", now)
    [dead] = store.dead_letters.list()
    assert (dead.topic, dead.reason) == ("smartlib/v1/x", "not JSON")


def test_staff_failures_lock_and_login_clears(store: CentralStore, clock: Clock) -> None:
    now = stamp(clock())
    store.staff.create("lan.nguyen", "Nguyễn Thị Lan", "librarian", "$argon2id$fake", now)
    with pytest.raises(StaffError, match="exists"):
        store.staff.create("lan.nguyen", "x", "viewer", "h", now)
    with pytest.raises(StaffError, match="role"):
        store.staff.create("x.y", "x", "superuser", "h", now)
    until = stamp(clock() + timedelta(minutes=15))
    a = store.staff.record_failure("lan.nguyen", lock_after=2, lock_until=until)
    assert (a.failed_logins, a.locked_until) == (1, None)
    a = store.staff.record_failure("lan.nguyen", lock_after=2, lock_until=until)
    assert (a.failed_logins, a.locked_until) == (0, until)
    store.staff.record_login("lan.nguyen", now)
    a = store.staff.get("lan.nguyen")
    assert (a.failed_logins, a.locked_until, a.last_login) == (0, None, now)
    assert "fake" not in repr(a)
    assert a.may("viewer") and a.may("librarian") and not a.may("admin")


def test_sessions_expire_and_audit_records(store: CentralStore, clock: Clock) -> None:
    now, later = stamp(clock()), stamp(clock() + timedelta(hours=1))
    store.staff.create("boss", "Boss", "admin", "h", now)
    store.sessions.create("hash-1", "boss", "csrf-1", now, later)
    assert store.sessions.find("hash-1", now).username == "boss"  # type: ignore[union-attr]
    assert store.sessions.find("hash-1", later) is None
    assert store.sessions.delete_expired(later) == 1
    store.audit.record("boss", "alarm.ack", "alarm:hn-01/gate-01/7", now, {"id": 1})
    store.audit.record("lan", "login", "staff:lan", now)
    assert [(e.actor, e.action, e.detail) for e in store.audit.list()] == [
        ("lan", "login", {}), ("boss", "alarm.ack", {"id": 1})]
    assert [e.actor for e in store.audit.list(actor="boss")] == ["boss"]


def test_a_failed_statement_rolls_the_transaction_back(store: CentralStore, clock: Clock) -> None:
    now = stamp(clock())
    with pytest.raises(StaffError):
        with store.db.transaction():
            store.staff.create("boss", "Boss", "admin", "h", now)
            raise StaffError("stop here")
    assert store.staff.find("boss") is None


def test_a_postgres_connection_the_server_dropped_is_reopened(pg_dsn: str) -> None:
    import psycopg

    from central.errors import DatabaseError

    store = CentralStore(open_database(pg_dsn))
    try:
        [(pid,)] = store.db.query("SELECT pg_backend_pid()")
        with psycopg.connect(pg_dsn, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(DatabaseError):
            store.sites.list()              # the statement that finds it broken fails …
        assert store.sites.list() == []     # … and the next one runs on a new connection
        [(again,)] = store.db.query("SELECT pg_backend_pid()")
        assert again != pid
    finally:
        store.close()
