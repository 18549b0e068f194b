"""Scan tokens: the edge's word that an identifier came through its own scan reading.

``POST /scans`` reads a keyboard-wedge scan by the scanner's rules and answers the
identifier with a *scan token*: random, single use, short-lived (``policy.scan_token_s``)
and bound to that identifier. ``POST /sessions`` accepts a ``barcode`` or ``card`` source
only with such a token; without one the credential counts as typed (``manual``), which
needs a PIN. So a client cannot skip the PIN by naming a source. Logins from the edge's own
card reader or serial scanner (``POST /sessions/card``) need no token: the edge read them.

Tokens live in memory only (a restart voids them; the patron scans again). This module
stores no identifier beyond a token's short life and logs none.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from drivers.credential import CredentialSource

MAX_OPEN = 1024
"""Unused tokens kept at most (the oldest goes first)."""


@dataclass(frozen=True, slots=True)
class _Issued:
    identifier: str
    source: CredentialSource
    expires: float


class ScanTokens:
    """Issues and redeems scan tokens. Thread-safe.

    Args:
        ttl_s: how long a token stays good.
        clock: monotonic seconds (tests pass their own).
    """

    def __init__(self, ttl_s: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.clock = clock
        self._open: OrderedDict[str, _Issued] = OrderedDict()
        self._lock = threading.Lock()

    def issue(self, identifier: str, source: CredentialSource = "barcode") -> str:
        """A new token for ``identifier`` read as ``source``."""
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._open[token] = _Issued(identifier, source, self.clock() + self.ttl_s)
            while len(self._open) > MAX_OPEN:
                self._open.popitem(last=False)
        return token

    def redeem(self, token: str | None, identifier: str) -> CredentialSource | None:
        """The source ``token`` vouches for, once; ``None`` when it is missing, unknown,
        used, expired or issued for another identifier (it is spent either way)."""
        if not token:
            return None
        with self._lock:
            issued = self._open.pop(token, None)
        if issued is None or issued.expires <= self.clock():
            return None
        if not hmac.compare_digest(issued.identifier.encode(), identifier.encode()):
            return None
        return issued.source
