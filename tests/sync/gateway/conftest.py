"""Fixtures of the gateway tests: ledgers on SQLite and on a private PostgreSQL database."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import pytest

from sync.gateway.ledger import Ledger, open_ledger
from tests.support.postgres import PostgresUnavailable, pg_bin, private_postgres

PG_ENV = "SMARTLIB_TEST_PG"
SHARED_PG = "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    """An admin DSN: ``$SMARTLIB_TEST_PG``, else a private PostgreSQL started with ``initdb``
    on a free port in a temp directory (stopped at the end), else the machine's server at
    127.0.0.1:5432. None of them answering FAILS the tests: the PostgreSQL ledger and the
    two-gateway criterion are never skipped silently."""
    if os.environ.get(PG_ENV):
        yield os.environ[PG_ENV]
        return
    if pg_bin("initdb") is None or pg_bin("pg_ctl") is None:
        yield SHARED_PG
        return
    try:
        with private_postgres() as url:
            yield url
    except PostgresUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)


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
