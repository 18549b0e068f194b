"""The drain's ratio to the raw SIP2 loop at several CPU speeds (issue 17 §4).

A pipeline whose wall time holds fixed costs (timers, polls, waits for another thread or
process, disk syncs: anything that does not shrink with the CPU) keeps its ratio to a
CPU-bound reference on a slow machine and falls behind it on a fast one. To see that
without a faster machine, this script makes the machine slower: each *speed* runs the
drain measurement of ``bench/sync.py`` (a raw SIP2 loop, a drain, a raw loop, ... against
one demo ILS process; the gateway, the ILS and the broker in their own processes) in a
fresh cgroup whose CPU quota is ``f`` of the CPUs the run is pinned to, and calibrates the
speed with the 10-million-step Python loop inside that cgroup (as many loops at once as
CPUs, so each gets its share). Every process of a run (broker, ILS, gateway, agent, the
raw client) is in the cgroup; nothing else is.

Per speed it reports the loop's time (before and after the run), the raw loop's and the
drain's transactions per second (the median round: each drain is compared with the mean
of the raw loops around it), their ratio, the idle share of the pinned CPUs during the
drain (CPU time of its processes against the wall time: a pipeline bound by the CPU has
none) and each process's CPU per transaction; at the end a least-squares line of the
ratio against the loop time, and what it gives at a 0.24 s loop (the faster machine of
issue 17).

Run as root (cgroup v2 ``cpu.max``, or v1 ``cpu.cfs_quota_us``)::

    .venv/bin/python bench/drain_speed.py                       # quotas 1, 0.6, 0.35; 2 CPUs
    .venv/bin/python bench/drain_speed.py --cpus 1 --quotas 1,0.5,0.33
    .venv/bin/python bench/drain_speed.py --quick               # one round, 300 items

Prints one JSON line. ``--child`` (internal) runs one speed's measurement in the current
process and prints its JSON line.

The quota is CFS bandwidth control, not a slower clock: processes run at full speed until
the group has used its share of a period (``--period-us``, 5 ms) and then wait for the
next. Over many periods a CPU-bound run gets ``f`` of its speed; timers and disk waits
keep their real time, which is what this is for. With ``--cpus 2`` the raw loop (about one
core's work at a time) is slowed less than the drain (which uses both) at quotas above
0.5, which lowers the ratio at the slow speeds: a ratio that still falls with speed is
not an artefact of that. ``--cpus 1`` slows both alike.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

POOL = 4
"""The gateway's SIP2 pool in the drain (``bench/sync.py``): the raw loop on as many
connections at once is the ILS's own ceiling for it."""

FAST_LOOP_S = 0.24
"""The faster machine of issue 17: its 10-million-step loop took 0.24 s."""

_LOOP = "import time\nt = time.perf_counter()\nfor _ in range(10_000_000): pass\n" \
        "print(time.perf_counter() - t)"


def loop_time(cpus: int) -> float:
    """The 10-million-step loop's time in seconds, ``cpus`` copies at once (the mean)."""
    procs = [subprocess.Popen([sys.executable, "-c", _LOOP], stdout=subprocess.PIPE, text=True)
             for _ in range(cpus)]
    times = [float(p.communicate()[0]) for p in procs]
    return statistics.fmean(times)


def best_loop(cpus: int, tries: int = 3) -> float:
    """The fastest of ``tries`` calibrations (others' work only ever slows it)."""
    return min(loop_time(cpus) for _ in range(tries))


# ---- one speed (the child, inside its cgroup) ----------------------------------------------

def measure(items: int, rounds: int, cpus: int, ils_anywhere: bool = False) -> dict[str, Any]:
    """Raw loops and drains alternating (raw first and last) against one demo ILS."""
    from bench.sync import FIRST_ITEM, IlsProcess, _broker, drain, raw_sip2, raw_sip2_parallel
    from hardware_sim.ils.data import open_demo_db

    loop_before = best_loop(cpus)
    tmp = Path(tempfile.mkdtemp(prefix="smartlib-drain-speed-"))
    broker = _broker()
    ils = None
    try:
        open_demo_db(tmp / "ils.db").close()
        ils = IlsProcess(tmp / "ils.db", cpu=None if ils_anywhere else -1)
        raw_cpu: dict[str, float] = {}
        raws = [raw_sip2(ils.port, items, cpu_out=raw_cpu)]
        rounds_out: list[dict[str, Any]] = []
        pooled: list[float] = []
        for r in range(rounds):
            cpu: dict[str, float] = {}
            got = drain(tmp, broker.port, ils.port, items, device=f"kiosk-s{r}",
                        first_item=FIRST_ITEM, cpu_out=cpu)
            raws.append(raw_sip2(ils.port, items))
            pooled.append(raw_sip2_parallel(ils.port, items, POOL))
            ref = (raws[-2] + raws[-1]) / 2
            wall = 2 * items / got
            rounds_out.append({"raw": ref, "drain": got, "ratio": got / ref,
                               "pooled": pooled[-1],
                               "cpu_share": sum(v for k, v in cpu.items() if "_" not in k)
                               / wall / cpus, **_per_tx(cpu, 2 * items)})
    finally:
        if ils is not None:
            ils.stop()
        broker.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    loop_after = best_loop(cpus)
    med = sorted(rounds_out, key=lambda rd: rd["ratio"])[len(rounds_out) // 2]
    return {
        "loop_s": round((loop_before + loop_after) / 2, 3),
        "loop_s_before_after": [round(loop_before, 3), round(loop_after, 3)],
        "raw_tx_per_s": round(med["raw"], 1), "drain_tx_per_s": round(med["drain"], 1),
        "ratio": round(med["ratio"], 3),
        f"raw_{POOL}_connections_tx_per_s": round(med["pooled"], 1),
        f"raw_{POOL}_connections_over_raw": round(med["pooled"] / med["raw"], 3),
        f"drain_over_raw_{POOL}_connections": round(med["drain"] / med["pooled"], 3),
        "drain_cpu_share": round(med["cpu_share"], 3),
        "drain_cpu_us_per_tx": med["cpu_us_per_tx"],
        "drain_switches_per_tx": med["switches_per_tx"],
        "raw_cpu_us_per_tx": _per_tx(raw_cpu, 2 * items)["cpu_us_per_tx"],
        "raw_switches_per_tx": _per_tx(raw_cpu, 2 * items)["switches_per_tx"],
        "rounds": [round(rd["ratio"], 3) for rd in rounds_out],
        "raw_loops": [round(x, 1) for x in raws],
        "transactions": 2 * items,
    }


def _per_tx(cpu: dict[str, float], n: int) -> dict[str, dict[str, float]]:
    """Each process's CPU (µs) and context switches per transaction."""
    return {"cpu_us_per_tx": {k: round(v / n * 1e6, 1) for k, v in sorted(cpu.items())
                              if not k.endswith("_switches")},
            "switches_per_tx": {k.removesuffix("_switches"): round(v / n, 2)
                                for k, v in sorted(cpu.items()) if k.endswith("_switches")}}


# ---- the parent: one cgroup per speed --------------------------------------------------------

class CpuGroup:
    """A cgroup with a CPU quota (v2 ``cpu.max`` or v1 ``cpu.cfs_quota_us``)."""

    V2 = Path("/sys/fs/cgroup")
    V1 = Path("/sys/fs/cgroup/cpu")

    @classmethod
    def available(cls) -> bool:
        """A CPU controller this process may make groups in."""
        if "cpu" in _read(cls.V2 / "cgroup.controllers").split():
            return os.access(cls.V2, os.W_OK)
        return (cls.V1 / "cpu.cfs_quota_us").exists() and os.access(cls.V1, os.W_OK)

    def __init__(self, name: str, cpus: float, period_us: int) -> None:
        quota = max(1000, int(cpus * period_us))
        if "cpu" in _read(self.V2 / "cgroup.controllers").split():
            self.path = self.V2 / name
            self.path.mkdir()
            (self.path / "cpu.max").write_text(f"{quota} {period_us}")
        elif (self.V1 / "cpu.cfs_quota_us").exists():
            self.path = self.V1 / name
            self.path.mkdir()
            (self.path / "cpu.cfs_period_us").write_text(str(period_us))
            (self.path / "cpu.cfs_quota_us").write_text(str(quota))
        else:
            raise SystemExit("no cgroup CPU controller found (cgroup v2 cpu.max or v1 cpu)")

    def join(self) -> None:
        """Move the calling process into the group (its children follow)."""
        (self.path / "cgroup.procs").write_text(str(os.getpid()))

    def remove(self) -> None:
        for _ in range(50):
            try:
                self.path.rmdir()
                return
            except OSError:  # processes still leaving
                time.sleep(0.1)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def run_speed(quota: float, cpus: list[int], period_us: int, items: int,
              rounds: int, ils_anywhere: bool = False) -> dict[str, Any]:
    """One speed's measurement in a child process pinned to ``cpus`` and, below a quota
    of 1, in a fresh cgroup with that share of them."""
    group = (CpuGroup(f"smartlib-drain-speed-{os.getpid()}-{int(quota * 1000)}",
                      quota * len(cpus), period_us) if quota < 1 else None)

    def enter() -> None:  # in the child, before exec: pinned, then in the group
        os.sched_setaffinity(0, cpus)
        if group is not None:
            group.join()

    try:
        out = subprocess.run([sys.executable, __file__, "--child", "--items", str(items),
                              "--rounds", str(rounds), "--cpus", str(len(cpus)),
                              *(["--ils-anywhere"] if ils_anywhere else [])],
                             preexec_fn=enter, capture_output=True, text=True, check=False,
                             env={**os.environ, "PYTHONPATH": os.pathsep.join(
                                 [str(Path(__file__).resolve().parents[1]),
                                  *filter(None, [os.environ.get("PYTHONPATH")])])})
    finally:
        if group is not None:
            group.remove()
    if out.returncode != 0:
        raise SystemExit(f"quota {quota}: the measurement failed:\n{out.stderr[-3000:]}")
    return {"quota": quota, **json.loads(out.stdout.strip().splitlines()[-1])}


def fit(points: list[tuple[float, float]]) -> tuple[float, float] | None:
    """Least-squares ``ratio = a + b * loop_s``; None with fewer than two distinct loops."""
    if len({x for x, _ in points}) < 2:
        return None
    mx = statistics.fmean(x for x, _ in points)
    my = statistics.fmean(y for _, y in points)
    b = (sum((x - mx) * (y - my) for x, y in points)
         / sum((x - mx) ** 2 for x, _ in points))
    return my - b * mx, b


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--quotas", default="1,0.6,0.35",
                    help="CPU quotas as fractions of the pinned CPUs (1: no throttling)")
    ap.add_argument("--cpus", type=int, default=2, help="pin every process to this many CPUs")
    ap.add_argument("--items", type=int, default=2500,
                    help="items per drain (a checkout and a checkin each)")
    ap.add_argument("--rounds", type=int, default=3, help="drains per speed (median reported)")
    ap.add_argument("--period-us", type=int, default=5000, help="the CFS period")
    ap.add_argument("--quick", action="store_true",
                    help="one round of 300 items at quotas 1 and 0.5 (as inside make test)")
    ap.add_argument("--ils-anywhere", action="store_true",
                    help="let the demo ILS's threads run on any CPU (as before issue 17 §4's "
                         "fix; bench/sync.py pins it to one)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.quick:
        args.items, args.rounds, args.quotas = 300, 1, "1,0.5"
    if args.child:
        print(json.dumps(measure(args.items, args.rounds, args.cpus, args.ils_anywhere)),
              flush=True)
        return
    from bench._common import emit, target

    allowed = sorted(os.sched_getaffinity(0))
    if args.cpus > len(allowed):
        raise SystemExit(f"--cpus {args.cpus}: only {len(allowed)} CPU(s) available")
    cpus = allowed[:args.cpus]
    quotas = [float(q) for q in args.quotas.split(",")]
    if not CpuGroup.available():
        # No cgroup to throttle in (not root, or no CPU controller): the full speed only.
        print("drain_speed: no cgroup CPU controller writable here; full speed only",
              file=sys.stderr)
        quotas = [1.0]
    speeds = [run_speed(q, cpus, args.period_us, args.items, args.rounds, args.ils_anywhere)
              for q in quotas]
    figures: dict[str, Any] = {}
    for s in speeds:
        tag = f"q{round(s['quota'] * 100):03d}"
        figures.update({f"loop_s_{tag}": s["loop_s"], f"raw_tx_per_s_{tag}": s["raw_tx_per_s"],
                        f"drain_tx_per_s_{tag}": s["drain_tx_per_s"], f"ratio_{tag}": s["ratio"],
                        f"drain_cpu_share_{tag}": s["drain_cpu_share"],
                        f"raw_{POOL}_connections_over_raw_{tag}":
                            s[f"raw_{POOL}_connections_over_raw"],
                        f"drain_over_raw_{POOL}_connections_{tag}":
                            s[f"drain_over_raw_{POOL}_connections"]})
    line = fit([(s["loop_s"], s["ratio"]) for s in speeds])
    at_fast = None
    if line is not None:
        a, b = line
        at_fast = round(a + b * FAST_LOOP_S, 3)
        figures.update({"fit_ratio_per_loop_s": round(b, 3), "ratio_at_fast_loop": at_fast})
    # The target is the reading at this machine's own speed (loop_s_q100 says how fast it
    # is); the fit is a diagnosis without one, biased low with --cpus 2 (the quota slows
    # the drain, not the raw loop).
    emit("drain_speed", figures, [
        target("ratio_q100", figures.get("ratio_q100"), ">=", 0.8,
               "the drain over the raw SIP2 loop at full speed (issue 17: the target must "
               "hold on a faster machine; loop_s_q100 is this machine's speed)")],
         quick=bool(args.quick), cpus=len(cpus),
         period_us=args.period_us, ils_anywhere=bool(args.ils_anywhere), speeds=speeds)


if __name__ == "__main__":
    main()
