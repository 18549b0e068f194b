"""The demo's processes: start, wait for, stop; free ports; the pcscd launcher.

Every process the demo starts is a :class:`Proc` in its own session, and gets SIGTERM when
the demo dies (``PR_SET_PDEATHSIG``). Must not do: signal a process the demo did not start,
import a product package.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smartlib_demo.errors import DemoError

log = logging.getLogger("smartlib_demo.processes")

VPCD_STANDARD_PORT = 35963
PCSCD_SOCKET = Path("/run/pcscd/pcscd.comm")
"""Where pcscd listens, and where every PC/SC client (the edge's card reader) connects,
unless ``$PCSCLITE_CSOCK_NAME`` names another socket (pcsc-lite's own override, which the
tests' private pcscd uses): :func:`pcscd_socket`."""
VPCD_LIBS = ("/usr/lib/pcsc/drivers/serial/libifdvpcd.so",
             "/usr/lib/pcsc/drivers/serial/libifdvpcd.so.0.8")
PR_SET_PDEATHSIG = 1


def free_ports(count: int) -> list[int]:
    """``count`` distinct loopback ports that are free now."""
    socks, ports = [], []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.3):
            return True
    except OSError:
        return False


def die_with_parent() -> None:
    """Run in the child before exec: get SIGTERM if the demo dies (Linux prctl).

    The kernel sends it when the *thread* that started the child ends: the main thread, or
    the supervisor's thread for a restarted child (which ends only when the demo stops).
    """
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        return


def wait_until(pred: Callable[[], Any], timeout: float, what: str,
               alive: Callable[[], str | None] | None = None, interval: float = 0.1) -> Any:
    """Poll ``pred`` until truthy; ``alive`` returns a reason when a process died.

    Raises:
        DemoError: the timeout passed or ``alive`` reported a dead process.
    """
    deadline = time.monotonic() + timeout
    while True:
        got = pred()
        if got:
            return got
        dead = alive() if alive else None
        if dead:
            raise DemoError(f"{what}: {dead}")
        if time.monotonic() > deadline:
            raise DemoError(f"{what}: not ready after {timeout:.0f}s")
        time.sleep(interval)


@dataclass
class Proc:
    """One process the demo started; its output goes to ``log``."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def why_dead(self) -> str | None:
        if self.alive():
            return None
        return (f"{self.name} exited with {self.popen.returncode}; last lines of {self.log}:\n"
                + tail(self.log))

    def stop(self, grace: float = 8.0) -> None:
        """SIGTERM, then SIGKILL after ``grace`` seconds; always reaps."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop within %.0fs; killing it", self.name, grace)
                self.popen.kill()
                self.popen.wait(5)
        if self.popen.stdout is not None:
            self.popen.stdout.close()


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(cannot read {path}: {exc.strerror})"



# ---- PC/SC ---------------------------------------------------------------------------------

def _pcscd_pids() -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if (d / "comm").read_text().strip() == "pcscd":
                    out.append(int(d.name))
            except OSError:
                continue
    return out


def _vpcd_port_of(pid: int) -> int:
    """The vpcd port of a running pcscd: its ``-c DIR`` reader config, else the standard one."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        argv = []
    dirs = [Path("/etc/reader.conf.d")]
    for i, a in enumerate(argv):
        if a in (b"-c", b"--config") and i + 1 < len(argv):
            dirs.insert(0, Path(argv[i + 1].decode()))
    for d in dirs:
        files = [d] if d.is_file() else sorted(d.glob("*")) if d.is_dir() else []
        for f in files:
            try:
                text = f.read_text(errors="replace")
            except OSError:
                continue
            if "vpcd" not in text.lower():
                continue
            for line in text.splitlines():
                parts = line.split()
                if len(parts) == 2 and parts[0] == "CHANNELID":
                    return int(parts[1], 0)
    return VPCD_STANDARD_PORT


def pcscd_socket() -> Path:
    """The pcscd socket this process's PC/SC clients use (``$PCSCLITE_CSOCK_NAME`` first)."""
    return Path(os.environ.get("PCSCLITE_CSOCK_NAME") or PCSCD_SOCKET)


def pcscd_answers(path: Path) -> bool:
    """Whether a pcscd accepts connections on the socket ``path`` in this mount namespace
    (a pcscd seen in /proc may run in another one, with its socket elsewhere)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(1.0)
        try:
            s.connect(str(path))
        except OSError:
            return False
    return True


class PcscdLauncher:
    """Use a running pcscd (and its vpcd port), or start a private one with vpcd."""

    def __init__(self, run_dir: Path, port: int | None = None) -> None:
        self.run_dir = run_dir
        self.proc: Proc | None = None
        self.port: int | None = port
        self.reason = ""

    def start(self) -> int | None:
        """Returns the vpcd port, or None (with ``reason``) when PC/SC is not available."""
        running = _pcscd_pids()
        elsewhere = ""
        sock = pcscd_socket()
        if running and not pcscd_answers(sock):
            # e.g. a test's private pcscd in its own mount namespace: the edge could not reach it
            elsewhere = (f"a pcscd runs (pid {running[0]}) but {sock} does not answer "
                         "here; ")
            running = []
        if running and self.port is not None:
            self.reason = (f"using the running pcscd (pid {running[0]}), vpcd port {self.port} "
                           "(--vpcd-port)")
            return self.port
        if running:
            self.port = _vpcd_port_of(running[0])
            self.reason = f"using the running pcscd (pid {running[0]}), vpcd port {self.port}"
            return self.port
        binary = shutil.which("pcscd") or ("/usr/sbin/pcscd" if Path("/usr/sbin/pcscd").exists()
                                           else None)
        lib = next((p for p in VPCD_LIBS if Path(p).exists()), None)
        if binary is None or lib is None:
            self.reason = (f"{elsewhere}pcscd or vsmartcard-vpcd is not installed "
                           "(apt-get install pcscd vsmartcard-vpcd); the card login is off")
            return None
        port = free_ports(1)[0]
        conf = self.run_dir / "pcscd"
        conf.mkdir(exist_ok=True)
        (conf / "vpcd").write_text(f'FRIENDLYNAME "Virtual PCD"\nDEVICENAME   /dev/null:0x{port:04X}\n'
                                   f"LIBPATH      {lib}\nCHANNELID    0x{port:04X}\n")
        sock.parent.mkdir(parents=True, exist_ok=True)
        logf = self.run_dir / "logs" / "pcscd.log"
        with open(logf, "wb") as out:
            popen = subprocess.Popen([binary, "-f", "-c", str(conf)], stdout=out,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True, preexec_fn=die_with_parent)
        self.proc = Proc("pcscd", popen, logf)
        try:
            wait_until(lambda: sock.exists(), 15, "pcscd",
                       self.proc.why_dead)
        except DemoError as exc:
            self.stop()
            self.reason = f"{elsewhere}{exc}; the card login is off"
            return None
        self.port = port
        self.reason = f"{elsewhere}started a private pcscd (pid {popen.pid}), vpcd port {port}"
        return port

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()
            self.proc = None


