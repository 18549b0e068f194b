"""Fixtures for the PC/SC driver tests (the real pcscd + vpcd + SimCardDevice stack)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hardware_sim.card import SimCardDevice
from tests.drivers.pcsc.support import EventRecorder, sim_card_device
from tests.support.pcscd import PcscdVpcd


@pytest.fixture
def sim_card(pcscd_vpcd: PcscdVpcd) -> Iterator[SimCardDevice]:
    with sim_card_device(pcscd_vpcd) as dev:
        yield dev


@pytest.fixture
def recorder() -> EventRecorder:
    return EventRecorder()
