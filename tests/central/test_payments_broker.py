"""The webhook's Fee Paid requests reach the kiosk's tx topic through the collector's own
broker account (its ACL writes the devices' ``tx`` topics), once each, after the broker
acknowledged them."""

from __future__ import annotations

import json
import queue
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from central.payments import Intent, PaymentBook, PaymentService, sign
from sync.broker import gateway_acl
from sync.messages import TransactionRequest
from tests.central.conftest import PASSWORDS, Central

SECRET = b"test-webhook-secret-0123456789"


@pytest.fixture
def site_broker(mosquitto_factory: Any, central_site: str) -> Any:
    """The collector's account as ``smartlib central broker-account`` writes it, a kiosk, and
    a gateway that reads every tx topic."""
    from central.collector import collector_acl
    from sync.broker import device_acl

    acl = "\n".join([device_acl(central_site, "kiosk-01"), gateway_acl("gw", None),
                     collector_acl("central", None)])
    return mosquitto_factory(users={**PASSWORDS, "gw": "gw-pw"}, acl=acl)


def _gateway(port: int) -> tuple[mqtt.Client, queue.Queue[tuple[str, bytes]]]:
    got: queue.Queue[tuple[str, bytes]] = queue.Queue()
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="gw-test",
                    protocol=mqtt.MQTTv5)
    c.username_pw_set("gw", "gw-pw")
    c.on_message = lambda _c, _u, m: got.put((m.topic, m.payload))
    subscribed = queue.Queue[int]()
    c.on_subscribe = lambda *_a: subscribed.put(1)
    c.connect("127.0.0.1", port)
    c.loop_start()
    c.subscribe("smartlib/v1/+/+/tx", qos=1)
    subscribed.get(timeout=10)
    return c, got


def test_a_paid_notification_is_published_once_on_the_kiosks_tx_topic(
        central: Central, central_site: str) -> None:
    gw, got = _gateway(central.broker.port)
    try:
        book = PaymentBook(central.store.db)
        book.record_intent(Intent("SLAB12CD34EF", central_site, "kiosk-01", "2000003",
                                  ("7",), 75000, datetime.now(UTC) + timedelta(minutes=10)))
        service = PaymentService(book, SECRET)  # no submitter: the journal only
        body = json.dumps({"reference": "SLAB12CD34EF", "amount": 75000,
                           "paid_at": "2026-12-07T05:00:00Z", "bank_txn_id": "VCB-1"}).encode()
        ts = str(int(time.time()))
        rec = service.receive(body, sign(SECRET, ts, body), ts)
        assert rec.outcome == "paid" and rec.applied == 75000
        topic, payload = got.get(timeout=15)
        assert topic == f"smartlib/v1/{central_site}/kiosk-01/tx"
        req = TransactionRequest.model_validate_json(payload)
        assert (req.kind, req.patron, req.key) == ("fee_paid", "2000003", rec.tx_key)
        assert req.payload["amount"] == 75000 and req.payload["reference"] == "SLAB12CD34EF"
        # Marked sent after the PUBACK: the next pass publishes nothing again.
        deadline = time.monotonic() + 10
        while book.unsent_submissions() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert book.unsent_submissions() == []
        # A duplicated notification journals nothing new.
        assert service.receive(body, sign(SECRET, ts, body), ts).outcome == "duplicate"
        with pytest.raises(queue.Empty):
            got.get(timeout=1.5)
        # After a restart, resubmit() queues the recorded request again (the ledger dedups).
        assert service.resubmit() == 1
        topic, payload = got.get(timeout=15)
        assert TransactionRequest.model_validate_json(payload).key == rec.tx_key
    finally:
        gw.loop_stop()
        gw.disconnect()
