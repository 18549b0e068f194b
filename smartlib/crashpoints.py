"""Crash points for the kill -9 tests: the one mechanism of the project (edge and sync).

A process is told where to die by an environment variable holding ``<point>`` or
``<point>:N`` (the N-th time that point is reached). When it gets there it sends itself
SIGKILL, exactly as a power cut or ``kill -9`` would, with no clean-up. With the variable
unset (production) :meth:`CrashPoints.hit` does nothing.

This module is common ground: it imports nothing of the product packages.
"""

from __future__ import annotations

import logging
import os
import signal
import threading

log = logging.getLogger(__name__)


class CrashPoints:
    """Kill the process with SIGKILL at a named point (tests of crash recovery only).

    Args:
        spec: ``"<point>"`` or ``"<point>:N"`` (die the N-th time it is hit); None or
            empty: never.
    """

    def __init__(self, spec: str | None) -> None:
        self.point: str | None = None
        self.count = 1
        if spec:
            name, _, n = spec.partition(":")
            self.point, self.count = name, int(n or 1)
        self._seen = 0
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls, variable: str) -> CrashPoints:
        """The crash points named by the environment variable ``variable``."""
        return cls(os.environ.get(variable))

    def hit(self, point: str) -> None:
        """Die here when ``point`` is the named one (and this is its N-th time)."""
        if point != self.point:
            return
        with self._lock:
            self._seen += 1
            if self._seen < self.count:
                return
        log.warning("crash point %s reached: SIGKILL", point)
        logging.shutdown()
        os.kill(os.getpid(), signal.SIGKILL)


_by_spec: dict[tuple[str, str | None], CrashPoints] = {}
_by_spec_lock = threading.Lock()


def crash_point(variable: str, point: str) -> None:
    """Die at ``point`` when the environment variable ``variable`` names it.

    The variable is read at every call (a test sets it for one child process); the
    ``:N`` count is kept per variable and value.
    """
    spec = os.environ.get(variable)
    if not spec:
        return
    with _by_spec_lock:
        points = _by_spec.get((variable, spec))
        if points is None:
            points = _by_spec[(variable, spec)] = CrashPoints(spec)
    points.hit(point)
