"""Security writes (AFI on-loan / in-stock, the EAS bit), journaled as tasks, retried.

Every write is a :class:`edge.store.SecurityTask` created *before* it is attempted. A
task is executed with up to ``attempts`` tries (each try is the reader's own verified
write with its own retries); a task that still fails goes to ``alarm_on``, raises a staff
alarm once, and is retried by :meth:`SecurityService.retry_open` until it succeeds or
staff abandon it. Completing a ``secure`` task journals its follow-up check-in in the same
SQLite transaction (see :mod:`edge.store.ops`).

Must not do: circulation decisions; it only executes what the journal says.
"""

from __future__ import annotations

import logging
from typing import Any

from drivers.errors import DriverError
from drivers.tags import SecurityState
from edge.devices import DeviceManager
from edge.errors import EdgeError
from edge.services.crash import crash_point
from edge.services.events import EventBus
from edge.store import SecurityTask, Store

log = logging.getLogger(__name__)


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

    def execute(self, task: SecurityTask) -> tuple[SecurityTask, str | None]:
        """Try the task's write; returns the task after it and a follow-up outbox key.

        The task ends ``done`` (success) or ``alarm_on`` (still failing; retried later).
        """
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
                   busy: set[str] | frozenset[str] = frozenset()) -> list[SecurityTask]:
        """Retry every open task (only those whose tag is present, when given).

        Args:
            present_uids: only tasks for these tags.
            busy: transaction keys a live request is handling; their tasks (by ``txn_key``
                or follow-up key) are left to that request, which executes them itself.

        Returns:
            The tasks after the retry.
        """
        out = []
        for task in self.store.security.open():
            if present_uids is not None and task.uid not in present_uids:
                continue
            if task.txn_key in busy or (task.follow_up or {}).get("key") in busy:
                continue
            done, _ = self.execute(task)
            if done.state == "done":
                self._after_done(done)
            out.append(done)
        return out

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
