"""Helpers to start and stop the external processes that tests own."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence


def free_port(count: int = 1) -> int:
    """Return a loopback TCP port p such that p .. p+count-1 are all free now."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base + count >= 65535:
            continue
        ok = True
        for extra in range(1, count):
            with socket.socket() as t:
                try:
                    t.bind(("127.0.0.1", base + extra))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise RuntimeError("no free port range found")


def wait_port(host: str, port: int, timeout: float = 10.0, proc: subprocess.Popen | None = None) -> None:
    """Wait until ``host:port`` accepts TCP connections."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"{host}:{port} did not open within {timeout}s")


def require_binary(name: str, package: str) -> str:
    """Return the path of ``name`` or fail with a message naming the Debian package."""
    path = shutil.which(name) or (f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else None)
    if path is None:
        import pytest

        pytest.fail(f"'{name}' is not installed: run `make test` as root or `apt-get install {package}`")
    return path


def stop_process(proc: subprocess.Popen, timeout: float = 5.0) -> None:
    """SIGTERM, then SIGKILL after ``timeout``; always reaps."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)


def start(args: Sequence[str], **kw) -> subprocess.Popen:
    """Start a process with stderr joined to stdout (a pipe unless ``stdout=`` is given)."""
    kw.setdefault("stdout", subprocess.PIPE)
    return subprocess.Popen(list(args), stderr=subprocess.STDOUT, **kw)
