"""kill -9 of ``smartlib serve`` at each step of a checkout, and of a return
(``SMARTLIB_CRASH_AT``), with the real agent, broker, gateway and demo ILS running on: after
a restart every journaled transaction is finished, each item is lent (or returned) once
(ILS duplicate count 0), every lent item's tag reads back released and every returned one
secured; nothing is released without a loan, nothing checked in before it is secured."""

from __future__ import annotations

import httpx
import pytest

from edge.services.crash import RETURN_STEPS, STEPS
from tests.edge.e2e.conftest import (
    AFI_RELEASED,
    AFI_SECURED,
    Sim,
    World,
    by_item,
    killed_ok,
    login,
)


@pytest.mark.parametrize("step", STEPS)
def test_kill9_of_serve_at_each_checkout_step(step: str, world: World, sim: Sim) -> None:
    items = world.items(2)
    patron = world.patron()
    for item in items:
        sim.place(item)
    world.restart_serve({"SMARTLIB_CRASH_AT": step})
    try:
        with killed_ok(world.serve), world.api() as api:
            sid = login(api, patron)
            with pytest.raises(httpx.TransportError):
                api.post(f"/sessions/{sid}/checkout")
    finally:
        world.restart_serve()
    world.wait_edge_idle()
    with world.edge_store() as store:
        entries = [e for e in store.outbox.list() if e.item_id in items]
        assert entries, "the crash came after the first journal write"
        assert all(e.state == "applied" and e.handled_at for e in entries)
        journaled = {e.item_id for e in entries}
        assert len(entries) == len(journaled)  # one checkout per item, no second journal
        assert all(store.cache.is_on_loan(i) for i in journaled)
    afi = sim.afi_of(items)
    for item in items:
        if item in journaled:
            assert world.ils.loaned_to(item) == patron
            assert len(world.ils.applications(item, "checkout")) == 1
            assert afi[item] == {AFI_RELEASED}, (step, item)
        else:  # never journaled: never sent, never released
            assert world.ils.applications(item) == []
            assert afi[item] == {AFI_SECURED}, (step, item)
    assert world.ils.duplicate_count() == 0


@pytest.mark.parametrize("step", RETURN_STEPS)
def test_kill9_of_serve_at_each_return_step(step: str, world: World, sim: Sim) -> None:
    items = world.items(2)
    patron = world.patron()
    for item in items:
        sim.place(item)
    with world.api() as api:  # lent first, normally
        sid = login(api, patron)
        res = by_item(api.post(f"/sessions/{sid}/checkout").json())
        assert {r["status"] for r in res.values()} == {"loaned"}, res
    world.wait_edge_idle()
    world.restart_serve({"SMARTLIB_CRASH_AT": step})
    try:
        with killed_ok(world.serve), world.api() as api, pytest.raises(httpx.TransportError):
            api.post("/returns")
    finally:
        world.restart_serve()
    world.wait_edge_idle()
    with world.edge_store() as store:
        returns = [e for e in store.outbox.list() if e.item_id in items and e.kind == "checkin"]
        assert returns, "the crash came after the first secure write"
        assert all(e.state == "applied" and e.handled_at for e in returns)
        returned = {e.item_id for e in returns}
        assert len(returns) == len(returned)  # one check-in per item, never a second
        assert not any(store.cache.is_on_loan(i) for i in returned)
    afi = sim.afi_of(items)
    for item in items:
        if item in returned:
            assert world.ils.loaned_to(item) is None
            assert len(world.ils.applications(item, "checkin")) == 1
            assert afi[item] == {AFI_SECURED}, (step, item)
        else:  # never secured: never checked in, still lent and released
            assert world.ils.loaned_to(item) == patron
            assert world.ils.applications(item, "checkin") == []
            assert afi[item] == {AFI_RELEASED}, (step, item)
    assert world.ils.duplicate_count() == 0
