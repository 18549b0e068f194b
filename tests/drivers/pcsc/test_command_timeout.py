"""The card-operation bound of PcscCardReader, without pcscd: operations are plain
callables that block on events, so no timing is asserted (the real-stack case is
test_reader_pcscd.py::test_fault_slow_answer_longer_than_the_timeout)."""

from __future__ import annotations

import logging
import threading

import pytest

from drivers.errors import CardOperationFailed, DriverArgumentError
from drivers.pcsc import CardTimeout, PcscCardReader


def _join_workers() -> None:
    for t in threading.enumerate():
        if t.name == "pcsc-command":
            t.join(10)
            assert not t.is_alive()


def test_result_and_errors_pass_through() -> None:
    r = PcscCardReader("Virtual PCD", command_timeout=30)
    assert r._bounded("op", lambda: b"\x01\x02") == b"\x01\x02"

    def fails() -> bytes:
        raise CardOperationFailed("READ BINARY block 1: SW 63 00", 0x63, 0x00)

    with pytest.raises(CardOperationFailed, match="SW 63 00"):
        r._bounded("op", fails)


def test_hung_operation_times_out_and_its_late_end_is_logged(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="drivers.pcsc.reader")
    r = PcscCardReader("Virtual PCD", command_timeout=0.05)
    release = threading.Event()

    def hung() -> bytes:
        release.wait(30)
        return b"late"

    with pytest.raises(CardTimeout, match=r"GET DATA \(UID\): no answer from the card within 0.05 s"):
        r._bounded("GET DATA (UID)", hung)
    release.set()
    _join_workers()
    assert "GET DATA (UID) finished after its timeout: done" in caplog.text


def test_operation_queued_behind_a_hung_one_is_skipped(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="drivers.pcsc.reader")
    r = PcscCardReader("Virtual PCD", command_timeout=0.05)
    release = threading.Event()
    ran: list[str] = []

    def hung() -> None:
        release.wait(30)

    def write() -> None:
        ran.append("UPDATE BINARY")

    with pytest.raises(CardTimeout):
        r._bounded("first", hung)
    with pytest.raises(CardTimeout):
        r._bounded("UPDATE BINARY block 5", write)   # waits for the card lock, gives up
    release.set()
    _join_workers()
    assert ran == []   # never written late, after its caller was told it timed out
    assert "UPDATE BINARY block 5 skipped: its caller stopped waiting" in caplog.text


def test_no_timeout_runs_in_the_callers_thread() -> None:
    r = PcscCardReader("Virtual PCD", command_timeout=None)
    assert r._bounded("op", lambda: threading.current_thread().name) == \
        threading.current_thread().name


@pytest.mark.parametrize("bad", [0, -1.0, "3", True])
def test_bad_command_timeout(bad: object) -> None:
    with pytest.raises(DriverArgumentError, match="command timeout"):
        PcscCardReader("Virtual PCD", command_timeout=bad)  # type: ignore[arg-type]
