"""Staff log-in for the central console: argon2 password hashes, lockout, sessions, CSRF.

A session is a random token in an HttpOnly cookie; the database keeps only its SHA-256, so a
copy of the database logs nobody in. Each session has its own CSRF token, which every
state-changing request must echo (a form field or the ``X-CSRF-Token`` header). Passwords
are never logged, stored or echoed in clear. This module does no HTTP itself.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from central.db import parse_stamp, stamp
from central.errors import LoginRefused, StaffError
from central.store import CentralStore, StaffAccount, StaffSession

log = logging.getLogger(__name__)

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
MIN_PASSWORD = 10
REFUSED = "wrong user name or password"


@dataclass(frozen=True)
class LoginPolicy:
    """How long sessions last and when repeated failures lock an account."""

    session_hours: float = 12.0
    lockout_failures: int = 5
    lockout_minutes: float = 15.0


@dataclass(frozen=True)
class LoggedIn:
    """A successful log-in: the cookie's raw token (shown once) and the session."""

    token: str
    session: StaffSession
    account: StaffAccount


def token_hash(token: str) -> str:
    """What the database keeps of a session token."""
    return hashlib.sha256(token.encode()).hexdigest()


class StaffAuth:
    """Accounts, log-in and sessions over the central store.

    Args:
        store: the central store.
        policy: session length and lockout.
        clock: returns the current aware time (tests move it).
        hasher: argon2 parameters (tests may pass cheaper ones).
    """

    def __init__(self, store: CentralStore, policy: LoginPolicy = LoginPolicy(), *,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 hasher: PasswordHasher | None = None) -> None:
        self.store = store
        self.policy = policy
        self.clock = clock
        self.hasher = hasher or PasswordHasher()
        self._dummy_hash = self.hasher.hash(secrets.token_urlsafe(16))

    def create_account(self, username: str, password: str, *, role: str,
                       display_name: str | None = None, actor: str = "cli") -> StaffAccount:
        """Create a staff account (the password is hashed with argon2id).

        Raises:
            StaffError: a bad user name, a short password, an unknown role, or a taken name.
        """
        if not USERNAME.match(username):
            raise StaffError(f"user name {username!r} must match {USERNAME.pattern}")
        if len(password) < MIN_PASSWORD:
            raise StaffError(f"the password must have at least {MIN_PASSWORD} characters")
        now = stamp(self.clock())
        account = self.store.staff.create(username, display_name or username, role,
                                          self.hasher.hash(password), now)
        self.store.audit.record(actor, "staff.create", f"staff:{username}", now, {"role": role})
        log.info("staff account %s created (%s) by %s", username, role, actor)
        return account

    def login(self, username: str, password: str) -> LoggedIn:
        """Check a password and open a session.

        Raises:
            LoginRefused: unknown user or wrong password (one message for both), a disabled
                account, or a locked one (``locked_until`` set).
        """
        now = self.clock()
        account = self.store.staff.find(username) if USERNAME.match(username) else None
        if account is None:
            self._verify(self._dummy_hash, password)  # the same time as for a real account
            raise LoginRefused(REFUSED)
        if account.locked_until is not None and parse_stamp(account.locked_until) > now:
            self.store.audit.record(username, "login.locked", f"staff:{username}", stamp(now))
            raise LoginRefused("this account is locked after repeated failures; try again later",
                               account.locked_until)
        if account.disabled:
            raise LoginRefused("this account is disabled")
        if not self._verify(account.password_hash, password):
            lock_until = stamp(now + timedelta(minutes=self.policy.lockout_minutes))
            after = self.store.staff.record_failure(username,
                                                    lock_after=self.policy.lockout_failures,
                                                    lock_until=lock_until)
            locked = after.locked_until == lock_until
            self.store.audit.record(username, "login.failed", f"staff:{username}", stamp(now),
                                    {"locked": locked})
            log.warning("failed log-in for staff %s%s", username, " (now locked)" if locked else "")
            if locked:
                raise LoginRefused("this account is locked after repeated failures; try again "
                                   "later", lock_until)
            raise LoginRefused(REFUSED)
        if self.hasher.check_needs_rehash(account.password_hash):
            self.store.staff.set_password_hash(username, self.hasher.hash(password))
        self.store.staff.record_login(username, stamp(now))
        token = secrets.token_urlsafe(32)
        session = self.store.sessions.create(
            token_hash(token), username, secrets.token_urlsafe(32), stamp(now),
            stamp(now + timedelta(hours=self.policy.session_hours)))
        self.store.sessions.delete_expired(stamp(now))
        self.store.audit.record(username, "login", f"staff:{username}", stamp(now))
        return LoggedIn(token, session, self.store.staff.get(username))

    def _verify(self, hashed: str, password: str) -> bool:
        try:
            return self.hasher.verify(hashed, password)
        except VerifyMismatchError:
            return False
        except (VerificationError, InvalidHashError) as exc:
            log.error("a stored password hash cannot be checked: %s", exc)
            return False

    def session(self, token: str | None) -> tuple[StaffSession, StaffAccount] | None:
        """The live session and account of a cookie's token (None: no, expired or disabled)."""
        if not token:
            return None
        session = self.store.sessions.find(token_hash(token), stamp(self.clock()))
        if session is None:
            return None
        account = self.store.staff.find(session.username)
        if account is None or account.disabled:
            return None
        return session, account

    def logout(self, token: str) -> None:
        self.store.sessions.delete(token_hash(token))

    @staticmethod
    def csrf_ok(session: StaffSession, submitted: str | None) -> bool:
        """True if ``submitted`` is the session's CSRF token (constant-time compare)."""
        return bool(submitted) and hmac.compare_digest(session.csrf_token, submitted or "")
