"""Circulation through the services, with a fake pad and the GatewayDouble (agent+gateway+ILS).

The end-to-end versions over the real simulator, Mosquitto, agent, gateway and demo ILS are
in test_e2e.py (they need the sync and simulator packages).
"""

from __future__ import annotations

import json

import pytest

from drivers.credential import PatronCredential
from edge.errors import EdgeError
from edge.services.sessions import hash_pin, verify_pin
from edge.store import HoldRecord, ItemRecord, LoanRecord
from tests.edge.doubles import make_tag

RELEASED, SECURED = 0xC2, 0x07


def login(services, pid="2000001", pin="1234"):
    return services.sessions.login(PatronCredential("manual", pid, pid.encode()), pin, "vi")


def put(reader, *tags):
    for t in tags:
        reader.tags[t.uid] = t


def test_ten_item_stack_is_loaned_and_released(services, reader, ils) -> None:
    tags = [make_tag(f"30000{i:02d}") for i in range(10)]
    put(reader, *tags)
    s = login(services)
    results = services.circulation.checkout(s)
    assert sorted(r.status for r in results) == ["loaned"] * 10
    assert {r.due_date for r in results} == {"2026-12-14"}
    assert all(t.afi == RELEASED for t in tags)
    assert set(ils.loans) == {f"30000{i:02d}" for i in range(10)}
    assert set(ils.applications("checkout").values()) == {1}  # each item lent once
    assert all(services.store.cache.is_on_loan(f"30000{i:02d}") for i in range(10))
    assert services.store.outbox.unhandled() == []
    assert services.store.security.open() == []


def test_return_secures_then_checks_in_with_hold_hint(services, reader, ils) -> None:
    tags = [make_tag("3000100", afi=RELEASED), make_tag("3000101", afi=RELEASED)]
    put(reader, *tags)
    ils.loans.update({"3000100": "2000001", "3000101": "2000001"})
    ils.holds["3000101"] = "2000002"
    results = {r.item_id: r for r in services.circulation.return_items(None)}
    assert results["3000101"].sort == {"kind": "hold_shelf", "destination": "MAIN", "bin": "H",
                                       "bin_code": "H"}
    assert all(t.afi == SECURED for t in tags) and ils.loans == {}
    kinds = [e.kind for e in services.store.outbox.list()]
    assert kinds == ["checkin", "checkin"]


def test_partial_set_is_refused_and_not_journaled(services, reader) -> None:
    put(reader, make_tag("3000200", parts=2, part=1))
    s = login(services)
    [r] = services.circulation.checkout(s)
    assert r.status == "incomplete_set" and r.code == "incomplete_set"
    assert r.message["vi"] and r.message["en"]
    assert services.store.outbox.list() == []
    put(reader, make_tag("3000200", parts=2, part=2))
    [r] = services.circulation.checkout(s)
    assert r.status == "loaned"
    assert len(services.store.security.for_item("3000200")) == 2


def test_partial_set_warn_policy_proceeds_with_warning(services, reader) -> None:
    services.circulation.policy = services.settings.policy.model_copy(update={"partial_set": "warn"})
    put(reader, make_tag("3000210", parts=3, part=1))
    [r] = services.circulation.checkout(login(services))
    assert r.status == "loaned" and r.message == {
        "vi": "Bộ tài liệu chưa đủ các phần, hãy đặt đủ lên khay",
        "en": "Some parts of this set are missing; place all of them on the pad"}


def test_hold_for_another_patron_refused_locally_and_by_ils(services, reader, ils) -> None:
    t1, t2 = make_tag("3000300"), make_tag("3000301")
    put(reader, t1, t2)
    services.store.cache.apply_delta(holds=[HoldRecord("3000300", "2000002")])
    ils.holds["3000301"] = "2000002"  # the cache does not know: the ILS refuses
    results = {r.item_id: r for r in services.circulation.checkout(login(services))}
    assert results["3000300"].status == "on_hold_for_other"
    assert results["3000301"].status == "on_hold_for_other"
    # The real result has no reason code: the ILS's text is mapped (REFUSAL_TEXTS).
    assert results["3000301"].code == "on_hold_for_other"
    assert results["3000301"].ils_message == "Item is on hold for another patron"
    assert t1.afi == SECURED and t2.afi == SECURED and ils.loans == {}


def test_not_loanable_and_loan_limit(services, reader) -> None:
    put(reader, make_tag("3000400", usage=2), make_tag("3000401"), make_tag("3000402"))
    s = login(services)
    s.loan_limit = 1
    results = {r.item_id: r.code or r.status
               for r in services.circulation.checkout(s)}
    assert results == {"3000400": "not_loanable", "3000401": "loaned", "3000402": "loan_limit"}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_afi_faults_never_release_without_loan_and_retry_until_clean(services, reader, ils,
                                                                     seed) -> None:
    reader.afi_fail_rate, reader.rng.seed(seed)
    reader.afi_fail_rate = 0.3
    tags = [make_tag(f"30005{i:02d}") for i in range(10)]
    put(reader, *tags)
    results = services.circulation.checkout(login(services))
    statuses = {r.item_id: r.status for r in results}
    assert set(statuses.values()) <= {"loaned", "loaned_alarm_on"}
    for t in tags:  # nothing released without a loan in the ILS
        if t.afi == RELEASED:
            assert t.memory and ils.loans.get(next(iid for iid in statuses if iid in t.memory.decode("latin-1")))
    alarm_items = {i for i, st in statuses.items() if st == "loaned_alarm_on"}
    assert {a.item_id for a in services.store.alarms.list()} == alarm_items
    for _ in range(50):
        if not services.store.security.open():
            break
        services.recovery.run_once()
    assert services.store.security.open() == []
    assert all(t.afi == RELEASED for t in tags)


def test_offline_checkout_policy_and_later_conflict(services, reader, gateway, ils) -> None:
    s = login(services)
    gateway.online = False
    tags = [make_tag(f"30006{i:02d}") for i in range(3)]
    put(reader, *tags)
    services.store.cache.bulk_load("items", [ItemRecord(f"30006{i:02d}", value=10) for i in range(3)],
                                   replace=False)
    results = {r.item_id: r for r in services.circulation.checkout(s)}
    accepted = [i for i, r in results.items() if r.status == "offline_accepted"]
    refused = [i for i, r in results.items() if r.status == "refused"]
    assert len(accepted) == 2 and len(refused) == 1  # offline_max_items = 2
    assert results[refused[0]].code == "offline_limit"
    assert all(services.store.outbox.get(results[i].transaction).offline for i in accepted)
    cancelled = services.store.outbox.get(results[refused[0]].transaction)
    assert cancelled.state == "failed" and cancelled.result["code"] == "cancelled"
    ils.holds[accepted[0]] = "2000002"  # the ILS will refuse this one even with no-block
    gateway.online = True
    gateway.pump()
    assert services.store.outbox.get(results[accepted[0]].transaction).state == "conflict"
    assert [c.item_id for c in services.store.conflicts.list()] == [accepted[0]]
    assert ils.calls[cancelled.key] == 0


def test_offline_returns_are_counted(services, reader, gateway, ils) -> None:
    """An offline return counts as ``return`` and ``return_offline`` (the central console's
    offline transactions are ``checkout_offline`` + ``return_offline``)."""
    gateway.online = False
    tags = [make_tag("3000650", afi=RELEASED), make_tag("3000651", afi=RELEASED)]
    put(reader, *tags)
    results = services.circulation.return_items(None)
    assert [r.status for r in results] == ["offline_accepted", "offline_accepted"]
    totals = services.store.counters.totals("2000-01-01T00")
    assert totals["return"] == 2 and totals["return_offline"] == 2


def test_renew_and_account(services, reader, ils) -> None:
    ils.loans.update({"3000700": "2000001", "3000701": "2000001"})
    s = login(services)
    rs = services.circulation.renew(s, ["3000700"])
    assert [(r.item_id, r.status, r.due_date) for r in rs] == [("3000700", "renewed", "2027-01-01")]
    rs = services.circulation.renew(s, all_items=True)
    assert sorted(r.item_id for r in rs) == ["3000700", "3000701"]
    acct = services.circulation.account(s)
    assert sorted(loan["item_id"] for loan in acct["loans"]) == ["3000700", "3000701"]
    assert acct["offline"] is False


def test_login_online_offline_and_pins(services, gateway) -> None:
    with pytest.raises(EdgeError) as e:
        login(services, pin="0000")
    assert e.value.code == "wrong_pin"
    with pytest.raises(EdgeError) as e:
        login(services, pid="9999999")
    assert e.value.code == "unknown_patron"
    s = login(services)
    assert not s.offline and s.name == "Patron 001"
    cached = services.store.cache.patron("2000001")
    assert cached.pin_hash and "1234" not in cached.pin_hash and verify_pin("1234", cached.pin_hash)
    gateway.online = False
    off = login(services)
    assert off.offline
    with pytest.raises(EdgeError) as e:
        login(services, pin="9999")
    assert e.value.code == "wrong_pin"
    with pytest.raises(EdgeError) as e:
        login(services, pid="2000002", pin="5555")  # never seen online: not cached
    assert e.value.code == "offline_login_denied"
    services.sessions.policy = services.settings.policy.model_copy(update={"offline_login": "deny"})
    with pytest.raises(EdgeError) as e:
        login(services)
    assert e.value.code == "offline_login_denied"
    services.sessions.policy = services.settings.policy.model_copy(update={"offline_login": "card-only"})
    card = services.sessions.login(PatronCredential("card", "2000002", b"\x01"), None)
    assert card.offline
    # No look-up row is left holding a PIN (read directly: claiming would wipe them).
    rows = services.store.query("SELECT request FROM lookups")
    assert len(rows) >= 5
    assert not [r["request"] for r in rows if json.loads(r["request"]).get("pin")]


def test_typed_number_needs_a_pin_online_and_offline(services, gateway, ils) -> None:
    for pin in (None, ""):
        with pytest.raises(EdgeError) as e:
            login(services, pin=pin)
        assert e.value.code == "pin_required" and e.value.status == 401
        assert e.value.texts == {"vi": "Vui lòng nhập mã PIN", "en": "Please enter your PIN"}
    assert services.store.query("SELECT id FROM lookups") == []  # refused before asking
    # Card and barcode logins need no PIN by default; a PIN given with them is checked.
    assert not services.sessions.login(PatronCredential("barcode", "2000001", b"x"), None).offline
    with pytest.raises(EdgeError) as e:
        services.sessions.login(PatronCredential("barcode", "2000001", b"x"), "0000")
    assert e.value.code == "wrong_pin"
    # An ILS that does not report whether the PIN matched cannot vouch for a typed number.
    ils.checks_pins = False
    with pytest.raises(EdgeError) as e:
        login(services)
    assert e.value.code == "wrong_pin"
    assert services.sessions.login(PatronCredential("card", "2000001", b"x"), "1234")
    ils.checks_pins = True
    assert login(services).name == "Patron 001"  # caches the confirmed PIN's hash
    gateway.online = False
    with pytest.raises(EdgeError) as e:
        login(services, pin=None)
    assert e.value.code == "pin_required"
    with pytest.raises(EdgeError) as e:
        login(services, pin="4321")
    assert e.value.code == "wrong_pin"
    assert login(services).offline


def test_barcode_pin_when_the_site_asks_for_it(services) -> None:
    services.sessions.pin_sources = frozenset({"manual", "barcode"})
    with pytest.raises(EdgeError) as e:
        services.sessions.login(PatronCredential("barcode", "2000001", b"x"), None)
    assert e.value.code == "pin_required"
    assert not services.sessions.login(PatronCredential("barcode", "2000001", b"x"), "1234").offline
    assert not services.sessions.login(PatronCredential("card", "2000001", b"x"), None).offline


def test_pin_hash_is_salted() -> None:
    a, b = hash_pin("1234"), hash_pin("1234")
    assert a != b and verify_pin("1234", a) and verify_pin("1234", b) and not verify_pin("1235", a)
    assert not verify_pin("1234", "md5$x")


def test_idle_timeout_wipes_session(services) -> None:
    s = login(services)
    s.lines.append(object())  # type: ignore[arg-type]
    s.last_active -= s.idle_timeout_s + 1
    events = []
    services.bus.subscribe(events.append)
    assert services.sessions.sweep() == [s.id]
    assert s.lines == [] and events[-1]["type"] == "session_ended"
    with pytest.raises(EdgeError) as e:
        services.sessions.get(s.id)
    assert e.value.code == "session_expired"


def test_sort_hint_normalises_agent_kinds() -> None:
    from edge.services.circulation import sort_hint

    assert sort_hint({"sort": {"kind": "hold_transit", "destination": "B2", "bin": None}}) == {
        "kind": "transit", "destination": "B2", "bin": None}
    assert sort_hint({"sort": {"kind": "shelf", "destination": None, "bin": "3"}})["kind"] == "bin"
    assert sort_hint({"alert_type": "04", "destination": "B2"})["kind"] == "transit"
    assert sort_hint({"ok": True}) is None


def test_sort_hint_shows_the_label_on_the_sites_bin() -> None:
    from edge.services.circulation import sort_hint

    labels = {"SHELF": "A", "HOLD": "B"}
    assert sort_hint({"sort_bin": "SHELF"}, labels) == {
        "kind": "bin", "destination": None, "bin": "A", "bin_code": "SHELF"}
    assert sort_hint({"hold_patron": "2000004", "sort_bin": "HOLD"}, labels)["bin"] == "B"
    # A code the site did not label is shown as the ILS gave it.
    assert sort_hint({"sort_bin": "Z9"}, labels) == {
        "kind": "bin", "destination": None, "bin": "Z9", "bin_code": "Z9"}
    assert sort_hint({"sort": {"kind": "shelf", "destination": None, "bin": "SHELF"}},
                     labels)["bin"] == "A"


def _journal(services, kind: str, item_id: str, patron: str | None = "2000001"):
    from edge.services.circulation import _Pending

    circ = services.circulation
    e = services.store.outbox.append(kind, circ._payload(kind, item_id, patron),
                                     item_id=item_id, patron_ref=patron)
    return _Pending(e, item_id, "Title", [])


def test_withdraw_never_compensates_a_return(services, gateway, ils) -> None:
    gateway.online = False
    circ, outbox = services.circulation, services.store.outbox
    # Never published: cancelled, nothing else journaled.
    p = _journal(services, "checkin", "3000900")
    r = circ._withdraw(p, "not_loanable", None)
    assert (r.status, r.code) == ("refused", "not_loanable")
    assert [(e.kind, e.state) for e in outbox.list(item_id="3000900")] == [("checkin", "failed")]
    # Already sent, no result: left to finish; no second check-in; reported as under way.
    p = _journal(services, "checkin", "3000901")
    outbox.mark_sent(p.entry.key)
    r = circ._withdraw(p, "not_loanable", None)
    assert r.status == "checking" and r.code is None
    assert r.message["en"].startswith("The return was sent")
    assert [e.kind for e in outbox.list(item_id="3000901")] == ["checkin"]
    assert outbox.get(p.entry.key).handled_at is None
    services.store.cache.record_loan(LoanRecord("3000901", "2000001", "2099-01-01", "now", False))
    ils.loans["3000901"] = "2000001"
    gateway.online = True  # its result arrives; the recovery pass finishes it once
    assert outbox.wait_for_result(p.entry.key, 10) is not None
    services.recovery.run_once()
    assert outbox.get(p.entry.key).state == "applied" and outbox.unhandled() == []
    assert not services.store.cache.is_on_loan("3000901") and ils.calls[p.entry.key] == 1
    assert [e.kind for e in outbox.list(item_id="3000901")] == ["checkin"]
    # With its result already in: finished with that result.
    gateway.online = False
    ils.loans["3000902"] = "2000001"
    p = _journal(services, "checkin", "3000902")
    outbox.mark_sent(p.entry.key)
    outbox.record_result(p.entry.key, {"ok": True}, "applied")
    r = circ._withdraw(p, "not_loanable", None)
    assert r.status == "returned"
    assert [e.kind for e in outbox.list(item_id="3000902")] == ["checkin"]
    assert outbox.get(p.entry.key).handled_at is not None


def test_withdraw_compensates_a_sent_checkout(services, gateway) -> None:
    gateway.online = False
    p = _journal(services, "checkout", "3000910")
    services.store.outbox.mark_sent(p.entry.key)
    r = services.circulation._withdraw(p, "offline_limit", None)
    assert (r.status, r.code) == ("refused", "offline_limit")
    entries = services.store.outbox.list(item_id="3000910")
    assert [e.kind for e in entries] == ["checkout", "checkin"]
    assert entries[1].payload["compensates"] == p.entry.key and entries[1].offline


def test_recovery_between_journal_and_wait_does_not_finish_a_live_checkout(
        services, reader, gateway, monkeypatch) -> None:
    """Review Minor 1: the checkout's key is in progress before its row exists."""
    s = login(services)
    gateway.online = False
    put(reader, make_tag("3000920"), make_tag("3000921"))
    outbox = services.store.outbox
    real_append = outbox.append
    seen: list[bool] = []

    def append_then_answer_and_recover(*a, **kw):
        e = real_append(*a, **kw)
        seen.append(e.key in services.circulation.in_progress)
        # The gateway answers at once and the background pass runs right now.
        outbox.record_result(e.key, {"ok": True, "due_date": "2026-12-14"}, "applied")
        report = services.recovery.run_once()
        assert e.key not in report.finished
        return e

    monkeypatch.setattr(outbox, "append", append_then_answer_and_recover)
    results = services.circulation.checkout(s)
    assert [r.status for r in results] == ["loaned", "loaned"] and seen == [True, True]
    for item in ("3000920", "3000921"):
        assert [t.action for t in services.store.security.for_item(item)] == ["release"]
    assert services.store.counters.totals("2000-01-01T00")["checkout"] == 2
    assert outbox.unhandled() == [] and services.circulation.in_progress == set()


def test_a_renewal_sent_without_answer_is_a_follow_up_not_a_refusal(
        services, gateway, ils, monkeypatch) -> None:
    """Review Minor 4: the ILS may still make it; the recovery pass records it then."""
    s = login(services)
    gateway.online = False
    services.circulation.policy = services.settings.policy.model_copy(
        update={"result_timeout_s": 0.2})
    for item in ("3000930", "3000931"):
        ils.loans[item] = "2000001"
        services.store.cache.record_loan(LoanRecord(item, "2000001", "2026-12-01", "now", False))
    outbox = services.store.outbox
    # Never sent: withdrawn, and that is a refusal.
    [r] = services.circulation.renew(s, ["3000930"])
    assert (r.status, r.code) == ("refused", "renew_refused")
    assert outbox.get(r.transaction).state == "failed"
    # Sent (the agent published it) but unanswered: reported under way, left open.
    real_append = outbox.append

    def append_and_send(*a, **kw):
        e = real_append(*a, **kw)
        outbox.mark_sent(e.key)
        return e

    monkeypatch.setattr(outbox, "append", append_and_send)
    s = login(services)  # in the first session the withdrawn renewal stays its answer
    [one] = services.circulation.renew(s, ["3000930"])
    [every] = services.circulation.renew(s, all_items=True)
    for r in (one, every):
        assert r.status == "checking" and r.code is None
        assert r.message["en"].startswith("The renewal was sent")
        e = outbox.get(r.transaction)
        assert e.state == "sent" and e.handled_at is None
    assert services.recovery.run_once().open_transactions == [one.transaction,
                                                               every.transaction]
    # The ILS makes them later: the follow-up records the new due dates, once.
    gateway.online = True
    for r in (one, every):
        assert outbox.wait_for_result(r.transaction, 10) is not None
    services.recovery.run_once()
    assert outbox.unhandled() == []
    # The renew-all came last and names the renewed items without due dates (SIP2 66):
    # their cached due date is now unknown, not the stale one.
    assert {i: services.store.cache.loan(i).due_date for i in ("3000930", "3000931")} == {
        "3000930": None, "3000931": None}
    assert services.store.counters.totals("2000-01-01T00")["renew"] == 3


def test_a_sessions_returns_carry_their_outcomes_to_the_receipt(services, reader, ils) -> None:
    """Each return line of the session's receipt says what became of the item: returned,
    the hold shelf (with its bin), or refused with the reason."""
    from edge.receipt import build_receipt

    put(reader, make_tag("3000110", afi=RELEASED), make_tag("3000111", afi=RELEASED),
        make_tag("3000112", afi=RELEASED))
    ils.loans.update({"3000110": "2000001", "3000111": "2000001"})  # 3000112 is not on loan
    ils.holds["3000111"] = "2000002"
    s = login(services)
    services.circulation.return_items(s)
    lines = {ln["item_id"]: ln for ln in build_receipt(s, "Demo", "now")["lines"]}
    assert lines["3000110"]["outcome"] == "returned"
    assert (lines["3000111"]["outcome"], lines["3000111"]["bin"]) == ("hold_shelf", "H")
    assert (lines["3000112"]["outcome"], lines["3000112"]["reason"]) == ("refused",
                                                                          "not_on_loan")
