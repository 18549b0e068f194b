"""The collector: takes every site's statuses, alarms, statistics, events and conflicts from
the broker into the central database.

It connects with its own account (``smartlib central broker-account`` writes its ACL: read
only), a fixed client id and a persistent session (``clean_start=False``), so what is
published while it is away waits for it in the broker. Each message is acknowledged only
after it is stored (MQTT 5 manual acknowledgement); a message that can never be stored (bad
topic, bad JSON, a payload naming another device) is acknowledged and kept aside as a dead
letter, so no message can stop it. A database failure is retried briefly, then leaves the
message unacknowledged (the broker sends it again after a reconnect). It publishes only
the devices' remote configurations the console pushed (:mod:`central.remote_config`),
retained, on the ``…/config`` topics, the console's commands to the boxes
(:mod:`central.dispatch`, a thread of its own) on the ``…/command`` topics, and the staff
accounts (:mod:`central.staff_publish`), retained, on each site's ``staff/accounts``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from central.db import stamp
from central.dispatch import CommandDispatcher
from central.errors import CentralError, DatabaseError
from central.payments import record_intent_event
from central.remote_config import ConfigPublisher
from central.staff_publish import StaffAccountsPublisher
from central.store import CentralStore, StatusReport
from sync import topics
from sync.broker import central_acl
from sync.errors import MessageError
from sync.messages import (
    PAYMENT_INTENT_EVENT,
    Alarm,
    CommandAck,
    Conflict,
    DeviceEventReport,
    DeviceStatus,
    SecurityTaskReport,
    Statistics,
    decode,
)

log = logging.getLogger(__name__)

COLLECTED_KINDS = ("status", "alarm", "stats", "stats/live", "event", "command/ack", "security")
"""Device topics the collector reads (``alarm`` is the legacy alarm topic)."""


def config_filters(sites: list[str] | None, kind: str = "config/ack") -> list[str]:
    """The devices' remote configuration topics of each site (every site: ``+``): the
    acknowledgements the collector reads (``config/ack``) or the configurations it writes
    (``config``)."""
    return [f"{topics.ROOT}/{site if site == '+' else topics.check_id(site, 'site')}/+/{kind}"
            for site in sites or ["+"]]


def collector_writes(sites: list[str] | None) -> list[str]:
    """What the collector's account publishes: the devices' remote configurations
    (``config``), the console's commands (``command``, its
    :class:`~central.dispatch.CommandDispatcher`), the fine payments' Fee Paid requests on
    the devices' ``tx`` topics (the same dispatcher) and the sites' staff accounts."""
    roots = [f"{topics.ROOT}/{s if s == '+' else topics.check_id(s, 'site')}"
             for s in sites or ["+"]]
    return (config_filters(sites, "config") + [f"{r}/+/command" for r in roots]
            + [f"{r}/+/tx" for r in roots] + staff_accounts_filters(sites))


def collector_acl(user: str, sites: list[str] | None) -> str:
    """The collector account's ACL: it reads what it collects and the configuration
    acknowledgements, and writes only the devices' configuration and command topics."""
    return central_acl(user, collector_filters(sites) + config_filters(sites),
                       writes=collector_writes(sites))


def staff_accounts_filters(sites: list[str] | None) -> list[str]:
    """The sites' staff accounts topics (every site: ``+``), which the collector writes."""
    return [f"{topics.ROOT}/{site if site == '+' else topics.check_id(site, 'site')}"
            "/staff/accounts" for site in sites or ["+"]]


def collector_filters(sites: list[str] | None) -> list[str]:
    """The subscriptions of the collector: for each site (every site: ``+``), the devices'
    statuses, alarms, statistics and events, the staff alarm topics and the conflicts."""
    out: list[str] = []
    for site in sites or ["+"]:
        root = f"{topics.ROOT}/{site if site == '+' else topics.check_id(site, 'site')}"
        out += [f"{root}/+/{kind}" for kind in COLLECTED_KINDS]
        out += [f"{root}/staff/alarm/+", f"{root}/staff/conflict"]
    return out


@dataclass
class CollectorStats:
    """What the collector did since it started (for logs and tests)."""

    stored: dict[str, int] = field(default_factory=dict)
    dead_letters: int = 0
    db_failures: int = 0
    connects: int = 0


class CentralCollector:
    """Reads the broker into the central store.

    Args:
        store: the central store (its own connection: the collector is its own process).
        client: a paho MQTT 5 client with ``manual_ack=True`` (see :func:`make_collector_client`).
        host, port: the broker.
        sites: the sites to collect (None: every site the account may read).
        clock: the current aware time.
        db_retry_s: the pauses before storing a message again after a database failure (a
            dropped PostgreSQL connection is reopened); after the last, it stays
            unacknowledged.
    """

    def __init__(self, store: CentralStore, client: mqtt.Client, *, host: str, port: int,
                 sites: list[str] | None = None, session_expiry_s: int = 7 * 24 * 3600,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 db_retry_s: tuple[float, ...] = (0.5, 2.0)) -> None:
        self.store = store
        self.client = client
        self.host, self.port = host, port
        self.filters = collector_filters(sites) + config_filters(sites)
        self.session_expiry_s = session_expiry_s
        self.clock = clock
        self.db_retry_s = db_retry_s
        self.stats = CollectorStats()
        self.connected = threading.Event()
        self.configs = ConfigPublisher(store.configs, self._publish, clock=clock)
        self.staff_accounts = StaffAccountsPublisher(
            store.staff, (lambda: list(sites)) if sites is not None else
            (lambda: [s.site_id for s in store.sites.list()]), self._publish, clock=clock)
        self._stop = threading.Event()
        self._pusher: threading.Thread | None = None
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        self.dispatcher = CommandDispatcher(store, client, self.connected, clock=clock)

    def start(self) -> None:
        """Connect (retrying in the background) and start the network loop."""
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.session_expiry_s
        self.client.connect_async(self.host, self.port, keepalive=30, clean_start=False,
                                  properties=props)
        self.client.loop_start()
        self._stop.clear()
        self._pusher = threading.Thread(target=self._push_configs, name="central-config-push",
                                        daemon=True)
        self._pusher.start()
        self.dispatcher.start()

    def stop(self) -> None:
        self.dispatcher.stop()
        self._stop.set()
        if self._pusher is not None:
            self._pusher.join(5)
            self._pusher = None
        self.client.disconnect()
        self.client.loop_stop()

    def _publish(self, topic: str, payload: bytes) -> bool:
        info = self.client.publish(topic, payload, qos=1, retain=True)
        return info.rc == mqtt.MQTT_ERR_SUCCESS

    def _push_configs(self, every_s: float = 0.5) -> None:
        """Publish the configurations the console pushed (the web app only writes the
        database), while connected."""
        while not self._stop.wait(every_s):
            if not self.connected.is_set():
                continue
            try:
                self.configs.publish_due()
                self.staff_accounts.publish_due()
            except DatabaseError:
                log.warning("central database failure while pushing configurations; again soon")
            except Exception:
                log.exception("pushing configurations failed; again soon")

    def run(self, stop: threading.Event) -> None:
        """Run until ``stop`` is set; closes the store at the end."""
        self.start()
        log.info("central collector -> %s:%d (%s)", self.host, self.port, ", ".join(self.filters))
        try:
            stop.wait()
        finally:
            self.stop()
            self.store.close()

    def _on_connect(self, client: mqtt.Client, _u: Any, flags: Any, rc: Any, _p: Any) -> None:
        if rc.is_failure:
            log.error("the broker refused the central collector: %s", rc)
            return
        client.subscribe([(f, 1) for f in self.filters])
        self.staff_accounts.publish_again()
        try:
            self.store.configs.publish_again()
        except DatabaseError:
            log.warning("central database failure: pending configurations not re-sent")
        self.stats.connects += 1
        self.connected.set()
        log.info("central collector connected (session present: %s)", flags.session_present)

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        self.connected.clear()
        log.warning("central collector lost the broker (%s); reconnecting", rc)

    def _on_message(self, client: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        for pause in (*self.db_retry_s, None):
            try:
                self.handle(msg.topic, bytes(msg.payload), retained=bool(msg.retain))
                break
            except DatabaseError:
                self.stats.db_failures += 1
                if pause is None:
                    log.exception("central database failure on %s: left unacknowledged (the "
                                  "broker sends it again after a reconnect)", msg.topic)
                    return
                log.warning("central database failure on %s; again in %.1f s", msg.topic, pause)
                time.sleep(pause)
        if msg.qos > 0:
            client.ack(msg.mid, msg.qos)

    def handle(self, topic: str, payload: bytes, *, retained: bool = False) -> str:
        """Store one message; returns what it was (``status``, ``alarm``, … or ``dead``).

        Raises:
            DatabaseError: the store failed (the caller leaves the message unacknowledged).
        """
        now = stamp(self.clock())
        try:
            kind = self._store(topic, payload, retained, now)
        except DatabaseError:
            raise
        except (MessageError, CentralError, ValueError) as exc:
            return self._dead(topic, payload, str(exc), now)
        except Exception as exc:  # a bug must not stop the collector: keep the message aside
            log.exception("central collector: unexpected failure on %s", topic)
            return self._dead(topic, payload, f"unexpected: {exc!r}", now)
        self.stats.stored[kind] = self.stats.stored.get(kind, 0) + 1
        return kind

    def _dead(self, topic: str, payload: bytes, reason: str, now: str) -> str:
        log.warning("central collector: dead letter on %s: %s", topic, reason)
        self.stats.dead_letters += 1
        self.store.dead_letters.record(topic, payload, reason, now)
        return "dead"

    def _store(self, topic: str, payload: bytes, retained: bool, now: str) -> str:
        ref = topics.parse(topic)
        if ref.kind == "staff/conflict":
            c = decode(Conflict, payload)
            _same_site(c.site, ref.site)
            self.store.conflicts.record(
                tx_key=c.key, site_id=c.site, device_id=c.device, kind=c.kind, item=c.item,
                patron=c.patron, reason=c.reason, screen_message=c.screen_message,
                created_at=stamp(c.created_at), detected_at=stamp(c.detected_at))
            return "conflict"
        if ref.kind == "config/ack":
            return self.configs.handle_ack(ref, payload)
        device = ref.device
        if device is None or ref.kind not in (*COLLECTED_KINDS,):
            raise MessageError(f"the collector does not read {topic!r}")
        if ref.kind == "command/ack":
            ack = decode(CommandAck, payload)
            _same_device(ack.site, ack.device, ref.site, device)
            if not self.store.commands.record_ack(ack.command_id, ack.site, ack.device,
                                                  ack.outcome, ack.reason, now):
                log.info("central collector: acknowledgement of command %s changed nothing",
                         ack.command_id)
            return "command_ack"
        if ref.kind == "security":
            if not payload:
                return "cleared"
            rep = decode(SecurityTaskReport, payload)
            _same_device(rep.site, rep.device, ref.site, device)
            self.store.security_tasks.replace(rep.site, rep.device, [
                {**t.model_dump(), "created_at": stamp(t.created_at),
                 "updated_at": stamp(t.updated_at)} for t in rep.tasks], now)
            return "security"
        if ref.kind == "status":
            if not payload:
                return "cleared"  # a retained status removed from the broker
            s = decode(DeviceStatus, payload)
            _same_device(s.site, s.device, ref.site, device)
            self.store.devices.record_status(StatusReport(
                site_id=s.site, device_id=s.device, state=s.state, received_at=now,
                reported_at=stamp(s.at), since=stamp(s.since) if s.since else None,
                role=s.role, backlog=s.backlog, reader=s.reader,
                reader_failures=s.reader_failures, retained=retained,
                starts={str(k): n for k, n in s.starts.items()} if s.starts else None))
            if s.software or s.printer:
                self.store.devices.record_health(s.site, s.device, software_version=s.software,
                                                 printer=s.printer)
            return "status"
        if ref.kind == "alarm":
            a = decode(Alarm, payload)
            _same_device(a.site, a.device, ref.site, device)
            if a.alarm_id is None:
                raise MessageError("an alarm needs its alarm_id (the box's row id)")
            self.store.alarms.record(
                site_id=a.site, device_id=a.device, edge_alarm_id=a.alarm_id, kind=a.kind,
                raised_at=stamp(a.at), received_at=now, source=a.source, item=a.item, uid=a.uid,
                title=a.title, direction=a.direction, message=a.message, detail=a.detail,
                edge_acked_at=stamp(a.acked_at) if a.acked_at else None)
            return "alarm"
        if ref.kind in ("stats", "stats/live"):
            st = decode(Statistics, payload)
            _same_device(st.site, st.device, ref.site, device)
            self.store.stats.record(st.site, st.device, stamp(st.period_start), st.period_s,
                                    st.counters, complete=ref.kind == "stats", received_at=now)
            return "stats"
        e = decode(DeviceEventReport, payload)
        _same_device(e.site, e.device, ref.site, device)
        self.store.events.record(e.site, e.device, e.event_id, e.source, e.kind, e.detail,
                                 stamp(e.at))
        if e.kind == PAYMENT_INTENT_EVENT:
            record_intent_event(self.store.db, e)
        if e.source == "printer" or e.kind.startswith("printer_"):
            self.store.devices.record_health(e.site, e.device,
                                             printer=e.kind.removeprefix("printer_"))
        return "event"


def _same_site(named: str, topic_site: str) -> None:
    if named != topic_site:
        raise MessageError(f"payload names site {named} but came on site {topic_site}")


def _same_device(site: str, device: str, topic_site: str, topic_device: str) -> None:
    if (site, device) != (topic_site, topic_device):
        raise MessageError(f"payload names {site}/{device} but came on {topic_site}/{topic_device}")


def make_collector_client(broker: Any, client_id: str) -> mqtt.Client:
    """A paho MQTT 5 client for the collector's ``[broker]`` account: manual acknowledgement
    (after the store commit), TLS when configured, reconnect back-off up to 30 s."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                         protocol=mqtt.MQTTv5, manual_ack=True)
    if broker.username:
        secret = broker.password.get_secret_value() if broker.password else None
        client.username_pw_set(broker.username, secret)
    if broker.tls:
        client.tls_set(ca_certs=str(broker.ca_file) if broker.ca_file else None)
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    return client
