"""The local cache of the ILS: items, patrons (minimal), loans and holds.

The cache answers the edge's local checks (loan limit, holds for someone else, the gate's
security-database mode, offline decisions) without the network. It is rebuilt from the
central snapshot (chunked, see :meth:`CacheRepository.apply_snapshot_chunk`) and kept
fresh by deltas (:meth:`CacheRepository.apply_delta`) and by the edge's own results. It
holds no loan history and no full patron record: a patron row is an id, a display
name, block flags, a loan limit and, for the ``cached`` offline-login policy, a slow
salted PIN hash (never the PIN).

Rows are accepted as record dataclasses, mappings with the column names, or (for the
bulk loaders' fast path) tuples in column order.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import astuple, dataclass, fields
from datetime import UTC, datetime
from itertools import islice
from typing import TYPE_CHECKING, Any, Literal

from edge.store.connection import dumps, loads, utcnow
from edge.store.errors import StoreError

if TYPE_CHECKING:
    from edge.store.connection import Connection

CacheKind = Literal["items", "patrons", "loans", "holds"]


log = logging.getLogger(__name__)

@dataclass(frozen=True, slots=True)
class ItemRecord:
    """A cached item: ``usage`` is the ISO 28560 type of usage, ``value`` its price (minor units)."""

    item_id: str
    title: str = ""
    usage: int = 1
    value: int = 0
    parts: int = 1
    location: str = ""
    owner_isil: str | None = None
    """The ISIL of the library that owns the item (from ``gateway import``); None unknown."""


@dataclass(frozen=True, slots=True)
class PatronRecord:
    """A cached patron: enough for offline checks, nothing more."""

    patron_id: str
    display_name: str = ""
    blocked: bool = False
    block_reason: str | None = None
    loan_limit: int = 10
    pin_hash: str | None = None
    expires_on: str | None = None
    verified_at: str | None = None
    card_uid: str | None = None
    """The patron's card UID in the site's format (``card_reader.identity = "mapping"``)."""


@dataclass(frozen=True, slots=True)
class LoanRecord:
    """An item on loan: to whom, until when, and whether the edge accepted it offline."""

    item_id: str
    patron_id: str
    due_date: str | None = None
    loaned_at: str | None = None
    offline: bool = False

    def made_after(self, stamp: str) -> bool:
        """True when the loan was made after ``stamp`` (an ISO time); False when its time is
        not known."""
        return _later(self.loaned_at, stamp)


@dataclass(frozen=True, slots=True)
class HoldRecord:
    """A hold on an item for a patron; ``ready`` once it waits on the hold shelf."""

    item_id: str
    patron_id: str
    ready: bool = False
    pickup_location: str = ""
    position: int = 1


_RECORDS: dict[str, type] = {"items": ItemRecord, "patrons": PatronRecord,
                             "loans": LoanRecord, "holds": HoldRecord}
_COLUMNS: dict[str, tuple[str, ...]] = {k: tuple(f.name for f in fields(v))
                                        for k, v in _RECORDS.items()}
_BOOL_COLUMNS = {"blocked", "offline", "ready"}


def _to_tuple(kind: str, row: Any, columns: tuple[str, ...]) -> tuple[Any, ...]:
    if isinstance(row, tuple):
        if not hasattr(row, "_fields"):
            # Older callers' tuples lack the trailing optional columns (items' owner_isil).
            return row + (None,) * (len(columns) - len(row))
        row = row._asdict()  # type: ignore[attr-defined]  # a namedtuple: by name
    if isinstance(row, _RECORDS[kind]):
        return astuple(row)  # type: ignore[call-overload]
    if isinstance(row, Mapping):
        rec = _RECORDS[kind](**{c: row[c] for c in columns if c in row})
        return astuple(rec)
    raise StoreError(f"cannot store {type(row).__name__} as a {kind} row; expected a "
                     f"{_RECORDS[kind].__name__}, a mapping or a tuple")


def _record(kind: str, row: Any) -> Any:
    cls = _RECORDS[kind]
    values = {c: (bool(row[c]) if c in _BOOL_COLUMNS else row[c]) for c in _COLUMNS[kind]}
    return cls(**values)


def _chunks(it: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(it)
    while batch := list(islice(iterator, size)):
        yield batch


class CacheRepository:
    """Read and write the cache tables. Thread-safe; each write is one transaction."""

    def __init__(self, store: Connection) -> None:
        self._store = store

    # ---- bulk and snapshot loading ------------------------------------------------------

    def bulk_load(self, kind: CacheKind, rows: Iterable[Any], *, replace: bool = True,
                  snap: int = 0, batch: int = 10_000) -> int:
        """Insert many rows of ``kind`` in one transaction (the fast path for large loads).

        Args:
            kind: ``items``, ``patrons``, ``loans`` or ``holds``.
            rows: records, mappings, or tuples in column order (fastest).
            replace: delete the table's rows first (a full rebuild).
            snap: the snapshot generation written into each row.
            batch: rows per ``executemany`` call (bounds memory for generators).

        Returns:
            The number of rows written.
        """
        columns = _COLUMNS[kind]
        sql = (f"INSERT OR REPLACE INTO {kind} ({', '.join(columns)}, snap) "
               f"VALUES ({', '.join('?' * len(columns))}, {int(snap)})")
        count = 0
        with self._store.transaction() as conn:
            if replace:
                conn.execute(f"DELETE FROM {kind}")
            for chunk in _chunks(rows, batch):
                if not all(type(r) is tuple and len(r) == len(columns) for r in chunk):
                    chunk = [_to_tuple(kind, r, columns) for r in chunk]
                conn.executemany(sql, chunk)
                count += len(chunk)
        return count

    def bulk_load_items(self, rows: Iterable[Any], *, replace: bool = True) -> int:
        """Shorthand for :meth:`bulk_load` of ``items``."""
        return self.bulk_load("items", rows, replace=replace)

    def apply_snapshot_chunk(self, kind: CacheKind, snapshot: str, index: int, count: int,
                             rows: Iterable[Any]) -> bool:
        """Apply one chunk of a chunked central snapshot (idempotent; chunks in any order).

        Rows are upserted at once and tagged with the snapshot's generation (a number
        that grows with each new snapshot). Deltas and the edge's own writes are tagged
        with the newest generation known when they are written. When every chunk
        ``0 .. count-1`` has arrived, rows of ``kind`` with an older generation (neither
        in the snapshot nor written since it began) are deleted.

        Args:
            kind: which table the snapshot fills.
            snapshot: the snapshot's id (chosen by the gateway).
            index: this chunk's number, from 0.
            count: the number of chunks in the snapshot.
            rows: the chunk's rows.

        Returns:
            True when this chunk completed the snapshot.
        """
        if not 0 <= index < count:
            raise StoreError(f"snapshot chunk index {index} is outside 0..{count - 1}")
        columns = _COLUMNS[kind]
        with self._store.transaction() as conn:
            conn.execute("INSERT OR IGNORE INTO snapshots (kind, name, chunks, created_at) "
                         "VALUES (?, ?, ?, ?)", (kind, snapshot, count, utcnow()))
            snap = conn.execute("SELECT id, received, completed_at FROM snapshots WHERE "
                                "kind = ? AND name = ?", (kind, snapshot)).fetchone()
            received = set(loads(snap["received"]))
            if snap["completed_at"] is not None or index in received:
                return False
            tuples = [_to_tuple(kind, r, columns) for r in rows]
            conn.executemany(
                f"INSERT OR REPLACE INTO {kind} ({', '.join(columns)}, snap) "
                f"VALUES ({', '.join('?' * len(columns))}, {int(snap['id'])})", tuples)
            received.add(index)
            complete = len(received) == count
            conn.execute("UPDATE snapshots SET received = ?, completed_at = ? WHERE id = ?",
                         (dumps(sorted(received)), utcnow() if complete else None, snap["id"]))
            if complete:
                conn.execute(f"DELETE FROM {kind} WHERE snap < ?", (snap["id"],))
            return complete

    def apply_delta(self, *, items: Iterable[Any] = (), patrons: Iterable[Any] = (),
                    loans: Iterable[Any] = (), holds: Iterable[Any] = (),
                    deleted_items: Iterable[str] = (), returned_items: Iterable[str] = (),
                    deleted_holds: Iterable[tuple[str, str]] = (),
                    returned_at: Mapping[str, str] | None = None) -> None:
        """Apply one incremental change from the central side, in one transaction.

        An item's latest change wins whatever order changes arrive in (two gateways' deltas
        may cross): a return with its journal time (``returned_at``) leaves a loan made
        after it, and is remembered; a loan made before a remembered return is not cached.

        Args:
            items, patrons, loans, holds: rows to insert or replace.
            deleted_items: item ids removed from the catalogue.
            returned_items: item ids no longer on loan.
            deleted_holds: ``(item_id, patron_id)`` holds filled or cancelled.
            returned_at: item id → when its check-in was journaled (ISO); a returned item
                without one is taken off loan whatever the loan's time.
        """
        returned_at = returned_at or {}
        with self._store.transaction() as conn:
            for kind, rows in (("items", items), ("patrons", patrons), ("loans", loans),
                               ("holds", holds)):
                cols = _COLUMNS[kind]
                tuples = [_to_tuple(kind, r, cols) for r in rows]
                if kind == "loans" and tuples:
                    tuples = _after_returns(conn, tuples)
                if tuples:
                    gen = conn.execute("SELECT COALESCE(MAX(id), 0) FROM snapshots WHERE kind = ?",
                                       (kind,)).fetchone()[0]
                    conn.executemany(f"INSERT OR REPLACE INTO {kind} ({', '.join(cols)}, snap) "
                                     f"VALUES ({', '.join('?' * len(cols))}, {int(gen)})", tuples)
            conn.executemany("DELETE FROM items WHERE item_id = ?", [(i,) for i in deleted_items])
            conn.executemany("DELETE FROM loans WHERE item_id = ?",
                             [(i,) for i in _returns(conn, returned_items, returned_at)])
            conn.executemany("DELETE FROM holds WHERE item_id = ? AND patron_id = ?",
                             [tuple(h) for h in deleted_holds])

    # ---- single-row writes by the edge --------------------------------------------------

    def record_loan(self, loan: LoanRecord) -> None:
        """Record a loan the edge just made (online result or offline acceptance)."""
        self.apply_delta(loans=[loan])

    def record_return(self, item_id: str, *, journaled_at: str | None = None) -> None:
        """Forget the loan of ``item_id``.

        ``journaled_at``: when the check-in was journaled (the store's timestamp format). A
        loan the cache holds that was made after it is a newer loan (the book lent again
        while this check-in's result was late) and is kept.
        """
        self.apply_delta(returned_items=[item_id],
                         returned_at=None if journaled_at is None else {item_id: journaled_at})

    def patron_for_card(self, card_uid: str) -> str | None:
        """The patron id whose card has ``card_uid`` (formatted as the site's identity rule
        formats UIDs), or None when the cache knows no such card."""
        row = self._store.query_one("SELECT patron_id FROM patrons WHERE card_uid = ? LIMIT 1",
                                    (card_uid,))
        return None if row is None else str(row["patron_id"])

    def upsert_patron(self, patron: PatronRecord) -> None:
        """Insert or replace one patron row."""
        self.apply_delta(patrons=[patron])

    # ---- look-ups -----------------------------------------------------------------------

    def item(self, item_id: str) -> ItemRecord | None:
        """The cached item, or ``None``."""
        row = self._store.query_one("SELECT * FROM items WHERE item_id = ?", (item_id,))
        return None if row is None else _record("items", row)

    def items(self, item_ids: Sequence[str]) -> dict[str, ItemRecord]:
        """Cached items by id (missing ids are absent)."""
        out: dict[str, ItemRecord] = {}
        for chunk in _chunks(item_ids, 500):
            rows = self._store.query(
                f"SELECT * FROM items WHERE item_id IN ({','.join('?' * len(chunk))})",
                tuple(chunk))
            out.update({r["item_id"]: _record("items", r) for r in rows})
        return out

    def patron(self, patron_id: str) -> PatronRecord | None:
        """The cached patron, or ``None``."""
        row = self._store.query_one("SELECT * FROM patrons WHERE patron_id = ?", (patron_id,))
        return None if row is None else _record("patrons", row)

    def loan(self, item_id: str) -> LoanRecord | None:
        """The loan of ``item_id``, or ``None`` when it is not on loan."""
        row = self._store.query_one("SELECT * FROM loans WHERE item_id = ?", (item_id,))
        return None if row is None else _record("loans", row)

    def is_on_loan(self, item_id: str) -> bool:
        """True when the cache says ``item_id`` is on loan."""
        return self._store.query_one("SELECT 1 FROM loans WHERE item_id = ?",
                                     (item_id,)) is not None

    def loans_of(self, patron_id: str) -> list[LoanRecord]:
        """The patron's cached loans, by due date."""
        rows = self._store.query("SELECT * FROM loans WHERE patron_id = ? ORDER BY due_date IS NULL, due_date, item_id",
                                 (patron_id,))
        return [_record("loans", r) for r in rows]

    def holds_for_item(self, item_id: str) -> list[HoldRecord]:
        """Holds on ``item_id``, first in the queue first."""
        rows = self._store.query("SELECT * FROM holds WHERE item_id = ? ORDER BY position",
                                 (item_id,))
        return [_record("holds", r) for r in rows]

    def holds_of(self, patron_id: str) -> list[HoldRecord]:
        """The patron's holds."""
        rows = self._store.query("SELECT * FROM holds WHERE patron_id = ? ORDER BY item_id",
                                 (patron_id,))
        return [_record("holds", r) for r in rows]

    def counts(self) -> dict[str, int]:
        """Rows per cache table."""
        return {k: int(self._store.query_one(f"SELECT COUNT(*) FROM {k}")[0])  # type: ignore[index]
                for k in _RECORDS}

    def clear(self) -> None:
        """Empty the cache tables (before a rebuild)."""
        with self._store.transaction() as conn:
            for k in (*_RECORDS, "snapshots", "cache_returns"):
                conn.execute(f"DELETE FROM {k}")


_LOANED_AT = _COLUMNS["loans"].index("loaned_at")


def _after_returns(conn: Any, loans: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The loans not made before a return of their item the cache was told of."""
    ids = [t[0] for t in loans]
    marks: dict[str, str] = {}
    for start in range(0, len(ids), 500):
        part = ids[start:start + 500]
        marks.update((r[0], r[1]) for r in conn.execute(
            f"SELECT item_id, journaled_at FROM cache_returns WHERE item_id IN "
            f"({', '.join('?' * len(part))})", part))
    if not marks:
        return loans
    kept = []
    for t in loans:
        mark = marks.get(t[0])
        # A loan of unknown time cannot be ordered: cached, as before returns had times.
        if mark is not None and t[_LOANED_AT] and not _later(t[_LOANED_AT], mark):
            log.info("loan of %s made at %s is older than its return journaled at %s: "
                     "not cached", t[0], t[_LOANED_AT], mark)
            continue
        kept.append(t)
    return kept


def _returns(conn: Any, items: Iterable[str], at: Mapping[str, str]) -> list[str]:
    """The returned items whose loan goes (remembering each timed return); a loan made
    after its item's return stays (the book was lent again while the return was late)."""
    gone = []
    for item in items:
        stamp = at.get(item)
        if stamp is None:
            gone.append(item)
            continue
        row = conn.execute("SELECT loaned_at FROM loans WHERE item_id = ?", (item,)).fetchone()
        if row is not None and _later(row[0], stamp):
            log.info("return of %s journaled at %s: the cache's newer loan (%s) is kept",
                     item, stamp, row[0])
        else:
            gone.append(item)
        old = conn.execute("SELECT journaled_at FROM cache_returns WHERE item_id = ?",
                           (item,)).fetchone()
        if old is None or _later(stamp, old[0]):
            conn.execute("INSERT OR REPLACE INTO cache_returns (item_id, journaled_at) "
                         "VALUES (?, ?)", (item, stamp))
    return gone


def _later(stamp: str | None, than: str) -> bool:
    """True when the ISO time ``stamp`` (either of the formats the cache holds: ``…Z`` or
    ``…+00:00``) is after ``than``; False when it is missing or unreadable."""
    if not stamp:
        return False
    try:
        a = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        b = datetime.fromisoformat(than.replace("Z", "+00:00"))
    except ValueError:
        return False
    if a.tzinfo is None:
        a = a.replace(tzinfo=UTC)
    if b.tzinfo is None:
        b = b.replace(tzinfo=UTC)
    return a > b
