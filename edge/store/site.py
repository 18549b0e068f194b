"""The site view: what the site's other boxes publish, as the sync agent stored it.

The agent subscribes to its site's retained device statuses, statistics and staff alarms
(``sync.topics.site_filters``) and writes each message here, in its receive transaction;
the staff console and the staff API read it. Tables (schema version 2):

* ``site_devices``: the last status of each device (online/offline, since when, backlog,
  reader state and failures);
* ``site_stats``: the latest counters of each device for each UTC hour (a device
  re-publishes its current hour as it grows: the newest message replaces the older);
* ``site_alarms``: alarms raised on other devices, keyed by ``(device, alarm_id)``.

Every write bumps ``meta site.version``, so a reader can tell cheaply that something
changed. Repositories return frozen dataclasses. Create one with ``SiteRepository(store)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from edge.store.connection import dumps, loads, utcnow
from edge.store.errors import StoreError

if TYPE_CHECKING:
    from edge.store.connection import Connection

META_VERSION = "site.version"
_STATES = ("online", "offline")


@dataclass(frozen=True, slots=True)
class SiteDevice:
    """The last known status of one device of the site."""

    device: str
    role: str
    state: str
    since: str
    """When the device went into ``state`` (as it said, or when that news arrived)."""
    backlog: int | None
    reader: str | None
    reader_failures: int | None
    reported_at: str
    """The time in the status message."""
    received_at: str


@dataclass(frozen=True, slots=True)
class SiteAlarm:
    """An alarm raised on another device of the site (no patron data)."""

    device: str
    alarm_id: int
    kind: str
    source: str | None
    item_id: str | None
    uid: str | None
    title: str | None
    direction: str | None
    message: str
    detail: dict[str, Any]
    created_at: str
    acked_at: str | None
    received_at: str


def stamp(at: datetime | str | None) -> str | None:
    """An aware datetime (or ISO text) as the store's UTC timestamp format."""
    if at is None:
        return None
    if isinstance(at, str):
        at = datetime.fromisoformat(at.replace("Z", "+00:00"))
    if at.tzinfo is None:
        raise StoreError(f"timestamp {at.isoformat()} has no time zone")
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _device(row: Any) -> SiteDevice:
    return SiteDevice(device=row["device"], role=row["role"], state=row["state"],
                      since=row["since"], backlog=row["backlog"], reader=row["reader"],
                      reader_failures=row["reader_failures"], reported_at=row["reported_at"],
                      received_at=row["received_at"])


def _alarm(row: Any) -> SiteAlarm:
    return SiteAlarm(device=row["device"], alarm_id=row["alarm_id"], kind=row["kind"],
                     source=row["source"], item_id=row["item_id"], uid=row["uid"],
                     title=row["title"], direction=row["direction"], message=row["message"],
                     detail=loads(row["detail"]) or {}, created_at=row["created_at"],
                     acked_at=row["acked_at"], received_at=row["received_at"])


def sum_counters(counters: Iterable[Mapping[str, int]]) -> dict[str, int]:
    """``{name: value}`` summed over several counter sets (hours, or devices)."""
    out: dict[str, int] = {}
    for c in counters:
        for k, v in c.items():
            out[k] = out.get(k, 0) + v
    return out


class SiteRepository:
    """Read and write the site view of one store."""

    def __init__(self, store: Connection) -> None:
        self._store = store

    # ---- writes (the agent) -----------------------------------------------------------

    def _touch_if_changed(self, conn: Any) -> None:
        # The version moves only when the last write changed a row: consoles reload on it,
        # and boxes re-send statuses and counters that mostly say the same.
        if conn.execute("SELECT changes()").fetchone()[0]:
            self._touch(conn)

    def _touch(self, conn: Any) -> None:
        conn.execute("INSERT INTO meta (key, value) VALUES (?, '1') ON CONFLICT (key) DO UPDATE "
                     "SET value = CAST(value AS INTEGER) + 1", (META_VERSION,))

    def record_status(self, device: str, state: str, *, role: str | None = None,
                      backlog: int | None = None, since: datetime | str | None = None,
                      reader: str | None = None, reader_failures: int | None = None,
                      reported_at: datetime | str | None = None) -> SiteDevice:
        """Store a device's status (the newest replaces the older).

        Without ``since`` (a last will), the device keeps its ``since`` if its state did
        not change, and gets the time of arrival if it did.

        Raises:
            StoreError: ``state`` is neither ``online`` nor ``offline``.
        """
        if state not in _STATES:
            raise StoreError(f"device state must be online or offline, got {state!r}")
        now = utcnow()
        with self._store.transaction() as conn:
            old = conn.execute("SELECT * FROM site_devices WHERE device = ?",
                               (device,)).fetchone()
            when = stamp(since)
            if when is None:
                when = old["since"] if old is not None and old["state"] == state else now
            role = role or (old["role"] if old is not None else "")
            shown = (role, state, when, backlog, reader, reader_failures)
            conn.execute(
                "INSERT INTO site_devices (device, role, state, since, backlog, reader, "
                "reader_failures, reported_at, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (device) DO UPDATE SET role = excluded.role, state = excluded.state, "
                "since = excluded.since, backlog = excluded.backlog, reader = excluded.reader, "
                "reader_failures = excluded.reader_failures, reported_at = excluded.reported_at, "
                "received_at = excluded.received_at",
                (device, role, state, when, backlog, reader, reader_failures,
                 stamp(reported_at) or now, now))
            if old is None or shown != tuple(old[k] for k in (
                    "role", "state", "since", "backlog", "reader", "reader_failures")):
                self._touch(conn)
            row = conn.execute("SELECT * FROM site_devices WHERE device = ?", (device,)).fetchone()
        return _device(row)

    def record_stats(self, device: str, period_start: datetime, counters: Mapping[str, int]) -> None:
        """Store a device's counters for the UTC hour starting at ``period_start``."""
        hour = period_start.astimezone(UTC).strftime("%Y-%m-%dT%H")
        with self._store.transaction() as conn:
            conn.execute(
                "INSERT INTO site_stats (device, hour, counters, received_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (device, hour) DO UPDATE SET counters = excluded.counters, "
                "received_at = excluded.received_at WHERE counters IS NOT excluded.counters",
                (device, hour, dumps({k: int(v) for k, v in counters.items()}), utcnow()))
            self._touch_if_changed(conn)

    def record_alarm(self, device: str, alarm_id: int, kind: str, *, created_at: datetime | str,
                     source: str | None = None, item_id: str | None = None,
                     uid: str | None = None, title: str | None = None,
                     direction: str | None = None, message: str | None = None,
                     detail: Mapping[str, Any] | None = None,
                     acked_at: datetime | str | None = None) -> None:
        """Store another device's alarm (a re-sent one only updates its ``acked_at``)."""
        with self._store.transaction() as conn:
            conn.execute(
                "INSERT INTO site_alarms (device, alarm_id, kind, source, item_id, uid, title, "
                "direction, message, detail, created_at, acked_at, received_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (device, alarm_id) "
                "DO UPDATE SET acked_at = COALESCE(excluded.acked_at, site_alarms.acked_at) "
                "WHERE site_alarms.acked_at IS NOT COALESCE(excluded.acked_at, "
                "site_alarms.acked_at)",
                (device, alarm_id, kind, source, item_id, uid, title, direction, message or "",
                 dumps(dict(detail or {})), stamp(created_at), stamp(acked_at), utcnow()))
            self._touch_if_changed(conn)

    # ---- reads -------------------------------------------------------------------------

    def version(self) -> int:
        """A number that grows whenever the site view shows something new (a repeated
        status, counter set or alarm leaves it as it is)."""
        row = self._store.query_one("SELECT value FROM meta WHERE key = ?", (META_VERSION,))
        return int(row["value"]) if row is not None else 0

    def devices(self) -> list[SiteDevice]:
        """Every device heard of, by id."""
        return [_device(r) for r in self._store.query("SELECT * FROM site_devices ORDER BY device")]

    def device(self, device: str) -> SiteDevice | None:
        """One device's last status, or ``None``."""
        row = self._store.query_one("SELECT * FROM site_devices WHERE device = ?", (device,))
        return None if row is None else _device(row)

    def hours(self, since_hour: str, until_hour: str) -> dict[str, dict[str, dict[str, int]]]:
        """``{device: {hour: {name: value}}}`` for the UTC hours ``since_hour`` .. ``until_hour``."""
        rows = self._store.query(
            "SELECT device, hour, counters FROM site_stats WHERE hour >= ? AND hour <= ? "
            "ORDER BY device, hour", (since_hour, until_hour))
        out: dict[str, dict[str, dict[str, int]]] = {}
        for r in rows:
            out.setdefault(r["device"], {})[r["hour"]] = {
                k: int(v) for k, v in (loads(r["counters"]) or {}).items()}
        return out

    def totals(self, since_hour: str, until_hour: str) -> dict[str, dict[str, int]]:
        """``{device: {name: sum over the hours}}``."""
        return {device: sum_counters(hours.values())
                for device, hours in self.hours(since_hour, until_hour).items()}

    def alarms(self, *, since: str | None = None, limit: int = 100) -> list[SiteAlarm]:
        """Other devices' alarms, newest first (``since``: an ISO time, inclusive)."""
        rows = self._store.query(
            "SELECT * FROM site_alarms WHERE created_at >= ? ORDER BY created_at DESC, device, "
            "alarm_id DESC LIMIT ?", (since or "", limit))
        return [_alarm(r) for r in rows]

    def alarm_counts(self, since: str, until: str) -> dict[str, int]:
        """Alarms per device created in ``[since, until)`` (store timestamps)."""
        rows = self._store.query(
            "SELECT device, COUNT(*) AS n FROM site_alarms WHERE created_at >= ? AND "
            "created_at < ? GROUP BY device", (since, until))
        return {r["device"]: int(r["n"]) for r in rows}
