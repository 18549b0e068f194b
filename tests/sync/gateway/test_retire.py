"""`smartlib gateway retire`: a gateway taken out of its pool for good ends its MQTT session
(the fleet bench's retired gateways kept getting a share of the transactions, answered only
at the agents' re-send 30 s later)."""

from __future__ import annotations

import threading
from typing import Any

import paho.mqtt.client as mqtt
from click.testing import CliRunner

from sync.cli import gateway
from sync.gateway.retire import gateway_client_id
from sync.mqtt import connect_properties
from tests.sync.gateway.harness import SyncEnv


def _session_present(port: int, client_id: str) -> bool:
    """Connect under ``client_id`` without clean start (keeping the session 60 s after)."""
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    got: list[bool] = []
    done = threading.Event()

    def on_connect(_c: Any, _u: Any, flags: Any, rc: Any, _p: Any) -> None:
        got.append(bool(flags.session_present))
        done.set()

    c.on_connect = on_connect
    c.connect("127.0.0.1", port, clean_start=False, properties=connect_properties(60))
    c.loop_start()
    try:
        assert done.wait(10), "no CONNACK"
    finally:
        c.disconnect()
        c.loop_stop()
    return got[0]


def test_retire_ends_a_stopped_gateways_session(sync_env: SyncEnv) -> None:
    gw = sync_env.start_gateway("gw-old")
    gw.stop()
    cid = gateway_client_id("gw-old")
    assert _session_present(sync_env.broker.port, cid)        # kept for its restart
    res = CliRunner().invoke(gateway, ["retire", "--config",
                                       str(sync_env.gateway_config("gw-old"))])
    assert res.exit_code == 0, res.output
    assert "session of smartlib-gateway-gw-old ended" in res.output
    assert not _session_present(sync_env.broker.port, cid)


def test_retire_refuses_a_gateway_that_says_it_is_online(sync_env: SyncEnv) -> None:
    gw = sync_env.start_gateway("gw-live")
    res = CliRunner().invoke(gateway, ["retire", "--config",
                                       str(sync_env.gateway_config("gw-live"))])
    assert res.exit_code == 1
    assert "gateway gw-live says it is online" in res.output and "--force" in res.output
    assert gw.connected.is_set()                              # left alone


def test_retire_names_an_unreachable_broker(sync_env: SyncEnv) -> None:
    cfg = sync_env.gateway_config("gw-x")
    sync_env.broker.stop()
    res = CliRunner().invoke(gateway, ["retire", "--config", str(cfg)])
    assert res.exit_code == 1
    assert "cannot reach the broker 127.0.0.1:" in res.output
