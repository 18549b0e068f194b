"""Named locks taken in a fixed order: one circulation call per item, one write per tag.

Must not do: anything but locking (no I/O, no store access).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class KeyedLocks:
    """A lock per name, created on first use and dropped when nobody holds or waits for it.

    :meth:`hold` takes several names at once in sorted order, so two callers that share
    names never deadlock. The locks are not re-entrant: a thread must not take a name it
    holds.
    """

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, tuple[threading.Lock, list[int]]] = {}

    def _take(self, name: str) -> None:
        with self._guard:
            lock, users = self._locks.setdefault(name, (threading.Lock(), [0]))
            users[0] += 1
        try:
            lock.acquire()
        except BaseException:
            self._drop(name, release=False)
            raise

    def _drop(self, name: str, *, release: bool = True) -> None:
        with self._guard:
            lock, users = self._locks[name]
            if release:
                lock.release()
            users[0] -= 1
            if users[0] == 0:
                del self._locks[name]

    @contextmanager
    def hold(self, *names: str) -> Iterator[None]:
        """Hold every lock of ``names`` (duplicates allowed) for the block."""
        taken: list[str] = []
        try:
            for name in sorted(set(names)):
                self._take(name)
                taken.append(name)
            yield
        finally:
            for name in reversed(taken):
                self._drop(name)

    @contextmanager
    def try_hold(self, name: str) -> Iterator[bool]:
        """Take the lock of ``name`` if it is free: the block gets True with the lock held,
        or False at once (without it) when another caller holds it."""
        with self._guard:
            lock, users = self._locks.setdefault(name, (threading.Lock(), [0]))
            users[0] += 1
        got = lock.acquire(blocking=False)
        try:
            yield got
        finally:
            self._drop(name, release=got)

    def held(self) -> int:
        """How many names are held or waited for now (0 when idle)."""
        with self._guard:
            return len(self._locks)
