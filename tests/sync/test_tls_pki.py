"""The site CA (sync/pki.py, ``smartlib ca``): key modes, names and usages of what it issues,
expiry, the revocation list and rotation, checked by reading the certificates back with
``cryptography`` and verifying them with OpenSSL (Python's ``ssl``)."""

from __future__ import annotations

import datetime as dt
import ssl
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from sync import pki
from sync.errors import PkiError


def _cert(path: str | Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(Path(path).read_bytes())


def test_init_writes_a_private_key_and_refuses_to_overwrite(tmp_path: Path) -> None:
    ca = pki.init_ca(tmp_path / "ca", "s1")
    assert (tmp_path / "ca" / "ca.key").stat().st_mode & 0o777 == 0o600
    cert = _cert(ca.cert_path)
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert x509.load_pem_x509_crl(ca.crl_path.read_bytes()).is_signature_valid(cert.public_key())  # type: ignore[arg-type]
    with pytest.raises(PkiError, match="already holds a CA"):
        pki.init_ca(tmp_path / "ca", "s1")
    assert pki.open_ca(tmp_path / "ca").site == "s1"
    with pytest.raises(PkiError, match="smartlib ca init"):
        pki.open_ca(tmp_path / "none")


def test_server_and_device_certificates_verify_against_the_ca(tmp_path: Path) -> None:
    ca = pki.init_ca(tmp_path / "ca", "s1")
    srv = pki.issue_server(ca, ["broker.lib.example", "10.0.0.5"], tmp_path / "out", days=30)
    dev = pki.issue_client(ca, "kiosk-01", tmp_path / "out")
    cert = _cert(srv.cert_path)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["broker.lib.example"]
    assert [str(a) for a in sans.get_values_for_type(x509.IPAddress)] == ["10.0.0.5"]
    assert ExtendedKeyUsageOID.SERVER_AUTH in cert.extensions.get_extension_for_class(
        x509.ExtendedKeyUsage).value
    assert 29 <= (cert.not_valid_after_utc - dt.datetime.now(dt.UTC)).days <= 30
    dcert = _cert(dev.cert_path)
    assert dcert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "kiosk-01"
    assert dcert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value == "s1"
    assert ExtendedKeyUsageOID.CLIENT_AUTH in dcert.extensions.get_extension_for_class(
        x509.ExtendedKeyUsage).value
    assert Path(dev.key_path).stat().st_mode & 0o777 == 0o600
    # OpenSSL accepts the chain: a server context loads the pair, a client trusts the CA.
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(srv.cert_path, srv.key_path)
    ssl.create_default_context(cafile=str(ca.cert_path))


def test_revoke_lists_the_serial_in_the_signed_crl(tmp_path: Path) -> None:
    ca = pki.init_ca(tmp_path / "ca", "s1")
    k1 = pki.issue_client(ca, "kiosk-01", tmp_path / "out")
    k2 = pki.issue_client(ca, "kiosk-02", tmp_path / "out")
    pki.revoke(ca, "kiosk-01", "s1")
    crl = x509.load_pem_x509_crl(ca.crl_path.read_bytes())
    assert crl.get_revoked_certificate_by_serial_number(k1.serial) is not None
    assert crl.get_revoked_certificate_by_serial_number(k2.serial) is None
    with pytest.raises(PkiError, match="no unrevoked certificate"):
        pki.revoke(ca, "kiosk-01", "s1")
    with pytest.raises(PkiError, match="SITE/DEVICE"):
        pki.parse_device("kiosk-01")


def test_rotate_reissues_only_what_expires_soon(tmp_path: Path) -> None:
    ca = pki.init_ca(tmp_path / "ca", "s1")
    soon = pki.issue_client(ca, "kiosk-01", tmp_path / "out", days=10)
    later = pki.issue_client(ca, "kiosk-02", tmp_path / "out", days=300)
    new = pki.rotate(ca, within_days=30)
    assert [r.name for r in new] == ["kiosk-01"]
    fresh = _cert(soon.cert_path)  # same file, new certificate
    assert fresh.serial_number == new[0].serial != soon.serial
    assert (fresh.not_valid_after_utc - dt.datetime.now(dt.UTC)).days >= 300
    assert _cert(later.cert_path).serial_number == later.serial
    assert pki.due_for_rotation(ca, 30) == []


def test_cli_init_issue_revoke(tmp_path: Path) -> None:
    from sync.cli import ca

    run = CliRunner().invoke
    res = run(ca, ["init", "--site", "s1", "--out", str(tmp_path / "ca")])
    assert res.exit_code == 0, res.output
    res = run(ca, ["issue", "--ca", str(tmp_path / "ca"), "--server", "localhost",
                   "--server", "127.0.0.1", "--out", str(tmp_path / "srv")])
    assert res.exit_code == 0 and (tmp_path / "srv" / "server.crt").exists(), res.output
    res = run(ca, ["issue", "--ca", str(tmp_path / "ca"), "--device", "s1/kiosk-01",
                   "--out", str(tmp_path / "dev")])
    assert res.exit_code == 0 and (tmp_path / "dev" / "kiosk-01.key").exists(), res.output
    before = _cert(tmp_path / "dev" / "kiosk-01.crt").serial_number
    res = run(ca, ["rotate", "--ca", str(tmp_path / "ca"), "--within-days", "1000"])
    assert res.exit_code == 0 and "2 certificate(s) reissued" in res.output, res.output
    assert _cert(tmp_path / "dev" / "kiosk-01.crt").serial_number != before
    res = run(ca, ["revoke", "--ca", str(tmp_path / "ca"), "--device", "s1/kiosk-01"])
    # Both kiosk-01 certificates: the one rotation superseded is still within its validity.
    assert res.exit_code == 0 and "revoked 2" in res.output, res.output
    res = run(ca, ["revoke", "--ca", str(tmp_path / "ca"), "--device", "s1/kiosk-09"])
    assert res.exit_code == 1 and "no unrevoked certificate was issued to s1/kiosk-09" in res.output
    res = run(ca, ["issue", "--ca", str(tmp_path / "nope"), "--user", "gateway",
                   "--out", str(tmp_path / "x")])
    assert res.exit_code == 1 and "smartlib ca init" in res.output
