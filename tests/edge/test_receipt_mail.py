"""E-mailed receipts over STARTTLS to a local aiosmtpd relay, and the PDF / e-mail routes."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import io
import ipaddress
import logging
import socket
import ssl
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fastapi.testclient import TestClient
from pypdf import PdfReader

from edge.api import create_app
from edge.errors import EdgeError
from edge.receipt import build_receipt, receipt_pdf
from edge.receipt_mail import MailError, ReceiptMailer, mask_address, receipt_message
from edge.services.sessions import ReceiptLine, Session
from smartlib.config import SmtpSection
from tests.edge.doubles import make_tag

USER, PASSWORD = "kiosk", "s3cret-relay-pw"
DEV = {"Authorization": "Bearer dev-tok"}
WHEN = "2026-12-07T04:00:00Z"


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 signed by its own key (PEM files)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "smtp.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_pem, key_pem = tmp / "relay.pem", tmp / "relay.key"
    cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return cert_pem, key_pem


@dataclass
class Relay:
    """What the local relay saw."""

    port: int
    cert: Path
    messages: list[tuple[bool, list[str], bytes]] = field(default_factory=list)
    logins: list[tuple[bytes, bool]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((session.ssl is not None, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str,
                     data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data.login == USER.encode() and \
            data.password == PASSWORD.encode()
        self.logins.append((data.login, ok))
        return AuthResult(success=ok, handled=False)  # aiosmtpd answers 235 or 535


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(relay: Relay, key: Path, *, tls: bool) -> Controller:
    ctx = None
    if tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(relay.cert, key)
    controller = Controller(relay, hostname="127.0.0.1", port=relay.port, tls_context=ctx,
                            require_starttls=tls, authenticator=relay.authenticate)
    controller.start()
    return controller


@pytest.fixture(params=[True], ids=["starttls"])
def relay(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Relay]:
    """A local relay offering STARTTLS with a self-signed certificate (``False``: no TLS)."""
    cert, key = _self_signed(tmp_path)
    r = Relay(_free_port(), cert)
    controller = _start(r, key, tls=request.param)
    yield r
    controller.stop()


def smtp_for(relay: Relay, **kw: Any) -> SmtpSection:
    base = {"host": "127.0.0.1", "port": relay.port, "user": USER, "password": PASSWORD,
            "sender": "thuvien@example.org", "ca_file": str(relay.cert), "timeout_s": 10}
    return SmtpSection(**{**base, **kw})


def the_receipt() -> dict[str, Any]:
    s = Session(id="s1", patron_id="2000001", name="", language="vi", source="card",
                offline=False, loan_limit=10, started_at=WHEN, last_active=0.0,
                idle_timeout_s=60,
                lines=[ReceiptLine("3000001", "Lịch sử Việt Nam", "checkout", "2026-12-21")])
    return build_receipt(s, "Thư viện Demo", WHEN)


def _message(to: str = "ban.doc@example.org") -> Any:
    r = the_receipt()
    return receipt_message(r, "vi", sender="thuvien@example.org", to=to,
                           pdf=receipt_pdf(r, "vi"))


def _pdf_words(pdf: bytes) -> str:
    return unicodedata.normalize("NFC", "".join(
        p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages))


def test_sent_over_starttls_with_text_and_pdf(relay: Relay) -> None:
    ReceiptMailer(smtp_for(relay)).send(_message())
    assert relay.logins == [(USER.encode(), True)]
    [(tls, rcpts, raw)] = relay.messages
    assert tls and rcpts == ["ban.doc@example.org"]
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["Subject"] == "Biên nhận – Thư viện Demo – 2026-12-07 04:00"
    body = msg.get_body(("plain",)).get_content()
    assert "Lịch sử Việt Nam" in body and "Hạn trả: 2026-12-21" in body
    [pdf] = [p for p in msg.iter_attachments() if p.get_content_type() == "application/pdf"]
    assert pdf.get_filename() == "bien-nhan.pdf"
    assert "Lịch sử Việt Nam" in _pdf_words(pdf.get_content())


def test_wrong_password_is_a_mail_error_and_the_password_is_not_logged(
        relay: Relay, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(MailError) as err:
        ReceiptMailer(smtp_for(relay, password="wrong-pw-123")).send(_message())
    assert err.value.code == "mail_unavailable" and err.value.status == 503
    assert "SMTPAuthenticationError" in err.value.message
    assert relay.messages == [] and relay.logins
    assert all(who == USER.encode() and not ok for who, ok in relay.logins)
    assert "wrong-pw-123" not in caplog.text and "ban.doc@" not in caplog.text
    assert "b***@example.org" in caplog.text


@pytest.mark.parametrize("relay", [False], ids=["plain"], indirect=True)
def test_a_relay_without_starttls_is_never_used(relay: Relay) -> None:
    with pytest.raises(MailError, match="does not offer STARTTLS"):
        ReceiptMailer(smtp_for(relay)).send(_message())
    assert relay.messages == [] and relay.logins == []


def test_an_untrusted_certificate_is_refused(relay: Relay) -> None:
    with pytest.raises(MailError, match="SSL"):
        ReceiptMailer(smtp_for(relay, ca_file=None)).send(_message())
    assert relay.messages == [] and relay.logins == []


def test_no_relay_configured() -> None:
    with pytest.raises(MailError, match="no mail relay"):
        ReceiptMailer(SmtpSection()).send(_message())


@pytest.mark.parametrize("bad", ["no-at-sign", "a@b", "x@y.z\r\nBcc: evil@example.org",
                                 "Name <a@b.org>", "a@b.org, c@d.org"])
def test_bad_addresses_are_refused(bad: str) -> None:
    with pytest.raises(EdgeError) as err:
        _message(bad)
    assert err.value.code == "validation_error"


def test_mask_address() -> None:
    assert mask_address("ban.doc@example.org") == "b***@example.org"


# ---- the routes ------------------------------------------------------------------------


@pytest.fixture
def client(settings, services, relay: Relay) -> Iterator[TestClient]:
    settings.smtp = smtp_for(relay)
    with TestClient(create_app(settings, services, start_services=False)) as c:
        yield c


def _session_with_a_loan(client: TestClient, reader) -> str:
    reader.tags.update({t.uid: t for t in [make_tag("3000001")]})
    r = client.post("/sessions", headers=DEV, json={
        "credential": {"source": "manual", "identifier": "2000001", "pin": "1234"},
        "language": "vi"})
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    assert client.post(f"/sessions/{sid}/checkout", headers=DEV, json={}).status_code == 200
    return str(sid)


def test_pdf_route(client: TestClient, reader) -> None:
    sid = _session_with_a_loan(client, reader)
    r = client.get(f"/sessions/{sid}/receipt/pdf", headers=DEV)
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert "attachment" in r.headers["content-disposition"]
    words = _pdf_words(r.content)
    assert "Thư viện Demo" in words and "Mượn: 3000001" in words and "Hạn trả: " in words
    assert client.get("/sessions/nope/receipt/pdf", headers=DEV).status_code == 404
    assert client.get(f"/sessions/{sid}/receipt/pdf").status_code == 401


def test_email_route(client: TestClient, reader, relay: Relay, settings) -> None:
    sid = _session_with_a_loan(client, reader)
    r = client.post(f"/sessions/{sid}/receipt/email", headers=DEV,
                    json={"to": "ban.doc@example.org"})
    assert r.status_code == 200, r.text
    assert r.json() == {"sent": True, "to_masked": "b***@example.org", "repeated": False}
    [(tls, rcpts, raw)] = relay.messages
    assert tls and rcpts == ["ban.doc@example.org"]
    assert "Mượn: 3000001" in email.message_from_bytes(
        raw, policy=email.policy.default).get_body(("plain",)).get_content()
    r = client.post(f"/sessions/{sid}/receipt/email", headers=DEV, json={})
    assert r.status_code == 409 and r.json()["error"]["code"] == "no_email_address"
    r = client.post(f"/sessions/{sid}/receipt/email", headers=DEV, json={"to": "nope"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"
    settings.smtp = SmtpSection()
    # A new receipt (this one was sent once: a repeat would answer that outcome).
    assert client.post(f"/sessions/{sid}/return", headers=DEV, json={}).status_code == 200
    r = client.post(f"/sessions/{sid}/receipt/email", headers=DEV,
                    json={"to": "ban.doc@example.org"})
    assert r.status_code == 503 and r.json()["error"]["code"] == "mail_unavailable"
    assert len(relay.messages) == 1
