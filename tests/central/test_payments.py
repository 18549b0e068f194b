"""The payments webhook at the centre: signature, replay window, each outcome, the staff page."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from central.config import CentralSection
from central.payments import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Intent,
    PaymentBook,
    PaymentService,
    sign,
)
from central.store import CentralStore
from central.web.app import create_app
from sync.messages import TransactionRequest
from tests.central.conftest import Clock, make_auth
from tests.central.test_web import PASSWORD, login

SECRET = b"test-webhook-secret-0123456789"
REF = "SL7Q2M4K"


@pytest.fixture
def sent() -> list[TransactionRequest]:
    return []


@pytest.fixture
def service(store: CentralStore, sent: list[TransactionRequest]) -> PaymentService:
    book = PaymentBook(store.db)
    book.record_intent(Intent(REF, "hn-01", "kiosk-01", "2000003", ("1", "2"), 75000,
                              datetime.now(UTC) + timedelta(minutes=10)))
    return PaymentService(book, SECRET, sent.append)


@pytest.fixture
def console(store: CentralStore, clock: Clock, service: PaymentService) -> Iterator[TestClient]:
    auth = make_auth(store, clock)
    auth.create_account("lan", PASSWORD, role="librarian")
    app = create_app(store, auth, CentralSection(), poll_s=0.05, payments=service)
    with TestClient(app, base_url="http://testserver") as client:
        yield client


def body(amount: int = 75000, txn: str = "VCB-1", ref: str = REF) -> bytes:
    return json.dumps({"reference": ref, "amount": amount, "paid_at": "2026-12-07T05:00:00Z",
                       "bank_txn_id": txn}).encode()


def post(client: TestClient, raw: bytes, *, secret: bytes = SECRET,
         ts: int | None = None, signature: str | None = None) -> object:
    stamp = str(int(time.time()) if ts is None else ts)
    sig = sign(secret, stamp, raw) if signature is None else signature
    return client.post("/payments/webhook", content=raw,
                       headers={SIGNATURE_HEADER: sig, TIMESTAMP_HEADER: stamp,
                                "Content-Type": "application/json"})


def test_exact_payment_submits_one_fee_paid_keyed_by_the_reference(
        console: TestClient, sent: list[TransactionRequest]) -> None:
    r = post(console, body())
    assert r.status_code == 200, r.text  # type: ignore[attr-defined]
    assert r.json()["outcome"] == "paid"  # type: ignore[attr-defined]
    [req] = sent
    assert (req.kind, req.patron, req.site, req.device) == ("fee_paid", "2000003", "hn-01",
                                                            "kiosk-01")
    assert req.payload["amount"] == 75000 and req.payload["reference"] == REF
    assert req.payload["fee_ids"] == ["1", "2"]


@pytest.mark.parametrize("case", ["bad", "missing", "replayed", "wrong-secret", "future"])
def test_a_notification_not_signed_by_the_bank_is_refused_and_not_recorded(
        console: TestClient, service: PaymentService, sent: list[TransactionRequest],
        case: str) -> None:
    raw = body()
    if case == "bad":
        r = post(console, raw, signature="sha256=" + "0" * 64)
    elif case == "missing":
        r = console.post("/payments/webhook", content=raw,
                         headers={TIMESTAMP_HEADER: str(int(time.time()))})
    elif case == "replayed":
        r = post(console, raw, ts=int(time.time()) - 3600)
    elif case == "future":
        r = post(console, raw, ts=int(time.time()) + 3600)
    else:
        r = post(console, raw, secret=b"another-secret-0123456789")
    assert r.status_code == 401  # type: ignore[attr-defined]
    assert "error" in r.json()  # type: ignore[attr-defined]
    assert sent == [] and service.book.payments() == []


def test_a_body_tampered_after_signing_is_refused(console: TestClient,
                                                  sent: list[TransactionRequest]) -> None:
    ts = str(int(time.time()))
    sig = sign(SECRET, ts, body(1000))
    r = console.post("/payments/webhook", content=body(75000),
                     headers={SIGNATURE_HEADER: sig, TIMESTAMP_HEADER: ts})
    assert r.status_code == 401 and sent == []


def test_a_duplicated_notification_is_idempotent(console: TestClient, service: PaymentService,
                                                 sent: list[TransactionRequest]) -> None:
    post(console, body())
    r = post(console, body())
    assert r.json()["outcome"] == "duplicate"  # type: ignore[attr-defined]
    assert len(sent) == 1
    [rec] = service.book.payments()
    assert (rec.outcome, rec.duplicates, rec.applied) == ("paid", 1, 75000)


def test_partial_then_the_rest_each_go_to_the_ils_under_their_own_key(
        console: TestClient, service: PaymentService, sent: list[TransactionRequest]) -> None:
    r = post(console, body(30000, "VCB-1"))
    assert r.json()["outcome"] == "partial"  # type: ignore[attr-defined]
    assert "45000 VND still owed" in r.json()["detail"]  # type: ignore[attr-defined]
    r = post(console, body(45000, "VCB-2"))
    assert r.json()["outcome"] == "paid"  # type: ignore[attr-defined]
    assert [q.payload["amount"] for q in sent] == [30000, 45000]
    assert sent[0].key != sent[1].key
    assert service.book.applied_for(REF) == 75000


def test_overpayment_sends_only_what_is_owed_and_records_the_excess(
        console: TestClient, service: PaymentService, sent: list[TransactionRequest]) -> None:
    r = post(console, body(100000))
    assert r.json()["outcome"] == "overpaid"  # type: ignore[attr-defined]
    assert "25000 VND to refund" in r.json()["detail"]  # type: ignore[attr-defined]
    assert [q.payload["amount"] for q in sent] == [75000]
    r = post(console, body(5000, "VCB-2"))  # a second transfer after it was paid
    assert (r.json()["outcome"], r.json()["applied"]) == ("overpaid", 0)  # type: ignore[attr-defined]
    assert len(sent) == 1


def test_a_late_payment_is_applied_and_flagged(store: CentralStore, console: TestClient,
                                               service: PaymentService,
                                               sent: list[TransactionRequest]) -> None:
    service.book.record_intent(Intent("SLOLD001", "hn-01", "kiosk-01", "2000003", ("1",),
                                      20000, datetime.now(UTC) - timedelta(minutes=1)))
    r = post(console, body(20000, "VCB-9", "SLOLD001"))
    assert r.json()["outcome"] == "late"  # type: ignore[attr-defined]
    assert "expired" in r.json()["detail"]  # type: ignore[attr-defined]
    assert [q.payload["amount"] for q in sent] == [20000]


def test_an_unknown_reference_is_recorded_and_nothing_is_sent(
        console: TestClient, service: PaymentService, sent: list[TransactionRequest]) -> None:
    r = post(console, body(10000, "VCB-5", "NOSUCHREF"))
    assert r.json()["outcome"] == "unmatched"  # type: ignore[attr-defined]
    assert sent == [] and service.book.payment("VCB-5") is not None


def test_a_malformed_body_is_refused_with_the_field_named(console: TestClient) -> None:
    raw = json.dumps({"reference": REF, "amount": "lots", "paid_at": "x",
                      "bank_txn_id": "1"}).encode()
    r = post(console, raw)
    assert r.status_code == 400 and "amount" in r.json()["error"]  # type: ignore[attr-defined]


def test_resubmit_sends_the_same_keys_again(service: PaymentService,
                                            sent: list[TransactionRequest],
                                            console: TestClient) -> None:
    post(console, body(30000, "VCB-1"))
    post(console, body(45000, "VCB-2"))
    first = [q.key for q in sent]
    assert service.resubmit() == 2
    assert [q.key for q in sent[2:]] == first


def test_the_staff_page_lists_each_outcome(console: TestClient) -> None:
    post(console, body(30000, "VCB-1"))
    post(console, body(30000, "VCB-1"))
    post(console, body(10000, "VCB-7", "NOSUCHREF"))
    assert console.get("/payments", follow_redirects=False).status_code in (302, 303)
    login(console, "lan")
    page = console.get("/payments").text
    assert "VCB-1" in page and "partial" in page and "unmatched" in page
    rows = {p["bank_txn_id"]: p for p in console.get("/api/payments").json()}
    assert rows["VCB-1"]["duplicates"] == 1 and rows["VCB-7"]["outcome"] == "unmatched"


def test_the_collector_records_an_intent_published_as_a_device_event(
        sqlite_store: CentralStore, clock: Clock) -> None:
    from central.collector import CentralCollector, make_collector_client
    from smartlib.config import BrokerSection
    from sync import topics
    from sync.messages import PAYMENT_INTENT_EVENT, DeviceEventReport, encode

    collector = CentralCollector(sqlite_store, make_collector_client(BrokerSection(), "c-unit"),
                                 host="127.0.0.1", port=1, clock=clock)
    expires = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)
    event = DeviceEventReport(site="hn-01", device="kiosk-02", event_id=7, source="kiosk-02",
                              kind=PAYMENT_INTENT_EVENT, at=expires,
                              detail={"reference": "SLEV0001", "patron": "2000003",
                                      "fee_ids": ["4"], "amount": 20000,
                                      "expires_at": expires.isoformat()})
    assert collector.handle(topics.event("hn-01", "kiosk-02"), encode(event)) == "event"
    intent = PaymentBook(sqlite_store.db).intent("SLEV0001")
    assert intent == Intent("SLEV0001", "hn-01", "kiosk-02", "2000003", ("4",), 20000, expires)
    bad = event.model_copy(update={"event_id": 8, "detail": {"reference": "SLEV0002",
                                                             "amount": -5}})
    assert collector.handle(topics.event("hn-01", "kiosk-02"), encode(bad)) == "dead"
    assert PaymentBook(sqlite_store.db).intent("SLEV0002") is None


def test_serve_builds_the_payment_service_from_the_configured_secret(tmp_path: Path) -> None:
    import click

    from central.cli import _payment_service
    from central.config import load_central_settings
    from central.db import open_database
    from central.store import CentralStore

    store = CentralStore(open_database(f"sqlite:///{tmp_path / 'c.db'}"))
    try:
        cfg = tmp_path / "central.toml"
        cfg.write_text("[central]\n")
        assert _payment_service(load_central_settings(cfg), store) is None
        secret = tmp_path / "bank.secret"
        secret.write_text("short\n")
        cfg.write_text(f'[payments]\nwebhook_secret_file = "{secret}"\n')
        with pytest.raises(click.ClickException, match="at least 16 bytes"):
            _payment_service(load_central_settings(cfg), store)
        secret.write_text("test-webhook-secret-0123456789\n")
        service = _payment_service(load_central_settings(cfg), store)
        body = b'{"reference":"X","amount":1,"paid_at":"t","bank_txn_id":"B"}'
        ts = str(int(time.time()))
        assert service.receive(body, sign(b"test-webhook-secret-0123456789", ts, body),
                               ts).outcome == "unmatched"
    finally:
        store.close()


def test_partial_overpaid_late_and_duplicate_are_visible_in_the_console(
        console: TestClient, service: PaymentService) -> None:
    """Each edge case has its outcome on the staff page (labelled in vi and en, the ones staff
    must act on highlighted, the kiosk and the amount owed beside it) and in its JSON twin,
    and the page filters by outcome."""
    late_ref = "SLLATE0001"
    service.book.record_intent(Intent(late_ref, "hn-01", "kiosk-02", "2000004", ("9",), 20000,
                                      datetime.now(UTC) - timedelta(minutes=1)))
    assert post(console, body(30000, "VCB-1")).json()["outcome"] == "partial"  # type: ignore[attr-defined]
    assert post(console, body(30000, "VCB-1")).json()["outcome"] == "duplicate"  # type: ignore[attr-defined]
    assert post(console, body(50000, "VCB-2")).json()["outcome"] == "overpaid"  # type: ignore[attr-defined]
    assert post(console, body(20000, "VCB-3", late_ref)).json()["outcome"] == "late"  # type: ignore[attr-defined]
    login(console, "lan")
    rows = {p["bank_txn_id"]: p for p in console.get("/api/payments").json()}
    # the overpayment settled the partial one (what is left is the refund and the late QR)
    assert {k: (v["outcome"], v["needs_staff"]) for k, v in rows.items()} == {
        "VCB-1": ("partial", False), "VCB-2": ("overpaid", True), "VCB-3": ("late", True)}
    assert rows["VCB-1"]["duplicates"] == 1 and "45000 VND still owed" in rows["VCB-1"]["detail"]
    assert "5000 VND to refund" in rows["VCB-2"]["detail"]
    assert (rows["VCB-3"]["device"], rows["VCB-3"]["owed"]) == ("kiosk-02", 20000)
    page = console.get("/payments?lang=en").text
    assert 'id="nav-payments"' in page and "Needs staff: <strong>2</strong>" in page
    for label in ("Partial payment", "Overpaid (refund due)", "Late (after the QR expired)"):
        assert f">{label}</td>" in page
    assert 'class="outcome-partial" data-txn="VCB-1"' in page
    assert 'class="outcome-overpaid attention" data-txn="VCB-2"' in page
    assert '<td class="duplicates">1</td>' in page and "hn-01/kiosk-01" in page
    vi = console.get("/payments?lang=vi").text
    assert ">Thanh toán một phần</td>" in vi and ">Trả thừa (cần hoàn tiền)</td>" in vi
    assert ">Trả sau khi mã hết hạn</td>" in vi
    only = console.get("/payments?outcome=duplicate&lang=en").text
    assert 'data-txn="VCB-1"' in only and 'data-txn="VCB-2"' not in only
    assert [p["bank_txn_id"] for p in console.get("/api/payments?outcome=late").json()] == \
        ["VCB-3"]
    assert console.get("/api/payments?outcome=nonsense").status_code == 422


def test_a_notification_that_overtook_the_intent_is_matched_when_the_intent_arrives(
        console: TestClient, service: PaymentService, sent: list[TransactionRequest],
        store: CentralStore) -> None:
    """The bank was faster than the kiosk's intent (device event -> broker -> collector):
    the notification is first ``unmatched``; recording the intent matches it, decides it as
    when it arrived, and journals its Fee Paid for the dispatcher (once)."""
    from central.payments import record_intent_event
    from sync.messages import PAYMENT_INTENT_EVENT, DeviceEventReport

    ref = "SLFAST0001"
    assert post(console, body(20000, "VCB-9", ref)).json()["outcome"] == "unmatched"  # type: ignore[attr-defined]
    assert sent == [] and service.book.unsent_submissions() == []
    expires = datetime.now(UTC) + timedelta(minutes=10)
    event = DeviceEventReport(site="hn-01", device="kiosk-02", event_id=1, source="kiosk-02",
                              kind=PAYMENT_INTENT_EVENT, at=datetime.now(UTC),
                              detail={"reference": ref, "patron": "2000004", "fee_ids": ["9"],
                                      "amount": 20000, "expires_at": expires.isoformat()})
    record_intent_event(store.db, event)
    rec = service.book.payment("VCB-9")
    assert rec is not None and (rec.outcome, rec.applied) == ("paid", 20000)
    assert "matched when the kiosk's intent arrived" in rec.detail
    [req] = service.book.unsent_submissions()
    assert (req.key, req.device, req.patron, req.payload["amount"]) == (
        rec.tx_key, "kiosk-02", "2000004", 20000)
    record_intent_event(store.db, event.model_copy(update={"event_id": 2}))  # re-announced
    assert len(service.book.unsent_submissions()) == 1


def test_a_partial_payment_settled_by_a_later_transfer_needs_no_staff(
        console: TestClient) -> None:
    assert post(console, body(30000, "VCB-1")).json()["outcome"] == "partial"  # type: ignore[attr-defined]
    login(console, "lan")
    assert console.get("/api/payments").json()[0]["needs_staff"] is True
    assert post(console, body(45000, "VCB-2")).json()["outcome"] == "paid"  # type: ignore[attr-defined]
    rows = {p["bank_txn_id"]: p for p in console.get("/api/payments").json()}
    assert rows["VCB-1"]["needs_staff"] is False and rows["VCB-2"]["needs_staff"] is False
    assert "Needs staff: <strong>0</strong>" in console.get("/payments?lang=en").text
