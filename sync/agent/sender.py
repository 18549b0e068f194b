"""Sending: the outbox's open entries → ``…/{device}/tx``, re-sent until answered.

A pass reads :meth:`~edge.store.outbox.OutboxRepository.next_sendable` (journal order, at
most one open entry per item), marks the batch ``sent`` in one transaction
(:meth:`mark_sent`, *before* publishing: the edge's ``cancel`` relies on a ``pending``
entry never having left the box, and a cancelled entry is not returned by ``mark_sent`` so
it is never published), then publishes the entries at QoS 1: a lone entry as a
:class:`~sync.messages.TransactionRequest`, consecutive ones (a backlog) up to ``tx_batch``
at a time as one :class:`~sync.messages.TransactionBatch`. An entry whose result has not
come back within ``resend_s`` is published again (the gateway's ledger makes duplicates
harmless), with exponential back-off per entry; a refused PUBACK backs off too. After a
crash nothing in memory matters: every open entry is re-sent.

Re-sending reads the entry again from the store: an entry the edge accepted offline after
its first publish goes again at once with ``offline=true``, its merged payload and its
original ``created_at``. An online copy carries an MQTT 5 message expiry of the edge's
wait (``online_expiry_s``).

This module publishes transactions only; it does not receive.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
import pydantic_core

from sync import topics
from sync.agent.context import AgentContext, PubackTracker
from sync.messages import TransactionRequest, encode
from sync.mqtt import publish_properties

log = logging.getLogger(__name__)

_FAST_KINDS = frozenset({"checkout", "checkin", "renew", "renew_all"})


@dataclass
class Pending:
    """An entry published (or about to be) and not answered yet."""

    key: str
    sent_at: float = 0.0
    next_try: float = 0.0
    tries: int = 0
    mid: int | None = None
    acked: bool = False
    payload: bytes | None = None
    offline: bool = False
    """The offline flag in ``payload``."""
    checked: float = 0.0


class Sender:
    """Publishes the outbox's entries and keeps what awaits a result."""

    def __init__(self, ctx: AgentContext, acks: PubackTracker) -> None:
        self.ctx = ctx
        self.acks = acks
        self.lock = threading.Lock()
        self.pending: dict[str, Pending] = {}
        self.mids: dict[int, list[str]] = {}
        """Message id → the keys it carried, until its PUBACK."""
        self._in_window = 0
        self._scan_due = 0.0
        self._scan_from: int | None = 0
        """Open entries, ``sent`` ones too, are read from after this journal seq (after a
        start or reconnect); None once that scan reached the end: ``pending`` ones only."""
        self._rung = False
        self._held_back = False
        """The last pass left entries unsent for want of window (or of awaiting room)."""
        self._tx_topic = topics.tx(ctx.site, ctx.device)

    # ---- called by the agent --------------------------------------------------------------

    def new_pass(self) -> None:
        """A sender pass begins: the next PUBACK may ring the doorbell again."""
        with self.lock:
            self._rung = False

    def reconnected(self) -> None:
        """Whatever was in flight on the old connection, and any result the gateway sent
        while we were away, may be lost: every open entry goes again (duplicates are
        answered from the gateway's ledger)."""
        with self.lock:
            for p in self.pending.values():
                p.mid, p.acked, p.next_try = None, False, 0.0
            self._scan_due = 0.0
            self.mids.clear()
            self._in_window = 0
            self._scan_from = 0

    def resend_all_now(self) -> None:
        """Every unanswered entry goes again at the next pass (a gateway came back)."""
        with self.lock:
            for p in self.pending.values():
                p.next_try = 0.0
            self._scan_due = 0.0

    def answered(self, keys: list[str]) -> None:
        """These entries have their results: nothing more to send for them."""
        with self.lock:
            for key in keys:
                self.pending.pop(key, None)

    def unanswered_for(self, silence: float, now: float) -> bool:
        """A published entry, acknowledged by the broker, has waited over ``silence``."""
        with self.lock:
            return any(p.acked and now - p.sent_at > silence for p in self.pending.values())

    def on_puback(self, mid: int, rc: Any) -> None:
        """The broker acknowledged (or refused) the message ``mid``."""
        with self.lock:
            keys = self.mids.pop(mid, None)
            if keys is None:
                return
            # Only a pass that the window held back is woken by a PUBACK (the first after
            # it) to refill the window. Otherwise the pass already sent all it had, and a
            # wake-up would be a pass for nothing (one per transaction). Not "the window is
            # full now": PUBACKs that come while the pass still publishes leave it short of
            # full, and the sender then slept until ``poll_s`` (MQTT leg 18x slower).
            wake = not self._rung and self._held_back
            self._in_window -= len(keys)
            self._rung = self._rung or wake
            refused = rc.is_failure
            for key in keys:
                p = self.pending.get(key)
                if p is None or p.mid != mid:
                    continue  # answered meanwhile, or published again since
                if refused:
                    self.ctx.stats.refused_pubacks += 1
                    p.mid = None
                    p.next_try = time.monotonic() + self.backoff(p.tries)
                else:
                    p.acked = True
                    self.ctx.stats.acked += 1
            if refused:
                log.warning("broker refused %d tx (%s, first %s); retrying with back-off",
                            len(keys), rc, keys[0])
        if wake:  # one wake-up per sender pass: refill the window
            self.ctx.store.ring("agent")

    def backoff(self, tries: int) -> float:
        """How long after its ``tries``-th publish an unanswered entry goes again."""
        t = self.ctx.tuning
        return float(min(t.max_backoff_s, t.resend_s * 2 ** max(0, tries - 1)))

    # ---- a pass ---------------------------------------------------------------------------

    def send(self) -> None:
        """Re-send what is due, then publish new entries up to the window."""
        t = self.ctx.tuning
        now = time.monotonic()
        again: list[Pending] = []
        # Steps 0 and 1 walk every awaiting entry (thousands in a backlog): at most every
        # ``scan_s``, or at once after something made entries due now (a reconnect, a
        # gateway online, a publish not queued). Passes come with every PUBACK and result.
        scan = now >= self._scan_due
        if scan:
            self._scan_due = now + t.scan_s
            # 0. An entry the edge accepted offline after it was sent online goes again now.
            self._check_accepted_offline(now)
        with self.lock:
            if scan:
                # 1. Entries awaiting a result for too long (or since a reconnect) go again,
                #    their payload rebuilt from the store (the offline flag may have changed).
                for p in self.pending.values():
                    if p.next_try <= now:
                        if p.acked:
                            p.mid, p.acked = None, False
                        if p.mid is None and p.payload is not None:
                            again.append(p)
            budget = min(t.window - self._in_window, t.max_awaiting - len(self.pending))
        if len(again) > t.window:
            self._scan_due = 0.0  # the rest go on the next pass
        if not self._mark_and_publish(again[:max(0, t.window)], now, resend=True):
            return
        # 2. New entries: after a start (or reconnect) every open entry (``sent`` ones were in
        #    flight when the previous process died), a window at a time from where the last
        #    page ended, until the scan reaches the end of the journal; then only
        #    ``pending`` ones.
        budget -= len(again)
        if budget <= 0:
            with self.lock:
                self._held_back = True
            return
        with self.lock:
            after = self._scan_from
        entries = self.ctx.store.outbox.next_sendable(limit=budget, include_sent=after is not None,
                                                      after_seq=after or 0)
        with self.lock:  # before publishing: PUBACKs may come while this pass publishes
            self._held_back = len(entries) >= budget
        if after is not None:
            with self.lock:
                # Moved on only if no reconnect set it back meanwhile. (One that set it back
                # to 0 while the first page was read is not told apart: harmless, since what
                # that page and the pages before it held is in ``pending``, all re-sent.)
                if self._scan_from == after:
                    self._scan_from = None if len(entries) < budget else entries[-1].seq
        batch: list[Pending] = []
        for e in entries:
            with self.lock:
                if e.key in self.pending:
                    continue
            payload = self.payload(e)
            if payload is None:
                continue
            p = Pending(e.key, payload=payload, offline=bool(e.offline), checked=now)
            with self.lock:
                self.pending[e.key] = p
            batch.append(p)
        self._mark_and_publish(batch, now)

    def _mark_and_publish(self, batch: list[Pending], now: float, *, resend: bool = False) -> bool:
        """``mark_sent`` the batch in one transaction, then publish what it returned.

        Returns False when the client would not take a publish (not connected).
        """
        if not batch:
            return True
        marked = set(self.ctx.store.outbox.mark_sent(*(p.key for p in batch)))
        chunk: list[Pending] = []
        for p in batch:
            if p.key in marked and resend and not self._refresh(p):
                marked.discard(p.key)
            if p.key not in marked:
                # Cancelled by the edge, or answered meanwhile: never publish it.
                with self.lock:
                    self.pending.pop(p.key, None)
                self.ctx.stats.cancelled += 1
                continue
            # Journal order is kept: a message holds consecutive entries of one kind
            # (online copies carry a message expiry, offline ones none).
            if chunk and (len(chunk) >= self.ctx.tuning.tx_batch or chunk[0].offline != p.offline):
                if not self._publish(chunk, now, resend=resend):
                    return False
                chunk = []
            chunk.append(p)
        return not chunk or self._publish(chunk, now, resend=resend)

    def _refresh(self, p: Pending) -> bool:
        """Rebuild a re-sent entry's payload from its row as it is now (the edge may have
        accepted it offline since: ``offline``, ``no_block``, ``nb_due_date``).

        Returns False when the entry is gone or closed, or can no longer be sent.
        """
        e = self.ctx.store.outbox.find(p.key)
        if e is None or not e.is_open:
            return False
        payload = self.payload(e)
        if payload is None:
            return False
        p.payload, p.offline = payload, bool(e.offline)
        return True

    def _check_accepted_offline(self, now: float, limit: int = 200) -> None:
        """Entries sent online that the edge has accepted offline since go again now."""
        with self.lock:
            due = sorted((p for p in self.pending.values()
                          if not p.offline and (p.acked or p.mid is None) and p.payload is not None
                          and now - p.checked >= self.ctx.tuning.offline_check_s),
                         key=lambda p: p.checked)[:limit]
            for p in due:
                p.checked = now
        offline = self.ctx.store.outbox.open_offline(p.key for p in due)
        for p in due:
            if p.key in offline:
                with self.lock:
                    if p.acked or p.mid is None:
                        p.mid, p.acked, p.next_try = None, False, 0.0
                        p.offline = True  # rebuilt from the row by the resend
                self.ctx.stats.offline_resends += 1

    def payload(self, e: Any) -> bytes | None:
        """The ``TransactionRequest`` JSON of an outbox entry (``None``: marked failed).

        Our own store rows are well-formed (UUID keys, UTC timestamps ending in ``Z``): when
        an entry passes the cheap checks the JSON is written directly; anything else goes
        through the full model, whose error is recorded as the entry's result.
        """
        site, device = self.ctx.site, self.ctx.device
        if (e.kind in _FAST_KINDS and isinstance(e.created_at, str) and e.created_at.endswith("Z")
                and len(e.key) == 36 and (e.item_id or e.kind == "renew_all")
                and (e.patron_ref or e.kind == "checkin")
                and (e.item_id is None or 0 < len(e.item_id) <= 64)
                and (e.patron_ref is None or 0 < len(e.patron_ref) <= 64)):
            data: dict[str, Any] = {"v": 1, "key": e.key, "kind": e.kind, "site": site,
                                    "device": device, "created_at": e.created_at,
                                    "offline": bool(e.offline), "payload": e.payload or {}}
            if e.patron_ref is not None:
                data["patron"] = e.patron_ref
            if e.item_id is not None:
                data["item"] = e.item_id
            # pydantic-core's encoder: the same compact UTF-8 JSON as json.dumps, 4x cheaper.
            return pydantic_core.to_json(data)
        try:
            req = TransactionRequest(
                key=e.key, kind=e.kind, site=site, device=device,
                patron=e.patron_ref, item=e.item_id, created_at=e.created_at,
                offline=e.offline, payload=e.payload)
        except ValueError as exc:
            log.error("outbox entry %s cannot be sent (%s); marking it failed", e.key, exc)
            self.ctx.store.outbox.record_result(
                e.key, {"ok": False, "code": "unsupported", "message": str(exc)}, "failed")
            return None
        return encode(req)

    def _batch_payload(self, chunk: list[Pending]) -> bytes:
        """One request as it is, several as a :class:`~sync.messages.TransactionBatch`
        (each request's JSON is joined in as built: nothing is encoded twice)."""
        if len(chunk) == 1:
            assert chunk[0].payload is not None
            return chunk[0].payload
        head = json.dumps({"v": 1, "site": self.ctx.site, "device": self.ctx.device},
                          separators=(",", ":")).encode()
        return head[:-1] + b',"transactions":[' + b",".join(
            p.payload for p in chunk if p.payload is not None) + b"]}"

    def _publish(self, chunk: list[Pending], now: float, *, resend: bool = False) -> bool:
        """Publish consecutive entries (all online or all offline) in one message."""
        first = chunk[0]
        payload = self._batch_payload(chunk)
        # Useless once the edge stopped waiting: a copy still queued for a gateway that is
        # down expires in the broker; the offline version follows (see _refresh).
        props = (publish_properties(expiry_s=self.ctx.tuning.online_expiry_s)
                 if not first.offline else None)
        # Never under self.lock: paho holds its own lock while calling on_publish.
        info = self.ctx.client.publish(self._tx_topic, payload, qos=1, properties=props)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            for p in chunk:
                p.mid, p.next_try = None, 0.0
            self._scan_due = 0.0
            log.info("publish of %d tx (first %s) not queued (%s); waiting for the connection",
                     len(chunk), first.key, info.rc)
            return False
        with self.lock:
            for p in chunk:
                p.mid, p.acked, p.tries = info.mid, False, p.tries + 1
                p.sent_at = now
                p.next_try = now + self.backoff(p.tries)
            self.mids[info.mid] = [p.key for p in chunk]
            self._in_window += len(chunk)
        self.acks.track(info.mid, self.on_puback)
        stats = self.ctx.stats
        stats.published += len(chunk)
        stats.messages += 1
        if resend:
            stats.resent += len(chunk)
        return True
