"""The gateway process: MQTT in (shared subscriptions), ledger, SIP2 out, results back.

Flow (see docs/sync.md for the exactly-once argument)::

    $share/gateways/smartlib/v1/{site}/+/tx ──► decode + topic check ──► pipeline[hash(site, item)]
      (a message holds one request, or a TransactionBatch of many: one job each)
      a pipeline takes a batch (at most one transaction per item, the rest wait for the next)
        claim_many(batch)   ONE fsynced commit of every intent (+ the per-item order check)
          ──► PUBACK (manual ack) of each message whose requests are all durable now
          done ──► re-send the recorded result (replayed)      busy/wait ──► retry later
          new / recover ──► SIP2 threads, in parallel across items:
                 [verify (recover)] ─► [pre-state, fsynced (renew)] ─► SIP2 call
        complete_many(batch) ONE commit of every result (+ conflicts)
        results, conflicts ──► MQTT; cache changes ──► DeltaWindow (a delta per site per window)
          (a result per lone request; one ResultBatch per device for batched ones)

A crash before the intents are committed gets the messages again (no PUBACK yet); a crash after
the intents and before the results leaves intents that the sweeper re-queues when their
lease expires, and verification with the ILS decides whether to call again. Pipelines
(``[gateway] workers``) own disjoint sets of items, so one item's transactions are handled
in arrival order; while one pipeline waits for the ILS another commits its intents.

Messages come in through :mod:`sync.gateway.intake` (bounds, checks, dead letters, device
roles). Look-ups, snapshot requests (answered by :mod:`sync.gateway.replies`) and the
devices' alarms, statistics and events come through the same pipelines (no ledger intent: they change nothing at the ILS). This module must
not import ``edge``.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import queue
import threading
import time
import zlib
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt

from smartlib.crashpoints import CrashPoints
from smartlib.errors import SealError
from smartlib.sealing import load_private_key
from sync import topics
from sync.errors import (
    GatewayError,
    InvalidMessageError,
    LeaseLostError,
    Sip2Error,
    Sip2NotSentError,
    Sip2OutcomeUnknownError,
)
from sync.gateway.applier import Applier, Outcome, cache_change, call_bound_s, sip2_timeouts
from sync.gateway.cachefeed import gate_delta
from sync.gateway.deltas import DeltaWindow
from sync.gateway.intake import Ack, Intake
from sync.gateway.leases import LeaseKeeper
from sync.gateway.ledger import Claim, Ledger
from sync.gateway.replies import Replies
from sync.gateway.retire import gateway_client_id
from sync.gateway.revoked import RevokedDevices
from sync.messages import (
    MAX_BATCH,
    CacheDelta,
    DeviceStatus,
    LookupResponse,
    ResultBatch,
    TransactionRequest,
    TransactionResult,
    encode,
    utcnow,
)
from sync.mqtt import (
    GATEWAY_LIMITS,
    PayloadLimits,
    ReceivedMessage,
    connect_properties,
    guard,
    make_client,
)

log = logging.getLogger(__name__)

CRASH_ENV = "SMARTLIB_SYNC_CRASH_AT"
"""Test hook: ``after_sip2`` (or ``before_sip2``, ``after_ledger``), optionally ``:N`` for
the N-th time, makes the gateway kill itself with SIGKILL at that point."""

MAX_ATTEMPTS = 5
"""Failed attempts after which a look-up, snapshot request or operations message is rejected."""

@dataclass(order=True)
class _Job:
    due: float
    seq: int
    kind: str = field(compare=False)
    request: Any = field(compare=False)
    ack: Ack | None = field(compare=False, default=None)
    """The PUBACK this job owes a share of (None: acknowledged, QoS 0 or from the ledger)."""
    batched: bool = field(compare=False, default=False)
    """Came in a :class:`~sync.messages.TransactionBatch`: answered in a ResultBatch."""
    msg: ReceivedMessage | None = field(compare=False, default=None)
    """The message it came in (its response topic and correlation data; look-ups only)."""
    attempts: int = field(compare=False, default=0)
    """Failed processing attempts so far (in-memory retries)."""
    finished: bool = field(compare=False, default=False)
    """Durable or answered: nothing is left to retry for this job."""

    @property
    def shard(self) -> str:
        r = self.request
        return f"{r.site}/{getattr(r, 'item', None) or getattr(r, 'patron', None) or ''}"


class Gateway:
    """One gateway instance.

    Messages come in through its :class:`~sync.gateway.intake.Intake` (checks, dead
    letters, roles); look-ups and snapshot requests are answered by its
    :class:`~sync.gateway.replies.Replies`. What stays here (about 640 lines, on purpose)
    is the pipelines' transaction path: claim, SIP2 calls, completion, the shares of each
    message's acknowledgement and the in-memory retries, which share one set of state
    (the queues, the delayed heap, the acknowledgement counts) and are read as one piece
    in the exactly-once argument of docs/sync.md.

    Args:
        gateway_id: this gateway's id (ledger lease owner, MQTT client id suffix).
        ledger: the idempotency ledger.
        applier: SIP2 side: one :class:`Applier` for every site, or one per site.
        sites: the sites served (others are rejected with a logged reason).
        client: a paho client with ``manual_ack=True``, not yet connected.
        host / port: the broker.
        workers: batch pipelines.
        sip2_threads: threads making SIP2 calls (default: the sum of the pools' sizes).
        batch_size: transactions claimed in one ledger commit at most.
        session_expiry_s: how long the broker keeps our session while we are away.
        sweep_interval_s: how often expired intents are looked for.
        retry_s: back-off after an ILS failure before the intent is retried.
        crash: test crash points.
        limits: the size and JSON nesting a received payload may have (checked before it
            is parsed; a payload over them is a dead letter).
        device_roles: device id → role (``kiosk``, ``gate``), over the naming rule of
            :func:`sync.broker.default_role` (ids starting with ``gate`` are gates). A gate
            may not lend, return or renew.
        revoked: the central console's revoked-devices list (``[gateway] revoked_file``):
            a revoked device's transactions are refused on every message.
        heartbeat: called every ``heartbeat_s`` while the gateway works (its worker,
            sweeper and MQTT threads alive, no worker stuck over ``stall_s``): the hook of
            a service watchdog (``sd_notify``). The retained ``online`` status is published
            again at the same moments, so edges see a gateway that stopped working as
            offline once its heartbeats stop (``AgentTuning.gateway_stale_s``).
        call_bound_s: how long one SIP2 call can last (connect, log in, request; default
            half the ledger's lease): a call is made only while its lease has that long
            left, and a call whose outcome is unknown keeps its lease that long (the ILS
            may still be working on it). See :mod:`sync.gateway.leases`.
        delta_window_s: a site's cache deltas go at most once per this long (its first
            change at once, what follows gathered; :mod:`sync.gateway.deltas`).
    """

    def __init__(self, *, gateway_id: str, ledger: Ledger, applier: Applier | dict[str, Applier],
                 sites: list[str], client: mqtt.Client, host: str, port: int, workers: int = 2,
                 sip2_threads: int | None = None, batch_size: int = 256,
                 session_expiry_s: int = 86400, sweep_interval_s: float = 1.0,
                 retry_s: float = 2.0, crash: CrashPoints | None = None,
                 limits: PayloadLimits = GATEWAY_LIMITS,
                 device_roles: Mapping[str, str] | None = None,
                 revoked: RevokedDevices | None = None,
                 heartbeat: Callable[[], None] | None = None, heartbeat_s: float = 5.0,
                 stall_s: float = 120.0, pin_key: Any = None,
                 call_bound_s: float | None = None, delta_window_s: float = 0.5) -> None:
        self.gateway_id = gateway_id
        self.ledger = ledger
        self.sites = set(sites)
        self.appliers = (dict(applier) if isinstance(applier, dict)
                         else {site: applier for site in self.sites})
        missing = self.sites - set(self.appliers)
        if missing:
            raise ValueError(f"no applier for site(s) {sorted(missing)}")
        self.client = client
        self.host, self.port = host, port
        self.session_expiry_s = session_expiry_s
        self.sweep_interval_s = sweep_interval_s
        self.retry_s = retry_s
        self.batch_size = batch_size
        self.crash = crash or CrashPoints(None)
        self.leases = LeaseKeeper(ledger, ledger.lease_s / 2 if call_bound_s is None
                                  else call_bound_s)
        self.heartbeat = heartbeat
        self.heartbeat_s = heartbeat_s
        self.stall_s = stall_s
        self._beats: list[float] = [time.monotonic()] * max(1, workers)
        self._since = utcnow()
        self._starts: int | None = None
        """This gateway's starts so far (its ledger's count), once :meth:`start` ran."""
        if sip2_threads is None:
            pools = {id(a.pool): getattr(a.pool, "size", 4) for a in self.appliers.values()}
            sip2_threads = max(1, sum(pools.values()))
        self._sip2_threads = sip2_threads
        self._executor = ThreadPoolExecutor(max_workers=sip2_threads,
                                            thread_name_prefix="gateway-sip2")
        # SimpleQueue and itertools.count: thread-safe without Python-level locks (the MQTT
        # thread enqueues every message; Queue's Condition was 3% of a drain's CPU).
        self._queues: list[queue.SimpleQueue[_Job]] = [
            queue.SimpleQueue() for _ in range(max(1, workers))]
        self._seqs = itertools.count(1)
        self._recovering: set[str] = set()
        self._rec_lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.connected = threading.Event()
        self.stats = {"applied": 0, "replayed": 0, "recovered": 0, "rejected": 0, "busy": 0,
                      "ils_errors": 0, "lookups": 0, "batches": 0, "snapshots": 0,
                      "alarms": 0, "stats": 0, "events": 0, "dead_letters": 0,
                      "role_refused": 0, "revoked_refused": 0, "callback_errors": 0,
                      "heartbeats": 0, "pin_unsealable": 0, "not_sent": 0,
                      "outcome_unknown": 0}
        self._stats_lock = threading.Lock()
        self._ack_lock = threading.Lock()
        self.deltas = DeltaWindow(self._publish_delta, window_s=delta_window_s)
        self._completing: dict[int, float] = {}
        """Batches between their ledger completion and the delta window → completion time."""
        self._mark_lock = threading.Lock()
        self._replay_from: float | None = None
        """Set at start: this gateway's last recorded delta mark, until the cache changes
        completed since then are sent again (:meth:`_replay_deltas`)."""
        self.replies = Replies(appliers=self.appliers, ledger=ledger, client=client,
                               count=self._count, pin_key=pin_key)
        self.intake = Intake(sites=self.sites, ledger=ledger, client=client, count=self._count,
                             enqueue=self._enqueue, limits=limits, device_roles=device_roles,
                             revoked=revoked, gateway_id=gateway_id)
        client.on_connect = guard("on_connect", self._on_connect, self._callback_failed)
        client.on_disconnect = guard("on_disconnect", self._on_disconnect, self._callback_failed)
        client.on_message = self.intake.on_message  # guards itself (dead letters)

    @property
    def applier(self) -> Applier:
        """The applier of the first site (single-site gateways and tests)."""
        return self.appliers[sorted(self.sites)[0]]

    def _count(self, name: str, n: int = 1) -> None:
        with self._stats_lock:
            self.stats[name] += n

    def _callback_failed(self, _exc: BaseException) -> None:
        self._count("callback_errors")

    def role_of(self, device: str) -> str:
        """A device's role (see :meth:`Intake.role_of`)."""
        return self.intake.role_of(device)

    # ---- construction ------------------------------------------------------------------------

    @classmethod
    def from_settings(cls, settings: Any, *, client_id: str | None = None,
                      heartbeat: Callable[[], None] | None = None) -> Gateway:
        """Build a gateway from the ``[broker]``, ``[ils]`` and ``[gateway]`` sections.

        Each site gets its own SIP2 pool (``[ils]`` with ``[gateway.site_ils.<site>]``);
        sites with identical ILS settings share one. ``SMARTLIB_SYNC_CRASH_AT`` is the
        test-only crash hook.
        """
        from sync.gateway.applier import make_pool
        from sync.gateway.ledger import open_ledger

        gid = settings.device.id
        gw = settings.gateway
        ledger = open_ledger(gw.ledger, gid, gw.lease_s)
        appliers: dict[str, Applier] = {}
        by_profile: dict[str, Applier] = {}
        for site in gw.sites:
            ils = settings.ils_for(site)
            ident = ils.model_dump_json()
            if ident not in by_profile:
                by_profile[ident] = Applier(make_pool(settings, site))
            appliers[site] = by_profile[ident]
        pin_key = None
        if gw.private_key_file:
            try:
                pin_key = load_private_key(gw.private_key_file)
            except SealError as exc:
                raise GatewayError(f"[gateway] private_key_file: {exc}") from exc
        client = make_client(settings.broker, client_id or gateway_client_id(gid),
                             manual_ack=True)
        timeout, connect_timeout = sip2_timeouts(gw.lease_s)
        return cls(gateway_id=gid, ledger=ledger, applier=appliers, sites=gw.sites,
                   client=client, host=settings.broker.host, port=settings.broker.port,
                   workers=gw.workers or 2, batch_size=gw.batch_size, retry_s=gw.retry_s,
                   session_expiry_s=settings.broker.session_expiry_s,
                   crash=CrashPoints.from_env(CRASH_ENV), heartbeat=heartbeat, pin_key=pin_key,
                   revoked=RevokedDevices(gw.revoked_file) if gw.revoked_file else None,
                   call_bound_s=call_bound_s(timeout, connect_timeout),
                   delta_window_s=gw.delta_window_s)

    # ---- lifecycle ---------------------------------------------------------------------------

    def _presence(self, site: str, state: str) -> tuple[str, bytes]:
        return (topics.status(site, self.gateway_id),
                encode(DeviceStatus(site=site, device=self.gateway_id, state=state,  # type: ignore[arg-type]
                                    role="gateway", since=self._since,
                                    starts={"gateway": self._starts} if self._starts else None)))

    def working(self) -> bool:
        """Every thread that does the gateway's work is alive, and no pipeline is stuck:
        what its heartbeat stands for. A gateway cut off from the broker still works (paho
        reconnects; its watchdog must not restart it for a broker restart), it just cannot
        say ``online`` until it is back (:meth:`_beat`)."""
        if self._stop.is_set():
            return False
        if not self._threads or not all(t.is_alive() for t in self._threads):
            return False
        network = getattr(self.client, "_thread", None)  # paho's loop thread (loop_start)
        if network is not None and not network.is_alive():
            return False
        now = time.monotonic()
        return all(now - beat < self.stall_s for beat in self._beats)

    def _beat(self) -> None:
        """A heartbeat, only while the gateway works: the retained ``online`` again (with
        the same ``since``) while connected, and the injected ``heartbeat`` hook."""
        if not self.working():
            log.warning("gateway is not working (a thread died or a pipeline is stuck): "
                        "no heartbeat")
            return
        if self.connected.is_set():
            for site in sorted(self.sites):
                self.client.publish(*self._presence(site, "online"), qos=1, retain=True)
        self._count("heartbeats")
        if self.heartbeat is not None:
            self.heartbeat()

    def start(self) -> None:
        if self.replies.pin_key is None:
            log.warning("no [gateway] private_key_file: sealed PINs cannot be opened, every "
                        "patron login with a PIN is refused (smartlib gateway keygen)")
        # Presence: a retained status per site served, online on every connect; the last
        # will (one per connection) marks the first site's offline. Agents re-send what is
        # unanswered when a gateway comes online: a broker restart drops what reached a
        # shared subscription while no gateway was connected (Mosquitto 2.0).
        self._starts = self.ledger.count_start(self.gateway_id)  # the fleet's restart count
        # The cache changes this gateway completed after its last mark may have died in its
        # delta window (or between the ledger commit and the window): sent again once
        # connected. A first start records a mark now.
        self._replay_from = self.ledger.deltas_sent_before(self.gateway_id)
        if self._replay_from is None:
            self.ledger.record_deltas_sent(self.gateway_id, time.time())
        will_topic, will = self._presence(sorted(self.sites)[0], "offline")
        self.client.will_set(will_topic, will, qos=1, retain=True)
        self.client.connect_async(self.host, self.port, keepalive=30, clean_start=False,
                                  properties=connect_properties(self.session_expiry_s))
        self.client.loop_start()
        for i, _q in enumerate(self._queues):
            t = threading.Thread(target=self._worker, args=(i,), name=f"gateway-worker-{i}", daemon=True)
            t.start()
            self._threads.append(t)
        t = threading.Thread(target=self._sweeper, name="gateway-sweeper", daemon=True)
        t.start()
        self._threads.append(t)
        t = threading.Thread(target=self.deltas.run, args=(self._stop,), name="gateway-deltas",
                             daemon=True)
        t.start()
        self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        for q in self._queues:
            q.put(_Job(0, -1, "stop", None))
        self.deltas.wake()
        for t in self._threads:
            t.join(10)
        self._threads.clear()
        self._executor.shutdown(wait=True, cancel_futures=True)
        self.deltas.flush_all()  # what the last window gathered, before the offline status
        try:
            self._record_delta_mark()
        except Exception:
            log.exception("recording the cache delta mark failed")
        if self.connected.is_set():
            infos = [self.client.publish(*self._presence(site, "offline"), qos=1, retain=True)
                     for site in sorted(self.sites)]
            for info in infos:
                try:
                    info.wait_for_publish(2.0)
                except (RuntimeError, ValueError) as exc:
                    log.warning("gateway offline status not published: %s", exc)
        self.client.disconnect()
        self.client.loop_stop()
        closed: set[int] = set()
        for a in self.appliers.values():
            close = getattr(a.pool, "close", None)
            if close is not None and id(a.pool) not in closed:
                closed.add(id(a.pool))
                close()
        self.ledger.close()

    def run(self, stop: threading.Event) -> None:
        """Run until ``stop`` is set."""
        self.start()
        log.info("gateway %s serving sites %s via %s:%d", self.gateway_id, sorted(self.sites),
                 self.host, self.port)
        try:
            stop.wait()
        finally:
            self.stop()

    # ---- MQTT callbacks ----------------------------------------------------------------------

    def _on_connect(self, client: mqtt.Client, _u: Any, flags: Any, rc: Any, _p: Any) -> None:
        if rc.is_failure:
            log.error("broker refused the gateway: %s", rc)
            return
        client.subscribe([(f, 1) for f in topics.gateway_filters(self.sites)])
        self._since = utcnow()
        for site in sorted(self.sites):
            client.publish(*self._presence(site, "online"), qos=1, retain=True)
        self.connected.set()
        log.info("gateway connected (session present: %s)", flags.session_present)

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        self.connected.clear()
        if not self._stop.is_set():
            log.warning("gateway lost the broker (%s); paho reconnects with back-off", rc)

    def _ack(self, mid: int | None, qos: int) -> None:
        if mid is not None and qos > 0:
            self.client.ack(mid, qos)

    def _ack_job(self, job: _Job) -> None:
        """The job's request is durable, answered or rejected: its message is acknowledged
        once every request it carried is."""
        ack, job.ack = job.ack, None
        if ack is None:
            return
        with self._ack_lock:
            ack.left -= 1
            if ack.left > 0:
                return
        self._ack(ack.mid, ack.qos)

    def _enqueue(self, kind: str, req: Any, *, due: float = 0.0, ack: Ack | None = None,
                 msg: ReceivedMessage | None = None, batched: bool = False) -> None:
        job = _Job(due, next(self._seqs), kind, req, ack, batched, msg)
        self._queues[zlib.crc32(job.shard.encode()) % len(self._queues)].put(job)

    # ---- pipelines ---------------------------------------------------------------------------

    def _worker(self, index: int) -> None:
        q = self._queues[index]
        delayed: list[_Job] = []
        carry: list[_Job] = []
        while True:
            self._beats[index] = time.monotonic()  # this pipeline is working (heartbeat)
            if self._stop.is_set():
                # Not after the jobs already queued: a backlog (a slow ILS, a fleet at 10x)
                # would hold the shutdown for minutes. What is not acknowledged is
                # redelivered by the broker; acknowledged intents are the ledger's to recover.
                return
            now = time.time()
            jobs = carry
            carry = []
            while delayed and delayed[0].due <= now:
                jobs.append(heapq.heappop(delayed))
            wait = 0.0 if jobs else min(0.05, max(0.0, delayed[0].due - now) if delayed else 0.05)
            first = _take(q, wait)
            if first is not None:
                jobs.append(first)
                while len(jobs) < self.batch_size and (nxt := _take(q, 0.0)) is not None:
                    jobs.append(nxt)
            batch: list[_Job] = []
            stop = False
            for job in jobs:
                if job.kind == "stop":
                    stop = True
                elif job.due > now:
                    heapq.heappush(delayed, job)
                else:
                    batch.append(job)
            if stop:
                # Whatever is not acknowledged yet is redelivered by the broker (persistent
                # session) or recovered from the ledger by the next gateway.
                return
            if not batch:
                continue
            try:
                carry = self._process_batch(batch, delayed)
            except Exception:
                log.exception("gateway pipeline %d failed on a batch of %d", index, len(batch))
                for job in batch:
                    if not job.finished and not _queued(job, delayed):
                        self._failed(job, delayed)
                self._stop.wait(0.2)

    def _failed(self, job: _Job, delayed: list[_Job]) -> None:
        """A job whose processing raised: retry it from memory, keeping its message id.

        Transactions are retried until their intent is durable (the message is acknowledged
        then). Look-ups, snapshot requests and operations data are retried ``MAX_ATTEMPTS``
        times and then rejected explicitly: logged, answered ``ok=False`` (look-ups) and
        acknowledged, so that no message stays un-acknowledged for good.
        """
        job.attempts += 1
        if job.kind != "tx" and job.attempts >= MAX_ATTEMPTS:
            job.finished = True
            self._count("rejected")
            log.error("%s from %s/%s failed %d times; rejected", job.kind, job.request.site,
                      job.request.device, job.attempts)
            try:
                self.ledger.add_dead_letter(
                    job.msg.topic if job.msg is not None else f"({job.kind})",
                    f"failed {job.attempts} times", size=0, sha256="", site=job.request.site,
                    device=job.request.device)
            except Exception:
                log.exception("dead letter of a failed %s could not be stored", job.kind)
            self._count("dead_letters")
            if job.kind == "lookup":
                self.replies.reply_lookup(job.request, job.msg, LookupResponse(
                    request_id=job.request.request_id, kind=job.request.kind, ok=False,
                    error="gateway failure"))
            self._ack_job(job)
            return
        delay = min(self.retry_s * 2 ** min(job.attempts - 1, 5), 60.0)
        self._retry_later(job, delay, delayed)

    def _process_batch(self, jobs: list[_Job], delayed: list[_Job]) -> list[_Job]:
        """Process one batch; returns the jobs left for the next batch (same item twice)."""
        txs: list[_Job] = []
        others: list[_Job] = []
        carry: list[_Job] = []
        seen: set[str] = set()
        for job in jobs:
            if job.kind != "tx":
                others.append(job)
            elif job.shard in seen:
                carry.append(job)  # one transaction per item per batch: order is kept
            else:
                seen.add(job.shard)
                txs.append(job)
        self._count("batches")
        if txs:
            try:
                self._process_txs(txs, delayed)
            except Exception:
                log.exception("a batch of %d transaction(s) failed", len(txs))
                for job in txs:
                    if not job.finished and not _queued(job, delayed):
                        self._failed(job, delayed)
        if others:
            self._process_others(others, delayed)
        return carry

    def _retry_later(self, job: _Job, delay: float, delayed: list[_Job]) -> None:
        """Process ``job`` again in ``delay`` seconds; it keeps its message id (not acked)."""
        job.seq = next(self._seqs)
        job.due = time.time() + delay
        heapq.heappush(delayed, job)

    def _process_txs(self, jobs: list[_Job], delayed: list[_Job]) -> None:
        """Claim, apply and complete a batch (at most one transaction per item).

        Each request is acknowledged as soon as it is durable: its intent committed
        (``new``/``recover``), its result already in the ledger (``done``), or an intent
        of another owner holding the key (``busy``); its message is acknowledged once all
        the requests it carried are. A ``wait`` (an earlier transaction of the same item is
        unfinished) has no intent: it is retried from memory, still owing its share of the
        message's acknowledgement, and acknowledged once claimed. Results go back in the
        form asked: one message per request that came alone, one
        :class:`~sync.messages.ResultBatch` per device for those that came in batches. If the claim itself fails, nothing is
        acknowledged (the worker retries the jobs; a crash gets them redelivered).
        """
        reqs: list[TransactionRequest] = [j.request for j in jobs]
        with self._rec_lock:
            for r in reqs:
                self._recovering.discard(r.key)
        claims = self.ledger.claim_many([_request_data(j.request) for j in jobs])
        calls: list[tuple[TransactionRequest, Claim]] = []
        call_jobs: list[_Job] = []
        # Results of requests that came in a batch go back in one ResultBatch per device.
        batched: dict[tuple[str, str], list[TransactionResult]] = {}

        def answer(job: _Job, result: TransactionResult | None) -> None:
            if result is None:
                return
            if job.batched:
                batched.setdefault((result.site, result.device), []).append(result)
            else:
                self._publish_result(result)

        for job, req, claim in zip(jobs, reqs, claims, strict=True):
            row = claim.row
            if claim.outcome == "wait":
                log.debug("tx %s waits for an earlier transaction on item %s", req.key, req.item)
                self._retry_later(job, self.retry_s, delayed)
                continue
            job.finished = True
            self._ack_job(job)
            if claim.outcome == "done":
                self._count("replayed")
                answer(job, self._replay(row))
            elif claim.outcome == "busy":
                # Another owner's intent (or ours, in flight): that owner publishes the
                # result; look again later so a lost result is re-sent from the ledger.
                self._count("busy")
                again = _Job(0.0, 0, "tx", req, batched=job.batched)
                self._retry_later(again, max(0.1, (row.lease_until or 0) - time.time() + 0.05),
                                  delayed)
            else:
                calls.append((req, claim))
                call_jobs.append(job)
        # Our leases on the intents we call for are kept alive until they are finished
        # (the sweeper extends them): only a dead gateway's lease runs out.
        held = {req.key: claim.row.lease_until or 0.0 for req, claim in calls}
        self.leases.hold(held)
        try:
            self._call_and_complete(calls, call_jobs, answer)
        finally:
            self.leases.drop(held)
            for (site, device), results in batched.items():  # replays go out in any case
                for lo in range(0, len(results), MAX_BATCH):
                    self.client.publish(topics.result(site, device), encode(ResultBatch(
                        site=site, device=device, results=results[lo:lo + MAX_BATCH])), qos=1)

    def _call_and_complete(self, calls: list[tuple[TransactionRequest, Claim]],
                           call_jobs: list[_Job],
                           answer: Callable[[_Job, TransactionResult], None]) -> None:
        """The SIP2 calls of a batch, then one ledger commit of their outcomes.

        An ILS failure releases the intent for a later attempt (verified first): a request
        that never left (no connection, or the lease too short for the call) after
        ``retry_s`` with its pre-state dropped (the ILS never saw it); one whose outcome
        is unknown (sent, no answer) only after ``call_bound_s``, when the ILS has
        finished with it; any other failure after ``retry_s``.
        """
        done: list[tuple[TransactionRequest, Outcome]] = []
        done_jobs: list[_Job] = []
        failed: list[str] = []
        unsent: list[str] = []
        unknown: list[str] = []
        stopping = 0
        for (req, _), job, res in zip(calls, call_jobs, self._call_all(calls), strict=True):
            if isinstance(res, GatewayStoppingError):
                stopping += 1
                unsent.append(req.key)
            elif isinstance(res, Outcome):
                done.append((req, res))
                done_jobs.append(job)
            elif isinstance(res, InvalidMessageError):
                self._count("rejected")
                log.warning("tx %s rejected: %s", req.key, res)
                done.append((req, Applier.rejected(req, str(res))))
                done_jobs.append(job)
            elif isinstance(res, (Sip2NotSentError, LeaseLostError)):
                self._count("ils_errors")
                self._count("not_sent")
                log.warning("tx %s: not sent (%s); will try again in %.0fs", req.key, res,
                            self.retry_s)
                unsent.append(req.key)
            elif isinstance(res, Sip2OutcomeUnknownError):
                self._count("ils_errors")
                self._count("outcome_unknown")
                log.warning("tx %s: ILS problem after the request was sent (%s); outcome "
                            "unknown, will verify in %.0fs", req.key, res, self._unknown_hold_s)
                unknown.append(req.key)
            elif isinstance(res, Sip2Error):
                self._count("ils_errors")
                log.warning("tx %s: ILS problem (%s); will verify in %.0fs",
                            req.key, res, self.retry_s)
                failed.append(req.key)
            else:
                log.error("tx %s failed; the intent is recovered after its lease", req.key,
                          exc_info=res)
        if stopping:
            log.info("gateway stopping: %d transaction(s) of the batch not sent, released for "
                     "the next gateway", stopping)
        # Finished with these leases: not extended any more (a release sets its own time,
        # and a completed row is no longer a lease).
        self.leases.drop([req.key for req, _ in calls])
        if failed:
            self.ledger.release_many(failed, delay_s=self.retry_s)
        if unsent:
            self.ledger.release_many(unsent, delay_s=self.retry_s, not_sent=True)
        if unknown:
            self.ledger.release_many(unknown, delay_s=self._unknown_hold_s)
        if done:
            self._complete(done, done_jobs, answer)

    @property
    def _unknown_hold_s(self) -> float:
        """How long an intent whose request may still be at the ILS stays leased."""
        return max(self.retry_s, self.leases.call_bound_s)

    def _complete(self, done: list[tuple[TransactionRequest, Outcome]], jobs: list[_Job],
                  answer: Callable[[_Job, TransactionResult], None]) -> None:
        """Record a batch's outcomes in the ledger (one commit); answer, send the conflicts
        and hand the cache changes to the delta window."""
        token = next(self._seqs)
        with self._mark_lock:
            at = time.time()  # in the lock: a mark taken after this sees the batch
            self._completing[token] = at
        try:
            self._complete_at(at, done, jobs, answer)
        finally:
            with self._mark_lock:
                del self._completing[token]

    def _complete_at(self, at: float, done: list[tuple[TransactionRequest, Outcome]],
                     jobs: list[_Job], answer: Callable[[_Job, TransactionResult], None]) -> None:
        stored = self.ledger.complete_many([
            (r.key, o.result.model_dump(mode="json"), o.result.status,
             o.conflict.model_dump(mode="json") if o.conflict else None) for r, o in done],
            now=at)
        changes: dict[str, list[Outcome]] = {}
        for (req, outcome), job, ok in zip(done, jobs, stored, strict=True):
            self.crash.hit("after_ledger")
            if not ok:
                continue
            self._count("applied")
            if outcome.result.recovered:
                self._count("recovered")
            answer(job, outcome.result)
            if outcome.loan is not None or outcome.returned is not None:
                changes.setdefault(req.site, []).append(outcome)
            if outcome.conflict is not None:
                self.client.publish(topics.staff_conflict(req.site), encode(outcome.conflict),
                                    qos=1)
        for site, outcomes in changes.items():
            self.deltas.add(site, outcomes, at=at)

    def _record_delta_mark(self) -> None:
        """Record the time before which every cache change this gateway completed has been
        published (the oldest of the batches in flight, the changes the window holds, now)."""
        if self._replay_from is not None:
            return  # the restart's replay has not gone yet: the old mark stands
        with self._mark_lock:
            now = time.time()
            inflight = min(self._completing.values(), default=now)
        pending = self.deltas.oldest_pending()
        self.ledger.record_deltas_sent(self.gateway_id,
                                       min(now, inflight, now if pending is None else pending))

    def _replay_deltas(self) -> None:
        """After a restart: the cache changes of this gateway's transactions completed since
        its last mark, through the delta window again (an edge keeps each item's latest
        change, so a change it had already got changes nothing)."""
        since = self._replay_from
        if since is None:
            return
        rows = self.ledger.completed_since(since, limit=REPLAY_LIMIT)
        if len(rows) == REPLAY_LIMIT:
            log.warning("more than %d transactions completed since the last delta mark: the "
                        "cache changes of the first %d are sent again, the rest wait for the "
                        "next snapshot", REPLAY_LIMIT, REPLAY_LIMIT)
        by_site: dict[str, list[Outcome]] = {}
        for row in rows:
            if row.site not in self.sites or row.result is None:
                continue
            try:
                change = cache_change(TransactionRequest.model_validate(row.request),
                                      TransactionResult.model_validate(row.result))
            except ValueError as exc:
                log.warning("ledger row %s: no cache change can be rebuilt (%s)", row.key, exc)
                continue
            if change.loan is not None or change.returned is not None:
                by_site.setdefault(row.site, []).append(change)
        for site, outcomes in by_site.items():
            self.deltas.add(site, outcomes, at=since)
        self._replay_from = None
        if by_site:
            log.info("cache changes of %d transaction(s) completed since the last delta mark "
                     "sent again", sum(len(v) for v in by_site.values()))

    def _replay(self, row: Any) -> TransactionResult | None:
        """The recorded result to re-send for a duplicate request (None: unusable)."""
        try:
            return TransactionResult.model_validate({**(row.result or {}), "replayed": True})
        except ValueError as exc:
            log.error("ledger row %s holds an unusable result (%s); not re-sent", row.key, exc)
            return None

    def _call_all(self, calls: list[tuple[TransactionRequest, Claim]]) -> list[Outcome | Exception]:
        """:meth:`_call_ils` for each call, on the SIP2 threads, in parallel across items.

        A few threads take the calls one after the other from a shared queue (one task per
        thread, not one per call: fewer hand-offs between threads); each call's outcome or
        exception comes back in the order given (a batch holds one transaction per item).
        """
        out: list[Outcome | Exception | None] = [None] * len(calls)
        work: queue.SimpleQueue[int] = queue.SimpleQueue()
        for i in range(len(calls)):
            work.put(i)

        def run() -> None:
            while True:
                try:
                    i = work.get_nowait()
                except queue.Empty:
                    return
                if self._stop.is_set():
                    out[i] = GatewayStoppingError("not sent: the gateway is stopping")
                    continue
                try:
                    out[i] = self._call_ils(*calls[i])
                except Exception as exc:  # noqa: BLE001 - logged by the pipeline, per transaction
                    out[i] = exc

        tasks = [self._executor.submit(run) for _ in range(min(self._sip2_threads, len(calls)))]
        for task in tasks:
            task.result()
        return [r if r is not None else RuntimeError("no outcome") for r in out]

    def _call_ils(self, req: TransactionRequest, claim: Claim) -> Outcome:
        """One transaction's SIP2 side (on a SIP2 thread): verify, pre-state, call."""
        applier = self.appliers[req.site]
        row = claim.row
        outcome: Outcome | None = None
        if claim.outcome == "recover":
            outcome = applier.verify(req, row.pre_state)
        if outcome is None:
            if claim.outcome == "new" or row.pre_state is None:
                pre = applier.pre_state(req)
                if pre is not None:
                    self.ledger.set_pre_state_durable(req.key, pre)
            self.crash.hit("before_sip2")
            outcome = applier.apply(req, before_call=lambda: self.leases.check(req.key))
            self.crash.hit("after_sip2")
        return outcome

    def _publish_result(self, result: TransactionResult) -> None:
        self.client.publish(topics.result(result.site, result.device), encode(result), qos=1)

    # ---- look-ups, snapshot requests, operations data -----------------------------------------

    def _process_others(self, jobs: list[_Job], delayed: list[_Job]) -> None:
        """Look-ups, snapshot requests and operations data; a failure retries the job."""
        ops: dict[str, list[tuple[_Job, dict[str, Any]]]] = {"alarm": [], "stats": [], "event": []}
        futures: list[tuple[_Job, Future[None]]] = []
        for job in jobs:
            if job.kind == "lookup":
                futures.append((job, self._executor.submit(self.replies.lookup, job.request,
                                                           job.msg)))
            elif job.kind == "snapshot/request":
                try:
                    self.replies.snapshot(job.request)
                except Exception:
                    log.exception("snapshot request %s failed", job.request.request_id)
                    self._failed(job, delayed)
                    continue
                job.finished = True
                self._ack_job(job)
            elif job.kind in ops:
                row = job.request.model_dump(mode="json")
                if job.kind == "alarm" and row.get("alarm_id") is None:
                    row["alarm_id"] = zlib.crc32(encode(job.request))
                ops[job.kind].append((job, row))
            else:  # pragma: no cover - the intake only queues the kinds above
                log.error("unknown job kind %s; rejected", job.kind)
                job.finished = True
                self._ack_job(job)
        op_jobs = [j for rows in ops.values() for j, _ in rows]
        if op_jobs:
            try:
                self.ledger.store_ops(*([r for _, r in ops[k]] for k in ("alarm", "stats", "event")))
            except Exception:
                log.exception("storing %d alarm/stats/event message(s) failed", len(op_jobs))
                for job in op_jobs:
                    self._failed(job, delayed)
            else:
                for kind, rows in ops.items():
                    self._count({"alarm": "alarms", "stats": "stats", "event": "events"}[kind],
                                len(rows))
                for job in op_jobs:
                    job.finished = True
                    self._ack_job(job)
        for job, fut in futures:
            try:
                fut.result()
            except Exception:
                log.exception("look-up %s failed", job.request.request_id)
                self._failed(job, delayed)
                continue
            job.finished = True
            self._ack_job(job)

    def _sweeper(self) -> None:
        """Re-queue expired intents every ``sweep_interval_s``; beat and record the delta
        mark every ``heartbeat_s``; extend the leases of the intents being worked on every
        quarter of a lease; after a start, once connected, send again the cache changes
        completed since the last mark."""
        next_sweep = next_beat = next_leases = 0.0
        while not self._stop.wait(min(self.sweep_interval_s, self.heartbeat_s,
                                      self.leases.interval_s / 2)):
            now = time.monotonic()
            if self._replay_from is not None and self.connected.is_set():
                try:
                    self._replay_deltas()
                except Exception:
                    log.exception("sending the cache changes since the last delta mark failed")
            if now >= next_leases:
                next_leases = now + self.leases.interval_s
                try:
                    self.leases.renew()
                except Exception:
                    log.exception("extending the leases of %d intent(s) failed",
                                  len(self.leases.held()))
            if now >= next_beat:
                next_beat = now + self.heartbeat_s
                try:
                    self._beat()
                except Exception:
                    log.exception("gateway heartbeat failed")
                try:
                    self._record_delta_mark()
                except Exception:
                    log.exception("recording the cache delta mark failed")
            if now < next_sweep:
                continue
            next_sweep = now + self.sweep_interval_s
            try:
                rows = self.ledger.expired(limit=200)
            except Exception:
                log.exception("ledger sweep failed")
                continue
            for row in rows:
                if row.site not in self.sites:
                    continue
                with self._rec_lock:
                    if row.key in self._recovering:
                        continue
                    self._recovering.add(row.key)
                try:
                    req = TransactionRequest.model_validate(row.request)
                except ValueError as exc:
                    # Never applicable: close the row with an error result (a re-sent request
                    # gets that result) instead of leaving it in progress for good.
                    log.error("ledger row %s holds an invalid request (%s); marked failed",
                              row.key, exc)
                    self._fail_row(row, f"invalid request in the ledger: {exc}")
                    continue
                log.info("recovering unfinished tx %s (attempt %d)", row.key, row.attempts + 1)
                self._enqueue("tx", req)


    def _fail_row(self, row: Any, reason: str) -> None:
        result = {"v": 1, "key": row.key, "kind": row.kind, "site": row.site,
                  "device": row.device, "status": "error", "ok": False, "item": row.item,
                  "screen_message": reason[:200]}
        try:
            self.ledger.fail(row.key, result)
        except Exception:
            log.exception("cannot mark ledger row %s failed", row.key)
        with self._rec_lock:
            self._recovering.discard(row.key)

    def _publish_delta(self, site: str, delta: CacheDelta) -> None:
        """The delta for kiosks, and its patron-free form for gates (``cache/gate/delta``)."""
        self.client.publish(topics.cache_delta(site), encode(delta), qos=1)
        gate = gate_delta(delta)
        if gate is not None:
            self.client.publish(topics.gate_cache_delta(site), encode(gate), qos=1)


REPLAY_LIMIT = 20_000
"""Transactions whose cache changes a restarted gateway sends again at most."""


class GatewayStoppingError(Sip2NotSentError):
    """A call of a batch not made because the gateway is stopping (released, not lost)."""


def _take(q: queue.SimpleQueue[_Job], wait: float) -> _Job | None:
    """The next job of ``q`` (waiting up to ``wait`` seconds), or None."""
    try:
        return q.get(timeout=wait) if wait > 0 else q.get_nowait()
    except queue.Empty:
        return None


def _queued(job: _Job, delayed: list[_Job]) -> bool:
    return any(d is job for d in delayed)


def _request_data(req: TransactionRequest) -> dict[str, Any]:
    return req.model_dump(mode="json")


Factory = Callable[..., Gateway]
