"""The client side of systemd's notify protocol (``sd_notify(3)``), with no dependency.

A service started by systemd with ``Type=notify`` (or by ``smartlib demo``'s supervisor,
which plays systemd's part) finds ``$NOTIFY_SOCKET``: a unix datagram socket, a path or an
abstract name written with a leading ``@``. It sends newline-separated ``KEY=VALUE`` fields
in one datagram: ``READY=1`` once it serves, ``STATUS=…`` (free text for ``systemctl
status``), ``STOPPING=1`` and, when ``$WATCHDOG_USEC`` is set, ``WATCHDOG=1`` more often
than that many microseconds, or it is restarted as hung. ``$WATCHDOG_PID``, when set,
names the one process the watchdog is for.

A process feeds the watchdog from its working loop, so that a loop that stops working stops
the pings: call :meth:`SystemdNotifier.heartbeat` each turn (it sends at most every quarter
of the watchdog interval). Without ``$NOTIFY_SOCKET`` every call is a no-op that returns
False. Must not do: raise on a failed send (it is logged; the service goes on), or block.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Mapping

from smartlib.errors import SmartlibError

log = logging.getLogger(__name__)

NOTIFY_SOCKET = "NOTIFY_SOCKET"
WATCHDOG_USEC = "WATCHDOG_USEC"
WATCHDOG_PID = "WATCHDOG_PID"


class NotifyFieldError(SmartlibError):
    """A notify field is not one ``KEY=VALUE`` line (it names the field)."""


def socket_address(value: str) -> str:
    """The ``AF_UNIX`` address of a ``$NOTIFY_SOCKET`` value (``@name`` is abstract)."""
    return "\0" + value[1:] if value.startswith("@") else value


class SystemdNotifier:
    """Sends ``sd_notify`` datagrams to one socket; thread-safe.

    Args:
        address: the ``$NOTIFY_SOCKET`` value (None: notifications are off).
        watchdog_s: the watchdog interval (None: no watchdog is asked for).
    """

    def __init__(self, address: str | None, watchdog_s: float | None = None) -> None:
        self.address = address or None
        self.watchdog_s = watchdog_s if self.address else None
        self._lock = threading.Lock()
        self._last_ping = float("-inf")
        self._failed = False

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None) -> SystemdNotifier:
        """Read ``$NOTIFY_SOCKET``, ``$WATCHDOG_USEC`` and ``$WATCHDOG_PID``.

        A ``WATCHDOG_PID`` of another process, or a ``WATCHDOG_USEC`` that is not a positive
        integer, leaves the watchdog off (notifications still go).
        """
        env = os.environ if env is None else env
        watchdog_s: float | None = None
        usec, pid = env.get(WATCHDOG_USEC, ""), env.get(WATCHDOG_PID, "")
        if usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid())):
            watchdog_s = int(usec) / 1_000_000
        elif usec:
            log.warning("watchdog off: %s=%r, %s=%r (this pid %d)", WATCHDOG_USEC, usec,
                        WATCHDOG_PID, pid, os.getpid())
        return cls(env.get(NOTIFY_SOCKET), watchdog_s)

    @property
    def enabled(self) -> bool:
        """Whether there is a socket to notify."""
        return self.address is not None

    @property
    def ping_interval_s(self) -> float:
        """How often :meth:`heartbeat` sends: a quarter of the watchdog interval, at most 1 s."""
        return min(self.watchdog_s / 4, 1.0) if self.watchdog_s else 1.0

    def notify(self, *fields: str) -> bool:
        """Send ``fields`` (each ``KEY=VALUE``, no newline) in one datagram.

        Returns:
            True when sent; False when notifications are off or the send failed (logged).

        Raises:
            NotifyFieldError: a field has no ``=`` or holds a newline.
        """
        for f in fields:
            key, eq, _ = f.partition("=")
            if not eq or not key or "\n" in f:
                raise NotifyFieldError(f"notify field {f[:40]!r}: expected one KEY=VALUE line")
        if self.address is None:
            return False
        data = "\n".join(fields).encode("utf-8")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
                s.sendto(data, socket_address(self.address))
        except OSError as exc:
            # Logged loudly once, then quietly: a supervisor that went away must not flood logs.
            level = logging.DEBUG if self._failed else logging.WARNING
            log.log(level, "sd_notify to %s failed: %s", self.address, exc)
            self._failed = True
            return False
        self._failed = False
        return True

    def ready(self, status: str | None = None) -> bool:
        """``READY=1`` (and ``STATUS``): the service is up and serving."""
        return self.notify("READY=1", *([f"STATUS={_one_line(status)}"] if status else []))

    def status(self, text: str) -> bool:
        """``STATUS=text`` (newlines become spaces)."""
        return self.notify(f"STATUS={_one_line(text)}")

    def stopping(self) -> bool:
        """``STOPPING=1``: the service is shutting down on purpose."""
        return self.notify("STOPPING=1")

    def watchdog(self) -> bool:
        """``WATCHDOG=1`` now (only when a watchdog was asked for)."""
        if self.watchdog_s is None:
            return False
        with self._lock:
            self._last_ping = time.monotonic()
        return self.notify("WATCHDOG=1")

    def heartbeat(self) -> bool:
        """``WATCHDOG=1`` unless one went less than :attr:`ping_interval_s` ago.

        Cheap enough to call on every turn of a working loop; that loop's turning is what
        keeps the process alive in its supervisor's eyes.
        """
        if self.watchdog_s is None:
            return False
        with self._lock:
            now = time.monotonic()
            if now - self._last_ping < self.ping_interval_s:
                return False
            self._last_ping = now
        return self.notify("WATCHDOG=1")


def _one_line(text: str) -> str:
    return " ".join(text.splitlines())
