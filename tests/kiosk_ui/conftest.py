"""Fixtures for the kiosk UI tests: a fake edge, view-models on an inline runner, a window."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from kiosk_ui.fake_edge import FakeEdge
from kiosk_ui.i18n import Localizer
from kiosk_ui.worker import InlineRunner


@pytest.fixture
def edge() -> FakeEdge:
    return FakeEdge()


@pytest.fixture
def localizer(qapp: Any) -> Iterator[Localizer]:
    loc = Localizer("vi")
    yield loc
    loc.set_language("vi")


@pytest.fixture
def runner() -> InlineRunner:
    return InlineRunner()


@pytest.fixture
def root_vm(edge: FakeEdge, runner: InlineRunner, localizer: Localizer) -> Iterator[Any]:
    from kiosk_ui.viewmodels import KioskViewModel

    vm = KioskViewModel(edge, runner, localizer, site_name="Thư viện Demo",
                        opening_hours="08:00–20:00", printer_available=True,
                        admin_exit_code="2468", idle_timeout_s=30)
    yield vm
    vm.stop()


@pytest.fixture
def kiosk(qtbot: Any, edge: FakeEdge) -> Iterator[Any]:
    """The whole kiosk (threaded runner, fake edge), 1280×800, not in kiosk mode."""
    from kiosk_ui.app import KioskOptions, create_kiosk

    opts = KioskOptions(language="vi", fullscreen=False, printer=True, site_name="Thư viện Demo",
                        opening_hours="08:00–20:00", admin_exit_code="2468",
                        health_interval_ms=60_000, card_poll_ms=60_000)
    k = create_kiosk(opts, edge, connect_events=False, threaded=True)
    k.window.clock = unhurried_clock()
    qtbot.addWidget(k.window)
    k.window.resize(1280, 800)
    k.window.show()
    qtbot.waitExposed(k.window)
    yield k
    k.close()
    k.localizer.set_language("vi")


def login(vm: Any, number: str = "123456", pin: str = "1234") -> None:
    """Log in through the login view-model (inline runner)."""
    vm.go("login")
    vm.login.set_number(number)
    vm.login.set_pin(pin)
    vm.login.submit()


def unhurried_clock(step_s: float = 1.0) -> Any:
    """A clock for the window's double-press guard that advances ``step_s`` at every read:
    a test's taps, one after another in the same spot, are a patron's deliberate taps, not
    the bounce of a double press."""
    now = [1000.0]

    def clock() -> float:
        now[0] += step_s
        return now[0]

    return clock
