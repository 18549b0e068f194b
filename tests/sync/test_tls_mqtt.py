"""``smartlib sync`` and ``smartlib gateway run`` over TLS against a real Mosquitto TLS
listener whose certificates come from the site CA (client certificates required, the common
name as user name, the ACL applied to it, a revocation list): a round trip works; a wrong CA,
an expired certificate and a revoked device are refused with a clear error."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sync import pki
from sync.broker import device_acl, gateway_acl
from tests.support.mosquitto import MosquittoBroker, TlsListener
from tests.sync.gateway.harness import (
    ILS_USER,
    SITE,
    SyncEnv,
    applied_keys,
    items,
    journal,
    wait_until,
    write_toml,
)

LONG_AGO = dt.datetime.now(dt.UTC) - dt.timedelta(days=400)


class TlsSite:
    """A site CA, its certificates, a TLS broker and the boxes' configuration files."""

    def __init__(self, env: SyncEnv) -> None:
        self.env, self.tmp = env, env.tmp
        self.ca = pki.init_ca(self.tmp / "ca", SITE)
        self.certs = self.tmp / "certs"
        self.broker: MosquittoBroker | None = None

    def client(self, user: str, **kw: Any) -> tuple[Path, Path]:
        row = pki.issue_client(self.ca, user, self.certs, **kw)
        return Path(row.cert_path), Path(row.key_path)

    def start_broker(self, *, server_not_before: dt.datetime | None = None,
                     server_days: int = 30) -> MosquittoBroker:
        srv = pki.issue_server(self.ca, ["localhost", "127.0.0.1"], self.certs,
                               not_before=server_not_before, days=server_days)
        acl = device_acl(SITE, "kiosk-01") + device_acl(SITE, "kiosk-02") + gateway_acl("gateway", [SITE])
        self.broker = MosquittoBroker(acl=acl, tls=TlsListener(
            ca_file=self.ca.cert_path, cert_file=Path(srv.cert_path), key_file=Path(srv.key_path),
            crl_file=self.ca.crl_path)).start()
        return self.broker

    def broker_section(self, user: str, ca_file: Path | None = None,
                       cert: tuple[Path, Path] | None = None) -> dict[str, Any]:
        assert self.broker is not None
        cert_file, key_file = cert or self.client(user)
        return {"host": "127.0.0.1", "port": self.broker.port, "tls": True,
                "ca_file": str(ca_file or self.ca.cert_path),
                "cert_file": str(cert_file), "key_file": str(key_file)}

    def agent_config(self, device: str = "kiosk-01", **kw: Any) -> Path:
        return write_toml(self.tmp / f"agent-{device}.toml", {
            "site": {"id": SITE}, "device": {"id": device, "role": "kiosk"},
            "broker": self.broker_section(device, **kw),
            "store": {"path": str(self.env.store_path(device))}})

    def gateway_config(self, **kw: Any) -> Path:
        ils = self.env.ils
        return write_toml(self.tmp / "gateway.toml", {
            "site": {"id": SITE}, "device": {"id": "gw-1", "role": "gateway"},
            "broker": self.broker_section("gateway", **kw),
            "ils": {"host": "127.0.0.1", "port": ils.port, "user": ILS_USER,
                    "password": "s3cret", "pool_size": 1},
            "gateway": {"ledger": self.env.ledger_url, "sites": [SITE]}})

    def close(self) -> None:
        if self.broker is not None:
            self.broker.stop()


@pytest.fixture
def tls_site(tmp_path: Path, demo_ils: Any) -> Iterator[TlsSite]:
    env = SyncEnv(tmp_path, None, demo_ils)
    site = TlsSite(env)
    try:
        yield site
    finally:
        env.close()
        site.close()


def _logged(proc: Any, *needles: str) -> Any:
    return lambda: all(n in proc.output() for n in needles)


def test_round_trip_over_tls_with_device_certificates(tls_site: TlsSite) -> None:
    tls_site.start_broker()
    env = tls_site.env
    store = env.open_store()
    key = journal(store, "checkout", items(1)[0])
    gw = env.proc("gateway", ["gateway", "run", "--config", str(tls_site.gateway_config())]).start()
    agent = env.proc("agent", ["sync", "--config", str(tls_site.agent_config())]).start()
    wait_until(lambda: store.outbox.backlog().open == 0, 60,
               what=lambda: "the checkout answered over TLS\n" + agent.output()[-1500:]
               + gw.output()[-1500:])
    assert applied_keys(env.ils) == [key]
    assert "BrokerTlsError" not in agent.output() + gw.output()


@pytest.mark.parametrize("which", ["sync", "gateway"])
def test_a_wrong_ca_is_refused_naming_the_ca_file(tls_site: TlsSite, which: str) -> None:
    tls_site.start_broker()
    other = pki.init_ca(tls_site.tmp / "other-ca", "elsewhere")
    cfg = (tls_site.agent_config(ca_file=other.cert_path) if which == "sync"
           else tls_site.gateway_config(ca_file=other.cert_path))
    args = ["sync", "--config", str(cfg)] if which == "sync" else ["gateway", "run", "--config", str(cfg)]
    proc = tls_site.env.proc(which, args).start()
    wait_until(_logged(proc, "BrokerTlsError", "not trusted with CA file", str(other.cert_path)),
               30, what=lambda: "the wrong CA reported\n" + proc.output()[-2000:])
    # OpenSSL's reason: the chain ends in a CA that this file does not hold.
    assert any(reason in proc.output() for reason in (
        "self-signed certificate in certificate chain", "unable to get local issuer certificate"))
    assert proc.running  # it keeps retrying (a corrected CA on the broker side heals it)
    assert "connected (session present" not in proc.output()


def test_an_expired_broker_certificate_is_refused(tls_site: TlsSite) -> None:
    tls_site.start_broker(server_not_before=LONG_AGO, server_days=30)
    proc = tls_site.env.proc("agent", ["sync", "--config", str(tls_site.agent_config())]).start()
    wait_until(_logged(proc, "BrokerTlsError", "certificate has expired",
                       str(tls_site.ca.cert_path)), 30,
               what=lambda: "the expiry reported\n" + proc.output()[-2000:])
    assert "connected (session present" not in proc.output()


def test_an_expired_device_certificate_is_refused_by_the_broker(tls_site: TlsSite) -> None:
    tls_site.start_broker()
    old = tls_site.client("kiosk-01", not_before=LONG_AGO, days=30)
    proc = tls_site.env.proc("agent", ["sync", "--config",
                                       str(tls_site.agent_config(cert=old))]).start()
    wait_until(_logged(proc, "BrokerTlsError", "refused the TLS connection", "EXPIRED"), 30,
               what=lambda: "the refusal reported\n" + proc.output()[-2000:])
    assert "connected (session present" not in proc.output()


def test_a_revoked_device_cannot_connect(tls_site: TlsSite) -> None:
    revoked = tls_site.client("kiosk-01")
    pki.revoke(tls_site.ca, "kiosk-01", SITE)
    broker = tls_site.start_broker()  # reads the CRL at start
    bad = tls_site.env.proc("kiosk-01", ["sync", "--config",
                                         str(tls_site.agent_config("kiosk-01", cert=revoked))])
    good = tls_site.env.proc("kiosk-02", ["sync", "--config",
                                          str(tls_site.agent_config("kiosk-02"))])
    bad.start()
    good.start()
    wait_until(_logged(good, "agent connected"), 30,
               what=lambda: "the unrevoked device connected\n" + good.output()[-2000:])
    wait_until(_logged(bad, "BrokerTlsError", "refused the TLS connection", "REVOKED"), 30,
               what=lambda: "the revocation reported\n" + bad.output()[-2000:]
               + broker.log_text()[-1500:])
    assert "agent connected" not in bad.output()
