"""Whether the kiosk window can reach a display (X11 or Wayland) before the demo starts it.

A ``DISPLAY`` that names no running X server makes Qt abort at start-up; the supervisor would
restart the kiosk for ever. The demo probes the display's socket first and, when nothing
answers, runs the window offscreen and says why in the banner.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Mapping
from pathlib import Path

_X11_DISPLAY = re.compile(r"^(?P<host>[^:]*):(?P<number>\d+)(?:\.\d+)?$")


def _connects(family: int, address: object) -> bool:
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(1.0)
        try:
            s.connect(address)  # type: ignore[arg-type]
        except OSError:
            return False
        return True


def x11_reachable(display: str) -> bool:
    """An X server answers on ``display`` (``:N``, ``unix:N``, ``host:N``)."""
    m = _X11_DISPLAY.match(display)
    if m is None:
        return False
    host, number = m["host"], int(m["number"])
    if host in ("", "unix"):
        return _connects(socket.AF_UNIX, f"/tmp/.X11-unix/X{number}")
    return _connects(socket.AF_INET, (host, 6000 + number))


def wayland_reachable(display: str, runtime_dir: str | None) -> bool:
    """A Wayland compositor listens on ``display`` (a socket name under ``$XDG_RUNTIME_DIR``,
    or an absolute path)."""
    path = Path(display) if display.startswith("/") else (
        Path(runtime_dir) / display if runtime_dir else None)
    return path is not None and _connects(socket.AF_UNIX, str(path))


def usable_display(env: Mapping[str, str] = os.environ) -> str | None:
    """The display the kiosk window would open (``"wayland-0"``, ``":0"``), or None when none
    of the set ones answers."""
    wayland = env.get("WAYLAND_DISPLAY")
    if wayland and wayland_reachable(wayland, env.get("XDG_RUNTIME_DIR")):
        return wayland
    x11 = env.get("DISPLAY")
    if x11 and x11_reachable(x11):
        return x11
    return None
