"""Fuzz: random and mutated memory gives only TagFormatError (strict) or a result (lenient)."""

from __future__ import annotations

import random

import pytest

from drivers.errors import TagFormatError
from drivers.tags import ItemTagData, decode_tag, encode_tag, reverse_blocks

SEEDS = [
    encode_tag(ItemTagData("11223344", isil="DE-705")),
    encode_tag(ItemTagData("98765", parts_in_item=3, part_number=2, isil="VN-HN0001",
                           elements={"media_format_other": 2})),
    encode_tag(ItemTagData("0012345", isil="VN-HN0001", usage_qualifier=3,
                           elements={"title": "Lịch sử Việt Nam", "shelf_location": "A1"}),
               fmt="iso28560-2"),
    b"\x04\x11\x00\x011301234567\x00\x00\x00\x00\x00\x00" + bytes(12),
    # a Chinese vendor's ISO 28560-2 tag (corpus: vendor-zhiyan-1) and libdanrfid's blank tag
    bytes.fromhex("C102071100B0C30C30CA00000203A80008830203D6593F0000250110370210405F080599A713063F"),
    bytes.fromhex("11010100000000000000000000000000000000ca9f4445373035000000000000"),
]


def _mutate(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(5)
        if op == 0 and b:
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        elif op == 1 and b:
            b[rng.randrange(len(b))] = rng.randrange(256)
        elif op == 2:
            del b[rng.randrange(len(b) + 1):]
        elif op == 3:
            b.insert(rng.randrange(len(b) + 1), rng.randrange(256))
        else:
            b = bytearray(reverse_blocks(bytes(b)))
    return bytes(b)


@pytest.mark.fuzz
def test_decode_never_raises_anything_else(fuzz_count: int) -> None:
    rng = random.Random(28560)
    options = [{}, {"dsfid": 6}, {"fmt": "iso28560-3"}, {"fmt": "iso28560-2"},
               {"fmt": "rfid501"}, {"reversed_blocks": True}, {"reversed_blocks": False}]
    strict_errors = 0
    for i in range(fuzz_count):
        if i % 2:
            data = rng.randbytes(rng.randrange(0, 48))
        else:
            data = _mutate(rng, rng.choice(SEEDS))
        kw = options[i % len(options)]
        try:
            decode_tag(data, **kw)  # type: ignore[arg-type]
            raised = False
        except TagFormatError:
            raised = True
            strict_errors += 1
        lenient = decode_tag(data, lenient=True, **kw)  # type: ignore[arg-type]
        # warnings (an empty primary item id) are listed in both modes and never raise
        errors = [p for p in lenient.problems if p not in lenient.warnings]
        if raised:
            assert errors, data.hex()
        else:
            assert not errors, data.hex()
    assert 0 < strict_errors < fuzz_count  # both outcomes were exercised
