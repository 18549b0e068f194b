"""Shared fixtures: a private Mosquitto, a private pcscd with vpcd, pty pairs, leak checks.

Package-specific fixtures live in each ``tests/<package>/conftest.py``.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator

import psutil
import pytest

from tests.support.mosquitto import MosquittoBroker
from tests.support.pcscd import PcscdVpcd

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# pytester runs inner pytest sessions: tests/test_fixtures.py uses it to prove that the
# leak check really fails a leaking test.
pytest_plugins = ["pytester"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--reader-url", default=None, help="serial URL of a real reader (-m hardware)")
    parser.addoption("--reader-baudrate", type=int, default=38400,
                     help="baud rate of the real reader for -m hardware (default 38400)")
    parser.addoption("--fuzz-count", type=int, default=20_000, help="inputs per fuzz test")
    parser.addoption("--soak-seconds", type=float, default=5.0, help="duration of each soak test")


@pytest.fixture
def fuzz_count(request: pytest.FixtureRequest) -> int:
    """How many inputs each fuzz test runs (``make fuzz`` raises it)."""
    return int(request.config.getoption("--fuzz-count"))


@pytest.fixture
def soak_seconds(request: pytest.FixtureRequest) -> float:
    """How long each soak test runs (``make soak`` raises it)."""
    return float(request.config.getoption("--soak-seconds"))


# ---- leak checks -----------------------------------------------------------------------

_SESSION_PIDS: set[int] = set()
_SESSION_THREADS: set[int] = set()
LEAK_GRACE_SECONDS = 3.0
"""How long a test's processes and threads get to finish after it before they count as leaked."""


def _children() -> dict[int, str]:
    out = {}
    for c in psutil.Process().children(recursive=True):
        try:
            if c.status() != psutil.STATUS_ZOMBIE:
                out[c.pid] = " ".join(c.cmdline()[:3])
        except psutil.NoSuchProcess:
            continue
    return out


def _threads() -> dict[int, str]:
    return {t.ident: t.name for t in threading.enumerate() if t.ident is not None and t.is_alive()}


@pytest.fixture(autouse=True)
def leak_check(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a test that leaves a process (simulator, broker, daemon) or a thread running."""
    if request.node.get_closest_marker("allow_leaks"):
        yield
        return
    before_p, before_t = set(_children()), set(_threads())
    yield
    deadline = time.monotonic() + LEAK_GRACE_SECONDS
    while True:
        procs = {p: c for p, c in _children().items()
                 if p not in before_p and p not in _SESSION_PIDS}
        threads = {i: n for i, n in _threads().items()
                   if i not in before_t and i not in _SESSION_THREADS}
        if not procs and not threads:
            return
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    parts = []
    if procs:
        parts.append("processes " + ", ".join(f"{p} ({c})" for p, c in procs.items()))
    if threads:
        parts.append("threads " + ", ".join(threads.values()))
    pytest.fail("test left running: " + "; ".join(parts), pytrace=False)


def register_session_resource(pid: int | None = None, thread_ident: int | None = None) -> None:
    """Exempt a session-scoped process or thread from the per-test leak check."""
    if pid is not None:
        _SESSION_PIDS.add(pid)
    if thread_ident is not None:
        _SESSION_THREADS.add(thread_ident)


# ---- Mosquitto -------------------------------------------------------------------------

@pytest.fixture
def mosquitto_factory() -> Iterator[Callable[..., MosquittoBroker]]:
    """Start private brokers: ``mosquitto_factory(users={...}, acl="...")``; all stopped after."""
    brokers: list[MosquittoBroker] = []

    def make(users: dict[str, str] | None = None, acl: str | None = None,
             extra_config: str = "") -> MosquittoBroker:
        b = MosquittoBroker(users=users, acl=acl, extra_config=extra_config).start()
        brokers.append(b)
        return b

    yield make
    for b in brokers:
        b.stop()


@pytest.fixture
def mosquitto_broker(mosquitto_factory: Callable[..., MosquittoBroker]) -> MosquittoBroker:
    """A private anonymous Mosquitto on a free loopback port (never the machine's 1883)."""
    return mosquitto_factory()


# ---- pcscd + vpcd ------------------------------------------------------------------------

@pytest.fixture(scope="session")
def _pcscd_session() -> Iterator[PcscdVpcd]:
    handle = PcscdVpcd.acquire()
    if handle.proc is not None:
        register_session_resource(pid=handle.proc.pid)
    try:
        yield handle
    finally:
        handle.release()


@pytest.fixture
def pcscd_vpcd(_pcscd_session: PcscdVpcd) -> PcscdVpcd:
    """The private pcscd: ``.port`` is the TCP port a virtual card connects to.

    PC/SC tests are serialised across processes by a file lock held for the session.
    """
    if _pcscd_session.owned and (_pcscd_session.proc is None or _pcscd_session.proc.poll() is not None):
        _pcscd_session.start()
        if _pcscd_session.proc is not None:
            register_session_resource(pid=_pcscd_session.proc.pid)
    return _pcscd_session


# ---- pty ---------------------------------------------------------------------------------

class PtyPair:
    """A pseudo-terminal: ``device_fd`` for a simulator, ``path`` for pyserial."""

    def __init__(self) -> None:
        import tty

        self.device_fd, self._slave_fd = os.openpty()
        tty.setraw(self._slave_fd)
        self.path = os.ttyname(self._slave_fd)

    def close(self) -> None:
        for fd in (self.device_fd, self._slave_fd):
            try:
                os.close(fd)
            except OSError:
                pass


@pytest.fixture
def pty_pair() -> Iterator[PtyPair]:
    """A raw pty pair, closed after the test."""
    pair = PtyPair()
    yield pair
    pair.close()
