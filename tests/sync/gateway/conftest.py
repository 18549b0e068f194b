"""Fixtures of the gateway tests: ledgers on SQLite and on a private PostgreSQL database
(``pg_dsn``, from tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from sync.gateway.ledger import Ledger, open_ledger


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
