"""Cache deltas, at most one message per site per window.

Every box of a site receives, stores and acknowledges every cache delta of its site: with
one delta per applied batch, a busy site's boxes spent most of their time on deltas (a
10x fleet: 16 deltas a second per box, against 1.8 results). :class:`DeltaWindow` sends
a site's first change at once and gathers what follows for ``window_s``, then sends it
in one delta; an idle site's change therefore goes without delay, and a busy site sends
at most one delta per window whatever its rate::

    changes ─► add(site, outcomes) ──► quiet for window_s? ─► publish now
                                   └─► otherwise gathered; the flusher publishes it
                                       window_s after the site's last delta

Within a window the last change of an item wins (a check-out then a check-in of one book
is sent as its return, not as both). Each gateway of a pool has its own window, so two
gateways' deltas may cross; each change carries when its transaction was journaled (a
loan's ``loaned_at``, a return's ``returned_at``) and the edge keeps an item's latest
(:meth:`edge.store.CacheRepository.apply_delta`). What a gateway killed inside its window
held is sent again when it restarts: :meth:`oldest_pending` is part of the mark it records
in the ledger (:class:`sync.gateway.service.Gateway`, docs/sync.md, The delta window).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime

from sync.gateway.applier import Outcome
from sync.messages import CacheDelta, CacheLoan

log = logging.getLogger(__name__)

Change = CacheLoan | datetime | None
"""An item's last change in a window: its loan, or its return (when the check-in was
journaled, or None when not known)."""


class DeltaWindow:
    """Gathers a site's cache changes and publishes them at most once per ``window_s``.

    Args:
        publish: sends one site's delta (called in order for each site, one at a time).
        window_s: the least time between two deltas of a site (0: one per batch).
        clock: monotonic seconds (tests drive it).
    """

    def __init__(self, publish: Callable[[str, CacheDelta], None], *, window_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if window_s < 0:
            raise ValueError(f"delta window must be 0 or more seconds, not {window_s}")
        self._publish = publish
        self.window_s = window_s
        self._clock = clock
        self._cond = threading.Condition()
        self._pending: dict[str, dict[str, Change]] = {}
        self._due: dict[str, float] = {}
        """Site → when its gathered changes go (monotonic)."""
        self._last: dict[str, float] = {}
        """Site → when its last delta went."""
        self.sent = 0
        """Delta messages published (each site's delta counts once)."""
        self._since: dict[str, float] = {}
        """Site → the ``at`` of its oldest change gathered and not yet published."""

    def oldest_pending(self) -> float | None:
        """The completion time (``at``) of the oldest change gathered and not yet published;
        None when everything gathered went. A gateway records the lesser of this and its
        batches' in flight as its mark: a restart sends again what was completed after it."""
        with self._cond:
            return min(self._since.values(), default=None)

    def add(self, site: str, outcomes: Iterable[Outcome], *, at: float | None = None) -> None:
        """A batch's changes to ``site``'s cache, in the order they were applied; ``at``:
        when they were completed in the ledger (see :meth:`oldest_pending`)."""
        with self._cond:
            if at is not None and site not in self._since:
                self._since[site] = at
            pending = self._pending.setdefault(site, {})
            for o in outcomes:
                if o.loan is not None:
                    pending.pop(o.loan.item_id, None)  # keeps the dict in change order
                    pending[o.loan.item_id] = o.loan
                elif o.returned is not None:
                    pending.pop(o.returned, None)
                    pending[o.returned] = o.returned_at
            if not pending:
                del self._pending[site]
                self._since.pop(site, None)
                return
            if site in self._due:
                return  # a delta of this site is gathering: it goes when its window ends
            now = self._clock()
            last = self._last.get(site)
            if last is None or now - last >= self.window_s:
                self._send(site, now)
            else:
                self._due[site] = last + self.window_s
                self._cond.notify()

    def flush_due(self) -> float | None:
        """Publish every site whose window has ended; returns when the next one ends (None:
        nothing gathered)."""
        with self._cond:
            now = self._clock()
            for site in [s for s, due in self._due.items() if due <= now]:
                del self._due[site]
                self._send(site, now)
            return min(self._due.values(), default=None)

    def flush_all(self) -> None:
        """Publish everything gathered now (the gateway is stopping)."""
        with self._cond:
            now = self._clock()
            for site in list(self._pending):
                self._due.pop(site, None)
                self._send(site, now)

    def run(self, stop: threading.Event) -> None:
        """The flusher thread: publishes gathered deltas as their windows end, until ``stop``
        is set and :meth:`wake` called (what is left goes with :meth:`flush_all`)."""
        while not stop.is_set():
            self.flush_due()
            with self._cond:
                if stop.is_set():
                    return
                if self._due:
                    self._cond.wait(max(0.0, min(self._due.values()) - self._clock()))
                else:
                    self._cond.wait()

    def wake(self) -> None:
        """Wake the flusher thread (the gateway is stopping)."""
        with self._cond:
            self._cond.notify_all()

    def _send(self, site: str, now: float) -> None:
        changes = self._pending.pop(site, {})
        self._since.pop(site, None)
        loans = [c for c in changes.values() if isinstance(c, CacheLoan)]
        returned = {item: c for item, c in changes.items() if not isinstance(c, CacheLoan)}
        self._last[site] = now
        if not loans and not returned:
            return
        delta = CacheDelta(site=site, loans=loans, returned_items=list(returned),
                           returned_at={i: at for i, at in returned.items() if at is not None})
        self.sent += 1
        try:
            # In the lock: a site's deltas are published in the order they were gathered.
            self._publish(site, delta)
        except Exception:
            # A delta is a cache hint (the ledger holds the truth, a snapshot rebuilds it):
            # logged with what it held, never retried out of order.
            log.exception("cache delta of %s not published (%d loan(s), %d return(s))",
                          site, len(loans), len(returned))
