"""The edge against the real result contract of the sync gateway (issue 8 gaps B1, refusals).

Results here are made by the real code: :class:`sync.gateway.applier.Applier` over a fake
SIP2 connection, turned into the outbox dict by the agent's ``result_dict``; the
GatewayDouble builds its results the same way (tests/edge/doubles.py).
"""

from __future__ import annotations

import logging
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest

from drivers.credential import PatronCredential
from edge.services.circulation import REFUSAL_TEXTS, refusal_code, renewed_items
from edge.store import LoanRecord
from sync.agent.service import _STATE_OF, result_dict
from sync.gateway.applier import Applier
from sync.messages import TransactionRequest
from sync.sip2.messages import RenewAllResponse
from tests.edge.doubles import make_tag

PATRON = "2000001"


def login(services, pid: str = PATRON, pin: str = "1234"):
    return services.sessions.login(PatronCredential("manual", pid, pid.encode()), pin, "vi")


class _Sip2:
    """The one SIP2 call a renew-all makes, answered with a canned 66."""

    def __init__(self, answer: RenewAllResponse) -> None:
        self.answer = answer

    def renew_all(self, patron_id: str, pin: str | None = None) -> RenewAllResponse:
        return self.answer


class _Pool:
    def __init__(self, answer: RenewAllResponse) -> None:
        self.client = _Sip2(answer)

    @contextmanager
    def connection(self) -> Any:
        yield self.client


def gateway_result(key: str, answer: RenewAllResponse) -> tuple[dict[str, Any], str]:
    """What the real gateway + agent record for a renew-all answered with ``answer``."""
    req = TransactionRequest(key=key, kind="renew_all", site="site-a", device="kiosk-a",
                             patron=PATRON, created_at=datetime.now(UTC))
    res = Applier(_Pool(answer)).apply(req).result
    return result_dict(res), _STATE_OF[res.status]


def _loans(services, *items: str) -> None:
    for item in items:
        services.store.cache.record_loan(LoanRecord(item, PATRON, "2026-12-01", "now", False))


# ---- B1: renew-all ---------------------------------------------------------------------------

def test_the_real_renew_all_result_lists_item_ids_as_strings() -> None:
    result, state = gateway_result(str(uuid.uuid4()), RenewAllResponse(
        ok=True, renewed_count=2, unrenewed_count=1, renewed_items=("A", "B"),
        unrenewed_items=("C",)))
    assert state == "applied"
    assert result["items"] == ["A", "B"] and result["unrenewed"] == 1
    assert renewed_items(result) == ["A", "B"]


def test_renew_all_through_the_double_names_renewed_and_unrenewed_items(services, ils) -> None:
    items = ("3001000", "3001001", "3001002")
    for item in items:
        ils.loans[item] = PATRON
    ils.not_renewable.add("3001002")
    _loans(services, *items)
    results = {r.item_id: r for r in services.circulation.renew(login(services),
                                                                   all_items=True)}
    assert {i: r.status for i, r in results.items()} == {
        "3001000": "renewed", "3001001": "renewed", "3001002": "refused"}
    assert results["3001002"].code == "renew_refused"
    assert results["3001000"].due_date is None  # SIP2 66 carries no due dates
    cache = services.store.cache
    assert cache.loan("3001000").due_date is None  # renewed: the old date no longer holds
    assert cache.loan("3001002").due_date == "2026-12-01"
    assert services.store.outbox.unhandled() == []


def test_renew_all_when_the_cache_does_not_know_the_unrenewed_ones(services, ils) -> None:
    ils.loans.update({"3001010": PATRON, "3001011": PATRON})
    ils.not_renewable.add("3001011")  # the ILS refuses it; the cache has no loan for it
    _loans(services, "3001010")
    results = services.circulation.renew(login(services), all_items=True)
    assert [(r.item_id, r.status) for r in results] == [("3001010", "renewed"),
                                                             ("", "refused")]
    assert results[1].code == "renew_refused"


def test_renew_all_refused_by_the_ils_is_reported_not_dropped(services, gateway) -> None:
    s = login(services)
    gateway.online = False  # this test records the gateway's answer itself
    key = str(uuid.uuid4())
    outbox = services.store.outbox
    circ = services.circulation
    outbox.append("renew_all", circ._payload("renew_all", None, PATRON), item_id=None,
                  patron_ref=PATRON, key=key)
    result, state = gateway_result(key, RenewAllResponse(ok=False,
                                                         screen_message=("Unknown patron",)))
    outbox.record_result(key, result, state)
    [line] = circ._renew_all_lines(s, outbox.get(key))
    assert (line.status, line.code, line.ils_message) == (
        "refused", "renew_refused", "Unknown patron")


def test_a_late_renew_all_result_is_finished_by_the_recovery_pass(services, gateway) -> None:
    gateway.online = False
    _loans(services, "3001020", "3001021")
    outbox = services.store.outbox
    key = str(uuid.uuid4())
    outbox.append("renew_all", {"kind": "renew_all"}, item_id=None, patron_ref=PATRON, key=key)
    outbox.mark_sent(key)
    result, state = gateway_result(key, RenewAllResponse(
        ok=True, renewed_count=1, unrenewed_count=1, renewed_items=("3001020",)))
    outbox.record_result(key, result, state)
    report = services.recovery.run_once()
    assert report.finished == [key] and report.failed == []
    assert outbox.get(key).handled_at is not None
    assert services.store.cache.loan("3001020").due_date is None
    assert services.store.cache.loan("3001021").due_date == "2026-12-01"
    assert services.store.counters.totals("2000-01-01T00")["renew"] == 1


def test_malformed_renew_all_entries_are_skipped_and_logged_with_the_key(
        services, gateway, caplog) -> None:
    gateway.online = False
    _loans(services, "3001030")
    outbox = services.store.outbox
    key = str(uuid.uuid4())
    outbox.append("renew_all", {}, item_id=None, patron_ref=PATRON, key=key)
    outbox.record_result(key, {"ok": True, "items": [{"item_id": "3001099"}, "3001030", 7]},
                         "applied")
    with caplog.at_level(logging.WARNING):
        report = services.recovery.run_once()
    assert report.finished == [key]
    assert services.store.cache.loan("3001030").due_date is None  # the good entry counted
    bad = [r.getMessage() for r in caplog.records if key in r.getMessage()]
    assert len(bad) == 2 and "items[0]" in bad[0] and "items[2]" in bad[1]


def test_one_entry_that_cannot_be_finished_does_not_stop_the_pass(
        services, gateway, reader, caplog) -> None:
    """A bad entry is logged with its key and left; the others and retry_open still run."""
    gateway.online = False
    outbox, security = services.store.outbox, services.store.security
    tag = make_tag("3001041")
    reader.tags[tag.uid] = tag
    task = security.create("3001041", tag.uid, "release")
    security.record_failure(task.id, "injected", alarm=True)  # an alarm_on task to retry
    # its loan stands (else the retry would cancel the release as stale)
    services.store.cache.record_loan(LoanRecord("3001041", PATRON, "2030-01-01", "now", False))
    keys = [str(uuid.uuid4()) for _ in range(3)]
    # The middle one is a checkout whose payload names a tag UID that is not a string
    # (NOT NULL in security_tasks): finishing it raises.
    for key, (item, uids) in zip(keys, [("3001040", ["E0040000000000A0"]), ("3001042", [None]),
                                        ("3001043", ["E0040000000000A3"])], strict=True):
        outbox.append("checkout", {"uids": uids}, item_id=item, patron_ref=PATRON, key=key)
        outbox.record_result(key, {"ok": True, "due_date": "2030-01-01"}, "applied")
    with caplog.at_level(logging.INFO):
        report = services.recovery.run_once(retry_tasks=True)
    assert report.failed == [keys[1]]
    assert report.finished == [keys[0], keys[2]]
    assert report.tasks_done and security.get(task.id).state == "done"  # retry_open ran
    assert [e.key for e in outbox.unhandled()] == [keys[1]]
    first = [r for r in caplog.records if keys[1] in r.getMessage()]
    assert first and first[0].exc_info  # with its traceback, once
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert services.recovery.run_once().failed == [keys[1]]  # tried again, still logged
    again = [r for r in caplog.records if keys[1] in r.getMessage()]
    assert again and not again[0].exc_info and "2 passes" in again[0].getMessage()


# ---- refusals: reason_code, then the ILS's text -------------------------------------------

def test_refusal_code_prefers_reason_code_then_code_then_the_ils_text() -> None:
    base = {"ok": False, "code": "ils_refused", "screen_message": "Item is on hold for another patron"}
    assert refusal_code({**base, "reason_code": "loan_limit"}) == "loan_limit"
    assert refusal_code({**base, "reason_code": "something_new"}) == "on_hold_for_other"
    assert refusal_code({**base, "code": "patron_blocked"}) == "patron_blocked"
    assert refusal_code({"ok": False, "code": "ils_refused"}) == "ils_refused"
    assert refusal_code({"ok": False, "screen_message": "Computer says no"},
                        "renew_refused") == "renew_refused"


@pytest.mark.parametrize(("text", "code"), [
    # The demo ILS's own refusal texts (hardware_sim/ils/circulation.py).
    ("Patron blocked: contact staff", "patron_blocked"),
    ("Patron card expired", "card_expired"),
    ("Outstanding fines 60000 VND exceed the limit", "patron_blocked"),
    ("Item is on hold for another patron", "on_hold_for_other"),
    ("Loan limit reached", "loan_limit"),
    ("Unknown item", "item_unknown"),
    ("Item is not checked out to this patron", "not_on_loan"),
    ("Item is checked out to another patron", "ils_refused"),
    ("Item is lost", "ils_refused"),
])
def test_the_ils_text_is_mapped_to_a_patron_code(text: str, code: str) -> None:
    assert refusal_code({"ok": False, "code": "ils_refused", "screen_message": text}) == code
    assert {c for c, _ in REFUSAL_TEXTS} <= {
        "card_expired", "patron_blocked", "on_hold_for_other", "loan_limit", "not_loanable",
        "item_unknown", "not_on_loan"}


def test_a_checkout_refused_by_the_ils_gets_a_patron_code_from_its_text(services, reader,
                                                                        ils) -> None:
    tag = make_tag("3001050")
    reader.tags[tag.uid] = tag
    s = login(services)
    ils.blocked.add(PATRON)  # blocked at the ILS after login; the cache does not know
    [r] = services.circulation.checkout(s)
    assert (r.status, r.code) == ("refused", "patron_blocked")
    assert r.ils_message == "Patron blocked: contact staff"
    assert r.message["vi"] and r.message["en"]
    assert services.store.outbox.get(r.transaction).result["code"] == "ils_refused"


def test_a_gateway_reason_code_wins_over_the_text(services, reader, ils, gateway,
                                                  monkeypatch) -> None:
    ils.reason_codes = True  # the double sends the field the gateway should add
    ils.holds["3001060"] = "2000002"
    tag = make_tag("3001060")
    reader.tags[tag.uid] = tag
    s = login(services)
    sent: dict[str, Any] = {}
    outbox = gateway._store.outbox  # the double's side of the store (the agent's)
    real = outbox.record_result

    def garble_text(key, res, state, **kw):  # the ILS's words say nothing usable
        sent.update(res, screen_message="Refused (code 42)", message="Refused (code 42)")
        return real(key, sent, state, **kw)

    monkeypatch.setattr(outbox, "record_result", garble_text)
    [r] = services.circulation.checkout(s)
    assert sent["reason_code"] == "on_hold_for_other" and sent["code"] == "ils_refused"
    assert (r.status, r.code, r.ils_message) == (
        "on_hold_for_other", "on_hold_for_other", "Refused (code 42)")
