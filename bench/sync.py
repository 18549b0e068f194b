"""Bench of the sync path: the MQTT leg and the drain into the demo ILS, each next to raw.

* ``mqtt_leg``: journaled outbox rows → agent → broker PUBACK (rows marked ``sent``), in
  messages per second, next to a raw paho QoS 1 publish loop of the same payloads on the
  same broker in the same run. Target: >= 0.5x raw. Measured with ``tx_batch = 1`` (one
  transaction per message, like the raw loop); ``mqtt_leg_batched_tx_per_s`` is the same
  leg with the default ``tx_batch`` (a backlog in TransactionBatch messages), in
  transactions per second.
* ``drain``: queued offline transactions (checkout then checkin of each item) drained by
  the agent (in this process) and a gateway (``smartlib gateway run``, its own process, as
  in production) into the demo ILS (``smartlib sim ils serve``, its own process) until
  every result is back in the edge store, in transactions per second, next to a raw SIP2
  client loop doing the same operations on the same ILS process first. Target: >= 0.8x raw.
  The agent runs its default ``tx_batch`` (the backlog goes in TransactionBatch messages,
  answered in ResultBatch messages), as a box with a backlog does. A full run alternates
  four raw loops and three drains (raw, drain, raw, drain, raw, drain, raw); each drain is
  compared with the mean of the raw loops around it (``drain_rounds``: reference, drain,
  ratio) and the round with the median ratio is reported: the machine's speed drifts by
  a third within a minute, more than the difference measured.

* ``drain_latency_bound`` (issue 17 §4): the same drain against a second demo ILS that
  answers every request after 30 ms (``--latency 0.03``), as a busy real ILS does, with the
  gateway's SIP2 pool at P = 1, 2 and 4 connections (``[ils] pool_size``). Such a drain is
  bound by the ILS, not by our code: P connections can carry at most P / 0.030 tx/s.
  ``drain_latency_bound_ratio_pP`` is the drain's rate (agent start until every result is
  back in the edge's journal) over that bound; target >= 0.9 for each P.
  ``drain_latency_bound_order_kept_pP`` is true when the ILS's own application log shows,
  for every item, exactly its checkout then its checkin (per-item order kept, none lost or
  repeated), else false. ``drain_latency_bound_ratio`` is the lowest ratio of the three P,
  ``drain_latency_bound_order_kept`` true when all three kept the order.
  ``drain_latency_bound_raw_sip2_ratio_p1`` is the same ratio for one raw SIP2 connection's
  loop against that ILS (no target): what the ILS itself allows on the machine (its own
  work and the scheduler add to the 30 ms). Each P drains for about 6 s at the bound
  (``--quick``: 1.5 s).
* ``result_to_edge``: a result arriving at the agent (paho's ``on_message``) until the
  edge's ``outbox.wait_for_result`` returns (another store connection, woken by the
  doorbell), p50/p99 in ms. Target (issue 9): p99 <= 20 ms.
* ``delta_to_gate``: a kiosk journals an online checkout; the gateway applies it and sends
  the delta; the time until the loan is in a second edge's (a gate's) cache, p50/p99 in
  ms, measured from the journal append (so it includes the whole round trip) and from
  the kiosk's result. Target (issue 9): p99 <= 1000 ms.

Prints one JSON line. ``--quick`` runs a few seconds.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import emit, parse_args, target

FIRST_ITEM = 30000200
PATRON = "2000001"
SMARTLIB = Path(sys.executable).with_name("smartlib")


def _broker():
    from tests.support.mosquitto import MosquittoBroker

    return MosquittoBroker().start()


def raw_paho(port: int, payloads: list[bytes]) -> float:
    import paho.mqtt.client as mqtt

    done = threading.Event()
    acked = [0]

    def on_publish(*_a: object) -> None:
        acked[0] += 1
        if acked[0] == len(payloads):
            done.set()

    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-raw", protocol=mqtt.MQTTv5)
    c.max_inflight_messages_set(500)
    c.on_publish = on_publish
    c.connect("127.0.0.1", port)
    c.loop_start()
    t0 = time.perf_counter()
    for p in payloads:
        c.publish("smartlib/v1/bench/raw/tx", p, qos=1)
    done.wait(120)
    dt = time.perf_counter() - t0
    c.disconnect()
    c.loop_stop()
    return len(payloads) / dt


def _settings(tmp: Path, port: int, ils_port: int | None = None, device: str = "kiosk-01",
              role: str = "kiosk"):
    from smartlib.config import load_settings

    return load_settings(None, site={"id": "bench"}, device={"id": device, "role": role},
                         broker={"host": "127.0.0.1", "port": port},
                         store={"path": str(tmp / f"edge-{device}.db")},
                         ils={"host": "127.0.0.1", "port": ils_port or 1, "user": "kiosk01",
                              "password": "s3cret", "institution": "VNLIB", "pool_size": 4},
                         gateway={"ledger": f"sqlite:///{tmp / 'ledger.db'}", "sites": ["bench"]})


def agent_leg(tmp: Path, port: int, n: int, tx_batch: int = 1,
              device: str = "kiosk-01") -> tuple[float, bytes]:
    from edge.store import open_store
    from sync.agent.service import AgentTuning, SyncAgent

    settings = _settings(tmp, port, device=device)
    store = open_store(settings.store.path)
    with store.transaction():
        for i in range(n):
            store.outbox.append("checkout", {}, item_id=str(FIRST_ITEM + i), patron_ref=PATRON,
                                offline=True, ring=False)
    sample = store.outbox.next_sendable(1)[0]
    store.close()
    agent = SyncAgent.from_settings(settings, AgentTuning(window=500, max_awaiting=n + 1,
                                                          resend_s=600,
                                                          tx_batch=tx_batch))
    t0 = time.perf_counter()
    agent.start()
    while agent.stats.acked < n:  # in-memory count: polling the database would steal CPU
        time.sleep(0.005)
    dt = time.perf_counter() - t0
    agent.stop()
    sent = agent.store.outbox.backlog().by_state.get("sent", 0)
    assert sent == n, f"only {sent} of {n} rows marked sent"
    agent.store.close()
    from sync.messages import TransactionRequest, encode

    payload = encode(TransactionRequest(key=sample.key, kind="checkout", site="bench",
                                        device=device, patron=PATRON, item=sample.item_id,
                                        created_at=sample.created_at, offline=True))  # type: ignore[arg-type]
    return n / dt, payload


def ils_cpu() -> int | None:
    """The CPU the demo ILS runs on: the last one this process may use (None with one)."""
    import os

    cpus = sorted(os.sched_getaffinity(0))
    return cpus[-1] if len(cpus) > 1 else None


class IlsProcess:
    """The demo ILS in its own process (``smartlib sim ils serve``), as a real ILS would be.

    Both the raw SIP2 loop and the drain talk to this same process, so neither shares the
    ILS's interpreter (GIL) with the code measured. It runs on one CPU (``--cpu``,
    :func:`ils_cpu`; ``cpu=None``: anywhere): a real ILS serves its connections in
    processes of their own, while the demo ILS's threads share one interpreter lock, and
    on two cores the threads of the drain's four connections handed it from core to core
    at every request (a wake-up on the other core each: its CPU per transaction 140 ->
    200 µs, its context switches 1.1 -> 4 per transaction, on this machine). That hand-off
    does not shrink with a faster CPU, which is what made the drain fall behind the raw
    loop on faster machines (docs/benchmarks.md). The raw loop's one connection is served
    about as fast either way (6 % slower pinned, in interleaved pairs).
    """

    def __init__(self, db: Path, latency: float = 0.0, cpu: int | None = -1) -> None:
        import json
        import subprocess

        cpu = ils_cpu() if cpu == -1 else cpu
        self.proc = subprocess.Popen([str(SMARTLIB), "sim", "ils", "serve", "--port", "0",
                                      "--db", str(db), "--latency", str(latency),
                                      *(["--cpu", str(cpu)] if cpu is not None else [])],
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        self.port = int(json.loads(line)["port"])
        self.db = db

    def duplicate_count(self) -> int:
        import sqlite3

        from hardware_sim.ils.circulation import Circulation

        conn = sqlite3.connect(self.db)
        conn.row_factory = sqlite3.Row
        try:
            return Circulation(conn).duplicate_count()
        finally:
            conn.close()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(20)


def raw_sip2(port: int, n_items: int, first_item: int = FIRST_ITEM,
             cpu_out: dict[str, float] | None = None) -> float:
    """One SIP2 client's loop (a checkout then a checkin of each item, waiting for each
    answer) in this process; transactions per second. ``cpu_out`` as for :func:`drain`
    (``agent`` is this process: the client)."""
    from sync.sip2.client import Sip2Client

    c = Sip2Client("127.0.0.1", port, user="kiosk01", password="s3cret", institution="VNLIB",
                   location="MAIN", keepalive=False)
    c.connect()
    cpu0 = _cpu_times() if cpu_out is not None else {}
    t0 = time.perf_counter()
    for i in range(n_items):
        item = str(first_item + i)
        c.checkout(PATRON, item, no_block=True, extra_fields={"XK": str(uuid.uuid4())})
        c.checkin(item, no_block=True, extra_fields={"XK": str(uuid.uuid4())})
    dt = time.perf_counter() - t0
    if cpu_out is not None:
        cpu_out.update({k: v - cpu0.get(k, 0.0) for k, v in _cpu_times().items()})
    c.close()
    return 2 * n_items / dt


def raw_sip2_parallel(port: int, n_items: int, connections: int,
                      first_item: int = FIRST_ITEM) -> float:
    """The raw loop on ``connections`` connections at once (a thread each in this process,
    as the gateway's SIP2 threads are), the items shared out; transactions per second.
    What the ILS itself allows with that many connections: the ceiling of a drain through
    a pool of that size."""
    from sync.sip2.client import Sip2Client

    clients = [Sip2Client("127.0.0.1", port, user="kiosk01", password="s3cret",
                          institution="VNLIB", location="MAIN", keepalive=False)
               for _ in range(connections)]
    for c in clients:
        c.connect()
    per = n_items // connections

    def run(c: Any, first: int) -> None:
        for i in range(per):
            item = str(first + i)
            c.checkout(PATRON, item, no_block=True, extra_fields={"XK": str(uuid.uuid4())})
            c.checkin(item, no_block=True, extra_fields={"XK": str(uuid.uuid4())})

    threads = [threading.Thread(target=run, args=(c, first_item + i * per))
               for i, c in enumerate(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    dt = time.perf_counter() - t0
    for c in clients:
        c.close()
    return 2 * per * connections / dt


def _gateway_toml(tmp: Path, port: int, ils_port: int, pool_size: int = 4) -> Path:
    path = tmp / "gateway.toml"
    path.write_text(f"""[site]
id = "bench"
[device]
id = "gw-bench"
role = "gateway"
[broker]
host = "127.0.0.1"
port = {port}
[ils]
host = "127.0.0.1"
port = {ils_port}
user = "kiosk01"
password = "s3cret"
institution = "VNLIB"
location = "MAIN"
pool_size = {pool_size}
[gateway]
ledger = "sqlite:///{tmp / 'ledger.db'}"
sites = ["bench"]
""")
    return path


def start_gateway(tmp: Path, port: int, ils_port: int, log: Any, pool_size: int = 4) -> Any:
    """``smartlib gateway run`` in its own process, returned once it is subscribed: its
    live ``online`` status (published after its SUBSCRIBE on the same connection) came.
    Its start-up (imports, 1-2 s on a slow machine) is therefore never timed."""
    import json
    import queue
    import subprocess

    from sync import topics
    from tests.sync.gateway.harness import MqttProbe

    probe = MqttProbe(port, client_id="bench-gateway-watch")
    try:
        probe.wait_connected()
        probe.subscribe(topics.status("bench", "gw-bench"))
        gw = subprocess.Popen([str(SMARTLIB), "gateway", "run", "--config",
                               str(_gateway_toml(tmp, port, ils_port, pool_size))],
                              stdout=log, stderr=log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                msg = probe.messages.get(timeout=0.5)
            except queue.Empty:
                if gw.poll() is not None:
                    raise RuntimeError("the gateway exited during its start") from None
                continue
            if not msg.retain and json.loads(msg.payload).get("state") == "online":
                return gw
        gw.terminate()
        raise RuntimeError("the gateway did not come online within 60 s")
    finally:
        probe.close()


def _cpu_times() -> dict[str, float]:
    """CPU seconds (user + system) so far of this process (the agent) and of its children
    that take part in a drain, by role: ``gateway``, ``ils``, ``broker``."""
    import psutil

    me = psutil.Process()
    out = {"agent": sum(me.cpu_times()[:2]), "agent_switches": _switches(me.pid)}
    for child in me.children(recursive=True):
        try:
            cmd = " ".join(child.cmdline())
            cpu = sum(child.cpu_times()[:2])
        except psutil.Error:
            continue
        role = ("gateway" if " gateway run" in cmd else "ils" if " ils serve" in cmd
                else "broker" if "mosquitto" in cmd else None)
        if role is not None:
            out[role] = out.get(role, 0.0) + cpu
            out[f"{role}_switches"] = out.get(f"{role}_switches", 0.0) + _switches(child.pid)
    return out


def _switches(pid: int) -> float:
    """Context switches so far of every thread of ``pid`` (0 where /proc cannot tell)."""
    total = 0
    for status in Path(f"/proc/{pid}/task").glob("*/status"):
        try:
            for line in status.read_text().splitlines():
                if line.endswith("ctxt_switches:") or "ctxt_switches:" in line:
                    total += int(line.split()[-1])
        except (OSError, ValueError):
            continue
    return float(total)


def drain(tmp: Path, port: int, ils_port: int, n_items: int, device: str = "kiosk-02",
          first_item: int = FIRST_ITEM, pool_size: int = 4,
          cpu_out: dict[str, float] | None = None) -> float:
    """Agent in this process, gateway in its own (``smartlib gateway run``), ILS in its own.

    Drains a checkout then a checkin of items ``first_item`` .. ``first_item + n_items - 1``;
    returns transactions per second. ``cpu_out``, when given, receives each process's CPU
    seconds during the timed drain (:func:`_cpu_times`' roles).
    """

    from edge.store import open_store
    from sync.agent.service import AgentTuning, SyncAgent

    settings = _settings(tmp, port, ils_port, device=device)
    store = open_store(settings.store.path)
    with store.transaction():
        for i in range(n_items):
            for kind in ("checkout", "checkin"):
                store.outbox.append(kind, {}, item_id=str(first_item + i), patron_ref=PATRON,
                                    offline=True, ring=False)
    log = (tmp / "gateway.log").open("wb")
    gw = start_gateway(tmp, port, ils_port, log, pool_size)
    try:
        agent = SyncAgent.from_settings(settings, AgentTuning(window=500, max_awaiting=5000,
                                                              publish_ops=False,
                                                              snapshot_on_empty_cache=False))
        cpu0 = _cpu_times() if cpu_out is not None else {}
        t0 = time.perf_counter()
        agent.start()
        total = 2 * n_items
        # The in-memory count is read every 5 ms (a 50 ms poll added up to 50 ms to a
        # sub-second quick drain); the journal is looked at only once it says done.
        while agent.stats.results < total or store.outbox.backlog().open > 0:
            time.sleep(0.005)
        dt = time.perf_counter() - t0
        if cpu_out is not None:
            cpu_out.update({k: v - cpu0.get(k, 0.0) for k, v in _cpu_times().items()})
        agent.stop()
        agent.store.close()
    finally:
        gw.terminate()
        gw.wait(30)
        log.close()
        store.close()
    return 2 * n_items / dt


ILS_LATENCY_S = 0.030
LATENCY_POOLS = (1, 2, 4)


def items_in_order(db: Path, first_item: int, n_items: int) -> bool:
    """True when the ILS applied, for every item of the range, exactly its checkout then its
    checkin (from its own application log, in the order it applied them)."""
    import sqlite3

    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("SELECT item_id, kind FROM applications WHERE CAST(item_id AS "
                            "INTEGER) BETWEEN ? AND ? ORDER BY id",
                            (first_item, first_item + n_items - 1)).fetchall()
    finally:
        conn.close()
    seen: dict[str, list[str]] = {}
    for item, kind in rows:
        seen.setdefault(item, []).append(kind)
    return (len(seen) == n_items
            and all(kinds == ["checkout", "checkin"] for kinds in seen.values()))


def latency_bound_drains(tmp: Path, port: int, seconds: float) -> dict[str, Any]:
    """The drain against a demo ILS answering after 30 ms, for each pool size P.

    Each P gets its own items (about ``seconds`` of work at the bound P / 0.030 tx/s), its
    own box and gateway; the ILS process is shared and started with ``--latency 0.03``."""
    from hardware_sim.ils.data import open_demo_db

    base = tmp / "latency"
    base.mkdir()
    open_demo_db(base / "ils.db").close()
    ils = IlsProcess(base / "ils.db", latency=ILS_LATENCY_S)
    figures: dict[str, Any] = {}
    first = 30000001
    try:
        # The reference: one raw SIP2 connection's loop against the same ILS. It shows what
        # the ILS itself allows here (its own work and the scheduler add to the 30 ms).
        n_raw = max(5, round(seconds / ILS_LATENCY_S / 4))
        raw = raw_sip2(ils.port, n_raw, first_item=first)
        figures["drain_latency_bound_raw_sip2_ratio_p1"] = round(raw * ILS_LATENCY_S, 3)
        first += n_raw
        for pool in LATENCY_POOLS:
            bound = pool / ILS_LATENCY_S
            n_items = max(5, round(bound * seconds / 2))
            run_dir = base / f"p{pool}"
            run_dir.mkdir()
            got = drain(run_dir, port, ils.port, n_items, device=f"kiosk-l{pool}",
                        first_item=first, pool_size=pool)
            figures[f"drain_latency_bound_tx_per_s_p{pool}"] = round(got, 1)
            figures[f"drain_latency_bound_ratio_p{pool}"] = round(got / bound, 3)
            figures[f"drain_latency_bound_order_kept_p{pool}"] = items_in_order(
                base / "ils.db", first, n_items)
            figures[f"drain_latency_bound_transactions_p{pool}"] = 2 * n_items
            first += n_items
    finally:
        ils.stop()
    figures["drain_latency_bound_duplicates"] = ils.duplicate_count()
    figures["drain_latency_bound_ratio"] = min(
        figures[f"drain_latency_bound_ratio_p{p}"] for p in LATENCY_POOLS)
    figures["drain_latency_bound_order_kept"] = all(
        figures[f"drain_latency_bound_order_kept_p{p}"] for p in LATENCY_POOLS)
    return figures


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def result_to_edge(tmp: Path, port: int, n: int) -> list[float]:
    """ms from the agent's receive of a result to the edge's ``wait_for_result`` return."""
    import json

    from edge.store import open_store
    from sync import topics
    from sync.agent.service import AgentTuning, SyncAgent
    from sync.messages import TransactionResult, encode
    from tests.sync.gateway.harness import MqttProbe

    settings = _settings(tmp, port, device="kiosk-04")
    edge = open_store(settings.store.path)
    agent = SyncAgent.from_settings(settings, AgentTuning(resend_s=600, publish_ops=False,
                                                          snapshot_on_empty_cache=False))
    received: dict[str, float] = {}
    inner = agent.client.on_message

    result_topic = topics.result("bench", "kiosk-04")

    def on_message(c: object, u: object, msg: object) -> None:
        if msg.topic == result_topic:  # type: ignore[attr-defined]
            received[json.loads(msg.payload)["key"]] = time.perf_counter()  # type: ignore[attr-defined]
        inner(c, u, msg)  # type: ignore[misc]

    agent.client.on_message = on_message
    agent.start()
    probe = MqttProbe(port, client_id="bench-gateway-stand-in")
    probe.wait_connected()
    agent.connected.wait(10)
    out: list[float] = []
    try:
        for i in range(n):
            e = edge.outbox.append("checkout", {}, item_id=str(FIRST_ITEM + i), patron_ref=PATRON)
            key = str(e.key)
            res = TransactionResult(key=key, kind="checkout", site="bench", device="kiosk-04",
                                    status="applied", ok=True, item=e.item_id, patron=PATRON)
            got: list[float] = []
            waiter = threading.Thread(target=lambda k=key, g=got: (
                edge.outbox.wait_for_result(k, 10), g.append(time.perf_counter())))
            waiter.start()
            time.sleep(0.002)  # the edge is waiting before the result comes
            probe.client.publish(topics.result("bench", "kiosk-04"), encode(res), qos=1)
            waiter.join(15)
            if got and key in received:
                out.append((got[0] - received[key]) * 1000)
    finally:
        probe.close()
        agent.stop()
        agent.store.close()
        edge.close()
    return out


def delta_to_gate(tmp: Path, port: int, ils_port: int, n: int, first: int) -> tuple[list[float], list[float]]:
    """ms from a kiosk's journal append (and from its result) to the loan in a gate's cache."""

    from edge.store import open_store
    from sync.agent.service import AgentTuning, SyncAgent

    tuning = AgentTuning(publish_ops=False, snapshot_on_empty_cache=False)
    ks, gs = _settings(tmp, port, ils_port, device="kiosk-05"), _settings(
        tmp, port, ils_port, device="gate-05", role="gate")
    kiosk, gate = open_store(ks.store.path), open_store(gs.store.path)
    log = (tmp / "gateway-delta.log").open("wb")
    gw = start_gateway(tmp, port, ils_port, log)
    agents = [SyncAgent.from_settings(ks, tuning), SyncAgent.from_settings(gs, tuning)]
    from_journal: list[float] = []
    from_result: list[float] = []
    try:
        for a in agents:
            a.start()
            a.connected.wait(10)
        time.sleep(1.0)  # the agents' subscriptions are in place (not timed)
        bell = gate.doorbell("edge")
        for i in range(n):
            item = str(first + i)
            t0 = time.perf_counter()
            e = kiosk.outbox.append("checkout", {}, item_id=item, patron_ref=PATRON, offline=True)
            t_res: list[float] = []
            waiter = threading.Thread(target=lambda k=str(e.key), t=t_res: (
                kiosk.outbox.wait_for_result(k, 10), t.append(time.perf_counter())))
            waiter.start()
            deadline = t0 + 10
            while gate.cache.loan(item) is None and time.perf_counter() < deadline:
                bell.wait(0.002)
            t_gate = time.perf_counter()
            waiter.join(15)
            if gate.cache.loan(item) is not None and t_res:
                from_journal.append((t_gate - t0) * 1000)
                from_result.append(max(0.0, t_gate - t_res[0]) * 1000)
    finally:
        for a in agents:
            a.stop()
            a.store.close()
        gw.terminate()
        gw.wait(30)
        log.close()
        kiosk.close()
        gate.close()
    return from_journal, from_result


def main() -> None:
    args = parse_args(__doc__ or "sync bench")
    n_mqtt = 2000 if args.quick else 20000
    n_items = 300 if args.quick else 5000
    from hardware_sim.ils.data import open_demo_db
    from sync.agent.service import AgentTuning

    tmp = Path(tempfile.mkdtemp(prefix="smartlib-bench-sync-"))
    broker = _broker()
    ils = None
    try:
        ours, payload = agent_leg(tmp, broker.port, n_mqtt)
        raw = raw_paho(broker.port, [payload] * n_mqtt)
        batched, _ = agent_leg(tmp, broker.port, n_mqtt, tx_batch=AgentTuning().tx_batch,
                               device="kiosk-03")
        open_demo_db(tmp / "ils.db").close()
        ils = IlsProcess(tmp / "ils.db")
        # Raw loops and drains alternate, raw first and last (each drain a fresh box and
        # journal): this shared machine's speed drifts by a third within a minute, so a
        # drain is compared with the mean of the raw loops just before and just after it.
        # The figure is the round with the median ratio; every round is reported.
        raws = [raw_sip2(ils.port, n_items)]
        rounds: list[tuple[float, float]] = []
        for r in range(1 if args.quick else 3):
            got = drain(tmp, broker.port, ils.port, n_items, device=f"kiosk-d{r}")
            raws.append(raw_sip2(ils.port, n_items))
            rounds.append(((raws[-2] + raws[-1]) / 2, got))
        raw_tx, drain_tx = sorted(rounds, key=lambda rd: rd[1] / rd[0])[len(rounds) // 2]
        lat = result_to_edge(tmp, broker.port, 50 if args.quick else 300)
        # Items the drain never touched: the demo ILS has 30000001-30005200 and a full drain
        # uses 30000200-30005199 (items past the end are unknown: refused, no loan, no delta).
        dj, dr = delta_to_gate(tmp, broker.port, ils.port, 10 if args.quick else 50,
                               FIRST_ITEM - 100)
        ils.stop()
        dups = ils.duplicate_count()
        ils = None
        bound = latency_bound_drains(tmp, broker.port, 1.5 if args.quick else 6.0)
    finally:
        if ils is not None:
            ils.stop()
        broker.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    figures = {
        "mqtt_leg_msgs_per_s": round(ours, 1), "raw_paho_qos1_msgs_per_s": round(raw, 1),
        "mqtt_leg_ratio": round(ours / raw, 3), "mqtt_messages": n_mqtt,
        "mqtt_leg_batched_tx_per_s": round(batched, 1),
        "drain_tx_per_s": round(drain_tx, 1), "raw_sip2_tx_per_s": round(raw_tx, 1),
        "drain_ratio": round(drain_tx / raw_tx, 3), "drain_transactions": 2 * n_items,
        "drain_duplicates": dups,
        "result_to_edge_ms_p50": round(_pct(lat, 0.5), 2),
        "result_to_edge_ms_p99": round(_pct(lat, 0.99), 2), "result_to_edge_samples": len(lat),
        "delta_to_gate_ms_p50": round(_pct(dj, 0.5), 1),
        "delta_to_gate_ms_p99": round(_pct(dj, 0.99), 1),
        "delta_to_gate_after_result_ms_p50": round(_pct(dr, 0.5), 1),
        "delta_to_gate_samples": len(dj),
        **bound,
    }
    emit("sync", figures, [
        target("mqtt_leg_ratio", figures["mqtt_leg_ratio"], ">=", 0.5, "raw paho QoS 1 publish"),
        target("drain_ratio", figures["drain_ratio"], ">=", 0.8, "raw SIP2 client loop"),
        target("result_to_edge_ms_p99", figures["result_to_edge_ms_p99"], "<=", 20,
               "issue 9: the edge sees a result within 20 ms of its arrival at the agent"),
        target("delta_to_gate_ms_p99", figures["delta_to_gate_ms_p99"], "<=", 1000,
               "issue 9: a delta reaches a second edge within 1 s (from the kiosk's journal)"),
        *[target(f"drain_latency_bound_ratio_p{p}", figures[f"drain_latency_bound_ratio_p{p}"],
                 ">=", 0.9, f"the bound of {p} SIP2 connection(s) to an ILS answering after "
                 f"30 ms: {p} / 0.030 tx/s") for p in LATENCY_POOLS],
        *[target(f"drain_latency_bound_order_kept_p{p}",
                 int(figures[f"drain_latency_bound_order_kept_p{p}"]), ">=", 1,
                 "per-item order: each item's checkout then its checkin, once each")
          for p in LATENCY_POOLS],
    ], quick=bool(args.quick),
        drain_rounds=[[round(a, 1), round(b, 1), round(b / a, 3)] for a, b in rounds],
        raw_sip2_loops=[round(x, 1) for x in raws])


if __name__ == "__main__":
    main()
