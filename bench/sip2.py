"""SIP2 bench: codec encode/decode messages per second next to pysip2, and client transactions.

* codec: the same 12/10/64/98/18 messages, with AY/AZ, encoded and decoded by our codec and
  by pysip2 in the same run; the figure is the ratio (target >= 2x pysip2);
* client: raw checkout + checkin pairs per second against the demo ILS on loopback.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pysip2
from pysip2.models import MESSAGE_SPECS_BY_ID

from bench._common import emit, parse_args, target
from sync.sip2.codec import Sip2Codec
from sync.sip2.messages import Message
from tests.support.sip2_samples import SAMPLES, to_pysip2_kwargs  # dev support, as bench/sync.py

BENCHED = ("12", "10", "64", "98", "18", "11", "09")
"""The benchmarked messages: the 12/10/64/98/18 answers and the 11/09 requests."""

MESSAGES: list[Message] = [m for m in SAMPLES if m.COMMAND in BENCHED]


def _pysip2_model(msg: Message) -> object:
    """The same message as a pysip2 model (its fields as pysip2 spells and types them)."""
    return MESSAGE_SPECS_BY_ID[msg.COMMAND].struct_type(**to_pysip2_kwargs(msg))


def _rate(fn: Callable[[Any], object], items: list[Any], seconds: float) -> float:
    n = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for it in items:
            fn(it)
        n += len(items)
        now = time.perf_counter()
        if now >= deadline:
            return n / (now - start)


def bench_codec(seconds: float) -> dict[str, float]:
    msgs = MESSAGES
    ours = Sip2Codec("utf-8", error_detection=True)
    frames = [ours.encode(m, 3) for m in msgs]
    models = [_pysip2_model(m) for m in msgs]
    for f in frames:  # both decode the same bytes
        pysip2.decode_message(f, encoding="utf-8")
    runs: dict[str, tuple[Callable[[Any], object], list[Any]]] = {
        "ours_encode_per_s": (lambda m: ours.encode(m, 3), msgs),
        "pysip2_encode_per_s": (lambda m: pysip2.encode_message(
            m, sequence_number=3, checksum=True, encoding="utf-8"), models),
        "ours_decode_per_s": (ours.decode, frames),
        "pysip2_decode_per_s": (lambda f: pysip2.decode_message(f, encoding="utf-8"), frames),
    }
    # interleaved rounds, best of each: the machine is shared, so noise hits both sides alike
    out = {k: 0.0 for k in runs}
    rounds = 10
    for _ in range(rounds):
        for k, (fn, items) in runs.items():
            out[k] = max(out[k], _rate(fn, items, seconds / rounds))
    out["encode_ratio"] = out["ours_encode_per_s"] / out["pysip2_encode_per_s"]
    out["decode_ratio"] = out["ours_decode_per_s"] / out["pysip2_decode_per_s"]
    return {k: round(v, 2) for k, v in out.items()}


def bench_client(seconds: float) -> dict[str, float]:
    from hardware_sim.ils.data import DEMO_ITEMS
    from hardware_sim.ils.server import DemoIlsServer
    from sync.sip2.client import Sip2Client

    tmp = tempfile.mkdtemp(prefix="bench-sip2-")
    try:
        server = DemoIlsServer(os.path.join(tmp, "ils.sqlite"))
        port = server.start()
        client = Sip2Client("127.0.0.1", port, user="kiosk01", password="s3cret",
                            institution="VNLIB", location="MAIN", keepalive=False)
        try:
            client.connect()
            items = DEMO_ITEMS["available"]
            pairs = 0
            start = time.perf_counter()
            while time.perf_counter() - start < seconds:
                item = items[pairs % len(items)]
                if not client.checkout("2000004", item).ok or not client.checkin(item).ok:
                    raise RuntimeError(f"checkout/checkin of {item} refused")
                pairs += 1
            elapsed = time.perf_counter() - start
        finally:
            client.close()
            server.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"checkout_checkin_pairs_per_s": round(pairs / elapsed, 1),
            "transactions_per_s": round(2 * pairs / elapsed, 1)}


def main() -> None:
    args = parse_args(__doc__ or "")
    seconds = 0.5 if args.quick else 3.0
    codec = bench_codec(seconds)
    client = bench_client(1.0 if args.quick else 5.0)
    targets = [
        target("encode_ratio", codec["encode_ratio"], ">=", 2.0, "pysip2 encode, same messages"),
        target("decode_ratio", codec["decode_ratio"], ">=", 2.0, "pysip2 decode, same frames"),
    ]
    emit("sip2", {**codec, **client}, targets, quick=args.quick)


if __name__ == "__main__":
    main()
