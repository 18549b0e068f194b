"""Cost curve: how the cost grows with the work.

* **Cache size** 10k, 100k and 1M items (``--quick``: 10k and 100k): bulk load through
  ``CacheRepository`` (per item, next to raw ``sqlite3.executemany`` on the same rows in
  the same run) and a gate-style decision look-up (``cache.item`` + ``is_on_loan``, per
  look-up, next to a raw SQLite point look-up on the same file). The loads alternate
  (raw, ours) three times on fresh files and the fastest of each is compared.
* **Stack size** 1, 5, 10 and 20 tags on the pad: an inventory plus 8 blocks read from each
  tag through ``FeigReader`` over a pty at 38400 baud (wall time per tag, next to the
  simulator's modelled floor: the physical serial + air time).

A flat cost per item or per tag as the work grows means no hidden super-linear step.
Targets: every ratio against its reference <= 3 (cache) and <= 1.2 (stack)."""

from __future__ import annotations

import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import emit, parse_args, target
from bench.store import raw_load, store_load
from drivers.feig.reader import FeigReader
from edge.store import open_store
from hardware_sim.feig_device import FeigReaderDevice
from hardware_sim.field import SimField
from hardware_sim.tag import SimTag, random_uid


def cache_point(n: int, lookups: int, loads: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-curve-") as tmp:
        # Loads alternate (raw, ours) ``loads`` times on fresh files and the fastest of each
        # is kept: one load of 10k rows takes 40 ms, and a single pair scattered 0.9-1.5x.
        raw_loads, our_loads = [], []
        for i in range(loads):
            raw_loads.append(raw_load(Path(tmp) / f"raw{i}.db", n))
            our_loads.append(store_load(Path(tmp) / f"store{i}.db", n))
        raw, ours = min(raw_loads), min(our_loads)
        rng = random.Random(n)
        keys = [f"3{rng.randrange(n):09d}" for _ in range(lookups)]
        conn = sqlite3.connect(Path(tmp) / "raw0.db", isolation_level=None)
        t = time.perf_counter()
        for k in keys:
            conn.execute("SELECT * FROM items WHERE item_id = ?", (k,)).fetchone()
            conn.execute("SELECT 1 FROM loans WHERE item_id = ?", (k,)).fetchone()
        raw_lookup = time.perf_counter() - t
        conn.close()
        with open_store(Path(tmp) / "store0.db") as store:
            t = time.perf_counter()
            for k in keys:
                store.cache.item(k)
                store.cache.is_on_loan(k)
            lookup = time.perf_counter() - t
    return {"load_us_per_item": round(ours / n * 1e6, 3),
            "raw_load_us_per_item": round(raw / n * 1e6, 3),
            "load_ratio": round(ours / raw, 3),
            "lookup_us": round(lookup / lookups * 1e6, 2),
            "raw_lookup_us": round(raw_lookup / lookups * 1e6, 2),
            "lookup_ratio": round(lookup / raw_lookup, 3)}


def stack_point(tags: int, rounds: int) -> dict[str, float]:
    field = SimField()
    rng = random.Random(tags)
    for i in range(tags):
        field.place(SimTag.from_item(f"9100{i:04d}", uid=random_uid(rng)), "pad")
    device = FeigReaderDevice(field, ["pad"], baudrate=38400, timing=True).start(tcp=False)
    try:
        assert device.pty_path is not None
        with FeigReader(device.pty_path, baudrate=38400, timeout_s=1.0) as reader:
            reader.inventory()
            device.floor.reset()
            t0 = time.perf_counter()
            for _ in range(rounds):
                found = reader.inventory()
                assert len(found) == tags, (len(found), tags)
                for item in found:
                    reader.read_blocks(item.uid, 0, 8)
            wall = time.perf_counter() - t0
        floor = device.floor.snapshot().total_s
    finally:
        device.stop()
    return {"ms_per_tag": round(wall / rounds / tags * 1000, 3),
            "floor_ms_per_tag": round(floor / rounds / tags * 1000, 3),
            "ratio": round(wall / floor, 4)}


def main() -> None:
    args = parse_args(__doc__ or "")
    sizes = (10_000, 100_000) if args.quick else (10_000, 100_000, 1_000_000)
    stacks = (1, 5, 10, 20)
    rounds = 2 if args.quick else 10
    lookups = 2_000 if args.quick else 20_000
    loads = 1 if args.quick else 3
    figures: dict[str, float] = {}
    targets = []
    for n in sizes:
        label = f"{n // 1000}k" if n < 1_000_000 else "1m"
        for k, v in cache_point(n, lookups, loads).items():
            figures[f"cache_{label}_{k}"] = v
        targets.append(target(f"cache_{label}_lookup_ratio", figures[f"cache_{label}_lookup_ratio"],
                              "<=", 3.0, reference="raw SQLite point look-ups, same file size"))
        targets.append(target(f"cache_{label}_load_ratio", figures[f"cache_{label}_load_ratio"],
                              "<=", 1.25, reference="raw sqlite3.executemany, same rows"))
    for tags in stacks:
        for k, v in stack_point(tags, rounds).items():
            figures[f"stack_{tags}_{k}"] = v
        targets.append(target(f"stack_{tags}_ratio", figures[f"stack_{tags}_ratio"], "<=", 1.2,
                              reference="the simulator's modelled floor in the same run"))
    emit("curve", figures, targets, cache_sizes=list(sizes), stack_sizes=list(stacks),
         rounds=rounds, lookups=lookups, loads=loads)


if __name__ == "__main__":
    main()
