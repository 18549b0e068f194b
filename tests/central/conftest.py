"""Fixtures of the central console's tests: the central store on SQLite and on a private
PostgreSQL (the same tests run on both), a movable clock, cheap argon2 parameters."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from central.auth import LoginPolicy, StaffAuth
from central.db import open_database
from central.store import CentralStore
from tests.sync.gateway.conftest import pg_admin_url, pg_dsn  # noqa: F401  (PostgreSQL fixtures)

FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
"""argon2id with small parameters, so the tests log in quickly (the product uses the
library's defaults)."""


class Clock:
    """A settable aware clock."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 12, 7, 3, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The central database's URL: a SQLite file, then a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'central.db'}"
    return str(request.getfixturevalue("pg_dsn"))


@pytest.fixture
def store(db_url: str) -> Iterator[CentralStore]:
    s = CentralStore(open_database(db_url))
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[CentralStore]:
    s = CentralStore(open_database(str(tmp_path / "central.db")))
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_auth(store: CentralStore, clock: Clock, **policy: float) -> StaffAuth:
    return StaffAuth(store, LoginPolicy(**policy), clock=clock, hasher=FAST_HASHER)
