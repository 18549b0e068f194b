"""``bench/gate.py``'s figures: a pass whose alarm never fired counts against the target."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[3] / "bench" / "gate.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_gate_under_test", BENCH)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def _met(targets: list[dict]) -> dict[str, bool]:
    return {t["figure"]: t["met"] for t in targets}


def test_every_alarm_fired_meets_the_targets(bench: ModuleType) -> None:
    lat = bench.latency_figures([0.010 * (i + 1) for i in range(10)], 0.022)
    assert (lat["passes"], lat["alarmed"], lat["missed"]) == (10, 10, 0)
    assert (lat["p50_ms"], lat["p99_ms"], lat["max_ms"]) == (50.0, 100.0, 100.0)
    assert _met(bench.latency_targets(lat)) == {"alarm_latency_p99_ms": True,
                                                "alarm_latency_missed": True}


def test_one_missed_pass_fails_the_run(bench: ModuleType) -> None:
    # 499 fast alarms and one that never fired: p99 is still fast, but the run fails.
    lat = bench.latency_figures([0.05] * 499 + [math.inf], 0.022)
    assert (lat["passes"], lat["alarmed"], lat["missed"]) == (500, 499, 1)
    assert lat["p99_ms"] == 50.0 and lat["max_ms"] is None
    assert _met(bench.latency_targets(lat)) == {"alarm_latency_p99_ms": True,
                                                "alarm_latency_missed": False}


def test_missed_passes_are_infinite_latencies_in_p99(bench: ModuleType) -> None:
    lat = bench.latency_figures([0.05] * 95 + [math.inf] * 5, 0.022)
    assert lat["p50_ms"] == 50.0 and lat["p99_ms"] is None and lat["missed"] == 5
    [p99, missed] = bench.latency_targets(lat)
    assert p99["figure"] == "alarm_latency_p99_ms" and p99["met"] is False
    assert p99["value"] is None and "5 missed" in p99["reference"]
    assert missed["met"] is False and missed["value"] == 5


def test_no_alarm_at_all(bench: ModuleType) -> None:
    lat = bench.latency_figures([math.inf] * 3, 0.0)
    assert lat["alarmed"] == 0 and lat["p50_ms"] is None and lat["p99_ms"] is None
    assert not any(t["met"] for t in bench.latency_targets(lat))


def test_default_run_is_the_full_size(bench: ModuleType, monkeypatch) -> None:
    # The sizes main() asks for, without running the bench: >= 500 passes, a 1M cache.
    seen: dict[str, int] = {}
    monkeypatch.setattr(bench, "alarm_latency", lambda tmp, passes: seen.update(passes=passes)
                        or bench.latency_figures([0.05] * passes, 0.02))
    monkeypatch.setattr(bench, "decision_time", lambda tmp, items, lookups: seen.update(
        items=items, lookups=lookups) or {"items": items, "ratio": 1.0, "raw_lookup_us": 1.0})
    monkeypatch.setattr(bench, "emit", lambda *a, **k: None)
    for argv, want in ((["gate.py"], (500, 1_000_000)), (["gate.py", "--quick"], (60, 100_000))):
        monkeypatch.setattr(sys, "argv", argv)
        bench.main()
        assert (seen["passes"], seen["items"]) == want
