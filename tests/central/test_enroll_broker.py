"""Enrolment and revocation change a real, running Mosquitto: the console adds the enrolled
box's ACL block to the broker's ACL file and sends SIGHUP (``[enroll] broker_pid_file``);
the box's certificate then works on its own topics and not on another device's. Revoking
it takes its ACL block and password line out, rewrites the CRL and reloads the broker: its
connection is dropped, it cannot connect again, and its old password no longer logs in.
The files keep their modes and owners (the broker, dropped to its own user, must still
read them)."""

from __future__ import annotations

import queue
import ssl
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient

from central.config import CentralSection, EnrollSection
from central.enroll import EnrolmentService
from central.store import CentralStore
from central.web.app import create_app
from sync import pki, topics
from sync.broker import device_acl, gateway_acl
from sync.broker_accounts import add_device, remove_device, without_acl_block
from sync.enroll_client import enrol
from tests.central.conftest import Clock, make_auth
from tests.central.test_web import PASSWORD, csrf, login
from tests.support.mosquitto import MosquittoBroker, TlsListener
from tests.support.procs import free_port

SITE = "hn-01"
NEW, OTHER = "kiosk-07", "kiosk-06"
GATEWAY_PW, OTHER_PW, OLD_PW = "gw-secret-1", "other-secret-1", "old-secret-1"
TIMEOUT = 20.0


class Mqtt:
    """A paho client whose connects, disconnects, messages and acknowledgements are queued."""

    def __init__(self, name: str) -> None:
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=name,
                                  protocol=mqtt.MQTTv5)
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.client.on_connect = lambda c, u, f, rc, p: self.events.put(("connect", rc))
        self.client.on_disconnect = lambda c, u, f, rc, p: self.events.put(("disconnect", rc))
        self.client.on_message = lambda c, u, m: self.events.put(("message", m.topic))
        self.client.on_publish = lambda c, u, mid, rc, p: self.events.put(("puback", (mid, rc)))

    def next(self, *kinds: str) -> tuple[str, Any]:
        while True:
            kind, value = self.events.get(timeout=TIMEOUT)
            if kind in kinds:
                return kind, value

    def start(self, port: int) -> Any:
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        return self.next("connect", "disconnect")

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[dict[str, Any]]:
    plain = free_port()
    # As `smartlib broker config --tls --local-port` writes it: TLS with client certificates
    # for the boxes, a password listener on loopback; OTHER and the enrolled box's earlier
    # password (OLD_PW) are in the password file, only OTHER and the gateway in the ACL.
    broker = MosquittoBroker(
        users={"gateway": GATEWAY_PW, OTHER: OTHER_PW, NEW: OLD_PW},
        acl=device_acl(SITE, OTHER) + "\n" + gateway_acl("gateway", [SITE]),
        extra_config=f"listener {plain} 127.0.0.1\n")
    # the CA inside the broker's directory, which Mosquitto (dropped to its user) can read
    ca = pki.init_ca(broker.workdir / "ca", SITE)
    srv = pki.issue_server(ca, ["localhost", "127.0.0.1"], tmp_path / "certs")
    broker.tls = TlsListener(ca_file=ca.cert_path, cert_file=Path(srv.cert_path),
                             key_file=Path(srv.key_path), crl_file=ca.crl_path)
    broker.start()
    assert broker.proc is not None
    # the broker reads the CA's own CRL, as `smartlib broker config --tls` sets it up
    copied = broker.workdir / "tls-crl.pem"
    copied.unlink()
    copied.symlink_to(ca.crl_path)
    pid_file = tmp_path / "mosquitto.pid"
    pid_file.write_text(f"{broker.proc.pid}\n")
    try:
        yield {"ca": ca, "broker": broker, "plain": plain, "pid_file": pid_file,
               "tmp": tmp_path}
    finally:
        broker.stop()


@pytest.fixture
def console(site: dict[str, Any], sqlite_store: CentralStore,
            clock: Clock) -> Iterator[tuple[TestClient, EnrolmentService]]:
    broker: MosquittoBroker = site["broker"]
    service = EnrolmentService(sqlite_store, EnrollSection(
        ca_dir=site["ca"].directory, broker_host="127.0.0.1", broker_port=broker.port,
        broker_acl_file=broker.workdir / "acl", broker_password_file=broker.workdir / "passwd",
        broker_pid_file=site["pid_file"]), clock=clock)
    auth = make_auth(sqlite_store, clock)
    auth.create_account("boss", PASSWORD, role="admin")
    app = create_app(sqlite_store, auth, CentralSection(), poll_s=0.05)
    app.state.enrolment = service
    with TestClient(app, base_url="http://testserver") as client:
        yield client, service


_MADE: list[Mqtt] = []


@pytest.fixture(autouse=True)
def _stop_clients() -> Iterator[None]:
    yield
    while _MADE:
        _MADE.pop().stop()


def _box_client(site: dict[str, Any], box: Path, name: str) -> Mqtt:
    c = Mqtt(name)
    _MADE.append(c)
    c.client.tls_set(ca_certs=str(box / "ca.crt"), certfile=str(box / f"{NEW}.crt"),
                     keyfile=str(box / f"{NEW}.key"), cert_reqs=ssl.CERT_REQUIRED)
    return c


def _password_client(user: str, password: str) -> Mqtt:
    c = Mqtt(f"{user}-pw")
    _MADE.append(c)
    c.client.username_pw_set(user, password)
    return c


def test_enrolment_adds_the_box_to_the_broker_and_revocation_locks_it_out(
        site: dict[str, Any], console: tuple[TestClient, EnrolmentService]) -> None:
    client, service = console
    broker: MosquittoBroker = site["broker"]
    acl, passwd = broker.workdir / "acl", broker.workdir / "passwd"
    before = {p: p.stat() for p in (acl, passwd)}

    login(client, "boss")
    code = client.post("/api/enrol/codes", json={"site": SITE, "device": NEW, "role": "kiosk"},
                       headers={"X-CSRF-Token": csrf(client)}).json()
    box = site["tmp"] / "box"
    enrol("http://testserver", code["code"], box, ca_fingerprint=code["ca_fingerprint"],
          http=client)
    assert f"user {NEW}\n" in acl.read_text()
    assert service.broker_note is not None and "SIGHUP" in service.broker_note
    for path, st in before.items():
        now = path.stat()
        assert (stat.S_IMODE(now.st_mode), now.st_uid, now.st_gid) == \
            (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid), path

    watcher = _password_client("gateway", GATEWAY_PW)
    assert watcher.start(site["plain"]) == ("connect", 0)
    watcher.client.subscribe(f"{topics.ROOT}/{SITE}/+/stats/live", qos=1)
    box_mqtt = _box_client(site, box, "box")
    kind, rc = box_mqtt.start(broker.port)
    assert (kind, rc) == ("connect", 0), broker.log_text()[-1500:]
    # another device's topic first: the broker drops it; then its own, which arrives
    box_mqtt.client.publish(topics.stats_live(SITE, OTHER), b"{}", qos=1)
    box_mqtt.client.publish(topics.stats_live(SITE, NEW), b"{}", qos=1)
    assert watcher.next("message") == ("message", topics.stats_live(SITE, NEW))

    revoked = client.post("/api/enrol/revoke", json={"site": SITE, "device": NEW},
                          headers={"X-CSRF-Token": csrf(client)})
    assert revoked.status_code == 200, revoked.text
    assert "SIGHUP" in revoked.json()["broker"]
    assert f"user {NEW}\n" not in acl.read_text()
    assert not any(line.startswith(f"{NEW}:") for line in passwd.read_text().splitlines())
    assert f"user {OTHER}\n" in acl.read_text()
    # the reloaded broker (SIGHUP is handled in its next loop turn) refuses everything the
    # box's open connection publishes ...
    deadline = time.monotonic() + TIMEOUT
    while True:
        sent = box_mqtt.client.publish(topics.stats_live(SITE, NEW), b"{}", qos=1)
        kind, value = box_mqtt.next("puback", "disconnect")
        while kind == "puback" and value[0] != sent.mid:
            kind, value = box_mqtt.next("puback", "disconnect")
        if kind == "disconnect" or value[1] == 135:  # 0x87 not authorised
            break
        assert time.monotonic() < deadline, "the broker never reloaded its ACL"
        time.sleep(0.05)
    box_mqtt.stop()
    # ... while the other device, untouched, still publishes (and is what the watcher gets)
    other = _password_client(OTHER, OTHER_PW)
    assert other.start(site["plain"]) == ("connect", 0)
    other.client.publish(topics.stats_live(SITE, OTHER), b"{}", qos=1)
    # (what the box published before the reload came first)
    while (got := watcher.next("message")) != ("message", topics.stats_live(SITE, OTHER)):
        assert got == ("message", topics.stats_live(SITE, NEW))
    other.stop()
    watcher.stop()
    # ... and refuses a new connection with the revoked certificate (the reloaded CRL)
    again = _box_client(site, box, "box-again")
    try:
        again.client.connect("127.0.0.1", broker.port)
        again.client.loop_start()
        kind, rc = again.next("connect", "disconnect")
        assert kind == "disconnect" or rc != 0
    except (ssl.SSLError, OSError):
        pass
    finally:
        again.stop()
    assert "certificate verify failed" in broker.log_text(), broker.log_text()[-1500:]
    # its old password (from an earlier `smartlib broker config`) no longer logs in
    old = _password_client(NEW, OLD_PW)
    try:
        kind, rc = old.start(site["plain"])
        assert kind == "disconnect" or rc != 0, (kind, rc)
    finally:
        old.stop()


def test_acl_blocks_are_replaced_and_removed_whole(tmp_path: Path) -> None:
    acl = tmp_path / "acl"
    acl.write_text("# header\n" + device_acl(SITE, OTHER) + "\n" + gateway_acl("gateway"))
    acl.chmod(0o640)
    add_device(acl, SITE, NEW, "kiosk")
    add_device(acl, SITE, NEW, "gate")  # enrolled again as a gate: one block, the gate's
    text = acl.read_text()
    assert text.count(f"user {NEW}\n") == 1
    assert f"topic read {topics.cache_filter(SITE, 'gate')}" in text
    assert stat.S_IMODE(acl.stat().st_mode) == 0o640
    assert remove_device(acl, NEW) is True
    assert acl.read_text().rstrip("\n") == text[:text.index(f"user {NEW}")].rstrip("\n")
    assert remove_device(acl, NEW) is False
    assert without_acl_block("user a\ntopic x\nuser ab\ntopic y\n", "a") == "user ab\ntopic y\n"


def test_a_broker_that_cannot_be_updated_refuses_the_enrolment_and_keeps_the_code(
        tmp_path: Path, sqlite_store: CentralStore, clock: Clock) -> None:
    ca = pki.init_ca(tmp_path / "ca", SITE)
    acl = tmp_path / "acl"
    acl.write_text(gateway_acl("gateway"))
    service = EnrolmentService(sqlite_store, EnrollSection(
        ca_dir=ca.directory, broker_acl_file=acl,
        broker_pid_file=tmp_path / "no-such.pid"), clock=clock)
    auth = make_auth(sqlite_store, clock)
    auth.create_account("boss", PASSWORD, role="admin")
    app = create_app(sqlite_store, auth, CentralSection(), poll_s=0.05)
    app.state.enrolment = service
    from sync.errors import EnrolRefusedError

    with TestClient(app, base_url="http://testserver") as client:
        login(client, "boss")
        code = client.post("/api/enrol/codes", json={"site": SITE, "device": NEW,
                                                     "role": "kiosk"},
                           headers={"X-CSRF-Token": csrf(client)}).json()["code"]
        with pytest.raises(EnrolRefusedError, match="broker_unavailable"):
            enrol("http://testserver", code, tmp_path / "box", http=client)
        assert ("broker_update_failed", f"{SITE}/{NEW}") in [
            (a.action, a.target) for a in sqlite_store.audit.list()]
        # fixed (a reload command that works): the same code enrols
        service.section = service.section.model_copy(update={
            "broker_pid_file": None, "broker_reload_command": "true"})
        done = enrol("http://testserver", code, tmp_path / "box", http=client)
    assert done.device == NEW and service.broker_note == "ran 'true'"
