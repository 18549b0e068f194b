"""Opening the store: pragmas, integrity check, migrations, and the :class:`Store` facade.

:func:`open_store` returns a :class:`Store` whose attributes are the repositories
(``store.outbox``, ``store.cache``, ``store.lookups``, ``store.security``, ``store.alarms``,
``store.counters``, ``store.conflicts``, ``store.events``, ``store.meta``, ``store.site``,
``store.pin_failures``),
all built on one :class:`~edge.store.connection.Connection` (transactions, queries,
doorbells; see there for the concurrency model). Also here: the serve lock and the check
of a backup file.

This package is imported by the sync agent: it must not import any other part of ``edge``.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Literal

from edge.store import schema
from edge.store.access import DeviceTokenRepository, StaffAccountRepository
from edge.store.cache import CacheRepository
from edge.store.commands import CommandRepository
from edge.store.connection import Connection
from edge.store.doorbell import Doorbell
from edge.store.errors import SchemaTooNew, StoreBusy, StoreCorrupt, StoreError
from edge.store.lookups import LookupRepository
from edge.store.ops import (
    AlarmRepository,
    CounterRepository,
    DeviceEventRepository,
    MetaRepository,
    SecurityTaskRepository,
)
from edge.store.outbox import ConflictRepository, OutboxRepository
from edge.store.pin_failures import PinFailureRepository
from edge.store.remote_config import RemoteConfigRepository
from edge.store.site import SiteRepository

__all__ = ["IntegrityMode", "ServeLock", "Store", "backup_uri", "check_backup", "open_store",
           "serve_lock_holder", "serve_lock_path"]

log = logging.getLogger(__name__)

IntegrityMode = Literal["quick", "full", "off"]


class Store:
    """An open edge database: its repositories over one connection. Use :func:`open_store`.

    The connection's transactions, queries and doorbells are offered here too, for
    work that spans repositories (``with store.transaction(): ...``) and for reports.
    """

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.path = connection.path
        self.conn = connection.conn
        self.db = connection.db
        self.lock = connection.lock
        self.outbox = OutboxRepository(connection)
        self.conflicts = ConflictRepository(connection)
        self.cache = CacheRepository(connection)
        self.lookups = LookupRepository(connection)
        self.security = SecurityTaskRepository(connection, self.outbox)
        self.alarms = AlarmRepository(connection)
        self.counters = CounterRepository(connection)
        self.events = DeviceEventRepository(connection)
        self.meta = MetaRepository(connection)
        self.site = SiteRepository(connection)
        self.remote_config = RemoteConfigRepository(connection)
        self.commands = CommandRepository(connection, self.security, self.conflicts)
        self.pin_failures = PinFailureRepository(connection)
        self.staff_login_failures = PinFailureRepository(connection, "staff_login")
        self.device_tokens = DeviceTokenRepository(connection)
        self.staff_accounts = StaffAccountRepository(connection)

    # ---- the connection's ---------------------------------------------------------------

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction (see :meth:`Connection.transaction`)."""
        return self.connection.transaction()

    def query(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        """Run a read query and return all rows."""
        return self.connection.query(sql, params)

    def query_one(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> sqlite3.Row | None:
        """Run a read query and return the first row or ``None``."""
        return self.connection.query_one(sql, params)

    def doorbell(self, name: str) -> Doorbell:
        """This process's bell ``name`` (see :meth:`Connection.doorbell`)."""
        return self.connection.doorbell(name)

    def ring(self, name: str) -> None:
        """Wake whoever waits on bell ``name``, in this process and in others."""
        self.connection.ring(name)

    # ---- maintenance --------------------------------------------------------------------

    @property
    def schema_version(self) -> int:
        """The schema version of the open file."""
        return schema.current_version(self.conn)

    def integrity_check(self, mode: IntegrityMode = "quick") -> list[str]:
        """Run SQLite's integrity check; return the problems found (empty when healthy)."""
        if mode == "off":
            return []
        pragma = "quick_check" if mode == "quick" else "integrity_check"
        rows = self.query(f"PRAGMA {pragma}")
        problems = [str(r[0]) for r in rows]
        return [] if problems == ["ok"] else problems

    def backup(self, dest: str | os.PathLike[str]) -> Path:
        """Write a consistent online copy of the database to ``dest`` (SQLite backup API)."""
        dest_path = Path(dest)
        dest_path.parent.mkdir(parents=True, exist_ok=True)
        target = sqlite3.connect(dest_path)
        try:
            with self.lock:
                self.conn.backup(target)
        finally:
            target.close()
        return dest_path

    def table_counts(self) -> dict[str, int]:
        """Rows per table (for ``smartlib db stats`` and ``/metrics``)."""
        with self.lock:
            return {name: self.db[name].count for name in self.db.table_names()
                    if not name.startswith("sqlite_")}

    def close(self) -> None:
        """Close the bells and the connection (idempotent)."""
        self.connection.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


SERVE_LOCK_SUFFIX = ".serve.lock"


def serve_lock_path(db_path: str | os.PathLike[str]) -> Path:
    """The lock file next to the database that marks "``smartlib serve`` runs on it"."""
    return Path(os.path.realpath(os.fspath(db_path)) + SERVE_LOCK_SUFFIX)


class ServeLock:
    """An exclusive ``flock`` on ``<db>.serve.lock``, held while ``serve`` runs.

    ``smartlib serve`` takes it at start and keeps it for its lifetime, idle or not; the
    kernel drops it when the process ends, even by ``kill -9``, so a stale file means
    nothing. ``smartlib db restore`` takes the same lock for the time of the copy, so a
    restore never runs under a serve and a serve never starts during a restore. The file
    holds the holder's pid, for messages only.
    """

    def __init__(self, db_path: str | os.PathLike[str]) -> None:
        self.path = serve_lock_path(db_path)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """True while this object holds the lock."""
        return self._fd is not None

    def acquire(self) -> ServeLock:
        """Take the lock now (idempotent).

        Raises:
            StoreBusy: another holder (another serve, or a restore) has it.
            StoreError: the lock file cannot be created.
        """
        if self._fd is not None:
            return self
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise StoreError(f"cannot create the lock file {self.path}: {exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _lock_pid(fd)
            os.close(fd)
            raise StoreBusy(f"{self.path} is held by another process"
                            + (f" (pid {holder})" if holder else "")) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        """Drop the lock (idempotent); the file stays, harmless."""
        fd, self._fd = self._fd, None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def __enter__(self) -> ServeLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _lock_pid(fd: int) -> int | None:
    try:
        return int(os.pread(fd, 32, 0).decode().strip() or 0) or None
    except (OSError, ValueError):
        return None


def serve_lock_holder(db_path: str | os.PathLike[str]) -> int | None:
    """The pid recorded by a live holder of the serve lock (0 when unreadable), else ``None``."""
    path = serve_lock_path(db_path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _lock_pid(fd) or 0
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def backup_uri(path: str | os.PathLike[str]) -> str:
    """An SQLite URI that opens a backup file without ever writing to it or next to it."""
    return Path(path).resolve().as_uri() + "?mode=ro&immutable=1"


def check_backup(path: str | os.PathLike[str]) -> int:
    """Validate a backup file without writing to it; return its schema version.

    Opens it with :func:`backup_uri` (read-only and immutable: no migration, no
    journal-mode change, not even ``-wal``/``-shm`` files next to it), runs ``PRAGMA
    integrity_check`` and reads ``user_version``.

    Raises:
        StoreBusy: it has a non-empty ``-wal`` file: a live database, or one not closed
            cleanly, whose WAL a read-only check would ignore (back it up first).
        StoreCorrupt: not an SQLite database, damaged, or not an edge store (version 0).
        SchemaTooNew: written by a newer release than this one.
        StoreError: it cannot be opened.
    """
    p = Path(path)
    if not p.is_file():
        raise StoreError(f"{p} is not a file")
    wal = Path(f"{p}-wal")
    if wal.exists() and wal.stat().st_size > 0:
        raise StoreBusy(f"{p} has a write-ahead log ({wal.name}): it is in use or was not "
                        "closed cleanly; make a copy with `smartlib db backup` and use that")
    try:
        conn = sqlite3.connect(backup_uri(p), uri=True)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open {p} read-only: {exc}") from exc
    try:
        problems = [str(r[0]) for r in conn.execute("PRAGMA integrity_check").fetchall()]
        if problems != ["ok"]:
            raise StoreCorrupt(f"{p} failed the integrity check: " + "; ".join(problems[:5]))
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError as exc:
        raise StoreCorrupt(f"{p} is not a usable SQLite database: {exc}") from exc
    finally:
        conn.close()
    if version > schema.SCHEMA_VERSION:
        raise SchemaTooNew(f"{p} has schema version {version}, newer than this release's "
                           f"{schema.SCHEMA_VERSION}")
    if version < 1 or "outbox" not in tables:
        raise StoreCorrupt(f"{p} is not an edge store (schema version {version}, "
                           f"{'an' if 'outbox' in tables else 'no'} outbox table)")
    return version


def open_store(path: str | os.PathLike[str], *, integrity: IntegrityMode = "quick",
               busy_timeout_ms: int = 10_000, migrate: bool = True) -> Store:
    """Open (and create or upgrade) the edge database at ``path``.

    Sets WAL mode and ``synchronous=NORMAL`` (a committed transaction survives a process
    crash; an OS crash may lose the last few, which the central ledger tolerates because
    every transaction is keyed), runs the integrity check, then the migrations.

    Args:
        path: the SQLite file (its directory is created); ``":memory:"`` is not supported
            because the edge and the agent must share the file.
        integrity: ``"quick"`` (default), ``"full"`` or ``"off"``.
        busy_timeout_ms: how long a writer waits for another process's transaction.
        migrate: apply pending migrations (``False`` only for tests of the migrations).

    Raises:
        StoreCorrupt: the integrity check found problems.
        SchemaTooNew: the file comes from a newer release.
        StoreError: the file cannot be opened.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = sqlite3.connect(p, isolation_level=None, check_same_thread=False,
                               timeout=busy_timeout_ms / 1000)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open store {p}: {exc}") from exc
    conn.row_factory = sqlite3.Row
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StoreError(f"cannot put {p} in WAL mode (got {mode})")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA temp_store = MEMORY")
        # Deleted or rewritten content (a look-up's PIN once wiped) is overwritten with
        # zeros, not left in free space; see LookupRepository.scrub for the WAL side.
        conn.execute("PRAGMA secure_delete = ON")
        store = Store(Connection(p, conn))
        problems = store.integrity_check(integrity)
        if problems:
            raise StoreCorrupt(f"{p} failed the integrity check: " + "; ".join(problems[:5]))
        if migrate:
            reached = schema.migrate(conn)
            if reached:
                log.info("store %s migrated to schema version %d", p, reached[-1])
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise StoreCorrupt(f"{p} is not a usable SQLite database: {exc}") from exc
    except BaseException:
        conn.close()
        raise
    return store
