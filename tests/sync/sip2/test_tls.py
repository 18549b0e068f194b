"""SIP2 over TLS: the client against the demo ILS serving TLS with a throwaway self-signed
certificate (made here with ``cryptography``), certificate-verification failures as typed
errors, ``smartlib sip2 --tls/--tls-ca/--tls-insecure`` and ``sim ils serve --tls-cert``."""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from hardware_sim.errors import IlsError
from hardware_sim.ils.data import DEMO_ITEMS, DEMO_PATRONS, INSTITUTION, LOGIN_PASSWORD, LOGIN_USER
from hardware_sim.ils.server import DemoIlsServer
from sync.errors import Sip2ConnectionError
from sync.sip2 import Sip2Client, Sip2TlsError, client_tls_context
from sync.sip2.cli import sip2 as sip2_cli

ROOT = Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class Cert:
    cert: Path
    key: Path


def make_cert(directory: Path, name: str = "ils", hosts: tuple[str, ...] = ("localhost",),
              ips: tuple[str, ...] = ("127.0.0.1",)) -> Cert:
    """A self-signed P-256 certificate valid for ``hosts`` and ``ips``, for one day."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"smartlib test {name}")])
    now = datetime.datetime.now(datetime.UTC)
    san = [x509.DNSName(h) for h in hosts] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    cert = (x509.CertificateBuilder()
            .subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(san), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return Cert(cert_path, key_path)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Cert, Cert]:
    """The ILS's certificate, and another one the client may wrongly trust."""
    d = tmp_path_factory.mktemp("tls")
    return make_cert(d, "ils"), make_cert(d, "other")


@pytest.fixture
def tls_ils(demo_db_template: Path, tmp_path: Path,
            certs: tuple[Cert, Cert]) -> Iterator[DemoIlsServer]:
    db = tmp_path / "ils.sqlite"
    shutil.copy(demo_db_template, db)
    server = DemoIlsServer(db, tls_cert=certs[0].cert, tls_key=certs[0].key)
    server.start()
    yield server
    server.stop()


def client(server: DemoIlsServer, **kw: object) -> Sip2Client:
    opts: dict[str, object] = {"user": LOGIN_USER, "password": LOGIN_PASSWORD,
                               "institution": INSTITUTION, "keepalive": False,
                               "timeout": 5.0, "connect_timeout": 5.0}
    opts.update(kw)
    return Sip2Client("127.0.0.1", server.port, **opts)  # type: ignore[arg-type]


def test_login_status_checkout_over_tls(tls_ils: DemoIlsServer, certs: tuple[Cert, Cert]) -> None:
    assert tls_ils.login_info()["tls"] is True
    patron, item = DEMO_PATRONS[0], DEMO_ITEMS["available"][0]
    with client(tls_ils, tls=client_tls_context(str(certs[0].cert))) as c:  # connects and logs in (93)
        assert c.sc_status().online_status is True
        co = c.checkout(patron.id, item, pin=patron.pin)
        assert co.ok is True and co.item_id == item
        assert c.checkin(item).ok is True
    assert tls_ils.counters["logins"] == 1 and tls_ils.counters["tls_failures"] == 0
    assert tls_ils.received[:2] == ["93", "99"]


def test_host_name_checked_against_the_certificate(tls_ils: DemoIlsServer,
                                                   certs: tuple[Cert, Cert]) -> None:
    # "localhost" is in the certificate; "ils.example.org" is not.
    with client(tls_ils, tls=client_tls_context(str(certs[0].cert)),
                server_hostname="localhost") as c:  # connects and logs in (93)
        assert c.sc_status().online_status is True
    with pytest.raises(Sip2TlsError) as err:
        client(tls_ils, tls=client_tls_context(str(certs[0].cert)),
               server_hostname="ils.example.org").connect()
    assert err.value.verify_failed and "ils.example.org" in str(err.value)


@pytest.mark.parametrize("trust", ["system", "other"])
def test_untrusted_certificate_is_a_typed_error(tls_ils: DemoIlsServer, certs: tuple[Cert, Cert],
                                                trust: str) -> None:
    ctx = client_tls_context() if trust == "system" else client_tls_context(str(certs[1].cert))
    c = client(tls_ils, tls=ctx)
    with pytest.raises(Sip2TlsError) as err:
        c.connect()
    assert err.value.verify_failed and "not trusted" in str(err.value)
    assert isinstance(err.value, Sip2ConnectionError)  # callers catching connection errors see it
    assert c.stats["connects"] == 0 and tls_ils.counters["logins"] == 0


def test_insecure_context_skips_verification(tls_ils: DemoIlsServer) -> None:
    with client(tls_ils, tls=client_tls_context(insecure=True)) as c:  # connects and logs in (93)
        assert c.sc_status().online_status is True


def test_plain_client_against_tls_server_fails_cleanly(tls_ils: DemoIlsServer) -> None:
    with pytest.raises(Sip2ConnectionError):
        client(tls_ils, timeout=2.0).connect()


def test_tls_client_against_plain_server_is_a_tls_error(demo_ils: DemoIlsServer) -> None:
    with pytest.raises(Sip2TlsError) as err:
        client(demo_ils, tls=client_tls_context(insecure=True), connect_timeout=1.0).connect()
    assert not err.value.verify_failed


def test_bad_certificate_files_are_typed_errors(tmp_path: Path, certs: tuple[Cert, Cert]) -> None:
    with pytest.raises(IlsError, match="TLS certificate"):
        DemoIlsServer(tmp_path / "x.sqlite", tls_cert=certs[0].cert, tls_key=certs[1].key)
    with pytest.raises(Sip2TlsError, match="CA file"):
        client_tls_context(str(tmp_path / "missing.pem"))


# ---- smartlib sip2 --tls -------------------------------------------------------------------

def cli(server: DemoIlsServer, *args: str) -> tuple[int, str, str]:
    base = ["--host", "127.0.0.1", "--port", str(server.port), "--user", LOGIN_USER,
            "--password", LOGIN_PASSWORD, "--institution", INSTITUTION, "--timeout", "5"]
    r = CliRunner().invoke(sip2_cli, [*base, *args])
    return r.exit_code, r.stdout, r.stderr


def test_cli_tls_ca(tls_ils: DemoIlsServer, certs: tuple[Cert, Cert]) -> None:
    code, out, err = cli(tls_ils, "--tls-ca", str(certs[0].cert), "status")
    assert code == 0, err
    assert json.loads(out)["online_status"] is True
    patron, item = DEMO_PATRONS[0], DEMO_ITEMS["available"][1]
    code, out, err = cli(tls_ils, "--tls", "--tls-ca", str(certs[0].cert), "checkout",
                         "--patron", patron.id, "--pin", patron.pin, "--item", item)
    assert code == 0, err
    assert json.loads(out)["ok"] is True


def test_cli_tls_untrusted_exits_1_with_one_line(tls_ils: DemoIlsServer) -> None:
    code, out, err = cli(tls_ils, "--tls", "status")
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "not trusted" in err


def test_cli_tls_insecure(tls_ils: DemoIlsServer, certs: tuple[Cert, Cert]) -> None:
    code, out, err = cli(tls_ils, "--tls-insecure", "status")
    assert code == 0, err
    assert json.loads(out)["online_status"] is True
    code, _out, err = cli(tls_ils, "--tls-insecure", "--tls-ca", str(certs[0].cert), "status")
    assert code == 2 and "exclude" in err


# ---- smartlib sim ils serve --tls-cert --tls-key ---------------------------------------------

def test_sim_ils_serve_with_tls(demo_db_template: Path, tmp_path: Path,
                                certs: tuple[Cert, Cert]) -> None:
    db = tmp_path / "ils.sqlite"
    shutil.copy(demo_db_template, db)
    proc = subprocess.Popen(
        [sys.executable, "-m", "smartlib.cli", "sim", "ils", "serve", "--port", "0", "--db", str(db),
         "--tls-cert", str(certs[0].cert), "--tls-key", str(certs[0].key)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        assert info["tls"] is True
        login = info["login"]
        with Sip2Client("127.0.0.1", info["port"], user=login["user"], password=login["password"],
                        institution=login["institution"], keepalive=False,
                        tls=client_tls_context(str(certs[0].cert))) as c:
            assert c.sc_status().online_status is True
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=15)
    assert proc.returncode == 0
