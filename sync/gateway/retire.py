"""Retire a gateway for good: end its persistent MQTT session at the broker.

A gateway's session (fixed client id, clean start off, a session expiry of days) stays in
the transaction topics' shared subscription after the gateway stops, and Mosquitto keeps
queueing that session's share of the transactions for it: they reach the ILS only when the
agents re-send them, ``resend_s`` later. A gateway taken out of a pool for good (not one
stopped for a restart or an upgrade) has its session ended with :func:`retire_session`:
one connection under its client id with clean start and a session expiry of 0. What was
queued for it is dropped by the broker; the edges still hold every such transaction open in
their journals and send it again, so nothing is lost (the ledger keeps it once).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import paho.mqtt.client as mqtt

from sync import topics
from sync.errors import GatewayError, InvalidMessageError
from sync.messages import DeviceStatus, decode
from sync.mqtt import connect_properties, make_client


def gateway_client_id(gateway_id: str) -> str:
    """The MQTT client id of gateway ``gateway_id`` (its session is kept under it)."""
    return f"smartlib-gateway-{gateway_id}"


def retire_session(settings: Any, *, force: bool = False, timeout_s: float = 10.0) -> None:
    """End the broker session of the gateway that ``settings`` describe.

    Refused while the gateway says it is online (its retained status on any site it
    serves), unless ``force``: taking over a running gateway's client id disconnects it.

    Raises:
        GatewayError: the gateway is online, or the broker could not be reached or
            refused the connection within ``timeout_s``.
    """
    gid = settings.device.id
    sites = list(settings.gateway.sites) or [settings.site.id]
    client = make_client(settings.broker, f"smartlib-gateway-retire-{gid}")
    if not force:
        online = _online_sites(client, settings, gid, sites, timeout_s)
        if online:
            raise GatewayError(f"gateway {gid} says it is online (sites {', '.join(online)}): "
                               "stop it first, or pass --force")
    client = make_client(settings.broker, gateway_client_id(gid))
    connected = threading.Event()
    refused: list[str] = []

    def on_connect(_c: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        if rc.is_failure:
            refused.append(str(rc))
        connected.set()

    client.on_connect = on_connect
    try:
        # Clean start discards the old session; expiry 0 ends this one at the disconnect.
        client.connect(settings.broker.host, settings.broker.port, keepalive=30,
                       clean_start=True, properties=connect_properties(0))
    except OSError as exc:
        raise GatewayError(f"cannot reach the broker {settings.broker.host}:"
                           f"{settings.broker.port}: {exc}") from exc
    client.loop_start()
    try:
        if not connected.wait(timeout_s):
            raise GatewayError(f"the broker did not answer within {timeout_s:.0f} s")
        if refused:
            raise GatewayError(f"the broker refused {gateway_client_id(gid)}: {refused[0]}")
    finally:
        client.disconnect()
        client.loop_stop()


def _online_sites(client: mqtt.Client, settings: Any, gid: str, sites: list[str],
                  timeout_s: float) -> list[str]:
    """The sites whose retained status of ``gid`` says ``online`` (read for about 1 s)."""
    seen: dict[str, str] = {}
    subscribed = threading.Event()
    connected = threading.Event()

    def on_connect(c: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        if not rc.is_failure:
            c.subscribe([(topics.status(s, gid), 1) for s in sites])
        connected.set()

    def on_subscribe(*_a: Any) -> None:
        subscribed.set()

    def on_message(_c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            st = decode(DeviceStatus, msg.payload)
        except InvalidMessageError:
            return  # not a status we can read: it says nothing about this gateway
        seen[st.site] = st.state

    client.on_connect, client.on_subscribe, client.on_message = on_connect, on_subscribe, on_message
    try:
        client.connect(settings.broker.host, settings.broker.port, keepalive=30)
    except OSError as exc:
        raise GatewayError(f"cannot reach the broker {settings.broker.host}:"
                           f"{settings.broker.port}: {exc}") from exc
    client.loop_start()
    try:
        if not connected.wait(timeout_s) or not subscribed.wait(timeout_s):
            raise GatewayError(f"the broker did not answer within {timeout_s:.0f} s")
        time.sleep(1.0)  # retained statuses come right after the SUBACK
    finally:
        client.disconnect()
        client.loop_stop()
    return sorted(s for s, state in seen.items() if state == "online")
