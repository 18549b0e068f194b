"""Receiving: results, look-up replies, cache snapshots and deltas → the edge store.

paho's network thread only queues messages (manual acknowledgement). The receiver's
thread writes each batch of queued messages into the store in ONE transaction (results,
look-up replies, snapshot chunks, deltas, the site view's messages), then acknowledges
them (PUBACK) and rings the edge once: a crash never loses an acknowledged message, and
the edge sees a result one commit after it arrives.

A message that can never be stored (over the size or nesting limit, invalid, not for this
box, or failing in a way not foreseen) is acknowledged and kept aside as a dead letter: a
``dead_letter`` device event (topic, reason, size and SHA-256, never the payload), which
the ops stream reports to the central side like any device event.

This module writes the store and acknowledges; it publishes nothing.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
from collections.abc import Callable
from typing import Any

from sync import topics
from sync.agent.config_apply import RemoteConfigLink
from sync.agent.context import AgentContext
from sync.agent.site_view import SiteView
from sync.agent.staff_cache import store_staff_accounts
from sync.errors import InvalidMessageError, InvalidTopicError
from sync.messages import (
    CacheDelta,
    CacheSnapshotChunk,
    LookupResponse,
    TransactionResult,
    decode,
    decode_results,
)
from sync.mqtt import ReceivedMessage, check_depth, check_size, correlation_id, fingerprint

log = logging.getLogger(__name__)

STATE_OF = {"applied": "applied", "refused": "refused", "conflict": "conflict", "error": "failed"}
"""The outbox state of each result status."""


def result_dict(res: TransactionResult) -> dict[str, Any]:
    """The result as the edge reads it (``edge.store.outbox`` documents the keys)."""
    out: dict[str, Any] = res.model_dump(mode="json", exclude_none=True)
    if res.screen_message:
        out["message"] = res.screen_message
    if not res.ok and res.status in ("refused", "conflict"):
        out.setdefault("code", "ils_refused")
    out.pop("hold_patron", None)  # never stored (privacy), even from an old gateway
    if res.sort_bin or res.destination or res.alert_type or res.hold_shelf:
        kind = {"01": "hold_shelf", "02": "hold_transit", "04": "transit"}.get(res.alert_type or "",
                                                                                 "shelf")
        if res.hold_shelf and kind == "shelf":
            kind = "hold_shelf"
        out["sort"] = {"kind": kind, "destination": res.destination, "bin": res.sort_bin}
    return out


def cache_rows(kind: str, xs: list[Any]) -> list[Any]:
    """A snapshot's or delta's rows as the cache's ``apply_*`` methods take them."""
    # Items, loans and holds have the cache's column order (the fast tuple path);
    # patrons are passed by name (the cache has an extra ``verified_at`` column).
    if kind == "patrons":
        return [r.model_dump(exclude={"v"}) for r in xs]
    if kind == "loans":  # a gate's loans carry no patron (the column is NOT NULL: "")
        return [(r.item_id, r.patron_id or "", r.due_date, r.loaned_at, r.offline) for r in xs]
    return [tuple(r.model_dump(exclude={"v"}).values()) for r in xs]


class Receiver:
    """Writes received messages into the store in batches, then acknowledges them.

    Args:
        ctx: the agent's context.
        site_view: where the site's devices' messages go.
        heard: called after each stored batch (something came from the broker side).
        answered: called with the keys whose results were stored.
        remote_config: where this box's remote configuration goes (None: not consumed).
        commands: stores a central command (in the batch's transaction).
    """

    def __init__(self, ctx: AgentContext, site_view: SiteView, *, heard: Callable[[], None],
                 answered: Callable[[list[str]], None],
                 remote_config: RemoteConfigLink | None = None,
                 commands: Callable[[ReceivedMessage], None] | None = None) -> None:
        self.ctx = ctx
        self._commands = commands
        self.site_view = site_view
        self.remote_config = remote_config
        self._heard = heard
        self._answered = answered
        self.inbox: queue.SimpleQueue[ReceivedMessage | None] = queue.SimpleQueue()
        """Queued messages; ``None`` only wakes the thread (:meth:`wake`)."""

    def put(self, msg: ReceivedMessage) -> None:
        """Queue a message (paho's network thread: queue only)."""
        self.inbox.put(msg)

    def wake(self) -> None:
        """Wake the receiver thread at once (the agent is stopping)."""
        self.inbox.put(None)

    def run(self) -> None:
        """The receiver thread: batches of queued messages until the agent stops. It sleeps
        until a message (or :meth:`wake`) comes: an idle box's thread never wakes."""
        stop = self.ctx.stop
        while not stop.is_set():
            first = self.inbox.get()
            if first is not None:
                self._write_batch_from(first)

    def drain(self) -> int:
        """Store what is queued now, a batch at a time, without waiting; returns how many
        messages were taken. For a host that runs the agent without its threads (after it
        read from the client's socket); the receiver thread never runs then."""
        taken = 0
        while not self.ctx.stop.is_set():
            try:
                first = self.inbox.get_nowait()
            except queue.Empty:
                break
            if first is not None:
                taken += self._write_batch_from(first)
        return taken

    def _write_batch_from(self, first: ReceivedMessage) -> int:
        batch = [first]
        while len(batch) < self.ctx.tuning.receive_batch:
            try:
                msg = self.inbox.get_nowait()
            except queue.Empty:
                break
            if msg is not None:
                batch.append(msg)
        self._write_with_retry(batch)
        return len(batch)

    def _ack(self, msg: ReceivedMessage) -> None:
        if msg.qos > 0:
            self.ctx.client.ack(msg.mid, msg.qos)

    def _write_with_retry(self, batch: list[ReceivedMessage]) -> None:
        """Write a batch; a busy database is retried, a message that cannot be stored at all
        is logged and dropped on its own (the rest of its batch is still stored)."""
        while not self.ctx.stop.is_set():
            try:
                self._write_batch(batch)
                return
            except sqlite3.OperationalError:
                # Busy or locked: not acknowledged; try the same batch again.
                log.exception("agent could not store %d received message(s); retrying",
                              len(batch))
                self.ctx.stop.wait(0.5)
            except Exception as exc:
                if len(batch) > 1:
                    for msg in batch:
                        self._write_with_retry([msg])
                    return
                msg = batch[0]
                log.exception("message on %s cannot be stored; dropped", msg.topic)
                self.ctx.stats.rejected += 1
                try:
                    self._dead_letter(msg, exc)  # its own transaction
                except Exception:
                    log.exception("dead letter on %s could not be stored", msg.topic)
                self.ctx.stats.dead_letters += 1
                self._ack(msg)
                return

    def _dead_letter(self, msg: ReceivedMessage, exc: BaseException) -> None:
        """Keep aside a message that can never be stored (a ``dead_letter`` device event)."""
        reason = f"{type(exc).__name__}: {exc}"[:500]
        log.warning("dead letter on %s (%d bytes): %s", msg.topic, len(msg.payload), reason)
        self.ctx.store.events.record(self.ctx.device, "dead_letter", {
            "topic": msg.topic[:256], "reason": reason, "size": len(msg.payload),
            "sha256": fingerprint(msg.payload)})

    def _write_batch(self, batch: list[ReceivedMessage]) -> None:
        """Store a batch in one transaction, then PUBACK it and ring the edge once."""
        from edge.store.errors import StoreError

        store = self.ctx.store
        wake_agent = False
        counts = {"results": 0, "lookups": 0, "chunks": 0, "deltas": 0, "rejected": 0, "site": 0,
                  "dead_letters": 0, "configs": 0, "commands": 0, "staff_accounts": 0}
        done: list[str] = []
        results: list[tuple[str, dict[str, Any], str]] = []
        with store.transaction():
            for msg in batch:
                try:
                    kind, n, bad = self._store_message(msg, done, results)
                    counts[kind] += n
                    counts["rejected"] += bad  # counted once the batch is stored
                    wake_agent = wake_agent or kind in ("results", "commands")
                except (InvalidTopicError, InvalidMessageError) as exc:
                    counts["rejected"] += 1
                    log.warning("rejected message on %s: %s", msg.topic, exc)
                    self._dead_letter(msg, exc)
                    counts["dead_letters"] += 1  # counted once the batch is stored
                except StoreError as exc:
                    log.warning("message on %s not stored: %s", msg.topic, exc)
            if results:
                # The batch's results in one pass over the journal (no row read back).
                by_key = {key: result for key, result, _ in results}
                for key in store.outbox.record_results(results):
                    r = by_key[key]
                    if r.get("kind") == "fee_paid":
                        # A bank payment the centre submitted for this kiosk: no outbox
                        # entry; kept as an event for the kiosk's payment screen.
                        store.events.record(self.ctx.device, "payment_result", {
                            "key": key, "ok": r.get("ok"), "status": r.get("status"),
                            "screen_message": r.get("screen_message"),
                            "reference": r.get("reference"), "amount": r.get("paid_amount")})
                        continue
                    log.warning("result for %s not stored: no outbox entry with this key", key)
        for msg in batch:
            self._ack(msg)
        self._heard()
        self._answered(done)
        for k, n in counts.items():
            setattr(self.ctx.stats, k, getattr(self.ctx.stats, k) + n)
        store.ring("edge")
        if wake_agent:
            store.ring("agent")  # the next entry of the same item may go now

    def _store_message(self, msg: ReceivedMessage, done: list[str],
                       results: list[tuple[str, dict[str, Any], str]]) -> tuple[str, int, int]:
        """Store one message (results are collected in ``results`` for one batch write).

        Returns:
            What it was (a key of the receive counters), how many of it it held, and how
            many of its entries were rejected (a result batch's bad entries).
        """
        site, device = self.ctx.site, self.ctx.device
        limits = self.ctx.tuning.limits
        check_size(msg.payload, limits)
        ref = topics.parse(msg.topic)
        if ref.kind != "result":  # a result batch is checked only before json (below)
            check_depth(msg.payload, limits)
        if (ref.site == site and ref.device is not None
                and ref.kind in ("status", "stats", "stats/live", "alarm")):
            self.site_view.store_message(ref, msg)
            return "site", 1, 0
        if ref.site != site or ref.device not in (None, device):
            raise InvalidTopicError(f"not a topic of {site}/{device}")
        if ref.kind == "result":
            got, bad = decode_results(  # one result, or a ResultBatch
                msg.payload, before_json=lambda _p: check_depth(msg.payload, limits))
            for exc in bad:
                log.warning("rejected part of a result batch on %s: %s", msg.topic, exc)
            for res in got:
                if (res.site, res.device) != (site, device):
                    raise InvalidMessageError(f"result for {res.site}/{res.device} on our topic")
            for res in got:
                results.append((res.key, result_dict(res), STATE_OF[res.status]))
                done.append(res.key)
            return "results", len(got), len(bad)
        if ref.kind == "lookup/reply":
            self._lookup_reply(decode(LookupResponse, msg.payload), msg)
            return "lookups", 1, 0
        if ref.kind in ("cache/snapshot", "cache/gate/snapshot", "snapshot/reply"):
            chunk = decode(CacheSnapshotChunk, msg.payload)
            if chunk.site != site:
                raise InvalidMessageError(f"snapshot chunk for site {chunk.site} on our topic")
            self._chunk(chunk)
            return "chunks", 1, 0
        if ref.kind in ("cache/delta", "cache/gate/delta"):
            self._delta(decode(CacheDelta, msg.payload))
            return "deltas", 1, 0
        if ref.kind == "config" and self.remote_config is not None:
            return "configs", int(self.remote_config.store_message(msg)), 0
        if ref.kind == "command" and self._commands is not None:
            self._commands(msg)  # its outcome is acknowledged by the sender thread
            return "commands", 1, 0
        if ref.kind == "staff/accounts":
            store_staff_accounts(self.ctx, msg)
            return "staff_accounts", 1, 0
        raise InvalidTopicError(f"the agent does not consume {ref.kind!r}")

    def _lookup_reply(self, resp: LookupResponse, msg: ReceivedMessage) -> None:
        lookup_id = correlation_id(msg, resp.request_id)
        if lookup_id != resp.request_id:
            raise InvalidMessageError(f"correlation data {lookup_id} does not match {resp.request_id}")
        self.ctx.store.lookups.answer(lookup_id, resp.model_dump(mode="json", exclude_none=True),
                                      ok=resp.ok, ring=False)

    def _chunk(self, chunk: CacheSnapshotChunk) -> None:
        rows = cache_rows(chunk.kind, chunk.rows)
        done = self.ctx.store.cache.apply_snapshot_chunk(chunk.kind, chunk.snapshot_id, chunk.seq,
                                                         chunk.total, rows)
        if done:
            log.info("cache snapshot %s of %s complete", chunk.snapshot_id, chunk.kind)

    def _delta(self, delta: CacheDelta) -> None:
        if delta.site != self.ctx.site:
            raise InvalidMessageError(f"cache delta for site {delta.site} on our topic")
        self.ctx.store.cache.apply_delta(items=cache_rows("items", delta.items),
                                         patrons=cache_rows("patrons", delta.patrons),
                                         loans=cache_rows("loans", delta.loans),
                                         holds=cache_rows("holds", delta.holds),
                                         deleted_items=delta.deleted_items,
                                         returned_items=delta.returned_items,
                                         deleted_holds=[tuple(h) for h in delta.deleted_holds],
                                         returned_at={item: at.isoformat() for item, at
                                                      in delta.returned_at.items()})
