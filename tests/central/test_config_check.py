"""``smartlib central check`` audits ``central.toml`` as ``smartlib config check`` audits a
box's: the collector's broker password (default or empty), plain MQTT off loopback, key
files readable by others (the site CA's key, TLS keys, the broker's password file),
certificates near their end (the site CA's included)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from central.cli import central
from central.config import load_central_settings
from central.config_check import audit_central
from sync import pki

NOW = datetime.now(UTC)


def _toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "central.toml"
    path.write_text(f'[central]\ndatabase = "sqlite:///{tmp_path / "c.db"}"\n{text}')
    return path


def _found(path: Path) -> dict[str, str]:
    return {f.path: f.problem for f in audit_central(load_central_settings(path),
                                                       base=path.parent, now=NOW)}


def test_the_collectors_broker_password_and_transport(tmp_path: Path) -> None:
    assert "empty" in _found(_toml(tmp_path, ""))["broker.password"]  # user "central"
    found = _found(_toml(tmp_path, '[broker]\npassword = "central-change-me"\n'))
    assert "default" in found["broker.password"]
    found = _found(_toml(tmp_path, '[broker]\npassword = "a-real-one-81b"\n'
                                   'host = "10.0.0.7"\n'))
    assert list(found) == ["broker.tls"] and "10.0.0.7" in found["broker.tls"]
    found = _found(_toml(tmp_path, '[broker]\npassword = "a-real-one-81b"\n'
                                   'failover = ["mqtt-b.example:1883"]\n'))
    assert "mqtt-b.example" in found["broker.tls"]
    assert _found(_toml(tmp_path, '[broker]\npassword = "a-real-one-81b"\nhost = "10.0.0.7"\n'
                                  'tls = true\n')) == {}


def _short_cert(path: Path, days: float) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hn-01 CA")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(NOW - timedelta(days=300)).not_valid_after(NOW + timedelta(days=days))
            .sign(key, hashes.SHA256()))
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def test_the_site_ca_and_the_broker_files(tmp_path: Path) -> None:
    ca = pki.init_ca(tmp_path / "ca", "hn-01")
    acl, passwd = tmp_path / "acl", tmp_path / "passwd"
    acl.write_text("user gateway\n")
    passwd.write_text("gateway:$7$101$x$y\n")
    acl.chmod(0o640)
    passwd.chmod(0o640)  # hashes, read by Mosquitto through its group: fine
    conf = _toml(tmp_path, f'[broker]\npassword = "a-real-one-81b"\n[enroll]\n'
                           f'ca_dir = "{ca.directory}"\nbroker_acl_file = "{acl}"\n'
                           f'broker_password_file = "{passwd}"\n')
    assert _found(conf) == {}
    (ca.directory / "ca.key").chmod(0o644)
    passwd.chmod(0o644)
    acl.chmod(0o666)
    _short_cert(ca.cert_path, 10)
    found = _found(conf)
    assert "readable by others" in found["enroll.ca_dir (key)"]
    assert "within 30 days" in found["enroll.ca_dir (cert)"]
    assert "readable by others" in found["enroll.broker_password_file"]
    assert "changed by others" in found["enroll.broker_acl_file"]
    runner = CliRunner()
    res = runner.invoke(central, ["check", "--config", str(conf)])
    assert res.exit_code == 1 and "UNSAFE (4 problem(s)" in res.output
    lab = runner.invoke(central, ["check", "--config", str(conf), "--allow-insecure"])
    assert lab.exit_code == 0 and "4 warning(s)" in lab.output
