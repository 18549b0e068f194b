"""The FEIG frame codec against the golden frames of protocols.md §4 (tests/drivers/feig/golden.py)."""

from __future__ import annotations

import random

import pytest

from drivers.errors import FrameError
from drivers.feig import commands as c
from drivers.feig.codec import (
    NEED_DATA,
    FeigFrameDecoder,
    Request,
    Response,
    crc16,
    encode_frame,
)
from tests.drivers.feig.golden import ANS, REQ, h, independent_crc

SPLITS = ["whole", "halves", "bytes"]


def chunks(frame: bytes, how: str) -> list[bytes]:
    if how == "whole":
        return [frame]
    if how == "halves":
        return [frame[: len(frame) // 2], frame[len(frame) // 2:]]
    return [bytes((b,)) for b in frame]


def feed(dec: FeigFrameDecoder, data: bytes, how: str) -> list[Request | Response]:
    out: list[Request | Response] = []
    for part in chunks(data, how):
        dec.receive_data(part)
        out += dec.events()
    return out


def test_crc_check_value_and_goldens() -> None:
    # CRC-16/MCRF4XX (reflected 0x8408, preset FFFF, no xorout): check value of "123456789".
    assert crc16(b"123456789") == 0x6F91
    for frame in list(REQ.values()) + list(ANS.values()):
        assert crc16(frame[:-2]) == frame[-2] | frame[-1] << 8
        assert independent_crc(frame[:-2]) == crc16(frame[:-2])


@pytest.mark.parametrize("name", sorted(REQ))
def test_request_goldens_encode(name: str) -> None:
    frame = REQ[name]
    dec = FeigFrameDecoder("request")
    dec.receive_data(frame)
    ev = dec.next_event()
    assert isinstance(ev, Request)
    # Re-encoding the decoded request gives the golden bytes back.
    assert encode_frame(ev.com_adr, ev.cmd, ev.data, advanced=ev.advanced) == frame


@pytest.mark.parametrize("how", SPLITS)
@pytest.mark.parametrize("name", sorted(ANS))
def test_answer_goldens_decode_split(name: str, how: str) -> None:
    dec = FeigFrameDecoder("response")
    events = feed(dec, ANS[name], how)
    assert len(events) == 1
    ev = events[0]
    assert isinstance(ev, Response) and ev.com_adr == 0x00 and ev.advanced
    assert dec.discarded == 0 and dec.crc_errors == 0


@pytest.mark.parametrize("how", SPLITS)
def test_standard_request_frames(how: str) -> None:
    dec = FeigFrameDecoder("request")
    evs = feed(dec, REQ["inventory_std"] + REQ["software_version_std"] + REQ["baud_detect_std"], how)
    assert [(e.cmd, e.data, e.advanced) for e in evs] == [
        (0xB0, h("01 00"), False), (0x65, b"", False), (0x52, h("00"), False)]


def test_builders_match_golden_requests() -> None:
    uid = h("E0 04 01 00 46 70 7A 28")
    cases = {
        "inventory": c.inventory(),
        "read_2_blocks": c.read_multiple(uid, 0, 2),
        "write_block_0": c.write_multiple(uid, 0, [h("01 02 03 04")]),
        "write_afi_07": c.write_afi(uid, 0x07),
        "lock_afi": c.lock_afi(uid),
        "system_info": c.system_info(uid),
        "set_eas": c.nxp_eas(c.NXP_SET_EAS, uid),
        "reset_eas": c.nxp_eas(c.NXP_RESET_EAS, uid),
        "lock_eas": c.nxp_eas(c.NXP_LOCK_EAS, uid),
        "eas_alarm": c.nxp_eas(c.NXP_EAS_ALARM, None),
        "green_1s": c.set_output(0x0001, 0, 10, 0),
        "all_0_5s": c.set_output(0x0015, 0, 5, 0),
        "get_input": c.get_input(),
        "reader_info_0": c.reader_info(0),
        "reader_info_80": c.reader_info(0x80),
        "reader_info_ff": c.reader_info(0xFF),
        "rf_reset": c.rf_reset(),
        "read_buffer_1": c.read_buffer(1),
        "buffer_info": c.buffer_info(),
        "clear_buffer": c.clear_buffer(),
        "init_buffer": c.init_buffer(),
        "write_dsfid_06": c.write_dsfid(uid, 0x06),
        "lock_dsfid": c.lock_dsfid(uid),
        "select": c.select(uid),
        "stay_quiet": c.stay_quiet(uid),
        "reset_to_ready": c.reset_to_ready(uid),
        "reset_to_ready_all": c.reset_to_ready(None),
        "block_security_0_4": c.block_security(uid, 0, 4),
    }
    for name, (cmd, data) in cases.items():
        assert encode_frame(0xFF, cmd, data) == REQ[name], name
    assert encode_frame(0xFF, *c.inventory(), advanced=False) == REQ["inventory_std"]
    assert encode_frame(0xFF, *c.reader_info(0), advanced=False) == REQ["reader_info_0_std"]


def _one(frame: bytes) -> Response:
    dec = FeigFrameDecoder()
    dec.receive_data(frame)
    ev = dec.next_event()
    assert isinstance(ev, Response)
    return ev


def test_parse_real_two_tag_inventory() -> None:
    ev = _one(ANS["two_tags"])
    assert ev.status == 0x00
    recs = c.parse_inventory(ev.data)
    assert [(r.tr_type, r.dsfid, r.uid.hex().upper()) for r in recs] == [
        (0x03, 0x00, "E002510002564AA4"),
        (0x03, 0x00, "E00223001889 2B09".replace(" ", "")),
    ]


def test_parse_no_tag_and_locked() -> None:
    assert _one(ANS["no_tag"]).status == c.STATUS_NO_TRANSPONDER
    locked = _one(ANS["block_locked"])
    assert locked.status == c.STATUS_ISO_ERROR and locked.data == h("12 00")


def test_parse_read_blocks_reverses_each_block() -> None:
    blocks = c.parse_read_multiple(_one(ANS["read_2_blocks"]).data)
    assert blocks.block_size == 4 and blocks.security == (0, 0)
    assert blocks.data == h("01 02 03 04 05 06 07 08")


def test_parse_system_info() -> None:
    info = c.parse_system_info(_one(ANS["system_info"]).data)
    assert info.uid == h("E0 04 01 00 46 70 7A 28")
    assert (info.dsfid, info.afi, info.block_size, info.block_count, info.ic_ref) == (0, 7, 4, 28, 1)


def test_parse_eas_answers() -> None:
    assert _one(ANS["eas_alarm"]).status == 0x00
    assert _one(ANS["eas_silence"]).status == 0x01


@pytest.mark.parametrize("how", SPLITS)
def test_resync_after_garbage(how: str) -> None:
    dec = FeigFrameDecoder()
    garbage = h("FF 00 13 55 05 11")
    evs = feed(dec, garbage + ANS["two_tags"] + h("00 07") + ANS["ok_b0"], how)
    assert [e.cmd for e in evs] == [0xB0, 0xB0]
    assert isinstance(evs[0], Response) and len(c.parse_inventory(evs[0].data)) == 2
    assert dec.discarded == len(garbage) + 2


@pytest.mark.parametrize("how", SPLITS)
def test_corrupt_crc_is_skipped_and_counted(how: str) -> None:
    bad = bytearray(ANS["system_info"])
    bad[-1] ^= 0xFF
    dec = FeigFrameDecoder()
    evs = feed(dec, bytes(bad) + ANS["ok_b0"], how)
    assert len(evs) == 1 and isinstance(evs[0], Response) and evs[0].data == b""
    assert dec.crc_errors >= 1


def test_need_data_and_reset() -> None:
    dec = FeigFrameDecoder()
    dec.receive_data(ANS["ok_b0"][:5])
    assert dec.next_event() is NEED_DATA
    assert dec.buffered == 5
    dec.reset()
    assert dec.buffered == 0
    dec.receive_data(ANS["ok_b0"])
    assert isinstance(dec.next_event(), Response)


def test_long_standard_answer_becomes_advanced() -> None:
    frame = encode_frame(0x00, 0xB0, bytes(300), advanced=False)
    assert frame[0] == 0x02 and int.from_bytes(frame[1:3], "big") == len(frame) == 307


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError):
        encode_frame(0x100, 0xB0)
    with pytest.raises(ValueError):
        c.read_multiple(h("E0"), 0, 1)
    with pytest.raises(ValueError):
        c.write_multiple(None, 0, [b"\x01\x02\x03\x04", b"\x01"])
    with pytest.raises(ValueError):
        FeigFrameDecoder("nonsense")  # type: ignore[arg-type]
    with pytest.raises(FrameError):
        c.parse_inventory(h("02 03 00 E0"))
    with pytest.raises(FrameError):
        c.parse_read_multiple(h("02 04 00 01 02"))


@pytest.mark.fuzz
def test_decoder_never_raises_on_noise(fuzz_count: int) -> None:
    rng = random.Random(1)
    dec = FeigFrameDecoder()
    frames = list(ANS.values())
    found = 0
    for _ in range(max(1, fuzz_count // 50)):
        noise = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 30)))
        frame = rng.choice(frames)
        dec.receive_data(noise + frame)
        found += sum(1 for e in dec.events() if isinstance(e, Response))
        dec.reset()
    # Every golden frame behind noise is found (noise that happens to hold a valid frame adds more).
    assert found >= max(1, fuzz_count // 50)


def test_block_security_parser() -> None:
    assert c.parse_block_security(h("03 01 00 01")) == (1, 0, 1)
    assert c.parse_block_security(h("00")) == ()
    with pytest.raises(FrameError, match="block security"):
        c.parse_block_security(h("03 01 00"))
    with pytest.raises(FrameError):
        c.parse_block_security(b"")


def test_select_and_stay_quiet_need_a_uid() -> None:
    with pytest.raises(ValueError):
        c.select(b"\xe0\x04")
    with pytest.raises(ValueError):
        c.write_dsfid(None, 0x100)
    with pytest.raises(ValueError):
        c.block_security(None, 0, 0)
