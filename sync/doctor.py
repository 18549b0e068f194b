"""The broker, gateway and ILS-through-the-gateway checks of ``smartlib doctor``.

``edge.doctor`` may not import ``sync``: it finds these checks through the
``smartlib.doctor_checks`` entry point group (pyproject.toml) and calls :func:`run_checks`,
which returns plain dicts with the fields of ``edge.doctor.Check`` (``name``, ``level``,
``finding``, ``advice``, ``seconds``, ``details``).

One probe serves the three checks: connect with the device's credentials, publish an
``ils_status`` look-up (:class:`~sync.messages.LookupRequest`) on the device's own
look-up topic at QoS 1 (the PUBACK's reason code says whether the ACL allows it), and wait
for the gateway's :class:`~sync.messages.LookupResponse` on the reply topic. It changes
nothing anywhere. This module must not import ``edge``.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sync import topics
from sync.errors import MessageError
from sync.messages import LookupRequest, LookupResponse, decode, encode
from sync.mqtt import ReceivedMessage, correlation_id, make_client, publish_properties

CheckDict = dict[str, Any]


def _check(name: str, level: str, finding: str, advice: str = "", seconds: float = 0.0,
           details: dict[str, Any] | None = None) -> CheckDict:
    return {"name": name, "level": level, "finding": finding, "advice": advice,
            "seconds": seconds, "details": details}


@dataclass
class MqttProbe:
    """What the probe saw."""

    settings: Any
    connect_rc: int | None = None
    publish_rc: int | None = None
    reply: LookupResponse | None = None
    reply_seconds: float | None = None
    error: str | None = None


def probe_mqtt(settings: Any, timeout: float = 5.0, lookup: bool = True) -> MqttProbe:
    """Connect, publish to the device's own topic, and (optionally) ask the gateway."""
    probe = MqttProbe(settings)
    site, device = settings.site.id, settings.device.id
    reply_topic = topics.lookup_reply(site, device)
    connected, published, answered = threading.Event(), threading.Event(), threading.Event()
    subscribed = threading.Event()
    request_id = str(uuid.uuid4())
    sent_at = [0.0]
    client = make_client(settings.broker, f"smartlib-doctor-{device}-{os.getpid()}")

    def on_connect(_c: Any, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        probe.connect_rc = int(getattr(rc, "value", rc))
        connected.set()

    def on_publish(_c: Any, _u: Any, _mid: int, rc: Any, _p: Any) -> None:
        probe.publish_rc = int(getattr(rc, "value", rc))
        published.set()

    def on_message(_c: Any, _u: Any, paho_msg: Any) -> None:
        msg = ReceivedMessage.from_paho(paho_msg)
        try:
            reply = decode(LookupResponse, msg.payload)
            if correlation_id(msg, reply.request_id) != request_id:
                return
        except MessageError:
            return  # not our answer
        probe.reply = reply
        probe.reply_seconds = round(time.monotonic() - sent_at[0], 3)
        answered.set()

    client.on_connect = on_connect
    client.on_publish = on_publish
    client.on_message = on_message
    client.on_subscribe = lambda *a: subscribed.set()
    try:
        client.connect(settings.broker.host, settings.broker.port, keepalive=30)
    except OSError as exc:
        probe.error = f"cannot connect to {settings.broker.host}:{settings.broker.port}: {exc}"
        return probe
    client.loop_start()
    try:
        if not connected.wait(timeout):
            probe.error = "no CONNACK"
            return probe
        if probe.connect_rc:
            return probe
        # The probe is an ILS status look-up on the device's own topic: its PUBACK is the
        # broker check, the answer's arrival the gateway check, its content the ILS check
        # (the gateway logs in to the ILS and asks SC Status). It changes nothing anywhere.
        asking = lookup and settings.device.role != "gateway"
        if asking:
            client.subscribe(reply_topic, qos=1)
            subscribed.wait(timeout)
        req = LookupRequest(request_id=request_id, kind="ils_status", site=site, device=device)
        sent_at[0] = time.monotonic()
        client.publish(topics.lookup(site, device), encode(req), qos=1,
                       properties=publish_properties(response_topic=reply_topic,
                                                     correlation=request_id.encode()))
        published.wait(timeout)
        if asking:
            answered.wait(timeout)
        return probe
    finally:
        client.disconnect()
        client.loop_stop()


def check_broker(probe: MqttProbe) -> CheckDict:
    """Logged in, and a publish to the device's own topic acknowledged."""
    s = probe.settings
    where = f"{s.broker.host}:{s.broker.port}"
    if probe.error:
        return _check("broker", "FAIL", f"{where}: {probe.error}",
                      "Is the broker running and reachable? Check [broker] host and port, the "
                      "firewall, and (with tls = true) ca_file.")
    if probe.connect_rc:
        return _check("broker", "FAIL", f"{where} refused the login (reason code "
                      f"{probe.connect_rc})",
                      "Check [broker] username and password against the broker's password "
                      "file (smartlib broker config writes credentials.toml).")
    if probe.publish_rc is None:
        return _check("broker", "FAIL", f"{where}: no PUBACK for a QoS 1 publish",
                      "The broker accepted the login but not the message: check its log.")
    if probe.publish_rc >= 0x80:
        return _check("broker", "FAIL", f"{where}: publish to its own topic refused "
                      f"(reason code 0x{probe.publish_rc:02X})",
                      "The ACL does not allow this device its own topics: regenerate it with "
                      "`smartlib broker config --devices …` including this device id.")
    return _check("broker", "OK", f"{where}: logged in as {s.broker.username or '(anonymous)'}; "
                  "publish to its own topic acknowledged")


def check_gateway(probe: MqttProbe) -> CheckDict:
    """The gateway answered the look-up, and how fast."""
    s = probe.settings
    if s.device.role == "gateway":
        return _check("gateway", "SKIP", "this box is the gateway")
    if probe.error or probe.connect_rc:
        return _check("gateway", "FAIL", "cannot ask the gateway: the broker is not usable",
                      "Fix the broker check first.")
    if probe.reply is None:
        return _check("gateway", "FAIL", "no answer to a look-up within 5 s",
                      "Is `smartlib gateway run` running and connected to this broker, serving "
                      f"site {s.site.id!r}? Check its log.")
    secs = probe.reply_seconds or 0.0
    level = "OK" if secs < 1.0 else "WARN"
    return _check("gateway", level, f"answered a look-up in {secs * 1000:.0f} ms",
                  "" if level == "OK" else "The gateway answers slowly: check its load and the "
                  "ILS's response time.", secs)


def check_ils_via_gateway(probe: MqttProbe) -> CheckDict:
    """What the gateway's answer says of the ILS (SIP2 login and SC status)."""
    reply = probe.reply
    if reply is None:
        return _check("ils", "SKIP", "no answer from the gateway, so the ILS was not asked")
    if reply.ok is not True:
        err = reply.error or "no reason given"
        return _check("ils", "FAIL", f"the gateway cannot use the ILS: {err}",
                      "Check the ILS (SIP2 server) and the gateway's [ils] section; on the "
                      "gateway run `smartlib doctor --config gateway.toml`.")
    secs = reply.ils_seconds
    where = f"SIP2 login and SC status through the gateway ({reply.institution or '?'}"
    where += f", {float(secs) * 1000:.0f} ms)" if secs is not None else ")"
    if reply.online_status is False:
        return _check("ils", "WARN", f"{where}: the ILS says it is offline",
                      "Ask the ILS administrator; transactions queue meanwhile.")
    return _check("ils", "OK", f"{where}: OK, the ILS is online")


def check_pin_key(settings: Any) -> CheckDict:
    """The PIN-sealing key: a box that logs patrons in has the gateways' public key; a
    gateway has a private key file (mode 0600) that matches ``public_key`` when both are
    set. Without them, every PIN login is refused (``pin_check_unavailable``)."""
    from smartlib.errors import SealError
    from smartlib.sealing import load_private_key, public_text

    gw, role = settings.gateway, settings.device.role
    keygen = ("Make the site's key pair once with `smartlib gateway keygen --out FILE` "
              "(docs/deploy.md): FILE goes to every gateway's [gateway] private_key_file, "
              "the printed public key to every box's [gateway] public_key.")
    if role == "gate":
        return _check("pin_key", "SKIP", "a gate logs no patron in")
    if role != "gateway":
        if not gw.public_key:
            return _check("pin_key", "FAIL", "no [gateway] public_key: PIN logins are refused "
                          "(PINs are only sent sealed to the gateway's key)", keygen)
        return _check("pin_key", "OK", f"PINs are sealed to the gateway key {gw.public_key[:8]}…")
    if not gw.private_key_file:
        return _check("pin_key", "FAIL", "no [gateway] private_key_file: this gateway cannot "
                      "open sealed PINs, so it refuses every PIN login", keygen)
    try:
        key = load_private_key(gw.private_key_file)
    except SealError as exc:
        return _check("pin_key", "FAIL", str(exc), keygen)
    public = public_text(key)
    if gw.public_key and gw.public_key != public:
        return _check("pin_key", "FAIL", f"{gw.private_key_file} is not the private half of "
                      f"[gateway] public_key (its public key is {public[:8]}…)",
                      "Give every gateway the same key file, every box its public key.")
    return _check("pin_key", "OK", f"{gw.private_key_file} opens PINs sealed to {public[:8]}…")


def run_checks(settings: Any, want: Callable[[str], bool]) -> list[CheckDict]:
    """The ``pin_key``, ``broker``, ``gateway`` and (on a box that is not the gateway)
    ``ils`` checks that ``want`` asks for, in that order."""
    out = [check_pin_key(settings)] if want("pin_key") else []
    asks_ils = want("ils") and settings.device.role != "gateway"
    if not (want("broker") or want("gateway") or asks_ils):
        return out
    probe = probe_mqtt(settings, lookup=want("gateway") or want("ils"))
    if want("broker"):
        out.append(check_broker(probe))
    if want("gateway"):
        out.append(check_gateway(probe))
    if asks_ils:
        out.append(check_ils_via_gateway(probe))
    return out
