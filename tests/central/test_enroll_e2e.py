"""Enrolment end to end with the real commands: ``smartlib central enroll-code`` and
``smartlib central serve`` on the centre, ``smartlib enroll`` on a fresh box; the enrolled
box's ``smartlib sync`` then works through a real Mosquitto TLS listener (client
certificates from the site CA) and a ``smartlib gateway run`` to the demo ILS. After
``smartlib central revoke`` the gateway refuses the box's transactions (the revoked list,
re-read on every message) and, once restarted with the new CRL, the broker refuses its TLS
connection. The used code then fails."""

from __future__ import annotations

import re
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sync import pki
from sync.broker import device_acl, gateway_acl
from tests.support.mosquitto import MosquittoBroker, TlsListener
from tests.support.procs import free_port, wait_port
from tests.sync.gateway.harness import (
    ILS_PASSWORD,
    ILS_USER,
    REPO,
    SITE,
    SMARTLIB,
    SyncEnv,
    _ils_template,  # noqa: F401
    applied_keys,
    demo_ils,  # noqa: F401
    items,
    journal,
    wait_until,
    write_toml,
)

DEVICE = "kiosk-05"


def smartlib(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SMARTLIB, *args], capture_output=True, text=True, timeout=120,
                          cwd=str(REPO), check=False)


@pytest.fixture
def world(tmp_path: Path, demo_ils: Any) -> Iterator[dict[str, Any]]:  # noqa: F811
    env = SyncEnv(tmp_path, None, demo_ils)
    ca = pki.init_ca(tmp_path / "ca", SITE)
    srv = pki.issue_server(ca, ["localhost", "127.0.0.1"], tmp_path / "certs")
    acl = device_acl(SITE, DEVICE) + gateway_acl("gateway", [SITE])
    broker = MosquittoBroker(acl=acl, tls=TlsListener(
        ca_file=ca.cert_path, cert_file=Path(srv.cert_path), key_file=Path(srv.key_path),
        crl_file=ca.crl_path)).start()
    port = free_port()
    central_toml = write_toml(tmp_path / "central.toml", {
        "central": {"database": f"sqlite:///{tmp_path / 'central.db'}", "port": port},
        "enroll": {"ca_dir": str(ca.directory), "broker_host": "127.0.0.1",
                   "broker_port": broker.port}})
    try:
        yield {"env": env, "ca": ca, "broker": broker, "central_toml": central_toml,
               "url": f"http://127.0.0.1:{port}", "port": port, "tmp": tmp_path}
    finally:
        env.close()
        broker.stop()


def test_enrol_a_kiosk_then_revoke_it(world: dict[str, Any]) -> None:
    env: SyncEnv = world["env"]
    ca: pki.SiteCa = world["ca"]
    broker: MosquittoBroker = world["broker"]
    tmp: Path = world["tmp"]
    cfg = str(world["central_toml"])

    issued = smartlib("central", "enroll-code", "--config", cfg, "--site", SITE,
                      "--device", DEVICE, "--role", "kiosk", "--minutes", "30")
    assert issued.returncode == 0, issued.stderr
    code = re.search(r"^code: (\S+)$", issued.stdout, re.MULTILINE).group(1)  # type: ignore[union-attr]
    fp = re.search(r"^ca fingerprint \(sha256\): (\S+)$", issued.stdout,  # type: ignore[union-attr]
                   re.MULTILINE).group(1)
    console = env.proc("central", ["central", "serve", "--no-collector", "--config", cfg]).start()
    wait_port("127.0.0.1", world["port"], timeout=30)

    box = tmp / "box"
    done = smartlib("enroll", "--central", world["url"], "--code", code, "--out", str(box),
                    "--ca-fingerprint", fp)
    assert done.returncode == 0, done.stderr + console.output()[-2000:]
    assert f"enrolled {SITE}/{DEVICE} as kiosk" in done.stdout
    assert stat.S_IMODE((box / f"{DEVICE}.key").stat().st_mode) == 0o600
    # the box's local store (not part of what the centre sends)
    store_path = env.store_path(DEVICE)
    with (box / "smartlib.toml").open("a") as fh:
        fh.write(f'\n[store]\npath = "{store_path}"\n')

    gateway_cert = pki.issue_client(ca, "gateway", tmp / "certs")
    gw_toml = write_toml(tmp / "gateway.toml", {
        "site": {"id": SITE}, "device": {"id": "gw-1", "role": "gateway"},
        "broker": {"host": "127.0.0.1", "port": broker.port, "tls": True,
                   "ca_file": str(ca.cert_path), "cert_file": gateway_cert.cert_path,
                   "key_file": gateway_cert.key_path},
        "ils": {"host": "127.0.0.1", "port": env.ils.port, "user": ILS_USER,
                "password": ILS_PASSWORD, "pool_size": 1},
        "gateway": {"ledger": env.ledger_url, "sites": [SITE],
                    "revoked_file": str(ca.directory / "revoked.json")}})
    store = env.open_store(DEVICE)
    first, second = items(2)
    key1 = journal(store, "checkout", first)
    gw = env.proc("gateway", ["gateway", "run", "--config", str(gw_toml)]).start()
    agent = env.proc("agent", ["sync", "--config", str(box / "smartlib.toml")]).start()
    wait_until(lambda: store.outbox.backlog().open == 0, 60,
               what=lambda: "the enrolled kiosk's checkout answered over TLS\n"
               + agent.output()[-1500:] + gw.output()[-1500:])
    assert applied_keys(env.ils) == [key1]

    # the used code fails, clearly
    again = smartlib("enroll", "--central", world["url"], "--code", code, "--out",
                     str(tmp / "box2"))
    assert again.returncode != 0 and "code_used" in again.stderr

    revoked = smartlib("central", "revoke", "--config", cfg, "--site", SITE, "--device", DEVICE)
    assert revoked.returncode == 0, revoked.stderr
    assert "1 certificate(s)" in revoked.stdout and "reload" in revoked.stdout

    # still connected (Mosquitto has not read the CRL yet), but the gateway refuses it
    key2 = journal(store, "checkout", second, offline=False)
    entry = store.outbox.wait_for_result(key2, 30)
    assert entry is not None and entry.state == "refused", agent.output()[-2000:] + gw.output()[-3000:]
    assert f"device {SITE}/{DEVICE} is revoked" in str(entry.result)
    assert applied_keys(env.ils) == [key1]
    assert "revoked_refused" in gw.output() or "is revoked" in gw.output()

    # the broker, restarted, reads the new CRL: the box can no longer connect
    broker.stop()
    broker.start()
    wait_until(lambda: "REVOKED" in agent.output(), 60,
               what=lambda: "the broker refusing the revoked box\n" + agent.output()[-2000:]
               + broker.log_text()[-1500:])
    assert "BrokerTlsError" in agent.output()
