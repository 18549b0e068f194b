"""A fine payment's receipt: the renderers (hand-written golden text), the edge routes
(JSON, text, ESC/POS, PDF, print, e-mail once), and the one-send-per-receipt rule for the
session receipt's e-mail too."""

from __future__ import annotations

import email
import email.policy
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from edge.api.app import create_app
from edge.payments.desk import fee_paid_key
from edge.receipt import build_payment_receipt, receipt_escpos, receipt_text
from edge.receipt_mail import EmailOnce
from edge.services.container import EdgeServices
from smartlib.config import Settings, SmtpSection
from tests.edge.payments.test_desk_api import FINES
from tests.edge.test_api import DEV, _login
from tests.edge.test_receipt_mail import Relay, _pdf_words, relay, smtp_for  # noqa: F401

WHEN = "2026-12-07 10:30"

# Hand-written from the layout in docs/payments.md ("The payment receipt"), not generated.
GOLDEN_PARTIAL_VI = """\
Thư viện Demo
2026-12-07 10:30
Bạn đọc: ****003
------------------------------------------
Đã thanh toán
Số tiền: 30.000 VND
Mã tham chiếu: SLAB12CD34EF
Còn nợ: 45.000 VND
  Phí: Trả muộn 10 ngày
    50.000 VND
  Phí: Làm hỏng sách
    25.000 VND
------------------------------------------
Cảm ơn bạn!
"""


def test_payment_receipt_lists_each_fine_with_its_amount_and_what_is_still_owed() -> None:
    r = build_payment_receipt("Thư viện Demo", WHEN, "2000003", 30000, "SLAB12CD34EF",
                              fines=[("Trả muộn 10 ngày", 50000), ("Làm hỏng sách", 25000)],
                              owed=45000)
    assert receipt_text(r, "vi") == GOLDEN_PARTIAL_VI
    esc = receipt_escpos(r, "en")
    assert esc == (b"\x1b@\x1ba\x01\x1bE\x01Thu vien Demo\n\x1bE\x00\x1ba\x00"
                   b"2026-12-07 10:30\nPatron: ****003\n" + b"-" * 42 + b"\n"
                   b"Payment received\nAmount: 30,000 VND\nReference: SLAB12CD34EF\n"
                   b"Still owed: 45,000 VND\n"
                   b"  Fee: Tra muon 10 ngay\n    50,000 VND\n"
                   b"  Fee: Lam hong sach\n    25,000 VND\n"
                   + b"-" * 42 + b"\nThank you!\n\x1bd\x04\x1dV\x00")


# ---- the routes ------------------------------------------------------------------------


@pytest.fixture
def client(settings: Settings, services: EdgeServices, relay: Relay,  # noqa: F811
           monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    settings.smtp = smtp_for(relay)
    pay = settings.payments.model_copy(update={"enabled": True, "account": "0011001932418"})
    monkeypatch.setattr(services.settings, "payments", pay)
    real = services.circulation.account
    monkeypatch.setattr(services.circulation, "account",
                        lambda s: {**real(s), "fines": FINES, "offline": False})
    with TestClient(create_app(settings, services, start_services=False)) as c:
        yield c


def _pay(client: TestClient, services: EdgeServices, amount: int | None = 75000,
         ) -> tuple[str, str]:
    sid = _login(client)
    ref = client.post(f"/sessions/{sid}/payments", headers=DEV, json={"all": True}).json()[
        "reference"]
    if amount is not None:
        services.store.events.record("kiosk-01", "payment_result", {
            "key": fee_paid_key(ref), "ok": True, "status": "applied", "reference": ref,
            "amount": amount})
    return sid, ref


def test_no_receipt_before_the_payment_is_confirmed(client: TestClient,
                                                    services: EdgeServices) -> None:
    sid, ref = _pay(client, services, amount=None)
    r = client.get(f"/sessions/{sid}/payments/{ref}/receipt", headers=DEV)
    assert r.status_code == 409 and r.json()["error"]["code"] == "payment_not_confirmed"
    assert client.get(f"/sessions/{sid}/payments/SLNOPE/receipt",
                      headers=DEV).status_code == 404
    assert client.get(f"/sessions/{sid}/payments/{ref}/receipt").status_code == 401


def test_a_paid_payments_receipt_in_every_format(client: TestClient,
                                                 services: EdgeServices) -> None:
    sid, ref = _pay(client, services)
    r = client.get(f"/sessions/{sid}/payments/{ref}/receipt", headers=DEV)
    assert r.status_code == 200, r.text
    got = r.json()
    assert (got["kind"], got["amount"], got["reference"], got["owed"]) == (
        "payment", 75000, ref, None)
    assert got["lines"] == [{"description": "Overdue", "amount": 50000},
                            {"description": "Damaged", "amount": 25000}]
    assert got["library"] == services.settings.site.name and got["when"]
    text = client.get(f"/sessions/{sid}/payments/{ref}/receipt", headers=DEV,
                      params={"format": "text"}).text
    assert "Amount: 75,000 VND" in text and f"Reference: {ref}" in text
    assert "  Fee: Overdue\n    50,000 VND\n  Fee: Damaged\n    25,000 VND\n" in text
    esc = client.get(f"/sessions/{sid}/payments/{ref}/receipt", headers=DEV,
                     params={"format": "escpos"}).content
    assert esc.startswith(b"\x1b@") and f"Reference: {ref}\n".encode() in esc
    pdf = client.get(f"/sessions/{sid}/payments/{ref}/receipt", headers=DEV,
                     params={"format": "pdf"})
    assert pdf.headers["content-type"] == "application/pdf"
    assert "Amount: 75,000 VND" in _pdf_words(pdf.content)


def test_a_partial_payments_receipt_says_what_is_still_owed(
        client: TestClient, services: EdgeServices, monkeypatch: pytest.MonkeyPatch) -> None:
    sid, ref = _pay(client, services, amount=30000)
    got = client.get(f"/sessions/{sid}/payments/{ref}/receipt", headers=DEV).json()
    assert (got["amount"], got["owed"]) == (30000, 45000)
    printed: list[bytes] = []
    monkeypatch.setattr(services.devices, "print_bytes", printed.append)
    r = client.post(f"/sessions/{sid}/payments/{ref}/receipt/print", headers=DEV)
    assert r.status_code == 200 and r.json() == {"printed": True}
    [paper] = printed
    assert b"Amount: 30,000 VND\n" in paper and b"Still owed: 45,000 VND\n" in paper


def test_a_payment_receipt_is_emailed_once(client: TestClient, services: EdgeServices,
                                           relay: Relay) -> None:  # noqa: F811
    sid, ref = _pay(client, services)
    services.sessions.get(sid).email = "ban.doc@example.org"
    url = f"/sessions/{sid}/payments/{ref}/receipt/email"
    first = client.post(url, headers=DEV, json={})
    assert first.status_code == 200, first.text
    assert first.json() == {"sent": True, "to_masked": "b***@example.org", "repeated": False}
    again = client.post(url, headers=DEV, json={})
    assert again.json() == {"sent": True, "to_masked": "b***@example.org", "repeated": True}
    [(tls, rcpts, raw)] = relay.messages
    assert tls and rcpts == ["ban.doc@example.org"]
    body = email.message_from_bytes(raw, policy=email.policy.default).get_body(
        ("plain",)).get_content()
    assert f"Reference: {ref}" in body and "Amount: 75,000 VND" in body


# ---- one e-mail per receipt --------------------------------------------------------------


def _session_with_email(client: TestClient, services: EdgeServices) -> str:
    sid = _login(client)
    services.sessions.get(sid).email = "ban.doc@example.org"
    return sid


def test_two_presses_at_once_send_one_email(client: TestClient, services: EdgeServices,
                                            relay: Relay, monkeypatch) -> None:  # noqa: F811
    """The second request arrives while the first is still talking to the relay: it waits
    and answers the first's outcome; the relay gets one message."""
    sid = _session_with_email(client, services)
    from edge.receipt_mail import ReceiptMailer

    inside, release = threading.Event(), threading.Event()
    real_send = ReceiptMailer.send

    def slow_send(self: ReceiptMailer, msg: Any) -> None:
        inside.set()
        assert release.wait(30)
        real_send(self, msg)

    monkeypatch.setattr(ReceiptMailer, "send", slow_send)
    answers: list[Any] = []
    first = threading.Thread(target=lambda: answers.append(
        client.post(f"/sessions/{sid}/receipt/email", headers=DEV, json={})))
    first.start()
    assert inside.wait(30)
    second = threading.Thread(target=lambda: answers.append(
        client.post(f"/sessions/{sid}/receipt/email", headers=DEV, json={})))
    second.start()
    release.set()
    first.join(30)
    second.join(30)
    assert sorted(a.json()["repeated"] for a in answers) == [False, True]
    assert all(a.status_code == 200 and a.json()["sent"] for a in answers)
    assert len(relay.messages) == 1


def test_a_failed_send_is_repeated_as_failed_until_a_retry(
        client: TestClient, services: EdgeServices, settings: Settings,
        relay: Relay) -> None:  # noqa: F811
    sid = _session_with_email(client, services)
    good = settings.smtp
    settings.smtp = SmtpSection()   # no relay configured: the send fails
    url = f"/sessions/{sid}/receipt/email"
    r = client.post(url, headers=DEV, json={})
    assert r.status_code == 503 and r.json()["error"]["code"] == "mail_unavailable"
    settings.smtp = good
    r = client.post(url, headers=DEV, json={})   # a double press: the first outcome
    assert r.status_code == 503 and relay.messages == []
    r = client.post(url, headers=DEV, json={"retry": True})
    assert r.status_code == 200 and r.json()["repeated"] is False
    r = client.post(url, headers=DEV, json={"retry": True})   # sent: never again
    assert r.json()["repeated"] is True and len(relay.messages) == 1
    kinds = [(e.detail["state"]) for e in reversed(services.store.events.recent(50))
             if e.kind == "receipt_email"]
    assert kinds == ["sending", "failed", "sending", "sent"]


def test_a_restart_mid_send_is_answered_as_failed_not_resent() -> None:
    class Events:
        def __init__(self) -> None:
            self.rows: list[Any] = []

        def record(self, device: str, kind: str, detail: dict[str, Any]) -> None:
            from types import SimpleNamespace
            self.rows.insert(0, SimpleNamespace(kind=kind, detail=detail))

        def recent(self, limit: int, device: str | None = None) -> list[Any]:
            return self.rows[:limit]

    events = Events()
    events.record("k", "receipt_email", {"key": "session/s1/1", "state": "sending",
                                         "to_masked": "b***@example.org"})
    sent: list[int] = []
    outcome, repeated = EmailOnce(events, "k").send("session/s1/1", "ban.doc@example.org",
                                                    lambda: sent.append(1))
    assert repeated and not outcome.sent and outcome.code == "mail_unavailable"
    assert sent == []


def test_new_lines_make_a_new_receipt_to_email(client: TestClient, services: EdgeServices,
                                               relay: Relay) -> None:  # noqa: F811
    from edge.services.sessions import ReceiptLine

    sid = _session_with_email(client, services)
    url = f"/sessions/{sid}/receipt/email"
    assert client.post(url, headers=DEV, json={}).json()["repeated"] is False
    services.sessions.get(sid).lines.append(ReceiptLine("3000001", "Truyện Kiều", "return"))
    assert client.post(url, headers=DEV, json={}).json()["repeated"] is False
    assert len(relay.messages) == 2


def test_the_kiosks_fake_edge_answers_in_the_real_edges_shape(
        client: TestClient, services: EdgeServices, relay: Relay) -> None:  # noqa: F811
    from kiosk_ui.fake_edge import FakeEdge

    sid, ref = _pay(client, services, amount=30000)
    services.sessions.get(sid).email = "ban.doc@example.org"
    real = client.get(f"/sessions/{sid}/payments/{ref}/receipt", headers=DEV).json()
    real_mail = client.post(f"/sessions/{sid}/payments/{ref}/receipt/email", headers=DEV,
                            json={}).json()
    fake = FakeEdge()
    fake.fines = [{"fine_id": "11", "amount": 50000, "reason": "Overdue"},
                  {"fine_id": "12", "amount": 25000, "reason": "Damaged"}]
    fsid = fake.login("manual", "123456", "1234", "vi")["id"]
    fref = fake.create_payment(fsid)["reference"]
    fake.payments[fref].update(status="partial", paid_amount=30000)
    got = fake.payment_receipt(fsid, fref)
    assert set(got) == set(real)
    assert [set(ln) for ln in got["lines"]] == [set(ln) for ln in real["lines"]]
    assert (got["amount"], got["owed"]) == (real["amount"], real["owed"]) == (30000, 45000)
    assert set(fake.email_payment_receipt(fsid, fref)) == set(real_mail)
