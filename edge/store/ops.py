"""Security tasks, alarms, counters, device events and the key/value ``meta`` table.

A *security task* is a pending AFI/EAS write, journaled before it is attempted, so a
crash never loses one. States::

    pending ──complete──► done
       │ (retries exhausted)
       └──► alarm_on ──complete──► done        (staff may ``abandon`` either)

``alarm_on`` is the persistent "loaned, alarm still on" (or "returned, not secured")
state: patron and staff see it and the edge keeps retrying. A task may carry a
``follow_up`` transaction (the check-in that must follow a successful *secure*); it is
appended to the outbox in the same SQLite transaction that marks the task done, so it is
journaled exactly once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from edge.store.connection import dumps, loads, utcnow
from edge.store.errors import StoreError

if TYPE_CHECKING:
    from edge.store.connection import Connection
    from edge.store.outbox import OutboxRepository

SecurityAction = Literal["release", "secure"]


@dataclass(frozen=True, slots=True)
class SecurityTask:
    """A pending or finished AFI/EAS write for one tag."""

    id: int
    item_id: str
    uid: str
    action: str
    state: str
    attempts: int
    last_error: str | None
    txn_key: str | None
    follow_up: dict[str, Any] | None
    created_at: str
    updated_at: str


@dataclass(frozen=True, slots=True)
class AlarmRecord:
    """An alarm for staff: a gate alarm, an item whose security write failed, a device fault."""

    id: int
    kind: str
    device: str
    item_id: str | None
    uid: str | None
    message: str
    detail: dict[str, Any]
    created_at: str
    acked_at: str | None
    acked_by: str | None


@dataclass(frozen=True, slots=True)
class DeviceEvent:
    """Something a device did (connected, lost, fault), for the staff views."""

    id: int
    device: str
    kind: str
    detail: dict[str, Any]
    at: str


def _task(row: Any) -> SecurityTask:
    return SecurityTask(id=row["id"], item_id=row["item_id"], uid=row["uid"], action=row["action"],
                        state=row["state"], attempts=row["attempts"], last_error=row["last_error"],
                        txn_key=row["txn_key"], follow_up=loads(row["follow_up"]),
                        created_at=row["created_at"], updated_at=row["updated_at"])


def _same_follow_up(conn: Any, row: Any, follow_up: Mapping[str, Any]) -> bool:
    """Whether the open task ``row`` carries the same action as ``follow_up`` (kind, item,
    session) and its item has not been journaled since the task was made."""
    theirs = loads(row["follow_up"]) or {}
    if (theirs.get("kind"), theirs.get("item_id")) != (follow_up.get("kind"),
                                                       follow_up.get("item_id")):
        return False
    if (theirs.get("payload") or {}).get("session") != (follow_up.get("payload") or {}).get("session"):
        return False
    moved = conn.execute(
        "SELECT 1 FROM outbox WHERE item_id = ? AND created_at > ? AND key <> ? LIMIT 1",
        (row["item_id"], row["created_at"], theirs.get("key") or "")).fetchone()
    return moved is None


class SecurityTaskRepository:
    """Journaled AFI/EAS writes; a done task's follow-up transaction goes to ``outbox``."""

    def __init__(self, store: Connection, outbox: OutboxRepository) -> None:
        self._store = store
        self._outbox = outbox

    def create(self, item_id: str, uid: str, action: SecurityAction, *,
               txn_key: str | None = None, follow_up: Mapping[str, Any] | None = None) -> SecurityTask:
        """Journal a write to do. For one ``(uid, action, txn_key)`` an open task is reused.

        A return's secure task (one with a ``follow_up`` check-in) is reused only for the
        same action: the same kind, item and session (``payload["session"]``), with no
        transaction of the item journaled since the task was made. An open task of another
        session (a failed return minutes ago, by whoever) is superseded instead, so a new
        session never journals an older session's key; a repeat in the same session gets
        the first attempt's key.

        Args:
            item_id: the item.
            uid: the tag's UID (hex).
            action: ``release`` (on loan) or ``secure`` (in stock).
            txn_key: the outbox entry that caused it (for ``release``).
            follow_up: ``{"kind", "payload", "item_id", "patron_ref"}`` to journal once done.
        """
        if action not in ("release", "secure"):
            raise StoreError(f"security action must be 'release' or 'secure', got {action!r}")
        now = utcnow()
        with self._store.transaction() as conn:
            row = conn.execute(
                "SELECT * FROM security_tasks WHERE uid = ? AND action = ? AND "
                "txn_key IS ? AND state IN ('pending','alarm_on')", (uid, action, txn_key)).fetchone()
            if row is not None and follow_up and not _same_follow_up(conn, row, follow_up):
                row = None
            if row is None:
                # A newer intent on the same tag supersedes an older opposite one.
                conn.execute("UPDATE security_tasks SET state = 'abandoned', updated_at = ?, "
                              "last_error = 'superseded' WHERE uid = ? AND state IN "
                              "('pending','alarm_on')", (now, uid))
                cur = conn.execute(
                    "INSERT INTO security_tasks (item_id, uid, action, txn_key, follow_up, "
                    "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (item_id, uid, action, txn_key,
                     dumps(dict(follow_up)) if follow_up else None, now, now))
                row = conn.execute("SELECT * FROM security_tasks WHERE id = ?",
                                   (cur.lastrowid,)).fetchone()
        return _task(row)

    def get(self, task_id: int) -> SecurityTask:
        """The task ``task_id``."""
        row = self._store.query_one("SELECT * FROM security_tasks WHERE id = ?", (task_id,))
        if row is None:
            raise StoreError(f"no security task {task_id}")
        return _task(row)

    def open(self, *, states: tuple[str, ...] = ("pending", "alarm_on")) -> list[SecurityTask]:
        """Tasks still to do, oldest first."""
        rows = self._store.query(
            f"SELECT * FROM security_tasks WHERE state IN ({','.join('?' * len(states))}) "
            "ORDER BY id", states)
        return [_task(r) for r in rows]

    def for_item(self, item_id: str) -> list[SecurityTask]:
        """Every task of an item, newest first."""
        rows = self._store.query("SELECT * FROM security_tasks WHERE item_id = ? ORDER BY id DESC",
                                 (item_id,))
        return [_task(r) for r in rows]

    def return_done_since(self, item_id: str, since: str) -> str | None:
        """The check-in key of a return's secure task of ``item_id`` finished at or after
        ``since`` (an ISO timestamp of the store's format), or None: a retry of an earlier
        return that completed while a new request for the item waited for it."""
        row = self._store.query_one(
            "SELECT follow_up FROM security_tasks WHERE item_id = ? AND action = 'secure' AND "
            "state = 'done' AND follow_up IS NOT NULL AND updated_at >= ? "
            "ORDER BY id DESC LIMIT 1", (item_id, since))
        follow = loads(row["follow_up"]) if row is not None else None
        return str(follow["key"]) if follow and follow.get("key") else None

    def record_failure(self, task_id: int, error: str, *, alarm: bool) -> SecurityTask:
        """Count a failed attempt; ``alarm=True`` moves the task to ``alarm_on``."""
        with self._store.transaction() as conn:
            conn.execute(
                "UPDATE security_tasks SET attempts = attempts + 1, last_error = ?, updated_at = ?, "
                "state = CASE WHEN ? THEN 'alarm_on' ELSE state END WHERE id = ? AND state IN "
                "('pending','alarm_on')", (error[:500], utcnow(), int(alarm), task_id))
        return self.get(task_id)

    def complete(self, task_id: int) -> tuple[SecurityTask, str | None]:
        """Mark a task done and journal its follow-up transaction in the same transaction.

        Returns:
            The task and the key of the follow-up outbox entry (``None`` without one).
            Completing a done task again changes nothing and returns the key the
            follow-up asked for.
        """
        with self._store.transaction() as conn:
            row = conn.execute("SELECT * FROM security_tasks WHERE id = ?", (task_id,)).fetchone()
            if row is None:
                raise StoreError(f"no security task {task_id}")
            follow = loads(row["follow_up"])
            key = follow.get("key") if follow else None
            if row["state"] in ("pending", "alarm_on"):
                conn.execute("UPDATE security_tasks SET state = 'done', attempts = attempts + 1, "
                             "updated_at = ?, last_error = NULL WHERE id = ?", (utcnow(), task_id))
                if follow:  # with "once", a repeat of the action gives the first one's key
                    key = self._outbox.append(
                        follow["kind"], follow.get("payload", {}), item_id=follow.get("item_id"),
                        patron_ref=follow.get("patron_ref"), offline=bool(follow.get("offline")),
                        key=key, ring=False, once=bool(follow.get("once"))).key
        if follow:
            self._store.ring("agent")
        return self.get(task_id), key

    def abandon(self, task_id: int, reason: str) -> None:
        """Give up a task (staff decision, or superseded)."""
        with self._store.transaction() as conn:
            conn.execute("UPDATE security_tasks SET state = 'abandoned', last_error = ?, "
                         "updated_at = ? WHERE id = ? AND state IN ('pending','alarm_on')",
                         (reason, utcnow(), task_id))


def _alarm(row: Any) -> AlarmRecord:
    return AlarmRecord(id=row["id"], kind=row["kind"], device=row["device"], item_id=row["item_id"],
                       uid=row["uid"], message=row["message"], detail=loads(row["detail"]) or {},
                       created_at=row["created_at"], acked_at=row["acked_at"],
                       acked_by=row["acked_by"])


class AlarmRepository:
    """Alarms for staff."""

    def __init__(self, store: Connection) -> None:
        self._store = store

    def raise_alarm(self, kind: str, message: str, *, device: str = "", item_id: str | None = None,
                    uid: str | None = None, detail: Mapping[str, Any] | None = None) -> AlarmRecord:
        """Store a new alarm and return it."""
        with self._store.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO alarms (kind, device, item_id, uid, message, detail, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (kind, device, item_id, uid, message, dumps(dict(detail or {})), utcnow()))
            row = conn.execute("SELECT * FROM alarms WHERE id = ?", (cur.lastrowid,)).fetchone()
        return _alarm(row)

    def after(self, alarm_id: int, limit: int = 100) -> list[AlarmRecord]:
        """Alarms with an id above ``alarm_id``, oldest first (a stream's next rows)."""
        rows = self._store.query("SELECT * FROM alarms WHERE id > ? ORDER BY id LIMIT ?",
                                 (alarm_id, limit))
        return [_alarm(r) for r in rows]

    def list(self, *, since: str | None = None, unacked_only: bool = False,
             limit: int = 200) -> list[AlarmRecord]:
        """Alarms, newest first, optionally since an ISO time and only unacknowledged."""
        where, params = [], []
        if since:
            where.append("created_at >= ?")
            params.append(since)
        if unacked_only:
            where.append("acked_at IS NULL")
        sql = "SELECT * FROM alarms" + (" WHERE " + " AND ".join(where) if where else "")
        rows = self._store.query(sql + " ORDER BY id DESC LIMIT ?", (*params, limit))
        return [_alarm(r) for r in rows]

    def get(self, alarm_id: int) -> AlarmRecord | None:
        """One alarm, or ``None``."""
        row = self._store.query_one("SELECT * FROM alarms WHERE id = ?", (alarm_id,))
        return None if row is None else _alarm(row)

    def ack(self, alarm_id: int, by: str = "staff") -> AlarmRecord | None:
        """Acknowledge an alarm (idempotent); ``None`` when it does not exist."""
        with self._store.transaction() as conn:
            conn.execute("UPDATE alarms SET acked_at = ?, acked_by = ? WHERE id = ? AND "
                         "acked_at IS NULL", (utcnow(), by, alarm_id))
        return self.get(alarm_id)


def hour_bucket(at: datetime | None = None) -> str:
    """The counter bucket for ``at`` (UTC): ``YYYY-MM-DDTHH``."""
    return (at or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H")


class CounterRepository:
    """Per-hour counters (checkouts, returns, gate passes, alarms ...)."""

    def __init__(self, store: Connection) -> None:
        self._store = store

    def incr(self, name: str, n: int = 1, at: datetime | None = None) -> None:
        """Add ``n`` to counter ``name`` in the hour of ``at`` (now by default)."""
        with self._store.transaction() as conn:
            conn.execute("INSERT INTO counters (hour, name, value) VALUES (?, ?, ?) "
                         "ON CONFLICT (hour, name) DO UPDATE SET value = value + excluded.value",
                         (hour_bucket(at), name, n))

    def hours(self, since_hour: str, until_hour: str | None = None) -> dict[str, dict[str, int]]:
        """``{hour: {name: value}}`` for hours ``since_hour`` .. ``until_hour`` (inclusive)."""
        rows = self._store.query(
            "SELECT hour, name, value FROM counters WHERE hour >= ? AND hour <= ? "
            "ORDER BY hour, name", (since_hour, until_hour or "9999"))
        out: dict[str, dict[str, int]] = {}
        for r in rows:
            out.setdefault(r["hour"], {})[r["name"]] = r["value"]
        return out

    def after(self, hour: str, until_hour: str | None = None) -> dict[str, dict[str, int]]:
        """``{hour: {name: value}}`` for the hours after ``hour`` (exclusive; ``""``: all)
        up to ``until_hour`` (inclusive)."""
        rows = self._store.query(
            "SELECT hour, name, value FROM counters WHERE hour > ? AND hour <= ? "
            "ORDER BY hour, name", (hour, until_hour or "9999"))
        out: dict[str, dict[str, int]] = {}
        for r in rows:
            out.setdefault(r["hour"], {})[r["name"]] = int(r["value"])
        return out

    def totals(self, since_hour: str, until_hour: str | None = None) -> dict[str, int]:
        """Sum of each counter over the hours."""
        rows = self._store.query(
            "SELECT name, SUM(value) AS v FROM counters WHERE hour >= ? AND hour <= ? "
            "GROUP BY name ORDER BY name", (since_hour, until_hour or "9999"))
        return {r["name"]: int(r["v"]) for r in rows}


def _event(row: Any) -> DeviceEvent:
    return DeviceEvent(id=row["id"], device=row["device"], kind=row["kind"],
                       detail=loads(row["detail"]) or {}, at=row["at"])


class DeviceEventRepository:
    """A log of device state changes."""

    def __init__(self, store: Connection) -> None:
        self._store = store

    def record(self, device: str, kind: str, detail: Mapping[str, Any] | None = None) -> None:
        """Append an event."""
        with self._store.transaction() as conn:
            conn.execute("INSERT INTO device_events (device, kind, detail, at) VALUES (?, ?, ?, ?)",
                         (device, kind, dumps(dict(detail or {})), utcnow()))

    def recent(self, limit: int = 100, device: str | None = None) -> list[DeviceEvent]:
        """The newest events first."""
        if device is None:
            rows = self._store.query("SELECT * FROM device_events ORDER BY id DESC LIMIT ?", (limit,))
        else:
            rows = self._store.query("SELECT * FROM device_events WHERE device = ? ORDER BY id "
                                     "DESC LIMIT ?", (device, limit))
        return [_event(r) for r in rows]

    def after(self, event_id: int, limit: int = 100) -> list[DeviceEvent]:
        """Events with an id above ``event_id``, oldest first (a stream's next rows)."""
        rows = self._store.query("SELECT * FROM device_events WHERE id > ? ORDER BY id LIMIT ?",
                                 (event_id, limit))
        return [_event(r) for r in rows]

    def dead_letters(self, limit: int = 100) -> list[DeviceEvent]:
        """The sync agent's dead letters (``kind = 'dead_letter'``: received messages that
        can never be processed, kept aside), newest first."""
        rows = self._store.query("SELECT * FROM device_events WHERE kind = 'dead_letter' "
                                 "ORDER BY id DESC LIMIT ?", (limit,))
        return [_event(r) for r in rows]

    def printer_state(self) -> str | None:
        """The receipt printer's last reported state (the kind of the last ``printer_*``
        event without its prefix: ``ok``, ``paper_out``, ``unreachable``…; None if never
        reported)."""
        last = self._store.query_one(
            "SELECT kind FROM device_events WHERE kind LIKE 'printer\\_%' ESCAPE '\\' "
            "ORDER BY id DESC LIMIT 1")
        return None if last is None else str(last["kind"]).removeprefix("printer_")

    def reader_summary(self, since: str) -> tuple[str | None, int]:
        """The reader's last state (``online``/``offline``, None if never reported) and its
        ``reader_offline`` events at or after ``since`` (an ISO time stamp)."""
        last = self._store.query_one(
            "SELECT kind FROM device_events WHERE kind IN ('reader_online', 'reader_offline') "
            "ORDER BY id DESC LIMIT 1")
        n = self._store.query_one("SELECT COUNT(*) AS n FROM device_events "
                                  "WHERE kind = 'reader_offline' AND at >= ?", (since,))
        state = None if last is None else str(last["kind"]).removeprefix("reader_")
        return state, int(n["n"]) if n is not None else 0


PROCESSES = ("serve", "sync", "kiosk")
"""The box's processes that count their starts (:meth:`MetaRepository.count_start`)."""


class MetaRepository:
    """A small key/value table (service state such as "serve is running", cache versions)."""

    def __init__(self, store: Connection) -> None:
        self._store = store

    def get(self, key: str, default: str | None = None) -> str | None:
        """The value of ``key``."""
        row = self._store.query_one("SELECT value FROM meta WHERE key = ?", (key,))
        return default if row is None else str(row["value"])

    def set(self, key: str, value: str) -> None:
        """Set ``key``."""
        with self._store.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def delete(self, key: str) -> None:
        """Remove ``key``."""
        with self._store.transaction() as conn:
            conn.execute("DELETE FROM meta WHERE key = ?", (key,))

    def set_connectivity(self, online: bool) -> None:
        """The agent records whether it reaches the broker and gateway (``agent.connectivity``).

        The edge shows it on ``/health`` and in ``connectivity`` events; call it on every
        change (connect, disconnect) and the edge rings are not needed for it.
        """
        self.set("agent.connectivity", "online" if online else "offline")
        self.set("agent.connectivity_at", utcnow())

    def count_start(self, process: str) -> int:
        """Journal one more start of this box's ``process`` (``serve``, ``sync``, ``kiosk``)
        and return its starts so far (the agent reports them: the central console's
        restart count)."""
        if process not in PROCESSES:
            raise StoreError(f"unknown process {process!r}; expected one of {PROCESSES}")
        key = f"process.{process}.starts"
        with self._store.transaction() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
            starts = (int(row[0]) if row is not None else 0) + 1
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                         (key, str(starts)))
        return starts

    def note_instance(self, process: str, instance: str) -> bool:
        """Count a start of ``process`` the first time one of its runs (``instance``, a
        random id it made when it started) is seen; True if it was new. For a process that
        does not open the store itself (the kiosk UI, which reaches the edge over HTTP)."""
        key = f"process.{process}.instance"
        with self._store.transaction():
            if self.get(key) == instance:
                return False
            self.set(key, instance[:64])
            self.count_start(process)
        return True

    def process_starts(self) -> dict[str, int]:
        """Each process's starts so far (only the processes that have started)."""
        rows = self._store.query("SELECT key, value FROM meta WHERE key LIKE 'process.%.starts'")
        return {str(r["key"]).split(".")[1]: int(r["value"]) for r in rows}

    def connectivity(self) -> tuple[str, str | None]:
        """``("online"|"offline"|"unknown", when it was last set)``."""
        return (self.get("agent.connectivity", "unknown") or "unknown",
                self.get("agent.connectivity_at"))
