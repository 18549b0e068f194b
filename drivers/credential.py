"""The patron credential event shared by every patron-identification device.

A card reader (:mod:`drivers.pcsc`), a barcode scanner (:mod:`drivers.scanner`) and a
manual entry on the kiosk all produce a :class:`PatronCredential`. Its ``repr`` and ``str``
never show the identifier or the raw bytes in clear, so an event that ends up in a log
line or a traceback does not leak a patron number. This module does no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from drivers.errors import DriverArgumentError, DriverArgumentTypeError

CredentialSource = Literal["card", "barcode", "manual"]

_SOURCES: tuple[str, ...] = ("card", "barcode", "manual")


def mask_identifier(ident: str, keep: int = 3) -> str:
    """Return ``ident`` with all but its last ``keep`` characters replaced by ``*``.

    Drivers may not import ``smartlib``, so this mirrors ``smartlib.logs.mask_identifier``.

    Args:
        ident: the identifier to mask.
        keep: how many trailing characters stay visible; identifiers no longer than
            ``keep`` are masked completely.
    """
    if len(ident) <= keep:
        return "*" * len(ident)
    return "*" * (len(ident) - keep) + ident[-keep:]


@dataclass(frozen=True)
class PatronCredential:
    """A patron presented something that identifies them.

    Attributes:
        source: ``"card"`` (PC/SC reader), ``"barcode"`` (scanner) or ``"manual"``.
        identifier: the patron identifier the ILS knows (after the site's identity rule).
        raw: what the device delivered before the rule: the card UID or the scanned text,
            as bytes.
        reader: the name of the device that produced it, if any.
    """

    source: CredentialSource
    identifier: str
    raw: bytes = field(default=b"")
    reader: str | None = None

    def __post_init__(self) -> None:
        """Check the fields.

        Raises:
            DriverArgumentError: an unknown source or an empty identifier.
            DriverArgumentTypeError: ``identifier`` not a string, ``raw`` not bytes or
                ``reader`` neither a string nor None.
        """
        if self.source not in _SOURCES:
            raise DriverArgumentError(
                f"credential source must be one of {', '.join(_SOURCES)}, got {self.source!r}")
        if not isinstance(self.identifier, str):
            # the value itself is not shown: it may be a patron number
            raise DriverArgumentTypeError(
                f"credential identifier must be a non-empty string, got {type(self.identifier).__name__}")
        if not self.identifier:
            raise DriverArgumentError("credential identifier must be a non-empty string, got ''")
        if not isinstance(self.raw, bytes):
            raise DriverArgumentTypeError(f"credential raw must be bytes, got {type(self.raw).__name__}")
        if self.reader is not None and not isinstance(self.reader, str):
            raise DriverArgumentTypeError(
                f"credential reader must be a device name or None, got {type(self.reader).__name__}")

    @property
    def masked(self) -> str:
        """The identifier with all but its last three characters masked."""
        return mask_identifier(self.identifier)

    def __repr__(self) -> str:
        reader = f", reader={self.reader!r}" if self.reader is not None else ""
        return (f"PatronCredential(source={self.source!r}, identifier={self.masked!r}, "
                f"raw=<{len(self.raw)} bytes masked>{reader})")

    __str__ = __repr__
