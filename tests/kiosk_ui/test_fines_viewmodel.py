"""The fines view-model against the fake edge: choose, pay, countdown, live status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from kiosk_ui.fake_edge import FakeEdge
from kiosk_ui.i18n import Localizer
from kiosk_ui.viewmodels.fines import FinesViewModel
from kiosk_ui.worker import InlineRunner


def _session(edge: FakeEdge) -> str:
    return str(edge.login("manual", "123456", "1234", "vi")["id"])


def _vm(edge: FakeEdge, runner: InlineRunner, localizer: Localizer) -> FinesViewModel:
    edge.fines = [{"fine_id": "11", "amount": 50000, "currency": "VND", "reason": "Trả muộn"},
                  {"fine_id": "12", "amount": 25000, "currency": "VND", "reason": "Hư hỏng"}]
    return FinesViewModel(edge, runner, localizer, poll=False)


def test_all_fines_are_chosen_and_paying_all_sends_no_ids(
        edge: FakeEdge, runner: InlineRunner, localizer: Localizer) -> None:
    vm = _vm(edge, runner, localizer)
    vm.begin(_session(edge))
    assert [(f["fine_id"], f["amount"], f["reason"]) for f in vm.fines] == [
        ("11", 50000, "Trả muộn"), ("12", 25000, "Hư hỏng")]
    assert vm.selected_total == 75000 and vm.status == "choosing"
    vm.pay()
    assert ("create_payment", None) in edge.calls
    assert vm.status == "pending" and vm.payment is not None and vm.payment["amount"] == 75000
    assert 590 <= vm.seconds_left() <= 600
    assert vm.seconds_left(datetime.now(UTC) + timedelta(hours=1)) == 0


def test_choosing_one_fine_pays_only_it(edge: FakeEdge, runner: InlineRunner,
                                        localizer: Localizer) -> None:
    vm = _vm(edge, runner, localizer)
    vm.begin(_session(edge))
    vm.toggle("11")
    assert vm.selected_total == 25000
    vm.pay()
    assert ("create_payment", ["12"]) in edge.calls and vm.payment["amount"] == 25000  # type: ignore[index]


def test_the_status_poll_and_the_websocket_event_show_the_payment(
        edge: FakeEdge, runner: InlineRunner, localizer: Localizer) -> None:
    vm = _vm(edge, runner, localizer)
    vm.begin(_session(edge))
    vm.pay()
    ref = str(vm.payment["reference"])  # type: ignore[index]
    vm.refresh_status()
    assert vm.status == "pending"
    edge.payments[ref]["status"] = "paid"
    vm.refresh_status()
    assert vm.status == "paid"
    # A second payment, told by the WebSocket event instead.
    vm.begin(_session(edge))
    vm.pay()
    other: dict[str, Any] = {"type": "payment", "reference": vm.payment["reference"],  # type: ignore[index]
                             "status": "paid"}
    vm.on_event({**other, "reference": "SOMETHING-ELSE"})
    assert vm.status == "pending"
    vm.on_event(other)
    assert vm.status == "paid"


def test_a_partial_payment_keeps_the_qr_for_the_rest_until_it_is_paid(
        edge: FakeEdge, runner: InlineRunner, localizer: Localizer) -> None:
    vm = _vm(edge, runner, localizer)
    vm.begin(_session(edge))
    vm.pay()
    ref = str(vm.payment["reference"])  # type: ignore[index]
    edge.payments[ref].update(status="partial", paid_amount=30000,
                              payload="000201010212FAKE-REST")
    vm.on_event({"type": "payment", "reference": ref, "status": "partial"})  # asks the edge
    assert vm.status == "partial" and vm.payment["paid_amount"] == 30000  # type: ignore[index]
    assert vm.payment["payload"] == "000201010212FAKE-REST"  # type: ignore[index]
    assert ("payment_status", ref) in edge.calls
    edge.payments[ref].update(status="paid", paid_amount=75000)
    vm.refresh_status()  # still polled while partial
    assert vm.status == "paid"
