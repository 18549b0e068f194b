"""The central database: one connection to SQLite (the default) or PostgreSQL (by DSN).

Statements are written once, with ``?`` placeholders and SQL that both engines accept
(``ON CONFLICT … DO UPDATE``, ``RETURNING``); :class:`Database` rewrites the placeholders for
psycopg. Timestamps are stored as ISO 8601 UTC text with milliseconds and ``Z`` (fixed
width, so they sort and compare as text on both engines). This module knows the schema but
no repository logic; it holds no state besides its connection.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from central.errors import DatabaseError

SCHEMA_VERSION = 1

# {id} is the auto-numbered key of each engine.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS central_schema (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS sites (
  site_id TEXT PRIMARY KEY,
  name TEXT NOT NULL DEFAULT '',
  first_seen TEXT NOT NULL,
  last_seen TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS devices (
  site_id TEXT NOT NULL,
  device_id TEXT NOT NULL,
  role TEXT,
  state TEXT NOT NULL,
  state_since TEXT NOT NULL,
  last_seen TEXT NOT NULL,
  online_since TEXT,
  backlog INTEGER,
  reader TEXT,
  reader_failures INTEGER,
  printer TEXT,
  software_version TEXT,
  config_version TEXT,
  restart_count INTEGER NOT NULL DEFAULT 0,
  process_starts TEXT,
  PRIMARY KEY (site_id, device_id)
);
CREATE TABLE IF NOT EXISTS alarms (
  id {id},
  site_id TEXT NOT NULL,
  device_id TEXT NOT NULL,
  edge_alarm_id BIGINT NOT NULL,
  source TEXT,
  kind TEXT NOT NULL,
  item TEXT,
  uid TEXT,
  title TEXT,
  direction TEXT,
  message TEXT,
  detail TEXT NOT NULL DEFAULT '{{}}',
  raised_at TEXT NOT NULL,
  received_at TEXT NOT NULL,
  edge_acked_at TEXT,
  acked_at TEXT,
  acked_by TEXT,
  UNIQUE (site_id, device_id, edge_alarm_id)
);
CREATE INDEX IF NOT EXISTS alarms_raised ON alarms (raised_at);
CREATE TABLE IF NOT EXISTS stats (
  site_id TEXT NOT NULL,
  device_id TEXT NOT NULL,
  period_start TEXT NOT NULL,
  period_s INTEGER NOT NULL,
  counters TEXT NOT NULL,
  complete INTEGER NOT NULL,
  received_at TEXT NOT NULL,
  PRIMARY KEY (site_id, device_id, period_start)
);
CREATE TABLE IF NOT EXISTS stats_site_hours (
  site_id TEXT NOT NULL,
  hour TEXT NOT NULL,
  counters TEXT NOT NULL,
  PRIMARY KEY (site_id, hour)
);
CREATE INDEX IF NOT EXISTS stats_site_hours_hour ON stats_site_hours (hour);
CREATE TABLE IF NOT EXISTS events (
  site_id TEXT NOT NULL,
  device_id TEXT NOT NULL,
  event_id BIGINT NOT NULL,
  source TEXT NOT NULL,
  kind TEXT NOT NULL,
  detail TEXT NOT NULL,
  at TEXT NOT NULL,
  PRIMARY KEY (site_id, device_id, event_id)
);
CREATE TABLE IF NOT EXISTS conflicts (
  tx_key TEXT PRIMARY KEY,
  site_id TEXT NOT NULL,
  device_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  item TEXT,
  patron TEXT,
  reason TEXT NOT NULL,
  screen_message TEXT,
  created_at TEXT NOT NULL,
  detected_at TEXT NOT NULL,
  resolution TEXT,
  resolved_by TEXT,
  resolved_at TEXT
);
CREATE INDEX IF NOT EXISTS conflicts_created ON conflicts (created_at);
CREATE TABLE IF NOT EXISTS commands (
  command_id TEXT PRIMARY KEY,
  site_id TEXT NOT NULL,
  device_id TEXT NOT NULL,
  action TEXT NOT NULL,
  target TEXT NOT NULL,
  resolution TEXT,
  note TEXT,
  issued_by TEXT NOT NULL,
  issued_at TEXT NOT NULL,
  sent_at TEXT,
  state TEXT NOT NULL DEFAULT 'pending',
  reason TEXT,
  acked_at TEXT,
  expires_at TEXT,
  cancelled_by TEXT,
  closed_at TEXT
);
CREATE INDEX IF NOT EXISTS commands_unsent ON commands (sent_at, issued_at);
CREATE TABLE IF NOT EXISTS security_tasks (
  site_id TEXT NOT NULL,
  device_id TEXT NOT NULL,
  task_id BIGINT NOT NULL,
  item TEXT,
  uid TEXT,
  action TEXT NOT NULL,
  state TEXT NOT NULL,
  attempts INTEGER NOT NULL,
  last_error TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  reported_at TEXT NOT NULL,
  failing INTEGER NOT NULL DEFAULT 1,
  PRIMARY KEY (site_id, device_id, task_id)
);
CREATE TABLE IF NOT EXISTS staff (
  username TEXT PRIMARY KEY,
  display_name TEXT NOT NULL,
  role TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  failed_logins INTEGER NOT NULL DEFAULT 0,
  locked_until TEXT,
  disabled INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL,
  last_login TEXT
);
CREATE TABLE IF NOT EXISTS sessions (
  token_hash TEXT PRIMARY KEY,
  username TEXT NOT NULL,
  csrf_token TEXT NOT NULL,
  created_at TEXT NOT NULL,
  expires_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS dead_letters (
  id {id},
  topic TEXT NOT NULL,
  payload TEXT NOT NULL,
  reason TEXT NOT NULL,
  at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS config_versions (
  site_id TEXT NOT NULL,
  device_id TEXT NOT NULL,
  version INTEGER NOT NULL,
  document TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  created_by TEXT NOT NULL,
  created_at TEXT NOT NULL,
  PRIMARY KEY (site_id, device_id, version)
);
CREATE TABLE IF NOT EXISTS device_configs (
  site_id TEXT NOT NULL,
  device_id TEXT NOT NULL,
  version INTEGER NOT NULL,
  site_version INTEGER NOT NULL,
  device_version INTEGER NOT NULL,
  document TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  state TEXT NOT NULL,
  needs_restart TEXT NOT NULL DEFAULT '[]',
  reason TEXT,
  pushed_by TEXT NOT NULL,
  pushed_at TEXT NOT NULL,
  published_at TEXT,
  acked_at TEXT,
  PRIMARY KEY (site_id, device_id)
);
CREATE TABLE IF NOT EXISTS enrol_codes (
  code_hash TEXT PRIMARY KEY,
  site_id TEXT NOT NULL,
  device_id TEXT NOT NULL,
  role TEXT NOT NULL,
  created_by TEXT NOT NULL,
  created_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  used_at TEXT,
  serial TEXT
);
CREATE TABLE IF NOT EXISTS revoked_devices (
  site_id TEXT NOT NULL,
  device_id TEXT NOT NULL,
  revoked_by TEXT NOT NULL,
  revoked_at TEXT NOT NULL,
  PRIMARY KEY (site_id, device_id)
);
CREATE TABLE IF NOT EXISTS audit_log (
  id {id},
  at TEXT NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  target TEXT NOT NULL,
  detail TEXT NOT NULL DEFAULT '{{}}'
);
"""

_ADDED_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("commands", "expires_at", "TEXT"),
    ("commands", "cancelled_by", "TEXT"),
    ("commands", "closed_at", "TEXT"),
    ("devices", "process_starts", "TEXT"),
)
"""Columns added after a table was first made: a database made before them gets them when
it is opened (``CREATE TABLE IF NOT EXISTS`` leaves an existing table as it is)."""

_ID_SQL = {"sqlite": "INTEGER PRIMARY KEY AUTOINCREMENT", "postgresql": "BIGSERIAL PRIMARY KEY"}


def stamp(moment: datetime | None = None) -> str:
    """``moment`` (default now) as the database's timestamp text: UTC, milliseconds, ``Z``.

    Raises:
        ValueError: ``moment`` has no timezone.
    """
    moment = moment or datetime.now(UTC)
    if moment.tzinfo is None:
        raise ValueError("a stored timestamp must carry a timezone")
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_stamp(text: str) -> datetime:
    """A stored timestamp back as an aware datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class Database:
    """One connection, serialised by a lock, with nested transactions joining the outer one.

    Open it with :func:`open_database`. Thread-safe (the web server's worker threads and
    the collector share nothing else).
    """

    def __init__(self, conn: Any, engine: str,
                 reconnect: Callable[[], Any] | None = None) -> None:
        self._conn = conn
        self.engine = engine
        self._reconnect = reconnect
        self._lock = threading.RLock()
        self._depth = 0

    def _live(self) -> Any:
        """The connection; a PostgreSQL connection the server dropped (restart, idle
        timeout) is opened again between transactions (the statement that found it broken
        has failed with a DatabaseError)."""
        if self._depth == 0 and self._reconnect is not None and self._conn.closed:
            try:
                self._conn = self._reconnect()
            except Exception as exc:
                raise DatabaseError(f"{self.engine}: cannot reconnect: {exc}") from exc
        return self._conn

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.engine == "postgresql" else sql

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a statement and return its rows (``[]`` for one that returns none)."""
        with self._lock:
            try:
                cur = self._live().execute(self._sql(sql), tuple(params))
                rows = cur.fetchall() if cur.description else []
            except Exception as exc:
                raise DatabaseError(f"{self.engine}: {exc}") from exc
            return [tuple(r) for r in rows]

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run a statement; return the rows it changed."""
        with self._lock:
            try:
                cur = self._live().execute(self._sql(sql), tuple(params))
            except Exception as exc:
                raise DatabaseError(f"{self.engine}: {exc}") from exc
            return int(cur.rowcount)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One transaction: committed at the end of the outermost block, rolled back on any
        exception."""
        with self._lock:
            if self._depth:  # inside an outer block: that block commits or rolls back
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            try:
                self._live().execute("BEGIN IMMEDIATE" if self.engine == "sqlite" else "BEGIN")
            except DatabaseError:
                raise
            except Exception as exc:
                raise DatabaseError(f"{self.engine}: {exc}") from exc
            self._depth = 1
            try:
                yield
            except BaseException:
                if not getattr(self._conn, "closed", False):
                    self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")
            finally:
                self._depth = 0

    def create_schema(self) -> None:
        """Create the tables that do not exist yet (idempotent)."""
        script = _SCHEMA.format(id=_ID_SQL[self.engine])
        with self.transaction():
            for statement in (s.strip() for s in script.split(";")):
                if statement:
                    self.execute(statement)
            for table, column, kind in _ADDED_COLUMNS:
                if column not in self.columns(table):
                    self.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
            if not self.query("SELECT version FROM central_schema"):
                self.execute("INSERT INTO central_schema (version) VALUES (?)", (SCHEMA_VERSION,))

    def columns(self, table: str) -> set[str]:
        """The column names of ``table``."""
        if self.engine == "sqlite":
            return {str(r[1]) for r in self.query(f"PRAGMA table_info({table})")}
        return {str(r[0]) for r in self.query(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
            "AND table_schema = current_schema()", (table,))}

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def open_database(url: str, *, create: bool = True) -> Database:
    """Open the central database named by ``url`` (and create its tables).

    Args:
        url: ``sqlite:///relative.db``, ``sqlite:////abs/path.db``, a bare path, or a
            PostgreSQL DSN (``postgresql://user@host/db``).
        create: create the schema's missing tables.

    Raises:
        DatabaseError: the database cannot be opened or prepared.
    """
    if url.startswith(("postgresql://", "postgres://")):
        try:
            import psycopg
        except ImportError as exc:
            raise DatabaseError("a PostgreSQL central database needs psycopg: "
                                "pip install 'smartlib-edge[postgres]'") from exc
        def connect() -> Any:
            return psycopg.connect(url, autocommit=True)

        try:
            conn: Any = connect()
        except psycopg.Error as exc:
            raise DatabaseError(f"cannot connect to the central PostgreSQL database: {exc}") from exc
        db = Database(conn, "postgresql", reconnect=connect)
    else:
        path = url.removeprefix("sqlite:///")
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA busy_timeout=30000")
        except (OSError, sqlite3.Error) as exc:
            raise DatabaseError(f"cannot open the central SQLite database {path}: {exc}") from exc
        db = Database(conn, "sqlite")
    if create:
        db.create_schema()
    return db
