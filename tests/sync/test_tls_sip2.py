"""SIP2 over TLS through ``smartlib gateway run``: ``[ils] tls``, ``ca_file``, ``cert_file``
and ``key_file`` against the demo ILS's TLS mode (its certificate and the gateway's client
certificate from one site CA, the ILS requiring a client certificate). A checkout made on
the kiosk reaches the ILS; a wrong CA is refused, naming the CA file."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hardware_sim.ils.server import DemoIlsServer, server_tls_context
from sync import pki
from tests.sync.gateway.harness import (
    ILS_PASSWORD,
    ILS_USER,
    SITE,
    SyncEnv,
    applied_keys,
    items,
    journal,
    wait_until,
    write_toml,
)


@pytest.fixture
def tls_ils(_ils_template: Path, tmp_path: Path) -> Iterator[tuple[DemoIlsServer, pki.SiteCa]]:
    ca = pki.init_ca(tmp_path / "ca", SITE)
    srv = pki.issue_server(ca, ["127.0.0.1"], tmp_path / "ils-certs")
    db = tmp_path / "ils.db"
    shutil.copy(_ils_template, db)
    server = DemoIlsServer(db, tls=server_tls_context(srv.cert_path, srv.key_path,
                                                      client_ca=ca.cert_path))
    server.start()
    try:
        yield server, ca
    finally:
        server.stop()


@pytest.fixture
def env(tmp_path: Path, mosquitto_broker: Any,
        tls_ils: tuple[DemoIlsServer, pki.SiteCa]) -> Iterator[SyncEnv]:
    e = SyncEnv(tmp_path, mosquitto_broker, tls_ils[0])
    try:
        yield e
    finally:
        e.close()


def _gateway_config(env: SyncEnv, ca_file: Path, cert: pki.IssuedCert | None) -> Path:
    ils: dict[str, Any] = {"host": "127.0.0.1", "port": env.ils.port, "user": ILS_USER,
                           "password": ILS_PASSWORD, "pool_size": 1, "tls": True,
                           "ca_file": str(ca_file)}
    if cert is not None:
        ils.update(cert_file=cert.cert_path, key_file=cert.key_path)
    return write_toml(env.tmp / "gateway.toml", {
        "site": {"id": SITE}, "device": {"id": "gw-1", "role": "gateway"},
        "broker": env.broker_section(), "ils": ils,
        "gateway": {"ledger": env.ledger_url, "sites": [SITE]}})


def test_checkout_through_the_gateway_over_sip2_tls(env: SyncEnv, tls_ils: Any) -> None:
    ca = tls_ils[1]
    cert = pki.issue_client(ca, "gateway", env.tmp / "gw-certs")
    store = env.open_store()
    key = journal(store, "checkout", items(1)[0])
    gw = env.proc("gateway", ["gateway", "run", "--config",
                              str(_gateway_config(env, ca.cert_path, cert))]).start()
    env.proc("agent", ["sync", "--config", str(env.agent_config())]).start()
    wait_until(lambda: applied_keys(env.ils) == [key], 60,
               what=lambda: "the checkout applied over SIP2/TLS\n" + gw.output()[-2000:])
    assert env.ils.counters["tls_failures"] == 0


def test_a_wrong_ca_for_the_ils_is_refused_naming_the_ca_file(env: SyncEnv, tls_ils: Any) -> None:
    other = pki.init_ca(env.tmp / "other-ca", "elsewhere")
    cert = pki.issue_client(tls_ils[1], "gateway", env.tmp / "gw-certs")
    store = env.open_store()
    journal(store, "checkout", items(1)[0])
    gw = env.proc("gateway", ["gateway", "run", "--config",
                              str(_gateway_config(env, other.cert_path, cert))]).start()
    env.proc("agent", ["sync", "--config", str(env.agent_config())]).start()
    wait_until(lambda: f"not trusted with CA file {other.cert_path}" in gw.output(), 60,
               what=lambda: "the untrusted ILS reported\n" + gw.output()[-2000:])
    assert applied_keys(env.ils) == []
    assert env.ils.counters["tls_failures"] >= 1  # the ILS saw the handshake abandoned


def test_the_ils_refuses_a_gateway_without_a_client_certificate(env: SyncEnv,
                                                               tls_ils: Any) -> None:
    store = env.open_store()
    journal(store, "checkout", items(1)[0])
    gw = env.proc("gateway", ["gateway", "run", "--config",
                              str(_gateway_config(env, tls_ils[1].cert_path, None))]).start()
    env.proc("agent", ["sync", "--config", str(env.agent_config())]).start()
    wait_until(lambda: env.ils.counters["tls_failures"] >= 1, 60,
               what=lambda: "the ILS refused the handshake\n" + gw.output()[-2000:])
    wait_until(lambda: "CERTIFICATE_REQUIRED" in gw.output().upper().replace(" ", "_"), 60,
               what=lambda: "the gateway reported the refusal\n" + gw.output()[-2000:])
    assert applied_keys(env.ils) == []
