"""Fixtures shared by the sync tests: the demo ILS and a broker-backed sync environment."""

from tests.sync.gateway.harness import _ils_template, demo_ils, sync_env  # noqa: F401
