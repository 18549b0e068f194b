"""A private pcscd with vsmartcard's vpcd driver, on a socket and a port of its own.

Debian's pcscd 1.9.9 always listens on /run/pcscd/pcscd.comm (it reads no variable for the
socket path); its client library, which pyscard loads, connects to ``$PCSCLITE_CSOCK_NAME``
when that is set. On a Debian with systemd, installing pcscd enables ``pcscd.socket``: systemd
then holds /run/pcscd/pcscd.comm and starts the system pcscd (with /etc/reader.conf.d, whose
vpcd listens on vsmartcard's default port) on the first connection. A test that used that
path would talk to the system pcscd, not to ours, and a pcscd of ours bound there would take
the path from systemd.

So the tests never use /run/pcscd. Our pcscd runs in a private mount namespace
(``unshare --mount``; ``--user --map-root-user`` too when not root) in which a directory of
ours is bind-mounted on /run/pcscd: its socket and pid file land in that directory, and the
clients (this process and its children) are pointed at it with ``PCSCLITE_CSOCK_NAME``. The
system pcscd, socket-activated or running, is neither reached nor touched.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.procs import free_port, require_binary, stop_process

VPCD_LIB = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so"
LOCK_FILE = "/tmp/smartlib-pcsc-tests.lock"
SYSTEM_RUN_DIR = "/run/pcscd"
SOCKET_ENV = "PCSCLITE_CSOCK_NAME"
VPCD_READER = "Virtual PCD"

# Run inside the new mount namespace: make its mounts private (so that nothing mounted here
# shows outside: `unshare --propagation private` does that for "/" only, and fails in a
# chroot, whose "/" is no mount point; then the mount holding /run is made private), put our
# directory on /run/pcscd (made first if it does not exist; without the right to make it,
# on a private tmpfs over /run), then become pcscd.
_NAMESPACE_SCRIPT = (
    'mount --make-rprivate / 2>/dev/null || mount --make-rprivate '
    '"$(findmnt -n -o TARGET --target /run)" || exit 96\n'
    f'[ -d {SYSTEM_RUN_DIR} ] || mkdir -p {SYSTEM_RUN_DIR} 2>/dev/null '
    f'|| {{ mount -t tmpfs smartlib-pcscd /run && mkdir {SYSTEM_RUN_DIR}; }} || exit 97\n'
    f'mount --bind "$1" {SYSTEM_RUN_DIR} || exit 98\n'
    'shift\n'
    'exec "$@"\n'
)


def in_private_run_dir(run_dir: Path, argv: list[str]) -> list[str]:
    """The command line that runs ``argv`` in a new mount namespace where ``run_dir`` is
    mounted on /run/pcscd (as root; otherwise in a user namespace too)."""
    unshare = require_binary("unshare", "util-linux")
    ns = ["--mount", "--propagation", "unchanged"]
    if os.geteuid() != 0:
        ns = ["--user", "--map-root-user", *ns]
    return [unshare, *ns, "--", "sh", "-c", _NAMESPACE_SCRIPT, "sh", str(run_dir), *argv]


def private_socket_dir() -> Path:
    """A new directory for a private pcscd's socket; ``$PCSCLITE_CSOCK_NAME`` is set to it.

    Call it before any PC/SC client runs in this process: the client library reads the
    variable once, at its first connection.
    """
    run_dir = Path(tempfile.mkdtemp(prefix="smartlib-pcscd-run-"))
    os.environ[SOCKET_ENV] = str(run_dir / "pcscd.comm")
    return run_dir


@dataclass
class PcscdVpcd:
    """Handle to the tests' own pcscd: ``port`` is where a virtual card connects.

    ``socket`` is the pcscd.comm that clients reach through ``$PCSCLITE_CSOCK_NAME``.
    """

    port: int
    run_dir: Path
    proc: subprocess.Popen | None = None
    confdir: Path | None = None
    _lock_fd: int | None = field(default=None, repr=False)

    @property
    def socket(self) -> Path:
        return self.run_dir / "pcscd.comm"

    @classmethod
    def acquire(cls, run_dir: Path) -> PcscdVpcd:
        """Start our pcscd with its socket in ``run_dir``.

        A file lock taken for the session keeps test sessions of older checkouts (which
        used any running pcscd) from picking ours up meanwhile.
        """
        fd = os.open(LOCK_FILE, os.O_CREAT | os.O_RDWR, 0o666)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            handle = cls(port=free_port(2), run_dir=run_dir, _lock_fd=fd)
            handle.start()
            return handle
        except BaseException:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
            raise

    def start(self) -> None:
        import pytest

        binary = require_binary("pcscd", "pcscd")
        lib = next((p for p in (VPCD_LIB, VPCD_LIB + ".0.8") if Path(p).exists()), None)
        if lib is None:
            pytest.fail("vsmartcard-vpcd is not installed: `apt-get install vsmartcard-vpcd`",
                        pytrace=False)
        if os.environ.get(SOCKET_ENV) != str(self.socket):
            pytest.fail(f"${SOCKET_ENV} is {os.environ.get(SOCKET_ENV)!r}, not our pcscd's "
                        f"{self.socket}: PC/SC clients would reach another pcscd", pytrace=False)
        if self.confdir is None:
            self.confdir = Path(tempfile.mkdtemp(prefix="smartlib-pcscd-"))
            (self.confdir / "vpcd").write_text(
                'FRIENDLYNAME "Virtual PCD"\n'
                f"DEVICENAME   /dev/null:0x{self.port:04X}\n"
                f"LIBPATH      {lib}\n"
                f"CHANNELID    0x{self.port:04X}\n"
            )
        daemon = [binary, "-f", "-c", str(self.confdir)]
        if _supports_disable_polkit(binary):
            daemon.append("--disable-polkit")
        self.proc = subprocess.Popen(in_private_run_dir(self.run_dir, daemon),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._wait_ready()

    def _wait_ready(self, timeout: float = 15.0) -> None:
        """Wait until pyscard lists a "Virtual PCD" reader on our socket; fail with what it listed."""
        import pytest
        from smartcard.System import readers  # type: ignore[import-untyped]

        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                pytest.fail(f"our pcscd (in its own mount namespace, socket {self.socket}) "
                            f"exited with {self.proc.returncode}: {err[-500:]}", pytrace=False)
            if self.socket.exists():
                try:
                    names = [str(r) for r in readers()]
                    if any(VPCD_READER in n for n in names):
                        return
                    last = names
                except Exception as exc:  # noqa: BLE001 - pyscard raises several types while pcscd starts
                    last = exc
            time.sleep(0.1)
        pytest.fail(f"pyscard lists no {VPCD_READER!r} reader from our pcscd ({self.socket}) "
                    f"within {timeout}s (last answer: {last!r}); vpcd is expected on port "
                    f"{self.port}", pytrace=False)

    def restart(self) -> None:
        """Stop and start our pcscd (tests of pcscd restarts)."""
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
            self.stop_daemon()
        finally:
            if self._lock_fd is not None:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
                os.close(self._lock_fd)
                self._lock_fd = None


def _supports_disable_polkit(binary: str) -> bool:
    out = subprocess.run([binary, "--help"], capture_output=True, text=True)
    return "disable-polkit" in (out.stdout + out.stderr)
