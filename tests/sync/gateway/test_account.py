"""The gateway's ``account`` look-up against the real demo ILS (SIP2 63/64 and 17/18).

The same :class:`sync.messages.Account` the GatewayDouble builds (tests/edge/doubles.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import pytest

from sync.gateway.account import parse_fine_item
from sync.gateway.applier import Applier
from sync.messages import Account, LookupRequest, LookupResponse, decode, encode
from sync.sip2.client import Sip2Client


class _OnePool:
    def __init__(self, client: Sip2Client) -> None:
        self.client = client

    @contextmanager
    def connection(self) -> Iterator[Sip2Client]:
        yield self.client


@pytest.fixture
def applier(demo_ils: Any) -> Iterator[Applier]:
    client = Sip2Client("127.0.0.1", demo_ils.port, user="kiosk01", password="s3cret",
                        institution="VNLIB", location="MAIN", keepalive=False)
    client.connect()
    try:
        yield Applier(_OnePool(client), "koha")
    finally:
        client.close()


def _account(applier: Applier, patron: str, pin: str | None = None) -> LookupResponse:
    req = LookupRequest(request_id=str(uuid.uuid4()), kind="account", site="site-a",
                        device="kiosk-a", patron=patron)
    if pin is not None:  # as the gateway has it once it opened the sealed PIN
        req = req.with_pin(pin)
    resp = applier.lookup(req)
    # What goes over MQTT decodes to the same model (one shape end to end).
    assert decode(LookupResponse, encode(resp)) == resp
    return resp


def test_2000003_owes_75000_vnd_in_two_itemised_fines(applier: Applier) -> None:
    acc = _account(applier, "2000003", "3456").account
    assert isinstance(acc, Account)
    assert acc.fine_total == Decimal(75000) and acc.currency == "VND"
    got = [(f.amount, f.currency, f.reason, f.item_id) for f in acc.fines]
    assert got == [(Decimal(50000), "VND", "Overdue 10 days", "30000070"),
                   (Decimal(25000), "VND", "Replacement library card", None)]
    assert all(f.date and len(f.date) == 10 for f in acc.fines)
    assert sum(f.amount or 0 for f in acc.fines) == acc.fine_total


def test_2000004_has_ready_holds_with_pickup_and_expiry_and_waiting_ones(applier: Applier) -> None:
    acc = _account(applier, "2000004").account
    assert acc is not None
    holds = {h.item_id: h for h in acc.holds}
    ready = {i for i, h in holds.items() if h.ready}
    assert ready == {"30000015", "30000016", "30000017", "30000018", "30000019"}
    assert {i for i, h in holds.items() if not h.ready} == {
        "30000010", "30000011", "30000012", "30000013", "30000014"}
    for h in holds.values():
        assert h.pickup_location == "MAIN" and h.title
        assert (h.expires is not None) == h.ready
    assert acc.loans == [] and acc.fines == []


def test_2000001_sees_overdue_loans_and_no_one_elses_hold_details(applier: Applier) -> None:
    acc = _account(applier, "2000001", "1234").account
    assert acc is not None
    overdue = {x.item_id for x in acc.loans if x.overdue}
    assert overdue == {"30000060", "30000061", "30000062", "30000063", "30000064"}
    assert {"30000030", "30000031", "30000032"} <= {x.item_id for x in acc.loans if not x.overdue}
    assert all(x.due_date and x.title for x in acc.loans)
    # Queued behind 2000004: waiting, and the first hold's pickup place is not shown.
    holds = {h.item_id: h for h in acc.holds}
    assert set(holds) == {"30000010", "30000015"}
    assert not any(h.ready or h.pickup_location or h.expires for h in holds.values())


def test_a_wrong_pin_gets_no_account(applier: Applier) -> None:
    resp = _account(applier, "2000003", "0000")
    assert resp.valid_pin is False and resp.account is None


@pytest.mark.parametrize(("text", "amount", "currency", "date", "reason"), [
    ("F7 50000 VND 20261201 Overdue 10 days", Decimal(50000), "VND", "2026-12-01", "Overdue 10 days"),
    ("17 $1.50 Overdue materials", Decimal("1.50"), "USD", None, "Overdue materials"),
    ("Lost book, ask at the desk", None, "USD", None, "Lost book, ask at the desk"),
])
def test_fine_items_are_read_or_kept_whole(text: str, amount: Decimal | None, currency: str,
                                           date: str | None, reason: str) -> None:
    fine = parse_fine_item(text, "USD")
    assert (fine.amount, fine.currency, fine.date, fine.reason) == (amount, currency, date, reason)


def test_an_18_with_ct_and_cy_decodes_whole_split_and_byte_by_byte() -> None:
    """A hand-written 18 (SIP2 2.00 field layout; CT/CY as in a 10) for a ready hold."""
    from sync.sip2.codec import NEED_DATA, Sip2Codec, Sip2StreamDecoder
    from sync.sip2.messages import ItemInformationResponse

    frame = (b"18080201" + b"20261207    101500" +
             b"CF1|CM20261214    235900|AB30000015|AJTruy\xe1\xbb\x87n Ki\xe1\xbb\x81u|"
             b"CTMAIN|CY2000004|\r")
    codec = Sip2Codec("utf-8", error_detection=False)
    whole = codec.decode_message(frame)
    assert isinstance(whole, ItemInformationResponse)
    assert (whole.circulation_status, whole.destination_location, whole.hold_patron_id,
            whole.hold_pickup_date, whole.title) == (
        "08", "MAIN", "2000004", "20261214    235900", "Truyện Kiều")
    for size in (1, 7):
        dec = Sip2StreamDecoder(codec)
        got = []
        for i in range(0, len(frame), size):
            dec.receive_data(frame[i:i + size])
            while not isinstance(out := dec.next_message(), type(NEED_DATA)):
                got.append(out)
        assert [d.message for d in got] == [whole]
