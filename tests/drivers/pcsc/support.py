"""Helpers for the PC/SC tests: a started SimCardDevice and an event recorder."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from drivers.errors import CardRemoved, NoCardReader
from drivers.pcsc import PcscCardReader
from hardware_sim.card import SimCardDevice
from tests.conftest import register_session_resource
from tests.support.pcscd import PcscdVpcd

READER = "Virtual PCD 00 00"
"""The slot whose vpcd port is ``pcscd_vpcd.port``."""


class EventRecorder:
    """Collects events from a monitor thread; ``wait_for`` blocks until one matches."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        self._cond = threading.Condition()

    def __call__(self, event: Any) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def wait_for(self, pred: Callable[[Any], bool], timeout: float = 10.0, start: int = 0) -> Any:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for e in self.events[start:]:
                    if pred(e):
                        return e
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no matching event within {timeout}s; got {self.events!r}")
                self._cond.wait(left)

    def wait_type(self, cls: type, timeout: float = 10.0, start: int = 0) -> Any:
        return self.wait_for(lambda e: isinstance(e, cls), timeout, start)

    def mark(self) -> int:
        with self._cond:
            return len(self.events)


def wait_card_state(present: bool, timeout: float = 10.0) -> None:
    """Wait until pcscd reports the test reader with (or without) a card."""
    probe = PcscCardReader(READER, identity=None)
    deadline = time.monotonic() + timeout
    while True:
        try:
            probe.atr()
            now = True
        except (CardRemoved, NoCardReader):
            now = False
        if now == present:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"card present={now} on {READER}, expected {present}")
        time.sleep(0.05)


@contextmanager
def sim_card_device(pcscd: PcscdVpcd) -> Iterator[SimCardDevice]:
    """A started SimCardDevice on the private pcscd's port; stopped, and its card gone."""
    dev = SimCardDevice(port=pcscd.port, reconnect_interval=0.05)
    dev.start()
    try:
        yield dev
    finally:
        dev.stop()
        if pcscd.proc is not None and pcscd.proc.poll() is None:
            wait_card_state(present=False)


def restart_pcscd(pcscd: PcscdVpcd) -> None:
    pcscd.restart()
    if pcscd.proc is not None:
        register_session_resource(pid=pcscd.proc.pid)


def start_pcscd(pcscd: PcscdVpcd) -> None:
    pcscd.start()
    if pcscd.proc is not None:
        register_session_resource(pid=pcscd.proc.pid)
