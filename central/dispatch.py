"""The command dispatcher: publishes the console's pending commands to the boxes.

It runs as a thread of the collector (the same MQTT account, whose ACL writes only the
devices' ``command`` topics). Each unsent command goes as a :class:`~sync.messages.Command`
on ``smartlib/v1/{site}/{device}/command`` with QoS 1 and is marked sent once the broker
acknowledged it (PUBACK): a box that is offline gets it from its persistent session when
it comes back, and a command whose publication failed goes again at the next pass. Each
pass also closes the commands whose expiry passed (``expired``; never sent after it). The
box's answer comes back through the collector (``…/command/ack``). It never reads patron
data: a command names a task id or a transaction key only.

The same thread publishes the journaled Fee Paid requests of fine payments
(:class:`~central.payments.PaymentBook`'s ``payment_submissions``, written by the web
process's webhook) on the kiosk's ``tx`` topic, as the kiosk would submit a transaction: the
gateway's ledger applies each key once, so a request published twice is harmless.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

import paho.mqtt.client as mqtt

from central.commands import CommandRecord
from central.db import parse_stamp, stamp
from central.errors import DatabaseError
from central.payments import PaymentBook
from central.store import CentralStore
from sync import topics
from sync.messages import Command, encode

log = logging.getLogger(__name__)


def command_message(c: CommandRecord) -> Command:
    """The MQTT message of a stored command."""
    return Command(command_id=c.command_id, site=c.site_id, device=c.device_id, action=c.action,
                   target=c.target, resolution=c.resolution, issued_by=c.issued_by,
                   issued_at=parse_stamp(c.issued_at),
                   expires_at=parse_stamp(c.expires_at) if c.expires_at else None)


class CommandDispatcher:
    """Publishes unsent commands every ``poll_s`` while the client is connected.

    Args:
        store: the central store.
        client: the collector's connected paho client.
        connected: set while the client is connected.
        poll_s: how often it looks for new commands.
        clock: the current aware time.
    """

    def __init__(self, store: CentralStore, client: mqtt.Client, connected: threading.Event, *,
                 poll_s: float = 0.5,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.store = store
        self.client = client
        self.connected = connected
        self.poll_s = poll_s
        self.clock = clock
        self.sent = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._payments: PaymentBook | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="central-commands", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                self.expire_due()
                if self.connected.is_set():
                    self.publish_pending()
                    self.publish_fee_payments()
            except DatabaseError:
                log.exception("central commands: database failure; trying again")

    def expire_due(self) -> int:
        """Close the commands whose expiry passed without the box's answer; returns how many."""
        expired = self.store.commands.expire_due(stamp(self.clock()))
        for c in expired:
            log.warning("central command %s %s %s -> %s/%s expired (%s)", c.command_id,
                        c.action, c.target, c.site_id, c.device_id, c.reason)
        return len(expired)

    def publish_fee_payments(self, timeout_s: float = 5.0) -> int:
        """Publish every unsent Fee Paid request on its kiosk's tx topic (each waits for its
        PUBACK, then is marked sent); returns how many the broker took."""
        if self._payments is None:
            self._payments = PaymentBook(self.store.db)
        n = 0
        for req in self._payments.unsent_submissions():
            if not self._publish_acked(topics.tx(req.site, req.device), encode(req), timeout_s):
                log.warning("fee payment %s not acknowledged by the broker yet", req.key)
                return n
            self._payments.mark_submitted(req.key, self.clock())
            log.info("fee payment %s (%s VND) -> %s/%s", req.key, req.payload.get("amount"),
                     req.site, req.device)
            n += 1
        return n

    def _publish_acked(self, topic: str, payload: bytes, timeout_s: float) -> bool:
        info = self.client.publish(topic, payload, qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            return False
        try:
            info.wait_for_publish(timeout_s)
        except RuntimeError:
            return False
        return info.is_published()

    def publish_pending(self, timeout_s: float = 5.0) -> int:
        """Publish every unsent command (each waits for its PUBACK); returns how many the
        broker took."""
        n = 0
        for c in self.store.commands.unsent(now=stamp(self.clock())):
            try:
                payload = encode(command_message(c))
            except ValueError as exc:  # a stored command that cannot be a message: close it
                log.error("central command %s cannot be sent: %s", c.command_id, exc)
                self.store.commands.record_ack(c.command_id, c.site_id, c.device_id, "failed",
                                               f"not sent: {exc}"[:500], stamp(self.clock()))
                continue
            info = self.client.publish(topics.command(c.site_id, c.device_id), payload, qos=1)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                return n
            try:
                info.wait_for_publish(timeout_s)
            except RuntimeError:
                return n
            if not info.is_published():
                log.warning("central command %s not acknowledged by the broker yet",
                            c.command_id)
                return n
            self.store.commands.mark_sent(c.command_id, stamp(self.clock()))
            log.info("central command %s %s %s -> %s/%s", c.command_id, c.action, c.target,
                     c.site_id, c.device_id)
            n += 1
            self.sent += 1
        return n
