"""Typed results of the tag codecs: ItemTagData (what to write), TagData (what was read).

Also the type-of-usage tables of ISO 28560-1: the type of usage is one code byte, main
category in the high nibble and sub-category in the low nibble (0x10 circulating item, 0x32
local use, sub-category 2); ISO 28560-3 stores only the main category. Pure, no I/O.

ISIL convention used everywhere in this package: ``isil`` is the FULL ISIL, prefix included
(``"VN-HN0001"``); ``country`` is the ISO 3166 code of the owner library (``"VN"``). ISO
28560-3 stores the two separately (country in bytes 21-22, the library part ``HN0001`` in
bytes 23-31); ISO 28560-2 stores the full ISIL as data element 3.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# ISO 28560-1 main categories (high nibble of type of usage; the whole ISO 28560-3 nibble).
# Source: ISO 28560-1 as reproduced by the public Helmet (FI) parser and DS/INF 163 / protocols.md.
USAGE_NAMES: dict[int, str] = {
    0: "acquisition item",
    1: "circulating item",
    2: "non-circulating item",
    3: "local use",
    4: "local use",
    5: "local use",
    6: "no information",
    7: "discarded item",
    8: "patron card",
    9: "library equipment",
}
# Sub-qualifiers (low nibble, ISO 28560-2 only) per main category.
USAGE_QUALIFIERS: dict[int, dict[int, str]] = {
    0: {1: "for automated process", 2: "for manual process"},
    1: {1: "for automatic sorting", 2: "not for automatic sorting",
        3: "not for issue while offline", 4: "not for return while offline",
        5: "not for issue or return while offline"},
    7: {1: "for sale", 2: "sold", 3: "for disposal"},
    8: {1: "adult borrower", 2: "young adult borrower", 3: "child borrower"},
    9: {1: "personal computer", 2: "video projector", 3: "overhead projector", 4: "whiteboard"},
}
PATRON_CARD = 8
EQUIPMENT = 9
_NO_OFFLINE_ISSUE = {3, 5}
_NO_OFFLINE_RETURN = {4, 5}


def usage_name(category: int, qualifier: int = 0) -> str:
    """Human name of a type of usage, e.g. ``"circulating item, not for issue while offline"``."""
    main = USAGE_NAMES.get(category, "reserved")
    sub = USAGE_QUALIFIERS.get(category, {}).get(qualifier) if qualifier else None
    return f"{main}, {sub}" if sub else main


def item_kind(category: int) -> str:
    """``"patron_card"``, ``"equipment"`` or ``"item"`` (everything a library lends or holds)."""
    if category == PATRON_CARD:
        return "patron_card"
    if category == EQUIPMENT:
        return "equipment"
    return "item"


@dataclass(frozen=True)
class ItemTagData:
    """What to write on an item tag.

    Args:
        primary_item_id: the barcode / item id (ASCII, at most 16 bytes for ISO 28560-3).
        parts_in_item: number of parts in the set (1..255).
        part_number: this part's ordinal (1..parts_in_item).
        type_of_usage: main category 0..15 (1 circulating, 8 patron card, ...).
        country: ISO 3166 country of the owner library; used when ``isil`` has no prefix.
        isil: the owner library's full ISIL (``"VN-HN0001"``) or just the library part
            (``"HN0001"``, then ``country`` is the prefix); empty for none.
        elements: other ISO 28560-1 data elements by name (``title``, ``shelf_location``, ...).
        usage_qualifier: ISO 28560-2 sub-qualifier 0..15 (e.g. 3 = not for issue offline);
            ISO 28560-3 cannot store it and must get 0.
    """

    primary_item_id: str
    parts_in_item: int = 1
    part_number: int = 1
    type_of_usage: int = 1
    country: str = "VN"
    isil: str = ""
    elements: dict[str, Any] = field(default_factory=dict)
    usage_qualifier: int = 0

    def __hash__(self) -> int:  # elements is a dict; hash the rest
        return hash((self.primary_item_id, self.parts_in_item, self.part_number,
                     self.type_of_usage, self.country, self.isil, self.usage_qualifier))

    @property
    def full_isil(self) -> str:
        """The ISIL with its prefix (``"VN-HN0001"``), or ``""``."""
        if not self.isil or "-" in self.isil:
            return self.isil
        return f"{self.country}-{self.isil}" if self.country else self.isil


# The keys of ``smartlib tag decode``: the issue's contract list (issue 20 added
# ``type_of_usage_code``, the whole byte), then how the format and block order were found
# (``detected_by``, ``reversed_blocks``).
JSON_KEYS = ("format", "version", "type_of_usage", "type_of_usage_name", "type_of_usage_code",
             "parts_in_item", "part_number", "primary_item_id", "country", "isil", "crc_ok",
             "elements", "problems", "detected_by", "reversed_blocks")


@dataclass(frozen=True)
class TagData:
    """A decoded tag.

    ``format`` is ``iso28560-3``, ``iso28560-2``, ``rfid501`` or ``unknown`` (lenient only);
    ``isil`` is the full ISIL (``"DE-705"``), ``country`` its country; ``crc_ok`` is None for
    formats without a CRC; ``problems`` lists what a lenient decode found wrong plus the
    ``warnings``, which are listed in strict mode too and never raise (an empty primary item
    id: a blank tag); ``detected_by`` names the rule that chose the format;
    ``reversed_blocks`` says the blocks were reversed. ``type_of_usage`` is the main
    category, ``usage_qualifier`` the sub-category, ``type_of_usage_code`` the whole byte.
    """

    format: str
    version: int | None
    type_of_usage: int
    type_of_usage_name: str
    parts_in_item: int
    part_number: int
    primary_item_id: str
    country: str
    isil: str
    crc_ok: bool | None
    elements: dict[str, Any]
    problems: tuple[str, ...] = ()
    detected_by: str = ""
    reversed_blocks: bool = False
    usage_qualifier: int = 0
    warnings: tuple[str, ...] = ()

    def __hash__(self) -> int:
        return hash((self.format, self.primary_item_id, self.part_number, self.isil))

    @property
    def type_of_usage_code(self) -> int:
        """The whole ISO 28560-1 type-of-usage byte: main category << 4 | sub-category.

        ISO 28560-3 and RFID501 have no sub-category: their code is the category << 4.
        """
        return ((self.type_of_usage & 0x0F) << 4) | (self.usage_qualifier & 0x0F)

    @property
    def item_kind(self) -> str:
        return item_kind(self.type_of_usage)

    @property
    def is_patron_card(self) -> bool:
        return self.type_of_usage == PATRON_CARD

    @property
    def forbids_offline_issue(self) -> bool:
        """The sub-qualifier says: no issue (checkout) while the system is offline."""
        return self.type_of_usage == 1 and self.usage_qualifier in _NO_OFFLINE_ISSUE

    @property
    def forbids_offline_return(self) -> bool:
        return self.type_of_usage == 1 and self.usage_qualifier in _NO_OFFLINE_RETURN

    @property
    def forbids_offline(self) -> bool:
        """Any offline transaction is forbidden for this item by its type of usage."""
        return self.forbids_offline_issue or self.forbids_offline_return

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json_dict(self) -> dict[str, Any]:
        """Exactly the keys of ``smartlib tag decode`` (see JSON_KEYS)."""
        return {
            "format": self.format, "version": self.version,
            "type_of_usage": self.type_of_usage, "type_of_usage_name": self.type_of_usage_name,
            "type_of_usage_code": self.type_of_usage_code,
            "parts_in_item": self.parts_in_item, "part_number": self.part_number,
            "primary_item_id": self.primary_item_id, "country": self.country,
            "isil": self.isil, "crc_ok": self.crc_ok, "elements": dict(self.elements),
            "problems": list(self.problems), "detected_by": self.detected_by,
            "reversed_blocks": self.reversed_blocks,
        }
