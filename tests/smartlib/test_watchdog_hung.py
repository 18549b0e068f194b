"""The watchdog of the installed units, against the real processes: a hung service goes silent.

``smartlib install`` gives each unit ``WatchdogSec=``; systemd restarts a service that sends
no ``WATCHDOG=1`` for that long. Here the real ``smartlib serve`` and ``smartlib kiosk``
(offscreen) run with ``$NOTIFY_SOCKET`` on a socket the test reads and ``$WATCHDOG_USEC`` as
systemd sets it: they say READY=1 and ping; stopped (SIGSTOP: the whole process hung), not
one ping comes for a whole watchdog period, so systemd would restart them; continued, the
pings come back.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.procs import free_port, stop_process

REPO = Path(__file__).resolve().parents[2]
SMARTLIB = str(REPO / ".venv" / "bin" / "smartlib")
WATCHDOG_S = 2.0
"""The watchdog period given to the process (it pings every quarter of it)."""


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    path = str(tmp_path / "notify")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    yield path, s
    s.close()


def _until(s: socket.socket, wanted: str, proc: subprocess.Popen[bytes],
           timeout: float = 60.0) -> list[str]:
    """Read datagrams until one holds the field ``wanted``; fail if the process exits."""
    s.settimeout(timeout)
    seen: list[str] = []
    while wanted not in seen:
        try:
            seen += s.recv(4096).decode().splitlines()
        except TimeoutError:
            pytest.fail(f"no {wanted} in {timeout}s (process rc {proc.poll()}); saw {seen}")
    return seen


def _hang_and_resume(s: socket.socket, proc: subprocess.Popen[bytes]) -> None:
    """SIGSTOP: silence for a whole watchdog period; SIGCONT: the pings again."""
    _until(s, "WATCHDOG=1", proc)
    _until(s, "WATCHDOG=1", proc)
    os.kill(proc.pid, signal.SIGSTOP)
    try:
        s.settimeout(0.3)
        with pytest.raises(TimeoutError):  # what was sent before the stop
            while True:
                s.recv(4096)
        s.settimeout(WATCHDOG_S)
        with pytest.raises(TimeoutError):  # nothing for WatchdogSec: systemd restarts it
            print("while hung:", s.recv(4096))
    finally:
        os.kill(proc.pid, signal.SIGCONT)
    _until(s, "WATCHDOG=1", proc, timeout=10)


def _start(args: list[str], path: str, log: Path, **env: str) -> subprocess.Popen[bytes]:
    with log.open("wb") as fh:
        return subprocess.Popen([SMARTLIB, *args], stdout=fh, stderr=subprocess.STDOUT,
                                cwd=str(log.parent),
                                env={**os.environ, "NOTIFY_SOCKET": path,
                                     "WATCHDOG_USEC": str(int(WATCHDOG_S * 1_000_000)),
                                     **env})


def _config(tmp_path: Path, edge_port: int) -> Path:
    """A kiosk without devices, its store in ``tmp_path``, its edge on ``edge_port``."""
    path = tmp_path / "box.toml"
    path.write_text(f"""
[device]
id = "kiosk-01"
role = "kiosk"
[reader]
enabled = false
[card_reader]
enabled = false
[store]
path = "{tmp_path / 'edge.db'}"
[api]
port = {edge_port}
device_token = "watchdog-test-device-token"
staff_token = "watchdog-test-staff-token"
[kiosk]
edge_url = "http://127.0.0.1:{edge_port}"
admin_exit_code = "2468"
""", encoding="utf-8")
    return path


def test_serve_pings_while_it_works_and_goes_silent_when_hung(tmp_path, notify_socket) -> None:
    path, s = notify_socket
    config = _config(tmp_path, free_port())
    proc = _start(["serve", "--config", str(config)], path, tmp_path / "serve.log")
    try:
        assert "STATUS=serving as kiosk-01" in _until(s, "READY=1", proc)
        _hang_and_resume(s, proc)
        proc.send_signal(signal.SIGTERM)
        _until(s, "STOPPING=1", proc, timeout=30)
        # uvicorn shuts down, then re-raises the signal: systemd counts death by SIGTERM
        # as a clean stop (SuccessExitStatus= has it by default).
        assert proc.wait(30) in (0, -signal.SIGTERM)
    finally:
        stop_process(proc, timeout=10)


def test_kiosk_pings_from_its_gui_loop_and_goes_silent_when_hung(tmp_path,
                                                                  notify_socket) -> None:
    path, s = notify_socket
    config = _config(tmp_path, free_port())  # no edge there: the kiosk shows it is offline
    proc = _start(["kiosk", "--config", str(config), "--windowed"], path,
                  tmp_path / "kiosk.log", QT_QPA_PLATFORM="offscreen")
    try:
        assert "STATUS=kiosk window shown" in _until(s, "READY=1", proc)
        _hang_and_resume(s, proc)
    finally:
        stop_process(proc, timeout=10)
