"""The gate never fails open: tags that cannot be read, or leave before they are asked,
alarm as ``undetermined``; one failing tag does not stop the decisions on the others.

Faults are made in the simulator: the FEIG device's ISO command handlers answer a reader
error status (for every tag, or for one UID), so the real driver sees a real error frame.
(``hardware_sim.faults`` has no per-command fault kind yet; this patches the device
instance for the test only.)
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import pytest

from drivers.errors import ReaderTimeout
from drivers.feig import commands as c
from edge.services.gate import alarm_view
from hardware_sim.tag import SimTag
from tests.edge.gate.conftest import GateRig, Walk

PATRON_ID = "2000001"


def fail_command(monkeypatch: pytest.MonkeyPatch, rig: GateRig, handler: str,
                 uids: Iterable[str] | None = None, times: int | None = None) -> list[str]:
    """Make the simulated reader answer ``handler`` (``_system_info``, ``_read_multiple``)
    with an RF communication error, for ``uids`` (all tags when None), ``times`` times
    (always when None). Returns the UIDs it failed, in order."""
    original = getattr(rig.device, handler)
    only = {u.upper() for u in uids} if uids is not None else None
    failed: list[str] = []

    def failing(tag: SimTag, p: bytes, req: int) -> tuple[int, bytes, float, list[Any]]:
        if (only is None or tag.uid_hex in only) and (times is None or len(failed) < times):
            failed.append(tag.uid_hex)
            return c.STATUS_RF_COMM_ERROR, b"", 0.0, []
        return original(tag, p, req)

    monkeypatch.setattr(rig.device, handler, failing)
    return failed


def _buzzer_on(rig: GateRig) -> list[dict[str, Any]]:
    return [o for o in rig.outputs() if o["changes"].get("buzzer") == "flash"]


def test_afi_system_info_always_failing_alarms_undetermined(
        gate_rig: GateRig, monkeypatch: pytest.MonkeyPatch) -> None:
    gate = gate_rig.make_gate(detection="afi")
    tag = gate_rig.tag("50000001", secured=True, title="Bỉ vỏ")
    failed = fail_command(monkeypatch, gate_rig, "_system_info")
    Walk(gate_rig, gate).through([tag], "out")

    assert failed, "the fault never fired"
    alarms = gate_rig.alarms()
    assert len(alarms) == 1, [a.message for a in alarms]
    a = alarms[0]
    d = a.detail
    assert d["reason"] == "undetermined" and d["decided_by"] == "undetermined"
    assert d["security_state"] == "not_read"
    assert d["error"].startswith("security state could not be read: ")
    assert "0x2b: reader status 0x83 RF communication error" in d["error"]
    assert set(d["reason_texts"]) == {"vi", "en"} and "security state" in d["reason_texts"]["en"]
    assert a.uid == tag.uid_hex and d["direction"] == "out"
    # Reading the item still worked (only Get System Information fails): it is named.
    assert a.item_id == "50000001" and d["title"] == "Bỉ vỏ" and d["identified"] is True
    # Outputs fired as for any alarm, once; the alarm is published and counted.
    assert len(_buzzer_on(gate_rig)) == 1
    ev = [e["alarm"] for e in gate_rig.events if e["type"] == "alarm"]
    assert len(ev) == 1 and ev[0]["reason"] == "undetermined" and ev[0]["error"] == d["error"]
    assert gate_rig.store.counters.totals("0000")["gate_alarm"] == 1
    assert gate.stats.undetermined == 1 and gate.stats.tag_failures >= gate.undetermined_after


def test_database_mode_item_unreadable_alarms_undetermined_with_uid(
        gate_rig: GateRig, monkeypatch: pytest.MonkeyPatch) -> None:
    gate = gate_rig.make_gate(detection="database")
    tag = gate_rig.tag("51000001", on_loan=True)      # on loan, but the gate cannot tell
    tag.afi = 0x00
    fail_command(monkeypatch, gate_rig, "_read_multiple")
    Walk(gate_rig, gate).through([tag], "out")

    alarms = gate_rig.alarms()
    assert len(alarms) == 1, [a.message for a in alarms]
    a = alarms[0]
    assert a.detail["reason"] == "undetermined"
    assert a.detail["error"].startswith("item could not be read: ")
    assert a.item_id is None and a.uid == tag.uid_hex
    assert a.detail["identified"] is False and a.detail["identify_error"]
    assert tag.uid_hex in a.message and "not identified" in a.message
    view = alarm_view(a)
    assert view["uid"] == tag.uid_hex and view["identified"] is False
    assert len(_buzzer_on(gate_rig)) == 1


def test_a_transient_read_failure_is_retried_not_alarmed(
        gate_rig: GateRig, monkeypatch: pytest.MonkeyPatch) -> None:
    gate = gate_rig.make_gate(detection="afi")
    tag = gate_rig.tag("52000001", secured=False, on_loan=True)
    # The driver retries an RF error itself: fail every attempt of one driver call.
    attempts = gate_rig.reader.retries + 1
    failed = fail_command(monkeypatch, gate_rig, "_system_info", times=attempts)
    Walk(gate_rig, gate).through([tag], "out")
    assert failed == [tag.uid_hex] * attempts
    assert gate_rig.alarms() == [] and gate_rig.outputs() == []
    assert gate.stats.tag_failures == 1 and gate.stats.decided == 1


def test_fast_walk_seen_once_then_gone_alarms(gate_rig: GateRig,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A tag in one inventory only, gone before its AFI is read: undetermined, not silence."""
    gate = gate_rig.make_gate(detection="afi")
    tag = gate_rig.tag("53000001", secured=True)
    original = gate_rig.reader.inventory

    def inventory_then_leave(*a: Any, **kw: Any) -> Any:
        items = original(*a, **kw)
        gate_rig.field.remove(tag.uid)          # the patron is through the gate
        return items

    monkeypatch.setattr(gate_rig.reader, "inventory", inventory_then_leave)
    gate_rig.field.place(tag, "gate-in")
    gate_rig.clock.advance(0.1)
    assert gate.poll_once()
    assert gate.stats.tags_seen == 1 and gate.stats.tag_failures == 1
    assert gate_rig.alarms() == []              # not yet: it may still be read
    gate_rig.clock.advance(gate.pass_gap_s + 0.1)
    assert gate.poll_once()

    alarms = gate_rig.alarms()
    assert len(alarms) == 1, [a.message for a in alarms]
    a = alarms[0]
    assert a.detail["reason"] == "undetermined" and a.uid == tag.uid_hex
    assert a.detail["direction"] == "out"
    assert a.detail["error"].startswith("security state could not be read: ")
    assert a.item_id is None and a.detail["identified"] is False
    assert "left" in a.detail["identify_error"]
    assert len(_buzzer_on(gate_rig)) == 1
    assert gate.stats.passes_closed == 1


def test_one_failing_tag_does_not_stop_the_others(gate_rig: GateRig,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    gate = gate_rig.make_gate(detection="afi")
    bad = gate_rig.tag("54000001", secured=False, on_loan=True)
    loaned = gate_rig.tag("54000002", secured=False, on_loan=True)
    stolen = gate_rig.tag("54000003", secured=True, title="Lão Hạc")
    fail_command(monkeypatch, gate_rig, "_system_info", uids=[bad.uid_hex])
    for t in (bad, loaned, stolen):
        gate_rig.field.place(t, "gate-in")
    gate_rig.clock.advance(0.1)
    assert gate.poll_once()
    # The same poll decided the two others, although the first tag's read failed.
    assert gate.stats.decided == 2 and gate.stats.tag_failures == 1
    assert [a.item_id for a in gate_rig.alarms()] == ["54000003"]

    for t in (bad, loaned, stolen):
        gate_rig.field.remove(t.uid)
    gate_rig.clock.advance(gate.pass_gap_s + 0.1)
    assert gate.poll_once()
    by_item = {a.uid: a.detail["reason"] for a in gate_rig.alarms()}
    assert by_item == {stolen.uid_hex: "not_checked_out", bad.uid_hex: "undetermined"}
    assert loaned.uid_hex not in by_item
    assert len(_buzzer_on(gate_rig)) == 2
    for a in gate_rig.alarms():
        assert PATRON_ID not in json.dumps(a.detail) + a.message


def test_alarm_then_tag_left_before_item_read_keeps_uid(
        gate_rig: GateRig, monkeypatch: pytest.MonkeyPatch) -> None:
    gate = gate_rig.make_gate(detection="afi")
    tag = gate_rig.tag("55000001", secured=True, title="Chiếc thuyền ngoài xa")
    original = gate_rig.reader.system_info

    def info_then_leave(uid: Any) -> Any:
        info = original(uid)
        gate_rig.field.remove(tag.uid)          # gone before the item id is read
        return info

    monkeypatch.setattr(gate_rig.reader, "system_info", info_then_leave)
    gate_rig.field.place(tag, "gate-in")
    gate_rig.clock.advance(0.1)
    assert gate.poll_once()

    alarms = gate_rig.alarms()
    assert len(alarms) == 1
    a = alarms[0]
    assert a.detail["reason"] == "not_checked_out" and a.detail["security_state"] == "secured"
    assert a.uid == tag.uid_hex and a.item_id is None and a.detail["title"] is None
    assert a.detail["identified"] is False and a.detail["identify_error"]
    assert tag.uid_hex in a.message and "not identified" in a.message
    assert len(_buzzer_on(gate_rig)) == 1


class _EasInventoryFails:
    """EAS ALARM answers, then the inventory times out (a stub, no simulator)."""

    antennas = ("gate-in", "gate-out")

    def __init__(self) -> None:
        self.outputs: list[dict[str, object]] = []

    def read_inputs(self):  # type: ignore[no-untyped-def]
        from drivers.reader import Inputs

        return Inputs(0b01)  # the inner beam is broken: a patron on the way out

    def eas_alarm(self) -> bool:
        return True

    def inventory(self, antennas=None):  # type: ignore[no-untyped-def]
        raise ReaderTimeout("no answer to command 0xb0")

    def set_outputs(self, **kw: object) -> None:
        self.outputs.append(kw)


def test_eas_answer_then_failed_inventory_still_alarms(gate_rig: GateRig) -> None:
    from drivers.tags import SecurityPolicy
    from edge.services.gate import GateService
    from smartlib.config import GateSection

    reader = _EasInventoryFails()
    gate = GateService(gate_rig.store, reader, gate_rig.bus, GateSection(detection="eas"),
                       SecurityPolicy("afi", 0x07, 0xC2), gate_id="gate-01",
                       clock=gate_rig.clock)
    gate_rig.clock.advance(0.1)
    assert gate.poll_once()
    alarms = gate_rig.alarms()
    assert len(alarms) == 1 and alarms[0].detail["reason"] == "eas_unidentified"
    assert "inventory after the EAS answer failed" in alarms[0].detail["error"]
    assert len(reader.outputs) == 1 and reader.outputs[0]["buzzer"] == "flash"
