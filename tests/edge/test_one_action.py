"""One physical action, one transaction (issue 17 §1).

Repeats of a checkout, return or renewal (concurrent calls, a double press, the UI's sweep
racing tag events, a retry, a restart) are answered with the first one's result and key and
never journal again; each (session, item, kind) reaches the ILS (the GatewayDouble) once.
Also: one security write per tag at a time, and stale release tasks cancelled, not written.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient

from drivers.credential import PatronCredential
from edge.api import create_app
from edge.services.container import EdgeServices
from edge.services.locks import KeyedLocks
from edge.services.sessions import Session
from edge.store import LoanRecord, utcnow
from tests.edge.doubles import FakeReader, FakeTag, make_tag

DEV = {"Authorization": "Bearer dev-tok"}
RELEASED, SECURED = 0xC2, 0x07


def put(reader: FakeReader, *tags: FakeTag) -> None:
    for t in tags:
        reader.tags[t.uid] = t


def login(services: EdgeServices, pid: str = "2000001", pin: str = "1234") -> Session:
    return services.sessions.login(PatronCredential("manual", pid, pid.encode()), pin, "vi")


def at_once(n: int, call: Callable[[int], Any]) -> list[Any]:
    """Run ``call(i)`` for i in 0..n-1 in ``n`` threads released together."""
    barrier = threading.Barrier(n)

    def run(i: int) -> Any:
        barrier.wait()
        return call(i)

    with ThreadPoolExecutor(n) as pool:
        return [f.result() for f in [pool.submit(run, i) for i in range(n)]]


def journal_per_item(services: EdgeServices, kind: str) -> Counter[str]:
    return Counter(e.item_id or "" for e in services.store.outbox.list(limit=10_000)
                   if e.kind == kind)


@pytest.fixture
def client(settings, services) -> Iterator[TestClient]:
    with TestClient(create_app(settings, services, start_services=False)) as c:
        yield c


def _login(client: TestClient, pid: str = "2000001", pin: str = "1234") -> str:
    r = client.post("/sessions", headers=DEV, json={
        "credential": {"source": "manual", "identifier": pid, "pin": pin}})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _by_item(answers: list[Any]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for a in answers:
        assert a.status_code == 200, a.text
        for r in a.json()["results"]:
            out.setdefault(r["item_id"], []).append(r)
    return out


# ---- concurrent API calls ------------------------------------------------------------------

@pytest.mark.parametrize("threads", [2, 5, 20])
def test_concurrent_checkouts_make_one_transaction_per_book(client, services, reader, ils,
                                                            gateway, threads) -> None:
    """The bug report: N concurrent ``POST /checkout`` (some with ``{}``, some naming one
    book, as the UI's sweep and tag events do) and one more after them."""
    books = [make_tag(f"31{threads:02d}00{i}") for i in range(3)]
    put(reader, *books)
    sid = _login(client)
    ids = [f"31{threads:02d}00{i}" for i in range(3)]

    def call(i: int) -> Any:
        body = {} if i % 2 == 0 else {"items": [ids[i % 3]]}
        return client.post(f"/sessions/{sid}/checkout", headers=DEV, json=body)

    answers = at_once(threads, call)
    answers.append(client.post(f"/sessions/{sid}/checkout", headers=DEV, json={}))
    got = _by_item(answers)
    assert set(got) == set(ids)
    for item_id in ids:
        assert {r["status"] for r in got[item_id]} == {"loaned"}, got[item_id]
        assert len({r["transaction"] for r in got[item_id]}) == 1  # the first one's key
    assert journal_per_item(services, "checkout") == dict.fromkeys(ids, 1)
    assert ils.applications("checkout") == dict.fromkeys(ids, 1)
    assert sum(gateway.deliveries.values()) == 3
    assert all(t.afi == RELEASED for t in books)
    assert services.store.security.open() == []
    assert services.store.alarms.list() == []  # no racing writes, no loaned_alarm_on
    assert services.store.counters.totals("0000")["checkout"] == 3


def test_the_recovery_pass_racing_live_calls_finishes_each_entry_once(services, reader, ils,
                                                                     gateway) -> None:
    """The background pass runs in a loop while 10 calls check out 4 books: every entry is
    finished once (one cached loan, one release task per tag, one counter per book)."""
    ids = [f"33900{i}" for i in range(4)]
    tags = [make_tag(i) for i in ids]
    put(reader, *tags)
    s = login(services)
    stop = threading.Event()

    def recover() -> None:
        while not stop.is_set():
            services.recovery.run_once()

    pass_thread = threading.Thread(target=recover)
    pass_thread.start()
    try:
        answers = at_once(10, lambda i: services.circulation.checkout(s, None if i % 3 else
                                                                      [ids[i % 4]]))
    finally:
        stop.set()
        pass_thread.join(10)
    keys: dict[str, set[str | None]] = {}
    for a in answers:
        for r in a:
            keys.setdefault(r.item_id, set()).add(r.transaction)
    assert {i: len(k) for i, k in keys.items()} == dict.fromkeys(ids, 1)
    assert ils.applications("checkout") == dict.fromkeys(ids, 1)
    releases = Counter(t.uid for i in ids for t in services.store.security.for_item(i))
    assert releases == {t.uid: 1 for t in tags}
    assert services.store.counters.totals("0000")["checkout"] == 4
    assert all(t.afi == RELEASED for t in tags)


@pytest.mark.parametrize("threads", [2, 8])
def test_concurrent_returns_and_renewals_are_one_each(client, services, reader, ils, gateway,
                                                      threads) -> None:
    ids = [f"32{threads:02d}00{i}" for i in range(2)]
    books = [make_tag(i, afi=RELEASED) for i in ids]
    put(reader, *books)
    for i in ids:
        ils.loans[i] = "2000001"
        services.store.cache.record_loan(LoanRecord(i, "2000001", "2026-12-01", "now", False))
    sid = _login(client)
    renewed = at_once(threads, lambda i: client.post(
        f"/sessions/{sid}/renew", headers=DEV, json={"items": ids}))
    got = _by_item(renewed)
    for item_id in ids:
        assert {r["status"] for r in got[item_id]} == {"renewed"}
        assert len({r["transaction"] for r in got[item_id]}) == 1
    assert journal_per_item(services, "renew") == dict.fromkeys(ids, 1)
    assert ils.applications("renew") == dict.fromkeys(ids, 1)

    returned = at_once(threads, lambda i: client.post(
        f"/sessions/{sid}/return", headers=DEV, json={} if i % 2 else {"items": [ids[0]]}))
    got = _by_item(returned)
    for item_id in ids:
        assert {r["status"] for r in got[item_id]} == {"returned"}
        assert len({r["transaction"] for r in got[item_id]}) == 1
    assert journal_per_item(services, "checkin") == dict.fromkeys(ids, 1)
    assert ils.applications("checkin") == dict.fromkeys(ids, 1)
    assert all(t.afi == SECURED for t in books) and ils.loans == {}


def test_a_checkout_after_a_return_in_the_same_session_is_a_new_one(services, reader, ils) -> None:
    """A repeat is the same action with nothing between; return then borrow again is two."""
    tag = make_tag("3300001")
    put(reader, tag)
    s = login(services)
    [first] = services.circulation.checkout(s)
    [again] = services.circulation.checkout(s)
    assert again.transaction == first.transaction and again.status == "loaned"
    [back] = services.circulation.return_items(s)
    [back_again] = services.circulation.return_items(s)
    assert back.status == back_again.status == "returned"
    assert back_again.transaction == back.transaction
    [second] = services.circulation.checkout(s)
    assert second.status == "loaned" and second.transaction != first.transaction
    assert ils.applications("checkout") == {"3300001": 2}
    assert ils.applications("checkin") == {"3300001": 1}
    other = login(services, "2000002", "5555")  # another session's repeat is its own action
    [theirs] = services.circulation.checkout(other)
    assert theirs.transaction not in (first.transaction, second.transaction)


def test_a_repeat_of_a_refused_checkout_is_answered_without_a_second_ils_call(
        services, reader, ils) -> None:
    ils.holds["3300101"] = "2000002"
    put(reader, make_tag("3300101"))
    s = login(services)
    [first] = services.circulation.checkout(s)
    [again] = services.circulation.checkout(s)
    assert first.status == again.status == "on_hold_for_other"
    assert first.transaction == again.transaction
    assert journal_per_item(services, "checkout") == {"3300101": 1}


def test_the_rule_holds_across_an_edge_restart(settings, reader, ils, gateway) -> None:
    """In SQLite, not in memory: a new edge over the same journal answers the repeat."""
    tags = [make_tag("3300201"), make_tag("3300202")]
    put(reader, *tags)
    before = EdgeServices.build(settings, reader=reader)
    before.start(background=False, poll_pad=False)
    try:
        s = login(before)
        first = {r.item_id: r for r in before.circulation.checkout(s)}
    finally:
        before.stop()
    after = EdgeServices.build(settings, reader=reader)
    after.start(background=False, poll_pad=False)
    try:
        again = {r.item_id: r for r in after.circulation.checkout(s)}
        assert {k: (r.status, r.transaction) for k, r in again.items()} == \
            {k: ("loaned", r.transaction) for k, r in first.items()}
        assert journal_per_item(after, "checkout") == {"3300201": 1, "3300202": 1}
        assert ils.applications("checkout") == {"3300201": 1, "3300202": 1}
    finally:
        after.stop()


def test_a_repeat_journaled_before_a_crash_is_finished_not_journaled_again(
        services, reader, ils, gateway) -> None:
    """The first call died after journaling (no answer handled): the repeat waits for that
    transaction's result and finishes it, with its key."""
    tag = make_tag("3300301")
    put(reader, tag)
    s = login(services)
    gateway.online = False
    key = str(uuid.uuid4())
    services.store.outbox.append(
        "checkout", {"kind": "checkout", "item_id": "3300301", "session": s.id,
                     "uids": [tag.uid]}, item_id="3300301", patron_ref=s.patron_id, key=key,
        once=True)
    gateway.online = True
    [r] = services.circulation.checkout(s)
    assert r.status == "loaned" and r.transaction == key and tag.afi == RELEASED
    assert journal_per_item(services, "checkout") == {"3300301": 1}
    assert ils.applications("checkout") == {"3300301": 1}


def test_a_withdrawn_checkout_is_the_sessions_answer(services, reader, gateway, ils) -> None:
    """Refused offline (withdrawn before it was sent): a repeat in the session gets that
    refusal and key, even with the gateway back; a new session may borrow the book."""
    services.settings.policy.offline_max_items = 0
    tag = make_tag("3300401")
    put(reader, tag)
    s = login(services)
    gateway.online = False
    [first] = services.circulation.checkout(s)
    assert first.status == "refused" and first.code == "offline_limit"
    gateway.online = True
    [again] = services.circulation.checkout(s)
    assert (again.status, again.code, again.transaction) == \
        ("refused", "offline_limit", first.transaction)
    assert journal_per_item(services, "checkout") == {"3300401": 1}
    [renewed] = services.circulation.renew(s, ["3300401"])  # not on loan: refused online
    [later] = services.circulation.checkout(login(services))
    assert later.status == "loaned" and later.transaction != first.transaction
    assert renewed.status == "refused"
    assert ils.applications("checkout") == {"3300401": 1}


def test_a_withdrawn_renewal_is_answered_with_the_offline_text(services, gateway) -> None:
    s = login(services)
    gateway.online = False
    [first] = services.circulation.renew(s, ["3300501"])
    [again] = services.circulation.renew(s, ["3300501"])
    assert first == again and first.code == "renew_refused"
    assert first.message is not None and first.message["en"] == again.message["en"]


# ---- the security service -------------------------------------------------------------------

def test_security_writes_to_one_tag_never_overlap(services, reader) -> None:
    tag = make_tag("3400001")
    put(reader, tag)
    inside, most = [0], [0]
    guard = threading.Lock()
    write = reader.write_afi

    def slow_write(uid: str, afi: int, verify: bool = True) -> None:
        with guard:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        threading.Event().wait(0.01)
        try:
            write(uid, afi, verify)
        finally:
            with guard:
                inside[0] -= 1

    reader.write_afi = slow_write  # type: ignore[method-assign]
    task = services.store.security.create("3400001", tag.uid, "secure")
    at_once(6, lambda i: services.security.execute(task))
    assert most[0] == 1
    assert reader.writes[tag.uid] == 1  # the others found it done under the lock
    assert services.store.security.get(task.id).state == "done"


def test_a_superseded_task_is_never_written(services, reader) -> None:
    tag = make_tag("3400101", afi=RELEASED)
    put(reader, tag)
    old = services.store.security.create("3400101", tag.uid, "release", txn_key="k-old")
    services.store.security.create("3400101", tag.uid, "secure")  # supersedes it
    after, _ = services.security.execute(old)
    assert after.state == "abandoned" and reader.writes[tag.uid] == 0


def test_keyed_locks_are_dropped_when_idle() -> None:
    locks = KeyedLocks()
    with locks.hold("b", "a", "a"):
        assert locks.held() == 2
    assert locks.held() == 0


# ---- stale release tasks --------------------------------------------------------------------

def _alarm_on_checkout(services: EdgeServices, reader: FakeReader, item_id: str) -> FakeTag:
    tag = make_tag(item_id)
    put(reader, tag)
    reader.afi_fail_rate = 1.0
    [r] = services.circulation.checkout(login(services))
    assert r.status == "loaned_alarm_on"
    reader.afi_fail_rate = 0.0
    return tag


@pytest.mark.parametrize("ended", ["cache", "journal", "refused"])
def test_a_release_whose_loan_ended_elsewhere_is_cancelled_never_written(
        services, reader, ended) -> None:
    tag = _alarm_on_checkout(services, reader, "3500001")
    [task] = services.store.security.open()
    if ended == "cache":  # returned at another box: the central feed drops the loan
        services.store.cache.record_return("3500001")
    elif ended == "journal":  # a check-in journaled since (its secure write failed)
        services.store.outbox.append("checkin", {"kind": "checkin"}, item_id="3500001",
                                     patron_ref="2000001")
    else:  # the loan is another patron's now
        services.store.cache.record_loan(LoanRecord("3500001", "2000002", None, "now", False))
    writes = reader.writes[tag.uid]
    services.recovery.run_once()
    after = services.store.security.get(task.id)
    assert after.state == "abandoned" and (after.last_error or "").startswith("stale release")
    assert reader.writes[tag.uid] == writes and tag.afi == SECURED
    [event] = [e for e in services.store.events.recent() if e.kind == "release_cancelled"]
    assert event.detail["task"] == task.id and event.detail["item_id"] == "3500001"


def test_a_release_whose_loan_stands_is_retried_and_written(services, reader) -> None:
    tag = _alarm_on_checkout(services, reader, "3500101")
    services.recovery.run_once()
    assert services.store.security.open() == [] and tag.afi == RELEASED
    assert not [e for e in services.store.events.recent() if e.kind == "release_cancelled"]


# ---- stale secure tasks (what the soak found) -------------------------------------------------

def _failed_return(services: EdgeServices, reader: FakeReader, item_id: str) -> FakeTag:
    """A loan, then a return whose secure write fails: its secure task keeps the check-in."""
    tag = make_tag(item_id)
    put(reader, tag)
    [r] = services.circulation.checkout(login(services))
    assert r.status == "loaned"
    reader.afi_fail_rate = 1.0
    [r] = services.circulation.return_items(login(services))
    assert r.status != "returned"
    reader.afi_fail_rate = 0.0
    return tag


@pytest.mark.parametrize("moved", ["journal", "cache", "returned_elsewhere"])
def test_a_returns_secure_task_whose_item_moved_on_is_cancelled(services, reader, moved) -> None:
    """The soak's item 30000694: a return failed at its secure write; the book was then
    returned elsewhere and lent again. The old task must not secure a loaned book, nor its
    check-in end the new loan at the ILS."""
    tag = _failed_return(services, reader, "3600001")
    [task] = services.store.security.open()
    assert task.action == "secure" and task.follow_up
    if moved == "journal":  # lent again at this kiosk (later: timestamps are milliseconds)
        import time
        time.sleep(0.01)
        services.store.outbox.append("checkout", {}, item_id="3600001", patron_ref="2000019")
    elif moved == "cache":  # lent again elsewhere: the central feed says so
        services.store.cache.record_loan(LoanRecord("3600001", "2000019", None, "now", False))
    else:  # returned at another kiosk: the central feed removes the loan
        services.store.cache.record_return("3600001")
    writes = reader.writes[tag.uid]
    checkins = [e.key for e in services.store.outbox.list(limit=100) if e.kind == "checkin"]
    services.recovery.run_once()
    after = services.store.security.get(task.id)
    assert after.state == "abandoned" and (after.last_error or "").startswith("stale secure")
    if moved == "returned_elsewhere":
        assert reader.writes[tag.uid] == writes  # never written
    else:  # lent again: never secured; a release makes sure the loaned book's alarm is off
        assert reader.writes[tag.uid] == writes + 1 and tag.afi == RELEASED
    assert [e.key for e in services.store.outbox.list(limit=100) if e.kind == "checkin"] == checkins
    assert [e for e in services.store.events.recent() if e.kind == "secure_cancelled"]


def test_a_returns_secure_task_that_stands_is_retried_and_checks_in(services, reader) -> None:
    tag = _failed_return(services, reader, "3600101")
    services.recovery.run_once()
    assert services.store.security.open() == [] and tag.afi == SECURED
    assert [e.kind for e in services.store.outbox.list(limit=100)
            if e.item_id == "3600101"] == ["checkout", "checkin"]


def _checkins(services: EdgeServices, item_id: str) -> list[Any]:
    return [e for e in services.store.outbox.list(limit=100)
            if e.kind == "checkin" and e.item_id == item_id]


def test_a_return_in_a_later_session_never_gets_an_older_sessions_key(services, reader) -> None:
    """The soak's item 30000612: a return failed at its secure write (its task stays open
    with the check-in as follow-up); in a later session at the same kiosk the same item
    is returned again before any retry. That return must get a key of its own (journaled
    for its own session), and a repeat of it in the same session must reuse that key: one
    check-in, never the old session's key followed by a second check-in."""
    _failed_return(services, reader, "3600201")
    [old] = services.store.security.open()
    old_key = old.follow_up["key"]
    later = login(services)
    [r] = services.circulation.return_items(later)
    assert r.status == "returned"
    assert r.transaction != old_key
    [entry] = _checkins(services, "3600201")
    assert entry.key == r.transaction and entry.payload["session"] == later.id
    assert services.store.security.get(old.id).state == "abandoned"  # superseded, never written
    [again] = services.circulation.return_items(later)  # a repeat in the same session
    assert again.transaction == r.transaction
    assert len(_checkins(services, "3600201")) == 1


def test_a_repeat_return_in_the_same_session_reuses_the_failed_attempts_key(services,
                                                                            reader) -> None:
    """A return whose secure write failed, repeated in the same session once the write
    works: the repeat completes the first attempt's task and journals its key (one
    (session, item, kind), one key)."""
    tag = make_tag("3600301")
    put(reader, tag)
    session = login(services)
    [r] = services.circulation.checkout(session)
    assert r.status == "loaned"
    reader.afi_fail_rate = 1.0
    [r] = services.circulation.return_items(session)
    assert r.status != "returned"
    [task] = services.store.security.open()
    reader.afi_fail_rate = 0.0
    [r] = services.circulation.return_items(session)
    assert r.status == "returned" and r.transaction == task.follow_up["key"]
    assert [e.key for e in _checkins(services, "3600301")] == [r.transaction]


# ---- the state machine's property (test_one_action_machine.py) ---------------------------------------------------------------

def ils_reached_repeats(store: Any, reached: set[str]) -> list[str]:
    """Keys of journal entries that reached the ILS although the same (session, item, kind)
    had reached it before with no check-in/checkout of the item (of any session, journaled
    and not withdrawn or refused) in between."""
    entries = store.outbox.list(limit=100_000)
    bad: list[str] = []
    last: dict[tuple[Any, ...], int] = {}
    for e in entries:
        changes = e.kind in ("checkout", "checkin") and e.state != "refused" and not (
            e.state == "failed" and (e.result or {}).get("code") == "cancelled")
        if changes:  # a later action of the other kind ends the earlier ones
            for k in [k for k in last if k[1] == e.item_id and k[2] != e.kind]:
                del last[k]
        if e.key not in reached or "compensates" in e.payload:
            continue
        ident = (e.payload.get("session"), e.item_id, e.kind)
        if ident in last:
            bad.append(e.key)
        last[ident] = e.seq
    return bad


def test_ils_reached_repeats_finds_a_second_checkout(services) -> None:
    """The property's oracle itself: two reached checkouts of one session, nothing between."""
    out = services.store.outbox
    a = out.append("checkout", {"session": "s1"}, item_id="x", patron_ref="p")
    b = out.append("checkout", {"session": "s1"}, item_id="x", patron_ref="p")
    c = out.append("checkin", {"session": "s1"}, item_id="x", patron_ref="p")
    d = out.append("checkout", {"session": "s1"}, item_id="x", patron_ref="p")
    assert ils_reached_repeats(services.store, {a.key, b.key, c.key, d.key}) == [b.key]


@pytest.mark.parametrize("moved", ["renewed", "lent_elsewhere"])
def test_a_cancelled_returns_write_that_reached_the_tag_of_a_loaned_book_is_undone(
        services, reader, moved) -> None:
    """The 1,000-kill soak's item 30000647: a return whose tag was lifted mid-write was
    refused (alarm_still_on), but the write had reached the tag; the loan went on (a
    renewal), the stale secure task was cancelled, and the loaned book kept its alarm on
    with no task to say so. Now a release is journaled and written."""
    tag = _failed_return(services, reader, "3600401")
    [task] = services.store.security.open()
    tag.afi = SECURED                  # written before the tag left the pad, never verified
    import time
    time.sleep(0.01)                   # journal timestamps are milliseconds
    if moved == "renewed":
        services.store.outbox.append("renew", {}, item_id="3600401", patron_ref="2000001")
    else:
        services.store.cache.record_loan(LoanRecord("3600401", "2000019", None, "now", False))
    services.recovery.run_once()
    assert services.store.security.get(task.id).state == "abandoned"
    assert tag.afi == RELEASED
    [release] = [t for t in services.store.security.for_item("3600401")
                 if t.action == "release" and t.id > task.id]
    assert release.state == "done"


def test_a_cancelled_returns_task_of_a_book_returned_again_journals_no_release(
        services, reader) -> None:
    tag = _failed_return(services, reader, "3600501")
    [task] = services.store.security.open()
    tag.afi = SECURED
    import time
    time.sleep(0.01)
    services.store.outbox.append("checkin", {}, item_id="3600501", patron_ref="2000001")
    services.recovery.run_once()
    assert services.store.security.get(task.id).state == "abandoned"
    assert tag.afi == SECURED
    assert [t.action for t in services.store.security.for_item("3600501")
            if t.id > task.id] == []


def test_a_return_meets_a_retry_of_an_earlier_return_of_the_book_one_check_in(
        services, reader) -> None:
    """The 1,000-kill soak's items 30000183 and 30000413: an earlier return of a book failed
    at its secure write (or its request died); minutes later the book is on the pad again
    for a new return, and the background pass retried the old task at that moment. Its
    check-in and the new return's reached the ILS: two check-ins for one book. The retry
    waits for the item's lock, and a return that finds the earlier return finished while it
    waited answers with that check-in."""
    tag = _failed_return(services, reader, "3600601")
    [old] = services.store.security.open()
    scanned = threading.Event()
    inventory = reader.inventory

    def watched(*a: Any, **kw: Any) -> Any:
        try:
            return inventory(*a, **kw)
        finally:
            scanned.set()

    reader.inventory = watched  # type: ignore[method-assign]
    later = login(services)
    answers: list[Any] = []
    with services.circulation.try_hold_item("3600601") as held:   # the background pass
        assert held
        worker = threading.Thread(target=lambda: answers.extend(
            services.circulation.return_items(later)))
        worker.start()
        assert scanned.wait(10)       # the new return began and waits for the item
        services.security.execute(old)   # the pass finishes the earlier return meanwhile
    worker.join(30)
    [r] = answers
    assert r.status == "returned" and r.transaction == old.follow_up["key"]
    assert [e.key for e in _checkins(services, "3600601")] == [old.follow_up["key"]]
    assert tag.afi == SECURED


def test_the_background_pass_leaves_a_return_task_to_a_live_request_of_its_item(
        services, reader) -> None:
    _failed_return(services, reader, "3600701")
    [old] = services.store.security.open()
    with services.circulation.try_hold_item("3600701") as held:    # a live request
        assert held
        services.recovery.run_once()
        assert services.store.security.get(old.id).state == "alarm_on"   # left alone
    services.recovery.run_once()
    assert services.store.security.get(old.id).state == "done"
    assert [e.key for e in _checkins(services, "3600701")] == [old.follow_up["key"]]


@contextmanager
def polled_pad(services: EdgeServices) -> Iterator[None]:
    """The pad poller running (as under ``smartlib serve``): placements are tracked."""
    services.devices._poll_interval = 0.02
    services.devices.start_polling()
    try:
        yield
    finally:
        services.devices.stop_polling()


def lift(services: EdgeServices, reader: FakeReader, tag: FakeTag) -> None:
    """Take the tag off the pad, until the poller has seen it gone."""
    del reader.tags[tag.uid]
    _until(lambda: services.devices.placed_at(tag.uid) is None)


def put_back(services: EdgeServices, reader: FakeReader, tag: FakeTag) -> None:
    """Put the tag on the pad, until the poller has seen it placed."""
    put(reader, tag)
    _until(lambda: services.devices.placed_at(tag.uid) is not None)


def _until(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "the pad poller did not see the change"
        time.sleep(0.01)


def test_a_return_after_the_background_pass_finished_the_books_earlier_return_reuses_it(
        services, reader) -> None:
    """The window session 18 left: the background pass finished an old failed return of a
    book in the moment between the book's placement on the pad and the patron's press. The
    press is the same return: it answers with that check-in, and no second one is made."""
    with polled_pad(services):
        tag = _failed_return(services, reader, "3600801")
        [old] = services.store.security.open()
        lift(services, reader, tag)              # lifted, and put back for a new return
        put_back(services, reader, tag)
        services.recovery.run_once()             # the pass finishes the old return now
        assert services.store.security.get(old.id).state == "done"
        [r] = services.circulation.return_items(login(services))
    assert r.transaction == old.follow_up["key"]
    assert r.status in ("returned", "checking")
    assert [e.key for e in _checkins(services, "3600801")] == [old.follow_up["key"]]
    assert tag.afi == SECURED


def test_a_return_of_a_book_put_back_after_its_earlier_return_finished_is_its_own(
        services, reader) -> None:
    """The 19th-session soak's 121 lost returns (the first version of the rule above looked
    60 s behind the placement): a return finished, the book went away (lent at the other
    kiosk) and came back for a new return. That is a new return: a check-in of its own."""
    with polled_pad(services):
        tag = _failed_return(services, reader, "3600901")
        [old] = services.store.security.open()
        services.recovery.run_once()             # finished while the book lay there
        assert services.store.security.get(old.id).state == "done"
        lift(services, reader, tag)
        put_back(services, reader, tag)
        [r] = services.circulation.return_items(login(services))
    # (the test ILS refuses it: here nobody lent the book in between)
    assert r.transaction is not None and r.transaction != old.follow_up["key"]
    assert len(_checkins(services, "3600901")) == 2


def test_without_the_pad_poller_only_the_wait_counts(services, reader) -> None:
    """No poller, no placement time: a return finished before the request is not reused."""
    _failed_return(services, reader, "3601101")
    [old] = services.store.security.open()
    services.recovery.run_once()
    [r] = services.circulation.return_items(login(services))
    assert r.transaction != old.follow_up["key"]


def test_a_return_after_a_newer_loan_in_the_cache_is_its_own(services, reader) -> None:
    """The book lay on the pad, but the central feed says it was lent after the finished
    return (at a desk, say): the press ends that newer loan with a check-in of its own."""
    with polled_pad(services):
        _failed_return(services, reader, "3601201")
        [old] = services.store.security.open()
        services.recovery.run_once()
        time.sleep(0.01)
        services.store.cache.record_loan(LoanRecord("3601201", "2000019", None, utcnow(), False))
        [r] = services.circulation.return_items(login(services))
    assert r.transaction != old.follow_up["key"]
    assert len(_checkins(services, "3601201")) == 2


def test_a_return_after_a_checkout_that_followed_the_background_pass_is_its_own(
        services, reader) -> None:
    with polled_pad(services):
        _failed_return(services, reader, "3601001")
        [old] = services.store.security.open()
        services.recovery.run_once()
        patron = login(services)
        [c] = services.circulation.checkout(patron)
        assert c.status == "loaned"
        [r] = services.circulation.return_items(patron)
    assert r.status == "returned" and r.transaction != old.follow_up["key"]
    assert len(_checkins(services, "3601001")) == 2


@pytest.mark.parametrize("newer", [True, False])
def test_a_late_check_in_result_keeps_a_newer_loan_in_the_cache(
        services, gateway, newer) -> None:
    """The 19th-session soak's items 30000548 and 30000614: a check-in's result came 25 s
    late (gateways killed), after the book had been lent again at the same kiosk; finishing
    the check-in then forgot the NEW loan, so its release task was judged stale and
    abandoned, and the loaned book kept its alarm on with no task to say so. A loan made
    after the check-in was journaled is kept; an older one is forgotten."""
    gateway.online = False
    cache, out = services.store.cache, services.store.outbox
    if not newer:
        cache.record_loan(LoanRecord("3601301", "2000001", None, utcnow(), False))
        time.sleep(0.01)
    k = out.append("checkin", {}, item_id="3601301", patron_ref="2000001")
    if newer:
        time.sleep(0.01)
        cache.record_loan(LoanRecord("3601301", "2000019", None, utcnow(), False))
    out.record_result(k.key, {"ok": True, "status": "applied"}, "applied")
    services.recovery.run_once()
    loan = cache.loan("3601301")
    assert (loan is not None and loan.patron_id == "2000019") if newer else loan is None


def test_loan_made_after_reads_both_timestamp_formats() -> None:
    loan = LoanRecord("i", "p", None, "2026-12-07T15:46:20.800000+00:00", False)
    assert loan.made_after("2026-12-07T15:45:54.254Z")
    assert not loan.made_after("2026-12-07T15:46:20.800Z")      # the same moment
    assert not loan.made_after("2026-12-07T15:46:21.000Z")
    assert not LoanRecord("i", "p", None, None, False).made_after("2026-12-07T15:46:21.000Z")
    assert not LoanRecord("i", "p", None, "yesterday", False).made_after("2026-12-07T15:46:21Z")
