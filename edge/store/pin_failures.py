"""Wrong PINs per credential and the lockouts they cause, durable across restarts.

A credential is never stored in clear here: it is named by its *subject*, an HMAC-SHA256 of
the identifier under a random salt of this box (kept in ``meta`` as ``pin_guard.salt``,
made on first use), so the table alone does not list patrons. No PIN is ever passed in or
stored. Times are wall-clock seconds since the epoch (a lockout must outlive a restart).

This module decides nothing: the limits come from the caller (``edge.services.pin_guard``
applies the site's policy); it only counts and records, one transaction per change.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edge.store.connection import Connection

SALT_KEY = "pin_guard.salt"


@dataclass(frozen=True, slots=True)
class PinFailureCount:
    """What one wrong PIN led to: the failures in the window and the lockout, if any."""

    failures: int
    locked_until: float | None


class PinFailureRepository:
    """Counts failures per subject and records lockouts: wrong PINs (``pin_failures``,
    ``pin_lockouts``), or, with ``table_prefix="staff_login"``, failed staff log-ins."""

    def __init__(self, store: Connection, table_prefix: str = "pin") -> None:
        if table_prefix not in ("pin", "staff_login"):
            raise ValueError(f"no failure tables named {table_prefix}_failures")
        self._store = store
        self._salt: bytes | None = None
        self._failures = f"{table_prefix}_failures"
        self._lockouts = f"{table_prefix}_lockouts"

    def subject(self, identifier: str) -> bytes:
        """The salted HMAC that names ``identifier`` in these tables (32 raw bytes: kept as a
        blob, not as digits, so no run of digits such as a PIN can appear in it by chance)."""
        return hmac.new(self._box_salt(), identifier.encode(), hashlib.sha256).digest()

    def _box_salt(self) -> bytes:
        if self._salt is None:
            with self._store.transaction() as conn:
                row = conn.execute("SELECT value FROM meta WHERE key = ?", (SALT_KEY,)).fetchone()
                if row is None:
                    value = base64.b64encode(os.urandom(32)).decode()
                    conn.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (SALT_KEY, value))
                else:
                    value = str(row["value"])
            self._salt = base64.b64decode(value)
        return self._salt

    def locked_until(self, subject: bytes, now: float) -> float | None:
        """When the lockout of ``subject`` ends, or ``None`` when it is not locked out now."""
        row = self._store.query_one(f"SELECT until FROM {self._lockouts} WHERE subject = ? AND until > ?",
                                    (subject, now))
        return None if row is None else float(row["until"])

    def record_failure(self, subject: bytes, now: float, *, window_s: float, max_failures: int,
                       lockout_s: float) -> PinFailureCount:
        """Count one wrong PIN; lock ``subject`` out when it reaches ``max_failures`` in
        ``window_s`` (its failures are then cleared, the lockout counts from ``now``)."""
        with self._store.transaction() as conn:
            conn.execute(f"DELETE FROM {self._failures} WHERE subject = ? AND at <= ?",
                         (subject, now - window_s))
            conn.execute(f"INSERT INTO {self._failures} (subject, at) VALUES (?, ?)", (subject, now))
            n = int(conn.execute(f"SELECT COUNT(*) FROM {self._failures} WHERE subject = ?",
                                 (subject,)).fetchone()[0])
            if n < max_failures:
                return PinFailureCount(n, None)
            until = now + lockout_s
            conn.execute(f"DELETE FROM {self._failures} WHERE subject = ?", (subject,))
            conn.execute(f"INSERT OR REPLACE INTO {self._lockouts} (subject, until, failures, locked_at) "
                         "VALUES (?, ?, ?, ?)", (subject, until, n, now))
            return PinFailureCount(n, until)

    def clear(self, subject: bytes) -> None:
        """Forget the failures of ``subject`` (after a successful login)."""
        with self._store.transaction() as conn:
            conn.execute(f"DELETE FROM {self._failures} WHERE subject = ?", (subject,))

    def unlock(self, subject: bytes) -> bool:
        """End a lockout early (staff); False when there was none."""
        with self._store.transaction() as conn:
            cur = conn.execute(f"DELETE FROM {self._lockouts} WHERE subject = ?", (subject,))
            conn.execute(f"DELETE FROM {self._failures} WHERE subject = ?", (subject,))
            return cur.rowcount > 0

    def purge(self, now: float, window_s: float) -> int:
        """Drop ended lockouts and failures older than ``window_s``; the rows removed."""
        with self._store.transaction() as conn:
            a = conn.execute(f"DELETE FROM {self._lockouts} WHERE until <= ?", (now,)).rowcount
            b = conn.execute(f"DELETE FROM {self._failures} WHERE at <= ?", (now - window_s,)).rowcount
            return int(a + b)
