"""FeigReaderDevice, SimTag, SimField and the air model, byte by byte (sans-IO core)."""

from __future__ import annotations

import random
import time

import pytest

from drivers.feig import commands as c
from drivers.feig.codec import FeigFrameDecoder, Request, Response
from hardware_sim import air
from hardware_sim.feig_device import FeigReaderDevice
from hardware_sim.field import SimField
from hardware_sim.tag import IsoError, SimTag
from tests.drivers.feig.golden import ANS, REQ, UID, h


def ask(dev: FeigReaderDevice, frame: bytes) -> Response:
    """Decode a golden request, let the device answer it, decode the answer."""
    dec = FeigFrameDecoder("request")
    dec.receive_data(frame)
    req = dec.next_event()
    assert isinstance(req, Request)
    ans = dev.process(req)
    assert ans.frame is not None
    out = FeigFrameDecoder("response")
    out.receive_data(ans.frame)
    resp = out.next_event()
    assert isinstance(resp, Response)
    return resp


@pytest.fixture
def pad() -> tuple[SimField, FeigReaderDevice, SimTag]:
    field = SimField()
    dev = FeigReaderDevice(field, ["pad"], timing=False)
    tag = SimTag(uid=h(UID), afi=0x07, memory=bytearray(h("01 02 03 04 05 06 07 08") + bytes(104)))
    field.place(tag, "pad")
    return field, dev, tag


def test_golden_answers_byte_for_byte(pad: tuple[SimField, FeigReaderDevice, SimTag]) -> None:
    _, dev, _ = pad
    for req, ans in (("read_2_blocks", "read_2_blocks"), ("system_info", "system_info"),
                     ("write_afi_07", "ok_b0"), ("baud_detect", "baud_detect")):
        dec = FeigFrameDecoder("request")
        dec.receive_data(REQ[req])
        ev = dec.next_event()
        assert isinstance(ev, Request)
        assert dev.process(ev).frame == ANS[ans], req


def test_no_tag_and_eas_goldens(pad: tuple[SimField, FeigReaderDevice, SimTag]) -> None:
    field, dev, tag = pad
    dec = FeigFrameDecoder("request")
    dec.receive_data(REQ["eas_alarm"])
    ev = dec.next_event()
    assert isinstance(ev, Request)
    assert dev.process(ev).frame == ANS["eas_silence"]  # EAS not set: no answer from the tag
    tag.set_eas(True)
    assert dev.process(ev).frame == ANS["eas_alarm"]
    field.clear()
    dec.receive_data(REQ["inventory"])
    inv = dec.next_event()
    assert isinstance(inv, Request)
    assert dev.process(inv).frame == ANS["no_tag"]


def test_block_locked_answer_matches_the_real_one(pad: tuple[SimField, FeigReaderDevice, SimTag]) -> None:
    _, dev, tag = pad
    tag.locked.add(0)
    dec = FeigFrameDecoder("request")
    dec.receive_data(REQ["write_block_0"])
    ev = dec.next_event()
    assert isinstance(ev, Request)
    assert dev.process(ev).frame == ANS["block_locked"]


def test_inventory_with_an_afi_byte_is_refused(pad: tuple[SimField, FeigReaderDevice, SimTag]) -> None:
    _, dev, _ = pad
    # B0 01 00 07: an AFI byte after MODE, which host-mode Inventory does not have.
    resp = dev.process(Request(0xFF, 0xB0, h("01 00 07")))
    assert resp.frame is not None
    out = FeigFrameDecoder()
    out.receive_data(resp.frame)
    ev = out.next_event()
    assert isinstance(ev, Response) and ev.status == c.STATUS_LENGTH_ERROR


def test_more_data_paging_with_30_tags() -> None:
    field = SimField()
    dev = FeigReaderDevice(field, ["pad"], timing=False, page_records=24)
    rng = random.Random(5)
    from hardware_sim.tag import random_uid

    tags = [SimTag(uid=random_uid(rng)) for _ in range(30)]
    for t in tags:
        field.place(t, "pad")
    first = ask(dev, REQ["inventory"])
    assert first.status == c.STATUS_MORE_DATA and first.data[0] == 24
    rest = dev.process(Request(0xFF, 0xB0, h("01 80")))
    dec = FeigFrameDecoder()
    assert rest.frame is not None
    dec.receive_data(rest.frame)
    ev = dec.next_event()
    assert isinstance(ev, Response) and ev.status == 0x00 and ev.data[0] == 6
    uids = {r.uid for r in c.parse_inventory(first.data) + c.parse_inventory(ev.data)}
    assert uids == {t.uid for t in tags}


def test_anticollision_slots_and_collisions() -> None:
    # Two UIDs sharing their lowest nibble collide in round 1 and split in round 2.
    a = SimTag(uid=h("E0 04 01 00 00 00 00 11"))
    b = SimTag(uid=h("E0 04 01 00 00 00 00 21"))
    solo = SimTag(uid=h("E0 04 01 00 00 00 00 02"))
    res = SimField.anticollision([a, b, solo])
    assert res.collisions == 1
    assert res.rounds[0] == (0, 2, 14)       # slots 1 (collision) and 2
    assert res.rounds[1] == (4, 2, 14)       # slots 1 and 2 under mask 0x1
    assert {t.uid for t in res.tags} == {a.uid, b.uid, solo.uid}


def test_slix_tag_behaviour() -> None:
    tag = SimTag(uid=h(UID))
    tag.write_block(0, b"ABCD")
    assert tag.read_blocks(0, 1) == [b"ABCD"]
    tag.lock_block(0)
    with pytest.raises(IsoError) as err:
        tag.write_block(0, b"WXYZ")
    assert err.value.code == 0x12
    with pytest.raises(IsoError) as err:
        tag.read_blocks(27, 2)
    assert err.value.code == 0x10
    tag.write_afi(0xC2)
    tag.lock_afi()
    with pytest.raises(IsoError):
        tag.write_afi(0x07)
    assert not tag.eas_alarm()
    tag.set_eas(True)
    assert tag.eas_alarm()


def test_tag_from_item_decodes() -> None:
    from drivers.tags import decode_tag

    tag = SimTag.from_item("12345678", parts=3, part=2, isil="VN-HN0001")
    data = decode_tag(bytes(tag.memory))
    assert (data.primary_item_id, data.parts_in_item, data.part_number, data.isil) == (
        "12345678", 3, 2, "VN-HN0001")


def test_air_model_figures() -> None:
    # An empty 16-slot inventory is ~10-15 ms at high data rate (protocols.md §3).
    empty = air.inventory_round_s(0, 0, 16)
    assert 0.004 < empty < 0.015
    assert air.serial_s(11, 38400, "E") == pytest.approx(11 * 11 / 38400)
    assert air.write_single_s() > air.WRITE_PROGRAM_S


def test_floor_is_counted_and_waited(pad: tuple[SimField, FeigReaderDevice, SimTag]) -> None:
    """The device holds each answer until the modelled floor has passed since the request
    arrived. A fake clock and a recording sleep show what it waited, with no wall time."""
    field, _, _ = pad
    now = [100.0]
    slept: list[float] = []
    dev = FeigReaderDevice(field, ["pad"], timing=True, name="timed",
                           clock=lambda: now[0], sleep=slept.append)
    dec = FeigFrameDecoder("request")
    dec.receive_data(REQ["read_2_blocks"])
    ev = dec.next_event()
    assert isinstance(ev, Request)
    n = len(REQ["read_2_blocks"])

    def floor_of_one_exchange(received_at: float) -> float:
        before = dev.floor.snapshot().total_s
        assert dev.respond(ev, n, received_at) == ANS["read_2_blocks"]
        return dev.floor.snapshot().total_s - before

    # answered at once: the whole modelled floor is waited
    floor1 = floor_of_one_exchange(100.0)
    assert floor1 > 0 and dev.floor.snapshot().exchanges == 1
    assert slept == [pytest.approx(floor1)]
    assert dev.counters["timing_waits"] == 1 and dev.waited_s == pytest.approx(floor1)

    # a request that already spent part of its floor (e.g. queued) waits only the rest
    now[0] = 200.0 + 0.25 * floor1
    floor2 = floor_of_one_exchange(200.0)
    assert floor2 == pytest.approx(floor1)
    assert slept[-1] == pytest.approx(0.75 * floor1)
    assert dev.waited_s == pytest.approx(1.75 * floor1)

    # already later than the floor: sent at once, no wait, still counted in the floor
    now[0] = 300.0 + 10 * floor1
    floor_of_one_exchange(300.0)
    assert len(slept) == 2 and dev.counters["timing_waits"] == 2
    assert dev.floor.snapshot().exchanges == 3
    assert dev.status()["floor"]["waited_s"] == pytest.approx(1.75 * floor1)

    # timing off: the floor is counted, nothing is waited
    untimed = FeigReaderDevice(field, ["pad"], timing=False, name="untimed",
                               clock=lambda: now[0], sleep=slept.append)
    assert untimed.respond(ev, n, now[0]) == ANS["read_2_blocks"]
    assert untimed.floor.snapshot().total_s == pytest.approx(floor1)
    assert len(slept) == 2 and untimed.waited_s == 0.0


def test_gate_antenna_mode_and_buffered_records() -> None:
    field = SimField()
    dev = FeigReaderDevice(field, ["gate-in", "gate-out"], timing=False)
    t_in, t_out = SimTag(uid=h("E0 04 01 00 00 00 00 01")), SimTag(uid=h("E0 04 01 00 00 00 00 02"))
    field.place(t_in, "gate-in")
    field.place(t_out, "gate-out")
    from drivers.feig.codec import encode_frame

    resp = ask(dev, encode_frame(0xFF, *c.inventory(antenna_mask=0b11)))
    recs = c.parse_inventory(resp.data, antenna_mode=True)
    assert {(r.uid, r.antenna) for r in recs} == {(t_in.uid, 1), (t_out.uid, 2)}
    buf = ask(dev, encode_frame(0xFF, *c.read_buffer(10)))
    records = c.parse_read_buffer(buf.data).records
    assert [(r.uid, r.antenna) for r in records] == [(t_in.uid, 1), (t_out.uid, 2)]
    ask(dev, REQ["clear_buffer"])
    assert ask(dev, encode_frame(0xFF, *c.read_buffer(10))).status == c.STATUS_NO_VALID_DATA
    # A plain (pad) reader refuses antenna mode.
    pad = FeigReaderDevice(field, ["pad"], timing=False)
    assert ask(pad, encode_frame(0xFF, *c.inventory(antenna_mask=1))).status == c.STATUS_UNSUPPORTED_OPTION


def test_outputs_and_inputs(pad: tuple[SimField, FeigReaderDevice, SimTag]) -> None:
    _, dev, _ = pad
    assert ask(dev, REQ["all_0_5s"]).status == 0
    assert dev.outputs_now() == {"green": "on", "red": "on", "buzzer": "on", "relay": "off",
                                 "out1": "off", "out2": "off"}
    dev.set_input(2, True)
    assert ask(dev, REQ["get_input"]).data == b"\x02"


def test_bad_crc_gets_no_answer_on_the_wire() -> None:
    field = SimField()
    dev = FeigReaderDevice(field, ["pad"], timing=False).start(pty=False, tcp=True)
    import socket

    try:
        with socket.create_connection(("127.0.0.1", dev.tcp_port), timeout=10) as s:
            bad = bytearray(REQ["inventory"])
            bad[-1] ^= 1
            s.sendall(bytes(bad) + REQ["inventory"])
            s.settimeout(10)
            data = s.recv(100)
        assert data == ANS["no_tag"]  # only the good request was answered
        deadline = time.monotonic() + 30  # generous: only bounds a hung test
        while dev.counters.get("crc_errors", 0) < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert dev.counters["crc_errors"] >= 1
    finally:
        dev.stop()


def test_dsfid_block_security_and_state_goldens(pad: tuple[SimField, FeigReaderDevice, SimTag]) -> None:
    field, dev, tag = pad
    tag.locked = {0, 1}

    def answer(name: str) -> bytes | None:
        dec = FeigFrameDecoder("request")
        dec.receive_data(REQ[name])
        ev = dec.next_event()
        assert isinstance(ev, Request)
        return dev.process(ev).frame

    assert answer("block_security_0_4") == ANS["block_security_0_4"]
    assert answer("write_dsfid_06") == ANS["ok_b0"] and tag.dsfid == 0x06
    assert answer("system_info") == ANS["system_info_dsfid_06"]
    assert answer("lock_dsfid") == ANS["ok_b0"] and tag.dsfid_locked
    assert answer("write_dsfid_06") == ANS["iso_error_locked"]
    assert answer("stay_quiet") == ANS["ok_b0"] and tag.quiet
    assert answer("inventory") == ANS["no_tag"]  # a quiet tag ignores the inventory
    assert answer("select") == ANS["ok_b0"] and not tag.quiet
    assert answer("stay_quiet") == ANS["ok_b0"]
    assert answer("reset_to_ready_all") == ANS["ok_b0"] and not tag.quiet
    assert answer("stay_quiet") == ANS["ok_b0"]
    assert answer("reset_to_ready") == ANS["ok_b0"] and not tag.quiet
    assert answer("stay_quiet") == ANS["ok_b0"]
    field.remove(tag.uid)
    assert not tag.quiet  # leaving the field powers the tag down: Ready again
    field.place(tag, "pad")
    assert answer("block_security_0_4") == ANS["block_security_0_4"]


def test_simtag_dsfid_lock_and_security() -> None:
    tag = SimTag(uid=h(UID))
    tag.write_dsfid(0x06)
    tag.lock_dsfid()
    with pytest.raises(IsoError) as err:
        tag.write_dsfid(0x00)
    assert err.value.code == 0x12
    with pytest.raises(IsoError) as err:
        tag.lock_dsfid()
    assert err.value.code == 0x11
    tag.locked = {3}
    assert tag.block_security(2, 3) == [0, 1, 0]
    with pytest.raises(IsoError) as err:
        tag.block_security(27, 2)
    assert err.value.code == 0x10
    assert SimTag.from_spec({"uid": UID, "dsfid": 6, "dsfid_locked": True}).dsfid_locked
