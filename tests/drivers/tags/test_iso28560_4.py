"""ISO/TS 28560-4 (UHF) golden vectors: PC word, UII in URN Code 40, user memory.

Provenance of every expected byte (none is produced by the code under test):

* ISO/TS 28560-4:2014(E) page 49 (UII) and page 52 (user memory), as quoted in
  DigitalPlatform/dp2, ``UnitTestRFID/TestUHF.cs`` (``Test_encode_uii_2``,
  ``Test_encode_userbank_1``); the EPC bank with its PC word ``45C2`` and the user bank
  with DSFID ``06`` and the word pad are dp2's writer output in the same file
  (``Test_encode_epcbank_1``, ``Test_encode_userbank_2``).
* The IPC "RFID standard for test letters" page 17 example (``B.A12312345678``, a long
  numeric string), as quoted in the same dp2 test file (``Test_encode_uii_3``,
  ``Test_encode_longNumericString``).
* The factory-blank EPC bank ``3000 E200...`` (PC word: 6 words, toggle 0) as dp2's
  ``UhfUtility.IsBlankEpcBank`` describes it.
* Four whole EPC banks read from real tags, CRC word first, in the same dp2 test file
  (``test_detect_01``; ``display_epc_2`` "vendor 02"; ``display_epc_3`` "vendor 03";
  ``display_epc_4`` "hh vendor"). dp2 states no decoded values for them: the UIIs below
  are decoded by hand, word by word, per the URN Code 40 rule (value - 1 = 1600*c1 +
  40*c2 + c3; 1..26 A-Z, 27 '-', 28 '.', 29 ':', 30..39 '0'..'9'), written out in the
  comments. Each bank's CRC word is the Gen2 StoredCRC of the rest, which pins
  ``stored_crc`` on four independent tags.
"""

from __future__ import annotations

import pytest

from drivers.errors import TagFormatError
from drivers.tags import (
    UhfMemory,
    UhfTagData,
    UnsupportedConstruct,
    decode_uhf,
    encode_uhf,
    pc_afi,
    stored_crc,
    with_afi,
)
from drivers.tags._report import Problems
from drivers.tags.iso28560_4 import decode_uii, encode_uii

# ISO/TS 28560-4:2014(E) p. 49 via dp2 Test_encode_uii_2
UII_TEXT = "CH-000134-1.12345678.31"
UII_BYTES = bytes.fromhex("141c c04f c70b adb5 c6e2 da1d ed4d d319")
# dp2 Test_encode_epcbank_1 / Test_decode_epcbank_1 (PC: L=8, UMI=1, XI=0, T=1, AFI C2)
EPC_BANK = bytes.fromhex("45c2") + UII_BYTES
# ISO/TS 28560-4:2014(E) p. 52 via dp2 Test_encode_userbank_1 (objects), _2 (DSFID + pad)
USER_OBJECTS = bytes.fromhex("02 01 D0 14 02 04B3 4607 441C b6E2 E335 D653 08AB 4D6C 9DD5 56CD EB")
USER_BANK = bytes.fromhex("06") + USER_OBJECTS + b"\x00"
# IPC test-letter example via dp2 Test_encode_uii_3 (word-padded with one 0x00)
IPC_UII = bytes.fromhex("10 E2 FB 21 02 DD DF 7C 4E 00")
# dp2 IsBlankEpcBank: "3000" = 6 words, UMI 0, XI 0, toggle 0, attribute bits 0; then E2..
FACTORY_BLANK = bytes.fromhex("3000 E200 1234 5678 9ABC DEF0 1122")

# dp2 Test_encode_uii_1: the words of the page-49 example, three characters each
TRIPLES = [("CH-", "141c"), ("000", "c04f"), ("134", "c70b"), ("-1.", "adb5"),
           ("123", "c6e2"), ("456", "da1d"), ("78.", "ed4d"), ("31", "d319")]


def _lenient(data: bytes) -> str:
    return decode_uii(data, Problems(True))


@pytest.mark.parametrize(("text", "hexed"), TRIPLES)
def test_urn40_words(text: str, hexed: str) -> None:
    assert encode_uii(text) == bytes.fromhex(hexed)
    assert _lenient(bytes.fromhex(hexed)) == text


def test_standard_uii_example() -> None:
    assert encode_uii(UII_TEXT) == UII_BYTES
    assert decode_uii(UII_BYTES, Problems(False)) == UII_TEXT


def test_long_numeric_string_ipc_example() -> None:
    assert encode_uii("B.A12312345678") == IPC_UII
    assert decode_uii(IPC_UII, Problems(False)) == "B.A12312345678"


def test_decode_epc_bank_of_the_standard_example() -> None:
    data = decode_uhf(EPC_BANK, strict=True)
    assert isinstance(data, UhfTagData)
    assert (data.toggle, data.umi, data.xi, data.afi, data.length_words) == (True, True, False,
                                                                             0xC2, 8)
    assert data.uii == UII_TEXT
    assert (data.owner_library, data.primary_item_id) == ("CH-000134-1", "12345678.31")
    assert data.problems == () and data.dsfid is None and data.set_info is None


def test_decode_user_bank_of_the_standard_example() -> None:
    data = decode_uhf(EPC_BANK, USER_BANK, strict=True)
    assert data.dsfid == 0x06
    assert data.set_info == (12, 3)
    assert data.elements["shelf_location"] == "QA268.L55"
    assert data.elements["content_parameter"] == [3, 4, 6]
    # the UII names the owner; the user memory's other owner is kept, not merged
    assert data.owner_library == "CH-000134-1"
    assert data.elements["owner_institution"] == "US-InU-Mu"
    assert data.problems == ()


def test_owner_from_user_memory_when_the_uii_has_none() -> None:
    # by hand: PC 0x1D = L 3, UMI, T; "123" "456" as above, "78" = 1600*37 + 40*38 + 1 = ED31
    epc = bytes.fromhex("1dc2 c6e2 da1d ed31")
    data = decode_uhf(epc, USER_BANK, strict=True)
    assert (data.owner_library, data.primary_item_id) == ("US-InU-Mu", "12345678")
    assert "owner_institution" not in data.elements


def test_encode_reproduces_the_standard_example() -> None:
    mem = encode_uhf("12345678.31", owner_library="CH-000134-1", afi=0xC2, set_info=(12, 3),
                     shelf_location="QA268.L55")
    assert isinstance(mem, UhfMemory)
    assert mem.epc == EPC_BANK
    with pytest.raises(TagFormatError) as exc:  # two owners: refused, never guessed
        encode_uhf("1", owner_library="CH-000134-1", owner_institution="US-InU-Mu")
    assert exc.value.field == "owner_institution"


def test_encode_user_bank_byte_exact() -> None:
    # owner in user memory (dp2's "oi_in_userbank" style): the page-52 objects exactly
    mem = encode_uhf("12345678", afi=0xC2, set_info=(12, 3), shelf_location="QA268.L55",
                     owner_institution="US-InU-Mu")
    assert mem.user == USER_BANK
    assert mem.epc == bytes.fromhex("1dc2 c6e2 da1d ed31")  # as above; UMI set: user data


def test_no_user_data_clears_umi() -> None:
    mem = encode_uhf("12345678.31", owner_library="CH-000134-1", afi=0xC2)
    assert mem.user == b""
    assert mem.epc == bytes.fromhex("41c2") + UII_BYTES


def test_pc_afi_and_with_afi() -> None:
    assert pc_afi(EPC_BANK) == 0xC2
    secured = with_afi(EPC_BANK, 0x07)
    assert secured == bytes.fromhex("4507") + UII_BYTES
    assert pc_afi(secured) == 0x07
    assert decode_uhf(secured, strict=True).uii == UII_TEXT
    assert pc_afi(FACTORY_BLANK) is None
    with pytest.raises(TagFormatError) as exc:
        with_afi(FACTORY_BLANK, 0x07)
    assert exc.value.field == "pc.toggle"
    with pytest.raises(TagFormatError):
        with_afi(EPC_BANK, 256)
    with pytest.raises(TagFormatError) as exc:
        pc_afi(b"\x45")
    assert (exc.value.field, exc.value.offset) == ("pc", 0)


def test_factory_blank_is_an_epc_not_a_library_uii() -> None:
    data = decode_uhf(FACTORY_BLANK)
    assert (data.toggle, data.afi, data.attribute_bits, data.length_words) == (False, None, 0, 6)
    assert data.epc_hex == "E200123456789ABCDEF01122"
    assert data.primary_item_id == "" and data.problems
    with pytest.raises(TagFormatError) as exc:
        decode_uhf(FACTORY_BLANK, strict=True)
    assert (exc.value.field, exc.value.offset) == ("pc.toggle", 0)


def test_truncated_uii_is_named() -> None:
    with pytest.raises(TagFormatError) as exc:
        decode_uhf(EPC_BANK[:-2], strict=True)
    assert exc.value.field == "uii"
    lenient = decode_uhf(EPC_BANK[:-2])
    assert lenient.uii == "CH-000134-1.12345678." and lenient.problems


def test_other_dsfid_is_unsupported() -> None:
    # dp2 TestUHF: a university-consortium ("GXLM") user bank starting 0C, not ISO 28560-4
    user = bytes.fromhex("0c02d9941404000100012c0038")
    with pytest.raises(UnsupportedConstruct) as exc:
        decode_uhf(EPC_BANK, user, strict=True)
    assert (exc.value.field, exc.value.offset) == ("dsfid", 0)


# dp2 TestUHF.test_detect_01, a real tag: CRC 1303 | PC 2907 = L 5, UMI 0, XI 0, T 1, AFI 07
# CD22: 52513 = 32*1600 + 32*40 + 33 -> "223"; D385: 54148 = 33,33,28 -> "33.";
# 114F: 4430 = 2,30,30 -> "B00"; C04F -> "000" (dp2 vector above); C0D1: 49360 = 30,34,0 -> "04"
REAL_SECURED = bytes.fromhex("1303 2907 CD22 D385 114F C04F C0D1")
# dp2 TestUHF.display_epc_2 ("vendor 02"): CRC A362 | PC 3D07 = L 7, UMI 1, T 1, AFI 07 |
# 150C: 5387 = 3,14,27 -> "CN-"; C6B7: 50870 = 31,31,30 -> "110"; C697: 50838 = 31,30,38
# -> "108"; ADB4: 44467 = 27,31,27 -> "-1-"; 5964: 22883 = 14,12,3 -> "NLC";
# B3CF: 46030 = 28,30,30 -> ".00"; C1C1: 49600 = 31,0,0 -> "1" | 23EF: a word after L
REAL_VENDOR_02 = bytes.fromhex("A362 3D07 150C C6B7 C697 ADB4 5964 B3CF C1C1 23EF")
# dp2 TestUHF.display_epc_3 / _4: university-consortium tags, PC 3000 / 3400: toggle 0
REAL_EPC_03 = bytes.fromhex("DAD53000170328087903000084560000")
REAL_EPC_04 = bytes.fromhex("24E634008003005338130058B9070000")


def test_real_secured_tag() -> None:
    data = decode_uhf(REAL_SECURED[2:], strict=True)
    assert (data.afi, data.toggle, data.umi, data.length_words) == (0x07, True, False, 5)
    assert data.uii == "22333.B0000004"
    # dp2's rule: the text before the first '.' is the owner (here a local library code)
    assert (data.owner_library, data.primary_item_id) == ("22333", "B0000004")
    assert data.problems == ()


def test_real_vendor_tag_with_a_word_after_the_uii() -> None:
    data = decode_uhf(REAL_VENDOR_02[2:], strict=True)
    assert (data.afi, data.toggle, data.umi, data.length_words) == (0x07, True, True, 7)
    assert data.uii == "CN-110108-1-NLC.001"
    assert (data.owner_library, data.primary_item_id) == ("CN-110108-1-NLC", "001")
    assert data.epc_hex == "150CC6B7C697ADB45964B3CFC1C1"  # 23EF is not part of the UII


@pytest.mark.parametrize("bank", [REAL_EPC_03, REAL_EPC_04])
def test_real_consortium_tags_are_epcs(bank: bytes) -> None:
    data = decode_uhf(bank[2:])
    assert (data.toggle, data.afi, data.length_words) == (False, None, 6)
    assert data.primary_item_id == "" and data.problems
    assert pc_afi(bank[2:]) is None


@pytest.mark.parametrize("bank", [REAL_SECURED, REAL_VENDOR_02, REAL_EPC_03, REAL_EPC_04])
def test_stored_crc_of_real_tags(bank: bytes) -> None:
    assert stored_crc(bank[2:]) == int.from_bytes(bank[:2], "big")


def test_stored_crc_needs_the_announced_words() -> None:
    with pytest.raises(TagFormatError) as exc:
        stored_crc(bytes.fromhex("4500"))  # announces 8 words, none follow
    assert exc.value.field == "uii"
    with pytest.raises(TagFormatError):
        stored_crc(b"\x45")


def test_item_id_with_a_dot_needs_an_owner() -> None:
    with pytest.raises(TagFormatError) as exc:
        encode_uhf("12345678.31")
    assert exc.value.field == "primary_item_id"
    with pytest.raises(TagFormatError) as exc:
        encode_uhf("1", owner_library="VN.HN")
    assert exc.value.field == "owner_library"


# dp2's segmentation rule (TestUHF Test_splitSegment_09/_10, 2025): leading zeros stay in
# the URN Code 40 table, a run of 9+ digits not starting with 0 is a long numeric string.
# Words by hand: "CN-" 150C (as the real tag above), "000" C04F, "1-Z" = 31,27,26 -> C613,
# "G." = 7,28,0 -> 3021, "G.0" -> 303F, "003" -> C052, "876" -> F36D, "24" -> CD51;
# 387624000 = 0x171AAC40 (4 bytes, 9 digits: FB 00); 123456789012 = 0x1CBE991A14 (FB 31)
@pytest.mark.parametrize(("text", "hexed"), [
    ("CN-0000001-ZG.387624000", "150C C04F C04F C613 3021 FB00 171A AC40"),
    ("CN-0000001-ZG.000387624", "150C C04F C04F C613 303F C052 F36D CD51"),
    ("0123456789012", "BB81 FB31 1CBE 991A 1400"),  # "0" = 30,0,0 -> BB81
])
def test_segmentation_rule(text: str, hexed: str) -> None:
    assert encode_uii(text) == bytes.fromhex(hexed)
    assert decode_uii(bytes.fromhex(hexed), Problems(False)) == text


def test_long_numeric_keeps_its_leading_zeros() -> None:
    # FB 00: 9 digits in 4 bytes; 0x3039 = 12345 -> "000012345" (dp2's decoder drops them)
    assert decode_uii(bytes.fromhex("FB00 0000 3039"), Problems(False)) == "000012345"
    with pytest.raises(TagFormatError) as exc:  # 10 digits do not fit the 9 announced
        decode_uii(bytes.fromhex("FB00 4A81 7C80 00"), Problems(False))
    assert (exc.value.field, exc.value.offset) == ("uii", 2)


@pytest.mark.parametrize(("hexed", "field_offset"), [
    ("FB21 02DD", ("uii", 2)),        # long numeric string cut off
    ("FC", ("uii", 2)),               # ISO 646 escape without its byte
    ("FC1F", ("uii", 2)),             # ... or with a control character
    ("FDC3", ("uii", 2)),             # 2-byte UTF-8 cut off
    ("FEE4B8", ("uii", 2)),           # 3-byte UTF-8 cut off
    ("141C FA01", ("uii", 4)),        # a word above FA00
    ("0001", ("uii", 2)),             # a word with no character
])
def test_bad_uii_names_field_and_offset(hexed: str, field_offset: tuple[str, int]) -> None:
    with pytest.raises(TagFormatError) as exc:
        decode_uii(bytes.fromhex(hexed), Problems(False))
    assert (exc.value.field, exc.value.offset) == field_offset


def test_reserved_escape_is_unsupported() -> None:
    with pytest.raises(UnsupportedConstruct) as exc:
        decode_uii(bytes.fromhex("141C FF00"), Problems(False))
    assert (exc.value.field, exc.value.offset) == ("uii", 4)


def test_escapes_round_trip() -> None:
    # by hand: "a" -> FC 61; "é" (C3 A9) -> FD C3 A9; "中" (E4 B8 AD) -> FE E4 B8 AD; pad 00
    assert encode_uii("aé中") == bytes.fromhex("FC61 FDC3 A9FE E4B8 AD00")
    assert decode_uii(bytes.fromhex("FC61 FDC3 A9FE E4B8 AD00"), Problems(False)) == "aé中"
    with pytest.raises(TagFormatError):
        encode_uii("\U0001F600")  # 4-byte UTF-8: no escape
    with pytest.raises(TagFormatError):
        encode_uii("A\tB")


def test_blank_uii_is_a_warning() -> None:
    data = decode_uhf(bytes.fromhex("01C2"), strict=True)  # L 0, T 1, AFI C2
    assert data.primary_item_id == "" and data.uii == ""
    assert data.warnings and data.problems == data.warnings


# User banks by hand (precursor = compaction << 4 | OID): content parameter 02 01 xx where
# 80 = element 3, 40 = 4, 10 = 6; set information 14 02 04B3 = "1203"; shelf location
# 46 07 ... as in the standard's example
@pytest.mark.parametrize(("user", "field", "strict_raises"), [
    ("06 0201 D0 1402 04B3 0000", "content_parameter", True),   # lists 3 and 6: missing
    ("06 0201 40 1402 04B3 4607 441C B6E2 E335 D600", "content_parameter", False),  # 6 unlisted
    ("06 1101 3100", "primary_item_identifier", True),           # item "49" in user memory
    ("06 0201 40 1402", "set_information", True),                # cut inside an object
])
def test_user_memory_consistency(user: str, field: str, strict_raises: bool) -> None:
    banks = (EPC_BANK, bytes.fromhex(user))
    lenient = decode_uhf(*banks)
    assert any(f"field {field}" in p for p in lenient.problems)
    if strict_raises:
        with pytest.raises(TagFormatError) as exc:
            decode_uhf(*banks, strict=True)
        assert exc.value.field == field
    else:
        assert decode_uhf(*banks, strict=True).warnings


def test_as_tag_data_for_kiosks_and_gates() -> None:
    data = decode_uhf(EPC_BANK, USER_BANK, strict=True).to_tag_data()
    assert (data.format, data.primary_item_id, data.isil, data.country) == (
        "iso28560-4", "12345678.31", "CH-000134-1", "CH")
    assert (data.parts_in_item, data.part_number, data.type_of_usage) == (12, 3, 6)
    # a type of usage 0x13: circulating, not for issue while offline (ISO 28560-1)
    user = bytes.fromhex("06 0201 20 6501 1300")  # content parameter: element 5; 65 01 13
    tagged = decode_uhf(bytes.fromhex("01C2"), user, strict=True)
    assert tagged.type_of_usage_code == 0x13
    assert tagged.to_tag_data().forbids_offline_issue
