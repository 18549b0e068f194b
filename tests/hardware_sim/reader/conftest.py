"""Fixtures: a simulated pad reader on a pty or TCP and a FeigReader connected to it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from drivers.feig.reader import FeigReader
from hardware_sim.feig_device import FeigReaderDevice
from hardware_sim.field import SimField
from hardware_sim.tag import SimTag


@dataclass
class Sim:
    field: SimField
    device: FeigReaderDevice
    reader: FeigReader
    tags: list[SimTag]


def make_sim(transport: str, n_tags: int = 2, **reader_kw: object) -> tuple[Sim, FeigReaderDevice]:
    field = SimField()
    device = FeigReaderDevice(field, ["pad"], timing=False, seed=3).start(
        pty=transport == "pty", tcp=transport == "socket")
    tags = [SimTag.from_item(f"4000{i:04d}", uid=f"E00401000000{i + 1:04X}") for i in range(n_tags)]
    for t in tags:
        field.place(t, "pad")
    url = device.pty_path if transport == "pty" else f"socket://127.0.0.1:{device.tcp_port}"
    assert url is not None
    kw: dict[str, object] = {"timeout_s": 0.2, "write_retries": 4}
    kw.update(reader_kw)
    reader = FeigReader(url, **kw)  # type: ignore[arg-type]
    return Sim(field, device, reader, tags), device


@pytest.fixture(params=["pty", "socket"])
def sim(request: pytest.FixtureRequest) -> Iterator[Sim]:
    s, device = make_sim(request.param)
    try:
        with s.reader:
            yield s
    finally:
        device.stop()


@pytest.fixture
def tcp_sim() -> Iterator[Sim]:
    s, device = make_sim("socket")
    try:
        with s.reader:
            yield s
    finally:
        device.stop()
