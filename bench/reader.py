"""Reader benchmark: inventory of a 10-tag stack plus 8 blocks read from each tag, over a
pty, at 38400 and 115200 baud. Prints wall time, the simulator's modelled floor (serial
bytes at the baud rate plus ISO 15693 air time) and their ratio (target <= 1.2)."""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import emit, parse_args, target
from drivers.feig.reader import FeigReader
from hardware_sim.feig_device import FeigReaderDevice
from hardware_sim.field import SimField
from hardware_sim.tag import SimTag, random_uid


def run(baudrate: int, rounds: int) -> dict[str, float]:
    field = SimField()
    rng = random.Random(10)
    for i in range(10):
        field.place(SimTag.from_item(f"9000{i:04d}", uid=random_uid(rng)), "pad")
    device = FeigReaderDevice(field, ["pad"], baudrate=baudrate, timing=True).start(tcp=False)
    try:
        assert device.pty_path is not None
        with FeigReader(device.pty_path, baudrate=baudrate, timeout_s=1.0) as reader:
            reader.inventory()  # warm-up
            device.floor.reset()
            t0 = time.perf_counter()
            for _ in range(rounds):
                items = reader.inventory()
                assert len(items) == 10
                for item in items:
                    reader.read_blocks(item.uid, 0, 8)
            wall = time.perf_counter() - t0
        floor = device.floor.snapshot().total_s
    finally:
        device.stop()
    return {"wall_s": round(wall / rounds, 5), "floor_s": round(floor / rounds, 5),
            "ratio": round(wall / floor, 4)}


def main() -> None:
    args = parse_args(__doc__ or "")
    rounds = 3 if args.quick else 20
    figures: dict[str, float] = {}
    targets = []
    for baud in (38400, 115200):
        r = run(baud, rounds)
        # flat figure names -> numbers, as smartlib/bench_cli.py documents
        figures.update({f"{k}_{baud}": v for k, v in r.items()})
        targets.append(target(f"ratio_{baud}", r["ratio"], "<=", 1.2,
                              reference="the simulator's modelled floor in the same run"))
    emit("reader", figures, targets, rounds=rounds,
         workload="inventory of 10 tags + read 8 blocks from each, over a pty")


if __name__ == "__main__":
    main()
