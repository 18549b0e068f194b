"""Checkout and return through every real piece: ``smartlib serve`` (kiosk-01) over the
simulated FEIG pad, ``smartlib sync``, Mosquitto with the generated ACL, ``smartlib gateway
run`` and the demo ILS of ``smartlib sim serve``. The ILS's own database and the tags' AFI
(read back through the simulator's control API) are the evidence."""

from __future__ import annotations

from tests.edge.e2e.conftest import (
    AFI_RELEASED,
    AFI_SECURED,
    Sim,
    World,
    by_item,
    login,
)

STACK_PATRON, STACK_PIN = "2000004", "4567"  # good standing, no loans, limit 10


def test_ten_item_stack_loaned_released_then_returned_secured(world: World, sim: Sim) -> None:
    items = world.items(10)
    for item in items:
        sim.place(item)
    with world.api() as api:
        sid = login(api, STACK_PATRON, STACK_PIN)
        session = api.get(f"/sessions/{sid}").json()
        assert session["offline"] is False  # verified by the ILS through the gateway
        assert api.get("/health").json()["gateway"] == "online"
        out = api.post(f"/sessions/{sid}/checkout")
        assert out.status_code == 200, out.text
        res = by_item(out.json())
        assert set(res) == set(items)
        assert {r["status"] for r in res.values()} == {"loaned"}, [r for r in res.values() if r["status"] != "loaned"]
        assert out.json()["count"] == {"ok": 10, "refused": 0}
        assert all(r.get("due_date") for r in res.values())
        # The demo ILS lent each item once to this patron; every tag reads back released.
        for item in items:
            assert world.ils.loaned_to(item) == STACK_PATRON
            assert len(world.ils.applications(item, "checkout")) == 1
        assert sim.afi_of(items) == {i: {AFI_RELEASED} for i in items}

        # Return the whole stack: every tag secured first, then checked in.
        back = api.post(f"/sessions/{sid}/return")
        assert back.status_code == 200, back.text
        res = by_item(back.json())
        assert {r["status"] for r in res.values()} == {"returned"}, res
        for item in items:
            assert world.ils.loaned_to(item) is None
            assert len(world.ils.applications(item, "checkin")) == 1
        assert sim.afi_of(items) == {i: {AFI_SECURED} for i in items}
        receipt = api.get(f"/sessions/{sid}/receipt").json()
        assert [ln["action"] for ln in receipt["lines"]].count("checkout") == 10
        assert [ln["action"] for ln in receipt["lines"]].count("return") == 10
        assert api.delete(f"/sessions/{sid}").status_code == 204
    world.wait_edge_idle()
    assert world.ils.duplicate_count() == 0


def test_partial_set_is_refused_and_stays_secured(world: World, sim: Sim) -> None:
    item = "30000021"  # a multi-part demo item (30000020-29)
    parts = sim.place(item, parts=3, present=[1, 3])
    assert len(parts) == 2
    with world.api() as api:
        sid = login(api, "2000001", "1234")
        res = by_item(api.post(f"/sessions/{sid}/checkout").json())
        assert res[item]["status"] == "incomplete_set"
        assert res[item]["code"] == "incomplete_set"
        assert set(res[item]["message"]) == {"vi", "en"}
    assert world.ils.applications(item) == []  # never sent to the ILS
    assert world.ils.loaned_to(item) is None
    assert sim.afi_of([item]) == {item: {AFI_SECURED}}


def test_item_on_hold_for_another_patron_is_refused_with_a_reason(world: World, sim: Sim) -> None:
    cached_hold = "30000015"  # on the shelf, held for 2000004; the edge cache knows it
    with world.edge_store() as store:
        assert store.cache.holds_for_item(cached_hold)
    sim.place(cached_hold)
    with world.api() as api:
        sid = login(api, "2000001", "1234")
        res = by_item(api.post(f"/sessions/{sid}/checkout").json())
        r = res[cached_hold]
        assert (r["status"], r["code"]) == ("on_hold_for_other", "on_hold_for_other")
        assert r["message"]["en"] and r["message"]["vi"]
    assert world.ils.applications(cached_hold) == []  # refused locally, before the journal
    assert sim.afi_of([cached_hold]) == {cached_hold: {AFI_SECURED}}


def test_hold_unknown_to_the_cache_is_refused_by_the_ils_with_its_reason(world: World,
                                                                          sim: Sim) -> None:
    item = "30000016"  # held for 2000004 in the ILS; drop it from the edge cache
    with world.edge_store() as store, store.transaction() as conn:
        conn.execute("DELETE FROM holds WHERE item_id=?", (item,))
    sim.place(item)
    with world.api() as api:
        sid = login(api, "2000001", "1234")
        r = by_item(api.post(f"/sessions/{sid}/checkout").json())[item]
        # No reason code in the gateway's result: the edge maps the ILS's text.
        assert (r["status"], r["code"]) == ("on_hold_for_other", "on_hold_for_other")
        assert r["ils_message"] == "Item is on hold for another patron"  # the ILS's own words
        assert set(r["message"]) == {"vi", "en"}
    assert world.ils.loaned_to(item) is None
    assert sim.afi_of([item]) == {item: {AFI_SECURED}}
    world.wait_edge_idle()


def test_renew_and_account_through_the_gateway(world: World, sim: Sim) -> None:
    items = world.items(2)
    patron = world.patron()
    for item in items:
        sim.place(item)
    with world.api() as api:
        sid = login(api, patron)
        res = by_item(api.post(f"/sessions/{sid}/checkout").json())
        assert {r["status"] for r in res.values()} == {"loaned"}, res
        first_due = res[items[0]]["due_date"]
        r = api.post(f"/sessions/{sid}/renew", json={"items": [items[0]]})
        assert r.status_code == 200, r.text
        renewed = by_item(r.json())[items[0]]
        assert renewed["status"] == "renewed", renewed
        assert renewed["due_date"] >= first_due
        assert len(world.ils.applications(items[0], "renew")) == 1
        account = api.get(f"/sessions/{sid}/account")
        assert account.status_code == 200, account.text
        acc = account.json()
        assert acc["offline"] is False  # answered by the ILS through the gateway
        assert {ln["item_id"] for ln in acc["loans"]} == set(items)
        assert not any(ln["overdue"] for ln in acc["loans"])
        # A patron with overdue loans and holds (docs/demo-ils.md).
        sid2 = login(api, "2000001", "1234")
        acc2 = api.get(f"/sessions/{sid2}/account").json()
        assert acc2["offline"] is False
        loans2 = {ln["item_id"]: ln for ln in acc2["loans"]}
        assert {f"3000006{i}" for i in range(5)} <= set(loans2)
        assert all(loans2[f"3000006{i}"]["overdue"] for i in range(5))
        assert all(ln["title"] for ln in acc2["loans"])
    world.wait_edge_idle()
    assert world.ils.duplicate_count() == 0


def test_renew_all_through_the_real_gateway(world: World, sim: Sim) -> None:
    """B1: the gateway's renew-all result lists item ids (strings); the edge reads them."""
    items = world.items(2)
    patron = world.patron()
    for item in items:
        sim.place(item)
    with world.api() as api:
        sid = login(api, patron)
        res = by_item(api.post(f"/sessions/{sid}/checkout").json())
        assert {r["status"] for r in res.values()} == {"loaned"}, res
        r = api.post(f"/sessions/{sid}/renew", json={"all": True})
        assert r.status_code == 200, r.text
        renewed = by_item(r.json())
        assert set(renewed) == set(items)
        assert {x["status"] for x in renewed.values()} == {"renewed"}, renewed
    for item in items:
        assert len(world.ils.applications(item, "renew_all")) == 1
    world.wait_edge_idle()
    with world.edge_store() as store:
        [entry] = [e for e in store.outbox.list() if e.kind == "renew_all"
                   and e.patron_ref == patron]
        assert entry.state == "applied" and entry.result["items"] == sorted(items)
    assert world.ils.duplicate_count() == 0


def test_anonymous_return_surfaces_hold_shelf_and_transit_hints(world: World, sim: Sim) -> None:
    held, foreign = "30000011", "30000031"  # loaned with holds; owned by VN-HCM0002
    assert world.ils.loaned_to(held) and world.ils.loaned_to(foreign)
    sim.place(held, afi=AFI_RELEASED)
    sim.place(foreign, afi=AFI_RELEASED)
    with world.api() as api:
        r = api.post("/returns")
        assert r.status_code == 200, r.text
        res = by_item(r.json())
    assert res[held]["status"] == "returned" and res[held]["sort"]["kind"] == "hold_shelf"
    assert res[foreign]["status"] == "returned" and res[foreign]["sort"]["kind"] == "transit"
    assert res[foreign]["sort"]["destination"] == "VN-HCM0002"
    assert world.ils.loaned_to(held) is None and world.ils.loaned_to(foreign) is None
    assert sim.afi_of([held, foreign]) == {held: {AFI_SECURED}, foreign: {AFI_SECURED}}
