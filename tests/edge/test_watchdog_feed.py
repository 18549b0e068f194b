"""``smartlib serve`` speaks sd_notify: READY=1 once serving, WATCHDOG=1 only while it works."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from edge.api import create_app
from smartlib.sdnotify import SystemdNotifier


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(str(tmp_path / "notify"))
    s.settimeout(10)
    yield str(tmp_path / "notify"), s
    s.close()


def _until(s: socket.socket, wanted: str) -> list[str]:
    seen: list[str] = []
    while wanted not in seen:
        seen += s.recv(4096).decode().splitlines()
    return seen


def test_ready_then_pings_and_none_while_the_store_hangs(settings, services, monkeypatch,
                                                         notify_socket) -> None:
    path, s = notify_socket
    notifier = SystemdNotifier(path, watchdog_s=0.4)  # a ping every 0.1 s
    app = create_app(settings, services, start_services=False, notifier=notifier)
    with TestClient(app):
        first = _until(s, "READY=1")
        assert "STATUS=serving as kiosk-01" in first
        _until(s, "WATCHDOG=1")
        _until(s, "WATCHDOG=1")
        hang = threading.Event()
        monkeypatch.setattr(services.store.meta, "connectivity", lambda: hang.wait(30))
        s.settimeout(0.5)
        with pytest.raises(TimeoutError):  # drain, then: silence while the probe hangs
            while True:
                s.recv(4096)
        s.settimeout(1.5)
        with pytest.raises(TimeoutError):
            s.recv(4096)
        hang.set()
        monkeypatch.undo()
        s.settimeout(10)
        _until(s, "WATCHDOG=1")  # working again: the pings come back
    assert "STOPPING=1" in _until(s, "STOPPING=1")


def test_no_socket_no_feeder(settings, services) -> None:
    app = create_app(settings, services, start_services=False,
                     notifier=SystemdNotifier.from_environment({}))
    with TestClient(app) as c:
        assert c.get("/health").status_code == 200
