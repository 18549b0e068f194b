"""``SimDeskReaderTag``: the simulated desk reader answers hand-written APDUs as each
family's manual says (no driver code involved)."""

from __future__ import annotations

import pytest

from hardware_sim.card import SimCardDevice, SimDeskReaderTag
from hardware_sim.errors import CardSimError
from hardware_sim.tag import SimTag

AIR = "78 56 34 12 50 01 04 E0"


def _card(family: str, **kw: object) -> SimDeskReaderTag:
    return SimDeskReaderTag(SimTag(uid=bytes.fromhex("E004015012345678"), **kw), family)


def ask(card: SimDeskReaderTag, apdu: str) -> str:
    return card.handle_apdu(bytes.fromhex(apdu)).hex(" ").upper()


@pytest.mark.parametrize("family", ["acs", "omnikey"])
def test_get_data_and_blocks(family: str) -> None:
    card = _card(family)
    card.tag.memory[8:12] = b"\x11\x22\x33\x44"
    assert ask(card, "FF CA 00 00 00") == "E0 04 01 50 12 34 56 78 90 00"
    le = "04" if family == "acs" else "00"
    assert ask(card, f"FF B0 00 02 {le}") == "11 22 33 44 90 00"
    assert ask(card, "FF D6 00 1B 04 DE AD BE EF") == "90 00"
    assert bytes(card.tag.memory[108:112]) == bytes.fromhex("DEADBEEF")


def test_status_words_per_family() -> None:
    acs, omni = _card("acs", locked={3}), _card("omnikey", locked={3})
    assert ask(acs, "FF B0 00 1C 04") == "63 00"
    assert ask(omni, "FF B0 00 1C 00") == "6A 82"
    assert ask(acs, "FF D6 00 03 04 00 00 00 00") == "63 00"
    assert ask(omni, "FF D6 00 03 04 00 00 00 00") == "65 81"
    assert ask(acs, "FF B0 00 00 00") == "67 00"  # ACS: Le counts bytes
    assert ask(acs, "FF B0 00 00 08")[-5:] == "90 00"  # two blocks
    assert ask(omni, "FF D6 00 00 02 00 00") == "67 00"
    omni.fail_writes = 1
    assert ask(omni, "FF D6 00 00 04 01 02 03 04") == "65 81"
    assert bytes(omni.tag.memory[:4]) == bytes(4)


def test_transparent_session_acs() -> None:
    card = _card("acs")
    get_info = f"FF C2 00 01 0C 95 0A 22 2B {AIR} 00"
    assert ask(card, get_info) == "69 86"  # no session yet
    assert ask(card, "FF C2 00 00 02 81 00 00") == "C0 03 00 90 00 90 00"
    assert ask(card, get_info) == "C0 03 01 64 01 90 00"  # still on ISO 14443: silence
    assert ask(card, "FF C2 00 02 04 8F 02 02 03") == "C0 03 00 90 00 8F 01 00 90 00"
    assert ask(card, get_info) == (
        f"C0 03 00 90 00 92 01 00 96 02 00 00 97 0F 00 0F {AIR} 00 00 1B 03 01 90 00")
    # WRITE AFI without a timer: written, but reported as no answer in time (64 01)
    assert ask(card, f"FF C2 00 01 0D 95 0B 22 27 {AIR} 07 00") == "C0 03 01 64 01 90 00"
    assert card.tag.afi == 0x07
    assert ask(card, f"FF C2 00 01 14 5F 46 04 40 42 0F 00 95 0B 22 27 {AIR} 09 00") == (
        "C0 03 00 90 00 92 01 00 96 02 00 00 97 01 00 90 00")
    assert card.tag.afi == 0x09
    assert ask(card, "FF C2 00 00 02 82 00 00") == "C0 03 00 90 00 90 00"


def test_transparent_session_omnikey_iso_commands() -> None:
    card = _card("omnikey")
    ok = "C0 03 00 90 00 92 01 00 96 02 00 00 97"
    assert ask(card, "FF C2 00 00 02 81 00 00") == "C0 03 00 90 00 90 00"
    assert ask(card, f"FF C2 00 01 0D 95 0B 22 A2 04 {AIR} 00") == f"{ok} 01 00 90 00"
    assert card.tag.eas is True
    assert ask(card, "FF C2 00 01 05 95 03 02 A5 04 00").startswith(f"{ok} 21 00 ")
    assert ask(card, f"FF C2 00 01 0C 95 0A 22 28 {AIR} 00") == f"{ok} 01 00 90 00"
    assert ask(card, f"FF C2 00 01 0D 95 0B 22 27 {AIR} 07 00") == f"{ok} 02 01 12 90 00"
    assert ask(card, f"FF C2 00 01 0C 95 0A 22 02 {AIR} 00") == "C0 03 01 64 01 90 00"
    assert card.tag.quiet  # Stay Quiet: no answer; quiet tags ignore non-addressed commands
    assert ask(card, "FF C2 00 01 05 95 03 02 A5 04 00") == "C0 03 01 64 01 90 00"
    assert ask(card, "FF C2 00 01 04 95 02 02 26 00") == f"{ok} 01 00 90 00"
    assert not card.tag.quiet
    other = "11 22 33 44 50 01 04 E0"
    assert ask(card, f"FF C2 00 01 0C 95 0A 22 2B {other} 00") == "C0 03 01 64 01 90 00"
    assert ask(card, "FF C2 00 01 04 95 02 02 40 00") == f"{ok} 02 01 01 90 00"


def test_faults_need_a_desk_tag() -> None:
    dev = SimCardDevice()
    with pytest.raises(CardSimError):
        dev.fault("write-fail")
    with pytest.raises(CardSimError):
        SimDeskReaderTag(SimTag(uid=bytes.fromhex("E004015012345678")), "scm")


def test_control_plane_builds_desk_tags() -> None:
    from hardware_sim.card import make_card

    card = make_card(uid="E004015012345678", kind="iso15693-acs")
    assert isinstance(card, SimDeskReaderTag) and card.family == "acs"
    assert card.describe()["tag"]["uid"] == "E004015012345678"
    with pytest.raises(CardSimError):
        make_card(uid="04A2246A11223344", kind="iso15693-omnikey")  # not an E0 UID
