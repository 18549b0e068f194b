"""The gateway is down: kiosk-02's checkout waits its bound, the offline policy accepts what
it allows (released at once), refuses the rest (secured); when the gateway is back the
journal drains, each offline loan is applied once in the ILS."""

from __future__ import annotations

from tests.edge.e2e.conftest import AFI_RELEASED, AFI_SECURED, World, login, wait_until


def test_gateway_down_offline_policy_then_drain_applies_once(world: World, kiosk2) -> None:
    box = kiosk2(policy={"result_timeout_s": 1.0, "offline_max_items": 2})
    items = world.items(3)
    for item in items:
        box.place(item)
    patron = world.patron()
    api = box.client
    sid = login(api, patron)  # online: the gateway is still up
    world.gateway.stop()
    try:
        res = {r["item_id"]: r for r in api.post(f"/sessions/{sid}/checkout").json()["results"]}
        accepted = {i for i, r in res.items() if r["status"] == "offline_accepted"}
        refused = {i for i, r in res.items() if r["status"] == "refused"}
        assert len(accepted) == 2 and len(refused) == 1, res
        assert {res[i]["code"] for i in refused} == {"offline_limit"}
        afi = box.afi_of(items)
        assert all(afi[i] == {AFI_RELEASED} for i in accepted)
        assert all(afi[i] == {AFI_SECURED} for i in refused)
        assert all(world.ils.applications(i) == [] for i in items)  # nothing reached the ILS
    finally:
        world.gateway.start()
    store = box.services.store
    wait_until(lambda: all(world.ils.loaned_to(i) == patron for i in accepted), 60,
               "the offline loans to reach the ILS")
    wait_until(lambda: not store.outbox.unhandled(), 60, "the journal to be handled")
    for item in accepted:
        # Once. (no_block may be 0: the request was published before the edge's wait ran
        # out and sat in the broker for the gateway; the ILS then applies that version.)
        assert len(world.ils.applications(item, "checkout")) == 1
    with box.services.store.transaction() as conn:
        rows = conn.execute("SELECT item_id, offline, state FROM outbox WHERE kind = 'checkout'"
                            " AND item_id IN (?, ?, ?)", items).fetchall()
    assert {(r[0], r[1], r[2]) for r in rows if r[0] in accepted} == {
        (i, 1, "applied") for i in accepted}
    # the refused one was withdrawn (or undone by a compensating check-in): not on loan
    for item in refused:
        assert world.ils.loaned_to(item) is None
    assert world.ils.duplicate_count() == 0


def test_offline_return_of_another_librarys_item_gets_a_transit_hint(world: World,
                                                                     kiosk2) -> None:
    """Issue 21 §4: the tag's owner ISIL differs from the site's (VN-HN0001), so the edge
    itself says "transit" while the gateway is down; its own items get no hint."""
    box = kiosk2(policy={"result_timeout_s": 1.0})
    foreign, [ours] = "30000040", world.items(1)  # 30000040: owned by VN-HCM0002, not on loan
    box.place(foreign, isil="VN-HCM0002", afi=AFI_RELEASED)
    box.place(ours, afi=AFI_RELEASED)
    world.gateway.stop()
    try:
        res = {r["item_id"]: r for r in box.client.post("/returns").json()["results"]}
    finally:
        world.gateway.start()
    assert res[foreign]["status"] == "offline_accepted", res
    assert res[foreign]["sort"] == {"kind": "transit", "destination": "VN-HCM0002"}
    assert res[ours]["status"] == "offline_accepted" and res[ours].get("sort") is None
    store = box.services.store
    wait_until(lambda: not store.outbox.unhandled(), 60, "the journal to be handled")
