"""The demo's supervisor on small real child processes that speak sd_notify.

Kills (SIGKILL), hangs (SIGSTOP: the watchdog), a deliberate exit of the final child, a held
child, and the state file the staff console reads.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from smartlib_demo.processes import Proc
from smartlib_demo.supervisor import Backoff, Supervisor, exit_reason

# A child that says READY=1 and then feeds its watchdog from its loop; with arguments
# ``N [SECONDS]`` it exits with status N after SECONDS (0.3) instead.
CHILD = """
import sys, time
from smartlib.sdnotify import SystemdNotifier
n = SystemdNotifier.from_environment()
n.ready("up")
end = time.monotonic() + (float(sys.argv[2]) if len(sys.argv) > 2 else 0.3)
while len(sys.argv) == 1 or time.monotonic() < end:
    n.heartbeat()
    time.sleep(0.05)
sys.exit(int(sys.argv[1]))
"""


@pytest.fixture
def supervisor(tmp_path: Path) -> Iterator[Supervisor]:
    sup = Supervisor(tmp_path / "supervisor.json", watchdog_s=1.5, start_timeout_s=30,
                     backoff=Backoff(first=0.1, most=0.4))
    yield sup
    sup.stop()
    for p in sup.procs():
        p.stop(grace=2)


def _spawner(sup: Supervisor, tmp_path: Path, name: str, *args: str) -> Callable[[], Proc]:
    def spawn() -> Proc:
        log = tmp_path / f"{name}.log"
        env = {**os.environ, **sup.notify_env(name)}
        with open(log, "ab") as out:
            popen = subprocess.Popen([sys.executable, "-c", CHILD, *args], stdout=out,
                                     stderr=out, env=env)
        return Proc(name, popen, log)

    return spawn


def _wait(pred: Callable[[], object], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def _adopt(sup: Supervisor, tmp_path: Path, name: str, *args: str, final: bool = False) -> Proc:
    spawn = _spawner(sup, tmp_path, name, *args)
    proc = spawn()
    sup.adopt(proc, spawn, notify=True, final=final)
    return proc


def test_a_killed_child_is_restarted_and_counted(supervisor: Supervisor, tmp_path: Path) -> None:
    first = _adopt(supervisor, tmp_path, "worker")
    supervisor.start()
    _wait(lambda: supervisor.snapshot()["worker"]["state"] == "running", "READY=1 seen")
    os.kill(first.popen.pid, signal.SIGKILL)
    _wait(lambda: supervisor.snapshot()["worker"]["restarts"] == 1, "restart")
    second = supervisor.proc("worker")
    assert second is not None and second.popen.pid != first.popen.pid and second.alive()
    view = supervisor.snapshot()["worker"]
    assert view["last_exit"] == "killed by SIGKILL" and view["pid"] == second.popen.pid
    _wait(lambda: json.loads(supervisor.state_file.read_text())["processes"]["worker"]["state"]
          == "running", "the state file shows the restarted child ready")
    on_disk = json.loads(supervisor.state_file.read_text())["processes"]["worker"]
    assert on_disk["restarts"] == 1 and on_disk["last_exit"] == "killed by SIGKILL"


def test_a_hung_child_is_killed_by_the_watchdog_and_restarted(supervisor: Supervisor,
                                                               tmp_path: Path) -> None:
    first = _adopt(supervisor, tmp_path, "worker")
    supervisor.start()
    _wait(lambda: supervisor.snapshot()["worker"]["state"] == "running", "READY=1 seen")
    os.kill(first.popen.pid, signal.SIGSTOP)  # it exists, but it no longer works
    _wait(lambda: supervisor.snapshot()["worker"]["restarts"] == 1, "watchdog restart")
    assert first.popen.poll() == -signal.SIGKILL
    assert supervisor.snapshot()["worker"]["last_exit"].startswith("watchdog: no WATCHDOG=1")
    new = supervisor.proc("worker")
    assert new is not None and new.alive()


def test_a_deliberate_exit_of_the_final_child_finishes(supervisor: Supervisor,
                                                       tmp_path: Path) -> None:
    _adopt(supervisor, tmp_path, "crashy", "3", "0.2", final=True)  # a crash: restarted
    _adopt(supervisor, tmp_path, "window", "0", "4", final=True)  # closed on purpose
    supervisor.start()
    _wait(lambda: supervisor.snapshot()["crashy"]["restarts"] >= 1, "the crash restarted")
    assert supervisor.snapshot()["crashy"]["last_exit"] == "exited with 3"
    assert not supervisor.finished.is_set()
    assert supervisor.finished.wait(30)
    assert supervisor.finish_reason == "window closed on purpose (exit status 0)"
    time.sleep(0.5)
    assert supervisor.snapshot()["window"]["restarts"] == 0  # and not restarted


def test_a_held_child_stays_down_until_released(supervisor: Supervisor, tmp_path: Path) -> None:
    first = _adopt(supervisor, tmp_path, "broker")
    supervisor.start()
    supervisor.hold("broker")
    assert not first.alive()
    time.sleep(1.0)  # several supervisor passes: still down, not restarted
    assert supervisor.snapshot()["broker"]["state"] == "held"
    assert supervisor.proc("broker") is first
    supervisor.release("broker")
    again = supervisor.proc("broker")
    assert again is not None and again is not first and again.alive()
    assert supervisor.snapshot()["broker"]["restarts"] == 0  # a release is not a restart


def test_backoff_doubles_to_its_ceiling() -> None:
    b = Backoff(first=0.5, most=8.0)
    assert [b.delay(n) for n in (1, 2, 3, 4, 5, 6, 9)] == [0.5, 1, 2, 4, 8, 8, 8]


def test_exit_reasons() -> None:
    assert exit_reason(-9) == "killed by SIGKILL"
    assert exit_reason(0) == "exited with 0"
    assert exit_reason(2) == "exited with 2"
