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
