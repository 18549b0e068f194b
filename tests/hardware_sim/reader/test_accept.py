"""The simulator's TCP listener survives failing ``accept()`` calls (review Minor 5): each
failure is logged as a warning and counted, and the device keeps accepting clients."""

from __future__ import annotations

import errno
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from drivers.feig.reader import FeigReader
from hardware_sim.feig_device import FeigReaderDevice
from hardware_sim.field import SimField
from hardware_sim.tag import SimTag


def _wait_until(pred: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Poll ``pred``; the generous timeout only bounds a hung test."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


@pytest.fixture
def device() -> Iterator[FeigReaderDevice]:
    field = SimField()
    field.place(SimTag.from_item("70000001", uid="E004010000007001"), "pad")
    dev = FeigReaderDevice(field, ["pad"], timing=False, name="acc").start(pty=False, tcp=True)
    try:
        yield dev
    finally:
        dev.stop()


def _accept_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records
            if r.name == "hardware_sim.feig" and r.levelno == logging.WARNING
            and "TCP accept" in r.getMessage()]


def test_accept_fault_is_logged_counted_and_survived(device: FeigReaderDevice,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="hardware_sim.feig")
    device.inject("accept_error", count=3)
    _wait_until(lambda: device.counters.get("accept_errors", 0) == 3, "3 accept errors")
    warnings = _accept_warnings(caplog)
    assert len(warnings) == 3
    assert "simulated fault accept_error" in warnings[0].getMessage()
    assert "3 in a row" in warnings[-1].getMessage()
    # still listening: a new client is accepted and answered
    with FeigReader(f"socket://127.0.0.1:{device.tcp_port}", timeout_s=5) as reader:
        assert [i.uid for i in reader.inventory()] == ["E004010000007001"]
    status = device.status()
    assert status["counters"]["accept_errors"] == 3
    assert status["counters"]["faults_fired"] == 3
    assert device.faults.fired["accept_error"] == 3


def test_real_accept_oserror_is_survived(device: FeigReaderDevice,
                                         caplog: pytest.LogCaptureFixture,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A genuine OSError from ``socket.accept`` (EMFILE), not the fault: same handling."""
    caplog.set_level(logging.WARNING, logger="hardware_sim.feig")
    real_accept = socket.socket.accept
    failures = {"left": 2}
    lock = threading.Lock()

    def flaky_accept(self: socket.socket) -> Any:
        if threading.current_thread().name == "sim-acc-tcp":
            with lock:
                if failures["left"] > 0:
                    failures["left"] -= 1
                    raise OSError(errno.EMFILE, "Too many open files")
        return real_accept(self)

    monkeypatch.setattr(socket.socket, "accept", flaky_accept)
    _wait_until(lambda: device.counters.get("accept_errors", 0) == 2, "2 accept errors")
    assert any("Too many open files" in r.getMessage() for r in _accept_warnings(caplog))
    with FeigReader(f"socket://127.0.0.1:{device.tcp_port}", timeout_s=5) as reader:
        assert len(reader.inventory()) == 1
    assert device.counters["accept_errors"] == 2
    assert "faults_fired" not in device.counters


def test_stop_ends_the_accept_loop_during_back_off(device: FeigReaderDevice) -> None:
    device.inject("accept_error", count=None)  # fails until cleared
    _wait_until(lambda: device.counters.get("accept_errors", 0) >= 2, "2 accept errors")
    threads = [t for t in threading.enumerate() if t.name == "sim-acc-tcp"]
    assert len(threads) == 1
    device.stop()
    assert not threads[0].is_alive()
