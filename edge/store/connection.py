"""The store's connection: one SQLite handle, its lock, transactions, queries, doorbells.

Every repository gets a :class:`Connection` and nothing else; the facade that composes
the repositories (:class:`edge.store.db.Store`) is built on top, so this module imports
no repository. Also here: the store's timestamp and JSON column helpers (:func:`utcnow`,
:func:`dumps`, :func:`loads`), which every repository uses.

Concurrency model:

* One connection per process is the normal case. It holds one ``sqlite3`` connection
  (``check_same_thread=False``) guarded by a re-entrant lock, so any thread may call any
  repository method; each method is one short transaction.
* Several processes (``smartlib serve`` and ``smartlib sync``) open the same file. WAL mode
  lets readers run during a write; writers take ``BEGIN IMMEDIATE`` and wait up to
  ``busy_timeout_ms`` for each other.
* Wake-ups between the processes go through :mod:`edge.store.doorbell`.

Must not do: open the file or set its pragmas (:func:`edge.store.db.open_store` does),
or import any other part of ``edge`` than the store's doorbells and errors.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pydantic_core
import sqlite_utils

from edge.store.doorbell import Doorbell, ring
from edge.store.errors import StoreError


def utcnow() -> str:
    """The current UTC time as ISO 8601 with milliseconds (the store's timestamp format)."""
    return stamp(datetime.now(UTC))


def stamp(at: datetime) -> str:
    """``at`` (timezone-aware) in the store's timestamp format: UTC, ISO 8601 with
    milliseconds and a ``Z`` (such strings compare in time order)."""
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def dumps(value: Any) -> str:
    """JSON-encode a payload compactly (UTF-8 kept readable; keys in the value's order).

    pydantic-core's encoder: the same text as ``json.dumps`` with compact separators, a
    few times cheaper (the agent records thousands of results a second in a drain).
    """
    return pydantic_core.to_json(value).decode()


def loads(text: str | None) -> Any:
    """Decode a JSON column (``None`` stays ``None``)."""
    return None if text is None else json.loads(text)


class Connection:
    """An open SQLite connection to an edge database, shared by the repositories.

    Args:
        path: the database file.
        conn: the open ``sqlite3`` connection (autocommit mode, rows as ``sqlite3.Row``).
    """

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self.conn = conn
        self.db = sqlite_utils.Database(conn)
        self.lock = threading.RLock()
        self._depth = 0
        self._bells: dict[str, Doorbell] = {}
        self._closed = False

    # ---- transactions -------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Run the block as one ``BEGIN IMMEDIATE`` transaction (nested blocks join it).

        Yields:
            The connection, for ``execute``/``executemany``.
        """
        with self.lock:
            if self._closed:
                raise StoreError(f"store {self.path} is closed")
            outer = self._depth == 0
            if outer:
                self.conn.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield self.conn
            except BaseException:
                self._depth -= 1
                if outer:
                    self.conn.execute("ROLLBACK")
                raise
            self._depth -= 1
            if outer:
                self.conn.execute("COMMIT")

    def query(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        """Run a read query and return all rows."""
        with self.lock:
            return self.conn.execute(sql, params).fetchall()

    def query_one(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> sqlite3.Row | None:
        """Run a read query and return the first row or ``None``."""
        with self.lock:
            return self.conn.execute(sql, params).fetchone()

    # ---- doorbells ----------------------------------------------------------------------

    def doorbell(self, name: str) -> Doorbell:
        """Return this process's bell ``name`` (bound on first use, closed with the store)."""
        with self.lock:
            bell = self._bells.get(name)
            if bell is None:
                bell = self._bells[name] = Doorbell(self.path, name)
            return bell

    def ring(self, name: str) -> None:
        """Wake whoever waits on bell ``name``, in this process and in others."""
        bell = self._bells.get(name)
        if bell is not None:
            bell.poke()
        ring(self.path, name)

    def close(self) -> None:
        """Close the bells and the connection (idempotent)."""
        with self.lock:
            if self._closed:
                return
            self._closed = True
            for bell in self._bells.values():
                bell.close()
            self._bells.clear()
            self.conn.close()
