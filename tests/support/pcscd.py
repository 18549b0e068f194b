"""A private pcscd with vsmartcard's vpcd driver on a port of its own.

Debian's pcscd 1.9.9 always listens on /run/pcscd/pcscd.comm, so only one pcscd may run
on a machine (protocols.md §5). When one is already running we use it as it is and never
stop it: the vpcd port is read from its reader.conf.d (``-c DIR`` on its command line, else
/etc/reader.conf.d), and pyscard must list a "Virtual PCD" reader, or the fixture fails.
Otherwise we start our own with a private reader.conf.d whose CHANNELID is the port the
virtual card must connect to, and wait until pyscard lists its readers.
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
SYSTEM_CONFDIR = Path("/etc/reader.conf.d")
VPCD_READER = "Virtual PCD"


def pcscd_running() -> int | None:
    """Return the pid of a running pcscd, if any."""
    out = subprocess.run(["pgrep", "-x", "pcscd"], capture_output=True, text=True)
    pids = [int(p) for p in out.stdout.split()]
    return pids[0] if pids else None


def pcscd_confdir(pid: int) -> Path:
    """The reader.conf.d a running pcscd reads: its ``-c``/``--config`` argument, else the system one."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return SYSTEM_CONFDIR
    for i, arg in enumerate(argv):
        if arg in ("-c", "--config") and i + 1 < len(argv):
            return Path(argv[i + 1])
        if arg.startswith("--config="):
            return Path(arg.split("=", 1)[1])
    return SYSTEM_CONFDIR


def vpcd_port_in(confdir: Path) -> int | None:
    """The CHANNELID (the TCP port) of the first vpcd reader configured in ``confdir``."""
    files = sorted(confdir.iterdir()) if confdir.is_dir() else [confdir]
    for path in files:
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        keys: dict[str, str] = {}
        for line in text.splitlines():
            parts = line.split(None, 1)
            if len(parts) == 2 and not parts[0].startswith("#"):
                keys[parts[0].upper()] = parts[1].strip().strip('"')
        if "vpcd" in keys.get("LIBPATH", "") and "CHANNELID" in keys:
            try:
                return int(keys["CHANNELID"], 0)
            except ValueError:
                continue
    return None


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
                return cls.attach(existing, lock_fd=fd)
            port = free_port(2)
            handle = cls(port=port, owned=True, _lock_fd=fd)
            handle.start()
            return handle
        except BaseException:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
            raise

    @classmethod
    def attach(cls, pid: int, confdir: Path | None = None, lock_fd: int | None = None,
               timeout: float = 5.0) -> PcscdVpcd:
        """Use the pcscd ``pid`` that someone else started; fail unless pyscard lists its vpcd."""
        import pytest

        confdir = confdir if confdir is not None else pcscd_confdir(pid)
        port = vpcd_port_in(confdir) if confdir.exists() else None
        if port is None:
            pytest.fail(
                f"a pcscd is already running (pid {pid}) but {confdir} configures no vpcd reader "
                "(LIBPATH .../libifdvpcd.so with a CHANNELID): install vsmartcard-vpcd, or stop "
                "that pcscd so that the tests start their own", pytrace=False)
        handle = cls(port=port, owned=False, _lock_fd=lock_fd)
        handle._wait_ready(timeout, who=f"the pcscd that was already running (pid {pid}, {confdir})")
        return handle

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

    def _wait_ready(self, timeout: float = 15.0, who: str = "our pcscd") -> None:
        """Wait until pyscard lists a "Virtual PCD" reader; fail with what it listed instead."""
        import pytest
        from smartcard.System import readers  # type: ignore[import-untyped]

        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                raise RuntimeError(f"pcscd exited with {self.proc.returncode}: {err[-500:]}")
            try:
                names = [str(r) for r in readers()]
                if any(VPCD_READER in n for n in names):
                    return
                last = names
            except Exception as exc:  # noqa: BLE001 - pyscard raises several types while pcscd starts
                last = exc
            time.sleep(0.1)
        pytest.fail(f"pyscard lists no {VPCD_READER!r} reader from {who} within {timeout}s "
                    f"(last answer: {last!r}); vpcd is expected on port {self.port}", pytrace=False)

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
