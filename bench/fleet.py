"""Bench of a fleet: hundreds of boxes, one Mosquitto, a gateway pool on PostgreSQL.

The boxes are the product's own sync agents (``SyncAgent.from_settings``, the code
``smartlib sync`` runs), each with its own edge store, its own broker credentials and its
own ACL (``sync.broker.device_acl``), spread over a few worker processes. Kiosks journal
online transactions (checkout, then check-in of the same item: per-item order matters) at
a steady rate; gates only keep their sessions, statuses and cache feeds, as on a site.
The gateways are ``smartlib gateway run`` processes on one PostgreSQL ledger (a private
server started for the run), the ILS is the demo ILS in its own process.

What is real and what is hosted differently: every box runs the agent's own code (its
sender pass, receiver, site view, status, ops streams, its SQLite edge store, its MQTT
session, credentials and ACL) and exchanges the product's messages with a real Mosquitto,
real gateways and PostgreSQL. What differs is the hosting: ``smartlib sync`` gives each
agent three threads (paho's network loop, sender, receiver); here one event loop per
worker (:mod:`bench._agent_loop`, through the agent's ``runner`` hook) drives all its
boxes' clients with paho's external loop API and calls the same sender pass and receiver
batch, so hundreds of boxes do not spend the machine's cores on thread wake-ups
(``--threads`` hosts them the product's way, for comparison). The edge side is not the
edge service: the worker appends to each kiosk's outbox directly (``outbox.append``, which
rings the agent's doorbell as ``smartlib serve`` does).

Figures, for each gateway pool size P (``--pools``):

* ``fleet_p{P}_1x_p50`` / ``_p99`` (ms): journal append -> result recorded in the edge store
  (the outbox row's ``created_at`` -> ``applied_at``, both written by the store), each kiosk
  sending one transaction every 5 s (the realistic rate);
* ``fleet_p{P}_10x_p50`` / ``_p99``: the same at ten times that rate (every 0.5 s);
* ``fleet_p{P}_10x_tx_per_s``: transactions completed per second in that phase (the pool's
  scaling curve is this figure over P), ``..._unanswered``: entries with no result when the
  phase's wait ended;
* ``fleet_p{P}_{1x,10x}_cores``: CPU seconds per wall second of the phase (1.0 = one core)
  spent by the box workers, the broker, the gateways, the ILS and PostgreSQL: where the
  machine's cores went;
* ``fleet_p{P}_{1x,10x}_segments_ms``: where a transaction's time went, from the gateway
  ledger's own stamps: journal -> the gateway's claim (``to_gateway``), claim -> done
  (``gateway``: the ILS and the ledger), done -> result stored at the edge (``back``);
* ``..._loop_busy``: the busiest worker's event loop, the share of the phase it was not
  waiting (near 1.0: the boxes' hosting is what bounds the run); ``..._box_msgs_per_s``:
  what each box sent (``messages``) and stored (``results``, the site view's ``site``
  messages), per second;
* ``broker_kib_per_box``: the broker's RSS growth from an idle broker to the whole fleet
  connected, per box; ``fleet_p{P}_gateway_kib_per_box``: a gateway's RSS growth from its
  start (subscribed, no traffic) to the end of both phases, per box of the fleet, and
  ``..._gateway_rss_mb`` its RSS then.

Target (issue 17): ``fleet_p99_ms_10x`` (the best pool's 10x p99) <= 300 ms with 500 kiosks.
``--quick`` runs 20 kiosks on 2 sites with a pool of 1 for a few seconds.
"""

from __future__ import annotations

import argparse
import heapq
import json
import multiprocessing as mp
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import emit, target

SMARTLIB = Path(sys.executable).with_name("smartlib")
FIRST_ITEM = 30000200
FIRST_PATRON = 2000010
ITEMS_PER_KIOSK = 8
DRAIN_WAIT_S = 60.0


@dataclass(frozen=True)
class Box:
    site: str
    device: str
    role: str
    password: str
    index: int
    """The kiosk's number (its patron and items); -1 for a gate."""

    @property
    def user(self) -> str:
        """The broker account: device ids repeat from site to site."""
        return f"{self.device}@{self.site}"


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))
    except (ValueError, OSError):
        pass  # the limit we have is what the run gets; a shortfall shows as failed connects


def _stamp(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


# ---- the worker: a slice of the fleet in one process ------------------------------------------


def _box_settings(tmp: Path, port: int, box: Box) -> Any:
    from smartlib.config import load_settings

    return load_settings(None, site={"id": box.site}, device={"id": box.device, "role": box.role},
                         broker={"host": "127.0.0.1", "port": port, "username": box.user,
                                 "password": box.password},
                         store={"path": str(tmp / "boxes" / f"{box.site}-{box.device}.db")},
                         sync={"snapshot_on_empty_cache": False})


def _worker(conn: Any, tmp: str, port: int, boxes: list[Box], seed: int, threads: bool) -> None:
    _raise_fd_limit()
    from bench._agent_loop import AgentLoop
    from edge.store import open_store
    from sync.agent.service import SyncAgent

    rng = random.Random(seed)
    loop = None if threads else AgentLoop()
    agents, edges = [], []
    for box in boxes:
        settings = _box_settings(Path(tmp), port, box)
        edges.append(open_store(settings.store.path))
        agents.append(SyncAgent.from_settings(settings, runner=loop))
    for a in agents:
        a.start()
    deadline = time.monotonic() + 120
    missing = [b.user for a, b in zip(agents, boxes, strict=True)
               if not a.connected.wait(max(0.0, deadline - time.monotonic()))]
    conn.send(("ready", missing))
    sent = [0] * len(boxes)
    try:
        while True:
            cmd = conn.recv()
            if cmd[0] == "stop":
                break
            _, period, seconds = cmd
            conn.send(("done", _run_phase(rng, boxes, edges, sent, period, seconds, agents,
                                          loop)))
    finally:
        for a in agents:
            a.stop()
            a.store.close()
        if loop is not None:
            loop.close()
        for e in edges:
            e.close()
        conn.send(("stopped",))


_COUNTED = ("messages", "results", "deltas", "site", "statuses", "stats_live")
"""The agents' counters reported per phase: what the boxes sent and received."""


def _counters(agents: list[Any]) -> dict[str, int]:
    return {k: sum(getattr(a.stats, k) for a in agents) for k in _COUNTED}


def _run_phase(rng: random.Random, boxes: list[Box], edges: list[Any], sent: list[int],
               period: float, seconds: float, agents: list[Any], loop: Any) -> dict[str, Any]:
    """Journal each kiosk's transactions every ``period`` s for ``seconds``; then wait for
    their results and read the latencies from the stores."""
    kiosks = [i for i, b in enumerate(boxes) if b.role == "kiosk"]
    counted = _counters(agents)
    busy = loop.busy_s if loop is not None else 0.0
    marks = {i: edges[i].query_one("SELECT COALESCE(MAX(seq), 0) AS s FROM outbox")["s"]
             for i in kiosks}
    t0 = time.monotonic()
    heap = [(t0 + rng.uniform(0, period), i) for i in kiosks]
    heapq.heapify(heap)
    end = t0 + seconds
    journaled = 0
    while heap:
        due, i = heapq.heappop(heap)
        if due >= end:
            continue
        wait = due - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        box, n = boxes[i], sent[i]
        item = str(FIRST_ITEM + box.index * ITEMS_PER_KIOSK + (n // 2) % ITEMS_PER_KIOSK)
        edges[i].outbox.append("checkout" if n % 2 == 0 else "checkin", {}, item_id=item,
                               patron_ref=str(FIRST_PATRON + box.index))
        # as the edge's circulation counts each one (the hour's counters: live statistics)
        edges[i].counters.incr("checkout" if n % 2 == 0 else "return")
        sent[i] = n + 1
        journaled += 1
        heapq.heappush(heap, (due + period, i))
    journal_s = time.monotonic() - t0
    busy = (loop.busy_s - busy) / journal_s if loop is not None else None
    counted = {k: v - counted[k] for k, v in _counters(agents).items()}
    deadline = time.monotonic() + DRAIN_WAIT_S
    open_left = 0
    while True:
        open_left = sum(edges[i].query_one(
            "SELECT COUNT(*) AS n FROM outbox WHERE seq > ? AND state IN ('pending','sent')",
            (marks[i],))["n"] for i in kiosks)
        if open_left == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    lat: list[float] = []
    finished: list[float] = []
    stamps: list[tuple[str, float, float]] = []
    for i in kiosks:
        for row in edges[i].query("SELECT key, created_at, applied_at FROM outbox WHERE seq > ? "
                                  "AND applied_at IS NOT NULL", (marks[i],)):
            done, created = _stamp(row["applied_at"]), _stamp(row["created_at"])
            lat.append((done - created) * 1000.0)
            finished.append(done)
            stamps.append((row["key"], created, done))
    return {"journaled": journaled, "latencies_ms": lat, "unanswered": open_left,
            "journal_s": journal_s, "finished": finished, "loop_busy": busy,
            "counted": counted, "stamps": stamps}


# ---- the fleet --------------------------------------------------------------------------------


def _fleet(sites: int, kiosks: int, gates: int) -> list[Box]:
    import secrets

    boxes = []
    for k in range(kiosks):
        boxes.append(Box(f"lib-{k % sites:02d}", f"kiosk-{k // sites + 1:02d}", "kiosk",
                         secrets.token_hex(8), k))
    for g in range(gates):
        boxes.append(Box(f"lib-{g % sites:02d}", f"gate-{g // sites + 1:02d}", "gate",
                         secrets.token_hex(8), -1))
    return boxes


def _broker(boxes: list[Box], gw_password: str) -> Any:
    from sync.broker import device_acl, gateway_acl
    from tests.support.mosquitto import MosquittoBroker

    users = {b.user: b.password for b in boxes}
    acl = "".join(device_acl(b.site, b.device, user=b.user, role=b.role)
                  for b in boxes) + gateway_acl("gateway")
    users["gateway"] = gw_password
    # as the product's broker configuration (sync.broker) sets it
    return MosquittoBroker(users=users, acl=acl, extra_config="set_tcp_nodelay true\n").start()


def _gateway_toml(tmp: Path, name: str, port: int, ils_port: int, dsn: str, sites: list[str],
                  gw_password: str) -> Path:
    path = tmp / f"{name}.toml"
    path.write_text(f"""[site]
id = "{sites[0]}"
[device]
id = "{name}"
role = "gateway"
[broker]
host = "127.0.0.1"
port = {port}
username = "gateway"
password = "{gw_password}"
[ils]
host = "127.0.0.1"
port = {ils_port}
user = "kiosk01"
password = "s3cret"
institution = "VNLIB"
location = "MAIN"
pool_size = 4
[gateway]
ledger = "{dsn}"
sites = {json.dumps(sites)}
""")
    return path


def _rss_kib(pid: int) -> int:
    import psutil

    return int(psutil.Process(pid).memory_info().rss // 1024)


def _cpu_s(pids: list[int]) -> float:
    import psutil

    total = 0.0
    for pid in pids:
        try:
            t = psutil.Process(pid).cpu_times()
        except psutil.Error:
            continue   # a backend that ended: its time is lost to the sum (small)
        total += t.user + t.system
    return total


def _postgres_pids(dsn: str) -> list[int]:
    """The private server's postmaster (found by its port) and its backends."""
    import psutil

    port = dsn.rsplit(":", 1)[1].split("/", 1)[0]
    for p in psutil.process_iter(["name", "cmdline"]):
        cmd = p.info["cmdline"] or []
        if p.info["name"] == "postgres" and "-p" in cmd and cmd[cmd.index("-p") + 1:][:1] == [port]:
            return [p.pid, *(c.pid for c in p.children())]
    return []


def _pct(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(q * len(xs)))], 1)


def _start_gateways(tmp: Path, pool: int, port: int, ils_port: int, dsn: str,
                    sites: list[str], gw_password: str) -> list[subprocess.Popen[bytes]]:
    procs = []
    for g in range(pool):
        # The same names (MQTT client ids) from pool to pool: a gateway's persistent session
        # outlives its process, and Mosquitto gives a disconnected session of the shared
        # subscription its share of the transactions (queued until the session expires;
        # the agents re-send them after 30 s). Pool 2 is pool 1's gateway and one more.
        name = f"gw-{g + 1}"
        log = (tmp / f"{name}.log").open("ab")
        procs.append(subprocess.Popen(
            [str(SMARTLIB), "gateway", "run", "--config",
             str(_gateway_toml(tmp, name, port, ils_port, dsn, sites, gw_password))],
            stdout=log, stderr=log))
    return procs


def _segments(dsn: str, stamps: list[tuple[str, float, float]]) -> dict[str, Any]:
    """Where a transaction's time went, from the gateway ledger's own clock (same machine):
    journal -> the gateway's claim (``started_at``: agent, broker, gateway intake), the
    claim -> done (``applied_at``: the durable claim commit and the ILS), done -> the
    result stored at the edge (result publish, broker, agent). p50 and p99 of each, ms."""
    import psycopg

    at: dict[str, tuple[float, float]] = {}
    with psycopg.connect(dsn) as conn:
        for key, started, applied in conn.execute(
                "SELECT key, started_at, applied_at FROM ledger WHERE key = ANY(%s)",
                ([k for k, _c, _d in stamps],)):
            if applied is not None:
                at[key] = (started, applied)
    parts: dict[str, list[float]] = {"to_gateway": [], "gateway": [], "back": []}
    for key, created, done in stamps:
        if key in at:
            started, applied = at[key]
            parts["to_gateway"].append((started - created) * 1000.0)
            parts["gateway"].append((applied - started) * 1000.0)
            parts["back"].append((done - applied) * 1000.0)
    return {f"{k}_{q}": _pct(v, f) for k, v in parts.items() for q, f in (("p50", 0.5),
                                                                          ("p99", 0.99))
            if v}


def _phase(pipes: list[Any], period: float, seconds: float, n_boxes: int,
           dsn: str) -> dict[str, Any]:
    t0 = time.time()
    for p in pipes:
        p.send(("run", period, seconds))
    parts = [p.recv()[1] for p in pipes]
    lat = [x for part in parts for x in part["latencies_ms"]]
    finished = sorted(x for part in parts for x in part["finished"])
    span = (finished[-1] - t0) if finished else 0.0
    busy = [p["loop_busy"] for p in parts if p["loop_busy"] is not None]
    # Messages each box handled, per second of the phase (its counters, summed): what the
    # fleet's hosting pays for besides the transactions themselves.
    per_box = {k: round(sum(p["counted"][k] for p in parts) / max(p["journal_s"] for p in parts)
                        / max(1, n_boxes), 2) for k in parts[0]["counted"]}
    return {"journaled": sum(p["journaled"] for p in parts), "results": len(lat),
            "unanswered": sum(p["unanswered"] for p in parts),
            "p50": _pct(lat, 0.5), "p99": _pct(lat, 0.99),
            "tx_per_s": round(len(lat) / span, 1) if span > 0 else None,
            "loop_busy": round(max(busy), 2) if busy else None,
            "box_msgs_per_s": per_box,
            "segments_ms": _segments(dsn, [x for part in parts for x in part["stamps"]])}


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="a short run, as inside make test")
    ap.add_argument("--kiosks", type=int, default=None)
    ap.add_argument("--gates", type=int, default=None)
    ap.add_argument("--sites", type=int, default=None)
    ap.add_argument("--pools", default=None, help="gateway pool sizes, comma-separated")
    ap.add_argument("--seconds", type=float, default=None, help="length of each rate phase")
    ap.add_argument("--workers", type=int, default=4, help="processes hosting the boxes")
    ap.add_argument("--threads", action="store_true",
                    help="host each agent on its own three threads, as smartlib sync runs it "
                         "(default: one event loop per worker)")
    args = ap.parse_args()
    kiosks = args.kiosks or (20 if args.quick else 500)
    gates = args.gates if args.gates is not None else (2 if args.quick else 50)
    sites = args.sites or (2 if args.quick else 50)
    pools = [int(p) for p in (args.pools or ("1" if args.quick else "1,2,4")).split(",")]
    seconds = args.seconds or (4.0 if args.quick else 30.0)
    workers = max(1, min(args.workers, kiosks + gates))
    _raise_fd_limit()
    # SIGTERM (timeout, CI) unwinds like Ctrl-C, so the finally blocks stop the gateways,
    # PostgreSQL, the ILS and the broker instead of leaving them running.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)

    from bench.sync import IlsProcess
    from hardware_sim.ils.data import open_demo_db
    from tests.support.postgres import private_postgres

    tmp = Path(tempfile.mkdtemp(prefix="smartlib-bench-fleet-"))
    (tmp / "boxes").mkdir()
    boxes = _fleet(sites, kiosks, gates)
    site_ids = sorted({b.site for b in boxes})
    gw_password = "gw-" + str(random.randrange(10**9))
    figures: dict[str, Any] = {"kiosks": kiosks, "gates": gates, "sites": sites,
                               "workers": workers, "phase_s": seconds,
                               "agent_threads": int(args.threads)}
    broker = ils = None
    pipes: list[Any] = []
    procs: list[Any] = []
    try:
        broker = _broker(boxes, gw_password)
        assert broker.proc is not None
        idle_rss = _rss_kib(broker.proc.pid)
        open_demo_db(tmp / "ils.db").close()
        ils = IlsProcess(tmp / "ils.db")
        ctx = mp.get_context("spawn")
        for w in range(workers):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_worker, args=(child, str(tmp), broker.port,
                                                     boxes[w::workers], w, args.threads),
                               daemon=True)
            proc.start()
            pipes.append(parent)
            procs.append(proc)
        missing = [d for p in pipes for d in p.recv()[1]]
        figures["boxes_not_connected"] = len(missing)
        figures["broker_kib_per_box"] = round((_rss_kib(broker.proc.pid) - idle_rss) / len(boxes), 1)
        with private_postgres(max_connections=100) as admin_dsn:
            import psycopg

            for pool in pools:
                name = f"fleet_p{pool}"
                with psycopg.connect(admin_dsn, autocommit=True) as admin:
                    admin.execute(f'CREATE DATABASE "{name}"')
                dsn = admin_dsn.rsplit("/", 1)[0] + "/" + name
                gws = _start_gateways(tmp, pool, broker.port, ils.port, dsn, site_ids, gw_password)
                try:
                    time.sleep(3.0 if args.quick else 5.0)  # gateways subscribed (not timed)
                    gw_idle = sum(_rss_kib(g.pid) for g in gws) / len(gws)
                    parts = {"boxes": [p.pid for p in procs if p.pid is not None],
                             "broker": [broker.proc.pid], "gateways": [g.pid for g in gws],
                             "ils": [ils.proc.pid], "postgres": _postgres_pids(dsn)}
                    for label, period in (("1x", 5.0), ("10x", 0.5)):
                        before = {k: _cpu_s(v) for k, v in parts.items()}
                        t0 = time.monotonic()
                        got = _phase(pipes, period, seconds, len(boxes), dsn)
                        wall = time.monotonic() - t0
                        for key in ("p50", "p99", "tx_per_s", "unanswered", "results",
                                    "loop_busy", "box_msgs_per_s", "segments_ms"):
                            if got[key] is not None:
                                figures[f"{name}_{label}_{key}"] = got[key]
                        # where the two cores went: CPU seconds per wall second of the phase
                        figures[f"{name}_{label}_cores"] = {
                            k: round((_cpu_s(v) - before[k]) / wall, 2) for k, v in parts.items()}
                    gw_rss = sum(_rss_kib(g.pid) for g in gws) / len(gws)
                    figures[f"{name}_gateway_rss_mb"] = round(gw_rss / 1024, 1)
                    figures[f"{name}_gateway_kib_per_box"] = round((gw_rss - gw_idle) / len(boxes), 1)
                finally:
                    for g in gws:
                        g.terminate()
                    for g in gws:
                        g.wait(30)
    finally:
        for p in pipes:
            try:
                p.send(("stop",))
            except OSError:
                pass
        for proc in procs:
            proc.join(60)
            if proc.is_alive():
                proc.kill()
        if ils is not None:
            ils.stop()
        if broker is not None:
            broker.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    best = [figures.get(f"fleet_p{p}_10x_p99") for p in pools]
    measured = [b for b in best if b is not None]
    figures["fleet_p99_ms_10x"] = min(measured) if measured else None
    figures["gateway_kib_per_box"] = figures.get(f"fleet_p{pools[-1]}_gateway_kib_per_box")
    emit("fleet", figures, [
        target("fleet_p99_ms_10x", figures["fleet_p99_ms_10x"], "<=", 300,
               "issue 17: journal -> result at the edge, every kiosk at 10x the realistic rate"),
        target("fleet_kiosks", float(kiosks), ">=", 20 if args.quick else 500, "issue 17: 500 kiosks"),
    ], quick=bool(args.quick))


if __name__ == "__main__":
    main()
