"""People counting from the IR beams, the pure beam/debounce rules, and 100-item walks."""

from __future__ import annotations

import pytest

from edge.services.gate import COUNTER_IN, COUNTER_OUT
from edge.services.gate_logic import BeamCounter, Debouncer, direction_from_zones, reason_texts
from tests.edge.gate.conftest import INNER_BEAM, OUTER_BEAM, GateRig, Walk


def test_beam_counter_rules() -> None:
    c = BeamCounter(hint_s=1.0, gap_s=0.15)
    # leaving: inner, both, outer, clear (a pass ends once both are clear for gap_s)
    assert c.update(True, False, 0.0) is None and c.direction_hint(0.0) == "out"
    assert c.update(True, True, 0.1) is None
    assert c.update(False, True, 0.2) is None
    assert c.update(False, False, 0.3) is None and c.active
    p = c.update(False, False, 0.5)
    assert p is not None and p.direction == "out" and (p.started_at, p.ended_at) == (0.0, 0.3)
    assert c.direction_hint(1.2) == "out" and c.direction_hint(1.4) is None
    # entering, with a moment where both beams are clear between them (the simulator's walk)
    c.update(False, True, 2.0)
    c.update(False, False, 2.05)
    c.update(True, False, 2.1)
    c.update(False, False, 2.2)
    p = c.update(False, False, 2.4)
    assert p is not None and p.direction == "in"
    # a step into one beam and back: not a visitor
    c.update(True, False, 3.0)
    c.update(False, False, 3.1)
    assert c.update(False, False, 3.3) is None and not c.active
    # both at once: counted, direction unknown
    c.update(True, True, 4.0)
    c.update(False, False, 4.1)
    p = c.update(False, False, 4.3)
    assert p is not None and p.direction == "unknown"


def test_zone_rules_and_debouncer() -> None:
    assert direction_from_zones({"gate-in"}, "gate-in", "gate-out") == "out"
    assert direction_from_zones({"gate-out"}, "gate-in", "gate-out") == "in"
    assert direction_from_zones({"gate-in", "gate-out"}, "gate-in", "gate-out") is None
    d = Debouncer(10.0)
    assert d.allow("A", 0.0) and not d.allow("A", 9.9) and d.allow("B", 5.0)
    assert d.allow("A", 10.0)
    d.prune(30.0)
    assert len(d) == 0
    assert reason_texts("loaned_alarm_on")["vi"] and reason_texts("x") == {"en": "x", "vi": "x"}


def test_visitors_counted_in_and_out_per_hour(gate_rig: GateRig) -> None:
    gate = gate_rig.make_gate(detection="afi")
    walk = Walk(gate_rig, gate)
    for _ in range(3):
        walk.through([], "out")
    for _ in range(2):
        walk.through([], "in")
    # Someone who breaks the inner beam and turns back is not counted.
    gate_rig.device.set_input(INNER_BEAM, True)
    walk._step()
    gate_rig.device.set_input(INNER_BEAM, False)
    walk._step()
    totals = gate_rig.store.counters.totals("0000")
    assert totals[COUNTER_OUT] == 3 and totals[COUNTER_IN] == 2
    hours = gate_rig.store.counters.hours("0000")
    assert len(hours) == 1 and next(iter(hours.values()))[COUNTER_OUT] == 3
    ev = [e for e in gate_rig.events if e["type"] == "counter"]
    assert [e["direction"] for e in ev] == ["out"] * 3 + ["in"] * 2
    assert ev[-1]["in"] == 2 and ev[-1]["out"] == 3
    assert gate_rig.device.inputs == 0 and OUTER_BEAM == 2


def test_beams_read_every_other_poll_still_count_with_direction(gate_rig: GateRig) -> None:
    # The real loop reads the beams every 2nd poll while idle; a person blocks a beam for
    # many polls, so two polls per walking step are the worst case.
    gate = gate_rig.make_gate(detection="afi", beam_every=2)
    walk = Walk(gate_rig, gate, polls_per_step=2)
    for direction in ("out", "in", "out"):
        walk.through([], direction)
    totals = gate_rig.store.counters.totals("0000")
    assert totals[COUNTER_OUT] == 2 and totals[COUNTER_IN] == 1
    assert gate_rig.device.counters["cmd_74"] < gate.stats.polls


@pytest.mark.parametrize("mode", ["afi", "afi+database", "database"])
def test_100_checked_out_items_no_false_alarm(gate_rig: GateRig, mode: str) -> None:
    gate = gate_rig.make_gate(detection=mode)
    tags = [gate_rig.tag(f"4{i:07d}", secured=False, on_loan=True) for i in range(100)]
    walk = Walk(gate_rig, gate)
    for n in range(0, 100, 10):
        walk.through(tags[n:n + 10], "out")
    assert gate.stats.tags_seen == 100
    assert gate_rig.alarms() == [] and gate_rig.outputs() == []


def test_100_unissued_items_each_alarm(gate_rig: GateRig) -> None:
    gate = gate_rig.make_gate(detection="afi")
    tags = [gate_rig.tag(f"5{i:07d}", secured=True) for i in range(100)]
    walk = Walk(gate_rig, gate)
    for t in tags:
        walk.through([t], "out")
    alarms = gate_rig.alarms()
    assert sorted(a.item_id for a in alarms) == [f"5{i:07d}" for i in range(100)]
    assert all(a.detail["reason"] == "not_checked_out" for a in alarms)
    assert gate_rig.store.counters.totals("0000")["gate_alarm"] == 100
    assert gate_rig.store.counters.totals("0000")[COUNTER_OUT] == 100
