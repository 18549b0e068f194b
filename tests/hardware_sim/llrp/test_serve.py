"""``smartlib sim serve`` lists the LLRP reader (protocol llrp, an llrp:// URL) and
``smartlib sim ctl place --item ID --zone Z`` puts a UHF tag (ISO/TS 28560-4) in its zone."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from drivers.llrp import messages as m
from drivers.llrp import params as p
from drivers.tags.iso28560_4 import decode_uhf
from tests.hardware_sim.llrp.conftest import RawClient

ROOT = Path(__file__).resolve().parents[3]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "smartlib.cli", *args], capture_output=True,
                          text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})


def _inventory(port: int) -> dict[bytes, p.TagReportData]:
    client = RawClient(port)
    try:
        client.wait(m.ReaderEventNotification)
        spec = p.ROSpec(1, specs=(p.AISpec((0,), p.AISpecStopTrigger(
            3, 0, (p.TagObservationTrigger(2, 0, 0, 1, 0, 0),))),))
        for msg in (m.SetReaderConfig(events=p.ReaderEventNotificationSpec(
                (p.EventNotificationState(p.EVENT_ROSPEC, True),))), m.DeleteROSpec(0), m.AddROSpec(spec),
                m.EnableROSpec(1), m.StartROSpec(1)):
            assert client.call(msg).status.code == 0  # type: ignore[attr-defined]
        while client.wait(m.ReaderEventNotification).data.events != (  # type: ignore[attr-defined]
                p.ROSpecEvent(p.ROSPEC_ENDED, 1),):
            pass
        return {t.epc: t for r in client.inbox if isinstance(r, m.ROAccessReport) for t in r.tags}
    finally:
        client.close()


def test_serve_lists_llrp_and_ctl_places_uhf_tags(tmp_path: Path) -> None:
    from tests.support.procs import free_port

    control = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "smartlib.cli", "sim", "serve", "--control-port", str(control),
         "--no-timing", "--vpcd", "none"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert proc.stdout is not None
        uhf = json.loads(proc.stdout.readline())["readers"]["uhf"]
        assert uhf["protocol"] == "llrp" and uhf["url"] == f"llrp://127.0.0.1:{uhf['tcp_port']}"
        assert uhf["zones"] == {"uhf-pad": [1], "uhf-gate": [2, 3]}
        url = f"http://127.0.0.1:{control}"
        placed = _cli("sim", "ctl", "--url", url, "place", "--item", "30001234", "--zone", "uhf-pad",
                      "--isil", "VN-HN0001")
        assert placed.returncode == 0, placed.stderr
        _cli("sim", "ctl", "--url", url, "place", "--item", "30005678", "--zone", "uhf-gate",
             "--afi", "0xC2")
        seen = _inventory(uhf["tcp_port"])
        items = {decode_uhf(t.pc.to_bytes(2, "big") + epc).primary_item_id: t.antenna_id  # type: ignore[union-attr]
                 for epc, t in seen.items()}
        assert items["30001234"] == 1 and items["30005678"] in (2, 3)
        gate = next(t for t in seen.values() if t.antenna_id in (2, 3))
        assert decode_uhf(gate.pc.to_bytes(2, "big") + gate.epc).afi == 0xC2  # type: ignore[union-attr]
        assert _cli("sim", "ctl", "--url", url, "remove", "30001234").returncode == 0
        left = _inventory(uhf["tcp_port"])
        assert all(decode_uhf(t.pc.to_bytes(2, "big") + e).primary_item_id != "30001234"  # type: ignore[union-attr]
                   for e, t in left.items())
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
