"""Staff log-ins on the box, against the cached copy of the central console's accounts.

:func:`log_in` verifies a user name and password with argon2 against
``store.staff_accounts`` (the sync agent keeps it from the centre's retained staff message,
so log-ins work while the box is offline) and returns a short-lived bearer token for the
staff console's JavaScript. The token is ``s1.<payload>.<mac>``: the user name, role and
expiry signed with HMAC-SHA-256 under a per-box key kept in the store's ``meta`` table, so
no session table is needed and a restart keeps sessions. :func:`session_of` checks one and
re-reads the account, so a disabled account or a changed role takes effect at once.
Passwords are never logged or stored.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import logging
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, cast

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from edge.errors import EdgeError

if TYPE_CHECKING:
    from edge.store import Store

log = logging.getLogger(__name__)

SESSION_SECONDS = 8 * 3600
"""How long a staff log-in lasts (a shift); the console asks again after it."""
_KEY = "access.session_key"
_PREFIX = "s1."
_REFUSED = "wrong user name or password"
_hasher = PasswordHasher()

StaffRole = Literal["viewer", "librarian", "admin"]


@dataclass(frozen=True, slots=True)
class StaffSession:
    """A checked staff session."""

    username: str
    role: StaffRole
    expires_at: int


@functools.cache
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(16))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _key(store: Store) -> bytes:
    key = store.meta.get(_KEY)
    if key is None:
        with store.transaction() as conn:
            conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)",
                         (_KEY, secrets.token_hex(32)))
        key = store.meta.get(_KEY)
    return bytes.fromhex(str(key))


def _mac(store: Store, payload: str) -> str:
    return _b64(hmac.new(_key(store), payload.encode(), hashlib.sha256).digest())


def log_in(store: Store, username: str, password: str, now: float | None = None) -> tuple[str, StaffSession]:
    """Verify ``username``/``password`` against the cached accounts; returns the bearer
    token and its session.

    Raises:
        EdgeError: 401 ``login_refused`` for an unknown or disabled account or a wrong
            password (the same message for each, so names cannot be probed).
    """
    account = store.staff_accounts.get(username)
    ok = False
    # An unknown or disabled account costs one argon2 verify too, so timing tells no names.
    known = account is not None and not account.disabled
    try:
        ok = _hasher.verify(account.password_hash if known and account else _dummy_hash(),
                            password) and known
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok or account is None:
        log.info("staff log-in refused for %r", username)
        raise EdgeError("login_refused", _REFUSED, status=401)
    expires = int(now if now is not None else time.time()) + SESSION_SECONDS
    payload = _b64(json.dumps({"u": account.username, "r": account.role, "exp": expires},
                              separators=(",", ":")).encode())
    token = f"{_PREFIX}{payload}.{_mac(store, payload)}"
    log.info("staff %r logged in on the box (%s)", account.username, account.role)
    return token, StaffSession(account.username, cast("StaffRole", account.role), expires)


def session_of(store: Store, token: str, now: float | None = None) -> StaffSession | None:
    """The live session a bearer token carries, or ``None`` (not a session token, forged,
    expired, or its account is gone or disabled)."""
    if not token.startswith(_PREFIX) or len(token) > 1024:
        return None
    payload, _, mac = token[len(_PREFIX):].partition(".")
    if not hmac.compare_digest(mac.encode(), _mac(store, payload).encode()):
        return None
    try:
        claims = json.loads(_unb64(payload))
        username, expires = str(claims["u"]), int(claims["exp"])
    except (ValueError, KeyError, TypeError):
        return None
    if expires <= (now if now is not None else time.time()):
        return None
    account = store.staff_accounts.get(username)
    if account is None or account.disabled:
        return None
    return StaffSession(username, cast("StaffRole", account.role), expires)
