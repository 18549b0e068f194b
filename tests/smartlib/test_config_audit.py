"""``smartlib config check`` fails on unsafe settings (issue 18 §4): secrets, transport,
file modes, certificates; ``--allow-insecure`` makes them warnings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import BaseModel

from smartlib.cli import root
from smartlib.config import load_settings
from smartlib.config_audit import audit_files, audit_settings, is_loopback

NOW = datetime(2027, 1, 1, tzinfo=UTC)
GOOD = {"api": {"device_token": "a-device-secret-4f9c", "staff_token": "a-staff-secret-81b2"}}


def _paths(settings) -> list[str]:
    return [f.path for f in audit_settings(settings, now=NOW)]


def test_the_built_in_defaults_are_unsafe() -> None:
    found = audit_settings(load_settings(None))
    assert [f.path for f in found] == ["api.device_token", "api.staff_token"]
    assert all("change-me" in f.problem for f in found)
    assert "device-token-change-me" not in " ".join(f.problem for f in found)  # no values


def test_empty_or_default_secrets() -> None:
    assert _paths(load_settings(None, **GOOD)) == []
    s = load_settings(None, api={"device_token": "", "staff_token": "x-CHANGE-ME-x"})
    found = {f.path: f.problem for f in audit_settings(s)}
    assert found["api.device_token"].startswith("empty")
    assert "default" in found["api.staff_token"]
    s = load_settings(None, **GOOD, broker={"username": "kiosk-01"})
    assert _paths(s) == ["broker.password"]
    s = load_settings(None, **GOOD, broker={"username": "kiosk-01", "password": "pw-81b2c"})
    assert _paths(s) == []
    # a gateway needs its ILS password (a kiosk does not talk SIP2); not the API tokens
    s = load_settings(None, device={"id": "gw", "role": "gateway"})
    assert _paths(s) == ["ils.password"]
    s = load_settings(None, device={"id": "gw", "role": "gateway"}, ils={"password": "s3cret"},
                      gateway={"site_ils": {"b": {"password": "change-me"}}})
    assert _paths(s) == ["gateway.site_ils.b.password"]


def _secret_paths(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Every SecretStr setting of ``model``, by walking its fields' types."""
    import typing

    from pydantic import SecretStr

    out = []
    for name, info in model.model_fields.items():
        kinds = [info.annotation, *typing.get_args(info.annotation)]
        if SecretStr in kinds:
            out.append(f"{prefix}{name}")
        for kind in kinds:
            if isinstance(kind, type) and issubclass(kind, BaseModel):
                out += _secret_paths(kind, f"{prefix}{name}.")
    return out


# What makes each secret needed (a user name, the gateway role…), and whether empty fails.
_SECRET_CONTEXT: dict[str, tuple[dict, bool]] = {
    "api.device_token": ({}, True),
    "api.staff_token": ({}, True),
    "broker.password": ({"broker": {"username": "kiosk-01"}}, True),
    "ils.password": ({"device": {"id": "gw", "role": "gateway"}}, True),
    "smtp.password": ({"smtp": {"host": "mail.example", "user": "kiosk"}}, True),
    "kiosk.admin_exit_code": ({}, False),  # unset: a one-time code per run, logged once
}


def _set(tree: dict, path: str, value: object) -> dict:
    *parents, leaf = path.split(".")
    node = tree
    for p in parents:
        node = node.setdefault(p, {})
    node[leaf] = value
    return tree


def test_every_secret_setting_is_known_to_this_test() -> None:
    from smartlib.config import Settings

    # a secret added to the settings must be added here, with what makes it needed
    # (gateway.site_ils.<site>.password: test_a_per_site_ils_password_fails_…)
    assert sorted(_secret_paths(Settings)) == sorted([*_SECRET_CONTEXT,
                                                      "gateway.site_ils.password"])


@pytest.mark.parametrize("path", sorted(_SECRET_CONTEXT))
def test_every_secret_fails_when_default_or_empty(path: str) -> None:
    context, empty_fails = _SECRET_CONTEXT[path]
    import copy
    base = copy.deepcopy(GOOD) if not path.startswith("api.") else {"api": dict(GOOD["api"])}
    for key, value in context.items():
        base.setdefault(key, {}).update(value)
    if path == "ils.password" or base.get("device", {}).get("role") == "gateway":
        base.pop("api", None)
    default = "5550-change-me" if path != "kiosk.admin_exit_code" else "change-me"
    found = {f.path: f.problem for f in audit_settings(
        load_settings(None, **_set(copy.deepcopy(base), path, default)), now=NOW)}
    assert "default" in found.get(path, ""), (path, found)
    found = {f.path: f.problem for f in audit_settings(
        load_settings(None, **_set(copy.deepcopy(base), path, "")), now=NOW)}
    assert ("empty" in found.get(path, "")) is empty_fails, (path, found)
    if path != "kiosk.admin_exit_code":
        good = load_settings(None, **_set(copy.deepcopy(base), path, "a-real-secret-5f3a"))
        assert path not in {f.path for f in audit_settings(good, now=NOW)}


def test_a_per_site_ils_password_fails_when_default_or_empty() -> None:
    gw = {"device": {"id": "gw", "role": "gateway"}, "ils": {"password": "s3cret-ab"}}
    for value, word in (("change-me", "default"), ("", "empty")):
        s = load_settings(None, **gw, gateway={"site_ils": {"b": {"password": value}}})
        found = {f.path: f.problem for f in audit_settings(s, now=NOW)}
        assert word in found["gateway.site_ils.b.password"]


def test_plain_mqtt_to_a_failover_host_off_loopback_fails() -> None:
    s = load_settings(None, **GOOD, broker={"host": "127.0.0.1",
                                            "failover": ["mqtt-b.example:1883"]})
    [f] = audit_settings(s, now=NOW)
    assert f.path == "broker.tls" and "mqtt-b.example" in f.problem
    s = load_settings(None, **GOOD, broker={"host": "127.0.0.1", "failover": ["[::1]:1884"]})
    assert _paths(s) == []


def test_the_edge_api_https_key_and_certificate_are_audited(tmp_path: Path) -> None:
    cert, pem_key = _cert(tmp_path, "kiosk-01.lib.example", 12)
    key = tmp_path / "kiosk-01.key"
    key.write_bytes(pem_key)
    key.chmod(0o644)
    s = load_settings(None, **{"api": {**GOOD["api"], "tls_cert": str(cert),
                                       "tls_key": str(key)}})
    found = {f.path: f.problem for f in audit_settings(s, now=NOW)}
    assert "readable by others" in found["api.tls_key"]
    assert "within 30 days" in found["api.tls_cert"]
    key.chmod(0o600)
    assert list({f.path for f in audit_settings(s, now=NOW)}) == ["api.tls_cert"]


@pytest.mark.parametrize("host, loop", [
    ("127.0.0.1", True), ("127.0.1.1", True), ("localhost", True), ("::1", True),
    ("[::1]", True), ("10.0.0.5", False), ("mqtt.library.example", False), ("0.0.0.0", False),
])
def test_loopback(host: str, loop: bool) -> None:
    assert is_loopback(host) is loop


def test_plain_mqtt_or_sip2_off_loopback_fails() -> None:
    s = load_settings(None, **GOOD, broker={"host": "10.0.0.5"})
    [f] = audit_settings(s)
    assert f.path == "broker.tls" and "10.0.0.5" in f.problem
    assert _paths(load_settings(None, **GOOD, broker={"host": "10.0.0.5", "tls": True})) == []
    gw = {"device": {"id": "gw", "role": "gateway"}}
    s = load_settings(None, **gw, ils={"host": "koha.example", "password": "s3cret"},
                      gateway={"site_ils": {"b": {"host": "evergreen.example", "tls": True},
                                            "c": {"host": "folio.example"}}})
    assert _paths(s) == ["ils.tls", "gateway.site_ils.c.tls"]


# ---- files ------------------------------------------------------------------------------

class _Tls(BaseModel):
    """A section as TLS settings name their files (``*_file``)."""

    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    password_file: Path | None = None


class _Conf(BaseModel):
    tls: _Tls


def _cert(tmp_path: Path, name: str, days_left: float) -> tuple[Path, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(NOW - timedelta(days=365))
            .not_valid_after(NOW + timedelta(days=days_left))
            .sign(key, hashes.SHA256()))
    path = tmp_path / f"{name}.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    path.chmod(0o644)
    pem_key = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return path, pem_key


def _problems(conf: BaseModel, tmp_path: Path) -> dict[str, str]:
    return {f.path: f.problem for f in audit_files(conf, tmp_path, NOW)}


def test_key_files_readable_by_others_fail(tmp_path: Path) -> None:
    cert, pem_key = _cert(tmp_path, "device", 365)
    key = tmp_path / "device.key"
    key.write_bytes(pem_key)
    pw = tmp_path / "sip2.pw"
    pw.write_text("s3cret\n")
    for mode in (0o644, 0o640, 0o604):
        key.chmod(mode)
        pw.chmod(mode)
        found = _problems(_Conf(tls=_Tls(cert_file=cert, key_file=key,
                                         password_file=Path("sip2.pw"))), tmp_path)
        assert set(found) == {"tls.key_file", "tls.password_file"}, mode
        assert f"mode {mode:04o}" in found["tls.key_file"]
    key.chmod(0o600)
    pw.chmod(0o400)
    assert _problems(_Conf(tls=_Tls(cert_file=cert, key_file=key, password_file=pw)),
                     tmp_path) == {}
    # a private key in a file of any name is a key; a certificate others may write fails
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(cert.read_bytes() + pem_key)
    bundle.chmod(0o644)
    cert.chmod(0o666)
    found = _problems(_Conf(tls=_Tls(ca_file=bundle, cert_file=cert)), tmp_path)
    assert "readable by others" in found["tls.ca_file"]
    assert "changed by others" in found["tls.cert_file"]
    found = _problems(_Conf(tls=_Tls(key_file=tmp_path / "missing.key")), tmp_path)
    assert "cannot be read" in found["tls.key_file"]


@pytest.mark.parametrize("days_left, word", [(-1, "expired"), (10, "within 30 days"),
                                             (29.5, "within 30 days"), (31, None)])
def test_certificates_near_their_end_fail(tmp_path: Path, days_left: float,
                                          word: str | None) -> None:
    cert, _ = _cert(tmp_path, "ca", days_left)
    found = _problems(_Conf(tls=_Tls(ca_file=cert)), tmp_path)
    if word is None:
        assert found == {}
    else:
        assert word in found["tls.ca_file"] and "CN=ca" in found["tls.ca_file"]


def test_the_broker_ca_file_is_audited(tmp_path: Path) -> None:
    cert, _ = _cert(tmp_path, "site-ca", 5)
    s = load_settings(None, **GOOD, broker={"host": "mqtt.example", "tls": True,
                                            "ca_file": str(cert)})
    [f] = audit_settings(s, now=NOW)
    assert f.path == "broker.ca_file" and "within 30 days" in f.problem


# ---- the command ------------------------------------------------------------------------

def test_config_check_names_each_problem_and_fails(tmp_path: Path) -> None:
    conf = tmp_path / "kiosk.toml"
    conf.write_text('[broker]\nhost = "10.1.2.3"\nusername = "kiosk-01"\n'
                    '[api]\ndevice_token = "device-token-change-me"\nstaff_token = "s-81b2c9"\n')
    res = CliRunner().invoke(root, ["config", "check", str(conf)])
    assert res.exit_code == 1
    assert "UNSAFE (3 problem(s)" in res.output
    for key in ("api.device_token:", "broker.password:", "broker.tls:"):
        assert key in res.output
    assert "api.staff_token" not in res.output
    lab = CliRunner().invoke(root, ["config", "check", "--allow-insecure", str(conf)])
    assert lab.exit_code == 0 and "OK" in lab.output and "3 warning(s)" in lab.output
    assert "warning: broker.tls:" in lab.output


def test_the_sample_configs_fail_until_edited_and_the_demo_one_passes() -> None:
    runner = CliRunner()
    for name in ("kiosk", "gate", "gateway"):
        res = runner.invoke(root, ["config", "check", f"docs/config/{name}.toml"])
        assert res.exit_code == 1 and "change-me" in res.output, name
    res = runner.invoke(root, ["config", "check", "docs/config/demo.toml"])
    assert res.exit_code == 0 and "warning" not in res.output, res.output
