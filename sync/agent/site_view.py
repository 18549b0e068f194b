"""The site view: what the site's other devices publish, into the store's site tables.

The agent subscribes to its site's retained statuses, statistics and staff alarms
(``topics.site_filters``) and writes them into :class:`edge.store.SiteRepository` for the
staff console. A gateway's status turning from ``offline`` to ``online`` makes every
unanswered entry go again at once. A gateway repeats its retained ``online`` with every
heartbeat: one that says online but has sent nothing for ``gateway_stale_s`` has stopped
working (:meth:`SiteView.gateways_alive`). A box (re)joining makes the ops streams publish the
last day's counters again (statistics are not retained).

This module reads messages and writes the store; it publishes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sync import topics
from sync.agent.context import AgentContext
from sync.errors import InvalidMessageError
from sync.messages import Alarm, DeviceStatus, Statistics, decode
from sync.mqtt import ReceivedMessage


class SiteView:
    """Stores the site's statuses, statistics and alarms (ours excepted)."""

    def __init__(self, ctx: AgentContext, *, gateway_back: Callable[[], None]) -> None:
        from edge.store import SiteRepository

        self.ctx = ctx
        self.repo = SiteRepository(ctx.store)
        self._gateway_back = gateway_back
        self._gateways: dict[str, tuple[str, object, float]] = {}
        """Gateway → its last state, ``since`` and when that status arrived (monotonic)."""
        self._replay_stats = False

    def reconnected(self) -> None:
        """A new connection: gateways are learnt again from their retained statuses."""
        self._gateways.clear()

    def take_replay_stats(self) -> bool:
        """Whether a box (re)joined since the last call (it gets our last day's counts)."""
        replay, self._replay_stats = self._replay_stats, False
        return replay

    def gateways_alive(self, stale_s: float) -> bool | None:
        """Whether a gateway that says it is online has sent a status (its heartbeat)
        within ``stale_s``; None when no gateway says it is online (nothing to judge by)."""
        now = time.monotonic()
        online = [at for state, _since, at in self._gateways.values() if state == "online"]
        if not online:
            return None
        return any(now - at < stale_s for at in online)

    def store_message(self, ref: topics.TopicRef, msg: ReceivedMessage) -> None:
        """A device's status, statistics or alarm, into the site view (our own alarms and
        counters are in the store already: only their status is kept).

        Raises:
            InvalidMessageError: the payload is invalid or names another device.
        """
        device = ref.device
        assert device is not None
        if not msg.payload:
            return  # a cleared retained status
        m: DeviceStatus | Statistics | Alarm
        if ref.kind == "status":
            m = decode(DeviceStatus, msg.payload)
        elif ref.kind in ("stats", "stats/live"):
            m = decode(Statistics, msg.payload)
        else:
            m = decode(Alarm, msg.payload)
        if (m.site, m.device) != (ref.site, device):
            raise InvalidMessageError(f"payload names {m.site}/{m.device} but came on "
                                      f"{ref.site}/{device}")
        if isinstance(m, DeviceStatus):
            self._status(device, m, retained=msg.retain)
        elif device == self.ctx.device:
            return
        elif isinstance(m, Statistics):
            self.repo.record_stats(device, m.period_start, m.counters)
        else:
            if m.alarm_id is None:
                raise InvalidMessageError("an alarm of the site view needs its alarm_id")
            self.repo.record_alarm(device, m.alarm_id, m.kind, created_at=m.at,
                                   source=m.source, item_id=m.item, uid=m.uid,
                                   title=m.title, direction=m.direction,
                                   message=m.message, detail=m.detail, acked_at=m.acked_at)

    def _status(self, device: str, m: DeviceStatus, *, retained: bool) -> None:
        before = self.repo.device(device)
        self.repo.record_status(device, m.state, role=m.role, backlog=m.backlog,
                                since=m.since, reader=m.reader,
                                reader_failures=m.reader_failures, reported_at=m.at)
        came = m.state == "online" and (before is None or before.state != "online")
        if came and m.role != "gateway" and device != self.ctx.device:
            self._replay_stats = True  # a box (re)joined: it gets our last day's counts
        if m.role != "gateway":
            return
        was = self._gateways.get(device)
        self._gateways[device] = (m.state, m.since, time.monotonic())
        # A gateway publishes "online" on every connect, and again with each heartbeat (the
        # same ``since``): a live (not retained) "online" with a new ``since`` is a gateway
        # that just (re)connected, even when the retained status already said online (a
        # broker restart keeps the old one).
        came = m.state == "online" and (
            was is None and not retained
            or was is not None and (was[0] == "offline" or not retained and was[1] != m.since))
        if came and self.ctx.tuning.resend_on_gateway_online:
            # A gateway seen offline on this connection came back: what it may have missed
            # goes again now (on a connect everything goes anyway; a broker restart drops
            # what reached a shared subscription with no gateway on it, and an online copy
            # may have expired in the broker).
            self._gateway_back()
            extra = self.ctx.stats.extra
            extra["gateway_online_resends"] = extra.get("gateway_online_resends", 0) + 1
