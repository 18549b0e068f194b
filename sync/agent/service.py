"""The edge agent (``smartlib sync``): outbox → broker, results and cache → the edge store.

Sending: a sender thread wakes on the ``agent`` doorbell (or every ``poll_s``), reads
:meth:`~edge.store.outbox.OutboxRepository.next_sendable` (journal order, at most one open
entry per item), marks the batch ``sent`` in one transaction (:meth:`mark_sent`, *before*
publishing: the edge's ``cancel`` relies on a ``pending`` entry never having left the
box, and a cancelled entry is not returned by ``mark_sent`` so it is never published),
then publishes the entries at QoS 1 on ``…/{device}/tx``: a lone entry as a
:class:`~sync.messages.TransactionRequest`, consecutive ones (a backlog) up to
``tx_batch`` at a time as one :class:`~sync.messages.TransactionBatch` (the gateway
answers those with a :class:`~sync.messages.ResultBatch`). An entry whose result has not
come back within ``resend_after_s`` is published again (the gateway's ledger makes
duplicates harmless), with exponential back-off per entry; a refused PUBACK (for example
``0x87`` not authorised) backs off too. After a crash nothing in memory matters: every
open entry is re-sent.

Receiving: paho's network thread only queues messages (manual acknowledgement). A
receiver thread writes each batch of queued messages into the store in ONE transaction —
results (:meth:`record_result`), look-up replies, snapshot chunks, deltas — then
acknowledges them (PUBACK) and rings the edge once: a crash never loses an acknowledged
message, and the edge sees a result one commit after it arrives.

Re-sending reads the entry again from the store: an entry the edge accepted offline after
its first publish (``mark_offline``, after the edge's wait) goes again at once with
``offline=true``, its merged payload (``no_block``, ``nb_due_date``) and its original
``created_at``. An online copy is published with an MQTT 5 message expiry of the edge's
wait (``online_expiry_s``): a copy still queued in the broker for a gateway that is down
when the edge gives up waiting is dropped there, so the gateway gets the offline version.

Operations data: alarms, completed per-hour counters and device events of the store are
published once each on ``staff/alarm/{device}`` (the site's staff topic), ``…/stats`` and
``…/event``; the store's ``meta`` table keeps how far each stream was acknowledged by the
broker (``sync.published.*``). The current hour's counters (and the last one, until it is
published as completed) go on ``…/stats/live`` whenever they change, so other boxes see
today's counts live; the newest message of a device and hour replaces the older ones.

Site view: the agent subscribes to its site's retained statuses, statistics and staff
alarms (``topics.site_filters``) and writes what other devices publish into the store's
site tables (:class:`edge.store.SiteRepository`) for the staff console. A gateway's
status (role ``gateway``) turning from ``offline`` to ``online`` while connected makes every
unanswered entry go again at once.

Snapshots: when the store asks for one (``meta cache.rebuild_requested_at``, written by
``smartlib db rebuild-cache`` or :meth:`LookupRepository.request_snapshot`) or the cache
is empty at connect (a late-joining edge), the agent publishes a
:class:`~sync.messages.SnapshotRequest`; the answer arrives on ``…/snapshot/reply``.

Status: a retained ``online`` after connecting (published again when the backlog or the
reader state changes), and a retained last will ``offline``.

The agent imports ``edge.store`` only (never services or the API).
"""

from __future__ import annotations

import json
import logging
import math
import queue
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
import pydantic_core
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from sync import topics
from sync.errors import AgentError, InvalidMessageError, InvalidTopicError
from sync.messages import (
    Alarm,
    CacheDelta,
    CacheSnapshotChunk,
    DeviceEventReport,
    DeviceStatus,
    LookupRequest,
    LookupResponse,
    SnapshotRequest,
    Statistics,
    TransactionRequest,
    TransactionResult,
    decode,
    decode_results,
    encode,
    utcnow,
)

log = logging.getLogger(__name__)

_STATE_OF = {"applied": "applied", "refused": "refused", "conflict": "conflict", "error": "failed"}

_FAST_KINDS = frozenset({"checkout", "checkin", "renew", "renew_all"})

META_REBUILD_REQUESTED = "cache.rebuild_requested_at"
"""Set by ``smartlib db rebuild-cache`` (and :meth:`LookupRepository.request_snapshot`)."""
META_REBUILD_SENT = "sync.snapshot_requested_at"
META_ALARMS = "sync.published.alarms"
META_EVENTS = "sync.published.device_events"
META_STATS = "sync.published.stats_hour"
LOOKUP_RETRY_S = 10.0
"""How long a claimed look-up whose publish failed is retried from memory."""


@dataclass
class AgentTuning:
    """Flow control and retry settings of the agent (``[sync]`` in the configuration)."""

    window: int = 500
    """Transactions whose publish awaits its PUBACK at most."""
    tx_batch: int = 100
    """Transactions in one MQTT message at most: a backlog goes as
    :class:`~sync.messages.TransactionBatch` messages (one PUBLISH and one PUBACK for up
    to this many). 1: every transaction in a message of its own."""
    max_awaiting: int = 5000
    """Published entries awaiting their result at most (then the agent stops publishing)."""
    resend_after_s: float = 30.0
    """Re-publish an entry whose result has not arrived after this long (doubling each time)."""
    max_backoff_s: float = 600.0
    poll_s: float = 0.5
    """Backstop poll of the outbox when no doorbell rings."""
    keepalive_s: int = 30
    session_expiry_s: int = 7 * 24 * 3600
    receive_batch: int = 500
    """Received messages written in one store transaction at most."""
    publish_ops: bool = True
    """Publish alarms, hourly counters and device events."""
    ops_interval_s: float = 2.0
    """How often the operations streams are looked at."""
    stats_grace_s: float = 60.0
    """An hour's counters are published this long after the hour ended."""
    snapshot_on_empty_cache: bool = True
    """Ask for a snapshot when the cache has no items at connect (a late-joining edge)."""
    gateway_silence_s: float = 15.0
    """Connected to the broker, but a sent transaction has had no answer and nothing came
    from any gateway for this long: the gateway is reported ``offline`` to the edge."""
    resend_on_gateway_online: bool = True
    """Re-publish every unanswered entry when a gateway (re)connects."""
    online_expiry_s: float | None = None
    """MQTT 5 message expiry of an entry published with ``offline=false`` (the edge's
    ``policy.result_timeout_s`` from :meth:`SyncAgent.from_settings`); None: no expiry."""
    scan_s: float = 0.2
    """How often the awaiting entries are walked for re-sends at most (a backlog's
    thousands; passes come with every PUBACK and result)."""
    offline_check_s: float = 1.0
    """How often an entry sent online is looked up again to see if the edge accepted it
    offline meanwhile (then it is re-sent at once)."""
    site_view: bool = True
    """Subscribe to the site's statuses, statistics and alarms (the staff console's view)."""


@dataclass
class _Pending:
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


@dataclass
class AgentStats:
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
    resent: int = 0
    cancelled: int = 0
    alarms: int = 0
    stats: int = 0
    events: int = 0
    snapshot_requests: int = 0
    lookups_sent: int = 0
    site: int = 0
    """Statuses, statistics and alarms of the site's devices stored."""
    stats_live: int = 0
    """Publishes of a not yet completed hour's counters."""
    statuses: int = 0
    offline_resends: int = 0
    """Entries re-sent at once because the edge accepted them offline after their first send."""
    extra: dict[str, int] = field(default_factory=dict)


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


def _aware(stamp: str | None) -> datetime | None:
    if not stamp:
        return None
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


class SyncAgent:
    """The agent of one box.

    Args:
        store: the open edge store (``edge.store.open_store``).
        site / device: who this box is (topics and payloads carry them).
        client: a paho MQTT 5 client with ``manual_ack=True`` (credentials, TLS and the
            last will already set; see :func:`make_agent_client`).
        host / port: the broker.
        tuning: flow control and retries.
        role: the device role reported in the status.
    """

    def __init__(self, store: Any, *, site: str, device: str, client: mqtt.Client, host: str,
                 port: int, tuning: AgentTuning | None = None, role: str = "kiosk") -> None:
        self.store = store
        self.site, self.device, self.role = topics.check_id(site, "site"), topics.check_id(device, "device"), role
        self.client = client
        self.host, self.port = host, port
        self.tuning = tuning or AgentTuning()
        self.stats = AgentStats()
        self.connected = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._pending: dict[str, _Pending] = {}
        self._mids: dict[int, list[str]] = {}
        self._early: dict[int, tuple[float, Any]] = {}
        self._in_window = 0
        self._scan_due = 0.0
        self._scan_from: int | None = 0
        """Open entries, ``sent`` ones too, are read from after this journal seq (after a
        start or reconnect); None once that scan reached the end: ``pending`` ones only."""
        self._rung = False
        self._inbox: queue.SimpleQueue[mqtt.MQTTMessage] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._ops_mids: dict[int, tuple[str, str]] = {}
        self._ops_next = 0.0
        self._ops_failed = False
        self._ops_cursors: dict[str, str] = {}
        self._snapshot_check = True
        self._unsent_lookups: list[tuple[Any, float]] = []
        self._online: bool | None = None
        self._last_heard = time.monotonic()
        self._live_stats: dict[str, dict[str, int]] = {}
        self._replay_stats = False
        self._gateways: dict[str, str] = {}
        self._status_sent: tuple[Any, ...] | None = None
        self._status_next = 0.0
        self._since: datetime | None = None
        from edge.store import SiteRepository

        self.site_view = SiteRepository(store)
        self._tx_topic = topics.tx(site, device)
        self._status_topic = topics.status(site, device)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message

    # ---- construction -------------------------------------------------------------------------

    @classmethod
    def from_settings(cls, settings: Any, tuning: AgentTuning | None = None) -> SyncAgent:
        """Open the store and build the client from ``[site]``, ``[device]``, ``[broker]``,
        ``[store]`` and ``[sync]``."""
        from edge.store import open_store

        site, device = settings.site.id, settings.device.id
        try:
            store = open_store(settings.store.path)
        except Exception as exc:
            raise AgentError(f"cannot open the edge store {settings.store.path}: {exc}") from exc
        if tuning is None:
            sec = settings.sync
            tuning = AgentTuning(window=sec.window, tx_batch=sec.tx_batch, max_awaiting=sec.max_awaiting,
                                 resend_after_s=sec.resend_s, max_backoff_s=sec.max_backoff_s,
                                 poll_s=sec.poll_s, session_expiry_s=settings.broker.session_expiry_s,
                                 publish_ops=sec.publish_ops, stats_grace_s=sec.stats_grace_s,
                                 snapshot_on_empty_cache=sec.snapshot_on_empty_cache,
                                 online_expiry_s=settings.policy.result_timeout_s,
                                 resend_on_gateway_online=sec.resend_on_gateway_online)
        client = make_agent_client(settings.broker, site, device)
        return cls(store, site=site, device=device, client=client, host=settings.broker.host,
                   port=settings.broker.port, tuning=tuning, role=settings.device.role)

    # ---- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Connect (in the background, with back-off) and start the sender and receiver."""
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.tuning.session_expiry_s
        self.client.connect_async(self.host, self.port, keepalive=self.tuning.keepalive_s,
                                  clean_start=False, properties=props)
        self.client.loop_start()
        for target, name in ((self._sender, "sync-agent-sender"),
                             (self._receiver, "sync-agent-receiver")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        """Publish ``offline``, disconnect, stop the threads (the store stays open)."""
        self._stop.set()
        self.store.ring("agent")
        for t in self._threads:
            t.join(10)
        self._threads.clear()
        if self.connected.is_set():
            info = self.client.publish(self._status_topic, encode(self._offline_status()),
                                       qos=1, retain=True)
            info.wait_for_publish(2)
        self.client.disconnect()
        self.client.loop_stop()

    def run(self, stop: threading.Event) -> None:
        """Run until ``stop`` is set; closes the store at the end."""
        self.start()
        log.info("sync agent %s/%s -> %s:%d", self.site, self.device, self.host, self.port)
        try:
            stop.wait()
        finally:
            self.stop()
            self.store.close()

    # ---- MQTT callbacks ----------------------------------------------------------------------

    def _offline_status(self) -> DeviceStatus:
        return DeviceStatus(site=self.site, device=self.device, state="offline",
                            role=self.role, since=utcnow())

    def _online_status(self, facts: tuple[int | None, str | None, int | None]) -> DeviceStatus:
        backlog, reader, failures = facts
        return DeviceStatus(site=self.site, device=self.device, state="online", role=self.role,
                            backlog=backlog, since=self._since, reader=reader,  # type: ignore[arg-type]
                            reader_failures=failures)

    def _status_facts(self) -> tuple[int | None, str | None, int | None]:
        """The backlog, the reader's last state and its failures of the last 24 hours."""
        backlog = reader = failures = None
        try:
            backlog = self.store.outbox.backlog().open
            day_ago = (datetime.now(UTC) - timedelta(hours=24)).isoformat(
                timespec="milliseconds").replace("+00:00", "Z")
            reader, failures = self.store.events.reader_summary(day_ago)
            if reader is None:
                failures = None  # a box without a reader (or before its first report)
        except Exception:
            log.exception("cannot read the backlog and reader state for the status")
        return backlog, reader, failures

    def _publish_status_if_changed(self) -> None:
        now = time.monotonic()
        if self._status_sent is not None and now < self._status_next:
            return
        self._status_next = now + self.tuning.ops_interval_s
        facts = self._status_facts()
        if facts == self._status_sent:
            return
        msg = self._online_status(facts)
        info = self.client.publish(self._status_topic, encode(msg), qos=1, retain=True)
        if info.rc == mqtt.MQTT_ERR_SUCCESS:
            self._status_sent = facts
            self.stats.statuses += 1

    def _on_connect(self, client: mqtt.Client, _u: Any, flags: Any, rc: Any, _p: Any) -> None:
        if rc.is_failure:
            log.error("broker refused the agent: %s", rc)
            return
        subs = [(topics.result(self.site, self.device), 1),
                (topics.lookup_reply(self.site, self.device), 1),
                (topics.snapshot_reply(self.site, self.device), 1),
                (topics.cache_filter(self.site, self.role), 1)]
        if self.tuning.site_view:
            subs += [(f, 1) for f in topics.site_filters(self.site)]
        client.subscribe(subs)
        self._since = utcnow()
        self._status_sent = None  # the sender publishes the status (backlog, reader) at once
        self._gateways.clear()
        self._live_stats.clear()
        with self._lock:
            # Whatever was in flight on the old connection, and any result the gateway sent
            # while we were away, may be lost: send every open entry again (duplicates are
            # answered from the gateway's ledger).
            for p in self._pending.values():
                p.mid, p.acked, p.next_try = None, False, 0.0
            self._scan_due = 0.0
            self._mids.clear()
            self._early.clear()
            self._ops_mids.clear()
            self._ops_failed = True  # the last round may not have reached the broker
            self._in_window = 0
            self._scan_from = 0
            self._snapshot_check = True
            self._ops_next = 0.0
        self._last_heard = time.monotonic()
        self.connected.set()
        log.info("agent connected (session present: %s)", flags.session_present)
        self.store.ring("agent")

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        self.connected.clear()
        if not self._stop.is_set():
            log.warning("agent lost the broker (%s); reconnecting with back-off", rc)
            self.store.ring("agent")  # the sender records "offline" for the edge

    def _on_publish(self, _c: mqtt.Client | None, _u: Any, mid: int, rc: Any, _p: Any) -> None:
        with self._lock:
            if mid not in self._ops_mids and mid not in self._mids:
                # A PUBACK faster than the publisher's bookkeeping (publish() runs outside
                # our lock: paho calls this callback holding its own), or an untracked
                # publish (status, look-ups): kept briefly for the publisher to claim.
                now = time.monotonic()
                self._early[mid] = (now, rc)
                if len(self._early) > 1000:
                    self._early = {m: v for m, v in self._early.items() if now - v[0] < 5}
                return
            ops = self._ops_mids.pop(mid, None)
            if ops is not None:
                if rc.is_failure:
                    self._ops_failed = True
                    log.warning("broker refused a %s message (%s)", ops[0], rc)
                return
            keys = self._mids.pop(mid, None)
            if keys is None:
                return
            self._in_window -= len(keys)
            wake = not self._rung
            self._rung = True
            refused = rc.is_failure
            for key in keys:
                p = self._pending.get(key)
                if p is None or p.mid != mid:
                    continue  # answered meanwhile, or published again since
                if refused:
                    self.stats.refused_pubacks += 1
                    p.mid = None
                    p.next_try = time.monotonic() + self._backoff(p.tries)
                else:
                    p.acked = True
                    self.stats.acked += 1
            if refused:
                log.warning("broker refused %d tx (%s, first %s); retrying with back-off",
                            len(keys), rc, keys[0])
        if wake:  # one wake-up per sender pass: refill the window
            self.store.ring("agent")

    def _backoff(self, tries: int) -> float:
        return float(min(self.tuning.max_backoff_s, self.tuning.resend_after_s * 2 ** max(0, tries - 1)))

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        # paho's network thread: queue only; the receiver writes and then acknowledges.
        self._inbox.put(msg)

    # ---- receiving ---------------------------------------------------------------------------

    def _receiver(self) -> None:
        while not self._stop.is_set():
            try:
                first = self._inbox.get(timeout=0.2)
            except queue.Empty:
                continue
            batch = [first]
            while len(batch) < self.tuning.receive_batch:
                try:
                    batch.append(self._inbox.get_nowait())
                except queue.Empty:
                    break
            self._write_with_retry(batch)

    def _write_with_retry(self, batch: list[mqtt.MQTTMessage]) -> None:
        """Write a batch; a busy database is retried, a message that cannot be stored at all
        is logged and dropped on its own (the rest of its batch is still stored)."""
        import sqlite3

        while not self._stop.is_set():
            try:
                self._write_batch(batch)
                return
            except sqlite3.OperationalError:
                # Busy or locked: not acknowledged; try the same batch again.
                log.exception("agent could not store %d received message(s); retrying",
                              len(batch))
                self._stop.wait(0.5)
            except Exception:
                if len(batch) > 1:
                    for msg in batch:
                        self._write_with_retry([msg])
                    return
                msg = batch[0]
                log.exception("message on %s cannot be stored; dropped", msg.topic)
                self.stats.rejected += 1
                if msg.qos > 0:
                    self.client.ack(msg.mid, msg.qos)
                return

    def _write_batch(self, batch: list[mqtt.MQTTMessage]) -> None:
        """Store a batch in one transaction, then PUBACK it and ring the edge once."""
        from edge.store.errors import StoreError

        wake_agent = False
        counts = {"results": 0, "lookups": 0, "chunks": 0, "deltas": 0, "rejected": 0, "site": 0}
        done: list[str] = []
        results: list[tuple[str, dict[str, Any], str]] = []
        with self.store.transaction():
            for msg in batch:
                try:
                    kind, n, bad = self._store_message(msg, done, results)
                    counts[kind] += n
                    counts["rejected"] += bad  # counted once the batch is stored
                    wake_agent = wake_agent or kind == "results"
                except (InvalidTopicError, InvalidMessageError) as exc:
                    counts["rejected"] += 1
                    log.warning("rejected message on %s: %s", msg.topic, exc)
                except StoreError as exc:
                    log.warning("message on %s not stored: %s", msg.topic, exc)
            if results:
                # The batch's results in one pass over the journal (no row read back).
                for key in self.store.outbox.record_results(results):
                    log.warning("result for %s not stored: no outbox entry with this key", key)
        for msg in batch:
            if msg.qos > 0:
                self.client.ack(msg.mid, msg.qos)
        self._last_heard = time.monotonic()
        with self._lock:
            for key in done:
                self._pending.pop(key, None)
        for k, n in counts.items():
            setattr(self.stats, k, getattr(self.stats, k) + n)
        self.store.ring("edge")
        if wake_agent:
            self.store.ring("agent")  # the next entry of the same item may go now

    def _store_message(self, msg: mqtt.MQTTMessage, done: list[str],
                       results: list[tuple[str, dict[str, Any], str]]) -> tuple[str, int, int]:
        """Store one message (results are collected in ``results`` for one batch write).

        Returns:
            What it was (a key of the receive counters), how many of it it held, and how
            many of its entries were rejected (a result batch's bad entries).
        """
        ref = topics.parse(msg.topic)
        if (ref.site == self.site and ref.device is not None
                and ref.kind in ("status", "stats", "stats/live", "alarm")):
            self._on_site_message(ref, msg)
            return "site", 1, 0
        if ref.site != self.site or ref.device not in (None, self.device):
            raise InvalidTopicError(f"not a topic of {self.site}/{self.device}")
        if ref.kind == "result":
            got, bad = decode_results(msg.payload)  # one result, or a ResultBatch
            for exc in bad:
                log.warning("rejected part of a result batch on %s: %s", msg.topic, exc)
            for res in got:
                if (res.site, res.device) != (self.site, self.device):
                    raise InvalidMessageError(f"result for {res.site}/{res.device} on our topic")
            for res in got:
                results.append((res.key, result_dict(res), _STATE_OF[res.status]))
                done.append(res.key)
            return "results", len(got), len(bad)
        if ref.kind == "lookup/reply":
            self._on_lookup_reply(decode(LookupResponse, msg.payload), msg)
            return "lookups", 1, 0
        if ref.kind in ("cache/snapshot", "cache/gate/snapshot", "snapshot/reply"):
            chunk = decode(CacheSnapshotChunk, msg.payload)
            if chunk.site != self.site:
                raise InvalidMessageError(f"snapshot chunk for site {chunk.site} on our topic")
            self._on_chunk(chunk)
            return "chunks", 1, 0
        if ref.kind in ("cache/delta", "cache/gate/delta"):
            self._on_delta(decode(CacheDelta, msg.payload))
            return "deltas", 1, 0
        raise InvalidTopicError(f"the agent does not consume {ref.kind!r}")

    def _on_site_message(self, ref: topics.TopicRef, msg: mqtt.MQTTMessage) -> None:
        """A device's status, statistics or alarm, into the site view (our own alarms and
        counters are in the store already: only their status is kept)."""
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
            before = self.site_view.device(device)
            self.site_view.record_status(device, m.state, role=m.role, backlog=m.backlog,
                                         since=m.since, reader=m.reader,
                                         reader_failures=m.reader_failures, reported_at=m.at)
            came = m.state == "online" and (before is None or before.state != "online")
            if came and m.role != "gateway" and device != self.device:
                self._replay_stats = True  # a box (re)joined: it gets our last day's counts
            if m.role == "gateway":
                was = self._gateways.get(device)
                self._gateways[device] = m.state
                # A gateway publishes "online" on every connect: a live (not retained)
                # "online" is a gateway that just (re)connected, even when the retained
                # status already said online (a broker restart keeps the old one).
                came = m.state == "online" and (was == "offline" or not msg.retain)
            if m.role == "gateway" and came and self.tuning.resend_on_gateway_online:
                # A gateway seen offline on this connection came back: what it may have
                # missed goes again now (on a connect everything goes anyway; a broker
                # restart drops what reached a shared subscription with no gateway on it,
                # and an online copy may have expired in the broker).
                with self._lock:
                    for p in self._pending.values():
                        p.next_try = 0.0
                    self._scan_due = 0.0
                self.stats.extra["gateway_online_resends"] = (
                    self.stats.extra.get("gateway_online_resends", 0) + 1)
                self.store.ring("agent")
        elif device == self.device:
            return
        elif isinstance(m, Statistics):
            self.site_view.record_stats(device, m.period_start, m.counters)
        else:
            if m.alarm_id is None:
                raise InvalidMessageError("an alarm of the site view needs its alarm_id")
            self.site_view.record_alarm(device, m.alarm_id, m.kind, created_at=m.at,
                                        source=m.source, item_id=m.item, uid=m.uid,
                                        title=m.title, direction=m.direction,
                                        message=m.message, detail=m.detail, acked_at=m.acked_at)

    def _on_lookup_reply(self, resp: LookupResponse, msg: mqtt.MQTTMessage) -> None:
        corr = getattr(getattr(msg, "properties", None), "CorrelationData", None)
        lookup_id = corr.decode() if isinstance(corr, bytes | bytearray) else resp.request_id
        if lookup_id != resp.request_id:
            raise InvalidMessageError(f"correlation data {lookup_id} does not match {resp.request_id}")
        self.store.lookups.answer(lookup_id, resp.model_dump(mode="json", exclude_none=True),
                                  ok=resp.ok, ring=False)

    @staticmethod
    def _rows(kind: str, xs: list[Any]) -> list[Any]:
        # Items, loans and holds have the cache's column order (the fast tuple path);
        # patrons are passed by name (the cache has an extra ``verified_at`` column).
        if kind == "patrons":
            return [r.model_dump(exclude={"v"}) for r in xs]
        if kind == "loans":  # a gate's loans carry no patron (the column is NOT NULL: "")
            return [(r.item_id, r.patron_id or "", r.due_date, r.loaned_at, r.offline) for r in xs]
        return [tuple(r.model_dump(exclude={"v"}).values()) for r in xs]

    def _on_chunk(self, chunk: CacheSnapshotChunk) -> None:
        rows = self._rows(chunk.kind, chunk.rows)
        done = self.store.cache.apply_snapshot_chunk(chunk.kind, chunk.snapshot_id, chunk.seq,
                                                     chunk.total, rows)
        if done:
            log.info("cache snapshot %s of %s complete", chunk.snapshot_id, chunk.kind)

    def _on_delta(self, delta: CacheDelta) -> None:
        if delta.site != self.site:
            raise InvalidMessageError(f"cache delta for site {delta.site} on our topic")

        rows = self._rows
        self.store.cache.apply_delta(items=rows("items", delta.items),
                                     patrons=rows("patrons", delta.patrons),
                                     loans=rows("loans", delta.loans),
                                     holds=rows("holds", delta.holds),
                                     deleted_items=delta.deleted_items,
                                     returned_items=delta.returned_items,
                                     deleted_holds=[tuple(h) for h in delta.deleted_holds])

    # ---- sender ------------------------------------------------------------------------------

    def _sender(self) -> None:
        bell = self.store.doorbell("agent")
        while not self._stop.is_set():
            with self._lock:
                self._rung = False
            try:
                self._update_connectivity()
                if self.connected.is_set():
                    self._publish_status_if_changed()
                    self._send_lookups()
                    self._send_transactions()
                    self._request_snapshot_if_needed()
                    if self.tuning.publish_ops:
                        self._publish_ops()
            except Exception:
                log.exception("agent sender failed; retrying")
                self._stop.wait(0.5)
            bell.wait(self.tuning.poll_s)

    def gateway_reachable(self) -> bool:
        """Connected to the broker, and no sign that the gateways stopped answering."""
        if not self.connected.is_set():
            return False
        now = time.monotonic()
        silence = self.tuning.gateway_silence_s
        if now - self._last_heard < silence:
            return True
        with self._lock:
            return not any(p.acked and now - p.sent_at > silence for p in self._pending.values())

    def _update_connectivity(self) -> None:
        """Write ``meta agent.connectivity`` (read by ``/health`` and the kiosk) on change."""
        online = self.gateway_reachable()
        if online == self._online:
            return
        self.store.meta.set_connectivity(online)
        self._online = online
        log.info("connectivity to the broker and gateways: %s", "online" if online else "offline")
        self.store.ring("edge")

    def _mark_and_publish(self, batch: list[_Pending], now: float, *, resend: bool = False) -> bool:
        """``mark_sent`` the batch in one transaction, then publish what it returned.

        Returns False when the client would not take a publish (not connected).
        """
        if not batch:
            return True
        marked = set(self.store.outbox.mark_sent(*(p.key for p in batch)))
        chunk: list[_Pending] = []
        for p in batch:
            if p.key in marked and resend and not self._refresh(p):
                marked.discard(p.key)
            if p.key not in marked:
                # Cancelled by the edge, or answered meanwhile: never publish it.
                with self._lock:
                    self._pending.pop(p.key, None)
                self.stats.cancelled += 1
                continue
            # Journal order is kept: a message holds consecutive entries of one kind
            # (online copies carry a message expiry, offline ones none).
            if chunk and (len(chunk) >= self.tuning.tx_batch or chunk[0].offline != p.offline):
                if not self._publish(chunk, now, resend=resend):
                    return False
                chunk = []
            chunk.append(p)
        return not chunk or self._publish(chunk, now, resend=resend)

    def _refresh(self, p: _Pending) -> bool:
        """Rebuild a re-sent entry's payload from its row as it is now (the edge may have
        accepted it offline since: ``offline``, ``no_block``, ``nb_due_date``).

        Returns False when the entry is gone or closed, or can no longer be sent.
        """
        e = self.store.outbox.find(p.key)
        if e is None or not e.is_open:
            return False
        payload = self._payload(e)
        if payload is None:
            return False
        p.payload, p.offline = payload, bool(e.offline)
        return True

    def _check_accepted_offline(self, now: float, limit: int = 200) -> None:
        """Entries sent online that the edge has accepted offline since go again now."""
        with self._lock:
            due = sorted((p for p in self._pending.values()
                          if not p.offline and (p.acked or p.mid is None) and p.payload is not None
                          and now - p.checked >= self.tuning.offline_check_s),
                         key=lambda p: p.checked)[:limit]
            for p in due:
                p.checked = now
        offline = self.store.outbox.open_offline(p.key for p in due)
        for p in due:
            if p.key in offline:
                with self._lock:
                    if p.acked or p.mid is None:
                        p.mid, p.acked, p.next_try = None, False, 0.0
                        p.offline = True  # rebuilt from the row by the resend
                self.stats.offline_resends += 1

    def _send_transactions(self) -> None:
        t = self.tuning
        now = time.monotonic()
        again: list[_Pending] = []
        # Steps 0 and 1 walk every awaiting entry (thousands in a backlog): at most every
        # ``scan_s``, or at once after something made entries due now (a reconnect, a
        # gateway online, a publish not queued). Passes come with every PUBACK and result.
        scan = now >= self._scan_due
        if scan:
            self._scan_due = now + t.scan_s
            # 0. An entry the edge accepted offline after it was sent online goes again now.
            self._check_accepted_offline(now)
        with self._lock:
            if scan:
                # 1. Entries awaiting a result for too long (or since a reconnect) go again,
                #    their payload rebuilt from the store (the offline flag may have changed).
                for p in self._pending.values():
                    if p.next_try <= now:
                        if p.acked:
                            p.mid, p.acked = None, False
                        if p.mid is None and p.payload is not None:
                            again.append(p)
            budget = min(t.window - self._in_window, t.max_awaiting - len(self._pending))
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
            return
        with self._lock:
            after = self._scan_from
        entries = self.store.outbox.next_sendable(limit=budget, include_sent=after is not None,
                                                  after_seq=after or 0)
        if after is not None:
            with self._lock:
                # Moved on only if no reconnect set it back meanwhile. (One that set it back
                # to 0 while the first page was read is not told apart: harmless, since what
                # that page and the pages before it held is in ``_pending``, all re-sent.)
                if self._scan_from == after:
                    self._scan_from = None if len(entries) < budget else entries[-1].seq
        batch: list[_Pending] = []
        for e in entries:
            with self._lock:
                if e.key in self._pending:
                    continue
            payload = self._payload(e)
            if payload is None:
                continue
            p = _Pending(e.key, payload=payload, offline=bool(e.offline), checked=now)
            with self._lock:
                self._pending[e.key] = p
            batch.append(p)
        self._mark_and_publish(batch, now)

    def _payload(self, e: Any) -> bytes | None:
        """The ``TransactionRequest`` JSON of an outbox entry (``None``: marked failed).

        Our own store rows are well-formed (UUID keys, UTC timestamps ending in ``Z``): when
        an entry passes the cheap checks the JSON is written directly; anything else goes
        through the full model, whose error is recorded as the entry's result.
        """
        if (e.kind in _FAST_KINDS and isinstance(e.created_at, str) and e.created_at.endswith("Z")
                and len(e.key) == 36 and (e.item_id or e.kind == "renew_all")
                and (e.patron_ref or e.kind == "checkin")
                and (e.item_id is None or 0 < len(e.item_id) <= 64)
                and (e.patron_ref is None or 0 < len(e.patron_ref) <= 64)):
            data: dict[str, Any] = {"v": 1, "key": e.key, "kind": e.kind, "site": self.site,
                                    "device": self.device, "created_at": e.created_at,
                                    "offline": bool(e.offline), "payload": e.payload or {}}
            if e.patron_ref is not None:
                data["patron"] = e.patron_ref
            if e.item_id is not None:
                data["item"] = e.item_id
            # pydantic-core's encoder: the same compact UTF-8 JSON as json.dumps, 4x cheaper.
            return pydantic_core.to_json(data)
        try:
            req = TransactionRequest(
                key=e.key, kind=e.kind, site=self.site, device=self.device,
                patron=e.patron_ref, item=e.item_id, created_at=e.created_at,
                offline=e.offline, payload=e.payload)
        except ValueError as exc:
            log.error("outbox entry %s cannot be sent (%s); marking it failed", e.key, exc)
            self.store.outbox.record_result(
                e.key, {"ok": False, "code": "unsupported", "message": str(exc)}, "failed")
            return None
        return encode(req)

    def _batch_payload(self, chunk: list[_Pending]) -> bytes:
        """One request as it is, several as a :class:`~sync.messages.TransactionBatch`
        (each request's JSON is joined in as built: nothing is encoded twice)."""
        if len(chunk) == 1:
            assert chunk[0].payload is not None
            return chunk[0].payload
        head = json.dumps({"v": 1, "site": self.site, "device": self.device},
                          separators=(",", ":")).encode()
        return head[:-1] + b',"transactions":[' + b",".join(
            p.payload for p in chunk if p.payload is not None) + b"]}"

    def _publish(self, chunk: list[_Pending], now: float, *, resend: bool = False) -> bool:
        """Publish consecutive entries (all online or all offline) in one message."""
        first = chunk[0]
        payload = self._batch_payload(chunk)
        props = None
        if not first.offline and self.tuning.online_expiry_s:
            # Useless once the edge stopped waiting: a copy still queued for a gateway that
            # is down expires in the broker; the offline version follows (see _refresh).
            props = Properties(PacketTypes.PUBLISH)
            props.MessageExpiryInterval = max(1, math.ceil(self.tuning.online_expiry_s))
        # Never under self._lock: paho holds its own lock while calling _on_publish.
        info = self.client.publish(self._tx_topic, payload, qos=1, properties=props)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            for p in chunk:
                p.mid, p.next_try = None, 0.0
            self._scan_due = 0.0
            log.info("publish of %d tx (first %s) not queued (%s); waiting for the connection",
                     len(chunk), first.key, info.rc)
            return False
        with self._lock:
            for p in chunk:
                p.mid, p.acked, p.tries = info.mid, False, p.tries + 1
                p.sent_at = now
                p.next_try = now + self._backoff(p.tries)
            self._mids[info.mid] = [p.key for p in chunk]
            self._in_window += len(chunk)
            early = self._early.pop(info.mid, None)
        if early is not None:
            self._on_publish(None, None, info.mid, early[1], None)
        self.stats.published += len(chunk)
        self.stats.messages += 1
        if resend:
            self.stats.resent += len(chunk)
        return True

    def _send_lookups(self) -> None:
        """Claim pending look-ups (their secrets are wiped from the store), publish them.

        A look-up whose publish is not queued (the connection is going) is kept in memory
        with its PIN, never written back to disk, and sent again on the next pass; after
        ``LOOKUP_RETRY_S`` it is answered ``failed`` (the edge falls back to its offline
        policy). Once anything with a secret was claimed the WAL is checkpointed and
        truncated, so the frames that held the PIN leave the disk.
        """
        now = time.monotonic()
        retry, self._unsent_lookups = self._unsent_lookups, []
        claimed = [(rec, first) for rec, first in retry]
        fresh = self.store.lookups.claim(limit=50)
        claimed += [(rec, now) for rec in fresh]
        secret = any(k in rec.request for rec in fresh for k in ("pin", "password"))
        for rec, first in claimed:
            r = rec.request
            try:
                req = LookupRequest(request_id=rec.id, kind=rec.kind, site=self.site,  # type: ignore[arg-type]
                                    device=self.device, patron=r.get("patron") or r.get("patron_id"),
                                    pin=r.get("pin"), item=r.get("item") or r.get("item_id"))
            except ValueError as exc:
                log.warning("look-up %s is invalid: %s", rec.id, exc)
                self.store.lookups.answer(rec.id, {"error": "invalid look-up"}, ok=False)
                continue
            props = Properties(PacketTypes.PUBLISH)
            props.ResponseTopic = topics.lookup_reply(self.site, self.device)
            props.CorrelationData = rec.id.encode()
            info = self.client.publish(topics.lookup(self.site, self.device), encode(req), qos=1,
                                       properties=props)
            if info.rc == mqtt.MQTT_ERR_SUCCESS:
                self.stats.lookups_sent += 1
            elif now - first < LOOKUP_RETRY_S:
                log.info("look-up %s not queued (%s); kept for the next pass", rec.id, info.rc)
                self._unsent_lookups.append((rec, first))
            else:
                log.warning("look-up %s could not be sent for %.0fs; failed", rec.id, now - first)
                self.store.lookups.answer(rec.id, {"error": "not sent"}, ok=False)
        if secret:
            self.store.lookups.scrub()

    # ---- snapshot requests -------------------------------------------------------------------

    def _request_snapshot_if_needed(self) -> None:
        meta = self.store.meta
        requested = meta.get(META_REBUILD_REQUESTED)
        sent = meta.get(META_REBUILD_SENT)
        reason = None
        if requested and (not sent or sent < requested):
            reason = "rebuild"
        elif self._snapshot_check and self.tuning.snapshot_on_empty_cache and not sent:
            if self.store.cache.counts().get("items", 0) == 0:
                reason = "empty"
        self._snapshot_check = False
        if reason is None:
            return
        from edge.store import utcnow

        req = SnapshotRequest(request_id=str(uuid.uuid4()), site=self.site, device=self.device,
                              reason=reason, role="gate" if self.role == "gate" else None)
        info = self.client.publish(topics.snapshot_request(self.site, self.device), encode(req),
                                   qos=1)
        if info.rc == mqtt.MQTT_ERR_SUCCESS:
            meta.set(META_REBUILD_SENT, utcnow())
            self.stats.snapshot_requests += 1
            log.info("asked the gateways for a cache snapshot (%s)", reason)

    # ---- alarms, statistics, device events -----------------------------------------------------

    def _publish_ops(self) -> None:
        """Publish the next rows of each operations stream; cursors move after the PUBACKs."""
        now = time.monotonic()
        with self._lock:
            busy = bool(self._ops_mids)
            failed, self._ops_failed = self._ops_failed, False
        if busy or now < self._ops_next:
            return
        if self._ops_cursors and not failed:
            # Every message of the previous round was acknowledged: move the cursors.
            for name, value in self._ops_cursors.items():
                self.store.meta.set(name, value)
        if failed:
            self._live_stats.clear()  # publish the live hours again
        self._ops_cursors = {}
        self._ops_next = now + self.tuning.ops_interval_s
        sent = self._publish_alarms() + self._publish_events() + self._publish_stats()
        if sent:
            self._ops_next = now  # more may be waiting: look again at the next pass

    def _ops_publish(self, stream: str, topic: str, payload: bytes,
                     cursor: tuple[str, str] | None) -> bool:
        info = self.client.publish(topic, payload, qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            return False
        with self._lock:
            self._ops_mids[info.mid] = (stream, cursor[1] if cursor else "")
            early = self._early.pop(info.mid, None)
        if cursor is not None:
            self._ops_cursors[cursor[0]] = cursor[1]
        if early is not None:
            self._on_publish(None, None, info.mid, early[1], None)
        return True

    def _publish_alarms(self, limit: int = 100) -> int:
        last = int(self.store.meta.get(META_ALARMS, "0") or 0)
        rows = self.store.query(
            "SELECT * FROM alarms WHERE id > ? ORDER BY id LIMIT ?", (last, limit))
        n = 0
        for r in rows:
            detail = json.loads(r["detail"] or "{}")
            try:
                msg = Alarm(site=self.site, device=self.device, alarm_id=r["id"], kind=r["kind"],
                            source=r["device"] or None,
                            item=r["item_id"], uid=r["uid"], message=r["message"] or None,
                            title=detail.get("title") if isinstance(detail.get("title"), str) else None,
                            direction=detail.get("direction") if isinstance(detail.get("direction"), str) else None,
                            detail=detail if isinstance(detail, dict) else {"value": detail},
                            at=_aware(r["created_at"]), acked_at=_aware(r["acked_at"]))
            except ValueError as exc:
                log.error("alarm %s cannot be published (%s); skipped", r["id"], exc)
                self._ops_cursors[META_ALARMS] = str(r["id"])
                continue
            if not self._ops_publish("alarm", topics.staff_alarm(self.site, self.device),
                                     encode(msg), (META_ALARMS, str(r["id"]))):
                break
            n += 1
        self.stats.alarms += n
        return n

    def _publish_events(self, limit: int = 100) -> int:
        last = int(self.store.meta.get(META_EVENTS, "0") or 0)
        rows = self.store.query(
            "SELECT * FROM device_events WHERE id > ? ORDER BY id LIMIT ?", (last, limit))
        n = 0
        for r in rows:
            detail = json.loads(r["detail"] or "{}")
            try:
                msg = DeviceEventReport(site=self.site, device=self.device, event_id=r["id"],
                                        source=r["device"] or self.device, kind=r["kind"],
                                        detail=detail if isinstance(detail, dict) else {"value": detail},
                                        at=_aware(r["at"]))
            except ValueError as exc:
                log.error("device event %s cannot be published (%s); skipped", r["id"], exc)
                self._ops_cursors[META_EVENTS] = str(r["id"])
                continue
            if not self._ops_publish("event", topics.event(self.site, self.device), encode(msg),
                                     (META_EVENTS, str(r["id"]))):
                break
            n += 1
        self.stats.events += n
        return n

    def _publish_stats(self, limit: int = 48) -> int:
        """Publish each completed hour's counters once (``stats_grace_s`` after it ended)."""
        last = self.store.meta.get(META_STATS, "") or ""
        ready = (datetime.now(UTC) - timedelta(seconds=self.tuning.stats_grace_s)
                 - timedelta(hours=1)).strftime("%Y-%m-%dT%H")
        rows = self.store.query(
            "SELECT hour, name, value FROM counters WHERE hour > ? AND hour <= ? "
            "ORDER BY hour, name", (last, ready))
        hours: dict[str, dict[str, int]] = {}
        for r in rows:
            hours.setdefault(r["hour"], {})[r["name"]] = int(r["value"])
        n = 0
        for hour in sorted(hours)[:limit]:
            start = datetime.strptime(hour, "%Y-%m-%dT%H").replace(tzinfo=UTC)
            msg = Statistics(site=self.site, device=self.device, period_start=start,
                             counters=hours[hour])
            if not self._ops_publish("stats", topics.stats(self.site, self.device), encode(msg),
                                     (META_STATS, hour)):
                break
            n += 1
        self.stats.stats += n
        if n < len(hours):
            return n  # more completed hours first
        self._publish_live_stats(max(last, ready))
        return n

    def _publish_live_stats(self, after: str) -> None:
        """Publish the counters of the hours after ``after`` (not yet published as completed:
        the current hour, and the last one during ``stats_grace_s``) when they changed.

        After another box came online, every hour of the last 24 is published again (it
        may have missed them: statistics are not retained).
        """
        if self._replay_stats:
            self._replay_stats = False
            self._live_stats.clear()
            after = min(after, (datetime.now(UTC) - timedelta(hours=24)).strftime("%Y-%m-%dT%H"))
        hours: dict[str, dict[str, int]] = {}
        for r in self.store.query("SELECT hour, name, value FROM counters WHERE hour > ? "
                                  "ORDER BY hour, name", (after,)):
            hours.setdefault(r["hour"], {})[r["name"]] = int(r["value"])
        self._live_stats = {h: c for h, c in self._live_stats.items() if h > after}
        for hour, counters in sorted(hours.items()):
            if self._live_stats.get(hour) == counters:
                continue
            start = datetime.strptime(hour, "%Y-%m-%dT%H").replace(tzinfo=UTC)
            msg = Statistics(site=self.site, device=self.device, period_start=start,
                             counters=counters)
            if not self._ops_publish("stats", topics.stats_live(self.site, self.device),
                                     encode(msg), None):
                return
            self._live_stats[hour] = counters
            self.stats.stats_live += 1


def make_agent_client(broker: Any, site: str, device: str) -> mqtt.Client:
    """A paho client for a box: fixed client id, credentials, TLS, retained last will,
    manual acknowledgement (the receiver acknowledges after its store commit)."""
    from sync.mqtt import make_client

    will = encode(DeviceStatus(site=site, device=device, state="offline"))
    return make_client(broker, broker.client_id or f"smartlib-{site}-{device}",
                       manual_ack=True, will=(topics.status(site, device), will))
