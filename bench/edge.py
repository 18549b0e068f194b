"""Edge benchmark: a 10-item checkout on the simulator, end to end, against its floor.

Everything real: ``smartlib sim serve`` (pad reader at modelled speed, 38400 baud, over its
pty; the demo ILS on ``--ils-port``), a private Mosquitto, ``smartlib gateway run`` and
``smartlib sync`` as subprocesses, and the edge's services in this process with the FEIG
driver. One round: 10 secured tags are placed on the pad, a logged-in patron checks them
out; the clock runs from the call until every item is loaned in the ILS and its AFI
release is written and verified by read-back (``CirculationService.checkout`` returns
then). The bench also reads every tag's AFI back through the simulator's control API.

Floor of a round = the simulator's modelled reader time for that round (serial bytes at
the baud rate + ISO 15693 air time + EEPROM programming, ``hardware_sim.air``) + the demo
ILS's service time for 10 checkouts, measured in the same run by a raw SIP2 client loop
(checkout, then an untimed check-in) on the same ILS. Target: wall <= 1.2 x floor.
(RSS with a 1M-item cache is in ``bench/store.py``.)
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import emit, parse_args, target

REPO = Path(__file__).resolve().parents[1]
SMARTLIB = str(REPO / ".venv" / "bin" / "smartlib")
SITE, DEVICE = "bench", "kiosk-01"
STACK = 10


def _toml(path: Path, sections: dict[str, dict[str, Any]]) -> Path:
    lines = []
    for name, values in sections.items():
        lines.append(f"[{name}]")
        for k, v in values.items():
            lines.append(f"{k} = {json.dumps(v) if not isinstance(v, bool) else str(v).lower()}")
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _free_items_and_patrons(export: Path) -> tuple[list[str], list[str]]:
    with (export / "items.csv").open(encoding="utf-8", newline="") as fh:
        items = [r["item_id"] for r in csv.DictReader(fh)
                 if r["status"] == "available" and r["hold_count"] == "0" and r["parts"] == "1"
                 and r["owner_isil"] == "VN-HN0001" and int(r["item_id"]) >= 30000200]
    with (export / "loans.csv").open(encoding="utf-8", newline="") as fh:
        borrowers = {r["patron_id"] for r in csv.DictReader(fh)}
    now = datetime.now().isoformat()
    with (export / "patrons.csv").open(encoding="utf-8", newline="") as fh:
        patrons = [r["patron_id"] for r in csv.DictReader(fh)
                   if r["blocked"] == "0" and r["fines"] == "0" and int(r["loan_limit"]) >= STACK
                   and r["expires"] > now and r["patron_id"] not in borrowers
                   and r["patron_id"] > "2000006"]
    return items, patrons


def _raw_sip2_checkout_s(host: str, port: int, items: list[str], patron: str) -> float:
    """Mean seconds of one raw SIP2 checkout (11 → 12) on the ILS; each item is checked in
    again (untimed) so the patron stays under the loan limit."""
    from sync.sip2.client import Sip2Client

    client = Sip2Client(host, port, user="kiosk01", password="s3cret", institution="VNLIB",
                        location="MAIN", keepalive=False)
    client.connect()
    try:
        client.checkout(patron, items[0])  # warm-up
        client.checkin(items[0])
        spent = 0.0
        for item in items[1:]:
            t0 = time.perf_counter()
            ok = client.checkout(patron, item).ok
            spent += time.perf_counter() - t0
            if not ok or not client.checkin(item).ok:
                raise RuntimeError(f"raw SIP2 checkout/checkin of {item} refused")
        return spent / (len(items) - 1)
    finally:
        client.close()


def _dump_stacks(procs: list[subprocess.Popen[bytes]]) -> None:
    """On a failed round, print the gateway's and agent's thread stacks (py-spy, if there)."""
    spy = shutil.which("py-spy") or str(REPO / ".venv" / "bin" / "py-spy")
    if not os.path.exists(spy):
        return
    for p in procs:
        out = subprocess.run([spy, "dump", "--pid", str(p.pid)], capture_output=True, text=True)
        print(out.stdout or out.stderr, file=sys.stderr)


def main() -> None:
    args = parse_args(__doc__ or "")
    rounds = 2 if args.quick else 6
    raw_n = 11 if args.quick else 41
    import httpx

    from drivers.credential import PatronCredential
    from edge.errors import EdgeError
    from edge.services.container import EdgeServices
    from smartlib.config import load_settings
    from tests.support.mosquitto import MosquittoBroker
    from tests.support.procs import stop_process

    tmp = Path(tempfile.mkdtemp(prefix="bench-edge-"))
    procs: list[subprocess.Popen[bytes]] = []
    broker = MosquittoBroker().start()
    sim_proc = None
    svc = None
    try:
        sim_proc = subprocess.Popen(
            [SMARTLIB, "sim", "serve", "--control-port", "0", "--ils-port", "0",
             "--ils-db", str(tmp / "ils.db"), "--vpcd", "none"],
            stdout=subprocess.PIPE, stderr=(tmp / "sim.log").open("ab"), cwd=str(REPO))
        assert sim_proc.stdout is not None
        endpoints = json.loads(sim_proc.stdout.readline() or b"null")
        if not endpoints:
            raise RuntimeError("sim serve did not start: " + (tmp / "sim.log").read_text()[-2000:])
        ctl = httpx.Client(base_url=endpoints["control_url"], timeout=30)
        ils = endpoints["ils"]
        subprocess.run([SMARTLIB, "sim", "ils", "export", "--out", str(tmp / "export"),
                        "--db", str(tmp / "ils.db")], check=True, capture_output=True)
        free, patrons = _free_items_and_patrons(tmp / "export")
        pad = endpoints["readers"]["pad"]
        common = {"site": {"id": SITE}, "broker": {"host": "127.0.0.1", "port": broker.port}}
        gw = _toml(tmp / "gateway.toml", {
            **common, "device": {"id": "gw-1", "role": "gateway"},
            "ils": {"host": ils["host"], "port": ils["port"], "user": "kiosk01",
                    "password": "s3cret", "institution": "VNLIB", "location": "MAIN",
                    "pool_size": 4},
            "gateway": {"ledger": f"sqlite:///{tmp / 'ledger.db'}", "sites": [SITE]}})
        edge_cfg = _toml(tmp / "kiosk.toml", {
            **common, "device": {"id": DEVICE, "role": "kiosk"},
            "reader": {"driver": "sim", "url": pad["pty"], "baudrate": pad.get("baudrate", 38400),
                       "timeout_s": 1.0, "antennas": ["pad"]},
            "card_reader": {"enabled": False},
            "store": {"path": str(tmp / "edge.db")},
            "policy": {"result_timeout_s": 15.0, "session_idle_s": 600}})
        for args_ in (["gateway", "run", "--config", str(gw)], ["sync", "--config", str(edge_cfg)]):
            with (tmp / f"{args_[0]}.log").open("ab") as log:
                procs.append(subprocess.Popen([SMARTLIB, *args_], stdout=log,
                                              stderr=subprocess.STDOUT, cwd=str(REPO)))
        settings = load_settings(edge_cfg)
        svc = EdgeServices.build(settings)
        svc.start(background=True, poll_pad=False)

        # the raw SIP2 reference, on the same ILS, in the same run
        raw_items, free = free[:raw_n], free[raw_n:]
        sip2_s = _raw_sip2_checkout_s(ils["host"], ils["port"], raw_items, patrons.pop())

        def one_round() -> dict[str, float]:
            nonlocal free
            items, free = free[:STACK], free[STACK:]
            ctl.post("/tags/clear", json={"zone": "pad"}).raise_for_status()
            for item in items:
                ctl.post("/tags", json={"item": item, "zone": "pad", "afi": 7,
                                        "isil": "VN-HN0001"}).raise_for_status()
            session = None
            deadline = time.monotonic() + 60
            while session is None:  # the agent may still be connecting on the first round
                try:
                    session = svc.sessions.login(PatronCredential("barcode", patrons.pop(), b""))
                except EdgeError as exc:  # offline login refused: try again
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"login never succeeded: {exc}") from exc
                    time.sleep(0.5)
            if session.offline:
                raise RuntimeError("the gateway did not answer the login")
            ctl.post("/readers/pad/floor/reset").raise_for_status()
            t0 = time.perf_counter()
            results = svc.circulation.checkout(session)
            wall = time.perf_counter() - t0
            floor = ctl.get("/readers/pad").json()["floor"]
            statuses = {r.status for r in results}
            if statuses != {"loaned"} or len(results) != STACK:
                _dump_stacks(procs)
                raise RuntimeError(f"checkout did not loan every item: {results}")
            afis = {t["afi"] for t in ctl.get("/tags").json()
                    if t["item"] in items and t["zone"] == "pad"}
            if afis != {0xC2}:
                raise RuntimeError(f"AFI read back {afis}, expected 0xC2 on every tag")
            svc.sessions.end(session.id)
            return {"wall_s": wall, "reader_floor_s": float(floor["total_s"]),
                    "exchanges": float(floor["exchanges"])}

        one_round()  # warm-up: connections, the pty, first look-ups
        runs = [one_round() for _ in range(rounds)]
        wall = sorted(r["wall_s"] for r in runs)[len(runs) // 2]
        reader_floor = sorted(r["reader_floor_s"] for r in runs)[len(runs) // 2]
        ils_floor = STACK * sip2_s
        floor = reader_floor + ils_floor
        import sqlite3

        with sqlite3.connect(f"file:{tmp / 'ils.db'}?mode=ro", uri=True) as ils_db:
            duplicates = int(ils_db.execute(
                "SELECT COALESCE(SUM(duplicate), 0) FROM applications").fetchone()[0])
        figures = {"wall_s": round(wall, 4), "floor_s": round(floor, 4),
                   "reader_floor_s": round(reader_floor, 4), "ils_floor_s": round(ils_floor, 5),
                   "sip2_checkout_ms": round(sip2_s * 1000, 3),
                   "exchanges": runs[0]["exchanges"], "ratio": round(wall / floor, 4),
                   "wall_min_s": round(min(r["wall_s"] for r in runs), 4),
                   "wall_max_s": round(max(r["wall_s"] for r in runs), 4)}
        emit("edge", figures, [target("ratio", figures["ratio"], "<=", 1.2,
                                      reference="modelled reader floor + raw SIP2 checkout "
                                                "loop x10, same run")],
             rounds=rounds, ils_duplicates=duplicates,
             workload="10-item checkout: placed -> loaned in the demo ILS, every AFI released "
                      "and verified (38400 baud pty, gateway + agent + Mosquitto)")
    finally:
        if svc is not None:
            svc.stop()
        for p in procs:
            stop_process(p, timeout=10)
        if sim_proc is not None:
            stop_process(sim_proc, timeout=10)
        broker.stop()
        if not os.environ.get("SMARTLIB_BENCH_KEEP"):
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(tmp, file=sys.stderr)


if __name__ == "__main__":
    main()
