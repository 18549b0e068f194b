"""Hypothesis round trips: encode then decode is the identity, in both block orders."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.errors import TagFormatError
from drivers.tags import ItemTagData, decode_tag, encode_tag, reverse_blocks

PRINTABLE = st.characters(min_codepoint=0x20, max_codepoint=0x7E)
UPPER = st.characters(min_codepoint=0x41, max_codepoint=0x5A)


@st.composite
def part3_items(draw: st.DrawFn) -> ItemTagData:
    parts = draw(st.integers(1, 255))
    return ItemTagData(
        primary_item_id=draw(st.text(PRINTABLE, min_size=1, max_size=16)),
        parts_in_item=parts, part_number=draw(st.integers(1, parts)),
        type_of_usage=draw(st.integers(0, 15)),
        country=draw(st.text(UPPER, min_size=2, max_size=2)),
        isil=draw(st.text(PRINTABLE, min_size=0, max_size=9).filter(lambda s: "-" not in s)),
        elements=draw(st.fixed_dictionaries({}, optional={
            "media_format_other": st.integers(0, 255),
            "extension_blocks": st.lists(EXTENSION_BLOCK, min_size=1, max_size=3),
        })),
    )


# Extension blocks kept raw: any 16-bit id but 1 (the library block, whose first data byte
# is media_format_other) and 0..20 data bytes: at most 32 + 5 + 3 * 24 = 109 bytes, so the
# image always fits a 28-block (112-byte) tag.
EXTENSION_BLOCK = st.fixed_dictionaries({
    "block_id": st.integers(0, 0xFFFF).filter(lambda i: i != 1),
    "data": st.binary(min_size=0, max_size=20).map(bytes.hex),
})


@settings(max_examples=300, deadline=None)
@given(part3_items(), st.booleans(), st.sampled_from([None, 28]), st.sampled_from([None, 1, 2]))
def test_part3_round_trip(item: ItemTagData, reverse: bool, blocks: int | None,
                          version: int | None) -> None:
    mem = encode_tag(item, blocks=blocks, version=version)
    if blocks:
        assert len(mem) == blocks * 4
    read = reverse_blocks(mem) if reverse else mem
    d = decode_tag(read)
    assert d.reversed_blocks == reverse and d.format == "iso28560-3" and d.crc_ok
    assert d.version == (version or 1) and d.detected_by == "version+crc"
    assert (d.primary_item_id, d.parts_in_item, d.part_number, d.type_of_usage) == (
        item.primary_item_id, item.parts_in_item, item.part_number, item.type_of_usage)
    assert d.country == item.country
    assert d.isil == (item.full_isil if item.isil else "")
    assert d.elements == item.elements
    assert d.problems == ()


TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
               min_size=1, max_size=40)
TEXT_ELEMENTS = ["shelf_location", "title", "local_data_a", "local_data_b", "local_data_c",
                 "supplier_identifier", "order_number", "gs1_product_identifier",
                 "alternative_item_identifier"]


@st.composite
def part2_items(draw: st.DrawFn) -> ItemTagData:
    parts = draw(st.integers(1, 255))
    elements = draw(st.dictionaries(st.sampled_from(TEXT_ELEMENTS), TEXT, max_size=4))
    if draw(st.booleans()):
        elements["supply_chain_stage"] = draw(st.integers(0, 255))
    prefix = draw(st.text(UPPER, min_size=2, max_size=2))
    return ItemTagData(
        primary_item_id=draw(st.one_of(st.text(PRINTABLE, min_size=1, max_size=30), TEXT)),
        parts_in_item=parts, part_number=draw(st.integers(1, parts)),
        type_of_usage=draw(st.integers(0, 15)), usage_qualifier=draw(st.integers(0, 15)),
        isil=prefix + "-" + draw(TEXT),  # Unicode ISILs are allowed in part 2 (UTF-8)
        elements=elements,
    )


@settings(max_examples=300, deadline=None)
@given(part2_items(), st.booleans(), st.sampled_from([4, 8]))
def test_part2_round_trip(item: ItemTagData, reverse: bool, block_size: int) -> None:
    mem = encode_tag(item, fmt="iso28560-2", block_size=block_size)
    assert len(mem) % block_size == 0
    reverse = reverse and block_size == 4  # readers reverse 4-byte blocks only
    read = reverse_blocks(mem) if reverse else mem
    d = decode_tag(read, dsfid=0x06, fmt="iso28560-2", reversed_blocks=reverse)
    assert d.reversed_blocks == reverse
    assert d.format == "iso28560-2" and d.problems == ()
    assert (d.primary_item_id, d.parts_in_item, d.part_number) == (
        item.primary_item_id, item.parts_in_item, item.part_number)
    assert (d.type_of_usage, d.usage_qualifier) == (item.type_of_usage, item.usage_qualifier)
    assert d.isil == item.isil and d.country == item.isil[:2]
    assert d.elements == item.elements


@settings(max_examples=200, deadline=None)
@given(part2_items().filter(lambda i: i.primary_item_id.isascii()
                            and i.primary_item_id.isprintable()), st.booleans())
def test_part2_auto_detect_with_dsfid_both_orders(item: ItemTagData, reverse: bool) -> None:
    """The given order always decodes; a block-reversed read gives the right item or a typed
    error, never a wrong item (docs/tags.md, "ISO 28560-2 block order": a reversed read that
    frames like a forward one is kept and its error reported, about 1 in 5,000)."""
    mem = encode_tag(item, fmt="iso28560-2")
    if reverse:
        try:
            d = decode_tag(reverse_blocks(mem), dsfid=0x06)
        except TagFormatError:
            return
    else:
        d = decode_tag(mem, dsfid=0x06)
    assert d.format == "iso28560-2" and d.reversed_blocks == reverse
    assert d.primary_item_id == item.primary_item_id
