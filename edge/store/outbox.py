"""The transaction journal (``outbox``) and the conflicts it produces.

Every circulation transaction is appended here, in one SQLite transaction, *before* it is
attempted. The sync agent reads sendable entries, publishes them, and records the
gateway's result; the edge waits for that result and then finishes its own steps
(security writes, cache) and marks the entry handled.

States of an entry::

    pending ──mark_sent──► sent ──record_result──► applied | refused | conflict | failed
       └──────────────record_result──────────────────┘

* ``pending``: journaled, not yet published (or published before a crash that lost the
  fact); ``sent``: published, no result yet. Both are *open*; an open entry may be sent
  again at any time (the gateway's ledger makes duplicates harmless).
* ``applied``: the ILS accepted it; ``refused``: the ILS refused it online;
  ``conflict``: it was accepted offline by the edge and the ILS refused it later
  (``record_result(..., "refused")`` on an offline entry becomes ``conflict`` and adds a
  row to ``conflicts``); ``failed``: the gateway could not process it for good.
* A terminal state is final: a second result for the same key (a redelivery) is ignored.

``handled_at`` is the edge's own mark that it finished the steps after the result; the
agent never touches it.

Ordering: :meth:`OutboxRepository.next_sendable` returns at most one open entry per item
(the earliest), so a later transaction for the same item is sent only after the earlier
one has a result. A return can never overtake the checkout before it.

Result dictionaries are free-form JSON written by the agent; the edge reads these keys
when present: ``ok`` (bool), ``code`` (``ils_refused`` from the agent on any refusal),
``reason_code`` (a patron code such as ``patron_blocked``, once the gateway sends one),
``message`` / ``screen_message`` (the ILS text), ``title``, ``due_date`` (ISO 8601),
``desensitize`` / ``resensitize`` (``"Y"``/``"N"``/``"U"``), ``sort`` (``{"kind",
"destination", "bin"}``), ``fine`` (``{"amount", "currency"}``), ``items`` (renew-all: the
renewed item ids, strings) with ``renewed`` / ``unrenewed`` (counts). It is
``sync.agent.service.result_dict`` of a ``sync.messages.TransactionResult``.

One patron action, one transaction: a checkout, check-in or renewal journaled with
``once=True`` carries its session in ``payload["session"]`` (``None``: an anonymous
return). Inside the journaling transaction :meth:`OutboxRepository.append` looks for the
same action already journaled (``_repeat_query``): the same kind, item and session, not a
compensating check-in, and with no later check-out or check-in of the item (any session;
a renewal ends at either; not one refused or withdrawn) that may have changed the loan.
When there is one, that entry is returned and nothing is journaled: a repeat (a double
press, concurrent calls, a retry after a timeout, a restart) shares the first one's key
and result, a withdrawn one's (``failed``/``cancelled``, refused offline) included.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from edge.store.connection import dumps, loads, stamp, utcnow
from edge.store.errors import InvalidState, UnknownTransaction
from edge.store.schema import OUTBOX_STATES

if TYPE_CHECKING:
    from edge.store.connection import Connection as Store  # typed as the connection

OutboxState = Literal["pending", "sent", "applied", "refused", "conflict", "failed"]
OPEN_STATES: frozenset[str] = frozenset({"pending", "sent"})
TERMINAL_STATES: frozenset[str] = frozenset({"applied", "refused", "conflict", "failed"})

_ENDED_BY: dict[str, tuple[str, ...]] = {
    "checkout": ("checkin",), "checkin": ("checkout",), "renew": ("checkout", "checkin"),
    "renew_all": ()}
"""For each kind journaled once per action: the later kinds (of the same item, any session)
after which the same action is a new one, not a repeat. A renew-all has no item: it is
once per session."""

ONCE_KINDS: frozenset[str] = frozenset(_ENDED_BY)
"""The kinds :meth:`OutboxRepository.append` journals once per (session, item, kind)."""

TRANSACTION_KINDS = ("checkout", "checkin", "renew", "renew_all", "hold", "fee_paid",
                     "block_patron")
"""Known kinds; others are accepted (the gateway refuses what it does not know)."""

_COLUMNS = ("seq, key, kind, item_id, patron_ref, payload, state, attempts, created_at, "
            "sent_at, applied_at, offline, result, handled_at")


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One journaled transaction (a snapshot of its row)."""

    key: str
    seq: int
    kind: str
    item_id: str | None
    patron_ref: str | None
    payload: dict[str, Any]
    state: str
    attempts: int
    created_at: str
    sent_at: str | None
    applied_at: str | None
    offline: bool
    result: dict[str, Any] | None
    handled_at: str | None

    @property
    def is_open(self) -> bool:
        """True while no result is recorded (``pending`` or ``sent``)."""
        return self.state in OPEN_STATES

    @property
    def is_terminal(self) -> bool:
        """True once a result is recorded."""
        return self.state in TERMINAL_STATES


@dataclass(frozen=True, slots=True)
class Backlog:
    """Counts of journal entries per state, and the oldest open entry's time."""

    by_state: dict[str, int]
    oldest_open_at: str | None
    unhandled: int

    @property
    def open(self) -> int:
        """Entries without a result."""
        return self.by_state.get("pending", 0) + self.by_state.get("sent", 0)


@dataclass(frozen=True, slots=True)
class ConflictRecord:
    """An offline-accepted transaction that the ILS refused later (for staff)."""

    id: int
    key: str
    kind: str
    item_id: str | None
    patron_ref: str | None
    reason: str
    detail: dict[str, Any]
    created_at: str
    resolved_at: str | None


def _not_withdrawn(alias: str) -> str:
    """SQL: the entry ``alias`` may have reached the ILS (it was not cancelled unsent)."""
    return (f"NOT ({alias}.state = 'failed' AND "
            f"COALESCE(json_extract({alias}.result, '$.code'), '') = 'cancelled')")


def _repeat_query(kind: str, item_id: str | None,
                  session_ref: str | None) -> tuple[str, tuple[Any, ...]]:
    """SQL and parameters selecting the action ``(session_ref, item_id, kind)`` already
    journaled (see the module docstring for the rule)."""
    ended_by = _ENDED_BY.get(kind, ())
    sql = (f"SELECT {_COLUMNS} FROM outbox o WHERE o.item_id IS ? AND o.kind = ? "
           "AND json_extract(o.payload, '$.session') IS ? "
           "AND json_extract(o.payload, '$.compensates') IS NULL")
    params: list[Any] = [item_id, kind, session_ref]
    if ended_by:
        sql += (" AND NOT EXISTS (SELECT 1 FROM outbox b WHERE b.item_id = o.item_id "
                f"AND b.seq > o.seq AND b.kind IN ({','.join('?' * len(ended_by))}) "
                f"AND {_not_withdrawn('b')} AND b.state <> 'refused')")
        params.extend(ended_by)
    return sql + " ORDER BY o.seq DESC LIMIT 1", tuple(params)


def _entry(row: Any) -> OutboxEntry:
    return OutboxEntry(
        key=row["key"], seq=row["seq"], kind=row["kind"], item_id=row["item_id"],
        patron_ref=row["patron_ref"], payload=loads(row["payload"]) or {},
        state=row["state"], attempts=row["attempts"], created_at=row["created_at"],
        sent_at=row["sent_at"], applied_at=row["applied_at"], offline=bool(row["offline"]),
        result=loads(row["result"]), handled_at=row["handled_at"])


class OutboxRepository:
    """The journal's operations. Every method is one short transaction; thread-safe."""

    def __init__(self, store: Store) -> None:
        self._store = store

    # ---- the edge's side ----------------------------------------------------------------

    def append(self, kind: str, payload: Mapping[str, Any], *, item_id: str | None,
               patron_ref: str | None, offline: bool = False, key: str | None = None,
               ring: bool = True, once: bool = False) -> OutboxEntry:
        """Journal a new transaction in state ``pending`` and ring the agent.

        Args:
            kind: ``checkout``, ``checkin``, ``renew``, ``renew_all``, ...
            payload: the transaction's data (JSON-serialisable; never a PIN).
            item_id: the item, for per-item ordering (``None`` for patron-level kinds).
            patron_ref: the patron identifier (as the ILS knows it).
            offline: accepted by the edge's offline policy already.
            key: the idempotency key; a new UUID4 when omitted.
            ring: ring the agent's bell after the commit.
            once: one transaction per patron action: when the same action (the session in
                ``payload["session"]``, ``item_id``, ``kind``, see the module docstring) is
                already journaled, return that entry and journal nothing.

        Returns:
            The new entry. Appending an existing ``key`` returns the existing entry
            unchanged (appends are idempotent by key); with ``once``, a repeat returns the
            first entry of the action (its key differs from ``key``).

        Raises:
            InvalidState: ``once`` for a kind outside :data:`ONCE_KINDS`.
        """
        key = key or str(uuid.uuid4())
        if once and kind not in ONCE_KINDS:
            raise InvalidState(f"once-per-action journaling is for {sorted(ONCE_KINDS)}, "
                               f"not {kind!r}")
        with self._store.transaction() as conn:
            if once:
                first = conn.execute(*_repeat_query(kind, item_id, payload.get("session")))
                row = first.fetchone()
                if row is not None:
                    return _entry(row)
            conn.execute(
                "INSERT OR IGNORE INTO outbox (key, kind, item_id, patron_ref, payload, "
                "state, created_at, offline) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)",
                (key, kind, item_id, patron_ref, dumps(dict(payload)), utcnow(), int(offline)))
            row = conn.execute(f"SELECT {_COLUMNS} FROM outbox WHERE key = ?", (key,)).fetchone()
        if ring:
            self._store.ring("agent")
        return _entry(row)

    def mark_offline(self, key: str, payload_update: Mapping[str, Any] | None = None) -> OutboxEntry:
        """Flag an open entry as accepted offline, merging ``payload_update`` into its payload.

        Returns:
            The entry after the change. If a result arrived first, the entry is returned
            unchanged in its terminal state: the caller must use that result instead.

        Raises:
            UnknownTransaction: no such key.
        """
        with self._store.transaction() as conn:
            row = conn.execute(f"SELECT {_COLUMNS} FROM outbox WHERE key = ?", (key,)).fetchone()
            if row is None:
                raise UnknownTransaction(f"no outbox entry with key {key}")
            if row["state"] in OPEN_STATES:
                payload = {**(loads(row["payload"]) or {}), **dict(payload_update or {})}
                conn.execute("UPDATE outbox SET offline = 1, payload = ? WHERE key = ?",
                             (dumps(payload), key))
                row = conn.execute(f"SELECT {_COLUMNS} FROM outbox WHERE key = ?",
                                   (key,)).fetchone()
        self._store.ring("agent")
        return _entry(row)

    def find_action(self, kind: str, item_id: str | None,
                    session_ref: str | None) -> OutboxEntry | None:
        """The entry of the action ``(session_ref, item_id, kind)`` if it is already
        journaled (see the module docstring); a read outside the journaling transaction."""
        row = self._store.query_one(*_repeat_query(kind, item_id, session_ref))
        return None if row is None else _entry(row)

    def claim(self, key: str) -> bool:
        """Mark the entry handled unless it already is; True when this call marked it.

        Call it first inside the transaction that does the edge's steps after a result:
        when it returns False another thread (a live request or the recovery pass) has
        done them, and the caller must do nothing.
        """
        with self._store.transaction() as conn:
            cur = conn.execute("UPDATE outbox SET handled_at = ? WHERE key = ? AND "
                               "handled_at IS NULL", (utcnow(), key))
            return cur.rowcount == 1

    def ended_after(self, entry: OutboxEntry) -> bool:
        """True when a check-in (or, for a check-in, a checkout) of ``entry``'s item was
        journaled after it and may have reached the ILS: the loan it made has ended."""
        ended_by = _ENDED_BY.get(entry.kind, ())
        if not ended_by or entry.item_id is None:
            return False
        row = self._store.query_one(
            "SELECT 1 FROM outbox b WHERE b.item_id = ? AND b.seq > ? AND "
            f"b.kind IN ({','.join('?' * len(ended_by))}) AND {_not_withdrawn('b')} "
            "AND b.state <> 'refused'",
            (entry.item_id, entry.seq, *ended_by))
        return row is not None

    def journaled_since(self, item_id: str, since: str, *, exclude_key: str | None = None) -> bool:
        """True when a transaction of ``item_id`` was journaled after ``since`` (an ISO
        timestamp of the store's format), other than ``exclude_key``: the item's state has
        moved on since then."""
        row = self._store.query_one(
            "SELECT 1 FROM outbox WHERE item_id = ? AND created_at > ? AND key <> ? LIMIT 1",
            (item_id, since, exclude_key or ""))
        return row is not None

    def mark_handled(self, key: str) -> None:
        """Record that the edge finished its steps after this entry's result."""
        with self._store.transaction() as conn:
            conn.execute("UPDATE outbox SET handled_at = ? WHERE key = ? AND handled_at IS NULL",
                         (utcnow(), key))

    def unhandled(self, *, terminal_only: bool = False, limit: int = 1000) -> list[OutboxEntry]:
        """Entries the edge has not finished (after a crash: everything to resume)."""
        extra = " AND state NOT IN ('pending','sent')" if terminal_only else ""
        rows = self._store.query(
            f"SELECT {_COLUMNS} FROM outbox WHERE handled_at IS NULL{extra} ORDER BY seq LIMIT ?",
            (limit,))
        return [_entry(r) for r in rows]

    def wait_for_result(self, key: str, timeout: float) -> OutboxEntry | None:
        """Wait up to ``timeout`` seconds for a terminal result on ``key``.

        Wakes on the ``"edge"`` doorbell (rung by :meth:`record_result`), and re-reads
        the row at least every 50 ms as a backstop.

        Returns:
            The terminal entry, or ``None`` when no result arrived in time.
        """
        bell = self._store.doorbell("edge")
        deadline = time.monotonic() + timeout
        while True:
            entry = self.get(key)
            if entry.is_terminal:
                return entry
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            bell.wait(min(remaining, 0.05))

    def cancel(self, key: str, reason: str) -> tuple[OutboxEntry, bool]:
        """Withdraw a journaled transaction the edge decided not to make after all.

        A ``pending`` entry (never published) becomes ``failed`` with result
        ``{"code": "cancelled", "reason": ...}``. An entry already ``sent`` cannot be
        recalled: the caller must journal a compensating transaction after it.

        Returns:
            The entry, and True when it was withdrawn before it could be sent.
        """
        with self._store.transaction() as conn:
            row = conn.execute(f"SELECT {_COLUMNS} FROM outbox WHERE key = ?", (key,)).fetchone()
            if row is None:
                raise UnknownTransaction(f"no outbox entry with key {key}")
            withdrawn = False
            if row["state"] == "pending":
                conn.execute("UPDATE outbox SET state = 'failed', result = ?, applied_at = ?, "
                             "handled_at = ? WHERE key = ?",
                             (dumps({"code": "cancelled", "reason": reason}), utcnow(), utcnow(),
                              key))
                withdrawn = True
                row = conn.execute(f"SELECT {_COLUMNS} FROM outbox WHERE key = ?",
                                   (key,)).fetchone()
        return _entry(row), withdrawn

    # ---- the agent's side ---------------------------------------------------------------

    def next_sendable(self, limit: int = 100, *, include_sent: bool = True,
                      after_seq: int = 0) -> list[OutboxEntry]:
        """Open entries to publish, in journal order, at most one per item.

        An entry is returned only if no earlier entry for the same item is still open,
        so per-item order holds whatever the agent does with the batch.

        Args:
            limit: the most entries to return.
            include_sent: also return ``sent`` entries (after a restart, to resend them);
                a running agent that tracks its own in-flight set passes ``False``.
            after_seq: only entries journaled after this one (a scan that goes on where
                the previous page ended).
        """
        # ``state IN ('pending','sent')`` repeated literally so SQLite can use the partial
        # index ``outbox_open`` (it never reads the closed rows, however long the journal).
        extra = "" if include_sent else " AND o.state = 'pending'"
        rows = self._store.query(
            f"SELECT {_COLUMNS} FROM outbox o WHERE o.state IN ('pending','sent'){extra} "
            "AND o.seq > ? AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.item_id = o.item_id"
            " AND p.seq < o.seq AND p.state IN ('pending','sent')) ORDER BY o.seq LIMIT ?",
            (after_seq, limit))
        return [_entry(r) for r in rows]

    def mark_sent(self, *keys: str) -> list[str]:
        """Record that entries are being published (``pending``/``sent`` → ``sent``, attempts + 1).

        Call it *before* handing the messages to the MQTT client, and publish only the keys
        it returns: an entry still ``pending`` has then never left the box, which is what
        :meth:`cancel` relies on, and an entry cancelled (or answered) in the meantime is
        not returned, so it is never published. One transaction for all keys.

        Returns:
            The keys now ``sent`` (still open), in the order given.
        """
        if not keys:
            return []
        now = utcnow()
        marked: set[str] = set()
        with self._store.transaction() as conn:
            for i in range(0, len(keys), 500):
                part = keys[i:i + 500]
                rows = conn.execute(
                    "UPDATE outbox SET state = 'sent', attempts = attempts + 1, sent_at = ? "
                    f"WHERE key IN ({','.join('?' * len(part))}) AND state IN ('pending','sent') "
                    "RETURNING key", (now, *part)).fetchall()
                marked.update(r[0] for r in rows)
        return [k for k in keys if k in marked]

    def record_result(self, key: str, result: Mapping[str, Any], state: str, *,
                      ring: bool = True) -> OutboxEntry:
        """Record the gateway's result for ``key`` and ring the edge.

        Args:
            key: the idempotency key.
            result: the result as JSON-serialisable data.
            state: ``applied``, ``refused``, ``conflict`` or ``failed``. ``refused`` on an
                entry accepted offline is stored as ``conflict`` with a ``conflicts`` row.
            ring: ring the edge after the commit; pass False inside an outer
                ``store.transaction()`` (a batch) and ring once after it commits.

        Returns:
            The entry after the change; if it already had a result, the stored one
            (a redelivered result changes nothing).

        Raises:
            InvalidState: ``state`` is not a terminal state.
            UnknownTransaction: no entry has this key.
        """
        if self.record_results([(key, result, state)]):
            raise UnknownTransaction(f"no outbox entry with key {key}")
        if ring:
            self._store.ring("edge")
        return self.get(key)

    def record_results(self, results: Iterable[tuple[str, Mapping[str, Any], str]]) -> list[str]:
        """:meth:`record_result` for a batch of ``(key, result, state)``, in one transaction,
        without reading the entries back (the agent's receive path). Does not ring.

        Returns:
            The keys that have no entry (each would raise :class:`UnknownTransaction` in
            :meth:`record_result`); the others are recorded, or ignored when they already
            had a result.

        Raises:
            InvalidState: a ``state`` is not a terminal state (nothing is recorded).
        """
        rows = [(key, dumps(dict(result)), state) for key, result, state in results]
        for _, _, state in rows:
            if state not in TERMINAL_STATES:
                raise InvalidState(f"result state must be one of {sorted(TERMINAL_STATES)}, "
                                   f"got {state!r}")
        now = utcnow()
        unknown: list[str] = []
        with self._store.transaction() as conn:
            for key, text, state in rows:
                # ``refused`` on an entry accepted offline becomes ``conflict``.
                row = conn.execute(
                    "UPDATE outbox SET state = CASE WHEN ? = 'refused' AND offline THEN "
                    "'conflict' ELSE ? END, result = ?, applied_at = ? "
                    "WHERE key = ? AND state IN ('pending','sent') "
                    "RETURNING state, kind, item_id, patron_ref",
                    (state, state, text, now, key)).fetchone()
                if row is None:
                    if conn.execute("SELECT 1 FROM outbox WHERE key = ?", (key,)).fetchone() is None:
                        unknown.append(key)
                    continue
                if row[0] == "conflict":
                    result = loads(text) or {}
                    reason = str(result.get("message") or result.get("screen_message")
                                 or result.get("code") or "refused by the ILS")
                    conn.execute(
                        "INSERT OR IGNORE INTO conflicts (key, kind, item_id, patron_ref, "
                        "reason, detail, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (key, row[1], row[2], row[3], reason, text, now))
        return unknown

    # ---- queries --------------------------------------------------------------------------

    def get(self, key: str) -> OutboxEntry:
        """The entry with idempotency key ``key``.

        Raises:
            UnknownTransaction: no such key.
        """
        row = self._store.query_one(f"SELECT {_COLUMNS} FROM outbox WHERE key = ?", (key,))
        if row is None:
            raise UnknownTransaction(f"no outbox entry with key {key}")
        return _entry(row)

    def open_offline(self, keys: Iterable[str]) -> set[str]:
        """Those of ``keys`` whose entry is still open and accepted offline (one query)."""
        keys = list(keys)
        if not keys:
            return set()
        rows = self._store.query(
            "SELECT key FROM outbox WHERE offline = 1 AND state IN ('pending', 'sent') "
            f"AND key IN ({', '.join('?' * len(keys))})", tuple(keys))
        return {str(r["key"]) for r in rows}

    def find(self, key: str) -> OutboxEntry | None:
        """The entry with key ``key``, or ``None``."""
        row = self._store.query_one(f"SELECT {_COLUMNS} FROM outbox WHERE key = ?", (key,))
        return None if row is None else _entry(row)

    def list(self, *, states: Iterable[str] | None = None, item_id: str | None = None,
             limit: int = 100, newest_first: bool = False) -> list[OutboxEntry]:
        """Entries filtered by state and item, in journal order (or newest first)."""
        where: list[str] = []
        params: list[Any] = []
        if states is not None:
            st = list(states)
            bad = [s for s in st if s not in OUTBOX_STATES]
            if bad:
                raise InvalidState(f"unknown outbox state(s) {bad}; expected {OUTBOX_STATES}")
            where.append(f"state IN ({','.join('?' * len(st))})")
            params.extend(st)
        if item_id is not None:
            where.append("item_id = ?")
            params.append(item_id)
        sql = f"SELECT {_COLUMNS} FROM outbox"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY seq {'DESC' if newest_first else 'ASC'} LIMIT ?"
        params.append(limit)
        return [_entry(r) for r in self._store.query(sql, tuple(params))]

    def open_count(self, *, older_than_s: float = 0.0) -> int:
        """How many entries are open (``pending`` or ``sent``) and were journaled more than
        ``older_than_s`` seconds ago: the work that waits, not the work in flight (0: every
        open entry). Reads only the open rows (the partial index ``outbox_open``).

        Raises:
            ValueError: ``older_than_s`` is negative.
        """
        if older_than_s < 0:
            raise ValueError(f"older_than_s must be 0 or more, got {older_than_s}")
        sql = "SELECT COUNT(*) AS n FROM outbox WHERE state IN ('pending','sent')"
        params: tuple[str, ...] = ()
        if older_than_s:
            sql += " AND created_at < ?"
            params = (stamp(datetime.now(UTC) - timedelta(seconds=older_than_s)),)
        row = self._store.query_one(sql, params)
        return int(row["n"]) if row else 0

    def backlog(self) -> Backlog:
        """Counts per state, the oldest open entry, and how many the edge has not handled."""
        rows = self._store.query("SELECT state, COUNT(*) AS n FROM outbox GROUP BY state")
        oldest = self._store.query_one(
            "SELECT MIN(created_at) AS t FROM outbox WHERE state IN ('pending','sent')")
        unhandled = self._store.query_one(
            "SELECT COUNT(*) AS n FROM outbox WHERE handled_at IS NULL")
        return Backlog(by_state={r["state"]: r["n"] for r in rows},
                       oldest_open_at=oldest["t"] if oldest else None,
                       unhandled=unhandled["n"] if unhandled else 0)


def _conflict(row: Any) -> ConflictRecord:
    return ConflictRecord(id=row["id"], key=row["key"], kind=row["kind"], item_id=row["item_id"],
                          patron_ref=row["patron_ref"], reason=row["reason"],
                          detail=loads(row["detail"]) or {}, created_at=row["created_at"],
                          resolved_at=row["resolved_at"])


class ConflictRepository:
    """Conflicts caused by offline decisions (written by :meth:`OutboxRepository.record_result`)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def list(self, *, unresolved_only: bool = True, limit: int = 200) -> list[ConflictRecord]:
        """Conflicts, newest first."""
        where = " WHERE resolved_at IS NULL" if unresolved_only else ""
        rows = self._store.query(f"SELECT * FROM conflicts{where} ORDER BY id DESC LIMIT ?",
                                 (limit,))
        return [_conflict(r) for r in rows]

    def add(self, key: str, kind: str, *, item_id: str | None, patron_ref: str | None,
            reason: str, detail: Mapping[str, Any] | None = None) -> None:
        """Store a conflict reported by the gateway directly (idempotent by ``key``)."""
        with self._store.transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO conflicts (key, kind, item_id, patron_ref, reason, "
                "detail, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (key, kind, item_id, patron_ref, reason, dumps(dict(detail or {})), utcnow()))

    def by_key(self, key: str) -> ConflictRecord | None:
        """The conflict of transaction ``key``, if this box has one."""
        row = self._store.query_one("SELECT * FROM conflicts WHERE key = ?", (key,))
        return _conflict(row) if row else None

    def resolve(self, conflict_id: int) -> bool:
        """Mark a conflict resolved by staff; False when it does not exist or was resolved."""
        with self._store.transaction() as conn:
            cur = conn.execute("UPDATE conflicts SET resolved_at = ? WHERE id = ? AND "
                               "resolved_at IS NULL", (utcnow(), conflict_id))
            return cur.rowcount == 1
