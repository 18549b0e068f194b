"""The kiosk's payment routes: a VietQR for chosen fines, the intent journaled, the status."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from edge.api.app import create_app
from edge.payments.desk import FEE_PAID_KEY_NAMESPACE, fee_paid_key
from edge.payments.vietqr import decode
from edge.services.container import EdgeServices
from smartlib.config import Settings
from tests.edge.test_api import DEV, _login

FINES = [{"fine_id": "11", "amount": 50000, "currency": "VND", "reason": "Overdue", "date":
          "2026-11-01"},
         {"fine_id": "12", "amount": 25000, "currency": "VND", "reason": "Damaged",
          "date": "2026-11-20"},
         {"fine_id": "13", "amount": None, "currency": "VND", "reason": "Unknown amount"}]


@pytest.fixture
def client(settings: Settings, services: EdgeServices,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    pay = settings.payments.model_copy(update={"enabled": True, "account": "0011001932418"})
    monkeypatch.setattr(services.settings, "payments", pay)
    real = services.circulation.account

    def account(session: Any) -> dict[str, Any]:
        out = real(session)
        return {**out, "fines": FINES, "offline": False}

    monkeypatch.setattr(services.circulation, "account", account)
    with TestClient(create_app(settings, services, start_services=False)) as c:
        yield c


def test_the_fines_are_listed_with_amounts_and_reasons(client: TestClient) -> None:
    sid = _login(client)
    r = client.get(f"/sessions/{sid}/fines", headers=DEV)
    assert r.status_code == 200, r.text
    got = r.json()
    assert [(f["fine_id"], f["amount"], f["reason"]) for f in got["fines"]] == [
        ("11", 50000, "Overdue"), ("12", 25000, "Damaged")]
    assert got["total"] == 75000


def test_pay_all_answers_a_vietqr_and_journals_the_intent(client: TestClient,
                                                          services: EdgeServices) -> None:
    sid = _login(client)
    r = client.post(f"/sessions/{sid}/payments", headers=DEV, json={"all": True})
    assert r.status_code == 201, r.text
    p = r.json()
    qr = decode(p["payload"])
    assert (qr.amount, qr.purpose, qr.bank_bin, qr.account) == (75000, p["reference"], "970415",
                                                                "0011001932418")
    assert p["amount"] == 75000 and p["status"] == "pending" and p["expires_at"]
    [event] = [e for e in services.store.events.recent(50) if e.kind == "payment_intent"]
    assert event.detail == {"reference": p["reference"], "patron": "2000001",
                            "fee_ids": ["11", "12"], "amount": 75000,
                            "expires_at": p["expires_at"],
                            "fines": [{"fine_id": "11", "amount": 50000, "reason": "Overdue"},
                                      {"fine_id": "12", "amount": 25000, "reason": "Damaged"}]}
    # The intent is exactly the message the centre reads.
    from sync.messages import PaymentIntent
    assert PaymentIntent.model_validate(event.detail).amount == 75000


def test_choose_one_fine_and_refuse_an_unknown_one(client: TestClient) -> None:
    sid = _login(client)
    r = client.post(f"/sessions/{sid}/payments", headers=DEV, json={"fee_ids": ["12"]})
    assert r.status_code == 201 and r.json()["amount"] == 25000
    r = client.post(f"/sessions/{sid}/payments", headers=DEV, json={"fee_ids": ["99"]})
    assert r.status_code == 422 and "99" in r.json()["error"]["message"]
    r = client.post(f"/sessions/{sid}/payments", headers=DEV, json={"fee_ids": []})
    assert r.status_code == 422 and r.json()["error"]["code"] == "nothing_to_pay"
    r = client.post(f"/sessions/{sid}/payments", headers=DEV, json={})  # no ids: all
    assert r.status_code == 201 and r.json()["amount"] == 75000


def test_the_status_turns_paid_when_the_gateway_result_arrives(
        client: TestClient, services: EdgeServices) -> None:
    sid = _login(client)
    ref = client.post(f"/sessions/{sid}/payments", headers=DEV, json={"all": True}).json()[
        "reference"]
    assert client.get(f"/sessions/{sid}/payments/{ref}", headers=DEV).json()["status"] == "pending"
    # What the agent stores when the gateway's fee_paid result for this kiosk arrives.
    services.store.events.record("kiosk-01", "payment_result",
                                 {"key": fee_paid_key(ref), "ok": True, "status": "applied"})
    with client.websocket_connect("/events?token=dev-tok") as ws:
        assert ws.receive_json()["type"] == "connectivity"
        r = client.get(f"/sessions/{sid}/payments/{ref}", headers=DEV)
        assert r.json()["status"] == "paid"
        ev = ws.receive_json()
        assert (ev["type"], ev["reference"], ev["status"]) == ("payment", ref, "paid")


def test_another_patrons_reference_is_not_found(client: TestClient) -> None:
    sid = _login(client)
    assert client.get(f"/sessions/{sid}/payments/SLNOPE", headers=DEV).status_code == 404


def test_the_key_namespace_is_the_centres() -> None:
    from central import payments

    assert FEE_PAID_KEY_NAMESPACE == payments._KEY_NAMESPACE
    assert fee_paid_key("SLX") == str(uuid.uuid5(payments._KEY_NAMESPACE, "SLX"))


def test_a_partial_payment_shows_what_arrived_and_a_qr_for_the_rest(
        client: TestClient, services: EdgeServices) -> None:
    """The first transfer (30,000 of 75,000) is applied: the status is ``partial`` with the
    amount received and the QR for the remaining 45,000 under the same reference; the
    second transfer (its own key, the same reference) makes it ``paid``."""
    sid = _login(client)
    ref = client.post(f"/sessions/{sid}/payments", headers=DEV, json={"all": True}).json()[
        "reference"]
    services.store.events.record("kiosk-01", "payment_result", {
        "key": fee_paid_key(ref), "ok": True, "status": "applied", "reference": ref,
        "amount": 30000})
    p = client.get(f"/sessions/{sid}/payments/{ref}", headers=DEV).json()
    assert (p["status"], p["amount"], p["paid_amount"]) == ("partial", 75000, 30000)
    qr = decode(p["payload"])
    assert (qr.amount, qr.purpose) == (45000, ref)
    later = str(uuid.uuid5(FEE_PAID_KEY_NAMESPACE, f"{ref}/VCB-2"))
    services.store.events.record("kiosk-01", "payment_result", {
        "key": later, "ok": True, "status": "applied", "reference": ref, "amount": 45000})
    p = client.get(f"/sessions/{sid}/payments/{ref}", headers=DEV).json()
    assert (p["status"], p["paid_amount"]) == ("paid", 75000)
