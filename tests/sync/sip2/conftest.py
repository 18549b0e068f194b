"""Fixtures for SIP2 tests: a demo ILS on a free port over a copy of a session-built database."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from hardware_sim.ils.data import connect, populate
from hardware_sim.ils.server import DemoIlsServer


@pytest.fixture(scope="session")
def demo_db_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo database, built once per session (copy it before changing it)."""
    path = tmp_path_factory.mktemp("ils") / "template.sqlite"
    db = connect(path)
    populate(db, seed=7)
    db.close()
    return path


@pytest.fixture
def demo_ils(demo_db_template: Path, tmp_path: Path) -> Iterator[DemoIlsServer]:
    """A started demo ILS with its own copy of the demo data; stopped after the test."""
    db = tmp_path / "ils.sqlite"
    shutil.copy(demo_db_template, db)
    server = DemoIlsServer(db)
    server.start()
    yield server
    server.stop()
