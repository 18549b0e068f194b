"""Fuzz (UHF, ISO/TS 28560-4): random and mutated EPC/user banks give only TagFormatError
(strict) or a result (lenient); a strict error <=> a lenient problem that is not a warning."""

from __future__ import annotations

import random

import pytest

from drivers.errors import TagFormatError
from drivers.tags import decode_uhf, encode_uhf
from tests.drivers.tags.test_fuzz import _mutate  # the HF fuzz test's mutations

_OWN = [encode_uhf("Sách-123456789012", owner_library="VN-HN0001", set_info=(3, 2),
                  type_of_usage=0x13, title="Lịch sử", shelf_location="A1"),
        encode_uhf("abc/é中", afi=0xC2, local_data_a="x")]
# (epc from word 1, user): the ISO/TS 28560-4 example (dp2 TestUHF), two real tags from the
# same file (AFI 07, one with a word after the UII), a plain EPC, and our own encodings
SEEDS = [
    (bytes.fromhex("45C2141CC04FC70BADB5C6E2DA1DED4DD319"),
     bytes.fromhex("060201D0140204B34607441CB6E2E335D65308AB4D6C9DD556CDEB00")),
    (bytes.fromhex("2907CD22D385114FC04FC0D1"), b""),
    (bytes.fromhex("3D07150CC6B7C697ADB45964B3CFC1C123EF"), b""),
    (bytes.fromhex("3000170328087903000084560000"), bytes(8)),
    *((m.epc, m.user) for m in _OWN),
]


@pytest.mark.fuzz
def test_decode_uhf_never_raises_anything_else(fuzz_count: int) -> None:
    rng = random.Random(285604)
    strict_errors = 0
    for i in range(fuzz_count):
        if i % 3 == 0:
            epc, user = rng.randbytes(rng.randrange(0, 40)), rng.randbytes(rng.randrange(0, 40))
        else:
            epc, user = rng.choice(SEEDS)
            if i % 3 == 1:
                epc = _mutate(rng, epc)
            else:
                user = _mutate(rng, user)
        try:
            decode_uhf(epc, user, strict=True)
            raised = False
        except TagFormatError:
            raised = True
            strict_errors += 1
        if len(epc) < 2:  # no PC word: an error in both modes
            assert raised
            with pytest.raises(TagFormatError):
                decode_uhf(epc, user)
            continue
        lenient = decode_uhf(epc, user)
        errors = [p for p in lenient.problems if p not in lenient.warnings]
        assert bool(errors) == raised, (epc.hex(), user.hex())
    assert 0 < strict_errors < fuzz_count  # both outcomes were exercised
