"""UHF end to end: a kiosk checkout and return over LLRP (kiosk-02's edge in process, the
real agent, broker, gateway and demo ILS of the e2e world) and a gate alarm over LLRP, both
against the simulated LLRP reader with ISO/TS 28560-4 tags. The evidence is the demo ILS's
database and the AFI in each tag's PC word, read from the simulator's tags."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from drivers.llrp.reader import LlrpReader
from drivers.tags import SecurityPolicy, pc_afi
from edge.services.events import EventBus
from edge.services.gate import COUNTER_OUT, GateService
from edge.store import ItemRecord, LoanRecord, open_store
from hardware_sim.llrp_device import LlrpReaderDevice, uhf_tag_for_item
from hardware_sim.llrp_tag import UhfField, UhfTag
from smartlib.config import GateSection
from tests.edge.e2e.conftest import (
    AFI_RELEASED,
    AFI_SECURED,
    DEVICE_TOKEN,
    World,
    by_item,
    login,
    write_toml,
)


def _wait(cond: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Wait for an observable state (a functional timeout, not a timing check)."""
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _afi(tag: UhfTag) -> int | None:
    return pc_afi(bytes(tag.epc_bank[2:4]))


@pytest.fixture
def uhf_kiosk(world: World) -> Iterator[tuple[Any, UhfField]]:
    """kiosk-02's edge (API in process) with ``reader.driver = "llrp"`` on a simulated pad."""
    from fastapi.testclient import TestClient

    from edge.api.app import create_app
    from edge.services.container import EdgeServices
    from smartlib.config import load_settings

    field = UhfField({"uhf-pad": (1,)})
    device = LlrpReaderDevice(field, timing=False).start(port=0)
    try:
        cfg = write_toml(world.tmp / "kiosk-02-uhf.toml", world.config(
            "kiosk-02", reader={"driver": "llrp", "url": device.url, "antennas": ["pad"],
                                "timeout_s": 2.0}))
        settings = load_settings(cfg)
        services = EdgeServices.build(settings)
        with TestClient(create_app(settings, services),
                        headers={"Authorization": f"Bearer {DEVICE_TOKEN}"}) as client:
            yield client, field
    finally:
        device.stop()


def test_uhf_kiosk_checkout_then_return(world: World, uhf_kiosk: tuple[Any, UhfField]) -> None:
    api, field = uhf_kiosk
    items = world.items(3)
    tags = [uhf_tag_for_item(i, owner_library="VN-HN0001", afi=AFI_SECURED) for i in items]
    for tag in tags:
        field.place(tag, "uhf-pad")
    patron = world.patron()
    sid = login(api, patron)
    out = api.post(f"/sessions/{sid}/checkout")
    assert out.status_code == 200, out.text
    res = by_item(out.json())
    assert set(res) == set(items) and {r["status"] for r in res.values()} == {"loaned"}, res
    for item in items:
        assert world.ils.loaned_to(item) == patron
    assert [_afi(t) for t in tags] == [AFI_RELEASED] * 3  # on loan: the PC word's AFI
    back = api.post(f"/sessions/{sid}/return")
    assert back.status_code == 200, back.text
    assert {r["status"] for r in by_item(back.json()).values()} == {"returned"}
    for item in items:
        assert world.ils.loaned_to(item) is None
    assert [_afi(t) for t in tags] == [AFI_SECURED] * 3
    assert {t.epc_hex for t in tags} == set(field.snapshot()["uhf-pad"])  # UIIs unchanged
    assert api.delete(f"/sessions/{sid}").status_code == 204
    world.wait_edge_idle("kiosk-02")


def test_uhf_gate_alarms_for_a_secured_item_walking_out(tmp_path: Path) -> None:
    field = UhfField({"uhf-gate-in": (1,), "uhf-gate-out": (2,)})
    device = LlrpReaderDevice(field, timing=False).start(port=0)
    reader = LlrpReader(device.url, timeout_s=2.0, antennas=("gate-in", "gate-out"))
    store = open_store(tmp_path / "gate.db")
    gate = GateService(store, reader, EventBus(), GateSection(detection="afi", alarm_duration_ms=200),
                       SecurityPolicy("afi", AFI_SECURED, AFI_RELEASED), gate_id="gate-uhf")
    try:
        store.cache.apply_delta(items=[ItemRecord("82000001", "Số đỏ"),
                                       ItemRecord("82000002", "Tắt đèn")],
                                loans=[LoanRecord("82000001", "2000001")])
        loaned = uhf_tag_for_item("82000001", owner_library="VN-HN0001", afi=AFI_RELEASED)
        secured = uhf_tag_for_item("82000002", owner_library="VN-HN0001", afi=AFI_SECURED)
        gate.start()

        def settle() -> None:  # let the gate poll the new state (beams and tags) twice
            polls = gate.stats.polls
            _wait(lambda: gate.stats.polls >= polls + 2, "two more gate polls")

        # A patron walks out: beam A (GPI 1) and the inner antenna, then beam B and the outer.
        device.set_input(1, True)
        for tag in (loaned, secured):
            field.place(tag, "uhf-gate-in")
        _wait(lambda: gate.stats.decided >= 2, "both tags decided")
        assert device.counters.get("gpo_writes", 0) >= 1  # the alarm outputs went on
        device.set_input(2, True)
        settle()
        device.set_input(1, False)
        for tag in (loaned, secured):
            field.place(tag, "uhf-gate-out")
        settle()
        device.set_input(2, False)
        field.clear()
        settle()
        _wait(lambda: store.counters.totals("0000").get(COUNTER_OUT) == 1, "the visitor counted out")
        _wait(lambda: gate.stats.passes_closed >= 2, "both passes closed")
        alarms = store.alarms.list()
        assert [(a.item_id, a.detail["direction"], a.detail["title"]) for a in alarms] == \
            [("82000002", "out", "Tắt đèn")]
        assert gate.stats.undetermined == 0
        _wait(lambda: device.outputs_now() == {f"gpo{n}": "off" for n in range(1, 5)},
              "the alarm outputs to go off after their duration")
    finally:
        gate.stop()
        reader.close()
        store.close()
        device.stop()
