"""The ESC/POS real-time status codec (DLE EOT 1-4) against replies written from Epson's
command reference, not from the codec: the fixed bits 0xx1xx10 (0x12) and one bit per fact."""

from __future__ import annotations

import pytest

from drivers.errors import DriverError, PrinterStatusError
from drivers.escpos_status import decode_status, is_status_byte, status_request

# Replies (DLE EOT 1, 2, 3, 4) of a printer that is…
READY = bytes([0x12, 0x12, 0x12, 0x12])
# …out of paper: offline (EOT 1 bit 3: 0x1A), stopped by the paper end (EOT 2 bit 5:
# 0x32), the roll's near-end and end sensors both set (EOT 4 bits 2, 3, 5, 6: 0x7E).
PAPER_OUT = bytes([0x1A, 0x32, 0x12, 0x7E])
COVER_OPEN = bytes([0x1A, 0x16, 0x12, 0x12])       # EOT 2 bit 2
NEAR_END = bytes([0x12, 0x12, 0x12, 0x1E])         # EOT 4 bits 2 and 3, still online
CUTTER_JAM = bytes([0x1A, 0x52, 0x1A, 0x12])       # EOT 2 bit 6 (error), EOT 3 bit 3 (cutter)


def test_the_requests_are_dle_eot_1_to_4() -> None:
    assert status_request() == bytes.fromhex("100401 100402 100403 100404")
    assert status_request((4,)) == b"\x10\x04\x04"
    with pytest.raises(PrinterStatusError, match="DLE EOT 5"):
        status_request((5,))


@pytest.mark.parametrize(("reply", "state"), [
    (READY, "ok"), (PAPER_OUT, "paper_out"), (COVER_OPEN, "cover_open"),
    (NEAR_END, "paper_low"), (CUTTER_JAM, "error"),
    (bytes([0x1A, 0x12, 0x12, 0x12]), "offline"),   # offline, no cause given
])
def test_each_reply_decodes_to_its_state(reply: bytes, state: str) -> None:
    assert decode_status(reply).state == state


def test_the_facts_of_a_paper_out_printer() -> None:
    s = decode_status(PAPER_OUT)
    assert (s.online, s.paper_end, s.paper_near_end, s.paper_end_stop, s.cover_open) == (
        False, True, True, True, False)
    cut = decode_status(CUTTER_JAM)
    assert cut.autocutter_error and cut.error and not cut.unrecoverable_error


@pytest.mark.parametrize("reply", [b"", READY[:3], READY + b"\x12", b"\x10\x04\x01\x12",
                                   bytes([0x12, 0x12, 0x12, 0x92])])
def test_what_is_not_four_status_bytes_is_refused(reply: bytes) -> None:
    with pytest.raises(PrinterStatusError) as info:
        decode_status(reply)
    assert isinstance(info.value, DriverError)


def test_the_fixed_bits() -> None:
    assert is_status_byte(0x12) and is_status_byte(0x7E)
    assert not is_status_byte(0x10) and not is_status_byte(0x13) and not is_status_byte(0x92)
