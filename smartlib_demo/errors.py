"""The exception tree of the demo package."""

from __future__ import annotations


class DemoError(Exception):
    """A component of the demo did not start or is missing; the message says which and why."""


class ScenarioError(DemoError):
    """A scenario file is invalid, or a name is unknown."""
