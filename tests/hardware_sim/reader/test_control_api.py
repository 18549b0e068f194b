"""The control API, scenarios, gate walks, ``sim serve`` and ``sim ctl``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from drivers.feig.reader import FeigReader
from hardware_sim.control_api import ControlServer, make_control_app
from hardware_sim.world import WORLD_DIR, SimWorld, WorldSpec, WorldSpecError


@pytest.fixture
def world() -> Iterator[SimWorld]:
    w = SimWorld(WorldSpec.default(), timing=False).start()
    try:
        yield w
    finally:
        w.stop()


def test_place_read_fault_and_status(world: SimWorld) -> None:
    client = TestClient(make_control_app(world))
    r = client.post("/tags", json={"item": "50000001", "isil": "VN-DEMO", "zone": "pad"})
    assert r.status_code == 201
    uid = r.json()["tags"][0]["uid"]
    r = client.post("/tags", json={"item": "SET9", "parts": 3, "present": [1, 3], "zone": "pad"})
    assert len(r.json()["tags"]) == 2
    assert client.post("/readers/pad/faults", json={"kind": "fail_afi", "count": 1}).status_code == 201
    url = world.endpoints()["pad"]["url"]
    with FeigReader(url, timeout_s=0.3) as reader:
        assert len(reader.inventory()) == 3
        reader.write_afi(uid, 0xC2)
        reader.set_outputs(red="on", duration_s=600)  # long: the check below is not a race
    st = client.get("/readers/pad").json()
    assert st["outputs"]["red"] == "on" and st["counters"]["faults_fired"] == 1
    assert st["floor"]["exchanges"] > 0
    assert client.delete(f"/tags/{uid}").json() == {"removed": [uid]}
    assert client.delete("/tags/nothing-here").status_code == 404
    assert client.post("/readers/pad/faults", json={"kind": "nonsense"}).status_code == 400
    assert client.get("/readers/nope").status_code == 404
    tags = client.get("/tags").json()
    assert any(t["uid"] == uid and t["afi"] == 0xC2 and t["zone"] is None for t in tags)


def test_gate_walk_moves_tags_and_beams(world: SimWorld) -> None:
    client = TestClient(make_control_app(world))
    plan = client.post("/walk", json={"items": ["60000001"], "reader": "gate", "speed_m_s": 6.0}).json()
    assert plan["direction"] == "out" and len(plan["uids"]) == 1
    gate = world.readers["gate"]
    url = world.endpoints()["gate"]["url"]
    # Wait for the walk's observable end (beam B released, the zones empty), not for a
    # time: the scheduler runs late on a busy machine, and sampling the reader during a
    # 0.1 s walk could miss it. The device's input log and buffer record every step.
    deadline = time.monotonic() + 30  # generous: only bounds a hung test
    while not (world.scheduler.pending() == 0 and len(gate.input_log) >= 4 and gate.inputs == 0
               and world.field.snapshot()["gate-out"] == []):
        assert time.monotonic() < deadline, f"gate walk did not finish: {list(gate.input_log)}"
        time.sleep(0.01)
    # going out: beam A (IN1) breaks, then A clears and B (IN2) breaks, then B clears
    assert [(e["number"], e["on"]) for e in gate.input_log] == [(1, True), (1, False), (2, True), (2, False)]
    assert [e["inputs"] for e in gate.input_log] == [1, 0, 2, 0]
    with FeigReader(url, timeout_s=0.3, antennas=("gate-in", "gate-out")) as reader:
        events = reader.read_buffer()
        assert reader.read_inputs().raw == 0
    assert [e.antenna for e in events] == ["gate-in", "gate-out"]
    assert {e.uid for e in events} == set(plan["uids"])
    assert world.field.snapshot()["gate-in"] == []


def test_scenario_files_load_and_run() -> None:
    for path in sorted(WORLD_DIR.glob("*.toml")):
        sc = WorldSpec.load(path)
        assert sc.readers
    sc = WorldSpec.load("faults")
    for r in sc.readers:
        r.tcp_port = 0
    w = SimWorld(sc, timing=False)
    pad = w.readers["pad"]
    assert len(w.field.snapshot()["pad"]) == 2
    w.run_action({"action": "place", "item": "X1", "parts": 3, "present": [1, 3], "zone": "pad"})
    assert len(w.field.snapshot()["pad"]) == 4
    w.run_action({"action": "fault", "reader": "pad", "kind": "garbage", "bytes": 3})
    assert pad.faults.armed()[0]["kind"] == "garbage"
    with pytest.raises(WorldSpecError):
        WorldSpec.from_dict({"timeline": [{"at": 1, "action": "explode"}]})
    with pytest.raises(WorldSpecError):
        WorldSpec.from_dict({"readers": []})


def test_control_server_and_ctl_cli(world: SimWorld) -> None:
    from hardware_sim.ctl_cli import ctl

    server = ControlServer(world, port=0).start()
    try:
        runner = CliRunner()
        base = ["--url", server.url]
        r = runner.invoke(ctl, [*base, "place", "--item", "70000001", "--afi", "0xC2"])
        assert r.exit_code == 0, r.output
        uid = json.loads(r.output)["tags"][0]["uid"]
        r = runner.invoke(ctl, [*base, "fault", "pad", "hang", "--param", "seconds=0.2"])
        assert r.exit_code == 0 and json.loads(r.output)["faults"][0]["kind"] == "hang"
        r = runner.invoke(ctl, [*base, "input", "gate", "1", "on"])
        assert json.loads(r.output) == {"inputs": 1}
        assert json.loads(runner.invoke(ctl, [*base, "outputs", "pad"]).output)["green"] == "off"
        assert "floor" in json.loads(runner.invoke(ctl, [*base, "counters", "pad"]).output)
        st = json.loads(runner.invoke(ctl, [*base, "status"]).output)
        assert st["zones"]["pad"] == [uid]
        r = runner.invoke(ctl, [*base, "remove", "70000001"])
        assert json.loads(r.output) == {"removed": [uid]}
        r = runner.invoke(ctl, [*base, "fault", "pad", "bogus"])
        assert r.exit_code != 0 and "unknown fault" in r.output
    finally:
        server.stop()


def test_sim_serve_prints_endpoints(tmp_path: Path) -> None:
    from tests.support.procs import free_port

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "smartlib.cli", "sim", "serve", "--world", "faults",
         "--control-port", str(port), "--no-timing", "--vpcd", "none"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])})
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        endpoints = json.loads(line)
        assert endpoints["control_url"] == f"http://127.0.0.1:{port}"
        pad = endpoints["readers"]["pad"]
        assert pad["pty"].startswith("/dev/pts/") and pad["tcp_port"] > 0
        with FeigReader(pad["pty"], timeout_s=0.5) as reader:
            assert len(reader.inventory()) >= 2
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
