"""Tag codec throughput on one core: decodes/s and encodes/s for ISO 28560-3 and -2.

Prints one JSON line (bench/_common.py). Target: >= 50,000 part-3 decodes/s. The reference
figure is a bare CRC-16 of a basic block measured in the same run (decode must do at least
that), reported as ``decode_vs_crc`` ratios.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import emit, parse_args, target
from drivers.tags import ItemTagData, decode_tag, encode_tag
from drivers.tags.crc import basic_block_crc


def rate(fn: Callable[[], object], seconds: float) -> float:
    n, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(200):
            fn()
        n += 200
        now = time.perf_counter()
        if now >= deadline:
            return n / (now - start)


def main() -> None:
    args = parse_args(__doc__ or "tags bench")
    secs = 0.5 if args.quick else 3.0
    item = ItemTagData("3012345678", isil="VN-HN0001", parts_in_item=2, part_number=1)
    item2 = ItemTagData("3012345678", isil="VN-HN0001", parts_in_item=2, part_number=1,
                        elements={"title": "Lịch sử Việt Nam", "shelf_location": "A12"})
    p3 = encode_tag(item, blocks=28)
    p2 = encode_tag(item2, fmt="iso28560-2", blocks=28)
    figures = {
        "crc_per_s": rate(lambda: basic_block_crc(p3), secs),
        "part3_decodes_per_s": rate(lambda: decode_tag(p3), secs),
        "part3_encodes_per_s": rate(lambda: encode_tag(item, blocks=28), secs),
        "part2_decodes_per_s": rate(lambda: decode_tag(p2, dsfid=0x06), secs),
        "part2_encodes_per_s": rate(lambda: encode_tag(item2, fmt="iso28560-2", blocks=28), secs),
    }
    figures["part3_decode_vs_crc"] = figures["part3_decodes_per_s"] / figures["crc_per_s"]
    figures = {k: round(v, 3) if v < 10 else round(v) for k, v in figures.items()}
    emit("tags", figures, [target("part3_decodes_per_s", figures["part3_decodes_per_s"], ">=",
                                  50_000, "one core, 28-block ICODE SLIX image")],
         quick=bool(args.quick))


if __name__ == "__main__":
    main()
