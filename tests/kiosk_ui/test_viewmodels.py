"""View-model unit tests: every flow headless, against the fake edge, on an inline runner."""

from __future__ import annotations

from typing import Any

import pytest

from kiosk_ui.errors import EdgeApiError, PatronFacingError
from kiosk_ui.fake_edge import FakeEdge
from kiosk_ui.viewmodels import KioskViewModel, Screen
from kiosk_ui.viewmodels.circulation import DONE, WAITING, WORKING
from tests.kiosk_ui.conftest import login


class HeldRunner:
    """Queues calls so a test can look at the state while they are under way."""

    def __init__(self) -> None:
        self.queue: list[Any] = []

    def submit(self, fn: Any, on_ok: Any, on_err: Any) -> None:
        self.queue.append((fn, on_ok, on_err))

    def run_all(self) -> None:
        while self.queue:
            fn, ok, err = self.queue.pop(0)
            try:
                res = fn()
            except PatronFacingError as exc:
                err(exc)
            else:
                ok(res)

    def shutdown(self) -> None:
        self.queue.clear()


# ---- login -----------------------------------------------------------------------------

def test_manual_login_opens_menu(root_vm: KioskViewModel, edge: FakeEdge) -> None:
    login(root_vm)
    assert root_vm.screen == Screen.MENU
    assert root_vm.patron_name == "Nguyễn Thị Lan"
    assert ("login", ("manual", "123456")) in edge.calls
    assert root_vm.remaining_s == 60   # the session's idle_timeout_s wins over the default


def test_keypad_types_number_then_masked_pin(root_vm: KioskViewModel) -> None:
    lvm = root_vm.login
    root_vm.go(Screen.LOGIN)
    for k in "123456":
        lvm.press(k)
    lvm.press("ok")            # moves to the PIN field first
    assert lvm.field == "pin"
    for k in "1235":
        lvm.press(k)
    lvm.press("back")
    assert lvm.masked_pin == "●●●"
    assert "1" not in lvm.masked_pin
    lvm.press("4")
    lvm.press("ok")
    assert root_vm.screen == Screen.MENU


@pytest.mark.parametrize(("number", "pin", "code", "vi", "en"), [
    ("123456", "0000", "wrong_pin", "Mã PIN không đúng", "The PIN is wrong"),
    ("555", "1234", "unknown_patron", "Không tìm thấy bạn đọc", "We do not know this card"),
    ("999", "1111", "patron_blocked", "bị khóa", "blocked"),
    ("888", "2222", "card_expired", "hết hạn", "expired"),
])
def test_login_errors_in_both_languages(root_vm: KioskViewModel, number: str, pin: str,
                                        code: str, vi: str, en: str) -> None:
    login(root_vm, number, pin)
    lvm = root_vm.login
    assert root_vm.screen == Screen.LOGIN
    assert lvm.error_code == code
    assert vi in lvm.error_text
    root_vm.set_language("en")
    assert en in lvm.error_text


def test_wrong_pin_clears_pin_and_focuses_it(root_vm: KioskViewModel) -> None:
    login(root_vm, "123456", "9999")
    assert root_vm.login.pin_length == 0
    assert root_vm.login.field == "pin"
    assert root_vm.login.number == "123456"


def test_number_without_pin_is_never_sent(root_vm: KioskViewModel, edge: FakeEdge) -> None:
    lvm = root_vm.login
    root_vm.go(Screen.LOGIN)
    for k in "123456":
        lvm.press(k)
    lvm.press("ok")            # to the PIN field
    lvm.press("ok")            # no PIN typed: refused here, nothing sent
    assert lvm.error_code == "pin_required" and lvm.field == "pin"
    assert "mã PIN" in lvm.error_text
    root_vm.set_language("en")
    assert "enter your PIN" in lvm.error_text
    assert not [c for c in edge.calls if c[0] == "login"]
    for k in "1234":
        lvm.press(k)
    lvm.press("ok")
    assert root_vm.screen == Screen.MENU


def test_fake_edge_wants_the_pin_of_a_typed_number(edge: FakeEdge) -> None:
    with pytest.raises(EdgeApiError) as ei:
        edge.login("manual", "123456", None, "vi")
    assert ei.value.code == "pin_required" and ei.value.status == 401
    # a barcode without the scan token read_scan answered is a typed number too
    with pytest.raises(EdgeApiError) as ei:
        edge.login("barcode", "123456", None, "vi")
    assert ei.value.code == "pin_required"
    token = edge.read_scan("123456")["scan_token"]
    with pytest.raises(EdgeApiError) as ei:      # bound to its identifier, and spent
        edge.login("barcode", "654321", None, "vi", scan_token=token)
    token = edge.read_scan("123456")["scan_token"]
    assert edge.login("barcode", "123456", None, "vi",
                      scan_token=token)["patron"]["name"] == "Nguyễn Thị Lan"


def test_empty_number_is_a_validation_error(root_vm: KioskViewModel, edge: FakeEdge) -> None:
    root_vm.go(Screen.LOGIN)
    root_vm.login.submit()
    assert root_vm.login.error_code == "validation_error"
    assert not [c for c in edge.calls if c[0] == "login"]


def test_barcode_login(root_vm: KioskViewModel, edge: FakeEdge) -> None:
    root_vm.go(Screen.LOGIN)
    root_vm.login.submit_barcode("123456\n")
    assert root_vm.screen == Screen.MENU
    # the raw scan goes to the edge to be read, then its identifier logs in as a barcode
    assert [c for c in edge.calls if c[0] in ("read_scan", "login")] == [
        ("read_scan", "123456\n"), ("login", ("barcode", "123456"))]


def test_card_poll_is_silent_without_card_and_logs_in_with_one(
        root_vm: KioskViewModel, edge: FakeEdge) -> None:
    root_vm.login.poll_card()
    assert root_vm.login.error_text == ""
    assert root_vm.screen == Screen.ATTRACT
    edge.card_on_reader = "04A1B2C3"
    root_vm.login.poll_card()
    assert root_vm.screen == Screen.MENU


def test_refused_card_is_shown_once_not_on_every_poll(root_vm: KioskViewModel, edge: FakeEdge) -> None:
    edge.card_on_reader = "DEADBEEF"
    shown = []
    root_vm.login.changed.connect(lambda: shown.append(root_vm.login.error_code))
    root_vm.login.poll_card()
    assert root_vm.login.error_code == "unknown_patron"
    root_vm.login.set_error(None)
    root_vm.login.poll_card()
    assert root_vm.login.error_code is None


def test_card_polling_runs_only_without_session(root_vm: KioskViewModel) -> None:
    root_vm.start()
    assert root_vm.login.card_timer.isActive()
    login(root_vm)
    assert not root_vm.login.card_timer.isActive()
    root_vm.end_session()
    assert root_vm.login.card_timer.isActive()


# ---- borrow ----------------------------------------------------------------------------

def _borrow(root_vm: KioskViewModel, edge: FakeEdge, *items: str) -> None:
    for item in items:
        root_vm.on_event(edge.tag_event(item))


def test_borrow_rows_fill_from_tag_events(root_vm: KioskViewModel, edge: FakeEdge) -> None:
    login(root_vm)
    root_vm.go(Screen.BORROW)
    b = root_vm.borrow
    assert b.state == WAITING
    _borrow(root_vm, edge, "3001", "3004", "3005", "3006", "3007")
    rows = {r["item_id"]: r for r in b.model.rows}
    assert rows["3001"]["status"] == "loaned" and rows["3001"]["due_date"] == "2026-12-07"
    assert rows["3004"]["status"] == "on_hold_for_other"
    assert rows["3005"]["status"] == "incomplete_set"
    assert rows["3006"]["status"] == "refused"
    assert rows["3007"]["status"] == "loaned_alarm_on"
    assert b.counts == {"ok": 2, "refused": 3, "pending": 0}
    assert b.state == DONE
    assert root_vm.transactions == 2


def test_borrow_row_shows_checking_until_the_edge_answers(
        edge: FakeEdge, localizer: Any) -> None:
    held = HeldRunner()
    vm = KioskViewModel(edge, held, localizer)
    login(vm)
    held.run_all()
    vm.go(Screen.BORROW)
    held.run_all()
    vm.on_event(edge.tag_event("3002"))
    assert vm.borrow.model.rows[0]["status"] == "checking"
    assert vm.borrow.state == WORKING
    from kiosk_ui.text import status_text
    assert status_text(vm.borrow.model.rows[0], "vi") == "Đang kiểm tra…"
    held.run_all()
    assert vm.borrow.model.rows[0]["status"] == "loaned"
    assert vm.borrow.state == DONE
    vm.stop()


def test_a_tag_gone_before_the_edge_handled_it_leaves_no_row(
        edge: FakeEdge, localizer: Any) -> None:
    # A tag event still queued from the screen before (or a tag lifted at once): the
    # edge answers item_not_on_pad and the row disappears instead of showing a refusal.
    held = HeldRunner()
    vm = KioskViewModel(edge, held, localizer)
    login(vm)
    held.run_all()
    vm.go(Screen.RETURN)
    held.run_all()
    vm.on_event(edge.tag_event("3101"))
    vm.on_event(edge.tag_event("3102"))
    edge.lift("3101")
    assert [r["status"] for r in vm.returns.model.rows] == ["checking", "checking"]
    held.run_all()
    assert [(r["item_id"], r["status"]) for r in vm.returns.model.rows] == [("3102", "returned")]
    assert vm.returns.counts == {"ok": 1, "refused": 0, "pending": 0}
    # An explicit refusal of another kind still shows.
    vm.on_event(edge.tag_event("9999"))
    held.run_all()
    assert vm.returns.model.rows[-1]["status"] == "refused"
    vm.stop()


def test_refusal_reason_follows_the_patron_language(root_vm: KioskViewModel, edge: FakeEdge) -> None:
    from kiosk_ui.models import DETAIL_ROLE

    login(root_vm)
    root_vm.go(Screen.BORROW)
    _borrow(root_vm, edge, "3006")
    m = root_vm.borrow.model
    assert "không được mượn về" in m.data(m.index(0, 0), DETAIL_ROLE)
    root_vm.set_language("en")
    assert "cannot be borrowed" in m.data(m.index(0, 0), DETAIL_ROLE)


def test_item_status_event_updates_row(root_vm: KioskViewModel, edge: FakeEdge) -> None:
    login(root_vm)
    root_vm.go(Screen.BORROW)
    _borrow(root_vm, edge, "3001")
    sid = root_vm.session_id
    root_vm.on_event({"type": "item_status", "session": sid,
                      "item": {"item_id": "3001", "title": "Truyện Kiều", "status": "loaned_alarm_on"}})
    assert root_vm.borrow.model.rows[0]["status"] == "loaned_alarm_on"
    root_vm.on_event({"type": "item_status", "session": "someone-else",
                      "item": {"item_id": "3001", "status": "refused"}})
    assert root_vm.borrow.model.rows[0]["status"] == "loaned_alarm_on"
    root_vm.on_event({"type": "item_status", "session": sid,     # not on this screen's list
                      "item": {"item_id": "3999", "status": "loaned_alarm_on"}})
    assert root_vm.borrow.model.rowCount() == 1


def test_items_already_on_the_pad_are_processed_on_entry(root_vm: KioskViewModel, edge: FakeEdge) -> None:
    login(root_vm)
    edge.pad = ["3001", "3002"]
    root_vm.go(Screen.BORROW)
    assert [r["status"] for r in root_vm.borrow.model.rows] == ["loaned", "loaned"]
    assert ("checkout", None) in edge.calls


def test_done_item_seen_again_is_not_sent_twice(root_vm: KioskViewModel, edge: FakeEdge) -> None:
    login(root_vm)
    root_vm.go(Screen.BORROW)
    _borrow(root_vm, edge, "3001", "3001")
    assert edge.calls.count(("checkout", ["3001"])) == 1
    assert root_vm.borrow.model.rowCount() == 1


def test_tags_are_ignored_outside_borrow_and_return(root_vm: KioskViewModel, edge: FakeEdge) -> None:
    login(root_vm)
    _borrow(root_vm, edge, "3001")
    assert root_vm.borrow.model.rowCount() == 0
    assert ("checkout", ["3001"]) not in edge.calls


# ---- one press, one call per item (issue 17, the kiosk's side) -------------------------

def _checkouts(edge: FakeEdge) -> list[Any]:
    return [c for c in edge.calls if c[0] == "checkout"]


@pytest.fixture
def held_vm(edge: FakeEdge, localizer: Any) -> Any:
    """A logged-in root view-model whose edge calls wait in a :class:`HeldRunner`."""
    held = HeldRunner()
    vm = KioskViewModel(edge, held, localizer)
    login(vm)
    held.run_all()
    assert vm.screen == Screen.MENU
    yield vm, held
    vm.stop()


def test_tags_arriving_during_the_entry_sweep_are_not_sent_again(held_vm: Any,
                                                                  edge: FakeEdge) -> None:
    vm, held = held_vm
    events = [edge.tag_event("3001"), edge.tag_event("3002")]   # two books on the pad
    vm.go(Screen.BORROW)                      # the entry sweep is under way ...
    for evt in events:                        # ... as the pad's tag events come in
        vm.on_event(evt)
    assert [r["status"] for r in vm.borrow.model.rows] == ["checking", "checking"]
    held.run_all()
    assert _checkouts(edge) == [("checkout", None)]   # the sweep took both; no call per tag
    assert {r["item_id"]: r["status"] for r in vm.borrow.model.rows} == {
        "3001": "loaned", "3002": "loaned"}
    assert vm.borrow.state == DONE and vm.transactions == 2


def test_a_tag_the_sweep_did_not_cover_is_sent_once_after_it(held_vm: Any,
                                                             edge: FakeEdge) -> None:
    vm, held = held_vm
    first = edge.tag_event("3001")
    vm.go(Screen.BORROW)
    [(sweep, on_ok, _on_err)] = held.queue
    held.queue.clear()
    answer = sweep()                          # the edge reads the pad: 3001 only
    vm.on_event(first)
    vm.on_event(edge.tag_event("3002"))       # put down just after the edge read the pad
    assert held.queue == []                   # nothing sent while the sweep is open
    on_ok(answer)
    held.run_all()
    assert _checkouts(edge) == [("checkout", None), ("checkout", ["3002"])]
    assert {r["item_id"]: r["status"] for r in vm.borrow.model.rows} == {
        "3001": "loaned", "3002": "loaned"}


@pytest.mark.parametrize("via_menu", [False, True], ids=["double-press", "back-and-in-again"])
def test_entering_borrow_again_during_the_sweep_sends_no_second_sweep(
        held_vm: Any, edge: FakeEdge, via_menu: bool) -> None:
    vm, held = held_vm
    edge.tag_event("3001")
    vm.go(Screen.BORROW)
    if via_menu:
        vm.back()
        assert vm.screen == Screen.MENU
    vm.go(Screen.BORROW)                      # the second press, before the sweep answered
    held.run_all()
    assert _checkouts(edge) == [("checkout", None)]
    assert [(r["item_id"], r["status"]) for r in vm.borrow.model.rows] == [("3001", "loaned")]
    vm.on_event(edge.tag_event("3002"))       # and the screen still works after it
    held.run_all()
    assert _checkouts(edge)[-1] == ("checkout", ["3002"])


def test_a_failed_sweep_fails_the_tags_it_held_without_sending_them(
        held_vm: Any, edge: FakeEdge, monkeypatch: pytest.MonkeyPatch) -> None:
    vm, held = held_vm
    event = edge.tag_event("3001")
    vm.go(Screen.BORROW)
    vm.on_event(event)

    def broken(session_id: str, items: list[str] | None = None) -> Any:
        edge.calls.append(("checkout", items))
        raise EdgeApiError("internal_error", "boom", status=500)

    monkeypatch.setattr(edge, "checkout", broken)
    held.run_all()
    # The sweep may have checked 3001 out before it failed: sending 3001 again could be a
    # second checkout, so its row shows the failure and the patron places it again.
    assert _checkouts(edge) == [("checkout", None)]
    [row] = vm.borrow.model.rows
    assert (row["status"], row["code"]) == ("refused", "internal_error")
    monkeypatch.undo()
    vm.on_event(edge.tag_event("3001"))       # placed again: sent now
    held.run_all()
    assert _checkouts(edge)[-1] == ("checkout", ["3001"])
    assert vm.borrow.model.rows[0]["status"] == "loaned"


# ---- return ----------------------------------------------------------------------------

def test_anonymous_return_with_sorting_and_fine(root_vm: KioskViewModel, edge: FakeEdge) -> None:
    root_vm.start_anonymous_return()
    assert root_vm.screen == Screen.RETURN and root_vm.session is None
    _borrow(root_vm, edge, "3102", "3103", "3001")
    rows = {r["item_id"]: r for r in root_vm.returns.model.rows}
    assert rows["3102"]["sort"]["kind"] == "hold_shelf"
    assert rows["3103"]["sort"]["kind"] == "transit"
    assert rows["3001"]["status"] == "refused" and rows["3001"]["code"] == "not_on_loan"
    assert root_vm.returns.fines == [{"amount": 15000, "currency": "VND"}]
    from kiosk_ui.models import DETAIL_ROLE, NOTE_ROLE
    m = root_vm.returns.model
    assert "kệ giữ sách" in m.data(m.index(0, 0), DETAIL_ROLE)
    assert m.data(m.index(0, 0), NOTE_ROLE) == "Tiền phạt: 15.000 ₫"
    assert "Thư viện Hội An" in m.data(m.index(1, 0), DETAIL_ROLE)


def test_anonymous_return_offers_a_receipt_to_show_and_print(root_vm: KioskViewModel,
                                                               edge: FakeEdge) -> None:
    # Attract's step 3 promises a receipt: an anonymous return gives one too.
    root_vm.start_anonymous_return()
    _borrow(root_vm, edge, "3102", "3001")      # 3001 is not on loan: refused, not listed
    [key] = root_vm.returns.transactions
    root_vm.finish()
    assert root_vm.screen == Screen.RECEIPT and root_vm.session is None
    r = root_vm.receipt
    assert ("return_receipt", [key]) in edge.calls
    lines = r.text_lines()
    assert lines[0] == "Thư viện Tỉnh Quảng Nam"
    assert not any(ln.startswith("Thẻ") for ln in lines)          # no card on it
    assert lines[-1].endswith(edge.items["3102"]["title"])
    assert not r.email_available
    r.show_qr()
    assert edge.items["3102"]["title"] in r.qr_payload()
    r.print_receipt()
    assert ("print_return_receipt", [key]) in edge.calls
    assert root_vm.screen == Screen.ATTRACT and not root_vm.returns.transactions


def test_anonymous_return_of_nothing_ends_without_a_receipt(root_vm: KioskViewModel,
                                                            edge: FakeEdge) -> None:
    root_vm.start_anonymous_return()
    _borrow(root_vm, edge, "3001")              # refused: nothing was returned
    root_vm.finish()
    assert root_vm.screen == Screen.ATTRACT
    assert not any(c[0] == "return_receipt" for c in edge.calls)


def test_anonymous_return_off(edge: FakeEdge, runner: Any, localizer: Any) -> None:
    vm = KioskViewModel(edge, runner, localizer, anonymous_return=False)
    vm.start_anonymous_return()
    assert vm.screen == Screen.ATTRACT
    assert vm.error_code == "anonymous_return_off"


def test_return_in_session_counts_for_receipt(root_vm: KioskViewModel, edge: FakeEdge) -> None:
    login(root_vm)
    root_vm.go(Screen.RETURN)
    _borrow(root_vm, edge, "3101")
    assert root_vm.transactions == 1
    assert ("return", ["3101"]) in edge.calls


# ---- renew -----------------------------------------------------------------------------

def test_renew_selected_and_all(root_vm: KioskViewModel, edge: FakeEdge) -> None:
    login(root_vm)
    root_vm.go(Screen.RENEW)
    r = root_vm.renew
    assert [x["item_id"] for x in r.loans.rows] == ["3101", "3102", "3103"]
    r.renew_selected()
    assert r.error_code == "nothing_selected"
    r.loans.toggle(1)
    assert r.selected == ["3102"]
    r.renew_selected()
    assert ("renew", ["3102"]) in edge.calls
    rows = {x["item_id"]: x for x in r.loans.rows}
    assert rows["3102"]["status"] == "renewed" and rows["3102"]["due_date"] == "2026-12-21"
    assert "status" not in rows["3101"]
    r.renew_all()
    rows = {x["item_id"]: x for x in r.loans.rows}
    assert rows["3103"]["status"] == "refused" and rows["3103"]["code"] == "renew_refused"
    assert rows["3101"]["status"] == "renewed"
    assert root_vm.transactions == 3


# ---- account ---------------------------------------------------------------------------

def test_account_loans_holds_fines(root_vm: KioskViewModel) -> None:
    login(root_vm)
    root_vm.go(Screen.ACCOUNT)
    a = root_vm.account
    assert a.loans.rowCount() == 3 and a.overdue_count == 1
    assert a.ready_count == 1
    assert a.holds.rows[0]["ready"] is True
    assert a.fine_total == "15.000 ₫"
    root_vm.set_language("en")
    assert a.fine_total == "15,000 VND"


# ---- receipt and session end -----------------------------------------------------------

def test_finish_without_transactions_ends_at_once(root_vm: KioskViewModel, edge: FakeEdge) -> None:
    login(root_vm)
    sid = root_vm.session_id
    root_vm.finish()
    assert root_vm.screen == Screen.ATTRACT and root_vm.session is None
    assert ("end_session", sid) in edge.calls


def test_finish_offers_receipt_then_print_ends(root_vm: KioskViewModel, edge: FakeEdge) -> None:
    login(root_vm)
    root_vm.go(Screen.BORROW)
    _borrow(root_vm, edge, "3001")
    root_vm.finish()
    assert root_vm.screen == Screen.RECEIPT
    lines = root_vm.receipt.text_lines()
    assert any("Truyện Kiều" in ln and "07/12/2026" in ln for ln in lines)
    assert "Truyện Kiều" in root_vm.receipt.qr_payload()
    root_vm.receipt.show_qr()
    assert root_vm.receipt.showing_qr
    sid = root_vm.session_id
    root_vm.receipt.print_receipt()
    assert ("print_receipt", sid) in edge.calls
    assert root_vm.screen == Screen.ATTRACT
    assert ("end_session", sid) in edge.calls


def test_skip_receipt(root_vm: KioskViewModel, edge: FakeEdge) -> None:
    login(root_vm)
    root_vm.go(Screen.BORROW)
    _borrow(root_vm, edge, "3001")
    root_vm.finish()
    root_vm.receipt.skip()
    assert root_vm.screen == Screen.ATTRACT
    assert not [c for c in edge.calls if c[0] == "print_receipt"]


def test_print_failure_is_shown(root_vm: KioskViewModel, edge: FakeEdge) -> None:
    login(root_vm)
    root_vm.go(Screen.BORROW)
    _borrow(root_vm, edge, "3001")
    root_vm.finish()

    def broken(_sid: str) -> Any:
        raise EdgeApiError("device_unavailable", "no printer", {"vi": "Máy in hỏng", "en": "Printer broken"})

    edge.print_receipt = broken  # type: ignore[method-assign]
    root_vm.receipt.print_receipt()
    assert root_vm.screen == Screen.RECEIPT
    assert root_vm.receipt.error_text == "Máy in hỏng"


def test_session_end_wipes_everything_and_resets_language(root_vm: KioskViewModel, edge: FakeEdge) -> None:
    login(root_vm)
    root_vm.set_language("en")
    root_vm.go(Screen.BORROW)
    _borrow(root_vm, edge, "3001")
    root_vm.end_session()
    assert root_vm.session is None and root_vm.transactions == 0
    assert root_vm.borrow.model.rowCount() == 0
    assert root_vm.localizer.language == "vi"
    assert root_vm.remaining_s == -1
    assert root_vm.login.number == ""


def test_idle_countdown_ends_session(root_vm: KioskViewModel, edge: FakeEdge) -> None:
    login(root_vm)
    assert root_vm.idle_timer.isActive()
    for _ in range(59):
        root_vm._tick()
    assert root_vm.remaining_s == 1 and root_vm.countdown_warning
    root_vm.activity()
    assert root_vm.remaining_s == 60 and not root_vm.countdown_warning
    for _ in range(60):
        root_vm._tick()
    assert root_vm.screen == Screen.ATTRACT and root_vm.session is None
    assert [c for c in edge.calls if c[0] == "end_session"]


def test_edge_session_events(root_vm: KioskViewModel) -> None:
    login(root_vm)
    sid = root_vm.session_id
    root_vm.on_event({"type": "session_timeout", "session": sid, "remaining_s": 9})
    assert root_vm.remaining_s == 9
    root_vm.on_event({"type": "session_ended", "session": "other", "reason": "timeout"})
    assert root_vm.session is not None
    root_vm.on_event({"type": "session_ended", "session": sid, "reason": "timeout"})
    assert root_vm.session is None and root_vm.screen == Screen.ATTRACT
    assert root_vm.notice == "timeout"


def test_session_expired_error_returns_to_attract(root_vm: KioskViewModel, edge: FakeEdge) -> None:
    login(root_vm)
    edge.sessions.clear()
    root_vm.go(Screen.ACCOUNT)
    assert root_vm.screen == Screen.ATTRACT
    assert root_vm.notice == "session_expired"


# ---- connectivity ----------------------------------------------------------------------

def test_gateway_offline_banner_with_policy(root_vm: KioskViewModel, edge: FakeEdge) -> None:
    root_vm.start()
    assert not root_vm.gateway_offline
    root_vm.on_event({"type": "connectivity", "gateway": "offline"})
    assert root_vm.gateway_offline and root_vm.offline_max_items == 5
    root_vm.on_event({"type": "connectivity", "gateway": "online"})
    assert not root_vm.gateway_offline


def test_edge_down_out_of_service_and_recovery(root_vm: KioskViewModel, edge: FakeEdge) -> None:
    root_vm.start()
    login(root_vm)
    edge.down = True
    root_vm.probe()
    assert root_vm.screen == Screen.OUT_OF_SERVICE
    assert not root_vm.login.card_timer.isActive()
    assert root_vm.health_timer.interval() <= 2000
    edge.down = False
    root_vm.probe()
    assert root_vm.screen == Screen.ATTRACT
    assert root_vm.session is None
    assert root_vm.login.card_timer.isActive()


def test_unreachable_during_a_call_goes_out_of_service(root_vm: KioskViewModel, edge: FakeEdge) -> None:
    login(root_vm)
    edge.down = True
    root_vm.go(Screen.ACCOUNT)
    assert root_vm.screen == Screen.OUT_OF_SERVICE


def test_event_link_drop_triggers_probe(root_vm: KioskViewModel, edge: FakeEdge) -> None:
    n = sum(1 for c in edge.calls if c[0] == "health")
    root_vm.on_events_connected(False)
    assert sum(1 for c in edge.calls if c[0] == "health") == n + 1


# ---- admin and navigation guards -------------------------------------------------------

def test_admin_exit_code(root_vm: KioskViewModel, qtbot: Any) -> None:
    assert not root_vm.admin_exit("0000")
    with qtbot.waitSignal(root_vm.quit_requested, timeout=1000):
        assert root_vm.admin_exit("2468")


def test_session_screens_need_login(root_vm: KioskViewModel) -> None:
    with pytest.raises(RuntimeError):
        root_vm.go(Screen.BORROW)


def test_late_answer_after_reset_is_dropped(edge: FakeEdge, localizer: Any) -> None:
    held = HeldRunner()
    vm = KioskViewModel(edge, held, localizer)
    login(vm)
    held.run_all()
    vm.go(Screen.ACCOUNT)
    vm.end_session()
    held.run_all()
    assert vm.account.loans.rowCount() == 0
    vm.stop()


# ---- barcode scans (keyboard wedge) ------------------------------------------------------

@pytest.mark.parametrize(("scan", "reason"), [
    ("", "empty scan"), ("   ", "empty scan"), ("12\x0034", "control character"),
    ("\x1b123456", "control character"),
])
def test_bad_scan_is_refused_with_a_clear_error(root_vm: KioskViewModel, edge: FakeEdge,
                                                scan: str, reason: str) -> None:
    root_vm.go(Screen.LOGIN)
    root_vm.login.submit_barcode(scan)
    lvm = root_vm.login
    assert root_vm.screen == Screen.LOGIN
    assert lvm.error_code == "bad_scan" and reason in lvm._error.message   # type: ignore[union-attr]
    assert "Không đọc được mã vạch" in lvm.error_text
    root_vm.set_language("en")
    assert "The scan could not be read" in lvm.error_text
    assert ("read_scan", scan) in edge.calls            # the edge judged the scan
    assert not [c for c in edge.calls if c[0] == "login"]
    assert lvm.number == "" and not lvm.busy


def test_scanner_affixes_are_required_and_stripped(edge: FakeEdge, runner: Any,
                                                   localizer: Any) -> None:
    edge.scan_prefix, edge.scan_suffix = "]C1", "#\r"      # the edge's [card_reader]
    vm = KioskViewModel(edge, runner, localizer, scan_prefix="]C1", scan_suffix="#\r")
    vm.go(Screen.LOGIN)
    vm.login.submit_barcode("123456#")
    assert vm.login.error_code == "bad_scan"
    assert "prefix" in vm.login._error.message   # type: ignore[union-attr]
    vm.login.submit_barcode("]C1123456")
    assert "suffix" in vm.login._error.message   # type: ignore[union-attr]
    assert not [c for c in edge.calls if c[0] == "login"]
    vm.login.submit_barcode("]C1123456#")
    assert vm.screen == Screen.MENU
    assert ("login", ("barcode", "123456")) in edge.calls
    vm.stop()


# ---- offline policy, /info, theme --------------------------------------------------------

def test_offline_policy_limits_from_health(root_vm: KioskViewModel, edge: FakeEdge) -> None:
    edge.offline_policy = {"login": "card-only", "max_items": 3, "max_value": 250_000}
    root_vm.probe()
    assert (root_vm.offline_max_items, root_vm.offline_max_value, root_vm.offline_login) == (
        3, 250_000, "card-only")
    edge.offline_policy = {"login": "bogus", "max_items": True}
    root_vm.probe()
    assert (root_vm.offline_max_items, root_vm.offline_max_value, root_vm.offline_login) == (
        None, None, None)


def test_failed_info_call_is_logged(root_vm: KioskViewModel, edge: FakeEdge,
                                    monkeypatch: pytest.MonkeyPatch,
                                    caplog: pytest.LogCaptureFixture) -> None:
    def info() -> Any:
        raise EdgeApiError("internal_error", "boom", status=500)

    monkeypatch.setattr(edge, "info", info)
    with caplog.at_level("WARNING", logger="kiosk_ui.viewmodels.kiosk"):
        root_vm.start()
    assert any("GET /info failed" in r.getMessage() and "internal_error" in r.getMessage()
               for r in caplog.records)
    assert root_vm.site_name == "Thư viện Demo"    # the configured name stays


def test_theme_switches_and_session_end_restores_it(root_vm: KioskViewModel, qtbot: Any) -> None:
    with qtbot.waitSignal(root_vm.theme_changed, timeout=1000):
        root_vm.set_large_text(True)
    with qtbot.waitSignal(root_vm.theme_changed, timeout=1000):
        root_vm.set_high_contrast(True)
    with qtbot.assertNotEmitted(root_vm.theme_changed):
        root_vm.set_high_contrast(True)            # no change, no signal
    login(root_vm)
    assert root_vm.large_text and root_vm.high_contrast
    with qtbot.waitSignal(root_vm.theme_changed, timeout=1000):
        root_vm.end_session()
    assert not root_vm.large_text and not root_vm.high_contrast


# ---- admin lockout ---------------------------------------------------------------------

class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_admin_exit_locks_after_five_wrong_codes(edge: FakeEdge, runner: Any, localizer: Any,
                                                 qtbot: Any) -> None:
    from kiosk_ui.viewmodels.kiosk import ADMIN_LOCKOUT_S, ADMIN_MAX_TRIES

    clock = FakeClock()
    vm = KioskViewModel(edge, runner, localizer, admin_exit_code="2468", clock=clock)
    assert ADMIN_MAX_TRIES == 5 and ADMIN_LOCKOUT_S == 60
    for _ in range(4):
        assert not vm.admin_exit("1111")
    assert vm.admin_locked_s == 0
    assert not vm.admin_exit("1111")              # the fifth: locked
    assert vm.admin_locked_s == 60
    with qtbot.assertNotEmitted(vm.quit_requested):
        assert not vm.admin_exit("2468")          # even the right code, while locked
    clock.now += 59.5
    assert vm.admin_locked_s == 1 and not vm.admin_exit("2468")
    clock.now += 0.5
    assert vm.admin_locked_s == 0
    with qtbot.waitSignal(vm.quit_requested, timeout=1000):
        assert vm.admin_exit("2468")
    vm.stop()


def test_no_admin_code_means_no_admin_exit(edge: FakeEdge, runner: Any, localizer: Any) -> None:
    vm = KioskViewModel(edge, runner, localizer, admin_exit_code="")
    assert not vm.admin_exit("") and not vm.admin_exit("0000")
    vm.stop()


# ---- receipt QR ------------------------------------------------------------------------

def _receipt_vm(root_vm: KioskViewModel, lines: list[dict[str, Any]]) -> Any:
    r = root_vm.receipt
    r._loaded({"library": "Thư viện Tỉnh Quảng Nam", "when": "2026-11-23T14:07:00+07:00",
               "patron_masked": "***456", "lines": lines})
    return r


def test_qr_carries_the_whole_receipt_when_it_fits(root_vm: KioskViewModel) -> None:
    from kiosk_ui.viewmodels.receipt import QR_FULL

    r = _receipt_vm(root_vm, [{"item_id": "3001", "title": "Truyện Kiều — Nguyễn Du",
                               "action": "checkout", "due_date": "2026-12-07"}])
    assert r.qr_form == QR_FULL
    assert r.qr_payload().splitlines() == [
        "Thư viện Tỉnh Quảng Nam", "2026-11-23 14:07", "Thẻ: ***456",
        "Mượn: Truyện Kiều — Nguyễn Du — hạn trả 07/12/2026"]


def test_long_receipt_qr_is_the_compact_form_not_a_cut(root_vm: KioskViewModel) -> None:
    from kiosk_ui.viewmodels.receipt import QR_COMPACT, QR_MAX_BYTES

    lines = [{"item_id": f"30{i:02d}", "title": f"Từ điển bách khoa Việt Nam, tập {i} " + "ạ" * 30,
              "action": "checkout", "due_date": "2026-12-07"} for i in range(20)]
    r = _receipt_vm(root_vm, lines)
    assert len("\n".join(r.text_lines()).encode()) > QR_MAX_BYTES
    payload = r.qr_payload()
    assert r.qr_form == QR_COMPACT and len(payload.encode()) <= QR_MAX_BYTES
    rows = payload.splitlines()
    assert rows[:3] == ["Thư viện Tỉnh Quảng Nam", "2026-11-23 14:07", "Thẻ: ***456"]
    assert rows[3:] == [f"Mượn: 30{i:02d} — hạn trả 07/12/2026" for i in range(20)]


def test_huge_receipt_qr_says_how_many_lines_are_left_out(root_vm: KioskViewModel) -> None:
    from kiosk_ui.viewmodels.receipt import QR_MAX_BYTES, QR_PARTIAL

    lines = [{"item_id": f"39{i:04d}", "title": "x", "action": "return"} for i in range(300)]
    r = _receipt_vm(root_vm, lines)
    payload = r.qr_payload()
    assert r.qr_form == QR_PARTIAL and len(payload.encode()) <= QR_MAX_BYTES
    rows = payload.splitlines()
    kept = rows[3:-1]
    assert kept == [f"Trả: 39{i:04d}" for i in range(len(kept))]   # whole lines, in order
    assert rows[-1] == f"…và {300 - len(kept)} mục khác (không có trong mã này)"
    root_vm.set_language("en")
    rows = r.qr_payload().splitlines()
    assert rows[3:-1] == [f"Returned: 39{i:04d}" for i in range(len(rows) - 4)]
    assert rows[-1] == f"…and {300 - (len(rows) - 4)} more (not in this code)"


def test_health_answer_older_than_a_connectivity_event_does_not_undo_it(
        edge: FakeEdge, localizer: Any) -> None:
    held = HeldRunner()
    vm = KioskViewModel(edge, held, localizer)
    vm.probe()
    held.run_all()                               # online, and the policy is known
    vm.probe()                                   # still under way when the event comes
    vm.on_event({"type": "connectivity", "gateway": "offline"})
    held.run_all()                               # the older answer says "online"
    assert vm.gateway_offline and vm.offline_max_items == 5   # the event wins; limits kept
    vm.probe()
    held.run_all()                               # a newer answer is believed again
    assert not vm.gateway_offline
    vm.stop()


def test_account_in_the_edges_shape_shows_itemised_fines_and_ready_holds(
        root_vm: KioskViewModel, edge: FakeEdge) -> None:
    """Amounts come as the edge sends them (decimal strings, from the ILS's AV and BV)."""
    from PySide6.QtCore import Qt

    from kiosk_ui.text import format_date

    edge.fines = [{"fine_id": "F1", "amount": "50000", "currency": "VND",
                   "reason": "Overdue 10 days", "date": "2026-11-25", "item_id": "30000070"},
                  {"fine_id": "F2", "amount": "25000", "currency": "VND",
                   "reason": "Replacement library card", "date": "2026-10-28", "item_id": None}]
    login(root_vm)
    root_vm.go(Screen.ACCOUNT)
    a = root_vm.account
    cell = lambda m, r, c: m.data(m.index(r, c), Qt.ItemDataRole.DisplayRole)  # noqa: E731
    assert cell(a.fines, 0, 0) == "Overdue 10 days · 25/11/2026"
    assert cell(a.fines, 0, 1) == "50.000 ₫" and a.fine_total == "75.000 ₫"
    assert cell(a.holds, 0, 1).endswith(f"đến {format_date('2026-12-14', 'vi')}")
    assert a.holds.rows[0]["ready"] and "·" not in cell(a.holds, 1, 1)
    root_vm.set_language("en")
    assert cell(a.fines, 1, 1) == "25,000 VND" and a.fine_total == "75,000 VND"
    assert cell(a.holds, 0, 1).endswith(f"until {format_date('2026-12-14', 'en')}")


def test_a_refused_renewal_row_carries_the_ils_reason() -> None:
    from kiosk_ui.text import status_text

    row = {"item_id": "30000010", "status": "refused", "code": "renew_refused",
           "ils_message": "Cannot renew: item is on hold for another patron"}
    assert status_text(row, "en").endswith("(Cannot renew: item is on hold for another patron)")
