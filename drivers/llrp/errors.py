"""The LLRP errors: part of the :mod:`drivers.errors` tree (every one is a ``DriverError``).

This module holds no logic beyond formatting messages.
"""

from __future__ import annotations

from drivers.errors import FrameError, ReaderStatusError


class LlrpFrameError(FrameError):
    """An LLRP frame or parameter is malformed: names the field and the byte offset."""

    def __init__(self, message: str, field: str | None = None, offset: int | None = None) -> None:
        where = ", ".join(f"{name} {value}" for name, value in (("field", field), ("offset", offset))
                          if value is not None)
        super().__init__(f"{message} ({where})" if where else message)
        self.field = field
        self.offset = offset


class LlrpStatusError(ReaderStatusError):
    """The reader answered with an LLRPStatus other than M_Success.

    ``status`` is the LLRP StatusCode (e.g. 101 M_FieldError).
    """


class LlrpOpSpecError(ReaderStatusError):
    """A tag operation (C1G2Read/C1G2Write) failed: ``status`` is 1000 + the read result or
    2000 + the write result; ``iso_error`` 0x12 marks locked memory, 0x10 an overrun."""
