"""The edge agent (``smartlib sync``): outbox → broker, results and cache → the edge store.

:class:`SyncAgent` composes one part per job and owns the MQTT callbacks and the threads:

* :mod:`~sync.agent.sender`: outbox → ``…/{device}/tx``, re-sent until answered;
* :mod:`~sync.agent.receiver`: results, look-up replies, cache snapshots and deltas →
  the store, one transaction per batch, acknowledged after the commit;
* :mod:`~sync.agent.site_view`: the site's other devices' statuses, statistics, alarms;
* :mod:`~sync.agent.ops`: this box's alarms, counters and device events → the broker;
* :mod:`~sync.agent.requests`: look-ups and snapshot requests;
* :mod:`~sync.agent.status`: the retained status and the edge's view of the gateways;
* :mod:`~sync.agent.config_apply`: the console's remote configuration → the store, the
  edge's outcome → ``…/config/ack``.
* :mod:`~sync.agent.commands`: the central console's commands → the store, their
  outcomes and the failed security tasks → the broker.

The sender thread wakes on the ``agent`` doorbell (or every ``poll_s``) and runs a pass of
each publishing part (:meth:`SyncAgent.sender_pass`); the receiver thread sleeps until paho's
network thread queues a message and stores it. A gateway's status turning ``online`` makes
every unanswered entry go again at once.

An :class:`AgentRunner` given to the agent replaces its three threads: it drives the client
with paho's external loop API and calls the same pass and the receiver's ``drain`` itself
(many boxes in one process, as the fleet bench hosts them).

The agent imports ``edge.store`` only (never services or the API).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import paho.mqtt.client as mqtt

from sync import topics
from sync.agent.commands import CommandChannel
from sync.agent.config_apply import RemoteConfigLink
from sync.agent.context import AgentContext, AgentStats, AgentTuning, PubackTracker
from sync.agent.ops import META_ALARMS, META_EVENTS, META_STATS, OpsStreams
from sync.agent.receiver import STATE_OF, Receiver, cache_rows, result_dict
from sync.agent.requests import LOOKUP_RETRY_S, META_REBUILD_REQUESTED, META_REBUILD_SENT, Requests
from sync.agent.sender import Sender
from sync.agent.site_view import SiteView
from sync.agent.status import Status
from sync.errors import AgentError
from sync.messages import DeviceStatus, encode
from sync.mqtt import ReceivedMessage, connect_properties, guard, make_client, retarget

log = logging.getLogger(__name__)

_STATE_OF = STATE_OF  # the name the edge's tests import

__all__ = ["LOOKUP_RETRY_S", "META_ALARMS", "META_EVENTS", "META_REBUILD_REQUESTED",
           "META_REBUILD_SENT", "META_STATS", "AgentRunner", "AgentStats", "AgentTuning",
           "SyncAgent", "make_agent_client", "result_dict"]


class AgentRunner(Protocol):
    """Runs agents without threads of their own: one event loop hosts many boxes.

    :meth:`SyncAgent.start` calls :meth:`attach` after ``connect_async`` instead of starting
    paho's network thread and the sender and receiver threads. From then on, in one thread,
    the runner connects the client (``client.reconnect()``) and drives it with paho's external
    loop API (``socket()``, ``loop_read()``, ``loop_write()``, ``loop_misc()``,
    ``want_write()``; no ``socket_register_write`` callback, so a publish made in the runner's
    thread is written at once), calls ``agent.receiver.drain()`` after reading, and
    ``agent.sender_pass()`` when ``agent.doorbell`` is readable (after ``take()``) or
    ``agent.tuning.poll_s`` has passed. :meth:`SyncAgent.stop` calls :meth:`detach` first;
    the runner drives that agent no more.
    """

    def attach(self, agent: SyncAgent) -> None:
        """Start driving ``agent`` (its client is set up, not connected)."""

    def detach(self, agent: SyncAgent) -> None:
        """Stop driving ``agent`` (it then publishes ``offline`` and disconnects itself)."""


class SyncAgent:
    """The agent of one box: its parts, their threads and the MQTT callbacks.

    Args:
        store: the open edge store (``edge.store.open_store``).
        site / device: who this box is (topics and payloads carry them).
        client: a paho MQTT 5 client with ``manual_ack=True`` (credentials, TLS and the
            last will already set; see :func:`make_agent_client`).
        host / port: the broker.
        failover: other addresses of the same broker service (cluster nodes, a standby),
            tried in turn, after ``host``/``port``, whenever a connection attempt fails.
        tuning: flow control and retries.
        role: the device role reported in the status.
        heartbeat: called after each pass of the sender loop while the receiver thread is
            alive (the agent works): the hook of a service watchdog (``sd_notify``).
        runner: runs this agent in its event loop instead of the agent's threads (see
            :class:`AgentRunner`); None (the product's ``smartlib sync``): threads.
    """

    def __init__(self, store: Any, *, site: str, device: str, client: mqtt.Client, host: str,
                 port: int, tuning: AgentTuning | None = None, role: str = "kiosk",
                 heartbeat: Callable[[], None] | None = None,
                 failover: Sequence[tuple[str, int]] = (),
                 runner: AgentRunner | None = None) -> None:
        self.store = store
        self.runner = runner
        self.site, self.device, self.role = topics.check_id(site, "site"), topics.check_id(device, "device"), role
        self.client = client
        self.host, self.port = host, port
        self._addresses = [(host, port), *failover]
        self._at = 0
        self.tuning = tuning or AgentTuning()
        self.heartbeat = heartbeat
        self.stats = AgentStats()
        ctx = self.ctx = AgentContext(store=store, client=client, site=self.site,
                                      device=self.device, role=role, tuning=self.tuning,
                                      stats=self.stats)
        self.connected = ctx.connected
        self.subscribed = threading.Event()
        """Set once the broker has granted this connection's subscriptions (SUBACK)."""
        self._sub_mid: int | None = None
        self._stop = ctx.stop
        self._threads: list[threading.Thread] = []
        self.acks = PubackTracker()
        self.sender = Sender(ctx, self.acks)
        self.site_view = SiteView(ctx, gateway_back=self._gateway_back)
        self.status = Status(ctx, unanswered_for=self.sender.unanswered_for,
                             gateways_alive=self.site_view.gateways_alive)
        self.remote_config = RemoteConfigLink(ctx)
        self.commands = CommandChannel(ctx, self.acks)
        self.receiver = Receiver(ctx, self.site_view, heard=self.status.heard,
                                 answered=self.sender.answered, remote_config=self.remote_config,
                                 commands=self.commands.store_message)
        self.ops = OpsStreams(ctx, self.acks, replay_stats=self.site_view.take_replay_stats)
        self.requests = Requests(ctx)
        client.on_connect = guard("on_connect", self._on_connect, self._callback_failed)
        client.on_disconnect = guard("on_disconnect", self._on_disconnect, self._callback_failed)
        client.on_connect_fail = guard("on_connect_fail", self._on_connect_fail,
                                       self._callback_failed)
        client.on_publish = guard("on_publish", self._on_publish, self._callback_failed)
        client.on_message = guard("on_message", self._on_message, self._callback_failed)
        client.on_subscribe = guard("on_subscribe", self._on_subscribe, self._callback_failed)

    _rows = staticmethod(cache_rows)
    """How the receiver turns a delta's rows into the cache's (the edge's tests use it)."""

    # ---- construction -------------------------------------------------------------------------

    @classmethod
    def from_settings(cls, settings: Any, tuning: AgentTuning | None = None, *,
                      heartbeat: Callable[[], None] | None = None,
                      runner: AgentRunner | None = None) -> SyncAgent:
        """Open the store and build the client from ``[site]``, ``[device]``, ``[broker]``,
        ``[store]``, ``[policy]`` and ``[sync]``."""
        from edge.store import open_store

        site, device = settings.site.id, settings.device.id
        try:
            store = open_store(settings.store.path)
        except Exception as exc:
            raise AgentError(f"cannot open the edge store {settings.store.path}: {exc}") from exc
        client = make_agent_client(settings.broker, site, device)
        (host, port), *failover = settings.broker.addresses()
        return cls(store, site=site, device=device, client=client, host=host, port=port,
                   tuning=tuning or AgentTuning.from_settings(settings),
                   role=settings.device.role, heartbeat=heartbeat, failover=failover,
                   runner=runner)

    # ---- lifecycle ---------------------------------------------------------------------------

    @property
    def doorbell(self) -> Any:
        """The ``agent`` bell of the store: rung when there is something to send."""
        return self.store.doorbell("agent")

    def start(self) -> None:
        """Connect (in the background, with back-off) and start the sender and receiver
        (or hand the agent to its runner)."""
        self.store.meta.count_start("sync")  # reported in the status: the process restarts
        self.client.connect_async(self.host, self.port, keepalive=self.tuning.keepalive_s,
                                  clean_start=False,
                                  properties=connect_properties(self.tuning.session_expiry_s))
        if self.runner is not None:
            self.doorbell  # noqa: B018  bound now: rings from the start are kept
            self.runner.attach(self)
            return
        self.client.loop_start()
        for target, name in ((self._sender, "sync-agent-sender"),
                             (self.receiver.run, "sync-agent-receiver")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        """Publish ``offline``, disconnect, stop the threads (the store stays open)."""
        self._stop.set()
        if self.runner is not None:
            self.runner.detach(self)
        self.store.ring("agent")
        self.receiver.wake()
        for t in self._threads:
            t.join(10)
        self._threads.clear()
        if self.connected.is_set():
            info = self.client.publish(self.status.topic, encode(self.status.offline()),
                                       qos=1, retain=True)
            if self.runner is None:  # hosted: written at once, no network thread to ack it
                info.wait_for_publish(2)
        self.client.disconnect()
        if self.runner is None:
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

    def gateway_reachable(self) -> bool:
        """Connected to the broker, and no sign that the gateways stopped answering."""
        return self.status.gateway_reachable()

    # ---- MQTT callbacks (paho's network thread) -------------------------------------------------

    def _callback_failed(self, _exc: BaseException) -> None:
        self.stats.callback_errors += 1

    def _on_connect(self, client: mqtt.Client, _u: Any, flags: Any, rc: Any, _p: Any) -> None:
        if rc.is_failure:
            log.error("broker refused the agent: %s", rc)
            return
        subs = [(topics.result(self.site, self.device), 1),
                (topics.lookup_reply(self.site, self.device), 1),
                (topics.snapshot_reply(self.site, self.device), 1),
                (topics.cache_filter(self.site, self.role), 1),
                (topics.config(self.site, self.device), 1),
                (self.commands.topic, 1),
                (topics.staff_accounts(self.site), 1)]
        if self.tuning.site_view:
            subs += [(f, 1) for f in topics.site_filters(self.site)]
        self.subscribed.clear()
        _rc, self._sub_mid = client.subscribe(subs)
        self.status.reconnected()  # the sender publishes the status (backlog, reader) at once
        self.site_view.reconnected()
        self.acks.clear()
        self.sender.reconnected()
        self.ops.reconnected()
        self.requests.reconnected()
        self.remote_config.reconnected()
        self.commands.reconnected()
        self.connected.set()
        log.info("agent connected (session present: %s)", flags.session_present)
        self.store.ring("agent")

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, mid: int, reason_codes: Any,
                      _p: Any) -> None:
        if mid != self._sub_mid:
            return
        refused = [rc for rc in reason_codes if rc.is_failure]
        if refused:
            log.warning("broker refused %d of the agent's subscriptions: %s", len(refused),
                      ", ".join(sorted({str(rc) for rc in refused})))
        self.subscribed.set()

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        self.connected.clear()
        if not self._stop.is_set():
            log.warning("agent lost the broker (%s); reconnecting with back-off", rc)
            self.store.ring("agent")  # the sender records "offline" for the edge

    def _on_connect_fail(self, client: mqtt.Client, _u: Any) -> None:
        # paho calls this when a (re)connection attempt fails, with the socket closed: the
        # next attempt (after paho's back-off) goes to the next address of the service. The
        # journal is the truth, so a new broker's empty session loses nothing: the sender
        # re-sends every unanswered entry after the connect, and the ledger answers a key
        # it has seen with its recorded result.
        if len(self._addresses) < 2 or self._stop.is_set():
            return
        failed = self._addresses[self._at]
        self._at = (self._at + 1) % len(self._addresses)
        self.host, self.port = self._addresses[self._at]
        retarget(client, self.host, self.port)
        self.stats.failovers += 1
        log.warning("broker %s:%d unreachable; next attempt: %s:%d", *failed, self.host, self.port)

    def _on_publish(self, _c: mqtt.Client | None, _u: Any, mid: int, rc: Any, _p: Any) -> None:
        self.acks.acked(mid, rc, time.monotonic())

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        # Queue only; the receiver writes and then acknowledges.
        self.receiver.put(ReceivedMessage.from_paho(msg))

    def _gateway_back(self) -> None:
        self.sender.resend_all_now()
        self.store.ring("agent")

    # ---- the sender thread --------------------------------------------------------------------

    def _sender(self) -> None:
        bell = self.doorbell
        while not self._stop.is_set():
            if not self.sender_pass():
                self._stop.wait(0.5)
            bell.wait(self.tuning.poll_s)

    def sender_pass(self) -> bool:
        """One pass of each publishing part (what the sender thread runs after each ring,
        or every ``poll_s``). Returns False when it failed (logged; the next pass retries)."""
        self.sender.new_pass()
        try:
            self.status.update_connectivity()
            if self.connected.is_set():
                self.status.publish_if_changed()
                self.requests.send_lookups()
                self.sender.send()
                self.remote_config.publish()
                self.requests.request_snapshot_if_needed()
                if self.tuning.publish_ops:
                    self.ops.publish()
                self.commands.publish()
        except Exception:
            log.exception("agent sender failed; retrying")
            return False
        if self.heartbeat is not None and all(t.is_alive() for t in self._threads):
            self.heartbeat()
        return True


def make_agent_client(broker: Any, site: str, device: str) -> mqtt.Client:
    """A paho client for a box: fixed client id, credentials, TLS, retained last will,
    manual acknowledgement (the receiver acknowledges after its store commit)."""
    will = encode(DeviceStatus(site=site, device=device, state="offline"))
    return make_client(broker, broker.client_id or f"smartlib-{site}-{device}",
                       manual_ack=True, will=(topics.status(site, device), will))
