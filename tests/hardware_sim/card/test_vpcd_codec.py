"""The vpcd codec against the verified exchange in protocols.md §5.

Golden bytes (length-prefixed, 2-byte big-endian; from the vpcd protocol as verified with
Debian's pcscd 1.9.9 + vsmartcard-vpcd):
- vpcd -> card ATR request ``00 01 04``; power off/on/reset ``00 01 00/01/02``;
- card -> vpcd ATR ``00 14`` + the 20-byte ICODE SLI ATR;
- vpcd -> card GET DATA ``00 05 FF CA 00 00 00``;
- card -> vpcd ``00 0A E0 04 01 50 12 34 56 78 90 00``.
"""

from __future__ import annotations

import pytest

from hardware_sim.errors import VpcdProtocolError
from hardware_sim.vpcd import (
    NEED_DATA,
    AtrRequest,
    CommandApdu,
    PowerOff,
    PowerOn,
    Reset,
    VpcdCardConnection,
    decode_event,
    encode_message,
)

ATR = bytes.fromhex("3B 8F 80 01 80 4F 0C A0 00 00 03 06 0B 00 14 00 00 00 00 77")
STREAM = bytes.fromhex("00 01 01" "00 01 04" "00 05 FF CA 00 00 00" "00 01 02" "00 01 00")
EVENTS = [PowerOn(), AtrRequest(), CommandApdu(bytes.fromhex("FF CA 00 00 00")), Reset(), PowerOff()]


def _feed(chunks: list[bytes]) -> list[object]:
    conn = VpcdCardConnection()
    out: list[object] = []
    for c in chunks:
        conn.receive_data(c)
        while (ev := conn.next_event()) is not NEED_DATA:
            out.append(ev)
    assert conn.buffered == 0
    return out


def test_whole() -> None:
    assert _feed([STREAM]) == EVENTS


def test_split_in_half() -> None:
    half = len(STREAM) // 2
    assert _feed([STREAM[:half], STREAM[half:]]) == EVENTS


def test_one_byte_at_a_time() -> None:
    assert _feed([bytes([b]) for b in STREAM]) == EVENTS


def test_need_data_until_complete() -> None:
    conn = VpcdCardConnection()
    assert conn.next_event() is NEED_DATA
    conn.receive_data(b"\x00")
    assert conn.next_event() is NEED_DATA
    conn.receive_data(b"\x05\xff\xca")
    assert conn.next_event() is NEED_DATA
    conn.receive_data(b"\x00\x00\x00")
    assert conn.next_event() == CommandApdu(bytes.fromhex("FFCA000000"))


def test_answers() -> None:
    conn = VpcdCardConnection()
    assert conn.send_atr(ATR) == bytes.fromhex(
        "00 14 3B 8F 80 01 80 4F 0C A0 00 00 03 06 0B 00 14 00 00 00 00 77")
    assert conn.send_response(bytes.fromhex("E0 04 01 50 12 34 56 78 90 00")) == bytes.fromhex(
        "00 0A E0 04 01 50 12 34 56 78 90 00")


def test_long_message_length_prefix() -> None:
    assert encode_message(bytes(258))[:2] == b"\x01\x02"
    with pytest.raises(VpcdProtocolError, match="exceeds 65535"):
        encode_message(bytes(0x10000))


@pytest.mark.parametrize(("payload", "msg"), [
    (b"", "empty vpcd message"),
    (b"\x03", "unknown vpcd control code 0x03"),
    (b"\x05", "unknown vpcd control code 0x05"),
])
def test_bad_messages(payload: bytes, msg: str) -> None:
    with pytest.raises(VpcdProtocolError, match=msg):
        decode_event(payload)
    conn = VpcdCardConnection()
    conn.receive_data(len(payload).to_bytes(2, "big") + payload)
    with pytest.raises(VpcdProtocolError):
        conn.next_event()


def test_refuses_answers_vpcd_would_read_as_no_card() -> None:
    conn = VpcdCardConnection()
    with pytest.raises(VpcdProtocolError, match="empty ATR"):
        conn.send_atr(b"")
    with pytest.raises(VpcdProtocolError, match="no status word"):
        conn.send_response(b"\x90")


@pytest.mark.fuzz
def test_fuzz_never_crashes(fuzz_count: int) -> None:
    import random

    rng = random.Random(1234)
    for _ in range(fuzz_count // 10):
        conn = VpcdCardConnection()
        conn.receive_data(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40))))
        try:
            while conn.next_event() is not NEED_DATA:
                pass
        except VpcdProtocolError:
            continue
