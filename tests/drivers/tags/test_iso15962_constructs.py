"""ISO/IEC 15962 constructs as other encoders write them (issue 20): golden vectors.

Sources: GB/T 35660.2-2017 (the Chinese adoption of ISO 28560-2) worked examples and
DigitalPlatform dp2's compaction tests (UnitTestRFID/TestChip.cs, TestDp2Library/TestRfid.cs
and UnitTestRFID/TestRfid2.cs, github.com/DigitalPlatform/dp2), a vendor tag from those
tests (tests/drivers/tags/corpus), and objects hand-assembled from the ISO/IEC 15962 layout
with their bits written out below. Expected values are never produced by drivers.tags.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.errors import TagFormatError
from drivers.tags import UnsupportedConstruct, decode_tag, reverse_blocks
from drivers.tags._report import Problems
from drivers.tags.iso28560_2 import (
    BIT5,
    BIT6,
    BIT7,
    INTEGER,
    NUMERIC,
    OCTET,
    UTF8,
    compact_as,
    data_object,
    expand,
    expand_isil,
)

# ---- compaction: text <-> bytes -----------------------------------------------------------
COMPACTION_VECTORS = [
    # integer: GB/T 35660.2-2017 p.31 and p.32 examples (dp2 Test_integer_3/4); dp2 Test_integer_9
    (INTEGER, "123456789012", "1c be 99 1a 14"),
    (INTEGER, "1203", "04 b3"),
    (INTEGER, "9999999999999999999", "8a c7 23 04 89 e7 ff ff"),
    # numeric, odd length padded with nibble F (dp2 Test_digit_3, Test_numeric_5/9)
    (NUMERIC, "010", "01 0f"),
    (NUMERIC, "091", "09 1f"),
    (NUMERIC, "1234567", "12 34 56 7f"),
    # 5-bit, zero pad bits (dp2 Test_bit5_1, _3, _4, _11)
    (BIT5, "ABC", "08 86"),
    (BIT5, "AHQZ", "0a 23 a0"),
    (BIT5, "ZYXWV", "d6 71 7b 00"),  # 25 bits + 7 zero bits: a whole pad character
    (BIT5, "_G]H^", "f9 fa 8f 00"),
    # 6-bit, pad bits 100000 cut to length: GB/T 35660.2-2017 p.39 ("ABC123456", pad 10)
    # and p.32 ("QA268.L55"); dp2 Test_bit6_2 (a whole pad character 100000 = 20)
    (BIT6, "ABC123456", "04 20 f1 cb 3d 35 da"),
    (BIT6, "ABC1234", "04 20 f1 cb 3d 20"),
    (BIT6, "QA268.L55", "44 1c b6 e2 e3 35 d6"),
    (BIT6, "K825.6=76/Z780", "2f 8c b5 bb 6f 77 da f6 b7 e3 08"),
    (BIT6, "TP393/H637", "51 0c f9 ce f2 36 cf 78"),
    # 7-bit, pad bits all 1 (dp2 Test_bit7_1/2, TestRfid2 Test_bit7_4/5)
    (BIT7, "12345678", "62 c9 9b 46 ad 9b b8"),
    (BIT7, "123456781234567", "62 c9 9b 46 ad 9b b8 62 c9 9b 46 ad 9b ff"),
    (BIT7, "abcdefgh123", "c3 8b 1e 4c b9 b3 e8 62 c9 9f"),
    (BIT7, "hijk9876{/?}~", "d1 a7 56 b7 2e 1b b6 f6 bd ff df df"),
    # octet and UTF-8 (the bytes themselves)
    (OCTET, "é", "e9"),
    (UTF8, "Việt", "56 69 e1 bb 87 74"),
]


@pytest.mark.parametrize(("code", "text", "hexdata"), COMPACTION_VECTORS)
def test_compaction_vectors(code: int, text: str, hexdata: str) -> None:
    data = bytes.fromhex(hexdata)
    assert compact_as(text, code) == data
    assert expand(code, data, "x", 0, Problems(False)) == text


def test_six_bit_zero_pad_from_older_encoders_still_reads() -> None:
    # "A1-" with zero pad bits (07 1B 40), as this package wrote it before issue 20
    assert expand(BIT6, bytes.fromhex("07 1B 40"), "x", 0, Problems(False)) == "A1-"
    assert expand(BIT7, bytes.fromhex("C3 88"), "x", 0, Problems(False)) == "ab"


@pytest.mark.parametrize(("hexdata", "isil"), [
    ("21 40 8e 16 bf 1f", "DE-Heu1"),                  # dp2 Test_isil_1
    ("ac c0 9e ba a0 6f 6b", "US-InU-Mu"),             # GB/T 35660.2 example (dp2 Test_isil_2)
    ("1b 81 e1 10 10 8a 1a c7 30 7f", "CN-110108-1-NLC"),  # dp2 Test_isil_3
    ("1b 81 e1 20 10 4a d1 d6 64 4c", "CN-120104-C-YBL"),  # dp2 Test_isil_4 (shift)
])
def test_isil_compaction_vectors(hexdata: str, isil: str) -> None:
    assert expand_isil(bytes.fromhex(hexdata)) == isil


# ---- type of usage in every compaction -----------------------------------------------------
# OID 1 integer "7" (11 01 07), then the type of usage object, hand-packed:
#  numeric "10" -> 10                          : 25 01 10   (the zhiyan vendor tag's form)
#  octet 0x32                                  : 65 01 32
#  application-defined 0x10                    : 05 01 10
#  integer 10 (its digits "10")                : 15 01 0A
#  6-bit "32": 110011 110010 + pad 1000 -> CF 28   : 45 02 CF 28
#  7-bit "10": 0110001 0110000 + pad 11 -> 62 C3   : 55 02 62 C3
#  UTF-8 "81"                                  : 75 02 38 31
#  numeric "1" (one digit, leading zero implied): 25 01 1F
USAGE_VECTORS = [
    ("25 01 10", 0x10, "circulating item"),
    ("65 01 32", 0x32, "local use"),
    ("05 01 10", 0x10, "circulating item"),
    ("15 01 0A", 0x10, "circulating item"),
    ("45 02 CF 28", 0x32, "local use"),
    ("55 02 62 C3", 0x10, "circulating item"),
    ("75 02 38 31", 0x81, "patron card, adult borrower"),
    ("25 01 1F", 0x01, "acquisition item, for automated process"),
]


@pytest.mark.parametrize(("obj", "code", "name"), USAGE_VECTORS)
def test_type_of_usage_in_every_compaction(obj: str, code: int, name: str) -> None:
    mem = bytes.fromhex("11 01 07 " + obj + " 00")
    d = decode_tag(mem, dsfid=0x06)
    assert (d.primary_item_id, d.type_of_usage_code, d.type_of_usage_name) == ("7", code, name)
    assert (d.type_of_usage, d.usage_qualifier) == (code >> 4, code & 0x0F)
    assert d.to_json_dict()["type_of_usage_code"] == code


@pytest.mark.parametrize("obj", ["65 02 10 00", "25 02 12 34", "75 01 5A"])
def test_type_of_usage_that_is_no_code(obj: str) -> None:
    mem = bytes.fromhex("11 01 07 " + obj)
    with pytest.raises(TagFormatError) as exc:
        decode_tag(mem, dsfid=0x06)
    assert exc.value.field == "type_of_usage" and exc.value.offset == 5


def test_short_elements_in_odd_compactions() -> None:
    # shelf location (OID 6) "7" in numeric: 26 01 7F; ONIX media format (OID 7) "BA" in
    # 5-bit: 00010 00001 + 000000 -> 10 40 (37 02 10 40); MARC media format (OID 8) "a" in
    # 7-bit: 1100001 + 1 -> C3 (58 01 C3)
    mem = bytes.fromhex("11 01 07  26 01 7F  37 02 10 40  58 01 C3  00")
    d = decode_tag(mem, dsfid=0x06)
    assert d.elements == {"shelf_location": "7", "onix_media_format": "BA",
                          "marc_media_format": "a"}


# ---- relative OIDs above 14 and unsupported constructs --------------------------------------
def test_relative_oids_15_to_127_through_the_extension_byte() -> None:
    # OID 15 (local data A) ext 00, OID 17 (title) ext 02, OID 127 ext 0x70, all UTF-8 "x"
    mem = bytes.fromhex("11 01 07  7F 00 01 78  7F 02 01 78  7F 70 01 78  00")
    d = decode_tag(mem, dsfid=0x06)
    assert d.elements == {"local_data_a": "x", "title": "x", "oid_127": "x"}


def test_relative_oid_above_127_is_an_unsupported_construct() -> None:
    mem = bytes.fromhex("11 01 07  7F 71 01 78  00")  # extension byte 0x71: OID 128
    with pytest.raises(UnsupportedConstruct) as exc:
        decode_tag(mem, dsfid=0x06)
    assert (exc.value.field, exc.value.offset) == ("oid", 4)
    assert "not supported" in str(exc.value)
    lenient = decode_tag(mem, dsfid=0x06, lenient=True)
    assert lenient.primary_item_id == "7" and "not supported" in lenient.problems[0]
    with pytest.raises(TagFormatError):
        data_object(128, UTF8, b"x")


# The corpus's zhiyan vendor tag (dp2 TestDp2Library/TestRfid.cs, test_logicChip_1) with its
# alternative owner institution's OID extension byte 08 changed to 7F (OID 142): read
# reversed, these bytes decode without an error to item "775210520281088" -- what
# auto-detection used to return for the unmodified tag.
ZHIYAN = bytes.fromhex("C1 02 07 11 00 B0 C3 0C 30 CA 00 00 02 03 A8 00 08 83 02 03 D6 59 3F"
                       " 00 00 25 01 10 37 02 10 40 5F 08 05 99 A7 13 06 3F")
ZHIYAN_OID_142 = ZHIYAN.replace(bytes.fromhex("5F 08 05"), bytes.fromhex("5F 7F 05"))


@pytest.mark.parametrize("dsfid", [None, 0x06])
def test_unsupported_construct_is_reported_not_read_reversed(dsfid: int | None) -> None:
    assert decode_tag(reverse_blocks(ZHIYAN_OID_142), fmt="iso28560-2",
                      reversed_blocks=False).primary_item_id == "775210520281088"
    with pytest.raises(UnsupportedConstruct) as exc:
        decode_tag(ZHIYAN_OID_142, dsfid=dsfid)
    assert (exc.value.field, exc.value.offset) == ("oid", 33)
    lenient = decode_tag(ZHIYAN_OID_142, dsfid=dsfid, lenient=True)
    assert (lenient.format, lenient.reversed_blocks, lenient.primary_item_id) == (
        "iso28560-2", False, "DPB000002")
    assert any("not supported" in p for p in lenient.problems)


def test_vendor_tag_reads_forward_whole_and_in_parts() -> None:
    for dsfid in (None, 0x06):
        d = decode_tag(ZHIYAN, dsfid=dsfid)
        assert (d.primary_item_id, d.reversed_blocks, d.type_of_usage_code) == (
            "DPB000002", False, 0x10)
        # a read of the first 4 blocks: the content parameter is cut off -- an error in
        # this order, not the reversed order's "775210520281088"
        with pytest.raises(TagFormatError) as exc:
            decode_tag(ZHIYAN[:16], dsfid=dsfid)
        assert exc.value.field == "content_parameter"


# ---- round trips over every compaction ------------------------------------------------------
TEXT_FOR = {
    INTEGER: st.integers(0, 10**30).map(str),
    NUMERIC: st.text("0123456789", min_size=1, max_size=40),
    BIT5: st.text(st.characters(min_codepoint=0x40, max_codepoint=0x5F), min_size=1, max_size=40),
    BIT6: st.text(st.characters(min_codepoint=0x20, max_codepoint=0x5F), min_size=1, max_size=40),
    BIT7: st.text(st.characters(min_codepoint=0x01, max_codepoint=0x7F), min_size=1, max_size=40),
    OCTET: st.text(st.characters(min_codepoint=0x01, max_codepoint=0xFF), min_size=1, max_size=40),
    UTF8: st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                  min_size=1, max_size=40),
}


@st.composite
def compacted(draw: st.DrawFn) -> tuple[int, str, bytes]:
    code = draw(st.sampled_from(sorted(TEXT_FOR)))
    text = draw(TEXT_FOR[code])
    data = compact_as(text, code)
    if data is None:  # a 5/6/7-bit text whose last character would read back as padding
        assert code in (BIT5, BIT6, BIT7)
        data = compact_as(text + "A", code)
        text += "A"
    assert data is not None
    return code, text, data


@settings(max_examples=400, deadline=None)
@given(compacted())
def test_every_compaction_round_trips(sample: tuple[int, str, bytes]) -> None:
    code, text, data = sample
    assert expand(code, data, "x", 0, Problems(False)) == text


@settings(max_examples=300, deadline=None)
@given(compacted(), st.integers(0, 7),
       st.integers(15, 127).filter(lambda o: o not in (19, 20)), compacted(),
       st.sampled_from([0x10, 0x11, 0x32, 0x80, 0x93]), st.booleans())
def test_objects_round_trip(pii: tuple[int, str, bytes], pad: int, oid: int,
                            other: tuple[int, str, bytes], usage: int, reverse: bool) -> None:
    """Primary item id in any compaction with the offset bit and 0..7 pad bytes, the
    type of usage byte, and an element with a relative OID 15..127 in any compaction."""
    mem = (data_object(1, pii[0], pii[2], pad) + data_object(5, OCTET, bytes((usage,)))
           + data_object(oid, other[0], other[2]) + b"\x00")
    mem += bytes(-len(mem) % 4)
    read = reverse_blocks(mem) if reverse else mem
    d = decode_tag(read, dsfid=0x06, fmt="iso28560-2", reversed_blocks=reverse)
    assert d.problems == () and d.reversed_blocks == reverse
    assert (d.primary_item_id, d.type_of_usage_code) == (pii[1], usage)
    name = {15: "local_data_a", 16: "local_data_b", 17: "title"}.get(oid, None)
    assert list(d.elements.values()) == [other[1]]
    if name:
        assert name in d.elements
