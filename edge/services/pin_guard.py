"""Wrong-PIN lockout: a credential is refused for a while after too many wrong PINs.

The site's policy sets the limits: ``pin_max_failures`` wrong PINs within
``pin_window_min`` minutes lock the credential out for ``pin_lockout_min`` minutes
(``pin_locked``, both languages). Online and offline wrong PINs count alike. The count
and the lockout live in the edge store (:class:`edge.store.PinFailureRepository`), so a
restart forgets neither; the identifier is kept only as a salted HMAC.

Every wrong PIN and every lockout is logged with the identifier masked and counted
(``pin_failure``, ``pin_lockout`` in the hourly counters: ``GET /stats``, ``/metrics``); a
lockout is also a device event and a staff alarm (``pin_lockout``, shown by the staff
console), all in one transaction. A PIN never reaches this module.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

from edge.errors import EdgeError
from edge.store import Store
from smartlib.config import PolicySection
from smartlib.logs import mask_identifier

log = logging.getLogger(__name__)


class PinGuard:
    """Applies the wrong-PIN policy for one edge.

    Args:
        store: the edge store (``pin_failures``, ``counters``, ``events``).
        policy: the site's policy (``pin_max_failures``, ``pin_window_min``,
            ``pin_lockout_min``).
        device: this box's id, for the device events.
        clock: wall-clock seconds (tests pass their own).
    """

    def __init__(self, store: Store, policy: PolicySection, *, device: str = "",
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.policy = policy
        self.device = device
        self.clock = clock

    def check(self, identifier: str) -> None:
        """Refuse a locked-out credential.

        Raises:
            EdgeError: ``pin_locked`` (``retry_after_s`` in its detail).
        """
        subject = self.store.pin_failures.subject(identifier)
        now = self.clock()
        until = self.store.pin_failures.locked_until(subject, now)
        if until is not None:
            raise _locked(until - now)

    def failed(self, identifier: str, *, offline: bool) -> None:
        """Count a wrong PIN; lock the credential out when the policy's limit is reached.

        Raises:
            EdgeError: ``pin_locked`` when this failure locked it out.
        """
        p, now = self.policy, self.clock()
        repo = self.store.pin_failures
        repo.purge(now, p.pin_window_min * 60)   # other cards' old failures, ended lockouts
        count = repo.record_failure(repo.subject(identifier), now,
                                    window_s=p.pin_window_min * 60,
                                    max_failures=p.pin_max_failures,
                                    lockout_s=p.pin_lockout_min * 60)
        masked = mask_identifier(identifier)
        where = "offline" if offline else "online"
        log.warning("wrong PIN for %s (%s; %d of %d within %g min)", masked, where,
                    count.failures, p.pin_max_failures, p.pin_window_min)
        self.store.counters.incr("pin_failure")
        if count.locked_until is None:
            return
        log.warning("%s locked out for %g min after %d wrong PINs", masked, p.pin_lockout_min,
                    count.failures)
        detail = {"patron": masked, "failures": count.failures, "minutes": p.pin_lockout_min,
                  "offline": offline}
        with self.store.transaction():
            self.store.counters.incr("pin_lockout")
            self.store.events.record(self.device, "pin_lockout", detail)
            self.store.alarms.raise_alarm(
                "pin_lockout", f"card {masked} locked for {p.pin_lockout_min:g} min after "
                f"{count.failures} wrong PINs", device=self.device, detail=detail)
        raise _locked(p.pin_lockout_min * 60)

    def succeeded(self, identifier: str) -> None:
        """A login with a correct PIN: forget the credential's earlier wrong PINs."""
        self.store.pin_failures.clear(self.store.pin_failures.subject(identifier))


def _locked(remaining_s: float) -> EdgeError:
    retry = max(1, math.ceil(remaining_s))
    return EdgeError("pin_locked", f"too many wrong PINs; try again in {retry} s",
                     retry_after_s=retry)
