"""Fixtures of the reader contract suite: one suite, six back ends.

``reader_env`` is parametrised over the FEIG simulator on a pty, the FEIG simulator over
``socket://``, the LLRP (UHF) simulator with the ``llrp`` driver, the two PC/SC desk-reader families (``pcsc-acs``, ``pcsc-omnikey``: the
``pcsc15693`` driver through the private pcscd and vpcd to a
:class:`~hardware_sim.card.SimDeskReaderTag`, one tag on the reader), and real hardware::

    pytest -m hardware tests/drivers/contract --reader-url /dev/ttyUSB0 [--reader-baudrate 115200]
    pytest -m hardware tests/drivers/contract --reader-url "pcsc15693://OMNIKEY?family=omnikey"

Put two or more writable ICODE SLIX tags on the antenna (one on a desk reader); the suite restores what it
changes (block data, AFI, DSFID, each tag's EAS bit). ``--reader-baudrate`` is registered
here, so name this directory (or a file in it) on the command line to use it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from drivers.feig.reader import FeigReader
from drivers.llrp.reader import LlrpReader
from drivers.reader import Reader
from drivers.registry import create_reader
from hardware_sim.card import SimDeskReaderTag
from hardware_sim.feig_device import FeigReaderDevice
from hardware_sim.field import SimField
from hardware_sim.llrp_device import LlrpReaderDevice, uhf_tag_for_item
from hardware_sim.llrp_tag import UhfField
from hardware_sim.tag import SimTag


@dataclass
class ReaderEnv:
    reader: Reader
    device: Any  # FeigReaderDevice or LlrpReaderDevice; None on real hardware and desk readers
    field: Any  # SimField or UhfField; None on real hardware
    kind: str
    vendor: str = "FEIG"
    desk: bool = False  # a PC/SC desk reader: one tag, no outputs, GET DATA inventory

    @property
    def uhf(self) -> bool:
        """An EPC Gen2 reader: EPC UIDs, 16-bit word blocks, no EAS/DSFID/quiet/select."""
        return self.kind == "llrp"

    def placed_uids(self) -> list[str]:
        """The UIDs the simulator put on the pad antenna."""
        if isinstance(self.field, UhfField):
            return self.field.snapshot()["uhf-pad"]
        return list(self.field.snapshot()["pad"])


def _desk_env(request: pytest.FixtureRequest, family: str) -> Iterator[ReaderEnv]:
    from tests.drivers.pcsc.support import READER, sim_card_device, wait_card_state

    pcscd = request.getfixturevalue("pcscd_vpcd")
    field = SimField()
    tag = SimTag.from_item("30000000", isil="HN0001", eas=False, afi=0x07,
                           uid="E004010000000001")
    field.place(tag, "pad")
    with sim_card_device(pcscd) as card:
        card.insert(SimDeskReaderTag(tag, family))
        wait_card_state(present=True)
        r = create_reader("pcsc15693", f"pcsc15693://{READER}?family={family}")
        with r:
            yield ReaderEnv(r, None, field, f"pcsc-{family}",
                            vendor="ACS" if family == "acs" else "HID OMNIKEY", desk=True)


@pytest.fixture(params=["pty", "socket", "llrp", pytest.param("pcsc-acs", marks=pytest.mark.pcsc),
                        pytest.param("pcsc-omnikey", marks=pytest.mark.pcsc),
                        pytest.param("hardware", marks=pytest.mark.hardware)])
def reader_env(request: pytest.FixtureRequest) -> Iterator[ReaderEnv]:
    kind = request.param
    if kind.startswith("pcsc-"):
        yield from _desk_env(request, kind.removeprefix("pcsc-"))
        return
    if kind == "hardware":
        url = request.config.getoption("--reader-url")
        if not url:
            pytest.skip("no --reader-url given")
        if url.startswith("pcsc15693://"):  # a desk reader: --reader-url "pcsc15693://ACS?family=acs"
            desk = create_reader("pcsc15693", url)
            with desk:
                yield ReaderEnv(desk, None, None, kind, vendor=desk.vendor, desk=True)
            return
        baudrate = request.config.getoption("--reader-baudrate", default=38400)
        r = FeigReader(url, baudrate=baudrate, timeout_s=1.0)
        with r:
            yield ReaderEnv(r, None, None, kind)
        return
    if kind == "llrp":
        uhf = UhfField({"uhf-pad": (1,)})
        llrp = LlrpReaderDevice(uhf, timing=False).start(port=0)
        for i in range(3):
            uhf.place(uhf_tag_for_item(f"3000{i:04d}", owner_library="VN-HN0001"), "uhf-pad")
        reader = LlrpReader(f"llrp://127.0.0.1:{llrp.tcp_port}", timeout_s=1.0)
        try:
            with reader:
                yield ReaderEnv(reader, llrp, uhf, kind, vendor="smartlib simulator")
        finally:
            llrp.stop()
        return
    field = SimField()
    device = FeigReaderDevice(field, ["pad"], timing=False, seed=7).start(
        pty=kind == "pty", tcp=kind == "socket")
    for i in range(3):
        field.place(SimTag.from_item(f"3000{i:04d}", isil="HN0001", eas=False, afi=0x07,
                                     uid=f"E0040100000000{i + 1:02X}"), "pad")
    url = device.pty_path if kind == "pty" else f"socket://127.0.0.1:{device.tcp_port}"
    assert url is not None
    r = FeigReader(url, timeout_s=0.3)
    try:
        with r:
            yield ReaderEnv(r, device, field, kind)
    finally:
        device.stop()
