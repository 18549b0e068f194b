"""The leases a gateway holds while it works on transactions: kept alive, checked before a call.

A claim gives this gateway a lease of ``lease_s`` on each intent. A batch can take longer
than that (many calls over a few SIP2 connections, an ILS that answers slowly), and a lease
that runs out while its owner is still working lets another gateway (or this one's sweeper)
take the intent over and call the ILS a second time. So while it works on a key the gateway
extends the lease (:meth:`LeaseKeeper.renew`, every quarter of a lease): only a dead
gateway's leases run out. And right before each SIP2 call it checks that the lease will
outlast the call (:meth:`LeaseKeeper.check`): when renewals fail (the ledger database is
unreachable) the call is not made, and the intent is left to recover.

Must not do: call the ILS or MQTT; it only talks to the ledger.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping

from sync.errors import LeaseLostError
from sync.gateway.ledger import Ledger

log = logging.getLogger(__name__)


class LeaseKeeper:
    """The leases this gateway is working on, with the time each is known to last until.

    Args:
        ledger: the ledger (its ``lease_s`` and ``owner``).
        call_bound_s: how long one SIP2 call can last (connect, log in, request); a call is
            made only while the lease has at least this long left.
        clock: seconds since the epoch (the ledger's clock).
    """

    def __init__(self, ledger: Ledger, call_bound_s: float, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.ledger = ledger
        self.call_bound_s = call_bound_s
        self.clock = clock
        self._held: dict[str, float] = {}
        self._lock = threading.Lock()
        self.stats = {"renewals": 0, "lost": 0, "refused_calls": 0}

    @property
    def interval_s(self) -> float:
        """How often the leases are extended: a quarter of a lease."""
        return self.ledger.lease_s / 4

    def hold(self, leases: Mapping[str, float]) -> None:
        """Start keeping ``key → lease_until`` (as the claim committed it)."""
        with self._lock:
            self._held.update(leases)

    def drop(self, keys: Iterable[str]) -> None:
        """Stop keeping these leases (the key is finished, released or abandoned)."""
        with self._lock:
            for key in keys:
                self._held.pop(key, None)

    def held(self) -> dict[str, float]:
        """The leases kept now: ``key → lease_until``."""
        with self._lock:
            return dict(self._held)

    def renew(self) -> None:
        """Extend every lease kept (one ledger commit). A key whose lease is no longer ours
        is marked lost (its calls are refused); a failed commit changes nothing here (the
        leases then run down, and :meth:`check` refuses calls once they are short).

        Raises:
            LedgerError: the ledger could not be written.
        """
        with self._lock:  # held across the commit: a key dropped now is not extended after
            keys = list(self._held)
            if not keys:
                return
            until, kept = self.ledger.extend_leases(keys, now=self.clock())
            self.stats["renewals"] += 1
            for key in keys:
                if key in kept:
                    self._held[key] = until
                elif self._held.get(key, 0.0) > 0.0:
                    self._held[key] = 0.0
                    self.stats["lost"] += 1
                    log.error("lease on %s lost while this gateway was working on it", key)

    def check(self, key: str) -> None:
        """Raise unless the lease on ``key`` will outlast a SIP2 call made now.

        Raises:
            LeaseLostError: the lease is not kept here, was lost, or has less than
                ``call_bound_s`` left.
        """
        with self._lock:
            until = self._held.get(key)
        if until is None:
            raise LeaseLostError(f"no lease on {key} is kept by this gateway; not called")
        left = until - self.clock()
        if left < self.call_bound_s:
            self.stats["refused_calls"] += 1
            raise LeaseLostError(
                f"the lease on {key} has {max(left, 0.0):.1f}s left, and a SIP2 call may "
                f"take {self.call_bound_s:.1f}s; not called")
