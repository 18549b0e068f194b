"""FeigReader against scripted transcripts: every request it sends is a golden frame, and
every answer layout it parses is a golden (or independently framed) answer.

The scripted transport plays nfcpy's role: it asserts the bytes written and hands back
the answer whole, in halves or byte by byte.
"""

from __future__ import annotations

import time

import pytest

from drivers.errors import (
    FrameError,
    ReaderStatusError,
    ReaderTimeout,
    TagLocked,
    TagNotFound,
    WriteFailed,
)
from drivers.feig.reader import FeigReader
from drivers.reader import Inputs
from tests.drivers.feig.golden import ANS, REQ, UID, h, independent_frame, independent_request

SPLITS = ["whole", "halves", "bytes"]


class ScriptedTransport:
    """A Transport double: ``script`` is a list of (expected request, answer or None)."""

    def __init__(self, script: list[tuple[bytes, bytes | None]], how: str = "whole") -> None:
        self.script = list(script)
        self.how = how
        self.pending: list[bytes] = []
        self.written: list[bytes] = []
        self.opens = 0
        self.closes = 0
        self.is_open = False

    def open(self) -> None:
        self.opens += 1
        self.is_open = True

    def close(self) -> None:
        self.closes += 1
        self.is_open = False

    def write(self, data: bytes) -> None:
        self.written.append(data)
        assert self.script, f"unexpected request {data.hex(' ')}"
        expected, answer = self.script.pop(0)
        assert data.hex(" ") == expected.hex(" ")
        if answer is None:
            return
        if self.how == "whole":
            self.pending = [answer]
        elif self.how == "halves":
            self.pending = [answer[: len(answer) // 2], answer[len(answer) // 2:]]
        else:
            self.pending = [bytes((b,)) for b in answer]

    def read_some(self, deadline: float) -> bytes:
        if self.pending:
            return self.pending.pop(0)
        time.sleep(max(0.0, deadline - time.monotonic()))
        return b""

    def discard_input(self) -> bytes:
        return b""


def reader(script: list[tuple[bytes, bytes | None]], how: str = "whole", **kw: object) -> tuple[FeigReader, ScriptedTransport]:
    t = ScriptedTransport(script, how)
    r = FeigReader("scripted://", transport=t, timeout_s=0.05, **kw)  # type: ignore[arg-type]
    r.open()
    return r, t


@pytest.mark.parametrize("how", SPLITS)
def test_inventory_real_two_tags(how: str) -> None:
    r, t = reader([(REQ["inventory"], ANS["two_tags"])], how)
    items = r.inventory()
    assert [(i.uid, i.dsfid, i.antenna) for i in items] == [
        ("E002510002564AA4", 0, "pad"), ("E0022300188 92B09".replace(" ", ""), 0, "pad")]
    assert not t.script


def test_inventory_no_tag() -> None:
    r, _ = reader([(REQ["inventory"], ANS["no_tag"])])
    assert r.inventory() == []


def test_inventory_follows_more_data() -> None:
    # First answer: STATUS 0x94 with one record; MODE 0x80 fetches the rest.
    more_req = independent_request("B0 01 80")
    first = independent_frame("B0 94 01 03 00 E0 02 51 00 02 56 4A A4")
    rest = independent_frame("B0 00 01 03 07 E0 02 23 00 18 89 2B 09")
    r, t = reader([(REQ["inventory"], first), (more_req, rest)])
    items = r.inventory()
    assert [(i.uid, i.dsfid) for i in items] == [("E002510002564AA4", 0), ("E0022300188 92B09".replace(" ", ""), 7)]
    assert not t.script


def test_standard_frames() -> None:
    r, _ = reader([(REQ["inventory_std"], ANS["no_tag"])], advanced_frames=False)
    assert r.inventory() == []


@pytest.mark.parametrize("how", SPLITS)
def test_read_blocks_in_memory_order(how: str) -> None:
    r, _ = reader([(REQ["read_2_blocks"], ANS["read_2_blocks"])], how)
    assert r.read_blocks(UID, 0, 2) == h("01 02 03 04 05 06 07 08")


def test_write_block_verified() -> None:
    verify = independent_request("B0 23 01 E0 04 01 00 46 70 7A 28 00 01")
    back = independent_frame("B0 00 01 04 00 04 03 02 01")
    r, t = reader([(REQ["write_block_0"], ANS["ok_b0"]), (verify, back)])
    r.write_blocks(UID, 0, h("01 02 03 04"))
    assert not t.script


@pytest.mark.parametrize("how", SPLITS)
def test_write_block_locked_is_not_retried(how: str) -> None:
    r, t = reader([(REQ["write_block_0"], ANS["block_locked"])], how)
    with pytest.raises(TagLocked, match="0x12"):
        r.write_blocks(UID, 0, h("01 02 03 04"))
    assert not t.script and r.metrics()["write_blocks_failures"] == 1


def test_write_afi_verified_by_system_info() -> None:
    r, t = reader([(REQ["write_afi_07"], ANS["ok_b0"]), (REQ["system_info"], ANS["system_info"])])
    r.write_afi(UID, 0x07)
    assert not t.script


def test_write_afi_mismatch_retries_then_fails() -> None:
    # The tag keeps AFI 07 while 0xC2 is written: after write_retries+1 attempts, WriteFailed.
    write_c2 = independent_request("B0 27 01 E0 04 01 00 46 70 7A 28 C2")
    script: list[tuple[bytes, bytes | None]] = [(write_c2, ANS["ok_b0"]), (REQ["system_info"], ANS["system_info"])]
    for _ in range(2):
        script += [(REQ["system_info"], ANS["system_info"]), (write_c2, ANS["ok_b0"]),
                   (REQ["system_info"], ANS["system_info"])]
    r, t = reader(script, write_retries=2)
    with pytest.raises(WriteFailed, match="read back"):
        r.write_afi(UID, 0xC2)
    assert not t.script
    m = r.metrics()
    assert m["write_afi_failures"] == 1 and m["write_afi_retries"] == 3


def test_lock_afi_and_eas_commands() -> None:
    r, t = reader([(REQ["lock_afi"], ANS["ok_b0"]),
                   (REQ["set_eas"], independent_frame("B1 00")),
                   (REQ["reset_eas"], independent_frame("B1 00")),
                   (REQ["eas_alarm"], ANS["eas_alarm"]),
                   (REQ["eas_alarm"], ANS["eas_silence"])])
    r.lock_afi(UID)
    r.set_eas(UID, True)
    r.set_eas(UID, False)
    assert r.eas_alarm() is True
    assert r.eas_alarm() is False
    assert not t.script


def test_system_info() -> None:
    r, _ = reader([(REQ["system_info"], ANS["system_info"])])
    info = r.system_info(UID)
    assert (info.uid, info.afi, info.block_size, info.block_count) == (UID, 7, 4, 28)


def test_inventory_afi_filter_reads_each_new_uid_once() -> None:
    si_a = independent_request("B0 2B 01 E0 02 51 00 02 56 4A A4")
    si_b = independent_request("B0 2B 01 E0 02 23 00 18 89 2B 09")
    ans_a = independent_frame("B0 00 00 E0 02 51 00 02 56 4A A4 07 03 1B 01")
    ans_b = independent_frame("B0 00 00 E0 02 23 00 18 89 2B 09 C2 03 1B 01")
    r, t = reader([(REQ["inventory"], ANS["two_tags"]), (si_a, ans_a), (si_b, ans_b),
                   (REQ["inventory"], ANS["two_tags"])])
    assert [i.uid for i in r.inventory(afi=0x07)] == ["E002510002564AA4"]
    assert [i.uid for i in r.inventory(afi=0xC2)] == ["E00223001889" "2B09"]  # cached: no 0x2B
    assert not t.script


def test_outputs_inputs_rf_reset_reader_info() -> None:
    r, t = reader([
        (REQ["green_1s"], independent_frame("71 00")),
        (REQ["all_0_5s"], independent_frame("71 00")),
        (REQ["get_input"], independent_frame("74 00 03")),
        (REQ["rf_reset"], independent_frame("69 00")),
        (REQ["reader_info_0"], independent_frame("66 00 03 02 00 5A 5A 00 08 01 00 01 00")),
    ])
    r.set_outputs(green="on", duration_s=1.0)
    r.set_outputs(green="on", red="on", buzzer="on", duration_s=0.5)
    inputs = r.read_inputs()
    assert inputs == Inputs(3) and inputs[1] and inputs[2] and not inputs[3]
    r.rf_reset()
    info = r.reader_info()
    assert info.vendor == "FEIG" and info.firmware == "3.02.00"
    assert not t.script


def test_buffered_read_mode() -> None:
    # TR-DATA1 0x31 (IDD, antenna, time); one record of 18 bytes; then Clear Buffer.
    record = "00 12 03 00 08 E0 04 01 00 46 70 7A 28 0A 1E 75 30 02"
    r, t = reader([
        (REQ["buffer_info"], independent_frame("31 00 02 00 00 00 00 01")),
        (REQ["read_buffer_1"], independent_frame("22 00 31 00 01 " + record)),
        (REQ["clear_buffer"], independent_frame("32 00")),
        (REQ["read_buffer_1"], independent_frame("22 92")),
        (REQ["init_buffer"], independent_frame("33 00")),
    ], antennas=("gate-in", "gate-out"))
    assert r.buffer_status().length == 1
    events = r.read_buffer(max_records=1)
    assert len(events) == 1
    ev = events[0]
    assert ev.uid == UID and ev.antenna == "gate-out"
    assert ev.time_ms == (10 * 60 + 30) * 60_000 + 30_000
    assert r.read_buffer(max_records=1) == []
    r.init_buffer()
    assert not t.script


def test_status_errors_are_typed() -> None:
    r, _ = reader([(REQ["system_info"], independent_frame("B0 01")),
                   (REQ["read_2_blocks"], independent_frame("B0 95 10"))])
    with pytest.raises(TagNotFound):
        r.system_info(UID)
    with pytest.raises(ReaderStatusError) as err:
        r.read_blocks(UID, 0, 2)
    assert err.value.status == 0x95 and err.value.iso_error == 0x10


@pytest.mark.parametrize("status", ["02", "06", "83"])
def test_feig_transient_statuses_are_retried(status: str) -> None:
    # Data false, read error, RF communication error: the tag answered badly this time.
    r, t = reader([(REQ["read_2_blocks"], independent_frame(f"B0 {status}")),
                   (REQ["read_2_blocks"], ANS["read_2_blocks"])])
    assert r.read_blocks(UID, 0, 2) == h("01 02 03 04 05 06 07 08")
    m = r.metrics()
    assert m["read_blocks_retries"] == 1 and "read_blocks_failures" not in m
    assert not t.script


def test_a_reader_without_transient_statuses_takes_every_status_as_definite() -> None:
    class Strict(FeigReader):
        transient_statuses = frozenset()

    t = ScriptedTransport([(REQ["read_2_blocks"], independent_frame("B0 83"))])
    r = Strict("scripted://", transport=t, timeout_s=0.05)  # type: ignore[arg-type]
    with pytest.raises(ReaderStatusError) as err:
        r.read_blocks(UID, 0, 2)
    assert err.value.status == 0x83 and r.metrics()["read_blocks_failures"] == 1


def test_timeout_is_retried_then_typed() -> None:
    r, t = reader([(REQ["inventory"], None)] * 3, retries=2, reopen_after=3)
    with pytest.raises(ReaderTimeout):
        r.inventory()
    m = r.metrics()
    assert m["inventory_failures"] == 1 and m["timeouts"] == 3 and m["reopens"] == 1
    assert t.opens == 2 and t.closes == 1


def test_crc_error_retried_and_succeeds() -> None:
    bad = bytearray(ANS["two_tags"])
    bad[-2] ^= 0x01
    r, t = reader([(REQ["inventory"], bytes(bad)), (REQ["inventory"], ANS["two_tags"])])
    assert len(r.inventory()) == 2
    m = r.metrics()
    assert m["frame_errors"] == 1 and m["inventory_retries"] == 1 and "inventory_failures" not in m
    assert not t.script


def test_only_corrupt_answers_raise_frame_error() -> None:
    bad = bytearray(ANS["no_tag"])
    bad[-1] ^= 0x01
    r, _ = reader([(REQ["inventory"], bytes(bad))], retries=0)
    with pytest.raises(FrameError):
        r.inventory()


def test_argument_validation() -> None:
    r, _ = reader([])
    with pytest.raises(ValueError):
        r.read_blocks("E0", 0, 1)
    with pytest.raises(ValueError):
        r.write_blocks(UID, 0, b"abc")
    with pytest.raises(ValueError):
        r.write_afi(UID, 256)
    with pytest.raises(ValueError):
        r.inventory(antennas=["nowhere"])
    with pytest.raises(ValueError):
        r.set_outputs(green="blue")  # type: ignore[arg-type]


# ---- DSFID, block security, select / quiet / reset to ready ---------------------------------

def test_independent_crc_matches_the_library_captures() -> None:
    # The helper that framed the golden frames below reproduces FEIG's own bytes.
    assert independent_request("B0 27 01 E0 04 01 00 46 70 7A 28 07") == REQ["write_afi_07"]
    assert independent_request("B0 2B 01 E0 04 01 00 46 70 7A 28") == REQ["system_info"]
    assert independent_frame("B0 00") == ANS["ok_b0"]
    assert independent_frame("B0 95 12 00") == ANS["block_locked"]


@pytest.mark.parametrize("how", SPLITS)
def test_write_dsfid_verified_by_system_info(how: str) -> None:
    r, t = reader([(REQ["write_dsfid_06"], ANS["ok_b0"]),
                   (REQ["system_info"], ANS["system_info_dsfid_06"])], how)
    r.write_dsfid(UID, 0x06)
    assert not t.script
    assert r.metrics()["write_dsfid_calls"] == 1


def test_write_dsfid_mismatch_retries_then_fails() -> None:
    # The tag keeps DSFID 00 (ANS["system_info"]) while 06 is written.
    script: list[tuple[bytes, bytes | None]] = [(REQ["write_dsfid_06"], ANS["ok_b0"]),
                                                (REQ["system_info"], ANS["system_info"])]
    script += [(REQ["system_info"], ANS["system_info"]), (REQ["write_dsfid_06"], ANS["ok_b0"]),
               (REQ["system_info"], ANS["system_info"])]
    r, t = reader(script, write_retries=1)
    with pytest.raises(WriteFailed, match="read back"):
        r.write_dsfid(UID, 0x06)
    assert not t.script
    assert r.metrics()["write_dsfid_failures"] == 1


def test_write_dsfid_unverified_sends_one_frame() -> None:
    r, t = reader([(REQ["write_dsfid_06"], ANS["ok_b0"])])
    r.write_dsfid(UID, 6, verify=False)
    assert not t.script


@pytest.mark.parametrize("how", SPLITS)
def test_locked_dsfid_is_tag_locked_without_retries(how: str) -> None:
    r, t = reader([(REQ["write_dsfid_06"], ANS["iso_error_locked"]),
                   (REQ["lock_dsfid"], ANS["iso_error_locked"])], how)
    with pytest.raises(TagLocked, match="0x12"):
        r.write_dsfid(UID, 6)
    with pytest.raises(TagLocked):
        r.lock_dsfid(UID)
    assert not t.script


def test_lock_dsfid() -> None:
    r, t = reader([(REQ["lock_dsfid"], ANS["ok_b0"])])
    r.lock_dsfid(UID)
    assert not t.script and r.metrics()["lock_dsfid_calls"] == 1


@pytest.mark.parametrize("how", SPLITS)
def test_block_security(how: str) -> None:
    r, t = reader([(REQ["block_security_0_4"], ANS["block_security_0_4"])], how)
    assert r.block_security(UID, 0, 4) == (1, 1, 0, 0)
    assert not t.script


def test_block_security_short_answer_is_a_frame_error() -> None:
    short = independent_frame("B0 00 04 01 01")
    r, _ = reader([(REQ["block_security_0_4"], short)] * 3, retries=2)
    with pytest.raises(FrameError, match="block security"):
        r.block_security(UID, 0, 4)


def test_select_stay_quiet_reset_to_ready() -> None:
    r, t = reader([(REQ["select"], ANS["ok_b0"]), (REQ["stay_quiet"], ANS["ok_b0"]),
                   (REQ["reset_to_ready"], ANS["ok_b0"]),
                   (REQ["reset_to_ready_all"], ANS["ok_b0"]),
                   (REQ["select"], ANS["no_tag"])])
    r.select(UID)
    r.stay_quiet(UID)
    r.reset_to_ready(UID)
    r.reset_to_ready()
    with pytest.raises(TagNotFound):
        r.select(UID)
    assert not t.script


def test_dsfid_argument_validation() -> None:
    r, _ = reader([])
    with pytest.raises(ValueError):
        r.write_dsfid(UID, 256)
    with pytest.raises(ValueError):
        r.block_security(UID, 250, 10)
    with pytest.raises(ValueError):
        r.select("E004")
