"""Who may use a box's API: per-device tokens and the cached staff accounts (schema v5).

* ``device_tokens``: one token per API client (the kiosk UI, later others), named. Only a
  SHA-256 of the box's salt (``meta`` key ``access.token_salt``, made on first use) and the
  token is kept; a lookup hashes the presented token and finds it by its hash, so the clear
  token is never stored and is shown once, by :meth:`DeviceTokenRepository.issue` or
  :meth:`~DeviceTokenRepository.rotate`.
* ``staff_accounts``: the central console's staff accounts (user, role, argon2 hash,
  disabled), written by the sync agent from the site's retained staff message
  (:meth:`StaffAccountRepository.replace_all`) and read by the edge to verify staff log-ins
  when the box is offline as well as online.

This module knows no HTTP, MQTT or settings and verifies no passwords (the edge does).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from edge.store.connection import utcnow
from edge.store.errors import InvalidState

if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Iterable

    from edge.store.connection import Connection

STAFF_ROLES = ("viewer", "librarian", "admin")
_SALT_KEY = "access.token_salt"


@dataclass(frozen=True, slots=True)
class DeviceToken:
    """One named API client's token (its hash is not exposed)."""

    name: str
    created_at: str
    rotated_at: str | None
    revoked_at: str | None

    @property
    def active(self) -> bool:
        """Not revoked."""
        return self.revoked_at is None


@dataclass(frozen=True, slots=True)
class CachedStaffAccount:
    """A staff account as the centre published it."""

    username: str
    role: str
    password_hash: str
    disabled: bool
    received_at: str


class DeviceTokenRepository:
    """Issue, rotate, revoke, list and check the box's per-device tokens."""

    def __init__(self, connection: Connection) -> None:
        self._c = connection
        self._salt: str | None = None

    def _box_salt(self, conn: sqlite3.Connection | None = None) -> str:
        if self._salt is None:
            row = self._c.query_one("SELECT value FROM meta WHERE key = ?", (_SALT_KEY,))
            if row is None:
                if conn is None:
                    with self._c.transaction() as txn:
                        return self._box_salt(txn)
                conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)",
                             (_SALT_KEY, secrets.token_hex(16)))
                row = conn.execute("SELECT value FROM meta WHERE key = ?", (_SALT_KEY,)).fetchone()
            self._salt = str(row[0])
        return self._salt

    def _hash(self, token: str, conn: sqlite3.Connection | None = None) -> str:
        return hashlib.sha256((self._box_salt(conn) + ":" + token).encode()).hexdigest()

    def issue(self, name: str) -> str:
        """A new token for client ``name``; returns the clear token (shown once).

        Raises:
            InvalidState: ``name`` already has an active token (rotate it instead).
        """
        _check_name(name)
        token = secrets.token_urlsafe(32)
        with self._c.transaction() as conn:
            row = conn.execute("SELECT revoked_at FROM device_tokens WHERE name = ?",
                               (name,)).fetchone()
            if row is not None and row[0] is None:
                raise InvalidState(f"device token {name!r} already exists; rotate it instead")
            conn.execute("INSERT OR REPLACE INTO device_tokens (name, token_hash, created_at) "
                         "VALUES (?, ?, ?)", (name, self._hash(token, conn), utcnow()))
        return token

    def rotate(self, name: str) -> str:
        """Replace the token of ``name``: the old one stops working; returns the new one.

        Raises:
            InvalidState: ``name`` has no active token.
        """
        token = secrets.token_urlsafe(32)
        with self._c.transaction() as conn:
            cur = conn.execute("UPDATE device_tokens SET token_hash = ?, rotated_at = ? "
                               "WHERE name = ? AND revoked_at IS NULL",
                               (self._hash(token, conn), utcnow(), name))
            if cur.rowcount != 1:
                raise InvalidState(f"no active device token {name!r}")
        return token

    def revoke(self, name: str) -> None:
        """Revoke the token of ``name`` (it stops working at once).

        Raises:
            InvalidState: ``name`` has no active token.
        """
        with self._c.transaction() as conn:
            cur = conn.execute("UPDATE device_tokens SET revoked_at = ? "
                               "WHERE name = ? AND revoked_at IS NULL", (utcnow(), name))
            if cur.rowcount != 1:
                raise InvalidState(f"no active device token {name!r}")

    def list(self) -> list[DeviceToken]:
        """Every token ever issued, by name (revoked ones too)."""
        return [DeviceToken(r["name"], r["created_at"], r["rotated_at"], r["revoked_at"])
                for r in self._c.query("SELECT name, created_at, rotated_at, revoked_at "
                                       "FROM device_tokens ORDER BY name")]

    def any_active(self) -> bool:
        """Whether at least one token is active (the shared bootstrap token then stops)."""
        return self._c.query_one("SELECT 1 FROM device_tokens WHERE revoked_at IS NULL "
                                 "LIMIT 1") is not None

    def name_of(self, token: str) -> str | None:
        """The client whose active token this is, or ``None``.

        The lookup is by the salted hash (an index lookup on a 256-bit digest), so it
        reveals nothing about how close a wrong token came.
        """
        if not token:
            return None
        row = self._c.query_one("SELECT name FROM device_tokens "
                                "WHERE token_hash = ? AND revoked_at IS NULL",
                                (self._hash(token),))
        return None if row is None else str(row["name"])


class StaffAccountRepository:
    """The cached copy of the central console's staff accounts."""

    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def replace_all(self, accounts: Iterable[tuple[str, str, str, bool]]) -> int:
        """Replace the cache with ``(username, role, argon2 hash, disabled)`` rows (one
        transaction); returns how many accounts it now holds.

        Raises:
            InvalidState: a row has an unknown role.
        """
        now = utcnow()
        rows = list(accounts)
        for _, role, _, _ in rows:
            if role not in STAFF_ROLES:
                raise InvalidState(f"unknown staff role {role!r}")
        with self._c.transaction() as conn:
            conn.execute("DELETE FROM staff_accounts")
            conn.executemany("INSERT INTO staff_accounts (username, role, password_hash, "
                             "disabled, received_at) VALUES (?, ?, ?, ?, ?)",
                             [(u, r, h, int(d), now) for u, r, h, d in rows])
        return len(rows)

    def get(self, username: str) -> CachedStaffAccount | None:
        """The cached account ``username``, or ``None``."""
        r = self._c.query_one("SELECT * FROM staff_accounts WHERE username = ?", (username,))
        if r is None:
            return None
        return CachedStaffAccount(r["username"], r["role"], r["password_hash"],
                                  bool(r["disabled"]), r["received_at"])

    def count(self) -> int:
        """How many accounts are cached (0: the centre has published none yet)."""
        row = self._c.query_one("SELECT COUNT(*) FROM staff_accounts")
        return int(row[0]) if row is not None else 0


def _check_name(name: str) -> None:
    if not name or len(name) > 64 or not all(c.isalnum() or c in "-_." for c in name):
        raise InvalidState(f"device token name {name!r}: 1-64 letters, digits, '-', '_', '.'")
