"""A kiosk loan whose release write failed, then the gate alarm that explains it.

One simulated world: a kiosk pad reader and the gate reader over the same SimField, the
edge services (circulation, security tasks) with the gateway double, and the gate on the
same store (a combined box; across boxes the task lives in the kiosk's store).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from drivers.credential import PatronCredential
from drivers.feig.reader import FeigReader
from edge.services.container import EdgeServices
from hardware_sim.feig_device import FeigReaderDevice
from smartlib.config import load_settings
from tests.edge.doubles import GatewayDouble, Ils
from tests.edge.gate.conftest import GateRig, Walk

PATRON = "2000001"


@pytest.fixture
def kiosk(gate_rig: GateRig) -> Iterator[tuple[EdgeServices, FeigReaderDevice, Any]]:
    pad = FeigReaderDevice(gate_rig.field, ["pad"], name="pad", timing=False,
                           seed=9).start(pty=False, tcp=True)
    reader = FeigReader(f"socket://127.0.0.1:{pad.tcp_port}", timeout_s=0.3, write_retries=1,
                        antennas=("pad",))
    settings = load_settings(None, store={"path": gate_rig.store.path},
                             card_reader={"enabled": False},
                             policy={"result_timeout_s": 2.0})
    ils = Ils(patrons={PATRON: "1234"}, titles={"60000001": "Nỗi buồn chiến tranh"})
    gw = GatewayDouble(gate_rig.store.path, ils).__enter__()
    svc = EdgeServices.build(settings, store=gate_rig.store, reader=reader)
    svc.start(background=False, poll_pad=False)
    try:
        yield svc, pad, ils
    finally:
        svc.stop()
        reader.close()
        gw.close()
        pad.stop()


def test_kiosk_release_failure_then_gate_alarm_explains_it(gate_rig: GateRig, kiosk) -> None:
    svc, pad, _ = kiosk
    tag = gate_rig.tag("60000001", secured=True, title="Nỗi buồn chiến tranh")
    gate_rig.field.place(tag, "pad")
    pad.inject("fail_afi", count=None)          # every AFI write fails: release impossible
    session = svc.sessions.login(PatronCredential("manual", PATRON, PATRON.encode()), "1234", "vi")
    [result] = svc.circulation.checkout(session)
    assert result["status"] == "loaned_alarm_on" and result["code"] == "alarm_still_on"
    [task] = svc.store.security.open()
    assert task.state == "alarm_on" and task.item_id == "60000001"
    assert tag.afi == 0x07 and svc.store.cache.is_on_loan("60000001")

    # The patron walks out with the book: the gate alarms, and the record says why.
    gate_rig.field.remove(tag.uid)
    gate = gate_rig.make_gate(detection="afi+database")
    Walk(gate_rig, gate).through([tag], "out")
    [alarm] = gate_rig.alarms()
    d = alarm.detail
    assert alarm.item_id == "60000001" and d["reason"] == "loaned_alarm_on"
    assert d["task"] == task.id and d["task_state"] == "alarm_on"
    assert d["transaction"] == task.txn_key == result["transaction"]
    assert d["transaction_kind"] == "checkout" and d["transaction_state"] == "applied"
    assert d["on_loan"] is True and d["security_state"] == "secured"
    assert d["title"] == "Nỗi buồn chiến tranh"
    assert "ki-ốt" in d["reason_texts"]["vi"]
    assert PATRON not in json.dumps(d) + alarm.message      # no patron data


def test_afi_mode_explains_too(gate_rig: GateRig, kiosk) -> None:
    svc, pad, _ = kiosk
    tag = gate_rig.tag("60000001", secured=True)
    gate_rig.field.place(tag, "pad")
    pad.inject("fail_afi", count=None)
    session = svc.sessions.login(PatronCredential("manual", PATRON, PATRON.encode()), "1234", "en")
    svc.circulation.checkout(session)
    gate_rig.field.remove(tag.uid)
    Walk(gate_rig, gate_rig.make_gate(detection="afi")).through([tag], "out")
    [alarm] = gate_rig.alarms()
    assert alarm.detail["reason"] == "loaned_alarm_on" and alarm.detail["task"] is not None
