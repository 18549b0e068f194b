"""Operations streams: the store's alarms, hourly counters and device events → the broker.

Alarms go on ``staff/alarm/{device}`` (the site's staff topic), completed hours' counters on
``…/stats`` and device events on ``…/event``, each row once: the store's ``meta`` table
keeps how far each stream was acknowledged by the broker (``sync.published.*``), and the
cursors move only once every message of a round is acknowledged. The current hour's
counters (and the last one, until it is published as completed) go on ``…/stats/live``
when they changed, at most every ``[sync] stats_live_interval_s``, so other boxes see
today's counts live: every box of the site receives each one, and a kiosk's counters change
with every transaction (the last change within the interval goes once it has passed).

The rows are read through the store's repositories (``alarms.after``, ``events.after``,
``counters.after``); this module runs no SQL.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt

from sync import topics
from sync.agent.context import AgentContext, PubackTracker
from sync.messages import Alarm, DeviceEventReport, Statistics, encode

log = logging.getLogger(__name__)

META_ALARMS = "sync.published.alarms"
META_EVENTS = "sync.published.device_events"
META_STATS = "sync.published.stats_hour"


def _aware(stamp: str | None) -> datetime | None:
    if not stamp:
        return None
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def _text(detail: dict[str, Any], name: str) -> str | None:
    value = detail.get(name)
    return value if isinstance(value, str) else None


class OpsStreams:
    """Publishes the operations streams, a round at a time.

    Args:
        ctx: the agent's context.
        acks: routes the PUBACKs of the stream messages back here.
        replay_stats: true once after another box came online (it gets the last day's
            counters again).
        clock: monotonic seconds (the tests' stand-in).
    """

    def __init__(self, ctx: AgentContext, acks: PubackTracker, *,
                 replay_stats: Callable[[], bool],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ctx = ctx
        self.acks = acks
        self._replay_stats = replay_stats
        self._clock = clock
        self._lock = threading.Lock()
        self._mids: set[int] = set()
        self._failed = False
        self._next = 0.0
        self._cursors: dict[str, str] = {}
        self._live: dict[str, dict[str, int]] = {}
        self._live_due = 0.0
        """When the live counters may go again (``stats_live_interval_s`` after the last)."""
        self._spread = random.Random()

    def reconnected(self) -> None:
        """A new connection: the last round may not have reached the broker."""
        with self._lock:
            self._mids.clear()
            self._failed = True
            self._next = 0.0
        self._live.clear()
        self._live_due = 0.0

    def _on_puback(self, mid: int, rc: Any) -> None:
        with self._lock:
            if mid not in self._mids:
                return
            self._mids.discard(mid)
            if rc.is_failure:
                self._failed = True
                log.warning("broker refused an operations message (%s)", rc)

    def publish(self) -> None:
        """Publish the next rows of each stream; cursors move after the PUBACKs."""
        now = self._clock()
        with self._lock:
            busy = bool(self._mids)
            failed, self._failed = self._failed, False
        if busy or now < self._next:
            return
        meta = self.ctx.store.meta
        if self._cursors and not failed:
            # Every message of the previous round was acknowledged: move the cursors.
            for name, value in self._cursors.items():
                meta.set(name, value)
        if failed:
            self._live.clear()  # publish the live hours again
        self._cursors = {}
        self._next = now + self.ctx.tuning.ops_interval_s
        sent = self._alarms() + self._events() + self._stats()
        if sent:
            self._next = now  # more may be waiting: look again at the next pass

    def _publish(self, topic: str, payload: bytes, cursor: tuple[str, str] | None) -> bool:
        info = self.ctx.client.publish(topic, payload, qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            return False
        with self._lock:
            self._mids.add(info.mid)
        if cursor is not None:
            self._cursors[cursor[0]] = cursor[1]
        self.acks.track(info.mid, self._on_puback)
        return True

    def _rows_out(self, what: str, cursor: str, rows: list[Any], build: Callable[[Any], Any],
                  topic: str) -> int:
        """Publish each row (``build`` makes its message); a row that cannot be published is
        logged and skipped (the cursor moves past it)."""
        n = 0
        for row in rows:
            try:
                msg = build(row)
            except ValueError as exc:
                log.error("%s %s cannot be published (%s); skipped", what, row.id, exc)
                self._cursors[cursor] = str(row.id)
                continue
            if not self._publish(topic, encode(msg), (cursor, str(row.id))):
                break
            n += 1
        return n

    def _alarms(self, limit: int = 100) -> int:
        ctx = self.ctx

        def build(a: Any) -> Alarm:
            detail = a.detail
            return Alarm(site=ctx.site, device=ctx.device, alarm_id=a.id, kind=a.kind,
                         source=a.device or None, item=a.item_id, uid=a.uid,
                         message=a.message or None, title=_text(detail, "title"),
                         direction=_text(detail, "direction"),
                         detail=detail if isinstance(detail, dict) else {"value": detail},
                         at=_aware(a.created_at), acked_at=_aware(a.acked_at))

        last = int(ctx.store.meta.get(META_ALARMS, "0") or 0)
        n = self._rows_out("alarm", META_ALARMS, ctx.store.alarms.after(last, limit), build,
                           topics.staff_alarm(ctx.site, ctx.device))
        ctx.stats.alarms += n
        return n

    def _events(self, limit: int = 100) -> int:
        ctx = self.ctx

        def build(e: Any) -> DeviceEventReport:
            detail = e.detail
            return DeviceEventReport(site=ctx.site, device=ctx.device, event_id=e.id,
                                     source=e.device or ctx.device, kind=e.kind,
                                     detail=detail if isinstance(detail, dict) else {"value": detail},
                                     at=_aware(e.at))

        last = int(ctx.store.meta.get(META_EVENTS, "0") or 0)
        n = self._rows_out("device event", META_EVENTS, ctx.store.events.after(last, limit),
                           build, topics.event(ctx.site, ctx.device))
        ctx.stats.events += n
        return n

    def _stats(self, limit: int = 48) -> int:
        """Publish each completed hour's counters once (``stats_grace_s`` after it ended)."""
        ctx = self.ctx
        last = ctx.store.meta.get(META_STATS, "") or ""
        ready = (datetime.now(UTC) - timedelta(seconds=ctx.tuning.stats_grace_s)
                 - timedelta(hours=1)).strftime("%Y-%m-%dT%H")
        hours = ctx.store.counters.after(last, ready)
        n = 0
        for hour in sorted(hours)[:limit]:
            start = datetime.strptime(hour, "%Y-%m-%dT%H").replace(tzinfo=UTC)
            msg = Statistics(site=ctx.site, device=ctx.device, period_start=start,
                             counters=hours[hour])
            if not self._publish(topics.stats(ctx.site, ctx.device), encode(msg),
                                 (META_STATS, hour)):
                break
            n += 1
        ctx.stats.stats += n
        if n < len(hours):
            return n  # more completed hours first
        self._live_stats(max(last, ready))
        return n

    def _live_stats(self, after: str) -> None:
        """Publish the counters of the hours after ``after`` (not yet published as completed:
        the current hour, and the last one during ``stats_grace_s``) when they changed, at
        most every ``stats_live_interval_s``: a change within the interval waits (the next
        pass looks again), and what goes is the counters as they are then.

        After another box came online, every hour of the last 24 is published again at once
        (it may have missed them: statistics are not retained).
        """
        ctx = self.ctx
        now = self._clock()
        if self._replay_stats():
            self._live.clear()
            after = min(after, (datetime.now(UTC) - timedelta(hours=24)).strftime("%Y-%m-%dT%H"))
        elif now < self._live_due:
            return
        hours = ctx.store.counters.after(after)
        self._live = {h: c for h, c in self._live.items() if h > after}
        for hour, counters in sorted(hours.items()):
            if self._live.get(hour) == counters:
                continue
            start = datetime.strptime(hour, "%Y-%m-%dT%H").replace(tzinfo=UTC)
            msg = Statistics(site=ctx.site, device=ctx.device, period_start=start,
                             counters=counters)
            if not self._publish(topics.stats_live(ctx.site, ctx.device), encode(msg), None):
                return
            self._live[hour] = counters
            # Up to a fifth shorter at random: boxes that started together (a broker
            # restart, a site's power-up) drift apart instead of publishing in one burst.
            self._live_due = now + ctx.tuning.stats_live_interval_s * self._spread.uniform(0.8, 1.0)
            ctx.stats.stats_live += 1
