"""Commands from the central console, journaled once per id, and their outcomes.

The agent stores a command when it arrives (:meth:`CommandRepository.receive`, in the
receiver's transaction, before the message is acknowledged). What the store alone can do
is done in that same transaction (the repositories' transactions join it):
``abandon_security`` (``SecurityTaskRepository.abandon``) and ``resolve_conflict``
(``ConflictRepository.resolve``). ``retry_security`` needs the
reader, so it stays ``pending`` until the edge's security service runs it
(:meth:`pending`, then :meth:`finish`). A command that arrives after its expiry (the box
was away longer than the console waits, which has closed it as expired) is journaled
``failed`` and not carried out. A finished command (``done`` or ``failed`` with a
reason) is acknowledged to the centre by the agent (:meth:`unacked`, :meth:`mark_acked`).

A command never carries patron data; this module runs no MQTT and never writes a tag.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from edge.store.connection import utcnow
from edge.store.errors import StoreError

if TYPE_CHECKING:
    from edge.store.connection import Connection
    from edge.store.ops import SecurityTaskRepository
    from edge.store.outbox import ConflictRepository

CommandAction = Literal["retry_security", "abandon_security", "resolve_conflict"]
ACTIONS: tuple[str, ...] = ("retry_security", "abandon_security", "resolve_conflict")
FINISHED = ("done", "failed")


@dataclass(frozen=True, slots=True)
class CommandRecord:
    """A command of the central console and what became of it on this box."""

    command_id: str
    action: str
    target: str
    resolution: str | None
    issued_by: str
    state: str
    """``pending``, ``done`` or ``failed``."""
    outcome: str | None
    """Why it failed (or a note on what was done)."""
    received_at: str
    finished_at: str | None
    acked_at: str | None


def _command(row: Any) -> CommandRecord:
    return CommandRecord(row["command_id"], row["action"], row["target"], row["resolution"],
                         row["issued_by"], row["state"], row["outcome"], row["received_at"],
                         row["finished_at"], row["acked_at"])


class CommandRepository:
    """The ``commands`` table."""

    def __init__(self, store: Connection, security: SecurityTaskRepository,
                 conflicts: ConflictRepository) -> None:
        self._store = store
        self._security = security
        self._conflicts = conflicts

    def get(self, command_id: str) -> CommandRecord | None:
        row = self._store.query_one("SELECT * FROM commands WHERE command_id = ?", (command_id,))
        return _command(row) if row else None

    def receive(self, command_id: str, action: str, target: str, *, issued_by: str = "",
                resolution: str | None = None, expires_at: datetime | None = None,
                now: datetime | None = None) -> tuple[CommandRecord, bool]:
        """Journal a command (once per id) and do what the store alone can do.

        A command received at or after ``expires_at`` is journaled ``failed`` ("expired …")
        and nothing is done: the console has given up on it.

        Returns:
            The command, and True if it was new (False: a re-delivery, nothing done again).

        Raises:
            StoreError: an unknown action.
        """
        if action not in ACTIONS:
            raise StoreError(f"unknown command action {action!r}; expected one of {ACTIONS}")
        with self._store.transaction() as conn:
            cur = conn.execute(
                "INSERT OR IGNORE INTO commands (command_id, action, target, resolution, "
                "issued_by, received_at) VALUES (?, ?, ?, ?, ?, ?)",
                (command_id, action, target, resolution, issued_by, utcnow()))
            if cur.rowcount != 1:
                known = self.get(command_id)
                assert known is not None
                return known, False
            received = now or datetime.now(UTC)
            if expires_at is not None and received >= expires_at:
                self._finish(conn, command_id, "failed",
                             f"expired at {expires_at.astimezone(UTC).isoformat()}: received "
                             "too late, not carried out")
            elif action == "abandon_security":
                self._abandon(conn, command_id, target, issued_by)
            elif action == "resolve_conflict":
                self._resolve(conn, command_id, target)
        found = self.get(command_id)
        assert found is not None
        return found, True

    def _abandon(self, conn: Any, command_id: str, target: str, issued_by: str) -> None:
        try:
            task = self._security.get(int(target)) if target.isdigit() else None
        except StoreError:
            task = None
        if task is None:
            self._finish(conn, command_id, "failed", f"no security task {target}")
        elif task.state not in ("pending", "alarm_on"):
            self._finish(conn, command_id, "failed", f"security task {target} is {task.state}")
        else:
            self._security.abandon(task.id, f"abandoned by {issued_by or 'central staff'}"[:500])
            self._finish(conn, command_id, "done", None)

    def _resolve(self, conn: Any, command_id: str, key: str) -> None:
        conflict = self._conflicts.by_key(key)
        if conflict is None:
            # The box never heard of it (the gateway reported it alone): nothing to resolve.
            self._finish(conn, command_id, "done", "no local conflict")
        elif self._conflicts.resolve(conflict.id):
            self._finish(conn, command_id, "done", None)
        else:
            self._finish(conn, command_id, "done", "already resolved")

    @staticmethod
    def _finish(conn: Any, command_id: str, state: str, outcome: str | None) -> None:
        conn.execute("UPDATE commands SET state = ?, outcome = ?, finished_at = ? "
                     "WHERE command_id = ? AND state = 'pending'",
                     (state, outcome[:500] if outcome else None, utcnow(), command_id))

    def pending(self, action: str) -> list[CommandRecord]:
        """Commands of ``action`` the edge has still to carry out, oldest first."""
        return [_command(r) for r in self._store.query(
            "SELECT * FROM commands WHERE action = ? AND state = 'pending' ORDER BY rowid",
            (action,))]

    def finish(self, command_id: str, state: Literal["done", "failed"],
               outcome: str | None = None) -> None:
        """Record what the edge did (only a pending command changes)."""
        if state not in FINISHED:
            raise StoreError(f"a command finishes done or failed, not {state!r}")
        with self._store.transaction() as conn:
            self._finish(conn, command_id, state, outcome)
        self._store.ring("agent")

    def unacked(self, limit: int = 100) -> list[CommandRecord]:
        """Finished commands whose outcome the centre has not been sent yet."""
        return [_command(r) for r in self._store.query(
            "SELECT * FROM commands WHERE state IN ('done','failed') AND acked_at IS NULL "
            "ORDER BY finished_at, rowid LIMIT ?", (limit,))]

    def resend_ack(self, command_id: str) -> None:
        """The centre sent a command again: its outcome is to be acknowledged again."""
        with self._store.transaction() as conn:
            conn.execute("UPDATE commands SET acked_at = NULL WHERE command_id = ?", (command_id,))

    def mark_acked(self, command_id: str) -> None:
        """The outcome reached the broker."""
        with self._store.transaction() as conn:
            conn.execute("UPDATE commands SET acked_at = ? WHERE command_id = ?",
                         (utcnow(), command_id))
