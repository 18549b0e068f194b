"""Broker set-up: the password hash Mosquitto accepts, per-device ACLs, TLS, the CLI."""

from __future__ import annotations

import base64
import shutil
import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from sync.broker import BrokerPlan, hash_password, verify_password, write_broker_config
from sync.errors import BrokerConfigError
from tests.support.procs import free_port, require_binary, start, stop_process, wait_port
from tests.sync.gateway.harness import chown_tree_to_mosquitto, mqtt_client

# Written by `mosquitto_passwd -b pwfile alice secret` (Mosquitto 2.0.11, Debian 12).
MOSQUITTO_PASSWD_LINE = ("alice:$7$101$6PRQ6vfOCKVOe1H6$7r2B90/kwEwDeUyTe7jK3Ay67cdUgtBVnM83u"
                         "jqZP0a1jzpF7l8NXOH8DmWP2LhfOplYpk2bU1gv0WFuf3HKFg==")


def test_hash_matches_mosquitto_passwd_vector() -> None:
    hashed = MOSQUITTO_PASSWD_LINE.split(":", 1)[1]
    assert verify_password(hashed, "secret")
    assert not verify_password(hashed, "Secret")
    salt = base64.b64decode("6PRQ6vfOCKVOe1H6")
    assert hash_password("secret", salt=salt) == hashed


def test_bad_plans_are_refused(tmp_path: Path) -> None:
    with pytest.raises(BrokerConfigError, match="device id"):
        write_broker_config(BrokerPlan(site="s1", devices=["Kiosk 1"]), tmp_path)
    with pytest.raises(BrokerConfigError, match="reserved"):
        write_broker_config(BrokerPlan(site="s1", devices=["cache"]), tmp_path)
    with pytest.raises(BrokerConfigError, match="distinct"):
        write_broker_config(BrokerPlan(site="s1", devices=["gateway"]), tmp_path)


@pytest.fixture
def generated_broker(request: pytest.FixtureRequest) -> Iterator[tuple]:
    # Not under tmp_path: Mosquitto drops to its own user, which cannot enter pytest's dirs.
    tls = getattr(request, "param", False)
    tmp_path = Path(tempfile.mkdtemp(prefix="smartlib-broker-"))
    port, local = free_port(), free_port()
    plan = BrokerPlan(site="s1", devices=["kiosk-01", "gate-01"], staff_user="staff",
                      port=port, bind="127.0.0.1", tls=tls, local_port=local if tls else None)
    files = write_broker_config(plan, tmp_path / "broker")
    chown_tree_to_mosquitto(tmp_path)
    proc = start([require_binary("mosquitto", "mosquitto"), "-c", str(files.config)])
    try:
        wait_port("127.0.0.1", port, proc=proc)
        yield port, files, local
    finally:
        stop_process(proc)
        if proc.stdout:
            proc.stdout.close()
        shutil.rmtree(tmp_path, ignore_errors=True)


def test_generated_config_authenticates_and_confines_devices(generated_broker: tuple) -> None:
    port, files, _ = generated_broker
    creds = files.credentials
    with mqtt_client(port, user="kiosk-01", password="wrong") as bad:
        assert bad.connect_rc.is_failure
    with mqtt_client(port, user="gateway", password=creds["gateway"]) as gw, \
         mqtt_client(port, user="kiosk-01", password=creds["kiosk-01"]) as kiosk:
        assert not gw.connect_rc.is_failure and not kiosk.connect_rc.is_failure
        gw.subscribe("$share/gateways/smartlib/v1/+/+/tx")
        # Its own topic goes through.
        assert kiosk.publish("smartlib/v1/s1/kiosk-01/tx", b"own") == 0
        assert gw.get().payload == b"own"
        # Another device's topic is refused (MQTT 5 PUBACK 0x87) and never delivered.
        assert kiosk.publish("smartlib/v1/s1/gate-01/tx", b"forged") == 0x87
        assert kiosk.publish("smartlib/v1/s2/kiosk-01/tx", b"other site") == 0x87
        assert kiosk.publish("smartlib/v1/s1/kiosk-01/tx", b"marker") == 0
        assert gw.get().payload == b"marker"


def test_devices_read_the_site_view_but_write_only_their_own(generated_broker: tuple) -> None:
    """Each device reads every device's status, statistics and staff alarms of its site,
    and still publishes only on its own topics."""
    port, files, _ = generated_broker
    creds = files.credentials
    with mqtt_client(port, user="kiosk-01", password=creds["kiosk-01"]) as kiosk, \
         mqtt_client(port, user="gate-01", password=creds["gate-01"]) as gate:
        for f in ("smartlib/v1/s1/+/status", "smartlib/v1/s1/+/stats",
                  "smartlib/v1/s1/+/stats/live", "smartlib/v1/s1/staff/alarm/+"):
            kiosk.subscribe(f)
        for topic in ("smartlib/v1/s1/gate-01/status", "smartlib/v1/s1/gate-01/stats",
                      "smartlib/v1/s1/gate-01/stats/live", "smartlib/v1/s1/staff/alarm/gate-01"):
            assert gate.publish(topic, b"from the gate") == 0, topic
            msg = kiosk.get()
            assert (msg.topic, msg.payload) == (topic, b"from the gate")
        # Forging the gate's status, counters or alarms is refused (PUBACK 0x87).
        for topic in ("smartlib/v1/s1/gate-01/status", "smartlib/v1/s1/gate-01/stats",
                      "smartlib/v1/s1/gate-01/stats/live", "smartlib/v1/s1/staff/alarm/gate-01",
                      "smartlib/v1/s1/staff/conflict"):
            assert kiosk.publish(topic, b"forged") == 0x87, topic
        assert kiosk.publish("smartlib/v1/s1/staff/alarm/kiosk-01", b"own") == 0
        assert kiosk.get().payload == b"own"
        gate.publish("smartlib/v1/s1/gate-01/status", b"", retain=True)
        # Nothing forged was delivered (the marker is the next message).
        assert gate.publish("smartlib/v1/s1/gate-01/stats", b"marker") == 0
        assert [kiosk.get().payload for _ in range(2)] == [b"", b"marker"]


@pytest.mark.parametrize("generated_broker", [True], indirect=True)
def test_tls_listener_with_generated_certificates(generated_broker: tuple) -> None:
    port, files, local = generated_broker
    assert files.ca_cert is not None and files.crl is not None
    conf = files.config.read_text()
    assert "require_certificate true\nuse_identity_as_username true\n" in conf
    assert f"crlfile {files.crl}" in conf
    # The certificate's common name is the user name: the ACL of gate-01 applies to it.
    with mqtt_client(port, ca=files.ca_cert, host="localhost",
                     cert=files.client_certs["gate-01"]) as c:
        assert not c.connect_rc.is_failure
        c.subscribe("smartlib/v1/s1/gate-01/status")
        assert c.publish("smartlib/v1/s1/gate-01/status", b"online", retain=True) == 0
        assert c.get().payload == b"online"
        assert c.publish("smartlib/v1/s1/kiosk-01/status", b"forged") == 0x87
    # The plain loopback listener: password log-in for the services on the broker's host.
    with mqtt_client(local, user="gateway", password=files.credentials["gateway"]) as g:
        assert not g.connect_rc.is_failure


def test_cli_writes_the_files(tmp_path: Path) -> None:
    from sync.cli import broker

    out = tmp_path / "b"
    res = CliRunner().invoke(broker, ["config", "--site", "s1", "--devices", "kiosk-01,gate-01",
                                      "--tls", "--out", str(out)])
    assert res.exit_code == 0, res.output
    for name in ("mosquitto.conf", "passwd", "acl", "credentials.toml", "certs/ca.crt",
                 "ca/ca.key", "ca/crl.pem", "certs/clients/kiosk-01.crt", "certs/clients/gateway.key"):
        assert (out / name).exists(), name
    creds = tomllib.loads((out / "credentials.toml").read_text())
    assert set(creds) == {"kiosk-01", "gate-01", "gateway"}
    acl = (out / "acl").read_text()
    assert "user kiosk-01\ntopic write smartlib/v1/s1/kiosk-01/tx" in acl
    assert "topic read smartlib/v1/s1/+/status\ntopic read smartlib/v1/s1/+/stats\n" in acl
    assert (out / "passwd").stat().st_mode & 0o077 == 0


def test_broker_and_clients_send_each_packet_at_once(generated_broker: tuple) -> None:
    # Nagle's algorithm held a result forwarded just after a PUBACK until the peer's delayed
    # ACK: 40 ms on every transaction (bench/fleet.py: p50 48 ms -> 7 ms without it).
    import socket

    from smartlib.config import load_settings
    from sync.mqtt import make_client

    port, files, _ = generated_broker
    assert "set_tcp_nodelay true" in files.config.read_text().splitlines()
    settings = load_settings(None, broker={"host": "127.0.0.1", "port": port,
                                           "username": "kiosk-01",
                                           "password": files.credentials["kiosk-01"]})
    client = make_client(settings.broker, "nodelay-probe")
    client.connect("127.0.0.1", port)
    try:
        sock = client.socket()
        assert sock is not None
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        client.disconnect()
