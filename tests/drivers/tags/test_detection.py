"""Auto-detection edge cases and encoder error paths (audit of issue 4).

Expected bytes are literals or hand-assembled; CRCs come from binascii.crc_hqx, an
implementation independent of drivers.tags (it reproduces the published 0x1AEE / 0x3E51).
"""

from __future__ import annotations

import binascii

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.errors import TagFormatError
from drivers.tags import ItemTagData, decode_tag, encode_tag, reverse_blocks

# libdanrfid DDMDataTest (protocols.md section 2)
LIBDANRFID = bytes.fromhex(
    "11 01 01 31 31 32 32 33 33 34 34 00 00 00 00 00 00 00 00 51 3E 44 45 37 30 35 00 00 00 00 00 00"
)


def _with_crc(block: bytes) -> bytes:
    crc = binascii.crc_hqx(block[:19] + block[21:32] + b"\0\0", 0xFFFF)
    return block[:19] + bytes((crc & 0xFF, crc >> 8)) + block[21:]


def test_cut_off_part3_block_is_not_a_part2_tag() -> None:
    # 11 01 01 would parse as ISO 28560-2 (OID 1, integer, length 1, item "1"): it is the
    # first 3 bytes of a part-3 block (version 1, circulating, part 1 of 1).
    with pytest.raises(TagFormatError) as exc:
        decode_tag(bytes.fromhex("11 01 01"))
    assert (exc.value.field, exc.value.offset) == ("basic_block", 3)
    d = decode_tag(bytes.fromhex("11 01 01"), lenient=True)
    assert d.format == "iso28560-3" and d.detected_by == "basic-block layout"
    assert any("basic_block" in p for p in d.problems)


@pytest.mark.parametrize("n", range(3, 32))
def test_every_truncation_of_a_part3_block_is_a_length_error(n: int) -> None:
    with pytest.raises(TagFormatError) as exc:
        decode_tag(LIBDANRFID[:n])
    assert (exc.value.field, exc.value.offset) == ("basic_block", n)


@pytest.mark.parametrize("version", [0, 3, 4, 7, 8, 15])
def test_auto_mode_names_a_bad_version(version: int) -> None:
    bad = bytearray(LIBDANRFID)
    bad[0] = (version << 4) | 1
    for mem in (bytes(bad), _with_crc(bytes(bad))):  # CRC wrong, and CRC fixed up
        with pytest.raises(TagFormatError) as exc:
            decode_tag(mem)
        assert (exc.value.field, exc.value.offset) == ("version", 0)
        lenient = decode_tag(mem, lenient=True)
        assert lenient.format == "iso28560-3" and lenient.primary_item_id == "11223344"
        assert lenient.problems[0].endswith("(field version, offset 0)")


def test_part2_images_starting_like_a_part3_header_stay_part2() -> None:
    # Hand-assembled ISO 28560-2: OID 1 integer "1" (11 01 01), then OID 5 type of usage
    # octet 0x10 with the offset flag and one padding byte (E5 01 01 10 00).
    one = bytes.fromhex("11 01 01 E5 01 01 10 00")
    d = decode_tag(one)
    assert (d.format, d.primary_item_id, d.type_of_usage, d.detected_by) == (
        "iso28560-2", "1", 1, "oid-plausibility")
    # only the item id object, then the terminator
    d = decode_tag(bytes.fromhex("11 01 07 00"))
    assert (d.format, d.primary_item_id) == ("iso28560-2", "7")
    # OID 1 integer 1234 = 04 D2 (test_golden.PART2_SIMPLE)
    assert decode_tag(bytes.fromhex("11 02 04 D2 E5 04 01 10 00 00 00 00")).format == "iso28560-2"


def test_ascii_garbage_is_still_unrecognised() -> None:
    with pytest.raises(TagFormatError) as exc:
        decode_tag(b"ABCD")
    assert exc.value.field == "format"


@pytest.mark.parametrize("code", [99, 8, 255, -1, "2", None, True])
def test_raw_compaction_code_out_of_range(code: object) -> None:
    item = ItemTagData("1", isil="", elements={
        "local_data_a": {"compaction": "x", "compaction_code": code, "hex": "cafe"}})
    with pytest.raises(TagFormatError) as exc:
        encode_tag(item, fmt="iso28560-2")
    assert exc.value.field == "local_data_a" and "compaction_code" in str(exc.value)


def test_raw_object_bad_hex() -> None:
    item = ItemTagData("1", isil="", elements={"local_data_a": {"compaction_code": 0, "hex": "zz"}})
    with pytest.raises(TagFormatError) as exc:
        encode_tag(item, fmt="iso28560-2")
    assert exc.value.field == "local_data_a"


def test_raw_object_every_valid_code_lands_in_the_precursor() -> None:
    # OID 15 (local_data_a) -> relative OID 15 + extension byte 00; precursor = code << 4 | 0x0F
    # with the offset flag clear (the raw object is not last: title follows).
    for code in range(8):
        item = ItemTagData("1", isil="", elements={
            "local_data_a": {"compaction_code": code, "hex": "41"}, "title": "T"})
        mem = encode_tag(item, fmt="iso28560-2")
        # 11 01 01 (item) | 65 01 10 (type of usage) | raw object
        assert mem[6:10] == bytes(((code << 4) | 0x0F, 0x00, 0x01, 0x41))


PRINTABLE = st.characters(min_codepoint=0x20, max_codepoint=0x7E)


@settings(max_examples=200, deadline=None)
@given(st.text(PRINTABLE, min_size=1, max_size=30), st.integers(0, 15), st.integers(0, 15))
def test_part2_auto_detect_without_dsfid(item_id: str, tou: int, qual: int) -> None:
    mem = encode_tag(ItemTagData(item_id, isil="", type_of_usage=tou, usage_qualifier=qual),
                     fmt="iso28560-2")
    d = decode_tag(mem)
    assert (d.format, d.detected_by, d.reversed_blocks) == ("iso28560-2", "oid-plausibility", False)
    assert (d.primary_item_id, d.type_of_usage, d.usage_qualifier) == (item_id, tou, qual)


@settings(max_examples=300, deadline=None)
@given(st.text(PRINTABLE, min_size=1, max_size=30), st.sampled_from(["", "VN-HN0001", "DE-705"]),
       st.text(st.characters(min_codepoint=0x41, max_codepoint=0x7A), max_size=40),
       st.integers(0, 15), st.sampled_from([None, 28]))
def test_part2_read_reversed_is_the_item_or_an_error_never_another_item(
        item_id: str, isil: str, title: str, qual: int, blocks: int | None) -> None:
    """A block-reversing reader left to auto-detection: the right item (reversed_blocks)
    or a TagFormatError -- never a different item id (issue 20)."""
    item = ItemTagData(item_id, isil=isil, usage_qualifier=qual, parts_in_item=2,
                       elements={"title": title} if title else {})
    mem = encode_tag(item, fmt="iso28560-2", blocks=blocks)
    try:
        d = decode_tag(reverse_blocks(mem), dsfid=0x06)
    except TagFormatError:
        return
    assert (d.primary_item_id, d.reversed_blocks) == (item_id, True)
