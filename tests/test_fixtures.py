"""The shared fixtures do what they promise, against the real programs."""

from __future__ import annotations

import os
import queue
import threading

import paho.mqtt.client as mqtt
import pytest
import serial

from tests.support.procs import free_port


def _client(broker, user=None, pw=None, cid="t"):
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cid, protocol=mqtt.MQTTv5)
    if user:
        c.username_pw_set(user, pw)
    return c


def test_mosquitto_broker_is_private_and_works(mosquitto_broker):
    assert mosquitto_broker.port != 1883
    got: queue.Queue = queue.Queue()
    sub = _client(mosquitto_broker, cid="sub")
    sub.on_message = lambda c, u, m: got.put((m.topic, m.payload))
    sub.connect(mosquitto_broker.host, mosquitto_broker.port)
    sub.subscribe("smartlib/#", qos=1)
    sub.loop_start()
    pub = _client(mosquitto_broker, cid="pub")
    pub.connect(mosquitto_broker.host, mosquitto_broker.port)
    pub.loop_start()
    try:
        import time

        time.sleep(0.2)
        pub.publish("smartlib/v1/x/y/tx", b"hello", qos=1).wait_for_publish(5)
        assert got.get(timeout=5) == ("smartlib/v1/x/y/tx", b"hello")
    finally:
        for c in (pub, sub):
            c.loop_stop()
            c.disconnect()


def test_mosquitto_password_and_acl(mosquitto_factory):
    broker = mosquitto_factory(
        users={"kiosk-01": "pw1", "watcher": "pw2"},
        acl="user watcher\ntopic read smartlib/#\n\npattern write smartlib/v1/site/%u/#\n",
    )
    bad = _client(broker, "kiosk-01", "wrong", cid="bad")
    rc: queue.Queue = queue.Queue()
    bad.on_connect = lambda c, u, f, reason, p: rc.put(reason)
    bad.connect(broker.host, broker.port)
    bad.loop_start()
    try:
        assert rc.get(timeout=5).is_failure
    finally:
        bad.loop_stop()
        bad.disconnect()

    got: queue.Queue = queue.Queue()
    w = _client(broker, "watcher", "pw2", cid="w")
    w.on_message = lambda c, u, m: got.put(m.topic)
    w.connect(broker.host, broker.port)
    w.subscribe("smartlib/#", qos=1)
    w.loop_start()
    k = _client(broker, "kiosk-01", "pw1", cid="k")
    k.connect(broker.host, broker.port)
    k.loop_start()
    try:
        import time

        time.sleep(0.2)
        k.publish("smartlib/v1/site/kiosk-02/tx", b"spoof", qos=1).wait_for_publish(5)
        k.publish("smartlib/v1/site/kiosk-01/tx", b"own", qos=1).wait_for_publish(5)
        assert got.get(timeout=5) == "smartlib/v1/site/kiosk-01/tx"
        with pytest.raises(queue.Empty):
            got.get(timeout=0.5)
    finally:
        for c in (k, w):
            c.loop_stop()
            c.disconnect()


def test_broker_restart_keeps_port(mosquitto_broker):
    port = mosquitto_broker.port
    mosquitto_broker.stop()
    assert not mosquitto_broker.running
    mosquitto_broker.start()
    assert mosquitto_broker.port == port and mosquitto_broker.running


@pytest.mark.pcsc
def test_pcscd_vpcd_lists_virtual_readers(pcscd_vpcd):
    from smartcard.System import readers

    names = [str(r) for r in readers()]
    assert any(n.startswith("Virtual PCD") for n in names), names
    assert pcscd_vpcd.port > 0


def test_pty_pair_carries_bytes(pty_pair):
    port = serial.serial_for_url(pty_pair.path, baudrate=38400, timeout=1)
    try:
        port.write(b"\x02\x00\x07\xff\x65\x6e\x61")
        assert os.read(pty_pair.device_fd, 7) == b"\x02\x00\x07\xff\x65\x6e\x61"
        os.write(pty_pair.device_fd, b"ok")
        assert port.read(2) == b"ok"
    finally:
        port.close()


def test_free_port_is_free():
    import socket

    p = free_port(2)
    for q in (p, p + 1):
        with socket.socket() as s:
            s.bind(("127.0.0.1", q))


def test_leak_check_sees_a_leaked_thread(pytester_like_thread=None):
    from tests import conftest

    stop = threading.Event()
    t = threading.Thread(target=stop.wait, name="leaky", daemon=True)
    before = set(conftest._threads())
    t.start()
    try:
        assert t.ident in set(conftest._threads()) - before
    finally:
        stop.set()
        t.join()
