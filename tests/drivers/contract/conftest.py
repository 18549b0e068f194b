"""Fixtures of the reader contract suite: one suite, four back ends.

``reader_env`` is parametrised over the FEIG simulator on a pty, the FEIG simulator over
``socket://``, the LLRP (UHF) simulator with the ``llrp`` driver, and real hardware::

    pytest -m hardware tests/drivers/contract --reader-url /dev/ttyUSB0 [--reader-baudrate 115200]

Put two or more writable ICODE SLIX tags on the antenna; the suite restores what it
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
from hardware_sim.feig_device import FeigReaderDevice
from hardware_sim.field import SimField
from hardware_sim.llrp_device import LlrpReaderDevice, uhf_tag_for_item
from hardware_sim.llrp_tag import UhfField
from hardware_sim.tag import SimTag


@dataclass
class ReaderEnv:
    reader: Reader
    device: Any  # FeigReaderDevice or LlrpReaderDevice; None on real hardware
    field: Any  # SimField or UhfField; None on real hardware
    kind: str
    vendor: str = "FEIG"

    @property
    def uhf(self) -> bool:
        """An EPC Gen2 reader: EPC UIDs, 16-bit word blocks, no EAS/DSFID/quiet/select."""
        return self.kind == "llrp"

    def placed_uids(self) -> list[str]:
        """The UIDs the simulator put on the pad antenna."""
        if isinstance(self.field, UhfField):
            return self.field.snapshot()["uhf-pad"]
        return list(self.field.snapshot()["pad"])


@pytest.fixture(params=["pty", "socket", "llrp",
                        pytest.param("hardware", marks=pytest.mark.hardware)])
def reader_env(request: pytest.FixtureRequest) -> Iterator[ReaderEnv]:
    kind = request.param
    if kind == "hardware":
        url = request.config.getoption("--reader-url")
        if not url:
            pytest.skip("no --reader-url given")
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
