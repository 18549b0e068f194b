"""Wake-ups between the edge and the sync agent ("doorbell"), with polling as a backstop.

The edge and the agent are separate processes sharing one SQLite file. Whoever writes
something the other must act on rings the other's bell after committing:

* the edge rings ``"agent"`` after appending to the outbox or requesting a look-up;
* the agent rings ``"edge"`` after recording a result or answering a look-up
  (:meth:`~edge.store.outbox.OutboxRepository.record_result` and
  :meth:`~edge.store.lookups.LookupRepository.answer` ring it themselves).

A bell is a Unix *datagram* socket in Linux's abstract namespace, named after the
resolved database path and the bell name, so nothing is left on disk and a killed process
releases its name at once. A ring is a one-byte datagram: it carries no data, it only
says "look at the database again". Lost rings are harmless because every waiter also
re-reads the database at least every ``poll_s`` seconds.

Within one process many threads may wait on the same bell: one thread reads the socket
and the others wait on a condition that the reader signals, so every waiter wakes.
This module must not touch the database.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import logging
import os
import select
import socket
import threading

log = logging.getLogger(__name__)

BELL_NAMES = ("edge", "agent")


def bell_address(db_path: str | os.PathLike[str], name: str) -> bytes:
    """Return the abstract socket address of bell ``name`` for the database at ``db_path``."""
    return _address(os.fspath(db_path), name)


@functools.lru_cache(maxsize=256)
def _address(path: str, name: str) -> bytes:
    # realpath costs a few system calls, and every commit that wakes the other side rings
    real = os.path.realpath(path)
    digest = hashlib.sha256(real.encode()).hexdigest()[:24]
    return b"\0smartlib-bell-" + digest.encode() + b"-" + name.encode()


class Doorbell:
    """One process's side of a bell: it can :meth:`wait` for rings addressed to ``name``.

    Args:
        db_path: the database file the bell belongs to.
        name: ``"edge"`` or ``"agent"`` (any short name works).
        poll_s: the longest a :meth:`wait` sleeps without a ring when the bell could not
            be bound (another process already listens under this name).
    """

    def __init__(self, db_path: str | os.PathLike[str], name: str, poll_s: float = 0.05) -> None:
        self.name = name
        self.poll_s = poll_s
        self._address = bell_address(db_path, name)
        self._cond = threading.Condition()
        self._generation = 0
        self._reading = False
        self._sock: socket.socket | None = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            self._sock.bind(self._address)
        except OSError as exc:
            self._sock.close()
            self._sock = None
            log.warning("bell %r is taken by another process (%s); falling back to polling "
                        "every %.0f ms", name, exc.strerror, poll_s * 1000)
        else:
            self._sock.setblocking(False)

    @property
    def bound(self) -> bool:
        """True when this process receives the rings (not just polling)."""
        return self._sock is not None

    def wait(self, timeout: float) -> bool:
        """Block until a ring arrives or ``timeout`` seconds pass.

        A ring that arrived since the previous :meth:`wait` returns at once, so the pattern
        "read the database, then wait" never misses a ring sent in between.

        Returns:
            True when woken by a ring, False on timeout (callers re-read the database
            either way).
        """
        import time

        deadline = time.monotonic() + max(0.0, timeout)
        with self._cond:
            start_gen = self._generation
            while self._generation == start_gen:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                if self._sock is None:
                    self._cond.wait(min(remaining, self.poll_s))
                    return self._generation != start_gen
                if self._reading:
                    self._cond.wait(remaining)
                    continue
                self._reading = True
                self._cond.release()
                try:
                    got = self._read(remaining)
                finally:
                    self._cond.acquire()
                    self._reading = False
                if got:
                    self._generation += 1
                self._cond.notify_all()
            return True

    def _read(self, timeout: float) -> bool:
        sock = self._sock
        if sock is None:
            return False
        try:
            ready, _, _ = select.select([sock], [], [], timeout)
        except (OSError, ValueError) as exc:  # closed under us
            log.debug("bell %r select ended: %s", self.name, exc)
            return False
        got = False
        while ready:
            try:
                sock.recv(64)
                got = True
            except BlockingIOError:
                break
            except OSError as exc:
                log.debug("bell %r recv failed: %s", self.name, exc)
                break
        return got

    def fileno(self) -> int | None:
        """The bell's socket, readable when a ring came: for a caller that waits on many
        bells in one ``select`` loop (then it calls :meth:`take`, never :meth:`wait`).
        None when the bell is not bound (poll instead)."""
        return self._sock.fileno() if self._sock is not None else None

    def take(self) -> bool:
        """Consume the rings that came, without waiting (see :meth:`fileno`).

        Returns:
            True when a ring had come.
        """
        got = self._read(0.0)
        if got:
            with self._cond:
                self._generation += 1
                self._cond.notify_all()
        return got

    def poke(self) -> None:
        """Wake this process's waiters directly (a ring from inside the same process)."""
        with self._cond:
            self._generation += 1
            self._cond.notify_all()

    def close(self) -> None:
        """Release the bell's name; waiters return within ``poll_s``."""
        with self._cond:
            if self._sock is not None:
                self._sock.close()
                self._sock = None
            self._generation += 1
            self._cond.notify_all()


def ring(db_path: str | os.PathLike[str], name: str) -> bool:
    """Send one ring to bell ``name`` of the database at ``db_path``.

    Returns:
        True when a process listens on that bell, False when nobody does (not an error:
        the listener will poll the database when it starts).
    """
    try:
        _sender().sendto(b"!", bell_address(db_path, name))
        return True
    except OSError as exc:
        if exc.errno in (errno.ECONNREFUSED, errno.ENOENT):
            return False
        if exc.errno in (errno.EAGAIN, errno.ENOBUFS):
            return True  # its queue is full of rings already: it will wake
        log.debug("ring %r failed: %s", name, exc)
        return False


_SENDER: tuple[int, socket.socket] | None = None
_SENDER_LOCK = threading.Lock()


def _sender() -> socket.socket:
    # One unbound datagram socket per process sends every ring (sendto is atomic; a socket
    # per ring cost two system calls more). A forked child makes its own.
    global _SENDER
    pid = os.getpid()
    sender = _SENDER
    if sender is None or sender[0] != pid:
        with _SENDER_LOCK:
            if _SENDER is None or _SENDER[0] != pid:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                sock.setblocking(False)
                _SENDER = (pid, sock)
            sender = _SENDER
    return sender[1]


