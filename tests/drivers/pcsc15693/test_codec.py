"""The sans-IO frames of pcsc15693, pinned by published bytes.

Golden vectors: the ACS ACR1552 + ICODE SLI transcript published on the NXP community
(docs/desktop-readers.md, "Sources"), and ISO/IEC 15693-3 / ICODE SLIX frame layouts
written out by hand.
"""

from __future__ import annotations

import pytest

from drivers.errors import DriverArgumentError, FrameError
from drivers.pcsc15693 import iso15693 as iso
from drivers.pcsc15693 import transparent as ts
from tests.drivers.pcsc15693.support import hexb

UID = hexb("E004015012345678")  # E0 first; on the air: 78 56 34 12 50 01 04 E0


def test_session_apdus_match_the_published_transcript() -> None:
    assert ts.start_session() == hexb("FF C2 00 00 02 81 00 00")
    assert ts.switch_protocol() == hexb("FF C2 00 02 04 8F 02 02 03")
    assert ts.exchange(hexb("02 2B")) == hexb("FF C2 00 01 04 95 02 02 2B 00")
    assert ts.exchange(hexb("42 20 00")) == hexb("FF C2 00 01 05 95 03 42 20 00 00")
    assert ts.end_session() == hexb("FF C2 00 00 02 82 00 00")


def test_exchange_with_timer_matches_the_published_fix() -> None:
    # "ff c2 00 01 10 5f 46 04 40 42 0f 00 95 07 02 21 00 00 01 02 03 00"
    assert ts.exchange(hexb("02 21 00 00 01 02 03"), timeout_us=1_000_000) == hexb(
        "FF C2 00 01 10 5F 46 04 40 42 0F 00 95 07 02 21 00 00 01 02 03 00")


def test_exchange_answer_with_system_information() -> None:
    answer = ts.parse_answer(hexb("C0 03 00 90 00 92 01 00 96 02 00 00 97 0F 00 0F 2E 98 5C 8A"
                                  " 00 01 04 E0 00 00 1B 03 01"))
    assert answer.ok and answer.valid_bits == 0 and answer.response_status == hexb("00 00")
    card = iso.parse_answer(answer.card_answer or b"")
    assert card.ok and card.flags == 0
    info = iso.parse_system_info(card.data)
    assert info == iso.TagSystemInfo(uid=hexb("E0 04 01 00 8A 5C 98 2E"), dsfid=0, afi=0,
                                     block_count=28, block_size=4, ic_ref=1)


def test_exchange_answers_read_block_and_timeout() -> None:
    read = ts.parse_answer(hexb("C0 03 00 90 00 92 01 00 96 02 00 00 97 06 00 00 00 11 22 33"))
    assert read.card_answer == hexb("00 00 00 11 22 33")
    late = ts.parse_answer(hexb("C0 03 01 64 01"))
    assert not late.ok and late.error_index == 1 and late.error_sw == ts.SW_NO_ANSWER
    assert late.card_answer is None
    assert ts.parse_answer(hexb("C0 03 00 90 00 8F 01 00")).ok  # SWITCH PROTOCOL


@pytest.mark.parametrize("bad", ["", "C0 02 00 90", "97 05 00 00", "C0 03 00 90", "5F"])
def test_malformed_exchange_answers_are_frame_errors(bad: str) -> None:
    with pytest.raises(FrameError):
        ts.parse_answer(hexb(bad))


def test_long_objects_use_the_81_length_form() -> None:
    frame = bytes([0x02, 0x21]) + bytes(0x7F)
    apdu = ts.exchange(frame)
    assert apdu[5:8] == hexb("95 81 81") and apdu[-1] == 0
    assert ts.parse_objects(hexb("97 81 80") + bytes(0x80)) == [(0x97, bytes(0x80))]
    with pytest.raises(DriverArgumentError):
        ts.exchange(b"")


def test_iso15693_requests_by_hand() -> None:
    air = "78 56 34 12 50 01 04 E0"
    assert iso.get_system_info(UID) == hexb(f"22 2B {air}")
    assert iso.write_afi(UID, 0x07) == hexb(f"22 27 {air} 07")
    assert iso.lock_afi(UID) == hexb(f"22 28 {air}")
    assert iso.write_dsfid(UID, 0x06) == hexb(f"22 29 {air} 06")
    assert iso.lock_dsfid(UID) == hexb(f"22 2A {air}")
    assert iso.get_block_security(UID, 5, 4) == hexb(f"22 2C {air} 05 03")
    assert iso.nxp_eas(iso.NXP_SET_EAS, UID) == hexb(f"22 A2 04 {air}")
    assert iso.nxp_eas(iso.NXP_RESET_EAS, UID) == hexb(f"22 A3 04 {air}")
    assert iso.nxp_eas(iso.NXP_EAS_ALARM, None) == hexb("02 A5 04")
    assert iso.stay_quiet(UID) == hexb(f"22 02 {air}")
    assert iso.select(UID) == hexb(f"22 25 {air}")
    assert iso.reset_to_ready(None) == hexb("02 26")


def test_iso15693_answers() -> None:
    assert iso.parse_answer(hexb("01 12")) == iso.Answer(0x01, b"", 0x12)
    assert iso.parse_answer(hexb("00 01 02")) == iso.Answer(0x00, hexb("01 02"), None)
    for bad in ("", "01"):
        with pytest.raises(FrameError):
            iso.parse_answer(hexb(bad))
    with pytest.raises(FrameError):
        iso.parse_system_info(hexb("0F 2E 98 5C 8A 00 01 04 E0 00"))  # flags announce 14 bytes
    with pytest.raises(FrameError):
        iso.nxp_eas(0xA4, UID)
    short = iso.parse_system_info(hexb("00 2E 98 5C 8A 00 01 04 E0"))
    assert short.dsfid is None and short.block_size is None
