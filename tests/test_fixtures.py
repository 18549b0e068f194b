"""The shared fixtures do what they promise, against the real programs."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import serial

from tests.conftest import register_session_resource
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


def test_pcscd_is_ours_on_a_private_socket(pcscd_vpcd):
    # Clients are pointed at our socket, never at /run/pcscd/pcscd.comm (where a
    # socket-activated system pcscd would answer), and our pcscd really serves it: the
    # socket exists while it runs and is gone once it stops.
    assert os.environ["PCSCLITE_CSOCK_NAME"] == str(pcscd_vpcd.socket)
    assert not str(pcscd_vpcd.socket).startswith("/run/")
    system_socket = Path("/run/pcscd/pcscd.comm")
    before = system_socket.stat().st_ino if system_socket.exists() else None
    assert pcscd_vpcd.socket.is_socket()
    pcscd_vpcd.stop_daemon()
    try:
        assert not pcscd_vpcd.socket.exists()
    finally:
        pcscd_vpcd.start()
        register_session_resource(pid=pcscd_vpcd.proc.pid)
    assert pcscd_vpcd.socket.is_socket()
    after = system_socket.stat().st_ino if system_socket.exists() else None
    assert after == before  # the system's socket path was neither taken nor removed


_STAND_IN_CLIENT = """
import socket, threading
from smartcard.System import readers
reached = []
stand_in = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
stand_in.bind("/run/pcscd/pcscd.comm")
stand_in.listen(8)
def refuse():
    while True:
        conn, _ = stand_in.accept()
        reached.append(1)
        conn.close()
threading.Thread(target=refuse, daemon=True).start()
try:
    names = [str(r) for r in readers()]
except Exception as exc:
    names = [repr(exc)]
print(names, "reached" if reached else "not-reached")
"""


@pytest.mark.pcsc
def test_a_socket_activated_system_pcscd_is_never_reached(pcscd_vpcd, tmp_path):
    # What systemd's pcscd.socket looks like to a client: something listening on
    # /run/pcscd/pcscd.comm that starts the system pcscd on the first connection. A
    # stand-in listens there, in a mount namespace of its own (the machine's /run/pcscd is
    # not touched), and a PC/SC client of the tests (a child process, as the tested
    # programs are) lists our Virtual PCD and never connects to the stand-in.
    from tests.support.pcscd import in_private_run_dir

    run = subprocess.run(in_private_run_dir(tmp_path, [sys.executable, "-c", _STAND_IN_CLIENT]),
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "Virtual PCD" in run.stdout and run.stdout.strip().endswith("not-reached"), run.stdout


def test_private_postgres_without_its_programs_fails_saying_what_to_install(monkeypatch):
    import smartlib_demo.postgres as pg  # tests.support.postgres re-exports it

    monkeypatch.setattr(pg, "pg_bin", lambda name: None)
    with pytest.raises(pg.PostgresUnavailable, match="apt-get install postgresql"):
        pg.PrivatePostgres().start()


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


# The inner session below uses the real autouse ``leak_check`` fixture from tests/conftest.py.
_LEAK_CONFTEST = """
import tests.conftest as shared
from tests.conftest import leak_check  # noqa: F401  (the autouse fixture under test)

shared.LEAK_GRACE_SECONDS = 0.3


def pytest_configure(config):
    config.addinivalue_line("markers", "allow_leaks: exempt from the leak check")
"""

_LEAK_TESTS = """
import pathlib
import subprocess
import threading

import pytest

STOP = threading.Event()


def test_leaves_a_thread():
    threading.Thread(target=STOP.wait, name="leaky-thread", daemon=True).start()


def test_leaves_a_child_process():
    proc = subprocess.Popen(["sleep", "30"])
    pathlib.Path("leaked.pid").write_text(str(proc.pid))


def test_cleans_up():
    stop = threading.Event()
    t = threading.Thread(target=stop.wait, name="tidy-thread")
    t.start()
    proc = subprocess.Popen(["sleep", "30"])
    stop.set()
    t.join()
    proc.kill()
    proc.wait()


@pytest.mark.allow_leaks
def test_allowed_to_leak():
    threading.Thread(target=STOP.wait, name="allowed-thread", daemon=True).start()
"""


def test_leak_check_fails_tests_that_leave_a_thread_or_a_process(pytester, monkeypatch):
    root = Path(__file__).resolve().parents[1]
    monkeypatch.setenv("PYTHONPATH", str(root))
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makeconftest(_LEAK_CONFTEST)
    pytester.makepyfile(test_leaky=_LEAK_TESTS)
    try:
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rE")
    finally:
        pid_file = pytester.path / "leaked.pid"
        if pid_file.exists():
            try:
                os.kill(int(pid_file.read_text()), signal.SIGKILL)
            except ProcessLookupError:
                pass
    # The leak check fails in teardown, so a leaking test is one pass plus one error.
    result.assert_outcomes(passed=4, errors=2)
    result.stdout.fnmatch_lines([
        "*ERROR at teardown of test_leaves_a_thread*",
        "test left running: threads leaky-thread",
        "*ERROR at teardown of test_leaves_a_child_process*",
        "test left running: processes * (sleep 30)",
    ])
    assert "test_cleans_up - " not in result.stdout.str()
    assert "allowed-thread" not in result.stdout.str()
