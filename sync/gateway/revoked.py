"""The revoked-devices list a gateway checks on every message.

The central console writes it (``smartlib central revoke``, or the console's enrolment
page) as JSON, ``{"revoked": [{"site", "device", "revoked_at"}, …]}``, replacing the file
atomically; the gateway re-reads it when its modification time or size changes (one
``stat`` per message), so a revocation takes effect without a restart. This module only
reads the file.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

from sync.errors import SyncError

log = logging.getLogger(__name__)


class RevokedDevices:
    """``(site, device)`` pairs the central console revoked, from ``path``.

    A missing file means nothing is revoked; an unreadable or malformed one raises at the
    first read (at start) and, later, keeps the last good list with an error logged (a
    half-written file never unrevokes a device).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._seen: tuple[int, int] | None = None
        self._pairs: frozenset[tuple[str, str]] = frozenset()
        self._load(first=True)

    def _load(self, *, first: bool = False) -> None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            self._seen, self._pairs = None, frozenset()
            return
        except OSError as exc:
            if first:
                raise SyncError(f"cannot read the revoked list {self.path}: {exc}") from exc
            log.error("cannot read the revoked list %s: %s (keeping the last one)", self.path, exc)
            return
        mark = (st.st_mtime_ns, st.st_size)
        if mark == self._seen:
            return
        try:
            rows = json.loads(self.path.read_text(encoding="utf-8"))["revoked"]
            pairs = frozenset((str(r["site"]), str(r["device"])) for r in rows)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            if first:
                raise SyncError(f"the revoked list {self.path} is malformed: {exc}") from exc
            log.error("the revoked list %s is malformed: %s (keeping the last one)",
                      self.path, exc)
            return
        if pairs != self._pairs:
            log.warning("revoked devices now: %s",
                        ", ".join(f"{s}/{d}" for s, d in sorted(pairs)) or "none")
        self._seen, self._pairs = mark, pairs

    def is_revoked(self, site: str, device: str) -> bool:
        """Whether ``site``/``device`` is revoked (the file re-read if it changed)."""
        with self._lock:
            self._load()
            return (site, device) in self._pairs
