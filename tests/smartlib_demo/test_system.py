"""``smartlib demo --no-ui`` starts every component as a subprocess, prints what to do, and
stops all of it (and nothing else) on SIGTERM or Ctrl-C."""

from __future__ import annotations

import json
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
        assert set(info["pids"]) == {"sim", "mosquitto", "gateway", "kiosk-serve", "kiosk-sync",
                                     "gate-serve", "gate-sync"}
        health = httpx.get(info["kiosk_url"] + "/health", timeout=5).json()
        assert health["role"] == "kiosk"
        assert httpx.get(info["gate_url"] + "/health", timeout=5).json()["role"] == "gate"
        page = httpx.get(info["staff_console_url"].split("#")[0], timeout=5)
        assert page.status_code == 200 and "<html" in page.text.lower()
        assert httpx.get(info["sim_url"] + "/status", timeout=5).json()["readers"]
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
                 "p": Path("/tmp/x")}}
    back = tomllib.loads(toml_dumps(doc))
    assert back == {"a": {"s": "Thư viện \"x\"", "i": 7, "f": 0.5, "b": True, "l": ["x", "y"],
                          "p": "/tmp/x"}}
