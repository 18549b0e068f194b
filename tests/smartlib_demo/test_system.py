"""``smartlib demo --no-ui`` starts every component as a subprocess, prints what to do, and
stops all of it (and nothing else) on SIGTERM or Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from smartlib_demo.site import toml_dumps

REPO = Path(__file__).resolve().parents[2]


def _wait_file(path: Path, proc: subprocess.Popen, timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"demo exited {proc.returncode}: {err[-3000:]}")
        if time.monotonic() > deadline:
            raise AssertionError("demo did not become ready")
        time.sleep(0.2)
    return json.loads(path.read_text())


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_demo_starts_everything_and_stops_it_cleanly(tmp_path: Path, sig: int) -> None:
    ready = tmp_path / "ready.json"
    proc = subprocess.Popen([sys.executable, "-m", "smartlib.cli", "demo", "--no-ui", "--no-card",
                             "--run-dir", str(tmp_path / "run"), "--ready-file", str(ready)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        info = _wait_file(ready, proc)
        children = {c.pid for c in psutil.Process(proc.pid).children(recursive=True)}
        assert set(info["pids"].values()) <= children
        assert set(info["pids"]) == {"sim", "mosquitto", "gateway", "central", "kiosk-serve",
                                     "kiosk-sync", "gate-serve", "gate-sync"}
        health = httpx.get(info["kiosk_url"] + "/health", timeout=5).json()
        assert health["role"] == "kiosk"
        assert httpx.get(info["gate_url"] + "/health", timeout=5).json()["role"] == "gate"
        page = httpx.get(info["staff_console_url"].split("#")[0], timeout=5)
        assert page.status_code == 200 and "<html" in page.text.lower()
        assert httpx.get(info["sim_url"] + "/status", timeout=5).json()["readers"]
        # The central console: its demo admin logs in and sees both boxes (its collector
        # reads their statuses on its own broker account).
        with httpx.Client(base_url=info["central_url"], timeout=10) as central:
            assert central.get("/api/fleet").status_code == 401
            assert central.post("/api/login", json=info["central_admin"]).status_code == 200
            fleet = central.get("/api/fleet").json()
            assert {(d["device"], d["state"]) for d in fleet} >= {("kiosk-01", "online"),
                                                                  ("gate-01", "online")}
            # The library has its boxes' [site] name from the start, not only its id.
            sites = {s["site_id"]: s["name"] for s in central.get("/api/sites").json()}
            assert sites == {"demo-site": "Thư viện Demo"}
        for name in ("kiosk", "gate", "gateway"):
            assert (tmp_path / "run" / f"{name}.toml").exists()
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err[-2000:]
    assert "smartlib demo is running" in out
    assert "card number / PIN" in out and "2000001 / 1234" in out
    assert "sim ctl --url" in out and "walk" in out
    assert info["staff_console_url"] in out
    assert info["central_url"] in out and info["central_admin"]["password"] in out
    assert "stopped." in err
    for pid in info["pids"].values():
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_refuses_a_run_dir_that_is_not_its_own(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    done = subprocess.run([sys.executable, "-m", "smartlib.cli", "demo", "--no-ui", "--no-card",
                           "--run-dir", str(tmp_path)], cwd=REPO, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1
    assert "not a demo run directory" in done.stderr
    assert (tmp_path / "precious.txt").read_text() == "keep me"


def test_toml_writer_round_trips() -> None:
    import tomllib

    doc = {"a": {"s": "Thư viện \"x\"", "i": 7, "f": 0.5, "b": True, "l": ["x", "y"],
                 "p": Path("/tmp/x"), "d": {"SHELF": "A", "Kệ 2": 2}}}
    back = tomllib.loads(toml_dumps(doc))
    assert back == {"a": {"s": "Thư viện \"x\"", "i": 7, "f": 0.5, "b": True, "l": ["x", "y"],
                          "p": "/tmp/x", "d": {"SHELF": "A", "Kệ 2": 2}}}


def _state(info: dict) -> dict:
    return json.loads(Path(info["supervisor_state"]).read_text())["processes"]


def _until(pred, what: str, timeout: float = 120, interval: float = 0.2):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        got = pred()
        if got:
            return got
        assert time.monotonic() < deadline, what
        time.sleep(interval)


def _restarted(info: dict, name: str, restarts: int) -> bool:
    v = _state(info)[name]
    return (v["restarts"] >= restarts and v["state"] == "running"
            and psutil.pid_exists(v["pid"]))


def _online_checkout(info: dict) -> list[tuple[str, str]]:
    """Log in (online, through the gateway), place one book, borrow it: the results."""
    from smartlib_demo.site import DEVICE_TOKEN, HOME_ISIL, pick_items

    headers = {"Authorization": f"Bearer {DEVICE_TOKEN}"}

    def online_session() -> str | None:
        try:
            r = httpx.post(info["kiosk_url"] + "/sessions", headers=headers, timeout=30,
                           json={"credential": {"source": "barcode", "identifier": "2000004",
                                                "pin": "4567"}, "language": "en"})
        except httpx.HTTPError:
            return None
        if r.status_code != 201:
            return None
        if r.json().get("offline", True):
            httpx.delete(info["kiosk_url"] + f"/sessions/{r.json()['id']}", headers=headers)
            return None
        return str(r.json()["id"])

    session = _until(online_session, "an online login after the restarts", interval=1.0)
    [item] = pick_items(Path(info["run_dir"]) / "export", 1)
    httpx.post(info["sim_url"] + "/tags", json={"item": item, "zone": "pad", "isil": HOME_ISIL},
               timeout=10).raise_for_status()
    r = httpx.post(info["kiosk_url"] + f"/sessions/{session}/checkout", headers=headers,
                   json={}, timeout=60)
    r.raise_for_status()
    return [(x["item_id"], x["status"]) for x in r.json()["results"]]


def test_every_child_survives_kill_9_and_a_hung_edge_is_restarted(tmp_path: Path) -> None:
    ready = tmp_path / "ready.json"
    proc = subprocess.Popen([sys.executable, "-m", "smartlib.cli", "demo", "--no-card",
                             "--watchdog-s", "5", "--run-dir", str(tmp_path / "run"),
                             "--ready-file", str(ready)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={k: v for k, v in os.environ.items()
                                 if k not in ("DISPLAY", "WAYLAND_DISPLAY")})
    try:
        info = _wait_file(ready, proc)
        names = ["sim", "mosquitto", "gateway", "central", "kiosk-serve", "gate-serve",
                 "kiosk-sync", "gate-sync", "kiosk-ui"]
        assert set(_state(info)) == set(names)
        _until(lambda: all(_restarted(info, n, 0) for n in names), "all running")
        for name in names:
            os.kill(_state(info)[name]["pid"], signal.SIGKILL)
            _until(lambda n=name: _restarted(info, n, 1), f"{name} restarted")
            assert _state(info)[name]["last_exit"] == "killed by SIGKILL"
            assert proc.poll() is None, f"the demo stopped after killing {name}"
        # A hung edge exists but does not work: its watchdog runs out and it is restarted.
        hung = _state(info)["gate-serve"]["pid"]
        os.kill(hung, signal.SIGSTOP)
        _until(lambda: _restarted(info, "gate-serve", 2), "the hung gate edge restarted")
        assert _state(info)["gate-serve"]["last_exit"].startswith("watchdog: no WATCHDOG=1")
        assert not psutil.pid_exists(hung) or psutil.Process(hung).status() == psutil.STATUS_ZOMBIE
        # The system serves again: a loan goes edge -> agent -> broker -> gateway -> ILS.
        [(_item, status)] = _online_checkout(info)
        assert status == "loaned"
        staff = httpx.get(info["gate_url"] + "/staff/state", timeout=10,
                          headers={"Authorization": f"Bearer {info['staff_token']}"}).json()
        counts = {p["name"]: p["restarts"] for p in staff["processes"]}
        assert counts == {**{n: 1 for n in names}, "gate-serve": 2}
        current = [v["pid"] for v in _state(info).values()]
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err[-3000:]
    assert "Processes (supervised" in out and "restarts 0" in out
    assert "restarted mosquitto" in err and "restarted gateway" in err
    for pid in current:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
