"""Staff log-in lockout on the box: too many wrong passwords lock an account, and a client.

``[api] staff_login_max_failures`` failed log-ins for one account within
``staff_login_window_min`` minutes lock that account out on this box for
``staff_login_lockout_min`` minutes, as the central console locks its accounts after
repeated failures; ``staff_login_client_max_failures`` failures from one client address (any
accounts, unknown names too) lock that address out. A locked account or client is refused
before its password is checked (``staff_login_locked``, 423, both languages, with
``retry_after_s``), so a lockout cannot be probed with the right password either.

The counts live in the edge store (``store.staff_login_failures``: the wrong-PIN tables'
twin, keyed by a salted HMAC of ``account:NAME`` or ``client:ADDRESS``), so a restart forgets
nothing. Each failure and lockout is logged (user name and address, never the password) and
counted (``staff_login_failure``, ``staff_login_lockout``); a lockout is also a device event
and a staff alarm.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

from edge.errors import EdgeError
from edge.store import Store
from smartlib.config import ApiSection

log = logging.getLogger(__name__)


class StaffLoginGuard:
    """Applies the staff log-in lockout of one box.

    Args:
        store: the edge store (``staff_login_failures``, ``counters``, ``events``, ``alarms``).
        api: the ``[api]`` section (``staff_login_*``).
        device: this box's id, for the device events.
        clock: wall-clock seconds (tests pass their own).
    """

    def __init__(self, store: Store, api: ApiSection, *, device: str = "",
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.api = api
        self.device = device
        self.clock = clock

    def _subjects(self, username: str, client: str) -> list[tuple[str, bytes, int]]:
        repo = self.store.staff_login_failures
        return [("account", repo.subject(f"account:{username}"),
                 self.api.staff_login_max_failures),
                ("client", repo.subject(f"client:{client}"),
                 self.api.staff_login_client_max_failures)]

    def check(self, username: str, client: str) -> None:
        """Refuse a locked-out account or client.

        Raises:
            EdgeError: ``staff_login_locked`` (``retry_after_s`` in its detail).
        """
        now = self.clock()
        for what, subject, _ in self._subjects(username, client):
            until = self.store.staff_login_failures.locked_until(subject, now)
            if until is not None:
                log.warning("staff log-in for %r from %s refused: the %s is locked out",
                            username, client, what)
                raise _locked(until - now)

    def failed(self, username: str, client: str) -> None:
        """Count a failed log-in against the account and the client; lock either out at
        its limit.

        Raises:
            EdgeError: ``staff_login_locked`` when this failure locked one out.
        """
        api, now = self.api, self.clock()
        window_s, lockout_s = api.staff_login_window_min * 60, api.staff_login_lockout_min * 60
        repo = self.store.staff_login_failures
        repo.purge(now, window_s)
        locked: list[tuple[str, int]] = []
        for what, subject, limit in self._subjects(username, client):
            count = repo.record_failure(subject, now, window_s=window_s, max_failures=limit,
                                        lockout_s=lockout_s)
            log.warning("failed staff log-in for %r from %s (%s: %d of %d within %g min)",
                        username, client, what, count.failures, limit,
                        api.staff_login_window_min)
            if count.locked_until is not None:
                locked.append((what, count.failures))
        self.store.counters.incr("staff_login_failure")
        if not locked:
            return
        for what, failures in locked:
            target = f"account {username!r}" if what == "account" else f"client {client}"
            log.warning("staff log-in: %s locked out for %g min after %d failures", target,
                        api.staff_login_lockout_min, failures)
            detail = {"what": what, "username": username, "client": client,
                      "failures": failures, "minutes": api.staff_login_lockout_min}
            with self.store.transaction():
                self.store.counters.incr("staff_login_lockout")
                self.store.events.record(self.device, "staff_login_lockout", detail)
                self.store.alarms.raise_alarm(
                    "staff_login_lockout", f"staff log-in: {target} locked for "
                    f"{api.staff_login_lockout_min:g} min after {failures} failures",
                    device=self.device, detail=detail)
        raise _locked(lockout_s)

    def succeeded(self, username: str) -> None:
        """A log-in with the right password: forget the account's earlier failures."""
        repo = self.store.staff_login_failures
        repo.clear(repo.subject(f"account:{username}"))


def _locked(remaining_s: float) -> EdgeError:
    retry = max(1, math.ceil(remaining_s))
    return EdgeError("staff_login_locked",
                     f"too many failed log-ins; try again in {retry} s", retry_after_s=retry)
