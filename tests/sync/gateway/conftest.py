"""Fixtures of the gateway tests: ledgers on SQLite and on a private PostgreSQL database."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sync.gateway.ledger import Ledger, open_ledger

PG_ENV = "SMARTLIB_TEST_PG"
SHARED_PG = "postgresql://postgres@127.0.0.1:5432/postgres"


def _pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def _as_postgres(args: list[str]) -> list[str]:
    """Run ``args`` as the ``postgres`` user when we are root (postgres refuses root)."""
    if os.geteuid() != 0:
        return args
    return ["runuser", "-u", "postgres", "--", *args]


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    """An admin DSN: ``$SMARTLIB_TEST_PG``, else a private PostgreSQL started with ``initdb``
    on a free port in a temp directory (stopped at the end), else the machine's server at
    127.0.0.1:5432. None of them answering FAILS the tests: the PostgreSQL ledger and the
    two-gateway criterion are never skipped silently."""
    if os.environ.get(PG_ENV):
        yield os.environ[PG_ENV]
        return
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if initdb is None or pg_ctl is None:
        yield SHARED_PG
        return
    from tests.support.procs import free_port

    root = Path(tempfile.mkdtemp(prefix="smartlib-pg-"))
    data, port = root / "data", free_port()
    if os.geteuid() == 0:
        import pwd

        pw = pwd.getpwnam("postgres")
        os.chown(root, pw.pw_uid, pw.pw_gid)
    try:
        subprocess.run(_as_postgres([initdb, "-D", str(data), "-A", "trust", "-U", "postgres",
                                     "--no-sync", "-E", "UTF8"]),
                       check=True, capture_output=True, timeout=120)
        # pg_ctl daemonizes the server: it is not a child of this test process.
        subprocess.run(_as_postgres([
            pg_ctl, "-D", str(data), "-l", str(root / "log"), "-w", "-t", "60", "-o",
            f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c max_connections=50", "start"]), check=True, capture_output=True, timeout=90)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, KeyError) as exc:
        out = getattr(exc, "stderr", b"") or b""
        pytest.fail(f"could not start a private PostgreSQL ({exc}): {out.decode()[-1000:]}",
                    pytrace=False)
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(_as_postgres([pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"]),
                       capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)


def _pg_admin(url: str):
    import psycopg

    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        pytest.fail(f"no PostgreSQL at {url} for the ledger tests ({exc}); install PostgreSQL "
                    f"(initdb) or set {PG_ENV} to an admin DSN", pytrace=False)


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


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_url(request: pytest.FixtureRequest, tmp_path) -> str:
    """The ledger URL for each backend: the same tests run on both."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    return str(request.getfixturevalue("pg_dsn"))


@pytest.fixture
def make_ledger(ledger_url: str) -> Iterator[Callable[..., Ledger]]:
    opened: list[Ledger] = []

    def make(owner: str = "gw-1", lease_s: float = 30.0) -> Ledger:
        led = open_ledger(ledger_url, owner, lease_s)
        opened.append(led)
        return led

    yield make
    for led in opened:
        led.close()


from tests.sync.gateway.harness import _ils_template, demo_ils, sync_env  # noqa: E402,F401
