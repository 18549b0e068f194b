"""PatronIdentityRule with a scripted card (no reader): UID formats, mapping, ISO 28560."""

from __future__ import annotations

import pytest

from drivers.errors import PatronIdentityError
from drivers.pcsc.identity import PatronIdentityRule, PatronLookupFailed, format_uid

MIFARE_UID = bytes.fromhex("04 A2 24 6A")
# The libdanrfid DDMDataTest block (protocols.md §2): barcode 11223344, DE, 705, usage 1.
DDM_ITEM = bytes.fromhex(
    "11 01 01 31 31 32 32 33 33 34 34 00 00 00 00 00 00 00 00 51 3E 44 45 37 30 35 00 00 00 00 00 00")


class ScriptedCard:
    def __init__(self, uid: bytes, memory: bytes = b"") -> None:
        self.uid = uid
        self.memory = memory
        self.reads: list[tuple[int, int]] = []

    def read_uid(self) -> bytes:
        return self.uid

    def read_blocks(self, first: int, count: int) -> bytes:
        self.reads.append((first, count))
        return self.memory[first * 4:(first + count) * 4]


@pytest.mark.parametrize(("fmt", "rev", "expected"), [
    ("hex", False, "04A2246A"),
    ("hex", True, "6A24A204"),
    ("decimal", False, "77735018"),     # 0x04A2246A
    ("decimal", True, "1780785668"),    # 0x6A24A204
])
def test_uid_formats(fmt: str, rev: bool, expected: str) -> None:
    rule = PatronIdentityRule(source="uid", uid_format=fmt, uid_reversed=rev)  # type: ignore[arg-type]
    assert rule.identify(ScriptedCard(MIFARE_UID)) == (expected, MIFARE_UID)
    assert format_uid(MIFARE_UID, fmt, rev) == expected  # type: ignore[arg-type]


def test_empty_uid() -> None:
    with pytest.raises(PatronIdentityError, match="empty UID"):
        PatronIdentityRule().identify(ScriptedCard(b""))


def test_mapping() -> None:
    table = {"6A24A204": "P0042"}
    rule = PatronIdentityRule(source="mapping", uid_reversed=True, mapping=table.get)
    assert rule.identify(ScriptedCard(MIFARE_UID)) == ("P0042", MIFARE_UID)
    with pytest.raises(PatronIdentityError, match="not mapped"):
        rule.identify(ScriptedCard(bytes.fromhex("01020304")))


def test_mapping_lookup_failures_are_identity_errors() -> None:
    def broken(uid: str) -> str | None:
        raise OSError("cache unreadable")

    rule = PatronIdentityRule(source="mapping", mapping=broken)
    with pytest.raises(PatronLookupFailed, match=r"look-up failed \(OSError: cache unreadable\)"):
        rule.identify(ScriptedCard(MIFARE_UID))
    wrong_type = PatronIdentityRule(source="mapping", mapping=lambda uid: 42)  # type: ignore[arg-type,return-value]
    with pytest.raises(PatronIdentityError, match="returned int"):
        wrong_type.identify(ScriptedCard(MIFARE_UID))
    empty = PatronIdentityRule(source="mapping", mapping=lambda uid: "")
    with pytest.raises(PatronIdentityError, match="not mapped"):
        empty.identify(ScriptedCard(MIFARE_UID))


def test_mapping_is_called_with_the_formatted_uid() -> None:
    seen: list[str] = []

    def lookup(uid: str) -> str | None:
        seen.append(uid)
        return "P1"

    rule = PatronIdentityRule(source="mapping", uid_format="decimal", mapping=lookup)
    assert rule.identify(ScriptedCard(MIFARE_UID)) == ("P1", MIFARE_UID)
    assert seen == ["77735018"]


def test_mapping_needs_callable() -> None:
    with pytest.raises(ValueError, match="mapping callable"):
        PatronIdentityRule(source="mapping")


def test_bad_settings() -> None:
    with pytest.raises(ValueError):
        PatronIdentityRule(source="pin")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        PatronIdentityRule(uid_format="octal")  # type: ignore[arg-type]


def _patron_block() -> bytes:
    # The DDM block above with byte 0 = 0x18 (version 1, type of usage 8 = patron card) and
    # the CRC recomputed independently: CRC-16/CCITT-FALSE over bytes 0-18, 21-31, 00 00.
    body = bytearray(DDM_ITEM)
    body[0] = 0x18
    data = bytes(body[:19] + body[21:]) + b"\0\0"
    crc = 0xFFFF
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    body[19:21] = crc.to_bytes(2, "little")
    return bytes(body)


def test_iso28560_patron_card() -> None:
    card = ScriptedCard(bytes.fromhex("E004015012345678"), _patron_block() + bytes(80))
    rule = PatronIdentityRule(source="iso28560")
    assert rule.identify(card) == ("11223344", bytes.fromhex("E004015012345678"))
    assert card.reads == [(0, 8)]


def test_iso28560_item_tag_is_not_a_patron_card() -> None:
    card = ScriptedCard(bytes.fromhex("E004015012345678"), DDM_ITEM + bytes(80))
    with pytest.raises(PatronIdentityError, match="type of usage is 1, expected 8"):
        PatronIdentityRule(source="iso28560").identify(card)
    lenient = PatronIdentityRule(source="iso28560", require_patron_usage=False)
    assert lenient.identify(card)[0] == "11223344"
