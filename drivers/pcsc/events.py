"""Events a :class:`~drivers.pcsc.reader.CardReader` emits (frozen dataclasses, nouns).

A card entering the field gives :class:`CardInserted`, then either a
:class:`~drivers.credential.PatronCredential` (the identity rule succeeded) or a
:class:`CardUnreadable`; leaving gives :class:`CardLeft`. The reader itself comes and goes
with :class:`ReaderAttached` / :class:`ReaderDetached` (unplugged, or pcscd stopped), and
:class:`ReaderMissing` says, once per spell, that there is none to use (also at start, when
no reader ever attached).
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers.credential import PatronCredential
from drivers.pcsc.atr import Atr


@dataclass(frozen=True)
class ReaderAttached:
    """A reader matching the configured name pattern is available."""

    reader: str


@dataclass(frozen=True)
class ReaderDetached:
    """The reader went away: unplugged, or pcscd stopped or restarted."""

    reader: str


@dataclass(frozen=True)
class ReaderMissing:
    """No matching reader can be used (pcscd unreachable, or no reader matches the name
    pattern): emitted once when the monitor finds itself without one, at start too, and
    again only after a :class:`ReaderAttached`. ``why`` says what was wrong."""

    why: str


@dataclass(frozen=True)
class CardInserted:
    """A card entered the field.

    Attributes:
        reader: the reader name.
        atr_raw: the ATR bytes.
        atr: the parsed ATR, or None if it did not parse (see ``atr_error``).
        atr_error: why the ATR did not parse.
    """

    reader: str
    atr_raw: bytes
    atr: Atr | None
    atr_error: str | None = None


@dataclass(frozen=True)
class CardLeft:
    """The card left the field (the event; :class:`drivers.errors.CardRemoved` is the error)."""

    reader: str


@dataclass(frozen=True)
class CardUnreadable:
    """A card was inserted but the identity rule failed; ``error`` says why (no identifiers)."""

    reader: str
    error: str
    error_type: str


CardEvent = (ReaderAttached | ReaderDetached | ReaderMissing | CardInserted | CardLeft | CardUnreadable
             | PatronCredential)
