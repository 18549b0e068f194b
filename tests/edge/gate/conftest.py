"""Fixtures for the gate tests: the simulator's gate (two antenna zones, IR beams), a
FeigReader on it over ``socket://``, a store, and a :class:`Walk` that moves a patron with
tags through the gate one step at a time, polling the gate after each step."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from drivers.feig.reader import FeigReader
from drivers.tags import SecurityPolicy
from edge.services.events import EventBus
from edge.services.gate import GateService
from edge.store import ItemRecord, LoanRecord, Store, open_store
from hardware_sim.feig_device import FeigReaderDevice
from hardware_sim.field import SimField
from hardware_sim.tag import SimTag
from smartlib.config import GateSection

SECURED, RELEASED = 0x07, 0xC2
INNER_BEAM, OUTER_BEAM = 1, 2


class FakeClock:
    """Monotonic seconds that tests move by hand."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    def advance(self, s: float) -> None:
        self.t += s


@dataclass
class GateRig:
    field: SimField
    device: FeigReaderDevice
    reader: FeigReader
    store: Store
    bus: EventBus
    clock: FakeClock
    events: list[dict[str, Any]]
    make_gate: Callable[..., GateService]
    _n: list[int] = field(default_factory=lambda: [0])

    def tag(self, item_id: str, *, secured: bool = True, eas: bool | None = None,
            title: str | None = None, on_loan: bool = False, catalogue: bool = True) -> SimTag:
        """A tagged item (secured: AFI 0x07; released: 0xC2) and its cache rows."""
        self._n[0] += 1
        t = SimTag.from_item(item_id, isil="VN-HN0001", afi=SECURED if secured else RELEASED,
                             eas=secured if eas is None else eas,
                             uid=f"E0040150{self._n[0]:08X}")
        self.field.register(t)
        if catalogue:
            self.store.cache.apply_delta(items=[ItemRecord(item_id, title or f"Sách {item_id}",
                                                           location="HN0001-MAIN")])
        if on_loan:
            self.store.cache.record_loan(LoanRecord(item_id, "2000001", "2030-01-01"))
        return t

    def alarms(self) -> list[Any]:
        return [a for a in self.store.alarms.list(limit=10_000) if a.kind == "gate"]

    def outputs(self) -> list[dict[str, Any]]:
        return list(self.device.output_log)


@pytest.fixture
def gate_rig(tmp_path: Path) -> Iterator[GateRig]:
    fld = SimField()
    device = FeigReaderDevice(fld, ["gate-in", "gate-out"], name="gate", timing=False,
                              seed=5).start(pty=False, tcp=True)
    reader = FeigReader(f"socket://127.0.0.1:{device.tcp_port}", timeout_s=0.3,
                        antennas=("gate-in", "gate-out"))
    store = open_store(tmp_path / "gate.db")
    bus = EventBus()
    events: list[dict[str, Any]] = []
    bus.subscribe(events.append)
    clock = FakeClock()

    def make_gate(*, beam_every: int = 1, **gate_kw: Any) -> GateService:
        gate = GateSection(**gate_kw)
        return GateService(store, reader, bus, gate, SecurityPolicy("afi", SECURED, RELEASED),
                           gate_id="gate-01", site_id="hn-central", clock=clock,
                           beam_every=beam_every)

    try:
        reader.open()
        yield GateRig(fld, device, reader, store, bus, clock, events, make_gate)
    finally:
        reader.close()
        device.stop()
        store.close()


class Walk:
    """A patron carrying ``tags`` through the gate, polling ``gate`` after every step.

    Out (leaving): inner beam, tags at the inner antenna, outer beam, tags at the outer
    antenna, inner beam clear, outer beam clear and tags gone. In: the mirror image.
    """

    def __init__(self, rig: GateRig, gate: GateService, step_s: float = 0.2,
                 polls_per_step: int = 1) -> None:
        self.rig, self.gate, self.step_s = rig, gate, step_s
        self.polls_per_step = polls_per_step

    def _step(self) -> None:
        for _ in range(self.polls_per_step):
            self.rig.clock.advance(self.step_s / self.polls_per_step)
            assert self.gate.poll_once()

    def through(self, tags: list[SimTag], direction: str = "out", *, beams: bool = True,
                zones: bool = True) -> None:
        d, f = self.rig.device, self.rig.field
        first, second = ("gate-in", "gate-out") if direction == "out" else ("gate-out", "gate-in")
        b1, b2 = (INNER_BEAM, OUTER_BEAM) if direction == "out" else (OUTER_BEAM, INNER_BEAM)
        if beams:
            d.set_input(b1, True)
        for t in tags:
            f.place(t, first if zones else "gate-in")
        self._step()
        if beams:
            d.set_input(b2, True)
        self._step()
        for t in tags:
            f.place(t, second if zones else "gate-in")
        if beams:
            d.set_input(b1, False)
        self._step()
        if beams:
            d.set_input(b2, False)
        for t in tags:
            f.remove(t.uid)
        self._step()
        # Long enough for the gate to forget the pass (a new pass next time).
        self.rig.clock.advance(self.gate.pass_gap_s + 0.1)
        assert self.gate.poll_once()


@pytest.fixture
def walk_factory(gate_rig: GateRig) -> Callable[[GateService], Walk]:
    return lambda gate: Walk(gate_rig, gate)
