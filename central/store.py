"""The central database's repositories: each returns frozen dataclasses, never raw rows.

:class:`CentralStore` holds one repository per table group (sites, devices, alarms,
statistics, events, conflicts, staff, sessions, audit log, commands to the boxes, their
failed security tasks) over one :class:`Database`.
Repositories check and store; they do no MQTT, no HTTP and no password hashing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from central.commands import CommandRepository, SecurityTaskRepository
from central.db import Database, parse_stamp, stamp
from central.errors import NotFound, StaffError
from central.remote_config import ConfigRepository

MAX_SITE_NAME = 120
"""The longest display name of a library (site)."""
ROLES = ("viewer", "librarian", "admin")
"""Staff roles, weakest first: a role may do everything the ones before it may."""


def _dumps(value: Mapping[str, Any] | None) -> str:
    return json.dumps(dict(value or {}), ensure_ascii=False, sort_keys=True, default=str)


# ---- records ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class SiteSummary:
    """A library (site) with its fleet counted."""

    site_id: str
    name: str
    first_seen: str
    last_seen: str
    devices: int
    online: int
    offline: int
    backlog: int
    open_alarms: int


@dataclass(frozen=True)
class Device:
    """A box as the console knows it from its retained status, last will and events.

    ``state_since`` is when it went into ``state``; ``last_seen`` is the last time anything
    said it was online. ``reconnects`` counts its returns to ``online`` (after a last
    will, or with a new connection time) since the console first saw it (the column
    ``restart_count``); ``process_starts`` is what the box itself counts: how many times
    each of its processes (``serve``, ``sync``, ``kiosk``; a gateway's ``gateway``, counted
    in its ledger) started, and :attr:`restarts`
    the starts beyond the first.
    """

    site_id: str
    device_id: str
    role: str | None
    state: str
    state_since: str
    last_seen: str
    online_since: str | None
    backlog: int | None
    reader: str | None
    reader_failures: int | None
    printer: str | None
    software_version: str | None
    config_version: str | None
    reconnects: int
    process_starts: dict[str, int] = field(default_factory=dict)

    @property
    def restarts(self) -> int | None:
        """The box's process restarts (None: it never reported its starts)."""
        if not self.process_starts:
            return None
        return sum(max(0, n - 1) for n in self.process_starts.values())

    def offline_minutes(self, now: datetime) -> float | None:
        """Minutes since it went offline (None while online)."""
        if self.state != "offline":
            return None
        return (now - parse_stamp(self.state_since)).total_seconds() / 60

    def unheard_minutes(self, now: datetime) -> float:
        """Minutes since a status last said it was online (an online box's agent repeats
        its status every ``[sync] status_heartbeat_s``: a long silence means its agent or
        its connection died without a last will yet)."""
        return (now - parse_stamp(self.last_seen)).total_seconds() / 60


_DEVICE_COLS = ("site_id, device_id, role, state, state_since, last_seen, online_since, backlog, "
                "reader, reader_failures, printer, software_version, config_version, "
                "restart_count, process_starts")


def _device(r: Sequence[Any]) -> Device:
    values = list(r)
    values[14] = {str(k): int(v) for k, v in json.loads(values[14] or "{}").items()}
    return Device(*values)


@dataclass(frozen=True)
class AlarmRecord:
    """An alarm of a box, as received; ``acked_by`` names the staff member who acknowledged
    it in the console (``edge_acked_at``: when the box's own staff page did)."""

    id: int
    site_id: str
    device_id: str
    edge_alarm_id: int
    source: str | None
    kind: str
    item: str | None
    uid: str | None
    title: str | None
    direction: str | None
    message: str | None
    detail: dict[str, Any]
    raised_at: str
    received_at: str
    edge_acked_at: str | None
    acked_at: str | None
    acked_by: str | None

    @property
    def open(self) -> bool:
        return self.acked_at is None


_ALARM_COLS = ("id, site_id, device_id, edge_alarm_id, source, kind, item, uid, title, direction, "
               "message, detail, raised_at, received_at, edge_acked_at, acked_at, acked_by")


def _alarm(r: tuple[Any, ...]) -> AlarmRecord:
    values = list(r)
    values[11] = json.loads(values[11] or "{}")
    return AlarmRecord(*values)


@dataclass(frozen=True)
class AlarmFilter:
    """What the alarm history shows: all fields optional."""

    site_id: str | None = None
    device_id: str | None = None
    kind: str | None = None
    state: str | None = None
    """``open``, ``acked`` or None (both)."""
    since: str | None = None
    until: str | None = None
    after_id: int | None = None
    limit: int = 200


@dataclass(frozen=True)
class ConflictRecord:
    """An offline-accepted transaction the ILS refused, as the gateway reported it.

    ``patron`` is shown only to the roles allowed to see it (librarian, admin) and never
    sent to a box; ``resolution`` is None until staff resolve it.
    """

    tx_key: str
    site_id: str
    device_id: str
    kind: str
    item: str | None
    patron: str | None = field(repr=False)
    reason: str
    screen_message: str | None
    created_at: str
    detected_at: str
    resolution: str | None
    resolved_by: str | None
    resolved_at: str | None


@dataclass(frozen=True)
class StaffAccount:
    """A staff member's account (the password hash is never shown in ``repr``)."""

    username: str
    display_name: str
    role: str
    password_hash: str = field(repr=False)
    failed_logins: int
    locked_until: str | None
    disabled: bool
    created_at: str
    last_login: str | None

    def may(self, role: str) -> bool:
        """True if this account's role is ``role`` or a stronger one."""
        return ROLES.index(self.role) >= ROLES.index(role)


_STAFF_COLS = ("username, display_name, role, password_hash, failed_logins, locked_until, "
               "disabled, created_at, last_login")


def _staff(r: tuple[Any, ...]) -> StaffAccount:
    values = list(r)
    values[6] = bool(values[6])
    return StaffAccount(*values)


@dataclass(frozen=True)
class StaffSession:
    """A logged-in browser: the cookie's token is stored only as its hash."""

    token_hash: str
    username: str
    csrf_token: str = field(repr=False)
    created_at: str
    expires_at: str


@dataclass(frozen=True)
class AuditEntry:
    """One recorded staff action (who, what, on what, with details)."""

    id: int
    at: str
    actor: str
    action: str
    target: str
    detail: dict[str, Any]


# ---- repositories ----------------------------------------------------------------------------

class SiteRepository:
    """The libraries (sites) the console has heard of."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def touch(self, site_id: str, at: str) -> None:
        """Record that ``site_id`` said something at ``at``."""
        self._db.execute(
            "INSERT INTO sites (site_id, first_seen, last_seen) VALUES (?, ?, ?) "
            "ON CONFLICT (site_id) DO UPDATE SET last_seen = "
            "CASE WHEN excluded.last_seen > sites.last_seen THEN excluded.last_seen "
            "ELSE sites.last_seen END, first_seen = "
            "CASE WHEN sites.first_seen = '' THEN excluded.first_seen "
            "ELSE sites.first_seen END", (site_id, at, at))

    def names(self) -> dict[str, str]:
        """Each known site's display name (``''``: none set; pages show the id)."""
        return {str(r[0]): str(r[1] or "") for r in
                self._db.query("SELECT site_id, name FROM sites ORDER BY site_id")}

    def rename(self, site_id: str, name: str, *, add: bool = False) -> tuple[str, str]:
        """Set a known site's display name (``''`` clears it).

        Args:
            add: name a site the console has not heard of yet (a site it is set up to
                collect): it is listed, never seen (``first_seen`` and ``last_seen`` empty
                until its boxes speak).

        Returns:
            The name before and the name now (stripped).

        Raises:
            NotFound: the console has not heard of the site (and ``add`` is false).
            StaffError: a name longer than :data:`MAX_SITE_NAME` or with control characters.
        """
        name = " ".join(name.split())
        if len(name) > MAX_SITE_NAME:
            raise StaffError(f"a site name has at most {MAX_SITE_NAME} characters")
        if any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in name):
            raise StaffError("a site name cannot hold control characters")
        with self._db.transaction():
            rows = self._db.query("SELECT name FROM sites WHERE site_id = ?", (site_id,))
            if not rows and add:
                self._db.execute("INSERT INTO sites (site_id, name, first_seen, last_seen) "
                                 "VALUES (?, '', '', '')", (site_id,))
                rows = [("",)]
            if not rows:
                raise NotFound(f"no site {site_id!r}")
            self._db.execute("UPDATE sites SET name = ? WHERE site_id = ?", (name, site_id))
            return str(rows[0][0] or ""), name

    def list(self) -> list[SiteSummary]:
        """Every site with its device counts, backlog and open alarms, by id."""
        rows = self._db.query(
            "SELECT s.site_id, s.name, s.first_seen, s.last_seen, "
            "(SELECT COUNT(*) FROM devices d WHERE d.site_id = s.site_id), "
            "(SELECT COUNT(*) FROM devices d WHERE d.site_id = s.site_id AND d.state = 'online'), "
            "(SELECT COUNT(*) FROM devices d WHERE d.site_id = s.site_id AND d.state = 'offline'), "
            "(SELECT COALESCE(SUM(d.backlog), 0) FROM devices d WHERE d.site_id = s.site_id), "
            "(SELECT COUNT(*) FROM alarms a WHERE a.site_id = s.site_id AND a.acked_at IS NULL) "
            "FROM sites s ORDER BY s.site_id")
        return [SiteSummary(*r[:4], *(int(x) for x in r[4:])) for r in rows]

    def get(self, site_id: str) -> SiteSummary:
        for s in self.list():
            if s.site_id == site_id:
                return s
        raise NotFound(f"no site {site_id!r}")


@dataclass(frozen=True)
class StatusReport:
    """A device status as the collector hands it over (from :class:`sync.messages.DeviceStatus`)."""

    site_id: str
    device_id: str
    state: str
    received_at: str
    reported_at: str
    since: str | None = None
    role: str | None = None
    backlog: int | None = None
    reader: str | None = None
    reader_failures: int | None = None
    retained: bool = False
    starts: Mapping[str, int] | None = None
    """The box's process starts (``DeviceStatus.starts``); None keeps the stored ones."""


class DeviceRepository:
    """The fleet: one row per (site, device)."""

    def __init__(self, db: Database, sites: SiteRepository) -> None:
        self._db = db
        self._sites = sites

    def get(self, site_id: str, device_id: str) -> Device:
        rows = self._db.query(f"SELECT {_DEVICE_COLS} FROM devices WHERE site_id = ? AND "
                              "device_id = ?", (site_id, device_id))
        if not rows:
            raise NotFound(f"no device {site_id}/{device_id}")
        return _device(rows[0])

    def find(self, site_id: str, device_id: str) -> Device | None:
        try:
            return self.get(site_id, device_id)
        except NotFound:
            return None

    def record_status(self, s: StatusReport) -> Device:
        """Apply a status (or last will) and return the device as it now stands.

        An online status counts a restart when the device was offline before, or when its
        connection time (``since``) changed. A retained status (replayed by the broker when
        the collector subscribes) never moves ``last_seen`` past what it reports.
        """
        with self._db.transaction():
            self._sites.touch(s.site_id, s.received_at)
            before = self.find(s.site_id, s.device_id)
            seen = s.reported_at if s.retained else s.received_at
            if s.state == "online":
                since = s.since or seen
                restarted = before is not None and (
                    before.state != "online" or (s.since is not None and before.online_since != s.since))
                state_since = before.state_since if (
                    before is not None and not restarted and before.state == "online") else since
                online_since = s.since or (before.online_since if before else None)
            else:
                restarted = False
                if before is not None and before.state == "offline":
                    state_since = before.state_since
                else:
                    state_since = s.since or seen
                online_since = before.online_since if before else None
            if before is not None and before.last_seen > seen and s.state == "online":
                seen = before.last_seen
            elif before is not None and s.state == "offline":
                seen = before.last_seen
            count = (before.reconnects if before else 0) + (1 if restarted else 0)
            starts = None if s.starts is None else json.dumps(dict(s.starts), sort_keys=True)
            self._db.execute(
                "INSERT INTO devices (site_id, device_id, role, state, state_since, last_seen, "
                "online_since, backlog, reader, reader_failures, restart_count, process_starts) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (site_id, device_id) DO UPDATE SET "
                "role = COALESCE(excluded.role, devices.role), state = excluded.state, "
                "state_since = excluded.state_since, last_seen = excluded.last_seen, "
                "online_since = excluded.online_since, "
                "backlog = COALESCE(excluded.backlog, devices.backlog), "
                "reader = COALESCE(excluded.reader, devices.reader), "
                "reader_failures = COALESCE(excluded.reader_failures, devices.reader_failures), "
                "restart_count = excluded.restart_count, "
                "process_starts = COALESCE(excluded.process_starts, devices.process_starts)",
                (s.site_id, s.device_id, s.role, s.state, state_since, seen, online_since,
                 s.backlog, s.reader, s.reader_failures, count, starts))
            return self.get(s.site_id, s.device_id)

    def record_health(self, site_id: str, device_id: str, *, printer: str | None = None,
                      software_version: str | None = None,
                      config_version: str | None = None) -> None:
        """Record what the events say of a device's printer, software or configuration
        (None keeps the stored value). A device not known yet is ignored (its status comes
        first)."""
        self._db.execute(
            "UPDATE devices SET printer = COALESCE(?, printer), "
            "software_version = COALESCE(?, software_version), "
            "config_version = COALESCE(?, config_version) WHERE site_id = ? AND device_id = ?",
            (printer, software_version, config_version, site_id, device_id))

    def list(self, *, site_id: str | None = None, offline_minutes: float | None = None,
             backlog_above: int | None = None, now: datetime | None = None) -> list[Device]:
        """The fleet, by site and device id.

        Args:
            site_id: one site only.
            offline_minutes: only devices offline for more than this many minutes, or
                still ``online`` but not heard from for that long (no status heartbeat:
                an agent or a connection that died silently).
            backlog_above: only devices whose backlog is above this.
            now: the time ``offline_minutes`` counts from (default: now).
        """
        where: list[str] = ["1 = 1"]
        params: list[Any] = []
        if site_id is not None:
            where.append("site_id = ?")
            params.append(site_id)
        if offline_minutes is not None:
            limit = (now or datetime.now().astimezone()) - timedelta(minutes=offline_minutes)
            where.append("((state = 'offline' AND state_since < ?) OR "
                         "(state = 'online' AND last_seen < ?))")
            params += [stamp(limit), stamp(limit)]
        if backlog_above is not None:
            where.append("backlog > ?")
            params.append(backlog_above)
        rows = self._db.query(f"SELECT {_DEVICE_COLS} FROM devices WHERE {' AND '.join(where)} "
                              "ORDER BY site_id, device_id", params)
        return [_device(r) for r in rows]


class AlarmRepository:
    """Alarms of every site; acknowledged in the console by a named staff member."""

    def __init__(self, db: Database, sites: SiteRepository) -> None:
        self._db = db
        self._sites = sites

    def record(self, *, site_id: str, device_id: str, edge_alarm_id: int, kind: str,
               raised_at: str, received_at: str, source: str | None = None,
               item: str | None = None, uid: str | None = None, title: str | None = None,
               direction: str | None = None, message: str | None = None,
               detail: Mapping[str, Any] | None = None,
               edge_acked_at: str | None = None) -> tuple[AlarmRecord, bool]:
        """Store an alarm once per ``(site, device, edge_alarm_id)``.

        Returns:
            The stored alarm, and True if it was new (a re-send only updates when the box
            acknowledged it).
        """
        with self._db.transaction():
            self._sites.touch(site_id, received_at)
            rows = self._db.query(
                "INSERT INTO alarms (site_id, device_id, edge_alarm_id, source, kind, item, uid, "
                "title, direction, message, detail, raised_at, received_at, edge_acked_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (site_id, device_id, edge_alarm_id) DO NOTHING RETURNING id",
                (site_id, device_id, edge_alarm_id, source, kind, item, uid, title, direction,
                 message, _dumps(detail), raised_at, received_at, edge_acked_at))
            if rows:
                return self.get(int(rows[0][0])), True
            if edge_acked_at is not None:
                self._db.execute(
                    "UPDATE alarms SET edge_acked_at = ? WHERE site_id = ? AND device_id = ? "
                    "AND edge_alarm_id = ? AND edge_acked_at IS NULL",
                    (edge_acked_at, site_id, device_id, edge_alarm_id))
            [r] = self._db.query(f"SELECT {_ALARM_COLS} FROM alarms WHERE site_id = ? AND "
                                 "device_id = ? AND edge_alarm_id = ?",
                                 (site_id, device_id, edge_alarm_id))
            return _alarm(r), False

    def get(self, alarm_id: int) -> AlarmRecord:
        rows = self._db.query(f"SELECT {_ALARM_COLS} FROM alarms WHERE id = ?", (alarm_id,))
        if not rows:
            raise NotFound(f"no alarm {alarm_id}")
        return _alarm(rows[0])

    def search(self, f: AlarmFilter = AlarmFilter()) -> list[AlarmRecord]:
        """Alarms matching ``f``, newest first (oldest first when ``after_id`` is given: the
        live feed's order)."""
        where: list[str] = ["1 = 1"]
        params: list[Any] = []
        for col, value in (("site_id", f.site_id), ("device_id", f.device_id), ("kind", f.kind)):
            if value:
                where.append(f"{col} = ?")
                params.append(value)
        if f.state == "open":
            where.append("acked_at IS NULL")
        elif f.state == "acked":
            where.append("acked_at IS NOT NULL")
        if f.since:
            where.append("raised_at >= ?")
            params.append(f.since)
        if f.until:
            where.append("raised_at < ?")
            params.append(f.until)
        order = "id DESC"
        if f.after_id is not None:
            where.append("id > ?")
            params.append(f.after_id)
            order = "id"
        params.append(max(1, min(f.limit, 5000)))
        rows = self._db.query(f"SELECT {_ALARM_COLS} FROM alarms WHERE {' AND '.join(where)} "
                              f"ORDER BY {order} LIMIT ?", params)
        return [_alarm(r) for r in rows]

    def changed_after(self, alarm_id: int, acked_after: str) -> list[AlarmRecord]:
        """The live feed: alarms newer than ``alarm_id`` and alarms acknowledged after
        ``acked_after``, oldest first."""
        rows = self._db.query(f"SELECT {_ALARM_COLS} FROM alarms WHERE id > ? OR acked_at > ? "
                              "ORDER BY id LIMIT 500", (alarm_id, acked_after))
        return [_alarm(r) for r in rows]

    def acknowledge(self, alarm_id: int, by: str, at: str) -> tuple[AlarmRecord, bool]:
        """Acknowledge an alarm in the name of staff member ``by``.

        Returns:
            The alarm, and True if this call acknowledged it (False: it already was).

        Raises:
            NotFound: no such alarm.
        """
        with self._db.transaction():
            changed = self._db.execute("UPDATE alarms SET acked_at = ?, acked_by = ? "
                                       "WHERE id = ? AND acked_at IS NULL", (at, by, alarm_id))
            return self.get(alarm_id), changed == 1

    def latest_id(self) -> int:
        [(value,)] = self._db.query("SELECT COALESCE(MAX(id), 0) FROM alarms")
        return int(value)


class StatsRepository:
    """Per-device hourly counters (the statistics views and exports are built on them)."""

    def __init__(self, db: Database, sites: SiteRepository) -> None:
        self._db = db
        self._sites = sites

    def record(self, site_id: str, device_id: str, period_start: str, period_s: int,
               counters: Mapping[str, int], *, complete: bool, received_at: str) -> None:
        """Store one period's counters; a completed period is never overwritten by a live
        (incomplete) one."""
        with self._db.transaction():
            self._sites.touch(site_id, received_at)
            old = self._db.query(
                "SELECT counters, complete FROM stats WHERE site_id = ? AND device_id = ? AND "
                "period_start = ?", (site_id, device_id, period_start))
            if old and int(old[0][1]) > int(complete):
                return  # a live period never overwrites a completed one
            delta = {k: int(v) for k, v in counters.items()}
            if old:
                _add(delta, json.loads(old[0][0]), -1)
            self._add_site_hour(site_id, period_start[:13], delta)
            self._db.execute(
                "INSERT INTO stats (site_id, device_id, period_start, period_s, counters, "
                "complete, received_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (site_id, device_id, period_start) DO UPDATE SET "
                "counters = excluded.counters, complete = excluded.complete, "
                "received_at = excluded.received_at "
                "WHERE excluded.complete >= stats.complete",
                (site_id, device_id, period_start, period_s, _dumps(counters), int(complete),
                 received_at))

    def _add_site_hour(self, site_id: str, hour: str, delta: Mapping[str, int]) -> None:
        if not any(delta.values()):
            return
        row = self._db.query("SELECT counters FROM stats_site_hours WHERE site_id = ? AND "
                             "hour = ?", (site_id, hour))
        if row:
            sums = json.loads(row[0][0])
            _add(sums, delta, 1)
            self._db.execute("UPDATE stats_site_hours SET counters = ? WHERE site_id = ? AND "
                             "hour = ?", (_dumps(sums), site_id, hour))
        else:
            self._db.execute("INSERT INTO stats_site_hours (site_id, hour, counters) VALUES "
                             "(?, ?, ?)", (site_id, hour, _dumps(delta)))

    def totals(self, site_id: str, since: str, until: str) -> dict[str, int]:
        """Every counter of a site summed over ``[since, until)``."""
        out: dict[str, int] = {}
        for (counters,) in self._db.query(
                "SELECT counters FROM stats WHERE site_id = ? AND period_start >= ? AND "
                "period_start < ?", (site_id, since, until)):
            for k, v in json.loads(counters).items():
                out[k] = out.get(k, 0) + int(v)
        return out

    def site_hours(self, since: str, until: str, site_ids: Sequence[str] | None = None
                   ) -> list[tuple[str, str, dict[str, int]]]:
        """``(site, UTC hour "YYYY-MM-DDTHH", counters summed over the site's devices)`` for
        the hours in ``[since, until)`` (timestamps; their first 13 characters are compared).

        The sums are kept by :meth:`record` in ``stats_site_hours``, so a month of a whole
        network is one row per library and hour to read.
        """
        where, params = _sites_where(site_ids)
        return [(site, hour, json.loads(counters)) for site, hour, counters in self._db.query(
            "SELECT site_id, hour, counters FROM stats_site_hours WHERE hour >= ? AND hour < ?"
            f"{where}", (since[:13], until[:13], *params))]

    def rebuild_site_hours(self) -> int:
        """Sum ``stats`` into ``stats_site_hours`` when the sums are missing (a database made
        before they existed); the number of site-hours written (0 when there was nothing
        to do)."""
        with self._db.transaction():
            if self._db.query("SELECT 1 FROM stats_site_hours LIMIT 1") or \
                    not self._db.query("SELECT 1 FROM stats LIMIT 1"):
                return 0
            sums: dict[tuple[str, str], dict[str, int]] = {}
            for site, start, counters in self._db.query(
                    "SELECT site_id, period_start, counters FROM stats"):
                _add(sums.setdefault((site, start[:13]), {}), json.loads(counters), 1)
            for (site, hour), counters in sums.items():
                self._db.execute("INSERT INTO stats_site_hours (site_id, hour, counters) "
                                 "VALUES (?, ?, ?) ON CONFLICT (site_id, hour) DO NOTHING",
                                 (site, hour, _dumps(counters)))  # another opener won
            return len(sums)

    def alarm_times(self, since: str, until: str, site_ids: Sequence[str] | None = None
                    ) -> list[tuple[str, str, str]]:
        """``(site, kind, raised_at)`` of every alarm raised in ``[since, until)``."""
        where, params = _sites_where(site_ids)
        return [tuple(r) for r in self._db.query(  # type: ignore[misc]
            "SELECT site_id, kind, raised_at FROM alarms WHERE raised_at >= ? AND "
            f"raised_at < ?{where}", (since, until, *params))]

    def conflict_times(self, since: str, until: str, site_ids: Sequence[str] | None = None
                       ) -> list[tuple[str, str]]:
        """``(site, created_at)`` of every conflict whose transaction was made in
        ``[since, until)``."""
        where, params = _sites_where(site_ids)
        return [tuple(r) for r in self._db.query(  # type: ignore[misc]
            "SELECT site_id, created_at FROM conflicts WHERE created_at >= ? AND "
            f"created_at < ?{where}", (since, until, *params))]


def _add(into: dict[str, int], counters: Mapping[str, Any], sign: int) -> None:
    """Add (sign 1) or take away (sign -1) ``counters`` to/from ``into``."""
    for k, v in counters.items():
        into[k] = into.get(k, 0) + sign * int(v)


def _sites_where(site_ids: Sequence[str] | None) -> tuple[str, tuple[str, ...]]:
    """An ``AND site_id IN (…)`` clause (empty for every site) and its parameters."""
    if site_ids is None:
        return "", ()
    if not site_ids:
        return " AND 1 = 0", ()
    return f" AND site_id IN ({', '.join('?' * len(site_ids))})", tuple(site_ids)


class EventRepository:
    """Device events (reader, printer… connected, lost, fault), once per event id."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def record(self, site_id: str, device_id: str, event_id: int, source: str, kind: str,
               detail: Mapping[str, Any], at: str) -> bool:
        """Store an event; False when it was already stored."""
        rows = self._db.query(
            "INSERT INTO events (site_id, device_id, event_id, source, kind, detail, at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (site_id, device_id, event_id) DO NOTHING "
            "RETURNING event_id", (site_id, device_id, event_id, source, kind, _dumps(detail), at))
        return bool(rows)

    def of_kind(self, kind: str, *, site_id: str | None = None,
                limit: int = 200) -> list[dict[str, Any]]:
        """Every box's events of one kind (e.g. ``dead_letter``), newest first."""
        where, params = ("AND site_id = ? ", (kind, site_id)) if site_id else ("", (kind,))
        rows = self._db.query("SELECT site_id, device_id, event_id, source, detail, at "
                              f"FROM events WHERE kind = ? {where}ORDER BY at DESC LIMIT ?",
                              (*params, limit))
        return [{"site": r[0], "device": r[1], "event_id": r[2], "source": r[3],
                 "detail": json.loads(r[4]), "at": r[5]} for r in rows]

    def recent(self, site_id: str, device_id: str, limit: int = 50) -> list[dict[str, Any]]:
        rows = self._db.query("SELECT event_id, source, kind, detail, at FROM events "
                              "WHERE site_id = ? AND device_id = ? ORDER BY at DESC, event_id DESC "
                              "LIMIT ?", (site_id, device_id, limit))
        return [{"event_id": r[0], "source": r[1], "kind": r[2], "detail": json.loads(r[3]),
                 "at": r[4]} for r in rows]


_CONFLICT_COLS = ("tx_key, site_id, device_id, kind, item, patron, reason, screen_message, "
                  "created_at, detected_at, resolution, resolved_by, resolved_at")


class ConflictRepository:
    """Conflicts reported by the gateways, and staff's resolutions."""

    def __init__(self, db: Database, sites: SiteRepository) -> None:
        self._db = db
        self._sites = sites

    def record(self, *, tx_key: str, site_id: str, device_id: str, kind: str, item: str | None,
               patron: str | None, reason: str, screen_message: str | None, created_at: str,
               detected_at: str) -> bool:
        """Store a conflict once per transaction key; False when it was known."""
        with self._db.transaction():
            self._sites.touch(site_id, detected_at)
            rows = self._db.query(
                "INSERT INTO conflicts (tx_key, site_id, device_id, kind, item, patron, reason, "
                "screen_message, created_at, detected_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (tx_key) DO NOTHING RETURNING tx_key",
                (tx_key, site_id, device_id, kind, item, patron, reason, screen_message,
                 created_at, detected_at))
            return bool(rows)

    def list(self, *, unresolved_only: bool = True, site_id: str | None = None,
             resolved_only: bool = False, limit: int = 1000) -> list[ConflictRecord]:
        """Conflicts, newest first: open ones only (default), resolved ones only, or all."""
        where, params = ["1 = 1"], []
        if unresolved_only:
            where.append("resolution IS NULL")
        elif resolved_only:
            where.append("resolution IS NOT NULL")
        if site_id:
            where.append("site_id = ?")
            params.append(site_id)
        rows = self._db.query(f"SELECT {_CONFLICT_COLS} FROM conflicts WHERE {' AND '.join(where)} "
                              "ORDER BY detected_at DESC LIMIT ?", [*params, limit])
        return [ConflictRecord(*r) for r in rows]

    def get(self, tx_key: str) -> ConflictRecord:
        rows = self._db.query(f"SELECT {_CONFLICT_COLS} FROM conflicts WHERE tx_key = ?",
                              (tx_key,))
        if not rows:
            raise NotFound(f"no conflict {tx_key}")
        return ConflictRecord(*rows[0])

    def resolve(self, tx_key: str, resolution: str, by: str, at: str) -> bool:
        """Record staff's resolution; False when it was resolved already."""
        return self._db.execute("UPDATE conflicts SET resolution = ?, resolved_by = ?, "
                                "resolved_at = ? WHERE tx_key = ? AND resolution IS NULL",
                                (resolution, by, at, tx_key)) == 1


class StaffRepository:
    """Staff accounts: role, password hash (made by :mod:`central.auth`), lockout state."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def create(self, username: str, display_name: str, role: str, password_hash: str,
               at: str) -> StaffAccount:
        """Add an account.

        Raises:
            StaffError: the role is unknown or the user name is taken.
        """
        if role not in ROLES:
            raise StaffError(f"role {role!r} is not one of {', '.join(ROLES)}")
        rows = self._db.query(
            "INSERT INTO staff (username, display_name, role, password_hash, created_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (username) DO NOTHING RETURNING username",
            (username, display_name, role, password_hash, at))
        if not rows:
            raise StaffError(f"a staff account {username!r} exists already")
        return self.get(username)

    def find(self, username: str) -> StaffAccount | None:
        rows = self._db.query(f"SELECT {_STAFF_COLS} FROM staff WHERE username = ?", (username,))
        return _staff(rows[0]) if rows else None

    def get(self, username: str) -> StaffAccount:
        account = self.find(username)
        if account is None:
            raise NotFound(f"no staff account {username!r}")
        return account

    def list(self) -> list[StaffAccount]:
        return [_staff(r) for r in self._db.query(f"SELECT {_STAFF_COLS} FROM staff "
                                                  "ORDER BY username")]

    def display_names(self) -> dict[str, str]:
        """Each account's display name by its user name."""
        return {u: d for u, d in self._db.query("SELECT username, display_name FROM staff")}

    def count(self) -> int:
        [(n,)] = self._db.query("SELECT COUNT(*) FROM staff")
        return int(n)

    def record_failure(self, username: str, *, lock_after: int, lock_until: str) -> StaffAccount:
        """Count a wrong password; at ``lock_after`` failures in a row the account is locked
        until ``lock_until`` (and the count starts again)."""
        with self._db.transaction():
            account = self.get(username)
            failures = account.failed_logins + 1
            locked = lock_until if failures >= lock_after else account.locked_until
            self._db.execute("UPDATE staff SET failed_logins = ?, locked_until = ? "
                             "WHERE username = ?",
                             (0 if failures >= lock_after else failures, locked, username))
            return self.get(username)

    def record_login(self, username: str, at: str) -> None:
        """A successful login: the failure count and any expired lock are cleared."""
        self._db.execute("UPDATE staff SET failed_logins = 0, locked_until = NULL, "
                         "last_login = ? WHERE username = ?", (at, username))

    def set_disabled(self, username: str, disabled: bool) -> None:
        """Disable an account (it can no longer log in, here or on the boxes) or enable it."""
        self._db.execute("UPDATE staff SET disabled = ? WHERE username = ?",
                         (int(disabled), username))

    def set_password_hash(self, username: str, password_hash: str) -> None:
        if not self._db.execute("UPDATE staff SET password_hash = ? WHERE username = ?",
                                (password_hash, username)):
            raise NotFound(f"no staff account {username!r}")


class SessionRepository:
    """Logged-in browsers (the cookie holds a random token; only its hash is stored)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def create(self, token_hash: str, username: str, csrf_token: str, created_at: str,
               expires_at: str) -> StaffSession:
        self._db.execute("INSERT INTO sessions (token_hash, username, csrf_token, created_at, "
                         "expires_at) VALUES (?, ?, ?, ?, ?)",
                         (token_hash, username, csrf_token, created_at, expires_at))
        return StaffSession(token_hash, username, csrf_token, created_at, expires_at)

    def find(self, token_hash: str, now: str) -> StaffSession | None:
        """The session, if it exists and has not expired."""
        rows = self._db.query("SELECT token_hash, username, csrf_token, created_at, expires_at "
                              "FROM sessions WHERE token_hash = ? AND expires_at > ?",
                              (token_hash, now))
        return StaffSession(*rows[0]) if rows else None

    def delete(self, token_hash: str) -> None:
        self._db.execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash,))

    def delete_expired(self, now: str) -> int:
        return self._db.execute("DELETE FROM sessions WHERE expires_at <= ?", (now,))


class AuditLog:
    """Every staff action that changes something, with who did it."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def record(self, actor: str, action: str, target: str, at: str,
               detail: Mapping[str, Any] | None = None) -> None:
        self._db.execute("INSERT INTO audit_log (at, actor, action, target, detail) "
                         "VALUES (?, ?, ?, ?, ?)", (at, actor, action, target, _dumps(detail)))

    def list(self, *, limit: int = 200, actor: str | None = None) -> list[AuditEntry]:
        where, params = ("WHERE actor = ?", [actor]) if actor else ("", [])
        rows = self._db.query(f"SELECT id, at, actor, action, target, detail FROM audit_log "
                              f"{where} ORDER BY id DESC LIMIT ?", [*params, limit])
        return [AuditEntry(r[0], r[1], r[2], r[3], r[4], json.loads(r[5])) for r in rows]


@dataclass(frozen=True)
class DeadLetter:
    """A message the collector could never store (kept to show staff, never retried)."""

    id: int
    topic: str
    payload: str
    reason: str
    at: str


class DeadLetterRepository:
    """Messages set aside by the collector: a bad payload never stops it."""

    MAX_PAYLOAD = 4000

    def __init__(self, db: Database) -> None:
        self._db = db

    def record(self, topic: str, payload: bytes, reason: str, at: str) -> None:
        text = payload[: self.MAX_PAYLOAD].decode("utf-8", errors="replace")
        self._db.execute("INSERT INTO dead_letters (topic, payload, reason, at) "
                         "VALUES (?, ?, ?, ?)", (topic, text, reason[:1000], at))

    def list(self, limit: int = 100) -> list[DeadLetter]:
        return [DeadLetter(*r) for r in self._db.query(
            "SELECT id, topic, payload, reason, at FROM dead_letters ORDER BY id DESC LIMIT ?",
            (limit,))]


@dataclass(frozen=True)
class EnrolCode:
    """A one-time enrolment code (only its hash is stored)."""

    code_hash: str
    site_id: str
    device_id: str
    role: str
    created_by: str
    created_at: str
    expires_at: str
    used_at: str | None
    serial: str | None


class EnrolmentRepository:
    """One-time enrolment codes and revoked devices."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def add_code(self, code: EnrolCode) -> None:
        self._db.execute(
            "INSERT INTO enrol_codes (code_hash, site_id, device_id, role, created_by, "
            "created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (code.code_hash, code.site_id, code.device_id, code.role, code.created_by,
             code.created_at, code.expires_at))

    def find_code(self, code_hash: str) -> EnrolCode | None:
        rows = self._db.query("SELECT code_hash, site_id, device_id, role, created_by, "
                              "created_at, expires_at, used_at, serial FROM enrol_codes "
                              "WHERE code_hash = ?", (code_hash,))
        return EnrolCode(*rows[0]) if rows else None

    def claim_code(self, code_hash: str, at: str) -> bool:
        """Mark a code used; False when it already was (two boxes racing for one code)."""
        return self._db.execute("UPDATE enrol_codes SET used_at = ? "
                                "WHERE code_hash = ? AND used_at IS NULL", (at, code_hash)) == 1

    def release_code(self, code_hash: str) -> None:
        """Undo a claim whose certificate could not be made (the code stays usable)."""
        self._db.execute("UPDATE enrol_codes SET used_at = NULL "
                         "WHERE code_hash = ? AND serial IS NULL", (code_hash,))

    def set_serial(self, code_hash: str, serial: str) -> None:
        """The certificate serial a claimed code was redeemed for."""
        self._db.execute("UPDATE enrol_codes SET serial = ? WHERE code_hash = ?",
                         (serial, code_hash))

    def revoke(self, site_id: str, device_id: str, by: str, at: str) -> None:
        self._db.execute("INSERT INTO revoked_devices (site_id, device_id, revoked_by, "
                         "revoked_at) VALUES (?, ?, ?, ?) ON CONFLICT (site_id, device_id) "
                         "DO UPDATE SET revoked_by = excluded.revoked_by, "
                         "revoked_at = excluded.revoked_at", (site_id, device_id, by, at))

    def reinstate(self, site_id: str, device_id: str) -> None:
        """A device enrolled again after a revocation is no longer on the list."""
        self._db.execute("DELETE FROM revoked_devices WHERE site_id = ? AND device_id = ?",
                         (site_id, device_id))

    def revoked(self) -> list[tuple[str, str, str]]:
        """``(site, device, revoked_at)`` of every revoked device."""
        return [(r[0], r[1], r[2]) for r in self._db.query(
            "SELECT site_id, device_id, revoked_at FROM revoked_devices "
            "ORDER BY site_id, device_id")]


class CentralStore:
    """Every repository over one database. Close it with :meth:`close`."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.sites = SiteRepository(db)
        self.devices = DeviceRepository(db, self.sites)
        self.alarms = AlarmRepository(db, self.sites)
        self.stats = StatsRepository(db, self.sites)
        self.stats.rebuild_site_hours()
        self.events = EventRepository(db)
        self.conflicts = ConflictRepository(db, self.sites)
        self.staff = StaffRepository(db)
        self.sessions = SessionRepository(db)
        self.audit = AuditLog(db)
        self.dead_letters = DeadLetterRepository(db)
        self.configs = ConfigRepository(db)
        self.commands = CommandRepository(db)
        self.security_tasks = SecurityTaskRepository(db)
        self.enrolment = EnrolmentRepository(db)

    def close(self) -> None:
        self.db.close()
