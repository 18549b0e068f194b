"""``smartlib doctor`` against the running demo system, healthy and with each fault:
reader unplugged, reader hanging, broker down, ILS outage, corrupted database."""

from __future__ import annotations

import json
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from smartlib_demo.site import toml_dumps

REPO = Path(__file__).resolve().parents[2]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("doctor")
    ready = tmp / "ready.json"
    proc = subprocess.Popen([sys.executable, "-m", "smartlib.cli", "demo", "--no-ui", "--no-card",
                             "--run-dir", str(tmp / "run"), "--ready-file", str(ready)],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 180
        while not ready.exists():
            assert proc.poll() is None, proc.stderr.read().decode()[-3000:] if proc.stderr else ""
            assert time.monotonic() < deadline, "demo not ready"
            time.sleep(0.2)
        info = json.loads(ready.read_text())
        info["tmp"] = tmp
        yield info
    finally:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()


def _config(system: dict[str, Any], role: str, name: str, **changes: dict[str, Any]) -> Path:
    doc = tomllib.loads((Path(system["run_dir"]) / f"{role}.toml").read_text())
    for section, values in changes.items():
        doc.setdefault(section, {}).update(values)
    path = system["tmp"] / f"{name}.toml"
    path.write_text(toml_dumps(doc))
    return path


def _doctor(config: Path, *extra: str) -> tuple[int, dict[str, Any], dict[str, dict[str, Any]]]:
    done = subprocess.run([sys.executable, "-m", "smartlib.cli", "doctor", "--config",
                           str(config), "--json", *extra], capture_output=True, text=True,
                          cwd=REPO, timeout=120)
    report = json.loads(done.stdout)
    return done.returncode, report, {c["name"]: c for c in report["checks"]}


def test_healthy_kiosk_is_all_ok(system: dict[str, Any]) -> None:
    rc, report, checks = _doctor(Path(system["run_dir"]) / "kiosk.toml")
    assert rc == 0 and report["ok"] is True
    for name in ("reader", "broker", "gateway", "ils", "store", "clock"):
        assert checks[name]["level"] == "OK", checks[name]
    assert checks["card_reader"]["level"] == "SKIP"  # --no-card: card_reader.enabled = false
    assert checks["reader"]["details"]["counters"] is not None
    assert checks["store"]["details"]["schema_version"] >= 1


def test_table_output_names_each_check(system: dict[str, Any]) -> None:
    done = subprocess.run([sys.executable, "-m", "smartlib.cli", "doctor", "--config",
                           str(Path(system["run_dir"]) / "gate.toml")], capture_output=True,
                          text=True, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert any(ln.startswith("OK    reader") for ln in lines)
    assert any(ln.startswith("OK    gateway") for ln in lines)
    assert lines[-1].startswith("0 FAIL")


def test_reader_unplugged(system: dict[str, Any]) -> None:
    cfg = _config(system, "kiosk", "unplugged",
                  reader={"url": f"socket://127.0.0.1:{_closed_port()}", "timeout_s": 0.2})
    rc, _, checks = _doctor(cfg, "--only", "reader")
    assert rc == 1
    assert checks["reader"]["level"] == "FAIL"
    assert "cannot open" in checks["reader"]["finding"]
    assert "plugged in" in checks["reader"]["advice"]


def test_reader_that_hangs(system: dict[str, Any]) -> None:
    sim = system["sim_url"]
    httpx.post(f"{sim}/readers/pad/faults", json={"kind": "hang", "count": None,
                                                  "params": {"seconds": 30}}, timeout=5)
    try:
        cfg = _config(system, "kiosk", "hang", reader={"timeout_s": 0.2, "retries": 0})
        rc, _, checks = _doctor(cfg, "--only", "reader")
    finally:
        httpx.delete(f"{sim}/readers/pad/faults", timeout=5)
    assert rc == 1
    assert checks["reader"]["level"] == "FAIL"
    assert "does not answer" in checks["reader"]["finding"]


def test_broker_down(system: dict[str, Any]) -> None:
    cfg = _config(system, "kiosk", "nobroker", broker={"port": _closed_port()})
    rc, _, checks = _doctor(cfg, "--only", "broker", "--only", "gateway")
    assert rc == 1
    assert checks["broker"]["level"] == "FAIL"
    assert "cannot connect" in checks["broker"]["finding"]
    assert checks["gateway"]["level"] == "FAIL"


def test_wrong_broker_password(system: dict[str, Any]) -> None:
    cfg = _config(system, "kiosk", "badpw", broker={"password": "wrong"})
    rc, _, checks = _doctor(cfg, "--only", "broker")
    assert rc == 1
    assert "refused the login" in checks["broker"]["finding"]


def test_ils_outage_seen_from_the_gateway(system: dict[str, Any]) -> None:
    cfg = _config(system, "gateway", "noils", ils={"port": _closed_port()})
    rc, _, checks = _doctor(cfg, "--only", "ils")
    assert rc == 1
    assert checks["ils"]["level"] == "FAIL"
    assert "SIP2" in checks["ils"]["finding"]
    assert "SIP2 server running" in checks["ils"]["advice"]


def test_ils_outage_seen_from_a_kiosk(system: dict[str, Any]) -> None:
    # The kiosk asks the gateway, which logs in to the ILS and asks SC Status (99):
    # with the demo ILS in an outage (switched through the simulator's control API)
    # the gateway answers, the ILS check fails.
    sim = system["sim_url"]
    done = subprocess.run([sys.executable, "-m", "smartlib.cli", "sim", "ctl", "--url", sim,
                           "ils", "--outage", "on"], capture_output=True, text=True, cwd=REPO,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["faults"]["outage"] is True
    try:
        rc, _, checks = _doctor(Path(system["run_dir"]) / "kiosk.toml", "--only", "gateway",
                                "--only", "ils")
    finally:
        httpx.post(f"{sim}/ils/faults", json={"outage": False}, timeout=5)
    assert rc == 1
    assert checks["gateway"]["level"] in ("OK", "WARN")  # the gateway itself answered
    assert checks["ils"]["level"] == "FAIL"
    assert "the gateway cannot use the ILS" in checks["ils"]["finding"]
    rc, _, checks = _doctor(Path(system["run_dir"]) / "kiosk.toml", "--only", "ils")
    assert rc == 0 and checks["ils"]["level"] == "OK"
    assert "SC status" in checks["ils"]["finding"]


def _damaged_copy(src: Path, dst: Path) -> None:
    """A copy of a live store (WAL included, via the backup API), grown to many pages, then
    scrambled inside every b-tree page but the first: the file still opens, its pages do not."""
    live = sqlite3.connect(f"file:{src}?mode=ro", uri=True, timeout=10)
    copy = sqlite3.connect(dst)
    try:
        live.backup(copy)
        copy.execute("PRAGMA journal_mode=DELETE")
        copy.execute("CREATE TABLE doctor_padding (n INTEGER PRIMARY KEY, blob BLOB)")
        copy.executemany("INSERT INTO doctor_padding VALUES (?, ?)",
                         ((n, bytes([n % 251]) * 300) for n in range(400)))
        copy.commit()
        page_size = int(copy.execute("PRAGMA page_size").fetchone()[0])
        pages = int(copy.execute("PRAGMA page_count").fetchone()[0])
    finally:
        copy.close()
        live.close()
    assert pages >= 20, pages  # the padding alone takes ~30 pages
    data = bytearray(dst.read_bytes())
    assert len(data) == pages * page_size
    for page in range(1, pages):
        # keep each page's b-tree header (its first 12 bytes) readable, scramble the rest
        start, end = page * page_size + 16, (page + 1) * page_size
        data[start:end] = b"\xa5" * (end - start)
    dst.write_bytes(bytes(data))


def test_corrupted_database(system: dict[str, Any]) -> None:
    bad = system["tmp"] / "corrupt.db"
    _damaged_copy(Path(system["run_dir"]) / "kiosk.db", bad)
    cfg = _config(system, "kiosk", "corrupt", store={"path": str(bad)})
    rc, _, checks = _doctor(cfg, "--only", "store")
    assert rc == 1
    assert checks["store"]["level"] == "FAIL", checks["store"]
    assert "damaged" in checks["store"]["finding"]
    assert "smartlib db restore" in checks["store"]["advice"]


def test_truncated_database(system: dict[str, Any]) -> None:
    bad = system["tmp"] / "truncated.db"
    shutil.copy(Path(system["run_dir"]) / "kiosk.db", bad)
    bad.write_bytes(b"not an SQLite file at all" + bad.read_bytes()[100:])  # header gone
    cfg = _config(system, "kiosk", "truncated", store={"path": str(bad)})
    rc, _, checks = _doctor(cfg, "--only", "store")
    assert rc == 1
    assert checks["store"]["level"] == "FAIL", checks["store"]
    assert "smartlib db restore" in checks["store"]["advice"]
