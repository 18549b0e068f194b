"""A thin byte transport over ``serial.serial_for_url``: a device path, a pty,
``socket://host:port``, ``rfc2217://host:port``, or ``loop://``.

It moves bytes and turns pyserial's exceptions into the drivers' typed errors. It knows
no protocol and no framing.
"""

from __future__ import annotations

import logging
import os
import time

import serial

from drivers.errors import DriverArgumentError, ReaderDisconnected

log = logging.getLogger("drivers.transport")

_PARITY = {"N": serial.PARITY_NONE, "E": serial.PARITY_EVEN, "O": serial.PARITY_ODD}


def _is_pty(url: str) -> bool:
    """True for a pseudo-terminal path such as ``/dev/pts/3``."""
    if "://" in url:
        return False
    return os.path.realpath(url).startswith("/dev/pts/")


class Transport:
    """One serial connection.

    Args:
        url: anything ``serial_for_url`` accepts.
        baudrate: bits per second (ignored by ``socket://``).
        parity: ``"N"``, ``"E"`` or ``"O"`` (8 data bits, 1 stop bit).
        poll_s: the longest a single read blocks; callers loop until their own deadline.
    """

    def __init__(self, url: str, baudrate: int = 38400, parity: str = "E",
                 poll_s: float = 0.05) -> None:
        if parity not in _PARITY:
            raise DriverArgumentError(f"parity must be N, E or O, got {parity!r}")
        self.url = url
        self.baudrate = baudrate
        self.parity = parity
        self.poll_s = poll_s
        self._port: serial.Serial | None = None

    @property
    def is_open(self) -> bool:
        return self._port is not None

    def open(self) -> None:
        """Open the port.

        Raises:
            ReaderDisconnected: the device or host cannot be reached.
        """
        if self._port is not None:
            return
        parity = self.parity
        if parity != "N" and _is_pty(self.url):
            # A pty carries no parity; Linux clears PARENB on the first open and then
            # refuses it (EINVAL) on every reopen, so ask for none.
            parity = "N"
        try:
            self._port = serial.serial_for_url(
                self.url, baudrate=self.baudrate, parity=_PARITY[parity],
                bytesize=serial.EIGHTBITS, stopbits=serial.STOPBITS_ONE,
                timeout=self.poll_s, write_timeout=2.0)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise ReaderDisconnected(f"cannot open {self.url}: {exc}") from exc
        log.debug("opened %s at %d baud", self.url, self.baudrate)

    def close(self) -> None:
        """Close the port (idempotent)."""
        port, self._port = self._port, None
        if port is not None:
            try:
                port.close()
            except (serial.SerialException, OSError) as exc:
                log.debug("closing %s: %s", self.url, exc)

    def _require(self) -> serial.Serial:
        if self._port is None:
            raise ReaderDisconnected(f"{self.url} is not open")
        return self._port

    def write(self, data: bytes) -> None:
        """Send all of ``data``.

        Raises:
            ReaderDisconnected: the port is gone.
        """
        port = self._require()
        try:
            port.write(data)
            port.flush()
        except (serial.SerialException, OSError) as exc:
            raise ReaderDisconnected(f"write to {self.url} failed: {exc}") from exc

    def read_some(self, deadline: float) -> bytes:
        """Bytes that arrive before ``deadline`` (``time.monotonic()``, give or take
        ``poll_s``); at least one unless the deadline passes (then ``b""``).

        Raises:
            ReaderDisconnected: the port is gone.
        """
        port = self._require()
        try:
            while True:
                waiting = port.in_waiting
                if waiting:
                    return bytes(port.read(waiting))
                if deadline - time.monotonic() <= 0:
                    return b""
                # Blocks at most poll_s (changing the timeout would reconfigure the tty).
                chunk = port.read(1)
                if chunk:
                    more = port.in_waiting
                    return bytes(chunk) + (bytes(port.read(more)) if more else b"")
        except (serial.SerialException, OSError) as exc:
            raise ReaderDisconnected(f"read from {self.url} failed: {exc}") from exc

    def discard_input(self) -> bytes:
        """Drop and return whatever is waiting (stale answers of a timed-out request)."""
        port = self._require()
        try:
            waiting = port.in_waiting
            return bytes(port.read(waiting)) if waiting else b""
        except (serial.SerialException, OSError) as exc:
            raise ReaderDisconnected(f"read from {self.url} failed: {exc}") from exc
