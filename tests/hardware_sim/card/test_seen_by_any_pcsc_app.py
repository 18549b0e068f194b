"""The simulated card is a card to any PC/SC application, not only to our driver."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from hardware_sim.card import SimCardDevice, SimIso14443Card, SimIso15693Card
from tests.drivers.pcsc.support import READER, sim_card_device, wait_card_state
from tests.support.pcscd import PcscdVpcd
from tests.support.procs import require_binary

pytestmark = pytest.mark.pcsc

PLAIN_PYSCARD = r"""
import sys
from smartcard.System import readers
from smartcard.util import toHexString
r = [r for r in readers() if str(r) == sys.argv[1]][0]
c = r.createConnection()
c.connect()
data, sw1, sw2 = c.transmit([0xFF, 0xCA, 0x00, 0x00, 0x00])
print(toHexString(c.getATR()))
print(toHexString(data), "%02X %02X" % (sw1, sw2))
c.disconnect()
"""


@pytest.fixture
def sim_card(pcscd_vpcd: PcscdVpcd) -> Iterator[SimCardDevice]:
    with sim_card_device(pcscd_vpcd) as dev:
        yield dev


def test_plain_pyscard_script_reads_uid(sim_card: SimCardDevice) -> None:
    # protocols.md §5, the verified exchange
    sim_card.insert(SimIso15693Card(bytes.fromhex("E0 04 01 50 12 34 56 78")))
    wait_card_state(present=True)
    out = subprocess.run([sys.executable, "-c", PLAIN_PYSCARD, READER], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "3B 8F 80 01 80 4F 0C A0 00 00 03 06 0B 00 14 00 00 00 00 77",
        "E0 04 01 50 12 34 56 78 90 00",
    ]


def test_pcsc_scan_shows_the_atr(sim_card: SimCardDevice) -> None:
    binary = require_binary("pcsc_scan", "pcsc-tools")
    sim_card.insert(SimIso14443Card(bytes.fromhex("04 A2 24 6A")))
    wait_card_state(present=True)
    out = subprocess.run([binary, "-c", "-n"], capture_output=True, text=True, timeout=30)
    assert "3B 8F 80 01 80 4F 0C A0 00 00 03 06 03 00 01 00 00 00 00 6A" in out.stdout, (
        out.stdout + out.stderr)
    assert READER in out.stdout
