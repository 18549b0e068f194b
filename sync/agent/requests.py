"""Look-ups and snapshot requests: the edge's questions to the gateways.

Look-ups (patron log-in, item information) are claimed from the store, which wipes their
sealed PINs, and published on ``…/lookup`` with a response topic and correlation data; the
answers come back through the receiver. Snapshot requests go on ``…/snapshot/request``
when the store asks for one (``meta cache.rebuild_requested_at``) or the cache is empty
at connect (a late-joining edge).

This module publishes requests; it does not store their answers.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

import paho.mqtt.client as mqtt

from sync import topics
from sync.agent.context import AgentContext
from sync.messages import LookupRequest, SnapshotRequest, encode
from sync.mqtt import publish_properties

log = logging.getLogger(__name__)

META_REBUILD_REQUESTED = "cache.rebuild_requested_at"
"""Set by ``smartlib db rebuild-cache`` (and :meth:`LookupRepository.request_snapshot`)."""
META_REBUILD_SENT = "sync.snapshot_requested_at"
LOOKUP_RETRY_S = 10.0
"""How long a claimed look-up whose publish failed is retried from memory."""


class Requests:
    """Publishes the store's pending look-ups and the snapshot requests."""

    def __init__(self, ctx: AgentContext) -> None:
        self.ctx = ctx
        self._unsent: list[tuple[Any, float]] = []
        self._snapshot_check = True

    def reconnected(self) -> None:
        """A new connection: look again whether the cache is empty."""
        self._snapshot_check = True

    def send_lookups(self) -> None:
        """Claim pending look-ups (their secrets are wiped from the store), publish them.

        A PIN arrives sealed by the edge to the gateways' key (``pin_sealed``; the agent
        cannot open it) and goes out as it is. A look-up whose publish is not queued (the
        connection is going) is kept in memory with its sealed PIN, never written back, and sent again on the next pass; after
        ``LOOKUP_RETRY_S`` it is answered ``failed`` (the edge falls back to its offline
        policy). Once anything with a secret was claimed the WAL is checkpointed and
        truncated, so the frames that held the sealed PIN leave the disk.
        """
        ctx = self.ctx
        lookups = ctx.store.lookups
        now = time.monotonic()
        retry, self._unsent = self._unsent, []
        claimed = [(rec, first) for rec, first in retry]
        fresh = lookups.claim(limit=50)
        claimed += [(rec, now) for rec in fresh]
        secret = any("pin_sealed" in rec.request for rec in fresh)
        reply_topic = topics.lookup_reply(ctx.site, ctx.device)
        for rec, first in claimed:
            r = rec.request
            try:
                req = LookupRequest(request_id=rec.id, kind=rec.kind, site=ctx.site,
                                    device=ctx.device, patron=r.get("patron") or r.get("patron_id"),
                                    pin_sealed=r.get("pin_sealed"),
                                    item=r.get("item") or r.get("item_id"))
            except ValueError as exc:
                log.warning("look-up %s is invalid: %s", rec.id, exc)
                lookups.answer(rec.id, {"error": "invalid look-up"}, ok=False)
                continue
            props = publish_properties(response_topic=reply_topic, correlation=rec.id.encode())
            info = ctx.client.publish(topics.lookup(ctx.site, ctx.device), encode(req), qos=1,
                                      properties=props)
            if info.rc == mqtt.MQTT_ERR_SUCCESS:
                ctx.stats.lookups_sent += 1
            elif now - first < LOOKUP_RETRY_S:
                log.info("look-up %s not queued (%s); kept for the next pass", rec.id, info.rc)
                self._unsent.append((rec, first))
            else:
                log.warning("look-up %s could not be sent for %.0fs; failed", rec.id, now - first)
                lookups.answer(rec.id, {"error": "not sent"}, ok=False)
        if secret:
            lookups.scrub()

    def request_snapshot_if_needed(self) -> None:
        """Ask the gateways for a snapshot when the store asked for one, or the cache is
        empty on the first pass after a connect."""
        ctx = self.ctx
        meta = ctx.store.meta
        requested = meta.get(META_REBUILD_REQUESTED)
        sent = meta.get(META_REBUILD_SENT)
        reason = None
        if requested and (not sent or sent < requested):
            reason = "rebuild"
        elif self._snapshot_check and ctx.tuning.snapshot_on_empty_cache and not sent:
            if ctx.store.cache.counts().get("items", 0) == 0:
                reason = "empty"
        self._snapshot_check = False
        if reason is None:
            return
        from edge.store import utcnow

        req = SnapshotRequest(request_id=str(uuid.uuid4()), site=ctx.site, device=ctx.device,
                              reason=reason, role="gate" if ctx.role == "gate" else None)
        info = ctx.client.publish(topics.snapshot_request(ctx.site, ctx.device), encode(req),
                                  qos=1)
        if info.rc == mqtt.MQTT_ERR_SUCCESS:
            meta.set(META_REBUILD_SENT, utcnow())
            ctx.stats.snapshot_requests += 1
            log.info("asked the gateways for a cache snapshot (%s)", reason)
