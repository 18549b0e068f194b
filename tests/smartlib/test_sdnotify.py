"""The sd_notify client against a real unix datagram socket (a path and an abstract name)."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from smartlib.sdnotify import NotifyFieldError, SystemdNotifier


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    path = tmp_path / "notify"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(str(path))
    s.settimeout(5)
    try:
        yield str(path), s
    finally:
        s.close()


def _datagram(s: socket.socket) -> str:
    return s.recv(4096).decode()


def test_ready_status_watchdog_and_stopping_are_datagrams(
        listener: tuple[str, socket.socket]) -> None:
    path, s = listener
    n = SystemdNotifier.from_environment({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "2000000"})
    assert n.enabled and n.watchdog_s == 2.0 and n.ping_interval_s == 0.5
    assert n.ready("serving on :8080\nsecond line")
    assert _datagram(s) == "READY=1\nSTATUS=serving on :8080 second line"
    assert n.watchdog()
    assert _datagram(s) == "WATCHDOG=1"
    assert n.status("gateway online")
    assert _datagram(s) == "STATUS=gateway online"
    assert n.stopping()
    assert _datagram(s) == "STOPPING=1"


def test_heartbeat_sends_at_most_once_per_ping_interval(
        listener: tuple[str, socket.socket]) -> None:
    path, s = listener
    n = SystemdNotifier(path, watchdog_s=3600.0)  # ping interval 1 s: the second call is early
    assert n.heartbeat()
    assert not n.heartbeat()
    assert _datagram(s) == "WATCHDOG=1"
    s.settimeout(0.2)
    with pytest.raises(TimeoutError):
        s.recv(4096)


def test_abstract_socket_name() -> None:
    name = f"smartlib-test-notify-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.bind("\0" + name)
        s.settimeout(5)
        assert SystemdNotifier("@" + name).ready()
        assert s.recv(4096) == b"READY=1"


def test_without_a_socket_everything_is_a_no_op() -> None:
    n = SystemdNotifier.from_environment({})
    assert not n.enabled and n.watchdog_s is None
    assert not n.ready() and not n.watchdog() and not n.heartbeat()


def test_the_watchdog_is_for_the_named_pid_only(listener: tuple[str, socket.socket]) -> None:
    path, _ = listener
    other = SystemdNotifier.from_environment({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000",
                                              "WATCHDOG_PID": str(os.getpid() + 1)})
    assert other.watchdog_s is None and not other.watchdog()
    mine = SystemdNotifier.from_environment({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000",
                                             "WATCHDOG_PID": str(os.getpid())})
    assert mine.watchdog_s == 1.0
    bad = SystemdNotifier.from_environment({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "soon"})
    assert bad.watchdog_s is None


def test_a_gone_supervisor_is_logged_not_raised(tmp_path: Path,
                                                caplog: pytest.LogCaptureFixture) -> None:
    n = SystemdNotifier(str(tmp_path / "nobody-listens"), watchdog_s=1.0)
    assert not n.ready()
    assert not n.watchdog()
    assert "sd_notify to" in caplog.text


@pytest.mark.parametrize("field", ["READY", "=1", "STATUS=a\nREADY=1"])
def test_a_malformed_field_is_refused(field: str) -> None:
    with pytest.raises(NotifyFieldError, match="expected one KEY=VALUE line"):
        SystemdNotifier(None).notify(field)
