"""The remote configurations a box received from the central console, and what became of
each (table ``remote_config``, schema version 4).

The sync agent writes each received configuration here (:meth:`RemoteConfigRepository.receive`,
in its receive transaction) and rings the edge; the edge's applier validates and applies
it and records the outcome (:meth:`~RemoteConfigRepository.decide`: ``applied`` with the keys
that need a restart, or ``failed`` with the reason); the agent then publishes that outcome
as the acknowledgement (:meth:`~RemoteConfigRepository.acks_to_send`,
:meth:`~RemoteConfigRepository.ack_sent`). Versions only move forward: a copy of an older
version (a replayed retained message) is ignored. This module knows no MQTT and no settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from edge.store.connection import dumps, loads, utcnow
from edge.store.errors import InvalidState

if TYPE_CHECKING:
    import sqlite3

    from edge.store.connection import Connection

STATES = ("received", "applied", "failed")


@dataclass(frozen=True, slots=True)
class RemoteConfig:
    """One received configuration version and its outcome on this box."""

    version: int
    sha256: str
    document: str
    by: str | None
    received_at: str
    state: str
    needs_restart: tuple[str, ...]
    reason: str | None
    decided_at: str | None
    ack_sent_at: str | None


def _record(r: sqlite3.Row) -> RemoteConfig:
    return RemoteConfig(r["version"], r["sha256"], r["document"], r["by"], r["received_at"],
                        r["state"], tuple(loads(r["needs_restart"]) or ()), r["reason"],
                        r["decided_at"], r["ack_sent_at"])


class RemoteConfigRepository:
    """Received configurations, their outcome and their acknowledgement."""

    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def receive(self, version: int, sha256: str, document: str, by: str | None = None) -> bool:
        """Keep a received configuration for the edge to apply; returns False for a copy
        already known (same version and hash) or an older version than the newest known."""
        with self._c.transaction() as conn:
            newest = conn.execute("SELECT version, sha256 FROM remote_config "
                                  "ORDER BY version DESC LIMIT 1").fetchone()
            if newest is not None and (version < newest[0] or
                                       (version == newest[0] and sha256 == newest[1])):
                return False
            conn.execute(
                "INSERT INTO remote_config (version, sha256, document, by, received_at, state) "
                "VALUES (?, ?, ?, ?, ?, 'received') ON CONFLICT (version) DO UPDATE SET "
                "sha256 = excluded.sha256, document = excluded.document, by = excluded.by, "
                "received_at = excluded.received_at, state = 'received', needs_restart = '[]', "
                "reason = NULL, decided_at = NULL, ack_sent_at = NULL",
                (version, sha256, document, by, utcnow()))
        return True

    def pending(self) -> RemoteConfig | None:
        """The newest configuration not yet applied or refused (older ones it supersedes
        are never applied: :meth:`decide` marks them)."""
        r = self._c.query_one("SELECT * FROM remote_config WHERE state = 'received' "
                              "ORDER BY version DESC LIMIT 1")
        return _record(r) if r else None

    def decide(self, version: int, state: str, *, needs_restart: list[str] | None = None,
               reason: str | None = None) -> None:
        """Record the outcome of ``version`` (``applied`` or ``failed``); older versions still
        waiting are marked ``failed`` as superseded."""
        if state not in ("applied", "failed"):
            raise InvalidState(f"a configuration outcome is applied or failed, not {state!r}")
        now = utcnow()
        with self._c.transaction() as conn:
            done = conn.execute(
                "UPDATE remote_config SET state = ?, needs_restart = ?, reason = ?, "
                "decided_at = ?, ack_sent_at = NULL WHERE version = ? AND state = 'received'",
                (state, dumps(needs_restart or []), reason, now, version)).rowcount
            if not done:
                raise InvalidState(f"configuration version {version} is not waiting")
            conn.execute("UPDATE remote_config SET state = 'failed', decided_at = ?, "
                         "reason = 'superseded by version ' || ? "
                         "WHERE version < ? AND state = 'received'", (now, version, version))

    def applied(self) -> RemoteConfig | None:
        """The configuration in force (the newest applied)."""
        r = self._c.query_one("SELECT * FROM remote_config WHERE state = 'applied' "
                              "ORDER BY version DESC LIMIT 1")
        return _record(r) if r else None

    def get(self, version: int) -> RemoteConfig | None:
        r = self._c.query_one("SELECT * FROM remote_config WHERE version = ?", (version,))
        return _record(r) if r else None

    def acks_to_send(self) -> list[RemoteConfig]:
        """Decided configurations whose acknowledgement is not published yet (oldest first)."""
        return [_record(r) for r in self._c.query(
            "SELECT * FROM remote_config WHERE state != 'received' AND ack_sent_at IS NULL "
            "ORDER BY version")]

    def ack_sent(self, version: int) -> None:
        with self._c.transaction() as conn:
            conn.execute("UPDATE remote_config SET ack_sent_at = ? WHERE version = ?",
                         (utcnow(), version))

    def resend_last_ack(self) -> None:
        """Publish the newest outcome again (after a reconnect: the ack topic is retained,
        so a copy lost with the connection is replaced)."""
        with self._c.transaction() as conn:
            conn.execute("UPDATE remote_config SET ack_sent_at = NULL WHERE version = "
                         "(SELECT MAX(version) FROM remote_config WHERE state != 'received')")
