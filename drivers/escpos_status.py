"""ESC/POS real-time status of a receipt printer (``DLE EOT n``): requests and replies.

Sans-IO: it builds the request bytes and decodes the reply bytes; the transport that moves
them (a pyserial URL: a device file or ``socket://host:9100``) is
:meth:`edge.devices.DeviceManager.check_printer`. It must not open ports.

Each request is three bytes; the printer answers each with one status byte at once, even
while it is offline (Epson's *ESC/POS Command Reference*, ``DLE EOT``)::

    10 04 01   DLE EOT 1   printer status
    10 04 02   DLE EOT 2   offline cause
    10 04 03   DLE EOT 3   error cause
    10 04 04   DLE EOT 4   roll paper sensor

Every reply byte has the fixed bits ``0xx1 xx10`` (bit 1 and bit 4 set, bits 0 and 7
clear), so a reply is recognised (``b & 0x93 == 0x12``)::

    bit  DLE EOT 1              DLE EOT 2               DLE EOT 3            DLE EOT 4
    2    drawer pin 3 high      cover open              (model-specific)     paper near end
    3    offline                paper fed by button     autocutter error     paper near end
    5    waiting for recovery   stopped by paper end    unrecoverable error  paper end
    6    feed button pressed    error occurred          auto-recoverable     paper end

(The roll paper sensor sets both bits of a pair; either one counts.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from drivers.errors import PrinterStatusError

DLE_EOT = b"\x10\x04"
PRINTER, OFFLINE_CAUSE, ERROR_CAUSE, ROLL_PAPER = 1, 2, 3, 4
QUERIES = (PRINTER, OFFLINE_CAUSE, ERROR_CAUSE, ROLL_PAPER)
"""The requests :func:`status_request` sends, in order; the replies come in that order."""

_FIXED_MASK, _FIXED_VALUE = 0x93, 0x12

PrinterState = Literal["ok", "paper_low", "paper_out", "cover_open", "error", "offline"]


def status_request(queries: tuple[int, ...] = QUERIES) -> bytes:
    """The ``DLE EOT n`` requests for ``queries`` (1–4), concatenated."""
    for n in queries:
        if n not in QUERIES:
            raise PrinterStatusError(f"DLE EOT {n}: expected one of {QUERIES}")
    return b"".join(DLE_EOT + bytes([n]) for n in queries)


def is_status_byte(value: int) -> bool:
    """True if ``value`` has the fixed bits of every ``DLE EOT`` reply."""
    return value & _FIXED_MASK == _FIXED_VALUE


@dataclass(frozen=True)
class PrinterStatus:
    """What the four replies say."""

    online: bool
    cover_open: bool
    paper_end_stop: bool
    error: bool
    autocutter_error: bool
    unrecoverable_error: bool
    auto_recoverable_error: bool
    paper_near_end: bool
    paper_end: bool

    @property
    def state(self) -> PrinterState:
        """One word for the fleet, the worst first: ``paper_out``, ``cover_open``,
        ``error``, ``offline``, ``paper_low`` or ``ok``."""
        if self.paper_end or self.paper_end_stop:
            return "paper_out"
        if self.cover_open:
            return "cover_open"
        if self.error or self.autocutter_error or self.unrecoverable_error or \
                self.auto_recoverable_error:
            return "error"
        if not self.online:
            return "offline"
        if self.paper_near_end:
            return "paper_low"
        return "ok"


def decode_status(reply: bytes) -> PrinterStatus:
    """The four replies to :func:`status_request` (``DLE EOT 1, 2, 3, 4``), in order.

    Raises:
        PrinterStatusError: not four bytes, or a byte without the fixed bits (a printer
            that echoes, or something else on the line).
    """
    if len(reply) != len(QUERIES):
        raise PrinterStatusError(
            f"expected {len(QUERIES)} status bytes (DLE EOT 1-4), got {len(reply)}: {reply.hex()}")
    for n, value in zip(QUERIES, reply, strict=True):
        if not is_status_byte(value):
            raise PrinterStatusError(
                f"DLE EOT {n} reply 0x{value:02x} lacks the fixed bits 0xx1xx10")
    printer, offline, error, paper = reply

    def bit(value: int, n: int) -> bool:
        return bool(value >> n & 1)

    return PrinterStatus(
        online=not bit(printer, 3), cover_open=bit(offline, 2), paper_end_stop=bit(offline, 5),
        error=bit(offline, 6), autocutter_error=bit(error, 3),
        unrecoverable_error=bit(error, 5), auto_recoverable_error=bit(error, 6),
        paper_near_end=bit(paper, 2) or bit(paper, 3), paper_end=bit(paper, 5) or bit(paper, 6))
