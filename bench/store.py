"""Bench: 1M-item bulk load through CacheRepository vs raw sqlite3 executemany; RSS of a
process holding the 1M-item cache and doing look-ups."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import emit, parse_args, target
from edge.store import open_store
from edge.store.schema import MIGRATIONS


def rows(n: int):
    for i in range(n):
        yield (f"3{i:09d}", f"Tài liệu số {i}", 1, 100_000 + i % 1000, 1, "MAIN")


def raw_load(path: Path, n: int) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    for stmt in MIGRATIONS[0].split(";"):
        if stmt.strip():
            conn.execute(stmt)
    t = time.perf_counter()
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO items (item_id, title, usage, value, parts, location) "
                     "VALUES (?, ?, ?, ?, ?, ?)", rows(n))
    conn.execute("COMMIT")
    dt = time.perf_counter() - t
    conn.close()
    return dt


def store_load(path: Path, n: int) -> float:
    with open_store(path) as store:
        t = time.perf_counter()
        store.cache.bulk_load("items", rows(n))
        return time.perf_counter() - t


RSS_CHILD = """
import sys, psutil
from edge.store import open_store
s = open_store(sys.argv[1])
n = int(sys.argv[2])
for i in range(0, n, max(1, n // 20000)):
    s.cache.item(f"3{i:09d}"); s.cache.is_on_loan(f"3{i:09d}")
print(psutil.Process().memory_info().rss)
"""


def main() -> None:
    args = parse_args(__doc__ or "")
    n = 100_000 if args.quick else 1_000_000
    with tempfile.TemporaryDirectory() as tmp:
        raw_t, store_t = [], []
        rounds = 2 if args.quick else 4  # alternating; the best of each (disk noise here)
        for k in range(rounds):
            raw_t.append(raw_load(Path(tmp) / f"raw{k}.db", n))
            store_t.append(store_load(Path(tmp) / f"store{k}.db", n))
        raw, ours = min(raw_t), min(store_t)
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
        out = subprocess.run([sys.executable, "-c", RSS_CHILD, str(Path(tmp) / "store0.db"),
                              str(n)], capture_output=True, text=True, env=env, check=True)
        rss_mb = int(out.stdout.strip()) / 2**20
    ratio = raw / ours
    emit("store", {"items": n, "raw_executemany_s": round(raw, 3), "bulk_load_s": round(ours, 3),
                   "raw_rows_per_s": round(n / raw), "bulk_rows_per_s": round(n / ours),
                   "speed_ratio_vs_raw": round(ratio, 3), "rss_mb_with_cache": round(rss_mb, 1)},
         [target("speed_ratio_vs_raw", round(ratio, 3), ">=", 0.8, "raw sqlite3 executemany"),
          target("rss_mb_with_cache", round(rss_mb, 1), "<=", 150.0)])


if __name__ == "__main__":
    main()
