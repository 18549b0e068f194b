"""The MQTT boundary of ``sync``: paho clients in, frozen messages out.

Everything the agent and the gateway need from paho lives here:

* :func:`make_client`: a paho MQTT 5 client for the ``[broker]`` section (credentials,
  TLS, last will, reconnect back-off, no paho in-flight limit);
* :func:`broker_tls_context`: the client TLS context (the site CA only, the host name
  checked, the box's certificate when configured); a failed handshake is logged as a
  :class:`~sync.errors.BrokerTlsError` naming the CA file and the reason (paho itself only
  retries, silently);
* :func:`connect_properties` / :func:`publish_properties`: session expiry, message expiry,
  response topic and correlation data;
* :class:`ReceivedMessage`: a received message converted from paho's ``MQTTMessage`` (and
  its ``Properties``) at the callback, so paho's types do not flow through the services;
  :func:`correlation_id` reads a reply's correlation data;
* :class:`PayloadLimits` / :func:`check_payload` (:func:`check_size`, :func:`check_depth`):
  the size and JSON nesting bounds a payload must keep before it is parsed (a 3,000-deep ``[[[…]]]`` raises ``RecursionError`` in
  ``json.loads``; paho's network thread dies of it);
* :func:`guard`: wraps a paho callback so that no error escapes into paho's thread.

This module must not import the agent, the gateway or ``edge``.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import re
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import accumulate
from typing import Any, TypeVar

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from sync.errors import (
    BrokerTlsError,
    InvalidMessageError,
    OversizedMessageError,
    TooDeepMessageError,
)

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])


def make_client(broker: Any, client_id: str, *, manual_ack: bool = False,
                will: tuple[str, bytes] | None = None) -> mqtt.Client:
    """A paho MQTT 5 client for the ``[broker]`` section (credentials, TLS, back-off).

    Args:
        broker: the ``[broker]`` settings (``username``, ``password``, ``tls``, ``ca_file``,
            ``cert_file``, ``key_file``).
        client_id: the MQTT client id (fixed: the broker keeps the session under it).
        manual_ack: acknowledge received QoS 1 messages only when the caller says so.
        will: a retained last will (topic, payload), QoS 1.

    Raises:
        BrokerTlsError: a TLS file cannot be read (see :func:`broker_tls_context`).
    """
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                    protocol=mqtt.MQTTv5, manual_ack=manual_ack)
    if broker.username:
        c.username_pw_set(broker.username,
                          broker.password.get_secret_value() if broker.password else None)
    if broker.tls:
        c.tls_set_context(broker_tls_context(broker))
    if will is not None:
        c.will_set(will[0], will[1], qos=1, retain=True)
    c.reconnect_delay_set(min_delay=1, max_delay=30)
    # No paho in-flight limit: with one, paho scans every unacknowledged message on each
    # PUBACK (O(in flight) per acknowledgement: 12% of the gateway's CPU in a drain). The
    # callers bound what is in flight themselves (the agent's ``window``, the gateway's
    # batches, acknowledged only after durability).
    c.max_inflight_messages_set(0)
    c.max_queued_messages_set(0)
    c.on_socket_open = _no_delay
    return c


def _no_delay(_client: mqtt.Client, _userdata: Any, sock: Any) -> None:
    """Send each packet at once (TCP_NODELAY). Without it a result published just after the
    PUBACK of its request waits for the broker's delayed ACK of that PUBACK (Nagle's
    algorithm): 40 ms on Linux, on every transaction."""
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError):
        pass  # not a TCP socket (a Unix socket, a test double): nothing to delay


class TlsFailureReporter:
    """Logs why a TLS connection to the broker failed, as a :class:`BrokerTlsError` naming
    the CA file: once per distinct reason, then again every ``repeat_s`` while it lasts."""

    def __init__(self, ca_file: str | None, repeat_s: float = 300.0) -> None:
        self.ca_file = ca_file
        self.repeat_s = repeat_s
        self.last: BrokerTlsError | None = None
        self._logged_at = -math.inf

    def _report(self, err: BrokerTlsError) -> None:
        now = time.monotonic()
        if self.last is None or str(self.last) != str(err) or now - self._logged_at >= self.repeat_s:
            log.error("%s: %s", type(err).__name__, err)
            self._logged_at = now
        self.last = err

    def handshake_failed(self, host: str, exc: ssl.SSLError) -> None:
        """Our side did not trust the broker, or the broker refused us during the handshake."""
        ca = self.ca_file or "the system CAs"
        if isinstance(exc, ssl.SSLCertVerificationError):
            self._report(BrokerTlsError(
                f"the broker's certificate ({host}) is not trusted with CA file {ca}: "
                f"{exc.verify_message or exc.reason}; check [broker] ca_file and the "
                "broker's certificate (expiry, host names)"))
        else:
            self.refused(host, exc)

    def refused(self, host: str, exc: ssl.SSLError) -> None:
        """The broker ended TLS with an alert (it refused our certificate: revoked, expired,
        not issued by its CA, or none sent)."""
        self._report(BrokerTlsError(
            f"the broker ({host}) refused the TLS connection: {exc.reason or exc}; check "
            f"[broker] cert_file / key_file (revoked or expired?) and CA file "
            f"{self.ca_file or 'the system CAs'}"))


def broker_tls_context(broker: Any) -> ssl.SSLContext:
    """The client TLS context for ``[broker]``: TLS 1.2+, the host name checked, only
    ``ca_file`` trusted (the system CAs without it), ``cert_file``/``key_file`` presented
    when set. Handshake failures are logged by a :class:`TlsFailureReporter`.

    Raises:
        BrokerTlsError: the CA file or the client certificate cannot be read.
    """
    ca = str(broker.ca_file) if broker.ca_file else None
    try:
        ctx = ssl.create_default_context(cafile=ca)
    except (OSError, ssl.SSLError) as exc:
        raise BrokerTlsError(f"cannot load the broker CA file {ca}: {exc}") from exc
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    cert = getattr(broker, "cert_file", None)
    if cert:
        key = getattr(broker, "key_file", None)
        try:
            ctx.load_cert_chain(str(cert), str(key) if key else None)
        except (OSError, ssl.SSLError) as exc:
            raise BrokerTlsError(f"cannot load the client certificate {cert} / key {key}: "
                                 f"{exc}") from exc
    reporter = TlsFailureReporter(ca)

    class _ReportingSocket(ssl.SSLSocket):
        """Paho's TLS socket: reports why a handshake or the first read failed."""

        def do_handshake(self, block: bool = False) -> None:
            try:
                super().do_handshake(block)
            except ssl.SSLError as exc:
                reporter.handshake_failed(self.server_hostname or "?", exc)
                raise

        def recv(self, buflen: int = 1024, flags: int = 0) -> bytes:
            try:
                return super().recv(buflen, flags)
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                raise
            except ssl.SSLError as exc:
                if "ALERT" in str(exc.reason or "").upper():
                    reporter.refused(self.server_hostname or "?", exc)
                raise

    ctx.sslsocket_class = _ReportingSocket
    return ctx


def connect_properties(session_expiry_s: int) -> Properties:
    """CONNECT properties: the broker keeps our session this long while we are away."""
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = session_expiry_s
    return props


def publish_properties(*, expiry_s: float | None = None, response_topic: str | None = None,
                       correlation: bytes | None = None) -> Properties | None:
    """PUBLISH properties (None when none is asked for).

    Args:
        expiry_s: message expiry (rounded up to whole seconds, at least 1).
        response_topic: where the answer is expected.
        correlation: correlation data echoed by the answer.
    """
    if not expiry_s and response_topic is None and correlation is None:
        return None
    props = Properties(PacketTypes.PUBLISH)
    if expiry_s:
        props.MessageExpiryInterval = max(1, math.ceil(expiry_s))
    if response_topic is not None:
        props.ResponseTopic = response_topic
    if correlation is not None:
        props.CorrelationData = correlation
    return props


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    """A message as the services see it (converted from paho's at the callback)."""

    topic: str
    """The topic (bytes that are not UTF-8 are replaced: the topic parser refuses it)."""
    payload: bytes
    qos: int = 0
    mid: int = 0
    retain: bool = False
    response_topic: str | None = None
    correlation: bytes | None = None

    @classmethod
    def from_paho(cls, msg: mqtt.MQTTMessage) -> ReceivedMessage:
        """Convert paho's message; never raises on what a publisher controls."""
        raw = msg._topic
        topic = raw.decode("utf-8", "replace") if isinstance(raw, bytes | bytearray) else str(raw)
        props = getattr(msg, "properties", None)
        response = getattr(props, "ResponseTopic", None)
        corr = getattr(props, "CorrelationData", None)
        return cls(topic=topic, payload=bytes(msg.payload), qos=msg.qos, mid=msg.mid,
                   retain=bool(msg.retain),
                   response_topic=response if isinstance(response, str) else None,
                   correlation=bytes(corr) if isinstance(corr, bytes | bytearray) else None)


def correlation_id(msg: ReceivedMessage, fallback: str) -> str:
    """The request id a reply's correlation data names (``fallback`` when it has none).

    Raises:
        InvalidMessageError: the correlation data is not UTF-8.
    """
    if not msg.correlation:
        return fallback
    try:
        return msg.correlation.decode()
    except UnicodeDecodeError as exc:
        raise InvalidMessageError("correlation data is not UTF-8") from exc


@dataclass(frozen=True, slots=True)
class PayloadLimits:
    """How big and how deeply nested a payload may be before it is parsed."""

    max_bytes: int = 1024 * 1024
    max_depth: int = 32
    """JSON nesting (objects and arrays) at most; our messages nest 5 deep at most."""


AGENT_LIMITS = PayloadLimits(max_bytes=8 * 1024 * 1024)
"""The agent's defaults: snapshot chunks and result batches are larger than requests."""
GATEWAY_LIMITS = PayloadLimits()
"""The gateway's defaults: a 500-request batch is well under 1 MiB."""

_ESCAPE = re.compile(rb"\\.", re.DOTALL)
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'[]{}"')
_STEP = bytes.maketrans(b"[{]}", b"\x02\x02\x00\x00")
"""An opening bracket as 2, a closing one as 0: minus 1, the change of depth."""


def check_size(payload: bytes, limits: PayloadLimits) -> None:
    """Refuse a payload over ``max_bytes`` (:class:`OversizedMessageError`)."""
    if len(payload) > limits.max_bytes:
        raise OversizedMessageError(
            f"payload of {len(payload)} bytes is over the limit of {limits.max_bytes}")


def check_depth(payload: bytes, limits: PayloadLimits) -> None:
    """Refuse JSON nested deeper than ``max_depth`` (:class:`TooDeepMessageError`), before
    a recursive parser (the standard library's ``json``) sees it.

    Nesting is measured without recursion, in one pass, mostly in C: escapes are dropped,
    everything but brackets and quotes is deleted, what lies between quotes (strings and
    the brackets in them) goes, and the running depth of the brackets left is summed. A
    payload opening no more containers than ``max_depth`` is not scanned at all. Malformed
    JSON within the limit is left to the parser, which says what is wrong.
    """
    if payload.count(b"[") + payload.count(b"{") <= limits.max_depth:
        return  # cannot nest deeper than the number of containers it opens
    text = _ESCAPE.sub(b"", payload) if b"\\" in payload else payload
    brackets = b"".join(text.translate(None, _NOT_STRUCTURE).split(b'"')[::2])
    if max(accumulate(step - 1 for step in brackets.translate(_STEP)),
           default=0) > limits.max_depth:
        raise TooDeepMessageError(f"JSON nested deeper than {limits.max_depth} levels")


def check_payload(payload: bytes, limits: PayloadLimits) -> None:
    """:func:`check_size` and :func:`check_depth`: the bounds a payload must keep before
    it is parsed.

    Raises:
        OversizedMessageError: more than ``max_bytes`` bytes.
        TooDeepMessageError: nested deeper than ``max_depth``.
    """
    check_size(payload, limits)
    check_depth(payload, limits)


def fingerprint(payload: bytes) -> str:
    """A payload's SHA-256 (hex): how a dead letter names what it held, without keeping it."""
    return hashlib.sha256(payload).hexdigest()


def retarget(client: mqtt.Client, host: str, port: int) -> None:
    """Point ``client``'s next (re)connection attempt at ``host``:``port``.

    For ``on_connect_fail``: paho's public ``host``/``port`` setters refuse while its
    reconnect loop runs (the state is "connecting", not "disconnected"), but ``reconnect()``
    reads these two fields for its next attempt.
    """
    client._host, client._port = host, port


def guard(name: str, fn: F, on_error: Callable[[BaseException], None] | None = None) -> F:
    """``fn`` (a paho callback) wrapped so that no exception escapes into paho's thread.

    An error is logged with its traceback and handed to ``on_error`` (a counter); a failing
    ``on_error`` is logged too.
    """
    @functools.wraps(fn)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            log.exception("MQTT callback %s failed", name)
            if on_error is not None:
                try:
                    on_error(exc)
                except Exception:
                    log.exception("error handler of %s failed", name)
            return None
    return guarded  # type: ignore[return-value]
