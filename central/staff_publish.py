"""Publishing the central console's staff accounts to the sites' boxes.

Each box's staff console logs staff in with the same accounts and roles as the central
console, from a cached copy (so it works offline). The collector calls
:meth:`StaffAccountsPublisher.publish_due` every half second while connected: when the
accounts (user, role, argon2 hash, disabled) differ from what a site last got, the whole
list is published retained on ``{site}/staff/accounts``; after a reconnect,
:meth:`~StaffAccountsPublisher.publish_again` makes it publish once more. Passwords never
leave the console: only their argon2 hashes. This module does no MQTT itself.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from central.store import StaffRepository
from sync import topics
from sync.messages import StaffAccountEntry, StaffAccounts, encode

log = logging.getLogger(__name__)

_ROLES = ("viewer", "librarian", "admin")


class StaffAccountsPublisher:
    """Publishes the staff accounts to every site when they change.

    Args:
        staff: the console's staff accounts.
        sites: the sites to publish to (called each time: new sites are picked up).
        publish: sends ``(topic, payload)`` retained at QoS 1; False if it could not.
        clock: the current aware time.
    """

    def __init__(self, staff: StaffRepository, sites: Callable[[], list[str]],
                 publish: Callable[[str, bytes], bool], *,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._staff = staff
        self._sites = sites
        self._publish = publish
        self._clock = clock
        self._sent: dict[str, str] = {}

    def entries(self) -> list[StaffAccountEntry]:
        """The accounts as the boxes get them (accounts with an unknown role are left out)."""
        out = []
        for a in self._staff.list():
            if a.role not in _ROLES:
                log.warning("staff account %r has role %r: not published", a.username, a.role)
                continue
            out.append(StaffAccountEntry(username=a.username, role=a.role,  # type: ignore[arg-type]
                                         password_hash=a.password_hash, disabled=a.disabled))
        return out

    def publish_due(self) -> int:
        """Publish to each site whose last copy differs; returns how many sites got one."""
        entries = self.entries()
        digest = hashlib.sha256(b"\n".join(encode(e) for e in entries)).hexdigest()
        sent = 0
        for site in self._sites():
            if self._sent.get(site) == digest:
                continue
            msg = StaffAccounts(site=site, accounts=entries, at=self._clock())
            if not self._publish(topics.staff_accounts(site), encode(msg)):
                log.warning("staff accounts for site %s not published; again soon", site)
                continue
            self._sent[site] = digest
            sent += 1
            log.info("staff accounts published to site %s (%d accounts)", site, len(entries))
        return sent

    def publish_again(self) -> None:
        """Forget what was sent, so every site gets the accounts again (after a reconnect)."""
        self._sent.clear()
