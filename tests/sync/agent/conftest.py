"""Fixtures of the agent tests (shared with the gateway tests)."""

from tests.sync.gateway.harness import _ils_template, demo_ils, sync_env  # noqa: F401
