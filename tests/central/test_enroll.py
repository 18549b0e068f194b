"""Enrolment through the console's app (FastAPI's TestClient) and the box's real client code
(:func:`sync.enroll_client.enrol` over the same TestClient): a code is issued by an admin
only, redeemed once into a CA-signed certificate for the box's own key and a configuration;
a used, an expired, an unknown code and a forged answer fail with typed errors, audited."""

from __future__ import annotations

import re
import stat
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from fastapi.testclient import TestClient

from central.config import CentralSection, EnrollSection
from central.enroll import EnrolmentService, code_hash
from central.store import CentralStore
from central.web.app import create_app
from sync import pki
from sync.enroll_client import PENDING_KEY, check_answer, enrol
from sync.errors import (
    EnrolAnswerError,
    EnrolCodeExpiredError,
    EnrolCodeUnknownError,
    EnrolCodeUsedError,
)
from tests.central.conftest import Clock, make_auth
from tests.central.test_web import PASSWORD, csrf, login

SITE = "hn-01"


@pytest.fixture
def ca(tmp_path: Path) -> pki.SiteCa:
    return pki.init_ca(tmp_path / "ca", SITE)


@pytest.fixture
def service(sqlite_store: CentralStore, clock: Clock, ca: pki.SiteCa) -> EnrolmentService:
    return EnrolmentService(sqlite_store, EnrollSection(ca_dir=ca.directory,
                                                        broker_host="mqtt.example",
                                                        broker_port=8883), clock=clock)


@pytest.fixture
def console(sqlite_store: CentralStore, clock: Clock,
            service: EnrolmentService) -> Iterator[TestClient]:
    auth = make_auth(sqlite_store, clock)
    auth.create_account("boss", PASSWORD, role="admin")
    auth.create_account("xem", PASSWORD, role="viewer")
    app = create_app(sqlite_store, auth, CentralSection(), poll_s=0.05)
    app.state.enrolment = service
    with TestClient(app, base_url="http://testserver") as client:
        yield client


def issue(console: TestClient, device: str = "kiosk-07", role: str = "kiosk",
          **extra: Any) -> dict[str, Any]:
    login(console, "boss")
    resp = console.post("/api/enrol/codes", json={"site": SITE, "device": device, "role": role,
                                                  **extra},
                        headers={"X-CSRF-Token": csrf(console)})
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def test_a_kiosk_enrols_with_its_code(console: TestClient, ca: pki.SiteCa, tmp_path: Path,
                                      sqlite_store: CentralStore) -> None:
    code = issue(console)
    assert code["ca_fingerprint"] == ca.cert.fingerprint(hashes.SHA256()).hex()
    # only the code's hash is stored
    assert code["code"] not in str(sqlite_store.db.query("SELECT * FROM enrol_codes"))
    box = tmp_path / "box"
    done = enrol("http://testserver", code["code"].lower(), box,
                 ca_fingerprint=code["ca_fingerprint"], http=console)
    assert (done.site, done.device, done.role) == (SITE, "kiosk-07", "kiosk")
    assert stat.S_IMODE(done.key_path.stat().st_mode) == 0o600
    assert not (box / PENDING_KEY).exists()
    cert = x509.load_pem_x509_certificate(done.cert_path.read_bytes())
    cert.verify_directly_issued_by(ca.cert)
    key = serialization.load_pem_private_key(done.key_path.read_bytes(), None)
    assert cert.public_key() == key.public_key()  # type: ignore[union-attr]
    assert cert.subject.rfc4514_string() == f"OU={SITE},CN=kiosk-07"
    assert done.ca_path.read_bytes() == ca.cert_path.read_bytes()
    cfg = tomllib.loads(done.config_path.read_text())
    assert cfg["site"] == {"id": SITE} and cfg["device"] == {"id": "kiosk-07", "role": "kiosk"}
    assert cfg["broker"] == {"host": "mqtt.example", "port": 8883, "tls": True,
                             "ca_file": str(done.ca_path.resolve()),
                             "cert_file": str(done.cert_path.resolve()),
                             "key_file": str(done.key_path.resolve())}
    from smartlib.config import load_settings
    assert load_settings(done.config_path).broker.tls is True
    issued = [r for r in ca.issued() if r.name == "kiosk-07"]
    assert [r.serial for r in issued] == [cert.serial_number]
    actions = [(a.action, a.target) for a in sqlite_store.audit.list()]
    assert ("enrolled", f"{SITE}/kiosk-07") in actions
    assert ("enrol_code", f"{SITE}/kiosk-07") in actions


def test_a_used_code_fails(console: TestClient, tmp_path: Path,
                           sqlite_store: CentralStore) -> None:
    code = issue(console)["code"]
    enrol("http://testserver", code, tmp_path / "a", http=console)
    with pytest.raises(EnrolCodeUsedError, match="code_used") as err:
        enrol("http://testserver", code, tmp_path / "b", http=console)
    assert err.value.reason == "code_used"
    assert not (tmp_path / "b" / "smartlib.toml").exists()
    refused = [a for a in sqlite_store.audit.list() if a.action == "enrol_refused"]
    assert refused and refused[0].detail == {"reason": "code_used"}
    assert refused[0].target == f"{SITE}/kiosk-07"


def test_an_expired_code_fails(console: TestClient, clock: Clock, tmp_path: Path,
                               sqlite_store: CentralStore) -> None:
    code = issue(console, minutes=5)["code"]
    clock.advance(minutes=5, seconds=1)
    with pytest.raises(EnrolCodeExpiredError, match="expired"):
        enrol("http://testserver", code, tmp_path / "box", http=console)
    assert sqlite_store.audit.list()[0].detail == {"reason": "code_expired"}
    assert sqlite_store.enrolment.find_code(code_hash(code)).used_at is None  # type: ignore[union-attr]


def test_an_unknown_code_fails(console: TestClient, tmp_path: Path) -> None:
    with pytest.raises(EnrolCodeUnknownError):
        enrol("http://testserver", "AAAA-BBBB-CCCC-DDDD", tmp_path / "box", http=console)


def test_a_forged_answer_or_another_ca_is_refused(console: TestClient, tmp_path: Path) -> None:
    code = issue(console)
    other = pki.init_ca(tmp_path / "other", SITE)
    with pytest.raises(EnrolAnswerError, match="pinned"):
        enrol("http://testserver", code["code"], tmp_path / "box",
              ca_fingerprint=other.cert.fingerprint(hashes.SHA256()).hex(), http=console)
    assert not (tmp_path / "box" / "smartlib.toml").exists()
    # an answer made for another code (or altered on the way) fails its HMAC
    code2 = issue(console, device="kiosk-08")["code"]
    box = tmp_path / "box2"
    box.mkdir()
    from sync.enroll_client import _csr, _pending_key
    key = _pending_key(box)
    answer = console.post("/api/enrol", json={"code": code2, "csr": _csr(key)}).json()
    answer["bundle"]["broker"]["host"] = "evil.example"
    with pytest.raises(EnrolAnswerError, match="HMAC"):
        check_answer(code2, answer, key, None)


def test_only_an_admin_issues_codes(console: TestClient) -> None:
    login(console, "xem")
    resp = console.post("/api/enrol/codes", json={"site": SITE, "device": "k", "role": "kiosk"},
                        headers={"X-CSRF-Token": csrf(console)})
    assert resp.status_code == 403
    assert console.get("/enrol").status_code == 403


def test_the_page_shows_the_code_once_and_revokes(console: TestClient,
                                                  sqlite_store: CentralStore,
                                                  ca: pki.SiteCa, tmp_path: Path) -> None:
    login(console, "boss")
    page = console.get("/enrol?lang=en")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    shown = console.post("/enrol", data={"site": SITE, "device": "gate-03", "role": "gate",
                                         "minutes": "30", "csrf_token": token})
    code = re.search(r'<code id="code">([A-Z0-9-]+)</code>', shown.text).group(1)  # type: ignore[union-attr]
    assert code not in console.get("/enrol").text
    enrol("http://testserver", code, tmp_path / "gate", http=console)
    done = console.post("/enrol", data={"action": "revoke", "site": SITE, "device": "gate-03",
                                        "csrf_token": token})
    assert done.status_code == 200 and "gate-03" in done.text
    assert [r.revoked for r in ca.issued() if r.name == "gate-03"] == [True]
    assert sqlite_store.enrolment.revoked()[0][:2] == (SITE, "gate-03")
    crl = x509.load_pem_x509_crl(ca.crl_path.read_bytes())
    serial = [r.serial for r in ca.issued() if r.name == "gate-03"][0]
    assert crl.get_revoked_certificate_by_serial_number(serial) is not None


def test_a_bad_request_is_refused(console: TestClient, tmp_path: Path) -> None:
    login(console, "boss")
    resp = console.post("/api/enrol/codes", json={"site": SITE, "device": "K!", "role": "kiosk"},
                        headers={"X-CSRF-Token": csrf(console)})
    assert resp.status_code == 400 and resp.json()["reason"] == "bad_request"
    code = issue(console)["code"]
    resp = console.post("/api/enrol", json={"code": code, "csr": "not a csr"})
    assert resp.status_code == 400 and resp.json()["reason"] == "bad_request"
    # a refused CSR does not use the code up
    done = enrol("http://testserver", code, tmp_path / "box", http=console)
    assert done.device == "kiosk-07"


def test_the_enrolment_tables_on_both_engines(store: CentralStore) -> None:
    from central.store import EnrolCode

    store.enrolment.add_code(EnrolCode("h1", SITE, "kiosk-09", "kiosk", "boss",
                                       "2026-12-07T03:00:00.000Z", "2026-12-07T03:30:00.000Z",
                                       None, None))
    assert store.enrolment.claim_code("h1", "2026-12-07T03:01:00.000Z")
    assert not store.enrolment.claim_code("h1", "2026-12-07T03:02:00.000Z")
    store.enrolment.release_code("h1")  # a CSR that could not be signed
    assert store.enrolment.claim_code("h1", "2026-12-07T03:01:00.000Z")
    store.enrolment.set_serial("h1", "12345")
    store.enrolment.release_code("h1")  # no effect once a certificate was made
    row = store.enrolment.find_code("h1")
    assert row is not None and (row.used_at, row.serial) == ("2026-12-07T03:01:00.000Z", "12345")
    store.enrolment.revoke(SITE, "kiosk-09", "boss", "2026-12-07T04:00:00.000Z")
    store.enrolment.revoke(SITE, "kiosk-09", "cli", "2026-12-07T05:00:00.000Z")
    assert store.enrolment.revoked() == [(SITE, "kiosk-09", "2026-12-07T05:00:00.000Z")]
    store.enrolment.reinstate(SITE, "kiosk-09")
    assert store.enrolment.revoked() == []


def test_revoke_cli_runs_the_reload_command_and_reports_its_failure(
        tmp_path: Path, ca: pki.SiteCa) -> None:
    from click.testing import CliRunner

    from central.cli import central

    cfg = tmp_path / "central.toml"
    cfg.write_text(f'[central]\ndatabase = "sqlite:///{tmp_path / "c.db"}"\n'
                   f'[enroll]\nca_dir = "{ca.directory}"\n')
    pki.issue_client(ca, "kiosk-04", tmp_path / "certs")
    ok = CliRunner().invoke(central, ["revoke", "--config", str(cfg), "--site", SITE,
                                      "--device", "kiosk-04", "--reload-broker", "true"])
    assert ok.exit_code == 0, ok.output
    assert "1 certificate(s)" in ok.output and "ran 'true'" in ok.output
    revoked = (ca.directory / "revoked.json").read_text()
    assert '"device": "kiosk-04"' in revoked
    bad = CliRunner().invoke(central, ["revoke", "--config", str(cfg), "--site", SITE,
                                       "--device", "kiosk-04", "--reload-broker", "false"])
    assert bad.exit_code != 0 and "reload the broker by hand" in bad.output
    hint = CliRunner().invoke(central, ["revoke", "--config", str(cfg), "--site", SITE,
                                        "--device", "kiosk-04"])
    assert "Mosquitto reads the CRL only when it starts" in hint.output
