"""The demo's choice of pcscd: a running one is used only when its socket answers here.

A pcscd that runs in another mount namespace (a test's private pcscd, whose socket is
bind-mounted over /run/pcscd in its own namespace only) was adopted by its process name: the
demo printed "using the running pcscd (pid …)", the virtual card talked to that pcscd's vpcd,
and every card tap on the kiosk did nothing.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from smartlib_demo import processes
from smartlib_demo.processes import PcscdLauncher, pcscd_answers


@pytest.fixture
def listening(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "pcscd.comm"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)
    try:
        yield path
    finally:
        server.close()


def test_a_socket_answers_only_when_something_listens(tmp_path: Path, listening: Path) -> None:
    assert pcscd_answers(listening)
    assert not pcscd_answers(tmp_path / "missing.comm")
    stale = tmp_path / "stale.comm"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(stale))                                   # a socket file nobody listens on
    s.close()
    assert not pcscd_answers(stale)


def test_a_running_pcscd_elsewhere_is_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               listening: Path) -> None:
    monkeypatch.delenv("PCSCLITE_CSOCK_NAME", raising=False)
    monkeypatch.setattr(processes, "_pcscd_pids", lambda: [4242])
    monkeypatch.setattr(processes.shutil, "which", lambda _name: None)   # no private one either
    monkeypatch.setattr(processes, "VPCD_LIBS", ())
    monkeypatch.setattr(processes, "PCSCD_SOCKET", tmp_path / "nobody-here.comm")
    launcher = PcscdLauncher(tmp_path)
    assert launcher.start() is None
    assert "4242" in launcher.reason and "does not answer" in launcher.reason
    assert "using the running pcscd" not in launcher.reason

    monkeypatch.setattr(processes, "PCSCD_SOCKET", listening)            # it answers here
    launcher = PcscdLauncher(tmp_path, port=40001)
    assert launcher.start() == 40001
    assert launcher.reason.startswith("using the running pcscd (pid 4242)")


def test_the_socket_pcsc_lite_clients_are_told_of_is_the_one_checked(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, listening: Path) -> None:
    # The tests' private pcscd listens where $PCSCLITE_CSOCK_NAME says; the demo's processes
    # inherit it, so that pcscd answers for them though /run/pcscd is empty (the kiosk e2e
    # test's card login broke when only /run/pcscd/pcscd.comm was checked).
    monkeypatch.setattr(processes, "_pcscd_pids", lambda: [4242])
    monkeypatch.setattr(processes, "PCSCD_SOCKET", tmp_path / "nobody-here.comm")
    monkeypatch.setenv("PCSCLITE_CSOCK_NAME", str(listening))
    launcher = PcscdLauncher(tmp_path, port=40001)
    assert launcher.start() == 40001
    assert launcher.reason.startswith("using the running pcscd (pid 4242)")
