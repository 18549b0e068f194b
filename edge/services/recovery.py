"""Finishing what a crash interrupted, and the background work of a running edge.

At start (and then every few seconds) :meth:`RecoveryService.run_once`:

* finishes every journaled transaction that has a result but that the edge has not
  handled (a checkout applied while nobody waited: release tasks + cached loan; a
  check-in: cache update; a renewal sent but unanswered when the patron's wait ended: the
  new due date in the cached loan; refusals: just marked handled), skipping those a live
  request is handling, and claiming each in the transaction that finishes it (one a live
  request claimed meanwhile is left to it);
* one entry that cannot be finished (it raises) is logged with its key, reported in
  :attr:`RecoveryReport.failed` and left for the next pass; the others, and the security
  retries, go on;
* carries out the central console's ``retry_security`` commands, then retries every
  open security task (``pending`` and ``alarm_on``); a release whose loan
  has ended is cancelled instead (see :mod:`edge.services.security`);
* returns a :class:`RecoveryReport` that ``serve`` logs at start, so every journaled
  transaction and security task is either finished or reported.

Must not do: send anything (the agent does) or decide circulation policy.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from edge.services.circulation import CirculationService, renewed_items
from edge.services.security import SecurityService
from edge.store import LoanRecord, OutboxEntry, Store

log = logging.getLogger(__name__)


@dataclass
class RecoveryReport:
    """What one recovery pass did and what is still open."""

    finished: list[str] = field(default_factory=list)
    open_transactions: list[str] = field(default_factory=list)
    tasks_done: list[int] = field(default_factory=list)
    tasks_alarm_on: list[int] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    """Transactions whose finishing raised (logged with their key; tried again next pass)."""

    def summary(self) -> str:
        """One line for the log."""
        return (f"finished {len(self.finished)} transaction(s), {len(self.open_transactions)} "
                f"still waiting for the gateway, {len(self.failed)} failed to finish; "
                f"security tasks done {len(self.tasks_done)}, "
                f"alarm still on {len(self.tasks_alarm_on)}")


class RecoveryService:
    """Completes interrupted work; also run periodically by the API's lifespan."""

    def __init__(self, store: Store, circulation: CirculationService,
                 security: SecurityService) -> None:
        self.store = store
        self.circulation = circulation
        self.security = security
        self._lock = threading.Lock()
        self._failures: dict[str, int] = {}

    def _failed_once(self, e: OutboxEntry, exc: Exception) -> None:
        """Log a failed finish: with the traceback the first time, then one line per pass."""
        n = self._failures[e.key] = self._failures.get(e.key, 0) + 1
        if n == 1:
            log.exception("recovery of %s %s (%s) failed; left unhandled, tried again on the "
                          "next pass", e.kind, e.key, e.state)
        else:
            log.warning("recovery of %s %s still fails (%d passes): %s: %s", e.kind, e.key, n,
                        type(exc).__name__, exc)

    def run_once(self, *, retry_tasks: bool = True) -> RecoveryReport:
        """One pass; thread-safe (a second caller waits)."""
        report = RecoveryReport()
        with self._lock:
            busy = set(self.circulation.in_progress)
            for e in self.store.outbox.unhandled():
                if e.key in busy:
                    continue
                if e.is_open:
                    report.open_transactions.append(e.key)
                    continue
                try:
                    self.finish(e)
                except Exception as exc:  # noqa: BLE001 - one entry must not stop the pass
                    self._failed_once(e, exc)
                    report.failed.append(e.key)
                    continue
                self._failures.pop(e.key, None)
                report.finished.append(e.key)
            if retry_tasks:
                self.security.run_commands()  # the central console's "retry now" first
                # the live set: a request that starts during this pass keeps its tasks
                for task in self.security.retry_open(busy=self.circulation.in_progress,
                                                     item_guard=self.circulation.try_hold_item):
                    (report.tasks_done if task.state == "done" else report.tasks_alarm_on).append(
                        task.id)
        return report

    def finish(self, e: OutboxEntry) -> None:
        """Do the edge's steps after the result of ``e`` (idempotent: only the first to
        claim the entry, this pass or a live request, does them)."""
        res = e.result or {}
        ok = e.state == "applied" and res.get("ok", True) is not False
        with self.store.transaction():
            if not self.store.outbox.claim(e.key):
                log.info("%s %s was finished meanwhile by a live request", e.kind, e.key)
                return
            if e.kind == "checkout" and ok and e.offline:
                # Accepted offline: released and cached then; only the due date may change.
                loan = self.store.cache.loan(e.item_id or "")
                if loan is not None and res.get("due_date"):
                    self.store.cache.record_loan(LoanRecord(
                        loan.item_id, loan.patron_id, res["due_date"], loan.loaned_at, True))
            elif e.kind == "checkout" and ok:
                for uid in e.payload.get("uids", []):
                    self.store.security.create(e.item_id or "", uid, "release", txn_key=e.key)
                self.store.cache.record_loan(LoanRecord(
                    e.item_id or "", e.patron_ref or "", res.get("due_date")
                    or e.payload.get("nb_due_date"), e.created_at, e.offline))
                self.store.counters.incr("checkout")
            elif e.kind == "checkin" and ok:
                self.store.cache.record_return(e.item_id or "", journaled_at=e.created_at)
                self.store.counters.incr("return")
            elif e.kind in ("renew", "renew_all") and ok:
                # A renewal that answered after the patron's wait: the follow-up records it.
                # A renew-all names the renewed items only (no due dates: SIP2 66 has none),
                # so their cached due date becomes unknown rather than stay the old one.
                if e.kind == "renew_all":
                    dues: dict[str, str | None] = dict.fromkeys(renewed_items(res, e.key))
                else:
                    dues = {e.item_id or "": res.get("due_date")}
                for item_id, due in dues.items():
                    loan = self.store.cache.loan(item_id)
                    if loan is None:
                        continue
                    new_due = str(due) if due else (None if e.kind == "renew_all"
                                                    else loan.due_date)
                    self.store.cache.record_loan(LoanRecord(
                        loan.item_id, loan.patron_id, new_due, loan.loaned_at, loan.offline))
                    self.store.counters.incr("renew")
                    log.info("late renewal of %s applied (due %s)", loan.item_id, new_due)
        log.info("recovered %s %s (%s)", e.kind, e.key, e.state)
