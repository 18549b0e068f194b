"""Which SIP2 blocks give a restricted (pay-only) session: fines alone, never a lost card."""

from __future__ import annotations

import pytest

from edge.services.sessions import fines_only_block


@pytest.mark.parametrize(("flags", "restricted"), [
    ("Y" + " " * 9 + "Y" + "   ", True),      # charge denied + excessive fines (the demo ILS)
    (" " * 11 + "Y" + "  ", True),            # excessive fees
    ("YYYYY" + " " * 5 + "Y" + "   ", False),  # fines, but the card is reported lost
    ("YYYY" + " " * 10, False),               # blocked for something else
    ("", False), (None, False),
])
def test_only_a_fines_block_is_restricted(flags: str | None, restricted: bool) -> None:
    assert fines_only_block(flags) is restricted
