"""The gateway's idempotency ledger: one row per transaction key, SQLite or PostgreSQL.

A row goes ``in_progress`` (an *intent*, committed before the SIP2 call) → ``done`` (the
result, committed after it). The intent carries a *lease* (owner + ``lease_until``) so that
several gateways and restarts agree on who may touch the ILS for a key:

* :meth:`Ledger.claim` inserts the intent atomically (``INSERT … ON CONFLICT DO NOTHING``).
  Exactly one caller gets ``new``; others get ``done`` (replay the stored result),
  ``busy`` (a live lease elsewhere: do nothing now) or ``recover`` (the lease expired:
  the caller took it over, and must ask the ILS whether the first attempt took effect
  before calling again).
* :meth:`Ledger.complete` stores the result, only while the caller still owns the lease.

The exactly-once argument is in ``docs/sync.md``. This module talks to the database only;
it never calls the ILS or MQTT.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple, Protocol

import pydantic_core

from sync.errors import LedgerError

log = logging.getLogger(__name__)

ClaimOutcome = Literal["new", "done", "busy", "recover", "wait"]

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS ledger (
        key         TEXT PRIMARY KEY,
        site        TEXT NOT NULL,
        device      TEXT NOT NULL,
        kind        TEXT NOT NULL,
        item        TEXT,
        patron      TEXT,
        created_at  TEXT NOT NULL,
        state       TEXT NOT NULL CHECK (state IN ('in_progress', 'done')),
        owner       TEXT,
        lease_until DOUBLE PRECISION,
        attempts    INTEGER NOT NULL DEFAULT 1,
        request     TEXT NOT NULL,
        pre_state   TEXT,
        result      TEXT,
        status      TEXT,
        started_at  DOUBLE PRECISION NOT NULL,
        applied_at  DOUBLE PRECISION
    )""",
    "CREATE INDEX IF NOT EXISTS ledger_open ON ledger (lease_until) WHERE state = 'in_progress'",
    "CREATE INDEX IF NOT EXISTS ledger_item ON ledger (site, item) WHERE state = 'in_progress'",
    # A restarted gateway's own transactions completed since its deltas were last all sent.
    "CREATE INDEX IF NOT EXISTS ledger_applied ON ledger (owner, applied_at) WHERE state = 'done'",
    """CREATE TABLE IF NOT EXISTS conflicts (
        key         TEXT PRIMARY KEY,
        site        TEXT NOT NULL,
        device      TEXT NOT NULL,
        kind        TEXT NOT NULL,
        item        TEXT,
        patron      TEXT,
        created_at  TEXT NOT NULL,
        reason      TEXT NOT NULL,
        detail      TEXT NOT NULL,
        detected_at DOUBLE PRECISION NOT NULL,
        resolved_at DOUBLE PRECISION
    )""",
    "CREATE TABLE IF NOT EXISTS ledger_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    # Staff views: what the devices published (alarms, hourly counters, device events).
    """CREATE TABLE IF NOT EXISTS staff_alarms (
        site TEXT NOT NULL, device TEXT NOT NULL, alarm_id BIGINT NOT NULL,
        kind TEXT NOT NULL, source TEXT, item TEXT, uid TEXT, title TEXT, direction TEXT,
        message TEXT, detail TEXT NOT NULL, at TEXT NOT NULL, acked_at TEXT,
        received_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (site, device, alarm_id)
    )""",
    """CREATE TABLE IF NOT EXISTS staff_stats (
        site TEXT NOT NULL, device TEXT NOT NULL, period_start TEXT NOT NULL,
        period_s INTEGER NOT NULL, counters TEXT NOT NULL, received_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (site, device, period_start)
    )""",
    """CREATE TABLE IF NOT EXISTS staff_events (
        site TEXT NOT NULL, device TEXT NOT NULL, event_id BIGINT NOT NULL, source TEXT NOT NULL,
        kind TEXT NOT NULL, detail TEXT NOT NULL, at TEXT NOT NULL,
        received_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (site, device, event_id)
    )""",
    # Messages that can never be processed (acknowledged, kept aside): what and why, never
    # the payload itself (it may hold a PIN; it may be megabytes): its size and SHA-256.
    """CREATE TABLE IF NOT EXISTS dead_letters (
        id TEXT PRIMARY KEY, topic TEXT NOT NULL, site TEXT, device TEXT,
        reason TEXT NOT NULL, size INTEGER NOT NULL, sha256 TEXT NOT NULL,
        received_at DOUBLE PRECISION NOT NULL
    )""",
    # The last imported snapshot of each (site, kind), for edges that ask for one later.
    """CREATE TABLE IF NOT EXISTS snapshot_chunks (
        site TEXT NOT NULL, kind TEXT NOT NULL, seq INTEGER NOT NULL, snapshot_id TEXT NOT NULL,
        total INTEGER NOT NULL, payload TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (site, kind, seq)
    )""",
]
SCHEMA_VERSION = "2"

_CHUNK = 400
"""Rows per multi-row statement (13 parameters each: far below SQLite's 32,766)."""


def _json(value: Any) -> str:
    """JSON text of a ledger column (pydantic-core's encoder, a few times cheaper than
    ``json.dumps``; anything it cannot encode is written as ``str``)."""
    return pydantic_core.to_json(value, fallback=str).decode()


class LedgerRow(NamedTuple):
    """A ledger row (decoded). A named tuple: a batch builds hundreds of them."""

    key: str
    site: str
    device: str
    kind: str
    item: str | None
    patron: str | None
    created_at: str
    state: str
    owner: str | None
    lease_until: float | None
    attempts: int
    request: dict[str, Any]
    pre_state: dict[str, Any] | None
    result: dict[str, Any] | None
    status: str | None


class Claim(NamedTuple):
    """The outcome of :meth:`Ledger.claim`; ``row`` is the row after the claim."""

    outcome: ClaimOutcome
    row: LedgerRow


@dataclass(frozen=True)
class ConflictRow:
    key: str
    site: str
    device: str
    kind: str
    item: str | None
    patron: str | None
    created_at: str
    reason: str
    detail: dict[str, Any]
    detected_at: float
    resolved_at: float | None


_COLS = ("key, site, device, kind, item, patron, created_at, state, owner, lease_until, "
         "attempts, request, pre_state, result, status")


def _row(r: Any) -> LedgerRow:
    return LedgerRow(
        key=r[0], site=r[1], device=r[2], kind=r[3], item=r[4], patron=r[5], created_at=r[6],
        state=r[7], owner=r[8], lease_until=r[9], attempts=r[10], request=json.loads(r[11]),
        pre_state=json.loads(r[12]) if r[12] else None,
        result=json.loads(r[13]) if r[13] else None, status=r[14])


def _pseudo_row(req: dict[str, Any]) -> LedgerRow:
    """A row for a request that has no ledger row (``wait``)."""
    return LedgerRow(key=req["key"], site=req["site"], device=req["device"], kind=req["kind"],
                     item=req.get("item"), patron=req.get("patron"),
                     created_at=str(req["created_at"]), state="absent", owner=None,
                     lease_until=None, attempts=0, request=req, pre_state=None, result=None,
                     status=None)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A received message that can never be processed (acknowledged and kept aside)."""

    id: str
    topic: str
    site: str | None
    device: str | None
    reason: str
    size: int
    sha256: str
    received_at: float


class _Backend(Protocol):
    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> tuple[int, list[tuple[Any, ...]]]: ...

    def executemany(self, sql: str, rows: list[tuple[Any, ...]]) -> int: ...

    @contextmanager
    def transaction(self, durable: bool = True) -> Iterator[None]: ...

    def close(self) -> None: ...


class _NestedTransactions:
    """The transaction context manager both backends share: nested blocks join the outer
    one, which commits (or rolls back on any exception) at its end."""

    conn: Any
    lock: threading.RLock
    _depth: int

    def _begin(self, durable: bool) -> None:
        raise NotImplementedError

    @contextmanager
    def transaction(self, durable: bool = True) -> Iterator[None]:
        with self.lock:
            outer = self._depth == 0
            if outer:
                self._begin(durable)
            self._depth += 1
            try:
                yield
            except BaseException:
                self._depth -= 1
                if outer:
                    self.conn.execute("ROLLBACK")
                raise
            self._depth -= 1
            if outer:
                self.conn.execute("COMMIT")

    def close(self) -> None:
        with self.lock:
            self.conn.close()


class _SqliteBackend(_NestedTransactions):
    """One connection, serialised by a lock; WAL, ``synchronous=FULL`` (power-loss safe)."""

    def __init__(self, path: str) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                                        timeout=30)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=FULL")
            self.conn.execute("PRAGMA busy_timeout=30000")
        except sqlite3.Error as exc:
            raise LedgerError(f"cannot open the SQLite ledger {path}: {exc}") from exc
        self.lock = threading.RLock()
        self._depth = 0

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> tuple[int, list[tuple[Any, ...]]]:
        with self.lock:
            cur = self.conn.execute(sql, params)
            rows = cur.fetchall()
            return cur.rowcount, rows

    def executemany(self, sql: str, rows: list[tuple[Any, ...]]) -> int:
        """Run ``sql`` once per row; returns the rows changed in all (-1: unknown)."""
        with self.lock:
            return self.conn.executemany(sql, rows).rowcount

    def _begin(self, durable: bool) -> None:
        # FULL syncs the WAL at this commit (and every earlier NORMAL one with it).
        self.conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        self.conn.execute("BEGIN IMMEDIATE")


class _PostgresBackend(_NestedTransactions):
    """One psycopg connection, serialised by a lock; statements use ``?`` rewritten to ``%s``."""

    def __init__(self, dsn: str) -> None:
        try:
            import psycopg
        except ImportError as exc:
            raise LedgerError("a PostgreSQL ledger needs psycopg: pip install 'smartlib-edge[postgres]'") from exc
        try:
            self.conn = psycopg.connect(dsn, autocommit=True)
        except psycopg.Error as exc:
            raise LedgerError(f"cannot connect to the PostgreSQL ledger: {exc}") from exc
        self.lock = threading.RLock()
        self._depth = 0

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> tuple[int, list[tuple[Any, ...]]]:
        with self.lock:
            cur = self.conn.execute(sql.replace("?", "%s"), params)  # type: ignore[arg-type]
            rows = cur.fetchall() if cur.description else []
            return cur.rowcount, [tuple(r) for r in rows]

    def executemany(self, sql: str, rows: list[tuple[Any, ...]]) -> int:
        """Run ``sql`` once per row; returns the rows changed in all (-1: unknown)."""
        with self.lock:
            cur = self.conn.cursor()
            cur.executemany(sql.replace("?", "%s"), rows)  # type: ignore[arg-type]
            return int(cur.rowcount)

    def _begin(self, durable: bool) -> None:
        self.conn.execute("BEGIN")
        if not durable:
            self.conn.execute("SET LOCAL synchronous_commit TO off")


class Ledger:
    """The idempotency ledger. Thread-safe. Open it with :func:`open_ledger`.

    Args:
        backend: the database connection wrapper.
        owner: this gateway's id (recorded on the leases it takes).
        lease_s: how long an intent is protected; must exceed the longest SIP2 call
            (timeout + one resend) plus the ILS's processing time.
    """

    def __init__(self, backend: _Backend, owner: str, lease_s: float = 60.0) -> None:
        self._db = backend
        self.owner = owner
        self.lease_s = lease_s
        try:
            with self._db.transaction():
                for stmt in SCHEMA:
                    self._db.execute(stmt)
                self._db.execute(
                    "INSERT INTO ledger_meta (name, value) VALUES ('schema', ?) "
                    "ON CONFLICT (name) DO NOTHING", (SCHEMA_VERSION,))
        except Exception as exc:
            raise LedgerError(f"cannot create the ledger schema: {exc}") from exc

    def close(self) -> None:
        self._db.close()

    # ---- process starts ---------------------------------------------------------------------

    def count_start(self, gateway_id: str) -> int:
        """Count one more start of gateway ``gateway_id`` (``ledger_meta``, durable, per
        gateway: several may share a ledger); returns its starts so far, this one included.
        Reported in its status: the central console's restart count is the starts beyond
        the first."""
        name = f"starts:{gateway_id}"
        with self._db.transaction(durable=True):
            _, rows = self._db.execute("SELECT value FROM ledger_meta WHERE name = ?", (name,))
            starts = (int(rows[0][0]) if rows else 0) + 1
            self._db.execute("INSERT INTO ledger_meta (name, value) VALUES (?, ?) "
                             "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                             (name, str(starts)))
        return starts

    # ---- the delta window's mark ------------------------------------------------------------

    def deltas_sent_before(self, gateway_id: str) -> float | None:
        """The time (this gateway's clock) before which every cache change of the
        transactions ``gateway_id`` completed had been published, as last recorded; None
        when never recorded (:meth:`record_deltas_sent`)."""
        _, rows = self._db.execute("SELECT value FROM ledger_meta WHERE name = ?",
                                   (f"deltas_sent:{gateway_id}",))
        return float(rows[0][0]) if rows else None

    def record_deltas_sent(self, gateway_id: str, before: float) -> None:
        """Record :meth:`deltas_sent_before` (not fsynced: a mark a little behind only makes
        a restart send some deltas again)."""
        with self._db.transaction(durable=False):
            self._db.execute("INSERT INTO ledger_meta (name, value) VALUES (?, ?) "
                             "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                             (f"deltas_sent:{gateway_id}", repr(before)))

    def completed_since(self, since: float, *, limit: int = 20_000) -> list[LedgerRow]:
        """This gateway's (``owner``) transactions completed at or after ``since``, oldest
        first, at most ``limit``: the cache changes a restarted gateway sends again."""
        _, rows = self._db.execute(
            f"SELECT {_COLS} FROM ledger WHERE state = 'done' AND owner = ? AND applied_at >= ? "
            "ORDER BY applied_at LIMIT ?", (self.owner, since, limit))
        return [_row(r) for r in rows]

    # ---- the transaction path -----------------------------------------------------------

    def claim(self, request: dict[str, Any], *, now: float | None = None) -> Claim:
        """Record the intent to apply ``request`` (a TransactionRequest as JSON data).

        Returns:
            ``new``: the intent is committed and owned by us: call the ILS.
            ``done``: already applied: re-send ``row.result``.
            ``busy``: another owner's lease is live: do not call the ILS.
            ``recover``: we took over an expired lease: verify with the ILS first.
        """
        now = time.time() if now is None else now
        key = request["key"]
        with self._db.transaction(durable=True):
            n, _ = self._db.execute(
                "INSERT INTO ledger (key, site, device, kind, item, patron, created_at, state, "
                "owner, lease_until, attempts, request, started_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, 'in_progress', ?, ?, 1, ?, ?) "
                "ON CONFLICT (key) DO NOTHING",
                (key, request["site"], request["device"], request["kind"], request.get("item"),
                 request.get("patron"), str(request["created_at"]), self.owner,
                 now + self.lease_s, _json(request), now))
            if n == 1:
                return Claim("new", self._must_get(key))
            return self._claim_existing(key, now)

    def set_pre_state(self, key: str, pre_state: dict[str, Any]) -> None:
        """Remember what the ILS said before the call (for a later verification)."""
        self._db.execute("UPDATE ledger SET pre_state = ? WHERE key = ? AND state = 'in_progress'",
                         (_json(pre_state), key))

    def complete(self, key: str, result: dict[str, Any], status: str,
                 conflict: dict[str, Any] | None = None, *, now: float | None = None) -> bool:
        """Store the result (and a conflict) in one transaction, if we still hold the lease.

        Returns:
            False when the lease was lost (another gateway took over): the caller must not
            publish its result; the new owner will.
        """
        now = time.time() if now is None else now
        # Not fsynced on its own: losing it on power loss only means a later verification
        # with the ILS; the next durable intent commit syncs it anyway.
        with self._db.transaction(durable=False):
            n, _ = self._db.execute(
                "UPDATE ledger SET state = 'done', result = ?, status = ?, applied_at = ?, "
                "lease_until = NULL WHERE key = ? AND state = 'in_progress' AND owner = ?",
                (_json(result), status, now, key, self.owner))
            if n == 1 and conflict is not None:
                self._insert_conflict(key, conflict, now)
        if n != 1:
            log.error("ledger: lease on %s lost before its result was stored", key)
        return n == 1

    def _insert_conflict(self, key: str, conflict: dict[str, Any], now: float) -> None:
        self._db.execute(
            "INSERT INTO conflicts (key, site, device, kind, item, patron, created_at, "
            "reason, detail, detected_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (key) DO NOTHING",
            (key, conflict["site"], conflict["device"], conflict["kind"],
             conflict.get("item"), conflict.get("patron"), str(conflict["created_at"]),
             conflict["reason"], _json(conflict), now))

    def fail(self, key: str, result: dict[str, Any], *, now: float | None = None) -> bool:
        """Close an unfinished row that can never be applied (an invalid stored request):
        ``done`` with status ``error`` and ``result``, whoever holds its lease."""
        now = time.time() if now is None else now
        with self._db.transaction(durable=False):
            n, _ = self._db.execute(
                "UPDATE ledger SET state = 'done', result = ?, status = 'error', applied_at = ?, "
                "lease_until = NULL WHERE key = ? AND state = 'in_progress'",
                (_json(result), now, key))
        return n == 1

    def release(self, key: str, *, now: float | None = None, delay_s: float = 0.0,
                not_sent: bool = False) -> None:
        """Give our lease up early: recoverable ``delay_s`` from now.

        ``not_sent``: this attempt's request never left, and the ILS had not applied the
        key before it (a ``new`` claim, or a recovery that verified so): the recorded
        pre-state is dropped, so the next attempt knows the ILS never saw the key.
        """
        now = time.time() if now is None else now
        self._db.execute(
            "UPDATE ledger SET lease_until = ?" + (", pre_state = NULL" if not_sent else "")
            + " WHERE key = ? AND state = 'in_progress' AND owner = ?",
            (now + delay_s, key, self.owner))

    def extend_leases(self, keys: list[str], *, now: float | None = None) -> tuple[float, set[str]]:
        """Extend our leases on ``keys`` to ``now + lease_s`` (the heartbeat of the intents
        this gateway is working on), in one fsynced commit.

        Returns:
            The new ``lease_until`` and the keys whose lease is still ours (unfinished,
            owned by us); any other key's lease was lost (taken over) or is finished.
        """
        now = time.time() if now is None else now
        until = now + self.lease_s
        kept: set[str] = set()
        with self._db.transaction(durable=True):
            for lo in range(0, len(keys), _CHUNK):
                part = keys[lo:lo + _CHUNK]
                _, rows = self._db.execute(
                    f"UPDATE ledger SET lease_until = ? WHERE key IN ({', '.join('?' * len(part))}) "
                    "AND state = 'in_progress' AND owner = ? RETURNING key",
                    (until, *part, self.owner))
                kept.update(r[0] for r in rows)
        return until, kept

    # ---- the batched transaction path (the gateway service) ---------------------------------

    def claim_many(self, requests: list[dict[str, Any]], *, now: float | None = None) -> list[Claim]:
        """:meth:`claim` for a batch, in ONE durable (fsynced) commit.

        Before its intent is written, each request is checked against the ledger for an
        unfinished transaction on the same item journaled earlier (another key): such a
        request gets ``wait`` and no intent (try it again later).

        Returns:
            One claim per request, in order.
        """
        now = time.time() if now is None else now
        items = [(r["site"], r["item"]) for r in requests if r.get("item")]
        if len(items) != len(set(items)):
            return self._claim_each(requests, now)  # same item twice: in order, one by one
        out: list[Claim | None] = [None] * len(requests)
        with self._db.transaction(durable=True):
            # 1. The per-item order check of the whole batch in one statement per chunk.
            waiting: set[int] = set()
            for lo in range(0, len(requests), _CHUNK):
                part = [(i, r) for i, r in enumerate(requests[lo:lo + _CHUNK], lo) if r.get("item")]
                if not part:
                    continue
                values = ", ".join("(?, ?, ?, ?, ?)" for _ in part)
                params = tuple(x for i, r in part for x in (
                    i, r["site"], r["item"], r["key"], str(r["created_at"])))
                _, rows = self._db.execute(
                    f"WITH b (i, site, item, key, created_at) AS (VALUES {values}) "
                    "SELECT DISTINCT b.i FROM b JOIN ledger l ON l.state = 'in_progress' "
                    "AND l.site = b.site AND l.item = b.item AND l.key <> b.key "
                    "AND l.created_at < b.created_at", params)
                waiting.update(int(r[0]) for r in rows)
            # 2. Every other intent in one multi-row insert per chunk.
            todo = [i for i in range(len(requests)) if i not in waiting]
            inserted: set[str] = set()
            for lo in range(0, len(todo), _CHUNK):
                part_i = todo[lo:lo + _CHUNK]
                values = ", ".join("(?, ?, ?, ?, ?, ?, ?, 'in_progress', ?, ?, 1, ?, ?)"
                                   for _ in part_i)
                params = tuple(x for i in part_i for x in (
                    requests[i]["key"], requests[i]["site"], requests[i]["device"],
                    requests[i]["kind"], requests[i].get("item"), requests[i].get("patron"),
                    str(requests[i]["created_at"]), self.owner, now + self.lease_s,
                    _json(requests[i]), now))
                _, rows = self._db.execute(
                    "INSERT INTO ledger (key, site, device, kind, item, patron, created_at, "
                    "state, owner, lease_until, attempts, request, started_at) "
                    f"VALUES {values} ON CONFLICT (key) DO NOTHING RETURNING key", params)
                inserted.update(r[0] for r in rows)
            for i, req in enumerate(requests):
                key = req["key"]
                if i in waiting:
                    out[i] = Claim("wait", _pseudo_row(req))
                elif key in inserted:
                    inserted.discard(key)  # the same key again later in the batch: not new
                    out[i] = self._new_claim(req, now)
                else:
                    out[i] = self._claim_existing(key, now)
        return [c for c in out if c is not None]

    def _new_claim(self, req: dict[str, Any], now: float) -> Claim:
        """The ``new`` claim of an intent this call just inserted (no read back)."""
        return Claim("new", LedgerRow(
            key=req["key"], site=req["site"], device=req["device"], kind=req["kind"],
            item=req.get("item"), patron=req.get("patron"), created_at=str(req["created_at"]),
            state="in_progress", owner=self.owner, lease_until=now + self.lease_s, attempts=1,
            request=req, pre_state=None, result=None, status=None))

    def _claim_existing(self, key: str, now: float) -> Claim:
        """The claim of a key whose row exists already (inside the caller's transaction)."""
        row = self._must_get(key)
        if row.state == "done":
            return Claim("done", row)
        if row.lease_until is not None and row.lease_until > now:
            return Claim("busy", row)
        n, _ = self._db.execute(
            "UPDATE ledger SET owner = ?, lease_until = ?, attempts = attempts + 1 "
            "WHERE key = ? AND state = 'in_progress' AND lease_until IS ?"
            if row.lease_until is None else
            "UPDATE ledger SET owner = ?, lease_until = ?, attempts = attempts + 1 "
            "WHERE key = ? AND state = 'in_progress' AND lease_until = ?",
            (self.owner, now + self.lease_s, key, row.lease_until))
        fresh = self._must_get(key)
        if n == 1:
            return Claim("recover", fresh)
        return Claim("done" if fresh.state == "done" else "busy", fresh)

    def _claim_each(self, requests: list[dict[str, Any]], now: float) -> list[Claim]:
        """:meth:`claim_many` one request after the other (a batch with an item twice)."""
        out: list[Claim] = []
        with self._db.transaction(durable=True):
            for req in requests:
                key = req["key"]
                created = str(req["created_at"])
                if req.get("item"):
                    _, before = self._db.execute(
                        "SELECT 1 FROM ledger WHERE state = 'in_progress' AND site = ? AND item = ? "
                        "AND key <> ? AND created_at < ? LIMIT 1",
                        (req["site"], req["item"], key, created))
                    if before:
                        out.append(Claim("wait", _pseudo_row(req)))
                        continue
                text = _json(req)
                n, _ = self._db.execute(
                    "INSERT INTO ledger (key, site, device, kind, item, patron, created_at, state, "
                    "owner, lease_until, attempts, request, started_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, 'in_progress', ?, ?, 1, ?, ?) "
                    "ON CONFLICT (key) DO NOTHING",
                    (key, req["site"], req["device"], req["kind"], req.get("item"),
                     req.get("patron"), created, self.owner, now + self.lease_s, text, now))
                if n == 1:
                    out.append(self._new_claim(req, now))
                    continue
                out.append(self._claim_existing(key, now))
        return out

    def set_pre_state_durable(self, key: str, pre_state: dict[str, Any]) -> None:
        """:meth:`set_pre_state`, fsynced: it must survive a crash after the SIP2 call."""
        with self._db.transaction(durable=True):
            self.set_pre_state(key, pre_state)

    def complete_many(self, done: list[tuple[str, dict[str, Any], str, dict[str, Any] | None]], *,
                      now: float | None = None) -> list[bool]:
        """:meth:`complete` for a batch of ``(key, result, status, conflict)``, one commit.

        Not fsynced on its own (see :meth:`complete`). One statement for all results; the
        rows it changed are looked up only when some lease was lost.
        """
        now = time.time() if now is None else now
        if len({k for k, *_ in done}) != len(done):  # a key twice: one by one, in order
            with self._db.transaction(durable=False):
                return [self.complete(key, result, status, conflict, now=now)
                        for key, result, status, conflict in done]
        with self._db.transaction(durable=False):
            n = self._db.executemany(
                "UPDATE ledger SET state = 'done', result = ?, status = ?, applied_at = ?, "
                "lease_until = NULL WHERE key = ? AND state = 'in_progress' AND owner = ?",
                [(_json(result), status, now, key, self.owner)
                 for key, result, status, _ in done])
            if n == len(done):
                out = [True] * len(done)
            else:
                # Some lease was lost (another gateway took over): ours are the rows this
                # statement closed (its ``applied_at``; the owner stays on a done row).
                ours: set[str] = set()
                keys = [k for k, *_ in done]
                for lo in range(0, len(keys), _CHUNK):
                    part = keys[lo:lo + _CHUNK]
                    _, rows = self._db.execute(
                        f"SELECT key FROM ledger WHERE key IN ({', '.join('?' * len(part))}) "
                        "AND state = 'done' AND owner = ? AND applied_at = ?",
                        (*part, self.owner, now))
                    ours.update(r[0] for r in rows)
                out = [k in ours for k in keys]
            for (key, _, _, conflict), ok in zip(done, out, strict=True):
                if not ok:
                    log.error("ledger: lease on %s lost before its result was stored", key)
                elif conflict is not None:
                    self._insert_conflict(key, conflict, now)
        return out

    def release_many(self, keys: list[str], *, now: float | None = None, delay_s: float = 0.0,
                     not_sent: bool = False) -> None:
        """:meth:`release` for several keys in one commit."""
        with self._db.transaction(durable=False):
            for key in keys:
                self.release(key, now=now, delay_s=delay_s, not_sent=not_sent)

    # ---- staff views: alarms, statistics, device events --------------------------------------

    def store_ops(self, alarms: list[dict[str, Any]] = (),  # type: ignore[assignment]
                  stats: list[dict[str, Any]] = (),  # type: ignore[assignment]
                  events: list[dict[str, Any]] = (),  # type: ignore[assignment]
                  *, now: float | None = None) -> None:
        """Store what devices published (idempotent: a re-sent row replaces itself)."""
        now = time.time() if now is None else now
        with self._db.transaction(durable=False):
            for a in alarms:
                self._db.execute(
                    "INSERT INTO staff_alarms (site, device, alarm_id, kind, source, item, uid, "
                    "title, direction, message, detail, at, acked_at, received_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT "
                    "(site, device, alarm_id) DO UPDATE SET acked_at = excluded.acked_at",
                    (a["site"], a["device"], a["alarm_id"], a["kind"], a.get("source"),
                     a.get("item"), a.get("uid"), a.get("title"), a.get("direction"),
                     a.get("message"), _json(a.get("detail") or {}),
                     str(a["at"]), a.get("acked_at"), now))
            for st in stats:
                self._db.execute(
                    "INSERT INTO staff_stats (site, device, period_start, period_s, counters, "
                    "received_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (site, device, "
                    "period_start) DO UPDATE SET counters = excluded.counters, "
                    "received_at = excluded.received_at",
                    (st["site"], st["device"], str(st["period_start"]), st.get("period_s", 3600),
                     json.dumps(st.get("counters") or {}, sort_keys=True), now))
            for e in events:
                self._db.execute(
                    "INSERT INTO staff_events (site, device, event_id, source, kind, detail, at, "
                    "received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT "
                    "(site, device, event_id) DO NOTHING",
                    (e["site"], e["device"], e["event_id"], e["source"], e["kind"],
                     _json(e.get("detail") or {}), str(e["at"]), now))

    def staff_alarms(self, site: str) -> list[dict[str, Any]]:
        """Stored alarms of a site, oldest first."""
        _, rows = self._db.execute(
            "SELECT device, alarm_id, kind, source, item, uid, title, direction, message, detail, "
            "at, acked_at FROM staff_alarms WHERE site = ? ORDER BY at, device, alarm_id", (site,))
        names = ("device", "alarm_id", "kind", "source", "item", "uid", "title", "direction",
                 "message", "detail", "at", "acked_at")
        return [{**dict(zip(names, r, strict=True)), "detail": json.loads(r[9])} for r in rows]

    def staff_stats(self, site: str) -> list[dict[str, Any]]:
        """Stored hourly counters of a site: ``{device, period_start, counters}``."""
        _, rows = self._db.execute(
            "SELECT device, period_start, counters FROM staff_stats WHERE site = ? "
            "ORDER BY period_start, device", (site,))
        return [{"device": r[0], "period_start": r[1], "counters": json.loads(r[2])} for r in rows]

    def staff_events(self, site: str) -> list[dict[str, Any]]:
        """Stored device events of a site, oldest first."""
        _, rows = self._db.execute(
            "SELECT device, event_id, source, kind, detail, at FROM staff_events WHERE site = ? "
            "ORDER BY at, device, event_id", (site,))
        return [{"device": r[0], "event_id": r[1], "source": r[2], "kind": r[3],
                 "detail": json.loads(r[4]), "at": r[5]} for r in rows]

    # ---- dead letters ---------------------------------------------------------------------

    def add_dead_letter(self, topic: str, reason: str, *, size: int, sha256: str,
                        site: str | None = None, device: str | None = None,
                        now: float | None = None) -> DeadLetter:
        """Keep aside a message that can never be processed (its payload is not stored)."""
        letter = DeadLetter(str(uuid.uuid4()), topic[:512], site, device, reason[:1000], size,
                            sha256, time.time() if now is None else now)
        with self._db.transaction():
            self._db.execute(
                "INSERT INTO dead_letters (id, topic, site, device, reason, size, sha256, "
                "received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (letter.id, letter.topic, site, device, letter.reason, size, sha256,
                 letter.received_at))
        return letter

    def dead_letters(self, site: str | None = None, *, limit: int = 200) -> list[DeadLetter]:
        """Dead letters, newest first (of one site, or all)."""
        where, params = ("WHERE site = ? ", (site,)) if site is not None else ("", ())
        _, rows = self._db.execute(
            "SELECT id, topic, site, device, reason, size, sha256, received_at FROM dead_letters "
            f"{where}ORDER BY received_at DESC LIMIT ?", (*params, limit))
        return [DeadLetter(*r) for r in rows]

    # ---- snapshots of the cache feed ----------------------------------------------------------

    def store_snapshot(self, site: str, kind: str, chunks: list[tuple[str, int, int, str]], *,
                       now: float | None = None) -> None:
        """Replace the stored snapshot of ``(site, kind)`` by ``(snapshot_id, seq, total, json)`` chunks."""
        now = time.time() if now is None else now
        with self._db.transaction(durable=False):
            self._db.execute("DELETE FROM snapshot_chunks WHERE site = ? AND kind = ?", (site, kind))
            for sid, seq, total, payload in chunks:
                self._db.execute(
                    "INSERT INTO snapshot_chunks (site, kind, seq, snapshot_id, total, payload, "
                    "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)", (site, kind, seq, sid, total, payload, now))

    def snapshot(self, site: str, kind: str) -> list[str]:
        """The JSON chunks of the last stored snapshot of ``(site, kind)``, in order."""
        _, rows = self._db.execute(
            "SELECT payload FROM snapshot_chunks WHERE site = ? AND kind = ? ORDER BY seq",
            (site, kind))
        return [r[0] for r in rows]

    # ---- queries ------------------------------------------------------------------------

    def _must_get(self, key: str) -> LedgerRow:
        row = self.get(key)
        if row is None:
            raise LedgerError(f"ledger row {key} vanished")
        return row

    def get(self, key: str) -> LedgerRow | None:
        _, rows = self._db.execute(f"SELECT {_COLS} FROM ledger WHERE key = ?", (key,))
        return _row(rows[0]) if rows else None

    def expired(self, *, now: float | None = None, limit: int = 100) -> list[LedgerRow]:
        """Intents whose lease ran out (crashed or failed attempts), oldest first."""
        now = time.time() if now is None else now
        _, rows = self._db.execute(
            f"SELECT {_COLS} FROM ledger WHERE state = 'in_progress' AND lease_until <= ? "
            "ORDER BY started_at LIMIT ?", (now, limit))
        return [_row(r) for r in rows]

    def open_before(self, site: str, item: str, created_at: str, key: str) -> list[str]:
        """Keys of unfinished transactions on the same item journaled before this one."""
        _, rows = self._db.execute(
            "SELECT key FROM ledger WHERE state = 'in_progress' AND site = ? AND item = ? "
            "AND key <> ? AND created_at < ?", (site, item, key, created_at))
        return [r[0] for r in rows]

    def counts(self) -> dict[str, int]:
        """Rows per state (and ``conflicts``)."""
        _, rows = self._db.execute("SELECT state, COUNT(*) FROM ledger GROUP BY state")
        out = {r[0]: int(r[1]) for r in rows}
        _, c = self._db.execute("SELECT COUNT(*) FROM conflicts")
        out["conflicts"] = int(c[0][0])
        return out

    def conflicts(self, site: str | None = None, *, unresolved_only: bool = True) -> list[ConflictRow]:
        """Stored conflicts, oldest first."""
        sql = ("SELECT key, site, device, kind, item, patron, created_at, reason, detail, "
               "detected_at, resolved_at FROM conflicts WHERE 1 = 1")
        params: tuple[Any, ...] = ()
        if site is not None:
            sql += " AND site = ?"
            params = (site,)
        if unresolved_only:
            sql += " AND resolved_at IS NULL"
        _, rows = self._db.execute(sql + " ORDER BY detected_at", params)
        return [ConflictRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], json.loads(r[8]),
                            r[9], r[10]) for r in rows]


def open_ledger(url: str, owner: str, lease_s: float = 60.0) -> Ledger:
    """Open the ledger named by ``url``.

    Args:
        url: ``sqlite:///relative/path.db``, ``sqlite:////abs/path.db``, a bare path, or a
            PostgreSQL DSN (``postgresql://user@host/db``).
        owner: this gateway's id.
        lease_s: see :class:`Ledger`.

    Raises:
        LedgerError: the database cannot be opened or prepared.
    """
    backend: _Backend
    if url.startswith(("postgresql://", "postgres://")):
        backend = _PostgresBackend(url)
    else:
        path = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else url
        backend = _SqliteBackend(path)
    return Ledger(backend, owner, lease_s)
