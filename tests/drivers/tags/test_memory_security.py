"""TagMemory, block helpers, type of usage and SecurityPolicy."""

from __future__ import annotations

import pytest

from drivers.errors import TagFormatError
from drivers.tags import (
    ItemTagData,
    SecurityPolicy,
    SecurityState,
    TagMemory,
    blocks_from_bytes,
    bytes_from_blocks,
    decode_tag,
    encode_tag,
)

UID = bytes.fromhex("E0 04 01 50 12 34 56 78")  # NXP (0x04) per protocols.md section 3


def test_blocks_both_orders() -> None:
    data = bytes(range(8))
    assert blocks_from_bytes(data) == [b"\x00\x01\x02\x03", b"\x04\x05\x06\x07"]
    assert blocks_from_bytes(data, reversed_blocks=True) == [b"\x03\x02\x01\x00",
                                                             b"\x07\x06\x05\x04"]
    assert bytes_from_blocks([b"\x03\x02\x01\x00"], reversed_blocks=True) == b"\x00\x01\x02\x03"
    assert blocks_from_bytes(b"\x01\x02\x03\x04\x05") == [b"\x01\x02\x03\x04", b"\x05\x00\x00\x00"]


def test_tag_memory_model() -> None:
    tag = TagMemory.blank(UID, dsfid=0, afi=0x07, eas=True)
    assert (tag.block_count, tag.manufacturer_name, tag.uid_wire[0]) == (28, "NXP", 0x78)
    tag = tag.with_data(encode_tag(ItemTagData("123")))
    assert decode_tag(tag.data).primary_item_id == "123"
    locked = tag.with_lock(1)
    with pytest.raises(TagFormatError):
        locked.with_blocks(1, [b"\x00" * 4])
    with pytest.raises(TagFormatError):
        TagMemory(uid=b"\x01" * 8, data=b"")
    with pytest.raises(TagFormatError):
        tag.read_blocks(27, 2)


def test_type_of_usage_and_offline_qualifiers() -> None:
    mem = encode_tag(ItemTagData("1", usage_qualifier=5), fmt="iso28560-2")
    d = decode_tag(mem, dsfid=6)
    assert d.forbids_offline and d.forbids_offline_issue and d.forbids_offline_return
    assert d.type_of_usage_name == "circulating item, not for issue or return while offline"
    d = decode_tag(encode_tag(ItemTagData("1", usage_qualifier=3), fmt="iso28560-2"), dsfid=6)
    assert d.forbids_offline_issue and not d.forbids_offline_return
    card = decode_tag(encode_tag(ItemTagData("P1", type_of_usage=8)))
    assert card.is_patron_card and card.item_kind == "patron_card" and not card.forbids_offline
    with pytest.raises(TagFormatError):
        encode_tag(ItemTagData("1", usage_qualifier=3))  # part 3 cannot store it


@pytest.mark.parametrize(("mode", "afi", "eas", "state"), [
    ("afi", 0x07, None, "secured"), ("afi", 0xC2, True, "released"), ("afi", 0x00, True, "unknown"),
    ("eas", 0x00, True, "secured"), ("eas", 0x07, False, "released"), ("eas", 0x07, None, "unknown"),
    ("both", 0x07, True, "secured"), ("both", 0xC2, False, "released"),
    ("both", 0x07, False, "unknown"),
])
def test_security_interpret(mode: str, afi: int, eas: bool | None, state: str) -> None:
    assert SecurityPolicy(mode=mode).interpret(afi, eas) == SecurityState(state)


def test_security_targets_and_alarm() -> None:
    both = SecurityPolicy(mode="both", afi_secured=0xDA, afi_released=0xD7)
    assert both.target("secured").afi == 0xDA and both.target("secured").eas is True
    assert both.target(SecurityState.RELEASED).afi == 0xD7
    assert SecurityPolicy(mode="eas").target("released").afi is None
    assert SecurityPolicy().target("released").eas is None
    assert both.should_alarm(0xD7, True) and not both.should_alarm(0xD7, False)
    with pytest.raises(TagFormatError):
        both.target("unknown")
    with pytest.raises(TagFormatError):
        SecurityPolicy(mode="rf")
    with pytest.raises(TagFormatError):
        SecurityPolicy(afi_secured=7, afi_released=7)
