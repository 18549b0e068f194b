"""``smartlib bench``: run the ``bench/`` scripts and write one report.

Every ``bench/<name>.py`` prints one JSON object on stdout::

    {"bench": "tags",
     "figures": {"decode_per_s": 123456.0, ...},
     "targets": [{"figure": "decode_per_s", "op": ">=", "target": 50000,
                  "value": 123456.0, "met": true, "reference": "..."}]}

and accepts ``--quick`` for the short run that ``make test`` makes.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click

BENCH_DIR = Path("bench")


def _machine() -> dict[str, object]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
    }


def run_script(path: Path, quick: bool, timeout: float = 1800) -> dict[str, object]:
    """Run one bench script and return its parsed JSON (or an error record)."""
    args = [sys.executable, str(path)] + (["--quick"] if quick else [])
    t0 = time.monotonic()
    proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    elapsed = time.monotonic() - t0
    if proc.returncode != 0:
        return {"bench": path.stem, "error": proc.stderr.strip()[-2000:], "seconds": elapsed}
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip().startswith("{")]
    if not lines:
        return {"bench": path.stem, "error": "printed no JSON", "seconds": elapsed}
    result = json.loads(lines[-1])
    result["seconds"] = round(elapsed, 2)
    return result


def markdown(report: dict[str, Any]) -> str:
    """Render the report's targets as a Markdown table."""
    rows = ["| bench | figure | value | target | met |", "|---|---|---|---|---|"]
    for r in report["results"]:
        if "error" in r:
            rows.append(f"| {r['bench']} | (error) | {r['error'].splitlines()[-1][:80]} | | no |")
            continue
        for t in r.get("targets", []):
            val = t["value"]
            val = f"{val:,.3f}" if isinstance(val, float) else str(val)
            rows.append(f"| {r['bench']} | {t['figure']} | {val} | {t['op']} {t['target']} | "
                        f"{'yes' if t['met'] else 'NO'} |")
    return "\n".join(rows) + "\n"


@click.group()
def bench() -> None:
    """Benchmarks (they print JSON; nothing here asserts timings)."""


DOCS_BEGIN = "<!-- bench:begin (written by `smartlib bench all`; do not edit by hand) -->"
DOCS_END = "<!-- bench:end -->"


def machine_markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    return (f"Run {report['when']} ({'quick' if report['quick'] else 'full'} runs) on "
            f"{m['processor']}, {m['cpus']} CPUs, Python {m['python']}, {m['platform']}.\n")


def flat_figures(figures: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Figures with nested groups (``{"alarm_latency": {"p50_ms": …}}``) as dotted names."""
    out: dict[str, Any] = {}
    for k, v in figures.items():
        if isinstance(v, dict):
            out.update(flat_figures(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def figures_markdown(report: dict[str, Any]) -> str:
    """Every figure of every bench (the cost curve included), one table per bench."""
    out = []
    for r in report["results"]:
        if "error" in r or not r.get("figures"):
            continue
        out.append(f"\n**{r['bench']}** ({r.get('seconds', '?')} s)\n\n| figure | value |\n|---|---|")
        for k, v in flat_figures(r["figures"]).items():
            out.append(f"| {k} | {v:,.4g} |" if isinstance(v, float) else f"| {k} | {v} |")
    return "\n".join(out) + "\n"


def update_docs(path: Path, report: dict[str, Any]) -> None:
    """Replace the generated block of ``path`` (docs/benchmarks.md) with this report."""
    block = "\n".join([DOCS_BEGIN, machine_markdown(report), markdown(report),
                       figures_markdown(report), DOCS_END])
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n\n"
    if DOCS_BEGIN in text and DOCS_END in text:
        head, rest = text.split(DOCS_BEGIN, 1)
        tail = rest.split(DOCS_END, 1)[1]
        text = head + block + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text, encoding="utf-8")


@bench.command("all")
@click.option("--quick", is_flag=True, help="Short runs (as in make test).")
@click.option("--out", default="bench/results", show_default=True, type=click.Path(file_okay=False))
@click.option("--only", multiple=True, help="Run only these bench names.")
@click.option("--docs", "docs", default="docs/benchmarks.md", show_default=True,
              type=click.Path(dir_okay=False),
              help="Markdown page whose generated table is rewritten ('' = none).")
def bench_all(quick: bool, out: str, only: tuple[str, ...], docs: str) -> None:
    """Run every bench/ script; write report.json and report.md under --out and the table
    in --docs (the page the README links to)."""
    scripts = sorted(p for p in BENCH_DIR.glob("*.py") if not p.name.startswith("_"))
    if only:
        scripts = [p for p in scripts if p.stem in only]
    if not scripts:
        raise click.ClickException(f"no bench scripts found in {BENCH_DIR.resolve()}")
    results = []
    for s in scripts:
        click.echo(f"bench: {s.stem} …", err=True)
        results.append(run_script(s, quick))
    report = {"machine": _machine(), "quick": quick,
              "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "results": results}
    outdir = Path(out)
    outdir.mkdir(parents=True, exist_ok=True)
    (outdir / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))
    (outdir / "report.md").write_text(machine_markdown(report) + "\n" + markdown(report)
                                      + figures_markdown(report))
    if docs:
        update_docs(Path(docs), report)
    click.echo(json.dumps(report, ensure_ascii=False))
    if any("error" in r for r in results):
        sys.exit(1)
