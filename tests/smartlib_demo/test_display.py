"""The demo probes the kiosk window's display before starting it (a dead ``DISPLAY`` made Qt
abort at every start, and the supervisor restarted the kiosk for ever)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from smartlib_demo.display import usable_display, wayland_reachable, x11_reachable


@pytest.fixture
def x11_tcp_display() -> Iterator[str]:
    """A listener where ``127.0.0.1:N`` points (port 6000 + N)."""
    for number in range(60, 200):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(("127.0.0.1", 6000 + number))
        except OSError:
            s.close()
            continue
        s.listen(4)
        try:
            yield f"127.0.0.1:{number}"
        finally:
            s.close()
        return
    pytest.fail("no free port in 6060-6199 for a fake X display")


def test_an_x_display_that_answers_is_usable(x11_tcp_display: str) -> None:
    assert x11_reachable(x11_tcp_display)
    assert x11_reachable(x11_tcp_display + ".0")
    assert usable_display({"DISPLAY": x11_tcp_display}) == x11_tcp_display


def test_an_x_display_where_nothing_listens_is_not(x11_tcp_display: str) -> None:
    host, number = x11_tcp_display.split(":")
    assert not x11_reachable(":987")  # no /tmp/.X11-unix/X987
    assert not x11_reachable(f"{host}:{int(number) + 1000}")
    assert not x11_reachable("not a display")
    assert usable_display({"DISPLAY": ":987"}) is None
    assert usable_display({}) is None


def test_a_wayland_socket_that_answers_is_usable(tmp_path: Path) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.bind(str(tmp_path / "wayland-7"))
        s.listen(8)
        assert wayland_reachable("wayland-7", str(tmp_path))
        assert wayland_reachable(str(tmp_path / "wayland-7"), None)
        env = {"WAYLAND_DISPLAY": "wayland-7", "XDG_RUNTIME_DIR": str(tmp_path),
               "DISPLAY": ":987"}
        assert usable_display(env) == "wayland-7"
    assert not wayland_reachable("wayland-8", str(tmp_path))
    assert not wayland_reachable("wayland-7", None)
    assert usable_display({"WAYLAND_DISPLAY": "wayland-8", "XDG_RUNTIME_DIR": str(tmp_path),
                           "DISPLAY": ":987"}) is None
