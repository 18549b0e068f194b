"""Simulated cards answer PC/SC part 3 pseudo-APDUs (scripted, no pcscd)."""

from __future__ import annotations

import pytest

from hardware_sim.card import (
    SimIso14443Card,
    SimIso15693Card,
    crc16_ccitt,
    danish_basic_block,
    make_card,
    patron_card,
    patron_uid,
)
from hardware_sim.errors import CardSimError

UID15693 = bytes.fromhex("E0 04 01 50 12 34 56 78")


def test_get_data_uid() -> None:
    card = SimIso15693Card(UID15693)
    assert card.handle_apdu(bytes.fromhex("FF CA 00 00 00")) == bytes.fromhex(
        "E0 04 01 50 12 34 56 78 90 00")
    assert card.atr == bytes.fromhex("3B 8F 80 01 80 4F 0C A0 00 00 03 06 0B 00 14 00 00 00 00 77")


def test_iso15693_read_update() -> None:
    card = SimIso15693Card(UID15693, bytes(range(16)) + bytes(96))
    assert card.handle_apdu(bytes.fromhex("FF B0 00 01 04")) == bytes.fromhex("04 05 06 07 90 00")
    assert card.handle_apdu(bytes.fromhex("FF B0 00 00 08")) == bytes(range(8)) + b"\x90\x00"
    assert card.handle_apdu(bytes.fromhex("FF D6 00 02 04 AA BB CC DD")) == b"\x90\x00"
    assert card.handle_apdu(bytes.fromhex("FF B0 00 02 04")) == bytes.fromhex("AA BB CC DD 90 00")
    # 28 blocks: block 28 does not exist
    assert card.handle_apdu(bytes.fromhex("FF B0 00 1C 04")) == bytes.fromhex("6A 82")
    assert card.handle_apdu(bytes.fromhex("FF D6 00 1C 04 00 00 00 00")) == bytes.fromhex("6A 82")
    assert card.handle_apdu(bytes.fromhex("FF B0 00 00 03")) == bytes.fromhex("67 00")
    assert card.handle_apdu(bytes.fromhex("FF D6 00 02 03 01 02 03")) == bytes.fromhex("67 00")


def test_locked_block() -> None:
    card = SimIso15693Card(UID15693, locked={3})
    assert card.handle_apdu(bytes.fromhex("FF D6 00 03 04 01 02 03 04")) == bytes.fromhex("63 00")


def test_unsupported() -> None:
    card = SimIso15693Card(UID15693)
    assert card.handle_apdu(bytes.fromhex("00 A4 04 00 00")) == bytes.fromhex("6E 00")
    assert card.handle_apdu(bytes.fromhex("FF 99 00 00 00")) == bytes.fromhex("6D 00")
    assert card.handle_apdu(bytes.fromhex("FF CA 01 00 00")) == bytes.fromhex("6A 81")
    assert card.handle_apdu(bytes.fromhex("FF CA")) == bytes.fromhex("67 00")


def test_mifare_kinds() -> None:
    classic = SimIso14443Card(bytes.fromhex("04A2246A"))
    assert classic.atr == bytes.fromhex(  # protocols.md §5, MIFARE 1K
        "3B 8F 80 01 80 4F 0C A0 00 00 03 06 03 00 01 00 00 00 00 6A")
    assert classic.handle_apdu(bytes.fromhex("FF CA 00 00 00")) == bytes.fromhex("04 A2 24 6A 90 00")
    assert classic.handle_apdu(bytes.fromhex("FF B0 00 04 10")) == bytes.fromhex("69 82")
    ul = SimIso14443Card(bytes.fromhex("04112233445566"), kind="ultralight")
    assert ul.handle_apdu(bytes.fromhex("FF B0 00 00 04")) == bytes.fromhex("04 11 22 00 90 00")
    assert ul.handle_apdu(bytes.fromhex("FF D6 00 04 04 01 02 03 04")) == b"\x90\x00"
    assert ul.handle_apdu(bytes.fromhex("FF D6 00 00 04 01 02 03 04")) == bytes.fromhex("63 00")
    des = SimIso14443Card(bytes.fromhex("04112233445566"), kind="desfire")
    assert des.atr == bytes.fromhex("3B 81 80 01 80 80")
    assert des.handle_apdu(bytes.fromhex("FF B0 00 00 04")) == bytes.fromhex("6A 81")
    with pytest.raises(CardSimError, match="unknown ISO 14443 card kind"):
        SimIso14443Card(bytes(4), kind="felica")
    with pytest.raises(CardSimError, match="expected 4, 7 or 10"):
        SimIso14443Card(bytes(5))


def test_crc_and_basic_block_golden() -> None:
    # protocols.md §2: check value of "RFID tag data model" is 0x1AEE; libdanrfid vector.
    assert crc16_ccitt(b"RFID tag data model") == 0x1AEE
    assert danish_basic_block("11223344", usage=1, country="DE", library="705") == bytes.fromhex(
        "11 01 01 31 31 32 32 33 33 34 34 00 00 00 00 00 00 00 00 51 3E 44 45 37 30 35 00 00 00 00 00 00")


def test_patron_card_is_deterministic() -> None:
    a, b = patron_card("P0001"), patron_card("P0001")
    assert a.uid == b.uid == patron_uid("P0001")
    assert a.uid[:3] == b"\xE0\x04\x01" and len(a.uid) == 8
    assert patron_uid("P0002") != a.uid
    assert a.memory[0] == 0x18  # version 1, type of usage 8
    assert bytes(a.memory[3:8]) == b"P0001"


def test_patron_card_decodes_with_drivers_tags() -> None:
    from drivers.tags import decode_tag

    tag = decode_tag(bytes(patron_card("P0001").memory))
    assert tag.primary_item_id == "P0001"
    assert tag.type_of_usage == 8


@pytest.mark.parametrize(("kwargs", "msg"), [
    ({}, "exactly one"),
    ({"uid": "0102", "patron": "x"}, "exactly one"),
    ({"uid": "zz"}, "not hex"),
    ({"patron": "x" * 17}, "1..16 ASCII"),
    ({"patron": "x", "kind": "desfire"}, "ISO 15693"),
])
def test_make_card_errors(kwargs: dict, msg: str) -> None:
    with pytest.raises(CardSimError, match=msg):
        make_card(**kwargs)


def test_make_card_kinds() -> None:
    assert make_card(uid="E0:04:01:50:12:34:56:78").kind == "iso15693"
    assert make_card(uid="04A2246A").kind == "mifare-classic-1k"
    assert make_card(uid="04112233445566", kind="ultralight").kind == "ultralight"
