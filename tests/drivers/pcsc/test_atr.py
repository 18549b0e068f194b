"""ATR parsing and classification against golden ATRs.

Sources of the hex literals:
- protocols.md §5 (verified with pcscd 1.9.9 + vpcd): the ICODE SLI (ISO 15693) storage
  ATR and the MIFARE Classic 1K ATR;
- public PC/SC applications' ATR tables (independent of this code): MIFARE Classic 4K
  ``... 03 00 02 00 00 00 00 69``, MIFARE Ultralight ``... 03 00 03 00 00 00 00 68``,
  MIFARE DESFire EV1 ``3B 81 80 01 80 80``;
- Ludovic Rousseau's smartcard_list (pcsc-tools, /usr/share/pcsc/smartcard_list.txt):
  ``3B 02 14 50`` (Schlumberger Multiflex 3k, T=0, no TCK), ``3B 86 80 01 06 75 77 81 02
  80 00`` (NXP MIFARE DESFire EV1 8K, whole ATS copied), ``3B 84 80 01 80 82 90 00 97``
  (German passport), ``3B 8C 80 01 59 75 62 69 6B 65 79 4E 45 4F 72 33 58`` (YubiKey
  NEO), ``3B 80 80 01 01`` (ISO 14443 type B without historical bytes).
"""

from __future__ import annotations

import pytest

from drivers.errors import AtrError
from drivers.pcsc.atr import CardKind, parse_atr, storage_atr

ICODE_SLI = bytes.fromhex("3B 8F 80 01 80 4F 0C A0 00 00 03 06 0B 00 14 00 00 00 00 77")
MIFARE_1K = bytes.fromhex("3B 8F 80 01 80 4F 0C A0 00 00 03 06 03 00 01 00 00 00 00 6A")
MIFARE_4K = bytes.fromhex("3B 8F 80 01 80 4F 0C A0 00 00 03 06 03 00 02 00 00 00 00 69")
ULTRALIGHT = bytes.fromhex("3B 8F 80 01 80 4F 0C A0 00 00 03 06 03 00 03 00 00 00 00 68")
DESFIRE = bytes.fromhex("3B 81 80 01 80 80")
MULTIFLEX = bytes.fromhex("3B 02 14 50")
DESFIRE_EV1_WHOLE_ATS = bytes.fromhex("3B 86 80 01 06 75 77 81 02 80 00")
PASSPORT = bytes.fromhex("3B 84 80 01 80 82 90 00 97")
YUBIKEY_NEO = bytes.fromhex("3B 8C 80 01 59 75 62 69 6B 65 79 4E 45 4F 72 33 58")
TYPE_B_NO_HISTORY = bytes.fromhex("3B 80 80 01 01")


@pytest.mark.parametrize(("raw", "kind", "standard", "name", "name_text"), [
    (ICODE_SLI, CardKind.ISO15693, 0x0B, 0x0014, "ICODE SLI"),
    (MIFARE_1K, CardKind.MIFARE_CLASSIC, 0x03, 0x0001, "MIFARE Classic 1K"),
    (MIFARE_4K, CardKind.MIFARE_CLASSIC, 0x03, 0x0002, "MIFARE Classic 4K"),
    (ULTRALIGHT, CardKind.MIFARE_ULTRALIGHT, 0x03, 0x0003, "MIFARE Ultralight"),
])
def test_storage_card_atrs(raw: bytes, kind: CardKind, standard: int, name: int,
                           name_text: str) -> None:
    atr = parse_atr(raw)
    assert atr.kind is kind
    assert atr.storage is not None
    assert atr.storage.standard == standard
    assert atr.storage.card_name == name
    assert atr.storage.card_name_text == name_text
    assert atr.protocols == (0, 1)
    assert atr.interface_bytes == (("TD1", 0x80), ("TD2", 0x01))
    assert atr.historical == raw[4:19]
    assert atr.tck == raw[-1]


def test_standard_texts() -> None:
    assert parse_atr(ICODE_SLI).storage.standard_text == "ISO 15693 part 3"  # type: ignore[union-attr]
    assert parse_atr(MIFARE_1K).storage.standard_text == "ISO 14443 A part 3"  # type: ignore[union-attr]


def test_desfire_is_iso14443_4_with_desfire_history() -> None:
    atr = parse_atr(DESFIRE)
    assert atr.kind is CardKind.DESFIRE
    assert atr.storage is None
    assert atr.historical == b"\x80"
    assert atr.ats_historical == b"\x80"
    assert atr.tck == 0x80


def test_desfire_whole_ats_form() -> None:
    # a reader that copies the whole ATS: TL 06, T0 75 (TA TB TC follow), 77 81 02, then
    # the historical byte 80
    atr = parse_atr(DESFIRE_EV1_WHOLE_ATS)
    assert atr.kind is CardKind.DESFIRE
    assert atr.historical == bytes.fromhex("06 75 77 81 02 80")
    assert atr.ats_historical == b"\x80"


def test_other_iso14443_4_card() -> None:
    # 3B 82 80 01 | hist 80 73 | TCK = 82^80^01^80^73 = 0xF0 (computed by hand)
    atr = parse_atr(bytes.fromhex("3B 82 80 01 80 73 F0"))
    assert atr.kind is CardKind.ISO14443_4


@pytest.mark.parametrize(("raw", "ats"), [
    (PASSPORT, bytes.fromhex("80 82 90 00")),   # starts with 80, but carries data
    (YUBIKEY_NEO, b"YubikeyNEOr3"),              # a proprietary category indicator
    (TYPE_B_NO_HISTORY, b""),
])
def test_non_desfire_iso14443_4_cards(raw: bytes, ats: bytes) -> None:
    atr = parse_atr(raw)
    assert atr.kind is CardKind.ISO14443_4
    assert atr.storage is None
    assert atr.ats_historical == ats


def test_storage_and_contact_atrs_have_no_ats() -> None:
    assert parse_atr(ICODE_SLI).ats_historical is None
    assert parse_atr(MULTIFLEX).ats_historical is None


def test_contact_card_t0_has_no_tck() -> None:
    atr = parse_atr(MULTIFLEX)
    assert atr.tck is None
    assert atr.protocols == (0,)
    assert atr.historical == b"\x14\x50"
    assert atr.kind is CardKind.UNKNOWN


def test_unknown_storage_card_name() -> None:
    # standard 0x03, card name 0x00 0x99 (not in the table): TCK by hand =
    # 8F^80^01^80^4F^0C^A0^00^00^03^06^03^00^99 = 0xF2
    raw = bytes.fromhex("3B 8F 80 01 80 4F 0C A0 00 00 03 06 03 00 99 00 00 00 00 F2")
    atr = parse_atr(raw)
    assert atr.kind is CardKind.UNKNOWN
    assert atr.storage is not None and atr.storage.card_name_text == "unknown card 0x0099"


@pytest.mark.parametrize(("raw", "msg"), [
    (b"", "too short"),
    (b"\x3b", "too short"),
    (bytes.fromhex("3C 8F"), "TS byte is 0x3C"),
    (MIFARE_1K[:-1], "no TCK"),
    (MIFARE_1K[:-1] + b"\x6b", "TCK is 0x6B, expected 0x6A"),
    (MIFARE_1K[:10], "truncated in historical bytes"),
    (bytes.fromhex("3B 8F 80"), "truncated in interface byte TD2"),
    (MULTIFLEX + b"\x00", "trailing"),
])
def test_bad_atrs(raw: bytes, msg: str) -> None:
    with pytest.raises(AtrError, match=msg):
        parse_atr(raw)


def test_storage_atr_builder_matches_golden() -> None:
    assert storage_atr(0x0B, 0x0014) == ICODE_SLI
    assert storage_atr(0x03, 0x0001) == MIFARE_1K
    assert storage_atr(0x03, 0x0003) == ULTRALIGHT


@pytest.mark.fuzz
def test_fuzz_parse_atr_raises_only_atr_error(fuzz_count: int) -> None:
    import random

    rng = random.Random(4242)
    seeds = [ICODE_SLI, MIFARE_1K, DESFIRE, MULTIFLEX]
    for _ in range(fuzz_count):
        raw = bytearray(rng.choice(seeds))
        for _ in range(rng.randrange(1, 4)):
            op = rng.randrange(3)
            if op == 0 and raw:
                raw[rng.randrange(len(raw))] = rng.randrange(256)
            elif op == 1 and raw:
                del raw[rng.randrange(len(raw)):]
            else:
                raw.insert(rng.randrange(len(raw) + 1), rng.randrange(256))
        try:
            atr = parse_atr(bytes(raw))
        except AtrError:
            continue
        assert atr.raw == bytes(raw)
