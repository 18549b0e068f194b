"""The gateway's intake: MQTT messages in, checked, as jobs for the pipelines.

paho's network thread calls :meth:`Intake.on_message`; nothing a message holds may escape
from it. A message is bounded before it is parsed: its size always, its JSON nesting before
the standard library's ``json`` sees it (a well-formed batch goes to pydantic-core's parser
first, which has a recursion limit of its own and costs no scan), its topic and
payload are checked against each other, and its requests go to the pipelines with the
share of its acknowledgement they owe (:class:`Ack`). What can never be processed is a
dead letter: logged, counted, kept in the ledger (topic, reason, size, SHA-256; never the
payload) and acknowledged, so the broker never delivers it again. Circulation from a
device whose role may not circulate (a gate) is answered ``refused`` here.

This module must not import ``edge``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
from pydantic import ValidationError

from sync import topics
from sync.broker import default_role
from sync.errors import (
    DeviceRevokedError,
    InvalidMessageError,
    InvalidTopicError,
    RoleRefusedError,
)
from sync.gateway.ledger import Ledger
from sync.gateway.revoked import RevokedDevices
from sync.messages import (
    Alarm,
    DeviceEventReport,
    LookupRequest,
    Message,
    SnapshotRequest,
    Statistics,
    TransactionBatch,
    TransactionRequest,
    TransactionResult,
    batch_entries,
    decode,
    encode,
    validate,
)
from sync.mqtt import (
    GATEWAY_LIMITS,
    PayloadLimits,
    ReceivedMessage,
    check_depth,
    check_size,
    fingerprint,
)

log = logging.getLogger(__name__)

MODELS: dict[str, type[Message]] = {
    "tx": TransactionRequest, "lookup": LookupRequest, "snapshot/request": SnapshotRequest,
    "alarm": Alarm, "stats": Statistics, "event": DeviceEventReport}
"""The message model of each topic kind a gateway consumes."""


class Ack:
    """One received message's PUBACK, owed once each of its ``left`` requests is durable
    (a batch message carries many)."""

    __slots__ = ("mid", "qos", "left")

    def __init__(self, mid: int, qos: int, left: int) -> None:
        self.mid, self.qos, self.left = mid, qos, left


Enqueue = Callable[..., None]


def _json(payload: bytes | bytearray) -> Any:
    """The parsed payload, or None when it is not JSON (the full decoder says why)."""
    try:
        return json.loads(payload)
    except ValueError:
        return None


class Intake:
    """Checks received messages and hands their requests to the pipelines.

    Args:
        sites: the sites served.
        ledger: where dead letters are kept.
        client: the gateway's paho client (acknowledgements, refusals).
        count: adds to one of the gateway's counters.
        enqueue: ``enqueue(kind, request, ack=, msg=, batched=)``: a job for the pipelines.
        limits: the size and nesting a payload may have.
        device_roles: device id → role, over :func:`sync.broker.default_role`.
        revoked: the devices revoked in the central console: their transactions are
            answered ``refused``, their other messages are rejected (dead letters).
        gateway_id: this gateway's device id: each dead letter of a served site is also
            published as a ``dead_letter`` event on ``…/{site}/{gateway_id}/event``, where
            the central console's collector shows it (no payload, as in the ledger).
    """

    def __init__(self, *, sites: set[str], ledger: Ledger, client: mqtt.Client,
                 count: Callable[..., None], enqueue: Enqueue,
                 limits: PayloadLimits = GATEWAY_LIMITS,
                 device_roles: Mapping[str, str] | None = None,
                 revoked: RevokedDevices | None = None,
                 gateway_id: str | None = None) -> None:
        self.sites = sites
        self.gateway_id = gateway_id
        self._letters = 0
        self.ledger = ledger
        self.client = client
        self._count = count
        self._enqueue = enqueue
        self.limits = limits
        self.device_roles = dict(device_roles or {})
        self.revoked = revoked

    def role_of(self, device: str) -> str:
        """A device's role: ``device_roles``, else the naming rule (``gate…``: a gate)."""
        return self.device_roles.get(device) or default_role(device)

    def _ack(self, mid: int | None, qos: int) -> None:
        if mid is not None and qos > 0:
            self.client.ack(mid, qos)

    def _publish(self, result: TransactionResult) -> None:
        self.client.publish(topics.result(result.site, result.device), encode(result), qos=1)

    def on_message(self, _c: mqtt.Client, _u: Any, paho_msg: mqtt.MQTTMessage) -> None:
        """paho's network thread: nothing a message holds may escape from here (it would
        end the thread, and with it the gateway's work). A message that fails for a reason
        not foreseen is a dead letter: logged, counted, kept aside and acknowledged."""
        try:
            msg = ReceivedMessage.from_paho(paho_msg)
        except Exception:
            log.exception("a received message could not be read; acknowledged and dropped")
            self._count("callback_errors")
            self._ack(paho_msg.mid, paho_msg.qos)
            return
        try:
            self._receive(msg)
        except Exception as exc:
            log.exception("message on %s failed unexpectedly", msg.topic)
            self._count("callback_errors")
            self.dead_letter(msg, f"{type(exc).__name__}: {exc}")
            self._ack(msg.mid, msg.qos)

    def dead_letter(self, msg: ReceivedMessage, reason: str) -> None:
        """Keep aside a message that can never be processed (logged, counted, in the
        ledger's ``dead_letters``); the caller acknowledges it, so it is never redelivered."""
        site = device = None
        try:
            ref = topics.parse(msg.topic)
            site, device = ref.site, ref.device
        except InvalidTopicError:
            pass
        log.warning("dead letter on %s (%d bytes): %s", msg.topic, len(msg.payload), reason)
        try:
            letter = self.ledger.add_dead_letter(msg.topic, reason, size=len(msg.payload),
                                                 sha256=fingerprint(msg.payload), site=site,
                                                 device=device)
        except Exception:
            log.exception("dead letter on %s could not be stored", msg.topic)
        else:
            if site in self.sites and self.gateway_id:
                self._report_dead_letter(site, device, letter)
        self._count("dead_letters")

    def _report_dead_letter(self, site: str, device: str | None, letter: Any) -> None:
        gid = str(self.gateway_id)
        self._letters = (self._letters + 1) % 1000
        event = DeviceEventReport(  # event ids: the time in ms, a counter apart
            site=site, device=gid, event_id=int(letter.received_at * 1000) * 1000 + self._letters,
            source="gateway", kind="dead_letter",
            detail={"topic": letter.topic, "from_device": device, "reason": letter.reason,
                    "size": letter.size, "sha256": letter.sha256},
            at=datetime.fromtimestamp(letter.received_at, UTC))
        self.client.publish(topics.event(site, gid), encode(event), qos=1)

    def _reject(self, msg: ReceivedMessage, exc: Exception) -> None:
        """A message that is invalid for good: rejected, kept as a dead letter, acknowledged."""
        self._count("rejected")
        log.warning("rejected message on %s: %s", msg.topic, exc)
        self.dead_letter(msg, f"{type(exc).__name__}: {exc}")
        self._ack(msg.mid, msg.qos)

    def _refuse_role(self, msg: ReceivedMessage, reqs: list[TransactionRequest]) -> None:
        """Circulation from a device whose role may not circulate (a gate): refused."""
        role = self.role_of(reqs[0].device)
        self._refuse(msg, reqs, RoleRefusedError(
            f"a {role} may not lend, return or renew ({reqs[0].device})"), "role_refused")

    def _refuse(self, msg: ReceivedMessage, reqs: list[TransactionRequest], error: Exception,
                counter: str) -> None:
        """Each request is answered ``refused`` with ``error`` (the edge closes the entry
        and shows why), nothing reaches the ILS or the ledger, and the message is
        acknowledged."""
        self._count(counter, len(reqs))
        log.warning("refused %d transaction(s) from %s/%s: %s", len(reqs), reqs[0].site,
                    reqs[0].device, error)
        for req in reqs:
            self._publish(TransactionResult(
                key=req.key, kind=req.kind, site=req.site, device=req.device, status="refused",
                ok=False, item=req.item, patron=req.patron,
                screen_message=f"refused: {error}"[:200]))
        self._ack(msg.mid, msg.qos)

    def _is_revoked(self, site: str, device: str | None) -> bool:
        return self.revoked is not None and self.revoked.is_revoked(site, device or "")

    def _revoked_error(self, site: str, device: str | None) -> DeviceRevokedError:
        return DeviceRevokedError(f"device {site}/{device} is revoked")

    def _receive(self, msg: ReceivedMessage) -> None:
        try:
            check_size(msg.payload, self.limits)
            ref = topics.parse(msg.topic)
            if ref.site not in self.sites:
                raise InvalidTopicError(f"site {ref.site!r} is not served by this gateway")
            model = MODELS.get(ref.kind)
            if model is None:
                raise InvalidTopicError(f"gateways do not consume {ref.kind!r} topics")
            if (ref.kind == "tx" and b'"transactions"' in msg.payload
                    and self._on_batch(ref, msg)):
                return
            check_depth(msg.payload, self.limits)  # before the standard library's json
            req: Any = decode(model, msg.payload)
            if (req.site, req.device) != (ref.site, ref.device):
                raise InvalidMessageError(
                    f"payload names {req.site}/{req.device} but came on {ref.site}/{ref.device}")
        except (InvalidTopicError, InvalidMessageError) as exc:
            self._reject(msg, exc)
            return
        if self._is_revoked(ref.site, ref.device):
            error = self._revoked_error(ref.site, ref.device)
            if ref.kind == "tx":
                self._refuse(msg, [req], error, "revoked_refused")
            else:
                self._reject(msg, error)
            return
        if ref.kind == "tx" and self.role_of(req.device) == "gate":
            self._refuse_role(msg, [req])
            return
        self._enqueue(ref.kind, req, ack=Ack(msg.mid, msg.qos, 1) if msg.qos > 0 else None,
                      msg=msg if ref.kind == "lookup" else None)

    def _on_batch(self, ref: topics.TopicRef, msg: ReceivedMessage) -> bool:
        """A :class:`~sync.messages.TransactionBatch`: each valid entry becomes a job, and
        the message is acknowledged once all of them are durable. A refused entry is
        logged (by index) and the others go on; a refused envelope refuses them all.

        Returns:
            False when the payload is not a batch at all (a lone request that merely
            mentions "transactions"): the caller decodes it as a request.
        """
        try:  # a well-formed batch in one pydantic call (the usual case: 7 us an entry)
            whole: TransactionBatch | None = TransactionBatch.model_validate_json(msg.payload)
        except ValidationError:
            whole = None
        rows: list[Any] = []
        try:
            if whole is not None:
                sender = (whole.site, whole.device)
            else:
                check_depth(msg.payload, self.limits)  # before the standard library's json
                data = _json(msg.payload)
                if not isinstance(data, dict) or "transactions" not in data:
                    return False
                rows = batch_entries(TransactionBatch, data)
                sender = (data["site"], data["device"])
            if sender != (ref.site, ref.device):
                raise InvalidMessageError(f"batch names {sender[0]}/{sender[1]} but came on "
                                          f"{ref.site}/{ref.device}")
        except InvalidMessageError as exc:
            self._reject(msg, exc)
            return True
        jobs = (list(whole.transactions) if whole is not None
                else self._batch_entries(ref, msg, rows))
        if not jobs:
            self._ack(msg.mid, msg.qos)
            return True
        if self._is_revoked(ref.site, ref.device):
            self._refuse(msg, jobs, self._revoked_error(ref.site, ref.device), "revoked_refused")
            return True
        if self.role_of(ref.device or "") == "gate":
            self._refuse_role(msg, jobs)
            return True
        ack = Ack(msg.mid, msg.qos, len(jobs)) if msg.qos > 0 else None
        for req in jobs:
            self._enqueue("tx", req, ack=ack, batched=True)
        return True

    def _batch_entries(self, ref: topics.TopicRef, msg: ReceivedMessage,
                       rows: list[Any]) -> list[TransactionRequest]:
        """A batch's entries one by one: the valid ones; each refused one is logged."""
        out: list[TransactionRequest] = []
        for i, row in enumerate(rows):
            try:
                req = validate(TransactionRequest, row)
                if (req.site, req.device) != (ref.site, ref.device):
                    raise InvalidMessageError(f"names {req.site}/{req.device} but came on "
                                              f"{ref.site}/{ref.device}")
            except InvalidMessageError as exc:
                self._count("rejected")
                log.warning("rejected transactions[%d] of a batch on %s: %s", i, msg.topic, exc)
                self.dead_letter(msg, f"transactions[{i}]: {type(exc).__name__}: {exc}")
                continue
            out.append(req)
        return out
