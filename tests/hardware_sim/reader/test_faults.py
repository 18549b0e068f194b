"""Every simulator fault, and what the driver does about it: a retry that succeeds, a
reopen, or a typed error with nothing half-done."""

from __future__ import annotations

import pytest

from drivers.errors import FrameError, ReaderTimeout, TagLocked, TagNotFound, WriteFailed
from drivers.tags import decode_tag
from tests.hardware_sim.reader.conftest import Sim


def test_fail_next_writes_is_retried_and_verified(sim: Sim) -> None:
    tag = sim.tags[0]
    sim.device.faults.add("fail_write", count=2)
    sim.reader.write_blocks(tag.uid_hex, 20, b"ABCDEFGH")
    assert bytes(tag.memory[80:88]) == b"ABCDEFGH"
    m = sim.reader.metrics()
    assert m["write_blocks_retries"] == 2 and "write_blocks_failures" not in m


def test_fail_afi_writes_beyond_the_retry_budget(sim: Sim) -> None:
    tag = sim.tags[0]
    sim.device.faults.add("fail_afi", count=10)
    with pytest.raises(WriteFailed):
        sim.reader.write_afi(tag.uid_hex, 0xC2)
    assert tag.afi == 0x07  # nothing half-done: the AFI never changed
    assert sim.reader.metrics()["write_afi_failures"] == 1
    sim.device.faults.clear()
    sim.reader.write_afi(tag.uid_hex, 0xC2)
    assert tag.afi == 0xC2


def test_fail_afi_then_success(sim: Sim) -> None:
    tag = sim.tags[1]
    sim.device.faults.add("fail_afi", count=3)
    sim.reader.write_afi(tag.uid_hex, 0xC2)
    assert tag.afi == 0xC2 and sim.reader.metrics()["write_afi_retries"] == 3


def test_corrupt_crc_is_retried(sim: Sim) -> None:
    sim.device.faults.add("corrupt_crc", count=1)
    assert len(sim.reader.inventory()) == 2
    m = sim.reader.metrics()
    assert m["frame_errors"] == 1 and m["inventory_retries"] == 1


def test_corrupt_crc_every_time_is_a_frame_error(sim: Sim) -> None:
    sim.device.faults.add("corrupt_crc", count=None)
    with pytest.raises(FrameError):
        sim.reader.system_info(sim.tags[0].uid_hex)
    sim.device.faults.clear()
    assert sim.reader.system_info(sim.tags[0].uid_hex).afi == 0x07


def test_timeout_is_retried(sim: Sim) -> None:
    sim.device.faults.add("timeout", count=1)
    assert len(sim.reader.inventory()) == 2
    assert sim.reader.metrics()["timeouts"] == 1


def test_three_timeouts_reopen_the_port_then_succeed(sim: Sim) -> None:
    sim.device.faults.add("timeout", count=3)
    sim.reader.retries = 3
    assert len(sim.reader.inventory()) == 2
    m = sim.reader.metrics()
    assert m["timeouts"] == 3 and m["reopens"] == 1


def test_garbage_before_answers_is_skipped(sim: Sim) -> None:
    sim.device.faults.add("garbage", count=3, bytes=7)
    for _ in range(3):
        assert len(sim.reader.inventory()) == 2
    assert "inventory_retries" not in sim.reader.metrics()


def test_tag_leaves_mid_write(sim: Sim) -> None:
    tag = sim.tags[0]
    before = decode_tag(bytes(tag.memory))
    sim.device.faults.add("tag_leaves")
    with pytest.raises(TagNotFound):
        sim.reader.write_blocks(tag.uid_hex, 0, bytes(range(32)))
    assert sim.field.zone_of(tag.uid) is None
    # The tag holds a partial write (that is physics); the driver reports the failure
    # and every retry found the tag gone.
    assert bytes(tag.memory[:16]) == bytes(range(16))
    assert bytes(tag.memory[16:32]) != bytes(range(16, 32)) or before is None
    assert sim.reader.metrics()["write_blocks_failures"] == 1
    assert len(sim.reader.inventory()) == 1


def test_locked_block_is_a_clear_error_without_retries(sim: Sim) -> None:
    tag = sim.tags[1]
    tag.locked.add(2)
    with pytest.raises(TagLocked, match="locked"):
        sim.reader.write_blocks(tag.uid_hex, 0, bytes(16))
    assert sim.device.counters.get("blocks_written") == 2  # blocks 0 and 1, then block 2 refused
    assert "write_blocks_retries" not in sim.reader.metrics()


def test_locked_afi(sim: Sim) -> None:
    tag = sim.tags[0]
    sim.reader.lock_afi(tag.uid_hex)
    with pytest.raises(TagLocked):
        sim.reader.write_afi(tag.uid_hex, 0xC2)
    with pytest.raises(TagLocked):
        sim.reader.lock_afi(tag.uid_hex)


def test_hang_gives_a_typed_timeout_and_recovers(sim: Sim) -> None:
    # Long enough that it cannot end by itself during the retries, however slow the
    # machine; clear() ends it below (the test must not depend on when 0.8 s runs out).
    sim.device.faults.add("hang", seconds=600)
    with pytest.raises(ReaderTimeout):
        sim.reader.inventory()
    assert sim.reader.metrics()["reopens"] == 1
    sim.device.faults.clear()
    assert len(sim.reader.inventory()) == 2


def test_tcp_disconnect_reopens(tcp_sim: Sim) -> None:
    assert len(tcp_sim.reader.inventory()) == 2
    tcp_sim.device.inject("disconnect", seconds=0.1)
    # The server drops the connection; the driver sees it gone, reopens and retries.
    items = tcp_sim.reader.inventory()
    assert len(items) == 2
    m = tcp_sim.reader.metrics()
    assert m.get("reopens", 0) >= 1


def test_partial_set_on_the_pad(sim: Sim) -> None:
    from hardware_sim.tag import SimTag

    sim.field.clear()
    parts = [SimTag.from_item("SET-1", parts=3, part=k) for k in (1, 2, 3)]
    for p in parts[:2]:
        sim.field.place(p, "pad")
    items = sim.reader.inventory()
    decoded = [decode_tag(sim.reader.read_blocks(i.uid, 0, 8)) for i in items]
    assert sorted(d.part_number for d in decoded) == [1, 2]
    assert {d.parts_in_item for d in decoded} == {3}


def test_failed_dsfid_writes_are_retried_and_verified(sim: Sim) -> None:
    # fail_write also fails DSFID writes (STATUS 0x03): retried, verified with 0x2B.
    tag = sim.tags[0]
    sim.device.faults.add("fail_write", count=2)
    sim.reader.write_dsfid(tag.uid_hex, 0x06)
    assert tag.dsfid == 0x06
    m = sim.reader.metrics()
    assert m["write_dsfid_retries"] == 2 and "write_dsfid_failures" not in m


def test_dsfid_write_beyond_the_retry_budget_changes_nothing(sim: Sim) -> None:
    tag = sim.tags[1]
    before = tag.dsfid
    sim.device.faults.add("fail_write", count=None)
    with pytest.raises(WriteFailed):
        sim.reader.write_dsfid(tag.uid_hex, 0x06)
    assert tag.dsfid == before and sim.reader.metrics()["write_dsfid_failures"] == 1


def test_fail_read_once_is_retried(sim: Sim) -> None:
    tag = sim.tags[0]
    sim.device.faults.add("fail_read", count=1)
    assert sim.reader.read_blocks(tag.uid_hex, 0, 8) == bytes(tag.memory[0:32])
    assert sim.device.faults.fired["fail_read"] == 1


def test_fail_system_info_until_cleared_is_a_typed_error(sim: Sim) -> None:
    from drivers.errors import ReaderError

    tag = sim.tags[0]
    sim.device.faults.add("fail_system_info", count=None)
    with pytest.raises(ReaderError) as ei:
        sim.reader.system_info(tag.uid_hex)
    assert getattr(ei.value, "status", None) == 0x02
    sim.device.faults.clear()
    assert sim.reader.system_info(tag.uid_hex).afi == tag.afi


def test_fault_rate_fires_on_a_share_of_requests_reproducibly() -> None:
    from hardware_sim.faults import FaultError, FaultPlan

    def run(seed: int) -> list[bool]:
        plan = FaultPlan()
        plan.add("fail_afi", count=None, rate=0.3, seed=seed)
        return [plan.take("fail_afi") is not None for _ in range(1000)]

    a = run(7)
    assert a == run(7)                       # seeded: the same pattern every run
    assert 200 < sum(a) < 400                # about 30 %
    plan = FaultPlan()
    with pytest.raises(FaultError):
        plan.add("fail_afi", rate=1.5)


def test_fault_rate_through_the_driver(sim: Sim) -> None:
    tag = sim.tags[0]
    sim.device.faults.add("fail_afi", count=None, rate=0.5, seed=1)
    for afi in (0xC2, 0x07, 0xC2, 0x07):
        sim.reader.write_afi(tag.uid_hex, afi)   # retries absorb a 50 % failure rate
        assert tag.afi == afi
    assert sim.device.faults.fired["fail_afi"] >= 1
