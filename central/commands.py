"""Commands to the boxes and the boxes' failed security tasks, in the central database.

A staff action on a box (retry or abandon a failed security task, resolve a conflict) is
one :class:`CommandRecord`: issued here (``pending``, with an expiry: ``[central]
command_ttl_hours``), published by the collector's
:class:`~central.dispatch.CommandDispatcher` (``sent_at`` once the broker has it), and
closed by the box's acknowledgement (``done``, or ``failed`` with the box's reason), by its
expiry (``expired``: the box never answered in time; a box that receives it later does not
carry it out) or by staff (``cancelled``).
:class:`SecurityTaskRepository` keeps each box's last report of its failed tasks.

Repositories check and store; they do no MQTT and no HTTP.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from central.db import Database, parse_stamp, stamp
from central.errors import NotFound, StaffError

ACTIONS = ("retry_security", "abandon_security", "resolve_conflict")
RESOLUTIONS = ("loan_stands", "item_returned", "contact_patron")
"""How staff resolve a conflict: the loan stands, the item is returned, the patron is to be
contacted."""
DEFAULT_TTL_HOURS = 72.0
"""A command's default life (``[central] command_ttl_hours``): a box away over a long
weekend still gets it."""
OPEN = "pending"
CLOSED_BY_CENTRE = ("expired", "cancelled")
"""States the centre closes a command in without the box's answer: a late answer is still
recorded (its reason; ``done`` replaces the state, since the box did carry it out)."""


def expiry(at: str, ttl_hours: float) -> str:
    """The expiry of a command issued at ``at`` (a stored time stamp)."""
    return stamp(parse_stamp(at) + timedelta(hours=ttl_hours))


@dataclass(frozen=True)
class CommandRecord:
    """A command to one box and what became of it.

    ``state``: ``pending`` (not acknowledged yet; ``sent_at`` tells if the broker has it),
    ``done`` or ``failed`` (``reason`` from the box), ``expired`` (not answered before
    ``expires_at``) or ``cancelled`` (``cancelled_by``).
    """

    command_id: str
    site_id: str
    device_id: str
    action: str
    target: str
    resolution: str | None
    note: str | None
    issued_by: str
    issued_at: str
    sent_at: str | None
    state: str
    reason: str | None
    acked_at: str | None
    expires_at: str | None = None
    cancelled_by: str | None = None
    closed_at: str | None = None
    """When the centre closed it (expired or cancelled)."""


_COMMAND_COLS = ("command_id, site_id, device_id, action, target, resolution, note, issued_by, "
                 "issued_at, sent_at, state, reason, acked_at, expires_at, cancelled_by, "
                 "closed_at")


class CommandRepository:
    """The ``commands`` table."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def issue(self, site_id: str, device_id: str, action: str, target: str, *, issued_by: str,
              at: str, resolution: str | None = None, note: str | None = None,
              expires_at: str | None = None) -> CommandRecord:
        """Record a new command (``pending``) for the dispatcher to publish.

        Args:
            expires_at: after this the command is ``expired`` if the box has not answered
                (see :func:`expiry`); None: it waits for ever.

        Raises:
            StaffError: an unknown action or resolution.
        """
        if action not in ACTIONS:
            raise StaffError(f"unknown command {action!r}")
        if (action == "resolve_conflict") != (resolution in RESOLUTIONS):
            raise StaffError(f"resolution {resolution!r} does not fit {action}")
        command_id = str(uuid.uuid4())
        self._db.execute(
            f"INSERT INTO commands ({_COMMAND_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, "
            "'pending', NULL, NULL, ?, NULL, NULL)",
            (command_id, site_id, device_id, action, target, resolution, note, issued_by, at,
             expires_at))
        return self.get(command_id)

    def get(self, command_id: str) -> CommandRecord:
        rows = self._db.query(f"SELECT {_COMMAND_COLS} FROM commands WHERE command_id = ?",
                              (command_id,))
        if not rows:
            raise NotFound(f"no command {command_id}")
        return CommandRecord(*rows[0])

    def unsent(self, limit: int = 100, *, now: str | None = None) -> list[CommandRecord]:
        """Commands the broker does not have yet (and, given ``now``, not expired), oldest
        first."""
        fresh = "" if now is None else " AND (expires_at IS NULL OR expires_at > ?)"
        return [CommandRecord(*r) for r in self._db.query(
            f"SELECT {_COMMAND_COLS} FROM commands WHERE sent_at IS NULL AND state = 'pending'"
            f"{fresh} ORDER BY issued_at LIMIT ?", (limit,) if now is None else (now, limit))]

    def expire_due(self, now: str) -> list[CommandRecord]:
        """Close every pending command whose expiry has passed (``expired``); returns them."""
        with self._db.transaction():
            due = [CommandRecord(*r) for r in self._db.query(
                f"SELECT {_COMMAND_COLS} FROM commands WHERE state = 'pending' AND "
                "expires_at IS NOT NULL AND expires_at <= ?", (now,))]
            for c in due:
                self._db.execute(
                    "UPDATE commands SET state = 'expired', closed_at = ?, reason = ? WHERE "
                    "command_id = ? AND state = 'pending'",
                    (now, "not answered by the box before it expired" if c.sent_at else
                     "not sent before it expired", c.command_id))
        return [self.get(c.command_id) for c in due]

    def cancel(self, command_id: str, by: str, at: str) -> CommandRecord:
        """Cancel a pending command (staff). One not sent yet is never sent; one the broker
        has already may still reach the box, which carries it out unless it expired (its
        answer is then recorded).

        Raises:
            NotFound: no such command.
            StaffError: it is not pending any more.
        """
        with self._db.transaction():
            current = self.get(command_id)
            if current.state != OPEN or not self._db.execute(
                    "UPDATE commands SET state = 'cancelled', cancelled_by = ?, closed_at = ? "
                    "WHERE command_id = ? AND state = 'pending'", (by, at, command_id)):
                raise StaffError(f"command {command_id} is {current.state}, not pending")
            return self.get(command_id)

    def mark_sent(self, command_id: str, at: str) -> None:
        self._db.execute("UPDATE commands SET sent_at = ? WHERE command_id = ? AND "
                         "sent_at IS NULL", (at, command_id))

    def record_ack(self, command_id: str, site_id: str, device_id: str, outcome: str,
                   reason: str | None, at: str) -> bool:
        """Close a command with the box's outcome; False when it is unknown, another box's,
        or already answered (a repeated acknowledgement).

        A late answer to a command the centre closed (expired, cancelled) is recorded too:
        its reason and time; ``done`` also becomes its state (the box did carry it out),
        ``failed`` leaves it expired or cancelled.
        """
        if outcome not in ("done", "failed"):
            raise StaffError(f"unknown command outcome {outcome!r}")
        return self._db.execute(
            "UPDATE commands SET state = CASE WHEN state = 'pending' OR ? = 'done' THEN ? "
            "ELSE state END, reason = ?, acked_at = ?, "
            "sent_at = COALESCE(sent_at, ?) WHERE command_id = ? AND site_id = ? AND "
            "device_id = ? AND acked_at IS NULL AND state IN ('pending', 'expired', 'cancelled')",
            (outcome, outcome, reason, at, at, command_id, site_id, device_id)) == 1

    def latest(self, actions: Iterable[str], targets: Iterable[str], *,
               site_id: str | None = None, device_id: str | None = None,
               ) -> dict[str, CommandRecord]:
        """The newest command of ``actions`` for each of ``targets`` (on one box when
        ``site_id`` and ``device_id`` are given: task ids are a box's own)."""
        acts, tgts = list(actions), list(targets)
        if not acts or not tgts:
            return {}
        where = [f"action IN ({', '.join('?' * len(acts))})",
                 f"target IN ({', '.join('?' * len(tgts))})"]
        params: list[Any] = [*acts, *tgts]
        for col, value in (("site_id", site_id), ("device_id", device_id)):
            if value is not None:
                where.append(f"{col} = ?")
                params.append(value)
        rows = self._db.query(f"SELECT {_COMMAND_COLS} FROM commands WHERE {' AND '.join(where)} "
                              "ORDER BY issued_at", params)
        return {r[4]: CommandRecord(*r) for r in rows}

    def list(self, *, site_id: str | None = None, actions: Iterable[str] | None = None,
             limit: int = 200) -> list[CommandRecord]:
        """Commands (of ``actions`` only, when given), newest first."""
        where: list[str] = ["1 = 1"]
        params: list[Any] = []
        if site_id:
            where.append("site_id = ?")
            params.append(site_id)
        if actions is not None:
            acts = list(actions) or [""]
            where.append(f"action IN ({', '.join('?' * len(acts))})")
            params += acts
        return [CommandRecord(*r) for r in self._db.query(
            f"SELECT {_COMMAND_COLS} FROM commands WHERE {' AND '.join(where)} "
            "ORDER BY issued_at DESC LIMIT ?", [*params, limit])]


@dataclass(frozen=True)
class SecurityTaskRecord:
    """A failed security task of a box, as its last report had it (``failing`` False: a
    later report no longer listed it: done, abandoned or superseded on the box)."""

    site_id: str
    device_id: str
    task_id: int
    item: str | None
    uid: str | None
    action: str
    state: str
    attempts: int
    last_error: str | None
    created_at: str
    updated_at: str
    reported_at: str
    failing: bool


_TASK_COLS = ("site_id, device_id, task_id, item, uid, action, state, attempts, last_error, "
              "created_at, updated_at, reported_at, failing")


def _task(r: tuple[Any, ...]) -> SecurityTaskRecord:
    values = list(r)
    values[12] = bool(values[12])
    return SecurityTaskRecord(*values)


class SecurityTaskRepository:
    """Each box's failed security tasks (from its retained report)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def replace(self, site_id: str, device_id: str, tasks: Iterable[Mapping[str, Any]],
                at: str) -> None:
        """Store a box's report: its listed tasks are failing, the others no longer are."""
        listed = list(tasks)
        with self._db.transaction():
            self._db.execute("UPDATE security_tasks SET failing = 0, reported_at = ? "
                             "WHERE site_id = ? AND device_id = ? AND failing = 1",
                             (at, site_id, device_id))
            for t in listed:
                self._db.execute(
                    f"INSERT INTO security_tasks ({_TASK_COLS}) VALUES "
                    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1) "
                    "ON CONFLICT (site_id, device_id, task_id) DO UPDATE SET item = excluded.item, "
                    "uid = excluded.uid, action = excluded.action, state = excluded.state, "
                    "attempts = excluded.attempts, last_error = excluded.last_error, "
                    "updated_at = excluded.updated_at, reported_at = excluded.reported_at, "
                    "failing = 1",
                    (site_id, device_id, t["task_id"], t.get("item"), t.get("uid"), t["action"],
                     t["state"], t["attempts"], t.get("last_error"), t["created_at"],
                     t["updated_at"], at))

    def get(self, site_id: str, device_id: str, task_id: int) -> SecurityTaskRecord:
        rows = self._db.query(f"SELECT {_TASK_COLS} FROM security_tasks WHERE site_id = ? AND "
                              "device_id = ? AND task_id = ?", (site_id, device_id, task_id))
        if not rows:
            raise NotFound(f"no security task {task_id} of {site_id}/{device_id}")
        return _task(rows[0])

    def list(self, *, site_id: str | None = None, failing_only: bool = True,
             limit: int = 1000) -> list[SecurityTaskRecord]:
        """Tasks by site, device and age."""
        where: list[str] = ["1 = 1"]
        params: list[Any] = []
        if site_id:
            where.append("site_id = ?")
            params.append(site_id)
        if failing_only:
            where.append("failing = 1")
        return [_task(r) for r in self._db.query(
            f"SELECT {_TASK_COLS} FROM security_tasks WHERE {' AND '.join(where)} "
            "ORDER BY site_id, device_id, task_id LIMIT ?", [*params, limit])]
