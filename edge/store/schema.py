"""The store's schema as an ordered list of migrations (``PRAGMA user_version`` = applied).

Each migration is a SQL script run inside one transaction by :func:`migrate`. Add a new
migration at the end; never edit one that has shipped. This module must not import
anything but the standard library.

Tables (see ``docs/edge.md`` for the meaning of every column):

* cache, rebuilt from the central snapshot: ``items``, ``patrons``, ``loans``, ``holds``,
  ``snapshots`` (progress of chunked snapshots);
* journal: ``outbox`` (transactions, one row each, idempotency key = UUID),
  ``conflicts``, ``lookups`` (request/response patron and item look-ups);
* security and operations: ``security_tasks``, ``alarms``, ``counters`` (per hour),
  ``device_events``, ``meta``;
* the site view (version 2), written by the sync agent from what the site's other boxes
  publish: ``site_devices`` (last retained status of each device), ``site_stats`` (the
  latest counters of each device per hour), ``site_alarms`` (alarms of other devices);
* remote configuration (version 4): ``remote_config`` (each version received from the
  central console, its outcome and its acknowledgement);
* central commands (version 5): ``commands`` (retry/abandon a security task, resolve a
  conflict; stored once per id, acted on, acknowledged);
* wrong PINs (version 6): ``pin_failures`` (one row per wrong PIN, within the window) and
  ``pin_lockouts`` (a locked-out credential until when), keyed by a salted HMAC.
* owner ISIL (version 7): ``items.owner_isil`` (the library owning each item, for offline
  transit hints);
* access (version 8): ``device_tokens`` (each API client's token, hashed) and
  ``staff_accounts`` (the cached copy of the central console's staff accounts).
* staff log-in lockout (version 9): ``staff_login_failures`` and ``staff_login_lockouts``,
  as the wrong-PIN tables, keyed by a salted HMAC of the account or the client address.
"""

from __future__ import annotations

import sqlite3

from edge.store.errors import SchemaTooNew

OUTBOX_STATES = ("pending", "sent", "applied", "refused", "conflict", "failed")

_V1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

CREATE TABLE items (
    item_id  TEXT PRIMARY KEY,
    title    TEXT NOT NULL DEFAULT '',
    usage    INTEGER NOT NULL DEFAULT 1,
    value    INTEGER NOT NULL DEFAULT 0,
    parts    INTEGER NOT NULL DEFAULT 1,
    location TEXT NOT NULL DEFAULT '',
    snap     INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE patrons (
    patron_id    TEXT PRIMARY KEY,
    display_name TEXT NOT NULL DEFAULT '',
    blocked      INTEGER NOT NULL DEFAULT 0,
    block_reason TEXT,
    loan_limit   INTEGER NOT NULL DEFAULT 10,
    pin_hash     TEXT,
    expires_on   TEXT,
    verified_at  TEXT,
    snap         INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE loans (
    item_id   TEXT PRIMARY KEY,
    patron_id TEXT NOT NULL,
    due_date  TEXT,
    loaned_at TEXT,
    offline   INTEGER NOT NULL DEFAULT 0,
    snap      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX loans_patron ON loans(patron_id);

CREATE TABLE holds (
    item_id         TEXT NOT NULL,
    patron_id       TEXT NOT NULL,
    ready           INTEGER NOT NULL DEFAULT 0,
    pickup_location TEXT NOT NULL DEFAULT '',
    position        INTEGER NOT NULL DEFAULT 1,
    snap            INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (item_id, patron_id)
) WITHOUT ROWID;
CREATE INDEX holds_patron ON holds(patron_id);

CREATE TABLE snapshots (
    id         INTEGER PRIMARY KEY,
    kind       TEXT NOT NULL,
    name       TEXT NOT NULL,
    chunks     INTEGER NOT NULL,
    received   TEXT NOT NULL DEFAULT '[]',
    completed_at TEXT,
    created_at TEXT NOT NULL,
    UNIQUE (kind, name)
);

CREATE TABLE outbox (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    key        TEXT NOT NULL UNIQUE,
    kind       TEXT NOT NULL,
    item_id    TEXT,
    patron_ref TEXT,
    payload    TEXT NOT NULL,
    state      TEXT NOT NULL DEFAULT 'pending'
               CHECK (state IN ('pending','sent','applied','refused','conflict','failed')),
    attempts   INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    sent_at    TEXT,
    applied_at TEXT,
    offline    INTEGER NOT NULL DEFAULT 0,
    result     TEXT,
    handled_at TEXT
);
CREATE INDEX outbox_open ON outbox(state, seq) WHERE state IN ('pending','sent');
CREATE INDEX outbox_item ON outbox(item_id, seq);
CREATE INDEX outbox_unhandled ON outbox(seq) WHERE handled_at IS NULL;

CREATE TABLE conflicts (
    id          INTEGER PRIMARY KEY,
    key         TEXT NOT NULL UNIQUE,
    kind        TEXT NOT NULL,
    item_id     TEXT,
    patron_ref  TEXT,
    reason      TEXT NOT NULL DEFAULT '',
    detail      TEXT NOT NULL DEFAULT '{}',
    created_at  TEXT NOT NULL,
    resolved_at TEXT
);

CREATE TABLE lookups (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    request     TEXT NOT NULL,
    state       TEXT NOT NULL DEFAULT 'pending'
                CHECK (state IN ('pending','sent','answered','failed')),
    response    TEXT,
    created_at  TEXT NOT NULL,
    answered_at TEXT
);
CREATE INDEX lookups_pending ON lookups(created_at) WHERE state = 'pending';

CREATE TABLE security_tasks (
    id         INTEGER PRIMARY KEY,
    item_id    TEXT NOT NULL,
    uid        TEXT NOT NULL,
    action     TEXT NOT NULL CHECK (action IN ('release','secure')),
    state      TEXT NOT NULL DEFAULT 'pending'
               CHECK (state IN ('pending','alarm_on','done','abandoned')),
    attempts   INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    txn_key    TEXT,
    follow_up  TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX security_open ON security_tasks(state) WHERE state IN ('pending','alarm_on');

CREATE TABLE alarms (
    id         INTEGER PRIMARY KEY,
    kind       TEXT NOT NULL,
    device     TEXT NOT NULL DEFAULT '',
    item_id    TEXT,
    uid        TEXT,
    message    TEXT NOT NULL DEFAULT '',
    detail     TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    acked_at   TEXT,
    acked_by   TEXT
);

CREATE TABLE counters (
    hour  TEXT NOT NULL,
    name  TEXT NOT NULL,
    value INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (hour, name)
) WITHOUT ROWID;

CREATE TABLE device_events (
    id     INTEGER PRIMARY KEY,
    device TEXT NOT NULL,
    kind   TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '{}',
    at     TEXT NOT NULL
);
"""

_V2 = """
CREATE TABLE site_devices (
    device          TEXT PRIMARY KEY,
    role            TEXT NOT NULL DEFAULT '',
    state           TEXT NOT NULL CHECK (state IN ('online','offline')),
    since           TEXT NOT NULL,
    backlog         INTEGER,
    reader          TEXT,
    reader_failures INTEGER,
    reported_at     TEXT NOT NULL,
    received_at     TEXT NOT NULL
);

CREATE TABLE site_stats (
    device      TEXT NOT NULL,
    hour        TEXT NOT NULL,
    counters    TEXT NOT NULL DEFAULT '{}',
    received_at TEXT NOT NULL,
    PRIMARY KEY (device, hour)
) WITHOUT ROWID;

CREATE TABLE site_alarms (
    device      TEXT NOT NULL,
    alarm_id    INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    source      TEXT,
    item_id     TEXT,
    uid         TEXT,
    title       TEXT,
    direction   TEXT,
    message     TEXT NOT NULL DEFAULT '',
    detail      TEXT NOT NULL DEFAULT '{}',
    created_at  TEXT NOT NULL,
    acked_at    TEXT,
    received_at TEXT NOT NULL,
    PRIMARY KEY (device, alarm_id)
);
CREATE INDEX site_alarms_created ON site_alarms(created_at);
"""

_V3 = """
-- card_reader.identity = "mapping": the card UID (in the site's format) that identifies
-- a patron, from the central snapshot and deltas.
ALTER TABLE patrons ADD COLUMN card_uid TEXT;
CREATE INDEX patrons_card_uid ON patrons(card_uid);
"""

_V4 = """
-- Remote configurations from the central console (edge.store.remote_config): received by
-- the sync agent, applied or refused by the edge, acknowledged by the agent.
CREATE TABLE remote_config (
    version       INTEGER PRIMARY KEY,
    sha256        TEXT NOT NULL,
    document      TEXT NOT NULL,
    by            TEXT,
    received_at   TEXT NOT NULL,
    state         TEXT NOT NULL DEFAULT 'received'
                  CHECK (state IN ('received', 'applied', 'failed')),
    needs_restart TEXT NOT NULL DEFAULT '[]',
    reason        TEXT,
    decided_at    TEXT,
    ack_sent_at   TEXT
);
"""

_V5 = """
-- Commands from the central console (smartlib/v1/{site}/{device}/command), stored by the
-- agent once per id; the edge acts on them and the agent acknowledges the outcome.
CREATE TABLE commands (
    command_id  TEXT PRIMARY KEY,
    action      TEXT NOT NULL,
    target      TEXT NOT NULL,
    resolution  TEXT,
    issued_by   TEXT NOT NULL DEFAULT '',
    state       TEXT NOT NULL DEFAULT 'pending',
    outcome     TEXT,
    received_at TEXT NOT NULL,
    finished_at TEXT,
    acked_at    TEXT
);
CREATE INDEX commands_state ON commands(state, acked_at);
"""

_V6 = """
-- Wrong PINs (policy.pin_*): a credential is named by an HMAC of its identifier under the
-- box's own salt (meta 'pin_guard.salt'), never in clear; no PIN is ever stored here.
CREATE TABLE pin_failures (
    id      INTEGER PRIMARY KEY,
    subject BLOB NOT NULL,
    at      REAL NOT NULL
);
CREATE INDEX pin_failures_subject ON pin_failures(subject, at);

CREATE TABLE pin_lockouts (
    subject     BLOB PRIMARY KEY,
    until       REAL NOT NULL,
    failures    INTEGER NOT NULL,
    locked_at   REAL NOT NULL
) WITHOUT ROWID;
"""

_V7 = """
-- The ISIL of the library owning each item (gateway import's owner_isil column): a return
-- at a site with another ISIL gets a transit hint even offline.
ALTER TABLE items ADD COLUMN owner_isil TEXT;
"""

_V8 = """
-- Per-device API tokens (edge.store.access): only a salted SHA-256 of each token is kept.
CREATE TABLE IF NOT EXISTS device_tokens (
    name       TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    rotated_at TEXT,
    revoked_at TEXT
);
-- The central console's staff accounts, cached for offline log-ins (edge.store.access):
-- written by the sync agent from the site's retained staff message.
CREATE TABLE IF NOT EXISTS staff_accounts (
    username      TEXT PRIMARY KEY,
    role          TEXT NOT NULL CHECK (role IN ('viewer', 'librarian', 'admin')),
    password_hash TEXT NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0,
    received_at   TEXT NOT NULL
);
"""

_V9 = """
-- Failed staff log-ins on the box (edge.services.login_guard): per account and per client,
-- named by an HMAC under the box's salt, as pin_failures; no password is ever stored here.
CREATE TABLE staff_login_failures (
    id      INTEGER PRIMARY KEY,
    subject BLOB NOT NULL,
    at      REAL NOT NULL
);
CREATE INDEX staff_login_failures_subject ON staff_login_failures(subject, at);

CREATE TABLE staff_login_lockouts (
    subject     BLOB PRIMARY KEY,
    until       REAL NOT NULL,
    failures    INTEGER NOT NULL,
    locked_at   REAL NOT NULL
) WITHOUT ROWID;
"""

_V10 = """
-- The last return of each item the cache was told of, with when its check-in was journaled
-- (edge.store.cache): a loan journaled before it, arriving late from another gateway's
-- delta, is not cached again.
CREATE TABLE cache_returns (
    item_id      TEXT PRIMARY KEY,
    journaled_at TEXT NOT NULL
) WITHOUT ROWID;
"""

MIGRATIONS: tuple[str, ...] = (_V1, _V2, _V3, _V4, _V5, _V6, _V7, _V8, _V9, _V10)
"""``MIGRATIONS[n]`` takes the schema from version ``n`` to ``n + 1``."""

SCHEMA_VERSION = len(MIGRATIONS)


def current_version(conn: sqlite3.Connection) -> int:
    """Return the schema version recorded in the database file."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, target: int = SCHEMA_VERSION) -> list[int]:
    """Apply every migration the database lacks, each in its own transaction.

    Args:
        conn: a connection in autocommit mode (``isolation_level=None``).
        target: the version to reach (tests use lower values).

    Returns:
        The versions reached, in order (empty when already current).

    Raises:
        SchemaTooNew: the file's version is newer than this release knows.
    """
    have = current_version(conn)
    if have > SCHEMA_VERSION:
        raise SchemaTooNew(
            f"database schema version {have} is newer than this release's {SCHEMA_VERSION}; "
            "upgrade smartlib or restore a backup")
    done = []
    for version in range(have, target):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(MIGRATIONS[version]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        done.append(version + 1)
    return done


def _statements(script: str) -> list[str]:
    out, buf = [], ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            if buf.strip():
                out.append(buf.strip())
            buf = ""
    if buf.strip():
        out.append(buf.strip())
    return out
