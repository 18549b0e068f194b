"""Fixtures shared by the agent's tests that need no broker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.store import Store, open_store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A fresh edge store, closed after the test."""
    s = open_store(tmp_path / "edge.db")
    try:
        yield s
    finally:
        s.close()
