"""A bank payment from the central webhook to SIP2 Fee Paid (37) at the demo ILS, through the
real gateway and its ledger: exactly once, queued while the ILS is down, result to the kiosk."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from central.db import open_database
from central.payments import Intent, PaymentBook, PaymentService, sign
from central.store import CentralStore
from sync import topics
from sync.messages import TransactionRequest, encode
from tests.sync.gateway.harness import SITE, MqttProbe, SyncEnv, mqtt_client, wait_until

SECRET = b"gateway-test-secret-0123456789"
PATRON_WITH_FINES = "2000003"  # the demo ILS's patron owing 75,000 VND


def fines(ils: Any) -> int:
    with ils.circulation.lock:
        row = ils.circulation.db.execute("SELECT fines FROM patrons WHERE id=?",
                                         (PATRON_WITH_FINES,)).fetchone()
    return int(row[0])


def fee_paid_applications(ils: Any) -> list[dict[str, Any]]:
    return [a for a in ils.circulation.applications() if a["kind"] == "fee_paid"]


@pytest.fixture
def centre(sync_env: SyncEnv) -> Iterator[tuple[PaymentService, MqttProbe]]:
    store = CentralStore(open_database(str(sync_env.tmp / "central.db")))
    with mqtt_client(sync_env.broker.port) as link:
        def submit(req: TransactionRequest) -> None:
            link.publish(topics.tx(req.site, req.device), encode(req))

        book = PaymentBook(store.db)
        book.record_intent(Intent("SLPAY0001", SITE, "kiosk-01", PATRON_WITH_FINES, ("1",),
                                  75000, datetime.now(UTC) + timedelta(minutes=10)))
        try:
            yield PaymentService(book, SECRET, submit), link
        finally:
            store.close()


def notify(service: PaymentService, amount: int, txn: str) -> str:
    raw = json.dumps({"reference": "SLPAY0001", "amount": amount,
                      "paid_at": "2026-12-07T05:00:00Z", "bank_txn_id": txn}).encode()
    ts = str(int(time.time()))
    return service.receive(raw, sign(SECRET, ts, raw), ts).outcome


def test_one_payment_reaches_the_ils_once_and_the_kiosk_is_told(
        sync_env: SyncEnv, centre: tuple[PaymentService, MqttProbe]) -> None:
    service, link = centre
    link.subscribe(topics.result(SITE, "kiosk-01"))
    sync_env.start_gateway()
    store = sync_env.open_store()
    sync_env.start_agent()
    assert fines(sync_env.ils) == 75000
    assert notify(service, 75000, "VCB-1") == "paid"
    result = json.loads(link.get(timeout=20).payload)
    assert (result["kind"], result["status"], result["ok"]) == ("fee_paid", "applied", True)
    assert (result["paid_amount"], result["reference"]) == (75000, "SLPAY0001")
    assert fines(sync_env.ils) == 0
    with sync_env.ils.circulation.lock:  # the itemised fines are gone from the account too
        assert sync_env.ils.circulation.db.execute(
            "SELECT COUNT(*) FROM fines WHERE patron_id=?", (PATRON_WITH_FINES,)).fetchone()[0] == 0
    # The kiosk is told: its agent keeps the result where the payment screen reads it.
    told = wait_until(lambda: [e for e in store.events.recent(50)
                               if e.kind == "payment_result"], 20, what="payment_result event")
    assert told[0].detail["key"] == result["key"] and told[0].detail["ok"] is True
    assert (told[0].detail["amount"], told[0].detail["reference"]) == (75000, "SLPAY0001")
    # The bank repeats its notification and the centre re-submits after a "restart": the
    # gateway's ledger answers from its record; the ILS sees one Fee Paid.
    assert notify(service, 75000, "VCB-1") == "duplicate"
    assert service.resubmit() == 1
    again = json.loads(link.get(timeout=20).payload)
    assert again["key"] == result["key"] and again["replayed"] is True
    [app] = fee_paid_applications(sync_env.ils)
    assert app["xk"] == "SLPAY0001" and app["duplicate"] == 0


def test_a_payment_while_the_ils_is_down_is_applied_when_it_is_back(
        sync_env: SyncEnv, centre: tuple[PaymentService, MqttProbe]) -> None:
    service, link = centre
    link.subscribe(topics.result(SITE, "kiosk-01"))
    gw = sync_env.start_gateway()
    sync_env.ils.set_outage(True)
    assert notify(service, 30000, "VCB-1") == "partial"
    wait_until(lambda: gw.ledger.counts().get("in_progress", 0) >= 1 or gw.stats.get("errors"),
               20, what="the fee payment held by the gateway")
    assert fee_paid_applications(sync_env.ils) == [] and fines(sync_env.ils) == 75000
    sync_env.ils.set_outage(False)
    result = json.loads(link.get(timeout=60).payload)
    assert (result["kind"], result["ok"]) == ("fee_paid", True)
    assert fines(sync_env.ils) == 45000
    assert len(fee_paid_applications(sync_env.ils)) == 1


class _BalanceIls:
    """A SIP2 client double that answers 63 with a settable fee amount (BV)."""

    def __init__(self, fee_amount: str) -> None:
        self.fee_amount = fee_amount
        self.fee_paid_calls = 0

    def patron_information(self, *_a: Any, **_kw: Any) -> Any:
        from sync.sip2.messages import PatronInformationResponse

        return PatronInformationResponse(fee_amount=self.fee_amount)

    def fee_paid(self, *_a: Any, **_kw: Any) -> Any:
        from sync.errors import Sip2ConnectionError

        self.fee_paid_calls += 1
        raise Sip2ConnectionError("connection lost after the 37 went out")


def test_an_interrupted_fee_paid_is_verified_from_the_balance_not_resent() -> None:
    from contextlib import contextmanager

    from sync.errors import Sip2OutcomeUnknownError
    from sync.gateway.applier import Applier
    from sync.messages import utcnow
    from tests.sync.gateway.harness import new_key

    ils = _BalanceIls("75000")

    class Pool:
        @contextmanager
        def connection(self) -> Iterator[Any]:
            yield ils

    applier = Applier(Pool(), "generic")
    req = TransactionRequest(key=new_key(), kind="fee_paid", site=SITE, device="kiosk-01",
                             patron=PATRON_WITH_FINES, created_at=utcnow(),
                             payload={"amount": 75000, "reference": "SLPAY0001"})
    pre = applier.pre_state(req)
    assert pre == {"fee_amount": "75000"}
    with pytest.raises(Sip2OutcomeUnknownError):
        applier.apply(req)
    assert applier.verify(req, None) is None            # never reached its call: send it
    assert applier.verify(req, pre) is None             # the balance did not move: send it
    ils.fee_amount = "0"                                # the ILS took it before the line broke
    outcome = applier.verify(req, pre)
    assert outcome is not None and outcome.result.ok and outcome.result.recovered
    assert ils.fee_paid_calls == 1
