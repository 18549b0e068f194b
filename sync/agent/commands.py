"""The central console's commands → the edge store, their outcomes and the box's failed
security tasks → the broker.

* A :class:`~sync.messages.Command` on ``…/{device}/command`` is stored by the receiver's
  thread, in its batch transaction, before the PUBACK (:meth:`CommandChannel.store_message`):
  ``store.commands.receive`` journals it once per id and does at once what the store can
  do (abandon a security task, resolve a conflict), or nothing when it arrives after its
  ``expires_at`` (then it is answered ``failed``); a ``retry_security`` waits for the
  edge's security service, which runs it and records the outcome.
* Each finished command is acknowledged with a :class:`~sync.messages.CommandAck` on
  ``…/command/ack`` (QoS 1), marked sent after the broker's PUBACK, so an outcome is
  re-sent after a crash or a lost connection, never lost.
* The box's failed security tasks (``alarm_on``) go as one retained
  :class:`~sync.messages.SecurityTaskReport` on ``…/security`` whenever they change (and
  after each reconnect).

This module touches the edge store only through its repositories; it never writes a tag.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import paho.mqtt.client as mqtt

from sync import topics
from sync.agent.context import AgentContext, PubackTracker
from sync.errors import InvalidMessageError
from sync.messages import (
    MAX_REPORTED_TASKS,
    Command,
    CommandAck,
    SecurityTaskReport,
    SecurityTaskState,
    decode,
    encode,
)
from sync.mqtt import ReceivedMessage

log = logging.getLogger(__name__)


def _stamp(value: str) -> str:
    return value if value.endswith(("Z", "+00:00")) else value + "Z"


class CommandChannel:
    """Stores commands, publishes their outcomes and the failed security task report.

    Args:
        ctx: the agent's context.
        acks: routes the PUBACKs of the acknowledgements back here.
    """

    def __init__(self, ctx: AgentContext, acks: PubackTracker) -> None:
        self.ctx = ctx
        self.acks = acks
        self._lock = threading.Lock()
        self._in_flight: dict[int, str] = {}
        self._sending: set[str] = set()
        self._last_report: str | None = None

    @property
    def topic(self) -> str:
        return topics.command(self.ctx.site, self.ctx.device)

    def reconnected(self) -> None:
        """A new connection: unacknowledged outcomes go again, the report is re-published."""
        with self._lock:
            self._in_flight.clear()
            self._sending.clear()
            self._last_report = None

    # ---- receiving (the receiver's thread, inside its transaction) ----------------------------

    def store_message(self, msg: ReceivedMessage) -> None:
        """Journal a command (idempotent by its id).

        Raises:
            InvalidMessageError: not a valid command, or one for another box.
        """
        cmd = decode(Command, msg.payload)
        if (cmd.site, cmd.device) != (self.ctx.site, self.ctx.device):
            raise InvalidMessageError(f"command for {cmd.site}/{cmd.device} on our topic")
        record, new = self.ctx.store.commands.receive(
            cmd.command_id, cmd.action, cmd.target, issued_by=cmd.issued_by,
            resolution=cmd.resolution, expires_at=cmd.expires_at)
        log.info("central command %s %s %s by %s: %s%s", cmd.command_id, cmd.action, cmd.target,
                 cmd.issued_by, record.state, "" if new else " (again)")
        if not new and record.acked_at is not None:
            # A re-delivery of a command already answered: answer again.
            self.ctx.store.commands.resend_ack(cmd.command_id)

    # ---- publishing (the sender's thread) ------------------------------------------------------

    def publish(self) -> None:
        """Acknowledge the finished commands and publish the task report if it changed."""
        self._acks()
        self._report()

    def _on_puback(self, mid: int, rc: Any) -> None:
        with self._lock:
            command_id = self._in_flight.pop(mid, None)
            if command_id is None:
                return
            self._sending.discard(command_id)
        if rc.is_failure:
            log.warning("broker refused the acknowledgement of command %s (%s)", command_id, rc)
            return
        self.ctx.store.commands.mark_acked(command_id)

    def _acks(self) -> None:
        ctx = self.ctx
        for cmd in ctx.store.commands.unacked():
            with self._lock:
                if cmd.command_id in self._sending:
                    continue
            ack = CommandAck(command_id=cmd.command_id, site=ctx.site, device=ctx.device,
                             action=cmd.action, outcome=cmd.state, reason=cmd.outcome)
            info = ctx.client.publish(topics.command_ack(ctx.site, ctx.device), encode(ack),
                                      qos=1)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                return
            with self._lock:
                self._in_flight[info.mid] = cmd.command_id
                self._sending.add(cmd.command_id)
            self.acks.track(info.mid, self._on_puback)

    def _report(self) -> None:
        ctx = self.ctx
        failed = ctx.store.security.open(states=("alarm_on",))[:MAX_REPORTED_TASKS]
        report = SecurityTaskReport(site=ctx.site, device=ctx.device, tasks=[
            SecurityTaskState(task_id=t.id, item=t.item_id, uid=t.uid, action=t.action,
                              state=t.state, attempts=t.attempts,
                              last_error=(t.last_error or "")[:500] or None,
                              created_at=_stamp(t.created_at), updated_at=_stamp(t.updated_at))
            for t in failed])
        fingerprint = report.model_dump_json(exclude={"at"})
        if fingerprint == self._last_report:
            return
        info = ctx.client.publish(topics.security_tasks(ctx.site, ctx.device), encode(report),
                                  qos=1, retain=True)
        if info.rc == mqtt.MQTT_ERR_SUCCESS:
            self._last_report = fingerprint
