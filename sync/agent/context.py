"""What every part of the agent shares: its tuning, its counters and who it is.

The parts (:mod:`~sync.agent.sender`, :mod:`~sync.agent.receiver`,
:mod:`~sync.agent.site_view`, :mod:`~sync.agent.ops`, :mod:`~sync.agent.requests`,
:mod:`~sync.agent.status`) each get one :class:`AgentContext`; none of them knows the
others except through the narrow calls :class:`~sync.agent.service.SyncAgent` wires.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from pydantic import Field

from smartlib.config import SyncSection
from sync.mqtt import AGENT_LIMITS, PayloadLimits


class AgentTuning(SyncSection):
    """Flow control and retry settings of the agent: the ``[sync]`` section's fields, and
    the agent's own knobs (derived from the settings by :meth:`from_settings`)."""

    keepalive_s: int = 30
    session_expiry_s: int = 7 * 24 * 3600
    receive_batch: int = Field(500, ge=1)
    """Received messages written in one store transaction at most."""
    ops_interval_s: float = 2.0
    """How often the operations streams are looked at."""
    gateway_silence_s: float = 15.0
    """Connected to the broker, but a sent transaction has had no answer and nothing came
    from any gateway for this long: the gateway is reported ``offline`` to the edge."""
    gateway_stale_s: float = 20.0
    """A gateway that says it is online but whose status (repeated with each heartbeat,
    every ``heartbeat_s`` = 5 s) has not come for this long has stopped working: the
    gateway is reported ``offline`` to the edge."""
    online_expiry_s: float | None = None
    """MQTT 5 message expiry of an entry published with ``offline=false`` (the edge's
    ``policy.result_timeout_s`` from :meth:`from_settings`); None: no expiry."""
    scan_s: float = 0.2
    """How often the awaiting entries are walked for re-sends at most (a backlog's
    thousands; passes come with every PUBACK and result)."""
    offline_check_s: float = 1.0
    """How often an entry sent online is looked up again to see if the edge accepted it
    offline meanwhile (then it is re-sent at once)."""
    site_view: bool = True
    """Subscribe to the site's statuses, statistics and alarms (the staff console's view)."""
    max_payload_bytes: int = Field(AGENT_LIMITS.max_bytes, ge=1024)
    """A received payload over this size is refused before parsing (a dead letter)."""
    max_json_depth: int = Field(AGENT_LIMITS.max_depth, ge=8)
    """A received payload nested deeper than this is refused before parsing."""

    @classmethod
    def from_settings(cls, settings: Any) -> AgentTuning:
        """``[sync]`` as it is, with the broker's session expiry and the edge's result wait."""
        return cls(**settings.sync.model_dump(),
                   session_expiry_s=settings.broker.session_expiry_s,
                   online_expiry_s=settings.policy.result_timeout_s)

    @property
    def limits(self) -> PayloadLimits:
        """The bounds a received payload must keep."""
        return PayloadLimits(max_bytes=self.max_payload_bytes, max_depth=self.max_json_depth)


@dataclass
class AgentStats:
    """The agent's counters (each part adds to its own)."""

    published: int = 0
    """Transactions published (each copy counts)."""
    messages: int = 0
    """MQTT messages they went in (a batch carries many)."""
    acked: int = 0
    refused_pubacks: int = 0
    results: int = 0
    lookups: int = 0
    chunks: int = 0
    deltas: int = 0
    rejected: int = 0
    dead_letters: int = 0
    """Received messages that can never be processed: acknowledged and kept aside."""
    callback_errors: int = 0
    """Errors caught in paho's callbacks (logged; the network thread goes on)."""
    failovers: int = 0
    """Moves to the next broker address after a failed connection attempt."""
    resent: int = 0
    cancelled: int = 0
    alarms: int = 0
    stats: int = 0
    events: int = 0
    snapshot_requests: int = 0
    lookups_sent: int = 0
    site: int = 0
    """Statuses, statistics and alarms of the site's devices stored."""
    configs: int = 0
    """Remote configurations received and stored (new versions only)."""
    staff_accounts: int = 0
    """Copies of the central console's staff accounts stored."""
    config_acks: int = 0
    """Remote configuration outcomes published."""
    stats_live: int = 0
    """Publishes of a not yet completed hour's counters."""
    statuses: int = 0
    commands: int = 0
    """Central console commands stored."""
    offline_resends: int = 0
    """Entries re-sent at once because the edge accepted them offline after their first send."""
    extra: dict[str, int] = field(default_factory=dict)


@dataclass
class AgentContext:
    """Who the agent is and what its parts share."""

    store: Any
    """The open edge store."""
    client: mqtt.Client
    site: str
    device: str
    role: str
    tuning: AgentTuning
    stats: AgentStats
    stop: threading.Event = field(default_factory=threading.Event)
    connected: threading.Event = field(default_factory=threading.Event)


class PubackTracker:
    """Routes each PUBACK to whoever published the message.

    A PUBACK may come before the publisher registered its message id (``publish`` runs
    outside the publisher's lock; paho calls ``on_publish`` holding its own): it is kept
    briefly and handed over when the publisher registers.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._handlers: dict[int, Any] = {}
        self._early: dict[int, tuple[float, Any]] = {}

    def track(self, mid: int, handler: Any) -> None:
        """Call ``handler(mid, reason_code)`` on the PUBACK of ``mid`` (at once if it came)."""
        with self._lock:
            early = self._early.pop(mid, None)
            if early is None:
                self._handlers[mid] = handler
                return
        handler(mid, early[1])

    def acked(self, mid: int, rc: Any, now: float) -> None:
        """A PUBACK arrived (paho's ``on_publish``)."""
        with self._lock:
            handler = self._handlers.pop(mid, None)
            if handler is None:
                # Faster than the publisher's bookkeeping, or an untracked publish
                # (status, look-ups): kept briefly for the publisher to claim.
                self._early[mid] = (now, rc)
                if len(self._early) > 1000:
                    self._early = {m: v for m, v in self._early.items() if now - v[0] < 5}
                return
        handler(mid, rc)

    def forget(self, mids: Any) -> None:
        """Drop these message ids (their publisher no longer waits for them)."""
        with self._lock:
            for mid in mids:
                self._handlers.pop(mid, None)

    def clear(self) -> None:
        """A new connection: nothing of the old one is acknowledged any more."""
        with self._lock:
            self._handlers.clear()
            self._early.clear()

    def waiting(self) -> list[int]:
        """The message ids registered and not acknowledged yet."""
        with self._lock:
            return list(self._handlers)
