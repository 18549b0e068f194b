"""ISO/TS 28560-4 (UHF): hypothesis round trips, and decoders fed whole and cut short."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.errors import TagFormatError
from drivers.tags import decode_uhf, encode_uhf, pc_afi, with_afi

URN40 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ-.:0123456789"
# item ids: mostly URN Code 40 characters and digit runs (long numeric strings), also
# lowercase / other ASCII (ISO 646 escape) and 2- and 3-byte UTF-8 characters
ID_CHARS = st.one_of(st.sampled_from(URN40), st.sampled_from("0123456789"),
                     st.characters(min_codepoint=0x20, max_codepoint=0x7E),
                     st.characters(min_codepoint=0x80, max_codepoint=0xFFFF,
                                   blacklist_categories=("Cs", "Cc", "Cf", "Zl", "Zp", "Co",
                                                         "Cn", "Zs")))
ITEM_IDS = st.text(ID_CHARS, min_size=1, max_size=14)
ISILS = st.builds(lambda p, i: f"{p}-{i}", st.sampled_from(["VN", "DE", "CH", "US", "O"]),
                  st.text(st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abc/:-"),
                          min_size=1, max_size=8))
TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x24F,
                             blacklist_categories=("Cc", "Cs")), min_size=1, max_size=12)


@st.composite
def tags(draw: st.DrawFn) -> dict:
    spec: dict = {"afi": draw(st.sampled_from([0x07, 0xC2, 0x00, 0xFF]))}
    if draw(st.booleans()):
        spec["owner_library"] = draw(ISILS)
        spec["item_id"] = draw(ITEM_IDS)
    else:  # without an owner a '.' would read as OWNER.ITEM (tested apart)
        spec["item_id"] = draw(ITEM_IDS.filter(lambda s: "." not in s))
    if draw(st.booleans()):
        parts = draw(st.integers(1, 255))
        spec["set_info"] = (parts, draw(st.integers(1, parts)))
    if draw(st.booleans()):
        spec["type_of_usage"] = draw(st.integers(0, 255))
    for name in ("shelf_location", "title", "local_data_a", "alternative_item_identifier"):
        if draw(st.booleans()):
            spec[name] = draw(TEXT)
    return spec


def _encodable(spec: dict) -> bool:
    """The UII must fit the PC word's 31 words (an id can be too long with escapes); that
    is the only way a generated tag may fail to encode."""
    try:
        encode_uhf(**spec)
    except TagFormatError as exc:
        assert exc.field == "pc.length", exc
        return False
    return True


TAGS = tags().filter(_encodable)


@settings(max_examples=400, deadline=None)
@given(TAGS)
def test_round_trip(spec: dict) -> None:
    mem = encode_uhf(**spec)
    assert len(mem.epc) % 2 == 0 and len(mem.user) % 2 == 0
    assert mem.epc[0] & 0x01  # toggle: an ISO UII
    assert mem.epc[0] >> 3 == (len(mem.epc) - 2) // 2  # L counts the UII words
    assert bool(mem.epc[0] & 0x04) == bool(mem.user)  # UMI <=> user data
    data = decode_uhf(mem.epc, mem.user, strict=True)
    # a foreign AFI is a warning (listed, never raised); nothing else is reported
    assert data.problems == data.warnings
    assert len(data.warnings) == (spec["afi"] not in (0x07, 0xC2))
    assert (data.primary_item_id, data.owner_library, data.afi, data.toggle) == (
        spec["item_id"], spec.get("owner_library", ""), spec["afi"], True)
    assert data.set_info == spec.get("set_info")
    assert data.type_of_usage_code == spec.get("type_of_usage")
    others = {k: v for k, v in spec.items()
              if k not in ("item_id", "afi", "owner_library", "set_info", "type_of_usage")}
    got = {k: v for k, v in data.elements.items() if k != "content_parameter"}
    assert got == others
    # a whole EPC bank read (more words than L) decodes the same
    assert decode_uhf(mem.epc + bytes(8), mem.user, strict=True).uii == data.uii


@settings(max_examples=150, deadline=None)
@given(TAGS)
def test_cut_epc_bank_is_an_error_never_another_item(spec: dict) -> None:
    mem = encode_uhf(**spec)
    for cut in range(len(mem.epc)):
        with pytest.raises(TagFormatError) as exc:
            decode_uhf(mem.epc[:cut], mem.user, strict=True)
        assert exc.value.field in ("pc", "uii")
        lenient = decode_uhf(mem.epc[:cut], mem.user) if cut >= 2 else None
        assert lenient is None or lenient.problems


@settings(max_examples=150, deadline=None)
@given(TAGS)
def test_cut_user_memory_is_an_error_or_the_same_data(spec: dict) -> None:
    mem = encode_uhf(**spec)
    whole = decode_uhf(mem.epc, mem.user, strict=True)
    for cut in range(len(mem.user)):
        try:
            part = decode_uhf(mem.epc, mem.user[:cut], strict=True)
        except TagFormatError:
            continue
        if cut <= 1:  # nothing but the DSFID: no elements
            assert part.elements == {} and part.set_info is None
        else:  # only the terminator or the word pad was cut
            assert part == whole and part.elements == whole.elements


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=2, max_size=40), st.integers(0, 255))
def test_with_afi_changes_only_the_afi(epc: bytes, afi: int) -> None:
    epc = bytes((epc[0] | 0x01,)) + epc[1:]  # toggle set
    out = with_afi(epc, afi)
    assert pc_afi(out) == afi and out[0] == epc[0] and out[2:] == epc[2:]
    plain = bytes((epc[0] & 0xFE,)) + epc[1:]
    assert pc_afi(plain) is None
    with pytest.raises(TagFormatError):
        with_afi(plain, afi)
