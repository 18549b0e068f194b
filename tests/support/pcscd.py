"""A private pcscd with vsmartcard's vpcd driver on a port of its own.

Debian's pcscd 1.9.9 always listens on /run/pcscd/pcscd.comm, so only one pcscd may run
on a machine (protocols.md §5). When one is already running we use it as it is (its vpcd
is on the standard port) and never stop it; otherwise we start our own with a private
reader.conf.d whose CHANNELID is the port the virtual card must connect to.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support.procs import free_port, require_binary, stop_process

VPCD_LIB = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so"
LOCK_FILE = "/tmp/smartlib-pcsc-tests.lock"
SOCKET = Path("/run/pcscd/pcscd.comm")


def pcscd_running() -> int | None:
    """Return the pid of a running pcscd, if any."""
    out = subprocess.run(["pgrep", "-x", "pcscd"], capture_output=True, text=True)
    pids = [int(p) for p in out.stdout.split()]
    return pids[0] if pids else None


@dataclass
class PcscdVpcd:
    """Handle to the pcscd the tests use: ``port`` is where a virtual card connects."""

    port: int
    owned: bool
    proc: subprocess.Popen | None = None
    confdir: Path | None = None
    _lock_fd: int | None = None

    @classmethod
    def acquire(cls) -> PcscdVpcd:
        fd = os.open(LOCK_FILE, os.O_CREAT | os.O_RDWR, 0o666)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            existing = pcscd_running()
            if existing is not None:
                return cls(port=0x8C7B, owned=False, _lock_fd=fd)
            port = free_port(2)
            handle = cls(port=port, owned=True, _lock_fd=fd)
            handle.start()
            return handle
        except BaseException:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
            raise

    def start(self) -> None:
        binary = require_binary("pcscd", "pcscd")
        if not Path(VPCD_LIB).exists() and not Path(VPCD_LIB + ".0.8").exists():
            import pytest

            pytest.fail("vsmartcard-vpcd is not installed: `apt-get install vsmartcard-vpcd`")
        lib = VPCD_LIB if Path(VPCD_LIB).exists() else VPCD_LIB + ".0.8"
        self.confdir = Path(tempfile.mkdtemp(prefix="smartlib-pcscd-"))
        (self.confdir / "vpcd").write_text(
            'FRIENDLYNAME "Virtual PCD"\n'
            f"DEVICENAME   /dev/null:0x{self.port:04X}\n"
            f"LIBPATH      {lib}\n"
            f"CHANNELID    0x{self.port:04X}\n"
        )
        SOCKET.parent.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [binary, "-f", "-c", str(self.confdir), "--disable-polkit"]
            if _supports_disable_polkit(binary) else [binary, "-f", "-c", str(self.confdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        self._wait_ready()

    def _wait_ready(self, timeout: float = 15.0) -> None:
        from smartcard.System import readers  # type: ignore[import-untyped]

        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                raise RuntimeError(f"pcscd exited with {self.proc.returncode}: {err[-500:]}")
            try:
                names = [str(r) for r in readers()]
                if any("Virtual PCD" in n for n in names):
                    return
                last = names
            except Exception as exc:  # noqa: BLE001 - pyscard raises several types while pcscd starts
                last = exc
            time.sleep(0.1)
        raise TimeoutError(f"pcscd did not list the vpcd readers within {timeout}s (last: {last})")

    def restart(self) -> None:
        """Stop and start our own pcscd (tests of pcscd restarts)."""
        if not self.owned:
            raise RuntimeError("will not restart a pcscd that the tests did not start")
        self.stop_daemon()
        self.start()

    def stop_daemon(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            if self.proc.stderr:
                self.proc.stderr.close()
            self.proc = None

    def release(self) -> None:
        try:
            if self.owned:
                self.stop_daemon()
        finally:
            if self._lock_fd is not None:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
                os.close(self._lock_fd)
                self._lock_fd = None


def _supports_disable_polkit(binary: str) -> bool:
    out = subprocess.run([binary, "--help"], capture_output=True, text=True)
    return "disable-polkit" in (out.stdout + out.stderr)
