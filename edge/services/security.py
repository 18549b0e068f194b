"""Security writes (AFI on-loan / in-stock, the EAS bit), journaled as tasks, retried.

Every write is a :class:`edge.store.SecurityTask` created *before* it is attempted. A
task is executed with up to ``attempts`` tries (each try is the reader's own verified
write with its own retries); a task that still fails goes to ``alarm_on``, raises a staff
alarm once, and is retried by :meth:`SecurityService.retry_open` until it succeeds or
staff abandon it. Completing a ``secure`` task journals its follow-up check-in in the same
SQLite transaction (see :mod:`edge.store.ops`).

Writes to one tag never overlap: :meth:`SecurityService.execute` holds the tag's lock and
re-reads the task under it, so a task another thread finished (or a newer intent
superseded) meanwhile is never written again. Before a release task is retried,
:meth:`SecurityService.retry_open` checks from the journal and the cache that its loan
still stands; a release whose loan has ended (refused, checked in since, or no longer
cached for that patron) is cancelled (``abandoned``, with the reason, and a device event),
never written to the tag.

Must not do: circulation decisions; it only executes what the journal says.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from drivers.errors import DriverError
from drivers.tags import SecurityState
from edge.devices import DeviceManager
from edge.errors import EdgeError
from edge.services.crash import crash_point
from edge.services.events import EventBus
from edge.services.locks import KeyedLocks
from edge.store import SecurityTask, Store, StoreError

log = logging.getLogger(__name__)

ItemGuard = Callable[[str], AbstractContextManager[bool]]
"""Takes an item's circulation lock if it is free (see ``SecurityService.retry_open``)."""


class SecurityService:
    """Runs security tasks against the reader.

    Args:
        store: the edge store.
        devices: the device manager that owns the reader.
        bus: where ``alarm`` events go.
        attempts: verified-write attempts per execution before ``alarm_on``.
        device_id: this box's id (for alarms).
    """

    def __init__(self, store: Store, devices: DeviceManager, bus: EventBus, *,
                 attempts: int = 2, device_id: str = "") -> None:
        self.store = store
        self.devices = devices
        self.bus = bus
        self.attempts = attempts
        self.device_id = device_id
        self._tags = KeyedLocks()

    def execute(self, task: SecurityTask) -> tuple[SecurityTask, str | None]:
        """Try the task's write; returns the task after it and a follow-up outbox key.

        The task ends ``done`` (success) or ``alarm_on`` (still failing; retried later).
        One write at a time per tag: a task that is no longer open when its tag's lock is
        taken (done or superseded meanwhile) is returned as it is, without a write.
        """
        with self._tags.hold(task.uid):
            task = self.store.security.get(task.id)
            if task.state == "done":
                return self.store.security.complete(task.id)  # changes nothing
            if task.state not in ("pending", "alarm_on"):
                return task, None
            return self._write(task)

    def _write(self, task: SecurityTask) -> tuple[SecurityTask, str | None]:
        state = SecurityState.RELEASED if task.action == "release" else SecurityState.SECURED
        error = ""
        for _ in range(max(1, self.attempts)):
            try:
                self.devices.write_security(task.uid, state)
                crash_point("after_security_write")
                return self.store.security.complete(task.id)
            except (DriverError, EdgeError) as exc:
                error = f"{type(exc).__name__}: {exc}"
                log.info("security %s of %s failed: %s", task.action, task.item_id, error)
        first_alarm = task.state != "alarm_on"
        after = self.store.security.record_failure(task.id, error, alarm=True)
        if first_alarm:
            kind = "loaned_alarm_on" if task.action == "release" else "not_secured"
            alarm = self.store.alarms.raise_alarm(
                kind, f"{task.action} of item {task.item_id} failed: {error}",
                device=self.device_id, item_id=task.item_id, uid=task.uid,
                detail={"task": task.id})
            self.bus.publish("alarm", alarm=alarm_json(alarm))
        return after, None

    def retry_open(self, *, present_uids: set[str] | None = None,
                   busy: set[str] | frozenset[str] = frozenset(),
                   item_guard: ItemGuard | None = None) -> list[SecurityTask]:
        """Retry every open task (only those whose tag is present, when given).

        Args:
            present_uids: only tasks for these tags.
            busy: transaction keys a live request is handling; their tasks (by ``txn_key``
                or follow-up key) are left to that request, which executes them itself.
            item_guard: the circulation's item lock, taken if free (``try_hold_item``): a
                return's secure task is retried only under it, and left alone while a live
                request holds its item (a new return of the book supersedes the task).

        Returns:
            The tasks after the retry.
        """
        out = []
        for task in self.store.security.open():
            if present_uids is not None and task.uid not in present_uids:
                continue
            if task.txn_key in busy or (task.follow_up or {}).get("key") in busy:
                continue
            if task.action == "secure" and task.follow_up and item_guard is not None:
                with item_guard(task.item_id) as free:
                    if free:
                        out.extend(self._retry_return(self.store.security.get(task.id)))
                continue
            out.extend(self._retry(task))
        return out

    def _retry(self, task: SecurityTask) -> list[SecurityTask]:
        if task.action == "release":
            ended = self.loan_ended(task)
            if ended:
                return [self._cancel(task, ended)]
        elif task.follow_up:
            return self._retry_return(task)
        done, _ = self.execute(task)
        if done.state == "done":
            self._after_done(done)
        return [done]

    def _retry_return(self, task: SecurityTask) -> list[SecurityTask]:
        if task.state not in ("pending", "alarm_on"):
            return []  # superseded or done by a request while we waited
        moved = self.return_superseded(task)
        if moved:
            out = [self._cancel(task, moved, what="secure")]
            release = self._release_if_loaned(task)
            if release is not None:
                out.append(release)
            return out
        done, _ = self.execute(task)
        return [done]

    def run_commands(self) -> list[str]:
        """Carry out the central console's ``retry_security`` commands now (the agent
        stored them); each ends ``done`` (the write succeeded) or ``failed`` with why.

        Returns:
            The ids of the commands finished.
        """
        finished = []
        for cmd in self.store.commands.pending("retry_security"):
            try:
                task = self.store.security.get(int(cmd.target))
            except (ValueError, StoreError) as exc:
                self.store.commands.finish(cmd.command_id, "failed", f"no security task: {exc}")
                finished.append(cmd.command_id)
                continue
            if task.state not in ("pending", "alarm_on"):
                self.store.commands.finish(cmd.command_id, "failed",
                                           f"security task {task.id} is {task.state}")
            else:
                after, _ = self.execute(task)
                if after.state == "done":
                    self._after_done(after)
                    self.store.commands.finish(cmd.command_id, "done")
                else:
                    self.store.commands.finish(cmd.command_id, "failed",
                                               after.last_error or f"task is {after.state}")
            finished.append(cmd.command_id)
        return finished

    def loan_ended(self, task: SecurityTask) -> str | None:
        """Why the loan a release task is for no longer stands, or None while it does.

        From the journal: its checkout was refused (or withdrawn), or a check-in of the
        item was journaled after it. From the cache: the item is no longer on loan to
        that checkout's patron (returned or lent elsewhere, as the central feed says).
        """
        entry = self.store.outbox.find(task.txn_key) if task.txn_key else None
        loan = self.store.cache.loan(task.item_id)
        if entry is not None:
            if entry.state in ("refused", "conflict", "failed") or \
                    (entry.result or {}).get("ok") is False:
                return f"checkout {entry.key} was {entry.state}"
            if self.store.outbox.ended_after(entry):
                return f"item {task.item_id} was checked in after checkout {entry.key}"
            if loan is None or (entry.patron_ref and loan.patron_id != entry.patron_ref):
                return f"the cache no longer has the loan of checkout {entry.key}"
            return None
        if loan is None:
            return f"the cache has no loan of item {task.item_id}"
        return None

    def return_superseded(self, task: SecurityTask) -> str | None:
        """Why a secure task that carries a return's check-in no longer stands, or None.

        The return failed at its secure write (the tag left the pad) and its check-in waits
        for the write. If the item moved on meanwhile (a transaction of it journaled here
        since, or the central feed's cache shows it lent to another patron), writing the tag
        would set the alarm of a loan, and the old check-in would end that loan at the ILS.
        If the cache had the loan at the return and has none now, the book was returned
        elsewhere (its return there secured the tag): the old check-in would be a second
        check-in of an item not on loan.
        """
        follow = task.follow_up or {}
        if self.store.outbox.journaled_since(task.item_id, task.created_at,
                                             exclude_key=follow.get("key")):
            return f"item {task.item_id} was journaled again after the return"
        loan = self.store.cache.loan(task.item_id)
        patron = follow.get("patron_ref")
        if loan is not None and patron and loan.patron_id != patron:
            return f"the cache has item {task.item_id} on loan to another patron"
        if loan is None and follow.get("cached_loan"):
            # The cache had the loan at the return; only the ILS's check-in (the central
            # feed) removes it, so it was returned elsewhere: this check-in would be a
            # second one, of an item no longer on loan.
            return f"the loan of item {task.item_id} ended elsewhere after the return"
        return None

    def _cancel(self, task: SecurityTask, reason: str, what: str = "release") -> SecurityTask:
        """Cancel a stale task: abandoned with ``reason``, never written, and a device event
        (``release_cancelled`` / ``secure_cancelled``); a return's check-in is dropped too."""
        with self._tags.hold(task.uid), self.store.transaction():
            self.store.security.abandon(task.id, f"stale {what}: {reason}")
            self.store.events.record(self.device_id, f"{what}_cancelled",
                                     {"task": task.id, "item_id": task.item_id,
                                      "uid": task.uid, "reason": reason})
        log.warning("%s task %d of %s cancelled, never written: %s", what, task.id,
                    task.item_id, reason)
        return self.store.security.get(task.id)

    def _release_if_loaned(self, task: SecurityTask) -> SecurityTask | None:
        """After a return's stale secure task is cancelled: when the item is on loan now
        (its newest transaction here lends or renews it, or none since and the cache has a
        loan), journal a release for the tag and try it. The failed secure write may have
        reached the tag before the tag left the pad (written, not verified): a loaned book
        with its alarm on would sound the gate, and nothing would say so. None when the loan
        does not stand or a release of the tag is open already."""
        newest = self.store.outbox.list(item_id=task.item_id, limit=1, newest_first=True)
        since = newest[0] if newest and newest[0].created_at > task.created_at else None
        if since is not None and (since.kind not in ("checkout", "renew")
                                  or since.state in ("refused", "conflict", "failed")):
            return None
        if self.store.cache.loan(task.item_id) is None:
            return None
        if any(t.uid == task.uid and t.action == "release" for t in self.store.security.open()):
            return None
        release = self.store.security.create(task.item_id, task.uid, "release",
                                             txn_key=since.key if since else None)
        log.warning("item %s is on loan and its tag may have been secured by the cancelled "
                    "return's write: release task %d", task.item_id, release.id)
        done, _ = self.execute(release)
        return done

    def _after_done(self, task: SecurityTask) -> None:
        if task.action == "release" and task.txn_key:
            entry = self.store.outbox.find(task.txn_key)
            if entry is not None and entry.state in ("applied", "pending", "sent"):
                self.bus.publish("item_status", session=None,
                                 item={"item_id": task.item_id, "status": "loaned",
                                       "title": "", "transaction": task.txn_key})


def alarm_json(alarm: Any) -> dict[str, Any]:
    """An alarm record as API JSON."""
    return {"id": alarm.id, "kind": alarm.kind, "device": alarm.device, "item_id": alarm.item_id,
            "uid": alarm.uid, "message": alarm.message, "created_at": alarm.created_at,
            "acked_at": alarm.acked_at}
