"""The patron's whole account through the real stack (issue 21 §2): the edge's
``GET /sessions/{id}/account`` answered by ``smartlib gateway run`` from the demo ILS's SIP2
63/64 and 17/18 answers, for the demo patrons 2000001, 2000003 and 2000004; and a renewal
refusal carrying the ILS's own reason to the row."""

from __future__ import annotations

from decimal import Decimal

from edge.api.schemas import AccountOut
from tests.edge.e2e.conftest import Sim, World, by_item, login


def test_2000003_sees_two_fines_totalling_75000_vnd(world: World) -> None:
    """2000003 is over the fines limit; the edge's account look-up goes through the real
    agent and gateway, and its answer is read as the API's Account."""
    with world.edge_store() as store:
        req = store.lookups.request("account", {"patron_id": "2000003"})
        got = store.lookups.wait(req.id, 30)
    assert got is not None and got.state == "answered" and got.response is not None
    acc = AccountOut.model_validate({**got.response["account"], "offline": False})
    assert acc.currency == "VND" and acc.fine_total == 75000
    assert [(f.amount, f.reason, f.item_id) for f in acc.fines] == [
        (50000, "Overdue 10 days", "30000070"), (25000, "Replacement library card", None)]
    assert all(f.date and f.currency == "VND" for f in acc.fines)


def test_a_patron_blocked_for_fines_gets_a_restricted_session_to_pay(world: World) -> None:
    """The demo ILS blocks 2000003 for fines only (SIP2 patron status flag 10): the login
    succeeds restricted; the account and the fines work, borrowing and renewing are refused
    with a typed reason in Vietnamese and English."""
    with world.api() as api:
        r = api.post("/sessions", json={"credential": {"source": "barcode",
                                                        "identifier": "2000003", "pin": "3456"},
                                         "language": "en"})
        assert r.status_code == 201, r.text
        session = r.json()
        assert session["restricted"] == "fines"
        sid = session["id"]
        assert api.get(f"/sessions/{sid}").json()["restricted"] == "fines"
        assert Decimal(api.get(f"/sessions/{sid}/account").json()["fine_total"]) == 75000
        fines = api.get(f"/sessions/{sid}/fines").json()
        assert sum(f["amount"] for f in fines["fines"]) == 75000
        for path, body in ((f"/sessions/{sid}/checkout", {"items": ["30000100"]}),
                           (f"/sessions/{sid}/renew", {"all": True})):
            refused = api.post(path, json=body)
            assert refused.status_code == 403, (path, refused.text)
            err = refused.json()["error"]
            assert err["code"] == "restricted_fines"
            assert "pay" in err["texts"]["en"] and "phí phạt" in err["texts"]["vi"]
        # Returns are never refused for fines: bringing books back is what the library wants
        # (the book is not on the pad here, so the answer says that, not restricted_fines).
        back = api.post(f"/sessions/{sid}/return", json={"items": ["30000100"]})
        assert back.status_code == 200, back.text
        assert [r["code"] for r in back.json()["results"]] == ["item_not_on_pad"]
        # A patron with no fines block logs in unrestricted.
        plain = api.get(f"/sessions/{login(api, '2000001', '1234')}").json()
        assert plain["restricted"] is None


def test_other_blocks_still_refuse_the_login(world: World) -> None:
    """2000002's card is reported lost (flag 4): no session, restricted or not."""
    with world.api() as api:
        r = api.post("/sessions", json={"credential": {"source": "barcode",
                                                        "identifier": "2000002", "pin": "2345"},
                                         "language": "en"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "patron_blocked"


def test_2000004_sees_ready_holds_with_pickup_and_expiry(world: World) -> None:
    with world.api() as api:
        sid = login(api, "2000004", "4567")
        acc = api.get(f"/sessions/{sid}/account").json()
    holds = {h["item_id"]: h for h in acc["holds"]}
    ready = {i for i, h in holds.items() if h["ready"]}
    assert {"30000015", "30000016", "30000017", "30000018", "30000019"} <= ready
    for i in ready:
        assert holds[i]["pickup_location"] == "MAIN" and holds[i]["expires"] and holds[i]["title"]
    waiting = {i for i, h in holds.items() if not h["ready"]}
    assert waiting and all(holds[i]["expires"] is None for i in waiting)


def test_2000001_sees_overdue_loans_and_waiting_holds(world: World) -> None:
    with world.api() as api:
        sid = login(api, "2000001", "1234")
        acc = api.get(f"/sessions/{sid}/account").json()
    loans = {ln["item_id"]: ln for ln in acc["loans"]}
    assert all(loans[f"3000006{i}"]["overdue"] and loans[f"3000006{i}"]["due_date"]
               for i in range(5))
    holds = {h["item_id"]: h for h in acc["holds"]}
    assert {"30000010", "30000015"} <= set(holds)
    assert not holds["30000015"]["ready"]  # on the shelf, but for 2000004
    assert acc["fines"] == [] and Decimal(acc["fine_total"]) == 0


def test_a_refused_renewal_carries_the_ils_reason(world: World, sim: Sim) -> None:
    [item] = world.items(1)
    patron = world.patron()
    sim.place(item)
    with world.api() as api:
        sid = login(api, patron)
        assert by_item(api.post(f"/sessions/{sid}/checkout").json())[item]["status"] == "loaned"
        for _ in range(3):  # the demo ILS allows three renewals; one session each
            sid = login(api, patron)
            row = by_item(api.post(f"/sessions/{sid}/renew", json={"items": [item]}).json())[item]
            assert row["status"] == "renewed", row
        sid = login(api, patron)
        row = by_item(api.post(f"/sessions/{sid}/renew", json={"items": [item]}).json())[item]
    assert row["status"] == "refused"
    assert row["ils_message"] == "Cannot renew: renewal limit reached"  # the 30's AF
    world.wait_edge_idle()
