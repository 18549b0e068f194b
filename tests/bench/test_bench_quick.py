"""The short run of every ``bench/`` script inside ``make test``: each runs with ``--quick``
and prints one JSON object of the documented shape. Nothing here judges a timing.

The scripts run as subprocesses, two at a time (the machine has two cores)."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from smartlib.bench_cli import figures_markdown, flat_figures, markdown, update_docs

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = sorted(p for p in (REPO / "bench").glob("*.py") if not p.name.startswith("_"))


def _run(path: Path) -> tuple[Path, subprocess.CompletedProcess[str]]:
    return path, subprocess.run([sys.executable, str(path), "--quick"], capture_output=True,
                                text=True, cwd=REPO, timeout=600)


@pytest.fixture(scope="module")
def outputs() -> dict[str, subprocess.CompletedProcess[str]]:
    with ThreadPoolExecutor(max_workers=2) as pool:
        return {p.stem: done for p, done in pool.map(_run, SCRIPTS)}


def test_the_cost_curve_is_one_of_them() -> None:
    assert "curve" in {p.stem for p in SCRIPTS}


@pytest.mark.parametrize("name", [p.stem for p in SCRIPTS])
def test_bench_prints_one_json_report(outputs: dict[str, subprocess.CompletedProcess[str]],
                                      name: str) -> None:
    done = outputs[name]
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [ln for ln in done.stdout.splitlines() if ln.strip().startswith("{")]
    assert len(lines) == 1, done.stdout[-2000:]
    report = json.loads(lines[0])
    assert report["bench"] == name
    figures = flat_figures(report["figures"])  # groups of figures are allowed (gate)
    assert figures and all(isinstance(v, int | float) for v in figures.values()), figures
    assert report["targets"]
    for t in report["targets"]:
        assert {"figure", "value", "op", "target", "met", "reference"} <= set(t)
        assert t["op"] in (">=", "<=") and isinstance(t["met"], bool)


def test_report_rendering_and_docs_block(tmp_path: Path) -> None:
    report = {"machine": {"python": "3.11", "platform": "Linux", "cpus": 2, "processor": "x86_64"},
              "quick": True, "when": "2026-01-01T00:00:00Z",
              "results": [{"bench": "curve", "seconds": 1.0, "figures": {"stack_1_ratio": 1.02},
                           "targets": [{"figure": "stack_1_ratio", "value": 1.02, "op": "<=",
                                        "target": 1.2, "met": True, "reference": "floor"}]},
                          {"bench": "broken", "error": "Traceback\nBoom"}]}
    table = markdown(report)
    assert "| curve | stack_1_ratio | 1.020 | <= 1.2 | yes |" in table
    assert "| broken | (error) | Boom | | no |" in table
    assert "| stack_1_ratio | 1.02 |" in figures_markdown(report)
    report["results"][0]["figures"]["latency"] = {"p50_ms": 67.0, "passes": 60}
    assert "| latency.p50_ms | 67 |" in figures_markdown(report)
    assert "| latency.passes | 60 |" in figures_markdown(report)
    page = tmp_path / "benchmarks.md"
    page.write_text("# Benchmarks\n\nIntro stays.\n")
    update_docs(page, report)
    update_docs(page, report)  # the second run replaces the block, it does not add one
    text = page.read_text()
    assert text.startswith("# Benchmarks\n\nIntro stays.\n")
    assert text.count("bench:begin") == 1 and text.count("| curve | stack_1_ratio") == 1
