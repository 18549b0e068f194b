"""PC/SC part 3 pseudo-APDUs and status words (golden bytes from protocols.md §5 and the
PC/SC part 3 command tables)."""

from __future__ import annotations

import pytest

from drivers.errors import (
    CardBlockNotFound,
    CardCommandError,
    CardLengthError,
    CardNotSupported,
    CardOperationFailed,
    CardReaderError,
    CardSecurityError,
)
from drivers.pcsc import apdu


def test_command_bytes() -> None:
    assert apdu.get_data_uid() == bytes.fromhex("FF CA 00 00 00")
    assert apdu.read_binary(5, 4) == bytes.fromhex("FF B0 00 05 04")
    assert apdu.read_binary(0x0102, 16) == bytes.fromhex("FF B0 01 02 10")
    assert apdu.read_binary(0, 256) == bytes.fromhex("FF B0 00 00 00")
    assert apdu.update_binary(7, b"\x01\x02\x03\x04") == bytes.fromhex("FF D6 00 07 04 01 02 03 04")


@pytest.mark.parametrize("args", [(-1, 4), (0x10000, 4), (0, 0), (0, 257)])
def test_read_binary_bounds(args: tuple[int, int]) -> None:
    with pytest.raises(ValueError):
        apdu.read_binary(*args)


def test_update_binary_bounds() -> None:
    with pytest.raises(ValueError):
        apdu.update_binary(0, b"")
    with pytest.raises(ValueError):
        apdu.update_binary(0, bytes(256))


def test_response_verified_exchange() -> None:
    # protocols.md §5: FF CA 00 00 00 answered with E0 04 01 50 12 34 56 78 90 00
    resp = apdu.parse_response(bytes.fromhex("E0 04 01 50 12 34 56 78 90 00"))
    assert resp.ok and resp.sw == 0x9000
    assert apdu.check_response(resp, "GET DATA") == bytes.fromhex("E0 04 01 50 12 34 56 78")


def test_response_needs_status_word() -> None:
    with pytest.raises(CardReaderError, match="no status word"):
        apdu.parse_response(b"\x90")


@pytest.mark.parametrize(("raw", "cls"), [
    ("63 00", CardOperationFailed),
    ("6A 81", CardNotSupported),
    ("6A 82", CardBlockNotFound),
    ("6B 00", CardBlockNotFound),
    ("69 82", CardSecurityError),
    ("67 00", CardLengthError),
    ("6C 04", CardLengthError),
    ("6D 00", CardNotSupported),
    ("6E 00", CardNotSupported),
    ("6F 00", CardCommandError),
])
def test_status_words_are_typed(raw: str, cls: type[CardCommandError]) -> None:
    resp = apdu.parse_response(bytes.fromhex(raw))
    with pytest.raises(cls) as info:
        apdu.check_response(resp, "READ BINARY block 3")
    assert type(info.value) is cls
    assert (info.value.sw1, info.value.sw2) == tuple(bytes.fromhex(raw))
    assert "READ BINARY block 3" in str(info.value)
    assert "expected 90 00" in str(info.value)


@pytest.mark.parametrize(("command", "shown"), [
    ("FF D6 00 05 04 50 32 30 32", "FF D6 00 05 04 <4 bytes masked>"),
    ("FF D6 01 02 02 AA BB 00", "FF D6 01 02 02 <2 bytes masked> 00"),  # Lc, data, Le
    ("FF B0 00 05 04", "FF B0 00 05 04"),                                 # header + Le only
    ("FF CA 00 00 00", "FF CA 00 00 00"),
])
def test_trace_form_masks_command_data(command: str, shown: str) -> None:
    raw = bytes.fromhex(command)
    assert apdu.describe_command(raw) == shown
    assert apdu.describe_command(raw, show_data=True) == command
