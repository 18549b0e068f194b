"""Every shipped scenario runs through ``smartlib demo --headless`` (one started system).

The demo is a subprocess: it starts the simulator, Mosquitto, the gateway, a kiosk and a
gate edge with their sync agents, runs the scenarios and prints one JSON summary.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from smartlib_demo import scenarios as sc

REPO = Path(__file__).resolve().parents[2]
SHIPPED = ("checkout-10", "return-10", "partial-set", "hold-for-other", "offline-then-sync",
           "afi-faults", "gate-walk")


def test_every_required_scenario_is_shipped_and_valid() -> None:
    known = sc.load_all()
    assert set(SHIPPED) <= set(known)
    for name in SHIPPED:
        assert known[name].description
        assert all(step["do"] in sc.STEPS for step in known[name].steps)


def test_unknown_scenario_is_a_usage_error(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "smartlib.cli", "demo", "--headless",
                           "--scenario", "no-such-thing", "--run-dir", str(tmp_path / "run")],
                          capture_output=True, text=True, cwd=REPO, timeout=60)
    assert done.returncode == 2
    assert "unknown scenario 'no-such-thing'" in done.stderr
    assert not (tmp_path / "run").exists()


def test_a_bad_scenario_file_names_the_step(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text('name = "bad"\n[[step]]\ndo = "fly"\n')
    with pytest.raises(sc.ScenarioError, match="step 1: do = 'fly'"):
        sc.Scenario.load(tmp_path / "bad.toml")


@pytest.fixture(scope="module")
def summary(tmp_path_factory: pytest.TempPathFactory) -> dict:
    run = tmp_path_factory.mktemp("demo") / "run"
    done = subprocess.run([sys.executable, "-m", "smartlib.cli", "demo", "--headless",
                           "--scenario", ",".join(SHIPPED), "--run-dir", str(run)],
                          capture_output=True, text=True, cwd=REPO, timeout=600)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    assert len(lines) == 1, f"expected one JSON line; stdout={done.stdout[-2000:]} " \
                            f"stderr={done.stderr[-3000:]}"
    data = json.loads(lines[0])
    data["_returncode"] = done.returncode
    data["_stderr"] = done.stderr
    return data


def _scenario(summary: dict, name: str) -> dict:
    return next(s for s in summary["scenarios"] if s["name"] == name)


def test_summary_shape_and_exit_code(summary: dict) -> None:
    assert [s["name"] for s in summary["scenarios"]] == list(SHIPPED)
    for s in summary["scenarios"]:
        assert isinstance(s["seconds"], float)
        for step in s["steps"]:
            assert {"n", "do", "ok", "seconds"} <= set(step)
    assert summary["ok"] == all(s["ok"] for s in summary["scenarios"])
    assert (summary["_returncode"] == 0) == summary["ok"]


@pytest.mark.parametrize("name", SHIPPED)
def test_scenario_passes(summary: dict, name: str) -> None:
    s = _scenario(summary, name)
    failed = [st for st in s["steps"] if not st["ok"]]
    assert s["ok"], f"{name} failed at {failed}"


def test_checkout_10_loans_and_releases_every_item(summary: dict) -> None:
    s = _scenario(summary, "checkout-10")
    checkout = next(st for st in s["steps"] if st["do"] == "checkout")
    assert [r["status"] for r in checkout["result"]["results"]] == ["loaned"] * 10
    journal = next(st for st in s["steps"] if st["do"] == "wait_journal")
    assert journal["result"]["lost"] == 0 and journal["result"]["duplicates"] == 0


def test_offline_then_sync_loses_and_duplicates_nothing(summary: dict) -> None:
    s = _scenario(summary, "offline-then-sync")
    offline = next(st for st in s["steps"] if st["do"] == "checkout")
    assert {r["status"] for r in offline["result"]["results"]} == {"offline_accepted"}
    journal = next(st for st in s["steps"] if st["do"] == "wait_journal")
    assert journal["ok"], journal
    assert journal["result"] == {**journal["result"], "transactions": 3, "lost": 0,
                                 "duplicates": 0}
    stats = next(st for st in s["steps"] if st["do"] == "ils_stats")
    assert stats["result"]["duplicate_count"] == 0


def test_gate_walk_alarms_once_for_the_unissued_item(summary: dict) -> None:
    s = _scenario(summary, "gate-walk")
    picked = {st["result"]["items"][0] for st in s["steps"] if st["do"] == "pick"}
    alarms = next(st for st in s["steps"] if st["do"] == "wait_alarms")["result"]["alarms"]
    assert len(alarms) == 1
    assert alarms[0]["item_id"] in picked
    borrowed = next(st for st in s["steps"] if st["do"] == "checkout")["result"]["results"][0]
    assert alarms[0]["item_id"] != borrowed["item_id"]


def test_hold_for_other_is_refused_and_stays_secured(summary: dict) -> None:
    s = _scenario(summary, "hold-for-other")
    result = next(st for st in s["steps"] if st["do"] == "checkout")["result"]["results"][0]
    assert "holds" in summary["cache_kinds"]
    # the cache knows the hold: refused at the edge, before anything is journaled
    assert (result["status"], result.get("code")) == ("on_hold_for_other", "on_hold_for_other")
    assert "transaction" not in result
    afi = next(st for st in s["steps"] if st["do"] == "wait_afi")["result"]
    assert set(afi.values()) == {0x07}


def test_afi_faults_never_release_without_a_loan(summary: dict) -> None:
    s = _scenario(summary, "afi-faults")
    checkouts = {st["label"]: st["result"]["results"] for st in s["steps"]
                 if st["do"] == "checkout"}
    assert {r["status"] for r in checkouts["3 AFI write failures: retried"]} == {"loaned"}
    rate = checkouts["5 items with 30% of AFI writes failing"]
    assert {r["status"] for r in rate} <= {"loaned", "loaned_alarm_on"} and len(rate) == 5
    assert [r["status"] for r in checkouts["every AFI write fails"]] == ["loaned_alarm_on"]
    journal = next(st for st in s["steps"] if st["do"] == "wait_journal")["result"]
    assert (journal["transactions"], journal["lost"], journal["duplicates"]) == (8, 0, 0)
    # Right after each checkout, while the faults were on: every tag in the released
    # state had its loan in the ILS (the step reads the simulator's tags and the ILS).
    checks = [st for st in s["steps"] if st["do"] == "released_have_loans"]
    assert len(checks) == 3 and all(st["ok"] for st in checks)
    assert all(st["result"]["released_without_loan"] == [] for st in checks)
    assert sum(st["result"]["loaned"] for st in checks) == 8


def test_everything_was_stopped(summary: dict) -> None:
    import socket

    assert "stopped." in summary["_stderr"]
    # Every process the demo started is gone: none of its ports accepts a connection.
    assert {"mqtt", "kiosk_api", "gate_api", "sim_control"} <= set(summary["ports"])
    still_open = []
    for name, port in summary["ports"].items():
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex(("127.0.0.1", int(port))) == 0:
                still_open.append(name)
    assert still_open == []
