"""Request/response look-ups through the gateway (online patron verification, item info).

The edge writes a request (:meth:`LookupRepository.request`) and rings the agent; the
agent claims it (:meth:`LookupRepository.claim`), sends it with an MQTT 5 response topic
and correlation data, and writes the gateway's answer (:meth:`LookupRepository.answer`),
which rings the edge. Look-ups are not durable transactions: after a crash an
unanswered look-up is simply expired, and the edge falls back to its offline policy.

Secrets: a patron look-up carries its PIN only as ``pin_sealed``: sealed by the caller
(:class:`~edge.services.sessions.SessionService`) to the site gateways' public key
before it reaches this module, which refuses a clear ``pin`` or ``password``
(:class:`~edge.store.errors.ClearSecret`). Only a gateway can open the blob; it is still
wiped as soon as the agent claims the row (or the edge abandons it), and :meth:`purge`
deletes old rows. The store runs with ``PRAGMA secure_delete=ON`` (the old row's bytes
are zeroed in the database file), and :meth:`scrub` (called by the agent after sending,
and by :meth:`abandon`) checkpoints the WAL and truncates it, so not even the sealed blob
stays on disk once sent.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from edge.store.connection import dumps, loads, utcnow
from edge.store.errors import ClearSecret, UnknownLookup

if TYPE_CHECKING:
    from edge.store.connection import Connection

SECRET_KEYS = ("pin_sealed",)
"""Request keys wiped from a row once it is claimed or abandoned."""
CLEAR_SECRET_KEYS = ("pin", "password")
"""Request keys this repository refuses to store."""


@dataclass(frozen=True, slots=True)
class LookupRecord:
    """One look-up: ``state`` is ``pending``, ``sent``, ``answered`` or ``failed``."""

    id: str
    kind: str
    request: dict[str, Any]
    state: str
    response: dict[str, Any] | None
    created_at: str
    answered_at: str | None


def _lookup(row: Any, request: dict[str, Any] | None = None) -> LookupRecord:
    return LookupRecord(id=row["id"], kind=row["kind"],
                        request=request if request is not None else (loads(row["request"]) or {}),
                        state=row["state"], response=loads(row["response"]),
                        created_at=row["created_at"], answered_at=row["answered_at"])


class LookupRepository:
    """Look-up requests and their answers. Thread-safe."""

    def __init__(self, store: Connection) -> None:
        self._store = store

    def request(self, kind: str, request: Mapping[str, Any]) -> LookupRecord:
        """Write a new look-up (``patron`` or ``item``) and ring the agent.

        Raises:
            ClearSecret: ``request`` holds a ``pin`` or ``password`` in clear.
        """
        clear = [k for k in CLEAR_SECRET_KEYS if request.get(k) is not None]
        if clear:
            raise ClearSecret(f"a look-up may not be stored with {', '.join(clear)} in clear; "
                              "seal it (pin_sealed)")
        lookup_id = str(uuid.uuid4())
        with self._store.transaction() as conn:
            conn.execute("INSERT INTO lookups (id, kind, request, created_at) VALUES (?, ?, ?, ?)",
                         (lookup_id, kind, dumps(dict(request)), utcnow()))
            row = conn.execute("SELECT * FROM lookups WHERE id = ?", (lookup_id,)).fetchone()
        self._store.ring("agent")
        return _lookup(row)

    def claim(self, limit: int = 50) -> list[LookupRecord]:
        """Take pending look-ups for sending (→ ``sent``); secrets are wiped from the rows.

        Returns:
            The claimed look-ups *with* their secrets (the only copy from now on).
        """
        # The agent asks on every pass: only a read when there is nothing to claim, so an idle
        # agent never takes the write lock the edge's writers wait for.
        if self._store.query_one("SELECT 1 FROM lookups WHERE state = 'pending' LIMIT 1") is None:
            return []
        out = []
        with self._store.transaction() as conn:
            rows = conn.execute("SELECT * FROM lookups WHERE state = 'pending' ORDER BY "
                                "created_at LIMIT ?", (limit,)).fetchall()
            for row in rows:
                request = loads(row["request"]) or {}
                stored = {k: v for k, v in request.items() if k not in SECRET_KEYS}
                conn.execute("UPDATE lookups SET state = 'sent', request = ? WHERE id = ?",
                             (dumps(stored), row["id"]))
                out.append(_lookup(row, request))
        return out

    def scrub(self) -> bool:
        """Copy the WAL into the database and truncate it (after a secret was wiped).

        Returns:
            True when the WAL is empty now; False when a reader kept the checkpoint from
            finishing (the caller may try again later).
        """
        with self._store.lock:
            row = self._store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        return bool(row) and row[0] == 0

    def answer(self, lookup_id: str, response: Mapping[str, Any], *, ok: bool = True,
               ring: bool = True) -> None:
        """Store the gateway's answer (``ok=False`` → ``failed``) and ring the edge.

        ``ring=False`` inside an outer ``store.transaction()``: ring once after its commit.

        Raises:
            UnknownLookup: no such id (for example purged after a long outage).
        """
        with self._store.transaction() as conn:
            cur = conn.execute(
                "UPDATE lookups SET state = ?, response = ?, answered_at = ?, request = "
                "json_remove(request, '$.pin_sealed') WHERE id = ? AND state IN "
                "('pending','sent')",
                ("answered" if ok else "failed", dumps(dict(response)), utcnow(), lookup_id))
            if cur.rowcount == 0 and conn.execute("SELECT 1 FROM lookups WHERE id = ?",
                                                  (lookup_id,)).fetchone() is None:
                raise UnknownLookup(f"no look-up with id {lookup_id}")
        if ring:
            self._store.ring("edge")

    def get(self, lookup_id: str) -> LookupRecord:
        """The look-up ``lookup_id``.

        Raises:
            UnknownLookup: no such id.
        """
        row = self._store.query_one("SELECT * FROM lookups WHERE id = ?", (lookup_id,))
        if row is None:
            raise UnknownLookup(f"no look-up with id {lookup_id}")
        return _lookup(row)

    def wait(self, lookup_id: str, timeout: float) -> LookupRecord | None:
        """Wait up to ``timeout`` seconds for an answer; ``None`` on timeout."""
        bell = self._store.doorbell("edge")
        deadline = time.monotonic() + timeout
        while True:
            rec = self.get(lookup_id)
            if rec.state in ("answered", "failed"):
                return rec
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            bell.wait(min(remaining, 0.05))

    def redact(self, lookup_id: str, *fields: str) -> None:
        """Remove ``fields`` from a look-up's stored answer once the edge has read them (the
        patron's e-mail address lives in the session only, never in this table)."""
        for name in fields:
            if not name.isidentifier():
                raise ValueError(f"not a field name: {name!r}")
        if not fields:
            return
        paths = ", ".join(f"'$.{name}'" for name in fields)
        with self._store.transaction() as conn:
            conn.execute(f"UPDATE lookups SET response = json_remove(response, {paths}) "  # the names are checked above
                         "WHERE id = ? AND response IS NOT NULL", (lookup_id,))

    def abandon(self, lookup_id: str) -> None:
        """Give up on a look-up (the edge timed out): wipe its secrets, mark it failed."""
        with self._store.transaction() as conn:
            cur = conn.execute(
                "UPDATE lookups SET state = 'failed', request = json_remove(request, "
                "'$.pin_sealed') WHERE id = ? AND state IN ('pending','sent')",
                (lookup_id,))
            # An answer that came just after the edge gave up keeps no e-mail address.
            conn.execute("UPDATE lookups SET response = json_remove(response, '$.email') "
                         "WHERE id = ? AND response IS NOT NULL", (lookup_id,))
        if cur.rowcount:
            self.scrub()

    def request_snapshot(self) -> None:
        """Ask the sync agent to request a fresh cache snapshot from the gateways.

        Sets ``meta cache.rebuild_requested_at`` (the key ``smartlib db rebuild-cache``
        writes) and rings the agent; the agent publishes a snapshot request and records
        ``sync.snapshot_requested_at``.
        """
        with self._store.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES "
                         "('cache.rebuild_requested_at', ?)", (utcnow(),))
        self._store.ring("agent")

    def purge(self, older_than_s: float = 3600.0) -> int:
        """Delete look-ups older than ``older_than_s`` (and wipe secrets of all unanswered)."""
        cutoff = time.time() - older_than_s
        stamp = datetime.fromtimestamp(cutoff, UTC).isoformat(timespec="milliseconds")
        stamp = stamp.replace("+00:00", "Z")
        with self._store.transaction() as conn:
            cur = conn.execute("DELETE FROM lookups WHERE created_at < ?", (stamp,))
            conn.execute("UPDATE lookups SET request = json_remove(request, '$.pin_sealed') "
                         "WHERE state IN ('answered', 'failed') AND "
                         "json_extract(request, '$.pin_sealed') IS NOT NULL")
            n = cur.rowcount
        self.scrub()
        return n
