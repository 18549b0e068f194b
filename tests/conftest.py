"""Shared fixtures: a private Mosquitto, pcscd with vpcd and PostgreSQL, pty pairs, leak checks.

Package-specific fixtures live in each ``tests/<package>/conftest.py``.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from tests.support.mosquitto import MosquittoBroker
from tests.support.pcscd import PcscdVpcd, private_socket_dir
from tests.support.postgres import PostgresUnavailable, PrivatePostgres

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

_PCSC_RUN_DIR: list[Path] = []
_PCSC_RUN_DIR_OWNER: list[pytest.Config] = []


def pytest_configure(config: pytest.Config) -> None:
    """Point every PC/SC client of the session (pyscard here, and child processes) at our own
    pcscd's socket before any of them connects: never at /run/pcscd/pcscd.comm, where a
    socket-activated system pcscd would answer (see tests/support/pcscd.py)."""
    if not _PCSC_RUN_DIR:
        _PCSC_RUN_DIR.append(private_socket_dir())
        _PCSC_RUN_DIR_OWNER.append(config)


def pytest_unconfigure(config: pytest.Config) -> None:
    if _PCSC_RUN_DIR_OWNER and _PCSC_RUN_DIR_OWNER[0] is config:  # not an inner pytester session
        shutil.rmtree(_PCSC_RUN_DIR.pop(), ignore_errors=True)
        _PCSC_RUN_DIR_OWNER.clear()


@pytest.fixture(scope="session")
def _pcscd_session() -> Iterator[PcscdVpcd]:
    handle = PcscdVpcd.acquire(_PCSC_RUN_DIR[0])
    if handle.proc is not None:
        register_session_resource(pid=handle.proc.pid)
    try:
        yield handle
    finally:
        handle.release()
        if handle.confdir is not None:
            shutil.rmtree(handle.confdir, ignore_errors=True)


@pytest.fixture
def pcscd_vpcd(_pcscd_session: PcscdVpcd) -> PcscdVpcd:
    """Our private pcscd: ``.port`` is the TCP port a virtual card connects to.

    It runs in its own mount namespace with its socket in a temp dir, which
    ``$PCSCLITE_CSOCK_NAME`` names for every client: a system pcscd (running or
    socket-activated by systemd) is never used nor disturbed.
    """
    if _pcscd_session.proc is None or _pcscd_session.proc.poll() is not None:
        _pcscd_session.start()
        if _pcscd_session.proc is not None:
            register_session_resource(pid=_pcscd_session.proc.pid)
    return _pcscd_session


# ---- PostgreSQL --------------------------------------------------------------------------

PG_ENV = "SMARTLIB_TEST_PG"


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    """An admin DSN: ``$SMARTLIB_TEST_PG``, else a private PostgreSQL started with ``initdb``
    on a free port in a temp directory (stopped and removed at the end). Never the machine's
    server on 5432. None to be had FAILS the tests that need it, saying what to install: the
    PostgreSQL ledger and the two-gateway criterion are never skipped."""
    if os.environ.get(PG_ENV):
        yield os.environ[PG_ENV]
        return
    server = PrivatePostgres()
    try:
        server.start()
    except PostgresUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server.admin_url
    finally:
        server.stop()


def _pg_admin(url: str):
    import psycopg

    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        pytest.fail(f"no PostgreSQL answers at {url} ({exc}); unset {PG_ENV} to let the tests "
                    "start their own", pytrace=False)


@pytest.fixture
def pg_dsn(pg_admin_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database of our own, dropped after the test (never another one)."""
    name = f"smartlib_test_{uuid.uuid4().hex[:12]}"
    admin = _pg_admin(pg_admin_url)
    try:
        admin.execute(f'CREATE DATABASE "{name}"')
        base = pg_admin_url.rsplit("/", 1)[0]
        yield f"{base}/{name}"
    finally:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.close()


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
