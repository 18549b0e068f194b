"""The site's rule that turns a card on the reader into a patron identifier.

Sites differ: some print the UID in hex, others in decimal, some with the bytes reversed
(readers disagree on UID byte order); some write ISO 28560 patron data (type of usage 8)
into the card; others keep a UID-to-barcode table in the cache. This module holds the
rule only; it reads the card through the small :class:`CardAccess` protocol and does no
I/O of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from drivers._checks import check_int
from drivers.errors import DriverArgumentError, PatronIdentityError

IdentitySource = Literal["uid", "iso28560", "mapping"]
UidFormat = Literal["hex", "decimal"]

PATRON_CARD_USAGE = 8
"""Type of usage of a patron card in the ISO 28560-3 (Danish) data model."""


class PatronLookupFailed(PatronIdentityError):
    """The injected UID-to-patron look-up raised: the card may be known, but the table
    could not be read (not an unknown patron)."""


class CardAccess(Protocol):
    """What a rule needs from a card reader."""

    def read_uid(self) -> bytes: ...

    def read_blocks(self, first: int, count: int) -> bytes: ...


def format_uid(uid: bytes, uid_format: UidFormat = "hex", reversed_: bool = False) -> str:
    """Render a UID the way a site prints it on its cards.

    Args:
        uid: the UID bytes as the reader returned them.
        uid_format: ``"hex"`` (upper case, no separators) or ``"decimal"`` (the bytes read
            as one big-endian unsigned number).
        reversed_: reverse the byte order first.

    Raises:
        PatronIdentityError: the UID is empty.
        DriverArgumentError: an unknown format.
    """
    if not uid:
        raise PatronIdentityError("the card returned an empty UID")
    b = bytes(reversed(uid)) if reversed_ else bytes(uid)
    if uid_format == "hex":
        return b.hex().upper()
    if uid_format == "decimal":
        return str(int.from_bytes(b, "big"))
    raise DriverArgumentError(f"uid_format must be 'hex' or 'decimal', got {uid_format!r}")


@dataclass(frozen=True)
class PatronIdentityRule:
    """How a card becomes a patron identifier.

    Attributes:
        source: ``"uid"`` (the formatted UID is the identifier), ``"iso28560"`` (the
            primary item identifier of ISO 28560 data with type of usage 8) or
            ``"mapping"`` (the formatted UID looked up with ``mapping``).
        uid_format: ``"hex"`` or ``"decimal"``.
        uid_reversed: reverse the UID bytes before formatting.
        mapping: for ``"mapping"``: formatted UID -> patron identifier, or None if unknown
            (injected by the caller, e.g. a look-up in the edge's cache). Its exceptions
            become :class:`PatronLookupFailed`, so they never stop the reader's monitor.
        iso28560_blocks: how many blocks to read for ``"iso28560"`` (8 blocks of 4 bytes
            hold the 32-byte basic block).
        require_patron_usage: for ``"iso28560"``, refuse data whose type of usage is not 8.
    """

    source: IdentitySource = "uid"
    uid_format: UidFormat = "hex"
    uid_reversed: bool = False
    mapping: Callable[[str], str | None] | None = None
    iso28560_blocks: int = 8
    require_patron_usage: bool = True

    def __post_init__(self) -> None:
        if self.source not in ("uid", "iso28560", "mapping"):
            raise DriverArgumentError(
                f"identity source must be uid, iso28560 or mapping, got {self.source!r}")
        if self.uid_format not in ("hex", "decimal"):
            raise DriverArgumentError(f"uid_format must be hex or decimal, got {self.uid_format!r}")
        if self.source == "mapping" and not callable(self.mapping):
            raise DriverArgumentError(
                f"identity source 'mapping' needs a mapping callable, got {self.mapping!r}")
        check_int("iso28560_blocks", self.iso28560_blocks, 1, 256)

    def identify(self, card: CardAccess) -> tuple[str, bytes]:
        """Read the card and return ``(patron identifier, raw UID)``.

        Raises:
            PatronIdentityError: not a patron card, or the UID is not in the mapping.
            PatronLookupFailed: the mapping itself raised.
            CardReaderError: the card could not be read (including CardRemoved).
            TagFormatError: the ISO 28560 data does not decode.
        """
        uid = card.read_uid()
        if self.source == "uid":
            return format_uid(uid, self.uid_format, self.uid_reversed), uid
        if self.source == "mapping":
            key = format_uid(uid, self.uid_format, self.uid_reversed)
            mapping = self.mapping
            if mapping is None:  # __post_init__ refuses this; kept for -O and for mypy
                raise DriverArgumentError("identity source 'mapping' needs a mapping callable")
            try:
                ident = mapping(key)
            except Exception as exc:  # the injected look-up's own errors (a store, a file)
                raise PatronLookupFailed(
                    f"the UID-to-patron look-up failed ({type(exc).__name__}: {exc})") from exc
            if ident is None or ident == "":
                raise PatronIdentityError("the card's UID is not mapped to a patron")
            if not isinstance(ident, str):
                raise PatronIdentityError(
                    f"the UID-to-patron look-up returned {type(ident).__name__}, expected a "
                    "patron identifier (str) or None")
            return ident, uid
        memory = card.read_blocks(0, self.iso28560_blocks)
        return self._from_tag_data(memory), uid

    def _from_tag_data(self, memory: bytes) -> str:
        from drivers.tags import decode_tag  # type: ignore[attr-defined]

        tag = decode_tag(memory)
        usage = getattr(tag, "type_of_usage", None)
        if self.require_patron_usage and _usage_main(usage) != PATRON_CARD_USAGE:
            raise PatronIdentityError(
                f"the card's ISO 28560 type of usage is {usage!r}, expected {PATRON_CARD_USAGE} "
                "(patron card)")
        ident = getattr(tag, "primary_item_id", None)
        if not ident:
            raise PatronIdentityError("the card's ISO 28560 data has no primary identifier")
        return str(ident)


def _usage_main(usage: object) -> int | None:
    """Type of usage as the Danish-model value (8 = patron card).

    ISO 28560-3 stores a nibble (8); ISO 28560-2 a byte whose high nibble is the main
    category (0x80 = patron card). Both map to 8.
    """
    if usage is None:
        return None
    value = int(getattr(usage, "value", usage))  # type: ignore[call-overload]
    return value >> 4 if value > 0x0F else value
