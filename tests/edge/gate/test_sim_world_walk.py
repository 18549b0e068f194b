"""The running gate loop against the simulator's own gate walk (``SimWorld.walk``, what
``smartlib sim ctl walk`` and scenario timelines use), in real time."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from drivers.feig.reader import FeigReader
from drivers.tags import SecurityPolicy
from edge.services.events import EventBus
from edge.services.gate import COUNTER_IN, COUNTER_OUT, GateService
from edge.store import ItemRecord, LoanRecord, Store, open_store
from hardware_sim.world import SimWorld
from smartlib.config import GateSection


@pytest.fixture
def world_gate(tmp_path: Path) -> Iterator[tuple[SimWorld, GateService, Store]]:
    world = SimWorld(timing=False).start()
    url = world.endpoints()["gate"]["url"]
    reader = FeigReader(url, timeout_s=0.3, antennas=("gate-in", "gate-out"))
    store = open_store(tmp_path / "g.db")
    gate = GateService(store, reader, EventBus(), GateSection(detection="afi"),
                       SecurityPolicy("afi", 0x07, 0xC2), gate_id="gate-01")
    try:
        gate.start()
        yield world, gate, store
    finally:
        gate.stop()
        reader.close()
        store.close()
        world.stop()


def _wait(cond, timeout: float = 30.0) -> bool:  # type: ignore[no-untyped-def]
    """Wait for an observable state (a generous functional timeout, not a timing check)."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_world_walk_out_and_in(world_gate) -> None:
    world, gate, store = world_gate
    store.cache.apply_delta(items=[ItemRecord("81000001", "Đất rừng phương Nam"),
                                   ItemRecord("81000002", "Chí Phèo")],
                            loans=[LoanRecord("81000001", "2000001")])
    world.make_tag({"item": "81000001", "afi": 0xC2, "eas": False})
    world.make_tag({"item": "81000002", "afi": 0x07})
    plan = world.walk(["81000001", "81000002"], reader="gate", direction="out")
    assert len(plan["uids"]) == 2
    # The walk is over for the gate once the visitor is counted and both tags' passes are
    # closed (each decided, then forgotten pass_gap_s after it left): no alarm can follow.
    assert _wait(lambda: store.counters.totals("0000").get(COUNTER_OUT) == 1)
    assert _wait(lambda: gate.stats.passes_closed >= 2)
    assert gate.stats.decided == 2 and gate.stats.undetermined == 0
    alarms = store.alarms.list()
    assert [(a.item_id, a.detail["direction"], a.detail["title"]) for a in alarms] == \
        [("81000002", "out", "Chí Phèo")]

    closed, decided = gate.stats.passes_closed, gate.stats.decided
    world.walk(["81000002"], reader="gate", direction="in")
    assert _wait(lambda: store.counters.totals("0000").get(COUNTER_IN) == 1)
    # The secured tag's pass in was decided (secured, but entering) and is closed.
    assert _wait(lambda: gate.stats.passes_closed >= closed + 1)
    assert gate.stats.decided == decided + 1 and gate.stats.undetermined == 0
    assert len(store.alarms.list()) == 1          # entering does not alarm by default
