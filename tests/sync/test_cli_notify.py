"""``smartlib sync`` and ``smartlib gateway run`` speak sd_notify from their working loops:
READY=1 once the loop turned, then WATCHDOG=1 while it turns, and silence when it is frozen
(so systemd's ``WatchdogSec`` or the demo's supervisor restarts a process that stops working,
not only one that exits)."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import pytest

from tests.sync.gateway.harness import SyncEnv


def _notify_socket(tmp: Path) -> tuple[str, socket.socket]:
    path = str(tmp / "notify")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(30)
    return path, s


def _until(s: socket.socket, wanted: str) -> list[str]:
    seen: list[str] = []
    while wanted not in seen:
        seen += s.recv(4096).decode().splitlines()
    return seen


@pytest.mark.parametrize("which", ["sync", "gateway"])
def test_ready_then_pings_and_silence_when_frozen(sync_env: SyncEnv, which: str) -> None:
    path, s = _notify_socket(sync_env.tmp)
    env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "2000000", "WATCHDOG_PID": ""}
    args = (["sync", "--config", str(sync_env.agent_config())] if which == "sync" else
            ["gateway", "run", "--config", str(sync_env.gateway_config())])
    proc = sync_env.proc(which, args, env).start()
    try:
        first = _until(s, "READY=1")
        assert "WATCHDOG=1" not in first[:first.index("READY=1")]  # ready before any ping
        _until(s, "WATCHDOG=1")
        _until(s, "WATCHDOG=1")
        assert proc.proc is not None
        os.kill(proc.proc.pid, signal.SIGSTOP)  # a frozen loop: no more pings
        time.sleep(0.2)
        s.settimeout(0.2)
        try:
            while True:
                s.recv(4096)  # drain what was sent before the stop
        except TimeoutError:
            pass
        s.settimeout(2.5)
        with pytest.raises(TimeoutError):
            s.recv(4096)
        os.kill(proc.proc.pid, signal.SIGCONT)
        s.settimeout(30)
        _until(s, "WATCHDOG=1")
    finally:
        s.close()
