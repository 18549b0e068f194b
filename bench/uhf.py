"""UHF benchmark: inventory of a 20-tag stack plus 8 user-memory words read from each tag,
through the LLRP driver against the simulated LLRP reader (timing on: it sleeps its Gen2
air-time model, Tari 25 us, BLF 256 kHz, Miller 4). Prints wall time, the simulator's
modelled floor (air time of every inventory round and access) and their ratio (target
<= 1.2)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import emit, parse_args, target
from drivers.llrp.reader import LlrpReader
from hardware_sim.llrp_device import LlrpReaderDevice, uhf_tag_for_item
from hardware_sim.llrp_tag import UhfField

TAGS = 20


def run(rounds: int) -> dict[str, float]:
    field = UhfField({"uhf-pad": (1,)})
    for i in range(TAGS):
        field.place(uhf_tag_for_item(f"9100{i:04d}", owner_library="VN-HN0001",
                                     set_info=(1, 1)), "uhf-pad")
    device = LlrpReaderDevice(field, timing=True).start(port=0)
    inventory_s = reads_s = 0.0
    try:
        with LlrpReader(f"llrp://127.0.0.1:{device.tcp_port}", timeout_s=5.0) as reader:
            reader.inventory()  # warm-up: connection set-up and the ROSpec are in place
            device.floor.reset()
            for _ in range(rounds):
                started = time.perf_counter()
                uids = [item.uid for item in reader.inventory()]
                inventoried = time.perf_counter()
                assert len(uids) == TAGS, f"saw {len(uids)} of {TAGS} tags"
                user = [reader.read_blocks(uid, 0, 8) for uid in uids]
                assert all(len(words) == 16 for words in user)
                inventory_s += inventoried - started
                reads_s += time.perf_counter() - inventoried
        floor = device.floor.snapshot().air_s
    finally:
        device.stop()
    wall = inventory_s + reads_s
    return {"wall_s": round(wall / rounds, 5), "inventory_s": round(inventory_s / rounds, 5),
            "reads_s": round(reads_s / rounds, 5), "floor_s": round(floor / rounds, 5),
            "ratio": round(wall / floor, 4)}


def main() -> None:
    args = parse_args(__doc__ or "")
    rounds = 1 if args.quick else 5
    r = run(rounds)
    emit("uhf", r, [target("ratio", r["ratio"], "<=", 1.2,
                           reference="the simulator's modelled Gen2 air-time floor in the same run")],
         rounds=rounds, workload=f"LLRP inventory of {TAGS} tags + read 8 user words from each")


if __name__ == "__main__":
    main()
