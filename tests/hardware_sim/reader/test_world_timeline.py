"""WorldSpec timelines: actions checked at load, and a failing action does not stop the rest."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest

from hardware_sim.errors import SimError
from hardware_sim.world import Scheduler, SimWorld, WorldSpec, WorldSpecError, check_action

GOOD = {"at": 0.0, "action": "clear"}


@pytest.mark.parametrize(("action", "words"), [
    ({"at": 1, "action": "walk", "reader": "gate"}, ["timeline 1", "walk", "items"]),
    ({"at": 1, "action": "walk", "items": []}, ["timeline 1", "items"]),
    ({"at": 1, "action": "walk", "items": ["1"], "direction": "up"}, ["timeline 1", "direction"]),
    ({"at": 1, "action": "walk", "items": ["1"], "speed_m_s": 0}, ["timeline 1", "speed_m_s"]),
    ({"at": 1, "action": "fault", "reader": "pad"}, ["timeline 1", "fault", "kind"]),
    ({"at": 1, "action": "fault", "kind": "timeout", "count": "x"}, ["timeline 1", "count"]),
    ({"at": 1, "action": "input", "reader": "gate"}, ["timeline 1", "input", "number"]),
    ({"at": 1, "action": "input", "number": 1, "on": "yes"}, ["timeline 1", "on"]),
    ({"at": 1, "action": "remove"}, ["timeline 1", "remove", "key, item or uid"]),
    ({"at": 1, "action": "place", "item": "1", "present": "1,3"}, ["timeline 1", "present"]),
    ({"at": 1, "action": "clear", "zone": 3}, ["timeline 1", "zone"]),
    ({"at": 1, "action": "explode"}, ["timeline 1", "action"]),
    ({"action": "clear"}, ["timeline 1", "at"]),
    ({"at": "soon", "action": "clear"}, ["timeline 1", "at"]),
    ({"at": -1, "action": "clear"}, ["timeline 1", "at"]),
])
def test_bad_actions_are_refused_at_load(action: dict[str, object], words: list[str]) -> None:
    with pytest.raises(WorldSpecError) as exc:
        WorldSpec.from_dict({"timeline": [GOOD, action]}, "s.toml")
    assert isinstance(exc.value, SimError)
    for w in ["s.toml", *words]:
        assert w in str(exc.value)


def test_bad_action_in_a_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[[timeline]]\nat = 0.5\naction = "walk"\nreader = "gate"\n', encoding="utf-8")
    with pytest.raises(WorldSpecError, match=r"timeline 0 \(walk\): needs items"):
        WorldSpec.load(path)


def test_good_actions_pass() -> None:
    for a in ({"action": "place", "item": "1", "parts": 3, "present": [1, 3], "zone": "pad"},
              {"action": "place"},  # a blank tag
              {"action": "remove", "key": "E004010000000001"}, {"action": "remove", "item": 5},
              {"action": "clear"}, {"action": "walk", "items": ["1", 2], "direction": "in"},
              {"action": "fault", "kind": "garbage", "bytes": 3, "count": "forever"},
              {"action": "input", "number": 2, "on": False}):
        check_action(a)


def test_run_action_is_checked_too() -> None:
    w = SimWorld(WorldSpec.default(), timing=False)
    with pytest.raises(WorldSpecError, match="needs items"):
        w.run_action({"action": "walk"})


def _wait_for(cond: object, what: str) -> None:
    deadline = time.monotonic() + 30  # only bounds a hung test
    while not cond():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def test_a_failing_timeline_action_is_logged_and_the_rest_runs(
        caplog: pytest.LogCaptureFixture) -> None:
    # Both pass the load check but fail when run: an unknown fault kind (a SimError) and a
    # fault rate that is not a number (ValueError inside the fault table).
    sc = WorldSpec.from_dict({"timeline": [
        {"at": 0.0, "action": "fault", "reader": "pad", "kind": "nonsense"},
        {"at": 0.0, "action": "fault", "reader": "pad", "kind": "fail_write", "rate": "often"},
        {"at": 0.01, "action": "place", "item": "LATER001", "zone": "pad"},
    ]})
    for r in sc.readers:
        r.pty, r.tcp = False, False
    caplog.set_level(logging.ERROR, logger="hardware_sim.world")
    with SimWorld(sc, timing=False) as w:
        _wait_for(lambda: w.field.snapshot()["pad"], "the action after the failures never ran")
        assert [t.item_id for t in w.field.in_zones(["pad"])] == ["LATER001"]
        assert w.status()["failed_actions"] == 2
        assert w.scheduler.pending() == 0
    text = caplog.text
    assert "timeline action 0" in text and "'nonsense'" in text
    assert "timeline action 1" in text and "ValueError" in text and "'often'" in text


def test_scheduler_survives_any_exception(caplog: pytest.LogCaptureFixture) -> None:
    sched = Scheduler()
    done = threading.Event()

    def boom() -> None:
        raise RuntimeError("bug in a scheduled callable")

    sched.start()
    try:
        sched.at(0, boom)
        sched.at(0.01, done.set)
        assert done.wait(30), "the scheduler thread died"
        assert sched.failures == 1
    finally:
        sched.stop()
    assert "bug in a scheduled callable" in caplog.text
