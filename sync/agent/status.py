"""Status: this box's retained status on the broker, and the gateways' reachability for
the edge.

A retained ``online`` (with the backlog, the reader's and printer's states and the box's
process starts) is published after each connect, again when those facts change, and at least every
``[sync] status_heartbeat_s`` unchanged (the heartbeat that keeps the central console's
*last seen* true); the last will (set on the client) and a clean stop publish
``offline``. The backlog is the work that waits: the open entries journaled more than
``[sync] status_backlog_age_s`` ago. Every box of the site receives each status, so an
entry answered in milliseconds must not re-publish it; a box cut off from the gateways
shows its backlog growing after that age. The edge reads ``meta agent.connectivity``
(``/health``, the kiosk): connected to the broker, and no sign that the gateways stopped
answering.

This module publishes the status and writes the connectivity; nothing else.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt

from edge.store import stamp
from smartlib import __version__
from sync import topics
from sync.agent.context import AgentContext
from sync.messages import DeviceStatus, encode, utcnow

log = logging.getLogger(__name__)

Facts = tuple[int | None, str | None, int | None, tuple[tuple[str, int], ...], str | None]


class Status:
    """The box's retained status and the connectivity the edge sees.

    Args:
        ctx: the agent's context.
        unanswered_for: ``(silence, now)`` → a sent transaction has waited that long.
        gateways_alive: ``(stale_s)`` → a gateway's heartbeat came within ``stale_s``
            (None: no gateway says it is online).
    """

    def __init__(self, ctx: AgentContext, *,
                 unanswered_for: Callable[[float, float], bool],
                 gateways_alive: Callable[[float], bool | None] = lambda _s: None) -> None:
        self.ctx = ctx
        self._unanswered_for = unanswered_for
        self._gateways_alive = gateways_alive
        self.topic = topics.status(ctx.site, ctx.device)
        self._online: bool | None = None
        self._last_heard = time.monotonic()
        self._sent: Facts | None = None
        self._next = 0.0
        self._heartbeat_due = 0.0
        self._since: datetime | None = None

    def reconnected(self) -> None:
        """A new connection: the status goes again at once (with a new ``since``)."""
        self._since = utcnow()
        self._sent = None
        self.heard()

    def heard(self) -> None:
        """Something came from the broker side (a result, a reply, a cache message)."""
        self._last_heard = time.monotonic()

    def offline(self) -> DeviceStatus:
        """The status of this box stopping (or its last will)."""
        ctx = self.ctx
        return DeviceStatus(site=ctx.site, device=ctx.device, state="offline", role=ctx.role,
                            since=utcnow())

    def _facts(self) -> Facts:
        """The backlog (open entries older than ``status_backlog_age_s``), the reader's last
        state and its failures of the last 24 hours, the box's process starts, the receipt
        printer's last state."""
        backlog = reader = failures = None
        starts: tuple[tuple[str, int], ...] = ()
        printer = None
        store = self.ctx.store
        try:
            backlog = store.outbox.open_count(older_than_s=self.ctx.tuning.status_backlog_age_s)
            day_ago = stamp(datetime.now(UTC) - timedelta(hours=24))
            reader, failures = store.events.reader_summary(day_ago)
            if reader is None:
                failures = None  # a box without a reader (or before its first report)
            starts = tuple(sorted(store.meta.process_starts().items()))
            printer = store.events.printer_state()
        except Exception:
            log.exception("cannot read the backlog and reader state for the status")
        return backlog, reader, failures, starts, printer

    def publish_if_changed(self) -> None:
        """Publish ``online`` with the current facts (looked at every ``ops_interval_s``)
        when they changed, or unchanged when ``status_heartbeat_s`` has passed since the
        last one."""
        ctx = self.ctx
        now = time.monotonic()
        if self._sent is not None and now < self._next:
            return
        self._next = now + ctx.tuning.ops_interval_s
        facts = self._facts()
        if facts == self._sent and now < self._heartbeat_due:
            return
        backlog, reader, failures, starts, printer = facts
        msg = DeviceStatus(site=ctx.site, device=ctx.device, state="online", role=ctx.role,
                           backlog=backlog, since=self._since, reader=reader,  # type: ignore[arg-type]
                           reader_failures=failures, software=__version__,
                           starts=dict(starts) or None, printer=printer)  # type: ignore[arg-type]
        info = ctx.client.publish(self.topic, encode(msg), qos=1, retain=True)
        if info.rc == mqtt.MQTT_ERR_SUCCESS:
            self._sent = facts
            self._heartbeat_due = now + ctx.tuning.status_heartbeat_s
            ctx.stats.statuses += 1

    def gateway_reachable(self) -> bool:
        """Connected to the broker, and no sign that the gateways stopped answering: the
        gateways' heartbeats are not stale, and nothing sent waits for too long."""
        if not self.ctx.connected.is_set():
            return False
        if self._gateways_alive(self.ctx.tuning.gateway_stale_s) is False:
            return False
        now = time.monotonic()
        silence = self.ctx.tuning.gateway_silence_s
        if now - self._last_heard < silence:
            return True
        return not self._unanswered_for(silence, now)

    def update_connectivity(self) -> None:
        """Write ``meta agent.connectivity`` (read by ``/health`` and the kiosk) on change."""
        online = self.gateway_reachable()
        if online == self._online:
            return
        self.ctx.store.meta.set_connectivity(online)
        self._online = online
        log.info("connectivity to the broker and gateways: %s", "online" if online else "offline")
        self.ctx.store.ring("edge")
