"""The exception tree of ``drivers``: every driver and codec error is a :class:`DriverError`.

Messages say what was wrong and what was expected.
"""

from __future__ import annotations


class DriverError(Exception):
    """Root of all driver and codec errors."""


# ---- tag data ---------------------------------------------------------------------------

class TagFormatError(DriverError):
    """Tag user memory does not decode: names the field and the byte offset."""

    def __init__(self, message: str, field: str | None = None, offset: int | None = None) -> None:
        where = []
        if field is not None:
            where.append(f"field {field}")
        if offset is not None:
            where.append(f"offset {offset}")
        super().__init__(f"{message} ({', '.join(where)})" if where else message)
        self.field = field
        self.offset = offset


# ---- RFID readers -----------------------------------------------------------------------

class ReaderError(DriverError):
    """A reader operation failed."""


class FrameError(ReaderError):
    """A frame from the reader is malformed (length, CRC, layout)."""


class ReaderTimeout(ReaderError):
    """The reader did not answer in time."""


class ReaderDisconnected(ReaderError):
    """The serial port or socket to the reader is gone."""


class ReaderStatusError(ReaderError):
    """The reader answered with an error status byte."""

    def __init__(self, message: str, status: int, iso_error: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.iso_error = iso_error


class TagNotFound(ReaderStatusError):
    """No transponder answered (status 0x01), or the addressed tag left the field."""


class WriteFailed(ReaderError):
    """A write to a tag failed or did not verify after all retries."""


class TagLocked(WriteFailed):
    """The tag refused a write because the block or AFI is locked (ISO error 0x12)."""


# ---- card readers and scanners ----------------------------------------------------------

class CardReaderError(DriverError):
    """A PC/SC card reader operation failed."""


class CardTimeout(CardReaderError):
    """A card operation did not finish within the card reader's ``command_timeout``.

    Whether a timed-out UPDATE BINARY reached the card is unknown.
    """


class NoCardReader(CardReaderError):
    """No reader matches the configured name pattern, or pcscd is not running."""


class CardRemoved(CardReaderError):
    """The card left the reader during an operation."""


class CardCommandError(CardReaderError):
    """A card answered an APDU with a non-success status word."""

    def __init__(self, message: str, sw1: int, sw2: int) -> None:
        super().__init__(message)
        self.sw1 = sw1
        self.sw2 = sw2


class AtrError(CardReaderError):
    """An ATR is malformed."""


class ScannerError(DriverError):
    """A barcode scan is unusable (empty, control characters, or the port failed)."""


# ---- PC/SC status words (appended by the PC/SC driver) ----------------------------------

class CardOperationFailed(CardCommandError):
    """The card or reader could not perform the command (SW 63 00, 65 81)."""


class CardNotSupported(CardCommandError):
    """The reader or card does not support the command (SW 6A 81, 6D 00, 6E 00, 68 xx)."""


class CardBlockNotFound(CardCommandError):
    """The addressed block or byte does not exist (SW 6A 82, 6B 00, 62 82)."""


class CardSecurityError(CardCommandError):
    """Authentication or access conditions not met (SW 69 82, 69 83, 69 84, 69 86)."""


class CardLengthError(CardCommandError):
    """Wrong Lc or Le (SW 67 00, 6C xx: xx is the length the card expects)."""


class PatronIdentityError(CardReaderError):
    """A card was read but yields no patron identifier (not a patron card, not mapped)."""


# ---- bad arguments (appended for review M8) ---------------------------------------------

class PrinterStatusError(DriverError):
    """A receipt printer's real-time status byte does not decode (ESC/POS ``DLE EOT``)."""


class DriverArgumentError(DriverError, ValueError):
    """A caller passed a bad argument (a malformed UID, an AFI outside 0..255, a block range
    off the tag, an APDU length out of bounds, …).

    It is also a :class:`ValueError`, so callers that caught ``ValueError`` keep working.
    The message names the argument, the value received and what was expected.
    """


class DriverArgumentTypeError(DriverArgumentError, TypeError):
    """A caller passed an argument of the wrong type (also a :class:`TypeError`)."""


class DriverIndexError(DriverArgumentError, IndexError):
    """An index outside the valid range (also an :class:`IndexError`, for ``__getitem__``)."""


class DriverStateError(DriverError, RuntimeError):
    """An operation that the object's current state forbids, e.g. starting a monitor twice
    (also a :class:`RuntimeError`)."""
