"""Fixtures of the central console's tests: the central store on SQLite and on a private
PostgreSQL (the same tests run on both), a movable clock, cheap argon2 parameters."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher

from central.auth import LoginPolicy, StaffAuth
from central.collector import CentralCollector, make_collector_client
from central.db import open_database
from central.store import CentralStore
from smartlib.config import BrokerSection
from tests.edge.test_staff_console import browser_page  # noqa: F401  (headless Chromium)
from tests.sync.gateway.harness import _ils_template, demo_ils, sync_env  # noqa: F401

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


# ---- a site on a real broker, and the collector ---------------------------------------------

PASSWORDS = {"kiosk-01": "kiosk-pw", "gate-01": "gate-pw", "central": "central-pw"}


@pytest.fixture
def central_site() -> str:
    """The site of the broker tests (a test module may override it)."""
    return "hn-01"


@pytest.fixture
def site_broker(mosquitto_factory: Any, central_site: str) -> Any:
    """A private Mosquitto with accounts and ACLs: kiosk-01 and gate-01 (each only on its own
    topics) and the collector's ``central`` account (reads, and writes only remote
    configurations and commands)."""
    from central.collector import collector_acl
    from sync.broker import device_acl

    acl = "\n".join([device_acl(central_site, "kiosk-01"),
                     device_acl(central_site, "gate-01", role="gate"),
                     collector_acl("central", None)])
    return mosquitto_factory(users=PASSWORDS, acl=acl)


class Central:
    """The collector on its own store connection (as in its own process), restartable;
    ``store`` is the test's connection to the same database."""

    def __init__(self, tmp: Path, broker: Any, site: str) -> None:
        self.url = f"sqlite:///{tmp / 'central.db'}"
        self.store = CentralStore(open_database(self.url))
        self.broker, self.site = broker, site
        self.collector: CentralCollector | None = None

    def start(self) -> CentralCollector:
        section = BrokerSection(host="127.0.0.1", port=self.broker.port, username="central",
                                password="central-pw")  # type: ignore[arg-type]
        c = CentralCollector(CentralStore(open_database(self.url, create=False)),
                             make_collector_client(section, "central-collector-test"),
                             host="127.0.0.1", port=self.broker.port)
        c.start()
        assert c.connected.wait(10), "the collector did not connect"
        self.collector = c
        return c

    def stop(self) -> None:
        if self.collector is not None:
            self.collector.stop()
            self.collector.store.close()
            self.collector = None

    def device(self, device: str) -> Any:
        return self.store.devices.find(self.site, device)


@pytest.fixture
def central(tmp_path: Path, site_broker: Any, central_site: str) -> Iterator[Central]:
    c = Central(tmp_path, site_broker, central_site)
    c.start()
    try:
        yield c
    finally:
        c.stop()
        c.store.close()


def agent_toml(tmp: Path, broker: Any, site: str, device: str,
               store_path: Path | None = None, **sections: dict[str, Any]) -> Path:
    """The config of ``smartlib sync`` for ``device`` with its own broker account (and
    any further ``sections``, e.g. ``sync={...}``)."""
    from tests.sync.gateway.harness import write_toml

    return write_toml(tmp / f"{device}.toml", {**sections,
        "site": {"id": site},
        "device": {"id": device, "role": "gate" if device.startswith("gate") else "kiosk"},
        "broker": {"host": "127.0.0.1", "port": broker.port, "username": device,
                   "password": PASSWORDS[device]},
        "store": {"path": str(store_path or tmp / f"edge-{device}.db")}})
