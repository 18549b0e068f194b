"""The watchdog of the installed units, against the real processes: a hung service goes silent.

``smartlib install`` gives each unit ``WatchdogSec=``; systemd restarts a service that sends
no ``WATCHDOG=1`` for that long. Here the real ``smartlib serve`` and ``smartlib kiosk``
(offscreen) run with ``$NOTIFY_SOCKET`` on a socket the test reads and ``$WATCHDOG_USEC`` as
systemd sets it: they say READY=1 and ping; stopped (SIGSTOP: the whole process hung), not
one ping comes for a whole watchdog period, so systemd would restart them; continued, the
pings come back. The kiosk window's own command line (cage, with WATCHDOG_PID dropped)
runs on a headless cage.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import psutil
import pytest

from tests.support.procs import free_port, require_binary, stop_process

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


def _hang_and_resume(s: socket.socket, proc: subprocess.Popen[bytes],
                     pid: int | None = None) -> None:
    """SIGSTOP: silence for a whole watchdog period; SIGCONT: the pings again.

    ``pid``: the process to stop (default: ``proc``, whose exit fails the test)."""
    pid = proc.pid if pid is None else pid
    _until(s, "WATCHDOG=1", proc)
    _until(s, "WATCHDOG=1", proc)
    os.kill(pid, signal.SIGSTOP)
    try:
        s.settimeout(0.3)
        with pytest.raises(TimeoutError):  # what was sent before the stop
            while True:
                s.recv(4096)
        s.settimeout(WATCHDOG_S)
        with pytest.raises(TimeoutError):  # nothing for WatchdogSec: systemd restarts it
            print("while hung:", s.recv(4096))
    finally:
        os.kill(pid, signal.SIGCONT)
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


# cage refuses to run as root: an inner user namespace makes it uid 1000 while the files are
# still reached as this user; Xwayland wants /tmp/.X11-unix owned by "us", so it gets a private
# one in a mount namespace. Then the unit's own command line runs: env -u WATCHDOG_PID cage …
_AS_A_USER = ('mkdir -p /tmp/.X11-unix && mount -t tmpfs tmpfs /tmp/.X11-unix && '
              'exec "$0" --user --map-user=1000 --map-group=1000 "$@"')


@pytest.mark.parametrize("as_installed", [True, False], ids=["unit", "without-env-u"])
def test_the_kiosk_units_cage_command_line_feeds_the_watchdog(tmp_path, notify_socket,
                                                              as_installed: bool) -> None:
    """The kiosk window's ExecStart, as ``smartlib install`` writes it, on a headless cage.

    systemd sets WATCHDOG_PID to the main process, cage; the unit drops it on the way, so
    the kiosk (cage's child) feeds the watchdog. Without that (``without-env-u``) the kiosk
    says READY=1 but leaves its watchdog off, and systemd would restart a healthy kiosk.
    """
    from smartlib.units import UnitOptions, kiosk_session_unit

    require_binary("cage", "cage")
    require_binary("Xwayland", "xwayland")
    unshare = require_binary("unshare", "util-linux")
    probe = subprocess.run([unshare, "--user", "--map-root-user", "--mount", "true"],
                           capture_output=True, text=True, check=False)
    if probe.returncode != 0:  # e.g. in a chroot (scripts/fresh-debian-check.sh)
        pytest.skip(f"no user namespace here ({probe.stderr.strip()}): cage will not run as "
                    "root, and this test needs one to run it as a user")
    path, s = notify_socket
    config = _config(tmp_path, free_port())
    unit = kiosk_session_unit(UnitOptions(executable=PurePosixPath(SMARTLIB),
                                          config=PurePosixPath(config))).text
    argv = shlex.split(_unit_values(unit, "ExecStart")[0])
    assert argv[:3] == ["/usr/bin/env", "-u", "WATCHDOG_PID"]
    if not as_installed:
        argv = argv[3:]
    runtime = tmp_path / "xdg"
    runtime.mkdir(mode=0o700)
    env = {**os.environ,
           **dict(v.split("=", 1) for v in _unit_values(unit, "Environment")),
           "HOME": str(tmp_path), "XDG_RUNTIME_DIR": str(runtime),
           "WLR_BACKENDS": "headless", "WLR_LIBINPUT_NO_DEVICES": "1",
           "WLR_RENDERER": "pixman",
           "NOTIFY_SOCKET": path, "WATCHDOG_USEC": str(int(WATCHDOG_S * 1_000_000)),
           "WATCHDOG_PID": str(os.getpid())}  # as systemd sets it: not the kiosk's pid
    assert env["QT_QPA_PLATFORM"] == "wayland"
    with (tmp_path / "cage.log").open("wb") as log:
        proc = subprocess.Popen([unshare, "--user", "--map-root-user", "--mount", "sh", "-c",
                                 _AS_A_USER, unshare, *argv],
                                stdout=log, stderr=subprocess.STDOUT, env=env)
    kiosk: int | None = None
    try:
        assert "STATUS=kiosk window shown" in _until(s, "READY=1", proc)
        kiosk = _kiosk_process(proc.pid)
        if as_installed:
            _hang_and_resume(s, proc, kiosk)
        else:
            s.settimeout(2 * WATCHDOG_S)
            with pytest.raises(TimeoutError):
                print("without env -u:", s.recv(4096))
    finally:
        stop_process(proc, timeout=10)
        if kiosk is not None:  # it dies with its compositor; made sure of here
            with contextlib.suppress(ProcessLookupError):
                os.kill(kiosk, signal.SIGKILL)


def _unit_values(text: str, key: str) -> list[str]:
    return [line.split("=", 1)[1] for line in text.splitlines() if line.startswith(f"{key}=")]


def _kiosk_process(cage_pid: int) -> int:
    for child in psutil.Process(cage_pid).children(recursive=True):
        if "kiosk" in child.cmdline():
            return child.pid
    pytest.fail(f"no kiosk process under cage ({cage_pid})")
