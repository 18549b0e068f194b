"""A simulated ESC/POS receipt printer on TCP (the raw port 9100 protocol): it keeps what
it is sent and answers the real-time status requests ``DLE EOT 1-4``.

Its state (paper present, near its end or out; cover open; autocutter jammed; silent:
takes bytes and never answers, like a write-only device) is set by the test or the demo.
The reply bytes are built here from the bits of Epson's ``DLE EOT`` reference (fixed bits
``0x12``), independently of :mod:`drivers.escpos_status`, which decodes them.
Nothing in production imports this module.
"""

from __future__ import annotations

import logging
import socket
import threading
from dataclasses import dataclass

log = logging.getLogger(__name__)

_FIXED = 0x12


@dataclass
class PrinterCondition:
    """What the simulated printer's sensors say."""

    paper_near_end: bool = False
    paper_out: bool = False
    cover_open: bool = False
    cutter_jammed: bool = False
    silent: bool = False
    """Take bytes, answer nothing (a printer without real-time status)."""


class EscposPrinterSim:
    """A TCP ESC/POS printer: ``start()`` listens on loopback, ``url`` is its pyserial URL.

    One client at a time (like a printer's raw port); the bytes it received that are not
    status requests are in :attr:`printed`.
    """

    def __init__(self) -> None:
        self.condition = PrinterCondition()
        self.printed = bytearray()
        self.status_requests = 0
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.port = 0

    @property
    def url(self) -> str:
        return f"socket://127.0.0.1:{self.port}"

    def start(self) -> EscposPrinterSim:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._stop.clear()
        self._thread = threading.Thread(target=self._serve, name="sim-escpos", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def replies(self) -> dict[int, int]:
        """The status byte it answers to ``DLE EOT n`` now."""
        c = self.condition
        stopped = c.paper_out or c.cover_open or c.cutter_jammed
        return {
            1: _FIXED | (0x08 if stopped else 0),                        # bit 3: offline
            2: _FIXED | (0x04 if c.cover_open else 0) | (0x20 if c.paper_out else 0)
               | (0x40 if c.cutter_jammed else 0),                       # bits 2, 5, 6
            3: _FIXED | (0x08 if c.cutter_jammed else 0),                # bit 3: autocutter
            4: _FIXED | (0x0C if c.paper_near_end or c.paper_out else 0)
               | (0x60 if c.paper_out else 0),                           # bits 2-3, 5-6
        }

    def _serve(self) -> None:
        assert self._listener is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(0.2)
                self._session(conn)

    def _session(self, conn: socket.socket) -> None:
        pending = b""
        while not self._stop.is_set():
            try:
                data = conn.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            if not data:
                return
            pending += data
            out = bytearray()
            while True:
                at = pending.find(b"\x10\x04")
                if at < 0 or len(pending) < at + 3:
                    keep = len(pending) - (1 if pending.endswith(b"\x10") else 0)
                    keep = keep if at < 0 else at
                    with self._lock:
                        self.printed += pending[:keep]
                    pending = pending[keep:]
                    break
                n = pending[at + 2]
                with self._lock:
                    self.printed += pending[:at]
                    self.status_requests += 1
                pending = pending[at + 3:]
                reply = self.replies().get(n)
                if reply is not None and not self.condition.silent:
                    out.append(reply)
            if out:
                conn.sendall(bytes(out))
