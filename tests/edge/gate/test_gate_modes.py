"""The gate against the simulator's gate: detection modes, direction, debounce, outputs,
the alarm record, offline behaviour, reader failures."""

from __future__ import annotations

import json

from edge.services.gate import alarm_view
from tests.edge.gate.conftest import GateRig, Walk

PATRON_ID = "2000001"


def _only(rig: GateRig):
    alarms = rig.alarms()
    assert len(alarms) == 1, [a.message for a in alarms]
    return alarms[0]


def test_afi_unissued_item_alarms_with_full_record(gate_rig: GateRig) -> None:
    gate = gate_rig.make_gate(detection="afi", alarm_duration_ms=2500)
    loaned = gate_rig.tag("30000001", secured=False, on_loan=True, title="Truyện Kiều")
    stolen = gate_rig.tag("30000002", secured=True, title="Số đỏ")
    Walk(gate_rig, gate).through([loaned, stolen], "out")

    alarm = _only(gate_rig)
    assert alarm.item_id == "30000002" and alarm.uid == stolen.uid_hex
    d = alarm.detail
    assert d["title"] == "Số đỏ" and d["owner_library"] == "HN0001-MAIN"
    assert d["direction"] == "out" and d["gate"] == "gate-01" and d["site"] == "hn-central"
    assert d["security_state"] == "secured" and d["decided_by"] == "tag"
    assert d["reason"] == "not_checked_out" and set(d["reason_texts"]) == {"vi", "en"}
    assert d["afi"] == 0x07 and d["cache"]["offline"] is False
    # No patron data anywhere in the record.
    assert PATRON_ID not in json.dumps(d) + alarm.message
    # The light and buzzer went on through the reader, for the configured duration.
    fired = [o for o in gate_rig.outputs() if o["changes"].get("buzzer") == "flash"]
    assert len(fired) == 1
    assert fired[0]["changes"]["red"] == "flash" and fired[0]["duration_s"] == 2.5
    assert gate_rig.store.counters.totals("0000")["gate_alarm"] == 1
    ev = [e for e in gate_rig.events if e["type"] == "alarm"]
    assert len(ev) == 1 and ev[0]["alarm"]["title"] == "Số đỏ"
    assert ev[0]["alarm"]["reason"] == "not_checked_out"


def test_afi_checked_out_items_pass_silently(gate_rig: GateRig) -> None:
    gate = gate_rig.make_gate(detection="afi")
    tags = [gate_rig.tag(f"3100{i:04d}", secured=False, on_loan=True) for i in range(5)]
    Walk(gate_rig, gate).through(tags, "out")
    assert gate_rig.alarms() == []
    assert gate_rig.outputs() == []


def test_afi_reads_each_uid_once_per_pass(gate_rig: GateRig) -> None:
    gate = gate_rig.make_gate(detection="afi")
    tags = [gate_rig.tag(f"3200{i:04d}", secured=False, on_loan=True) for i in range(3)]
    before = gate_rig.reader.metrics().get("system_info_calls", 0)
    Walk(gate_rig, gate).through(tags, "out")
    # Get System Information once per tag and pass, not once per poll (5 polls here).
    assert gate_rig.reader.metrics()["system_info_calls"] - before == 3
    assert gate.stats.polls == 5 and gate.stats.tags_seen == 3


def test_direction_by_zones_only_exits_alarm_by_default(gate_rig: GateRig) -> None:
    gate = gate_rig.make_gate(detection="afi", debounce_s=0)
    t = gate_rig.tag("33000001")
    walk = Walk(gate_rig, gate)
    walk.through([t], "in", beams=False)
    assert gate_rig.alarms() == []
    walk.through([t], "out", beams=False)
    assert _only(gate_rig).detail["direction"] == "out"


def test_direction_in_alarms_when_configured(gate_rig: GateRig) -> None:
    gate = gate_rig.make_gate(detection="afi", alarm_directions=["in", "out"])
    t = gate_rig.tag("33000002")
    Walk(gate_rig, gate).through([t], "in")
    assert _only(gate_rig).detail["direction"] == "in"


def test_direction_from_ir_beams_when_zones_do_not_tell(gate_rig: GateRig) -> None:
    # Antenna names that are not the gate's zones: only the beams give the direction.
    gate = gate_rig.make_gate(detection="afi", inner_antenna="x", outer_antenna="y",
                              alarm_directions=["out"], debounce_s=0)
    t = gate_rig.tag("33000003")
    walk = Walk(gate_rig, gate)
    walk.through([t], "in")
    assert gate_rig.alarms() == []
    walk.through([t], "out")
    assert _only(gate_rig).detail["direction"] == "out"


def test_unknown_direction_does_not_alarm_by_default(gate_rig: GateRig) -> None:
    # Neither the zones (names that are not the gate's) nor the beams tell the direction.
    gate = gate_rig.make_gate(detection="afi", inner_antenna="x", outer_antenna="y")
    assert gate.alarm_directions == {"out"}
    t = gate_rig.tag("33000004")
    Walk(gate_rig, gate).through([t], "out", beams=False)
    assert gate.stats.decided == 1 and gate.stats.passes_closed == 1
    assert gate_rig.alarms() == [] and gate_rig.outputs() == []


def test_unknown_direction_alarms_when_configured(gate_rig: GateRig) -> None:
    # A single-antenna gate without beams: every pass is "unknown"; the site opts in.
    gate = gate_rig.make_gate(detection="afi", inner_antenna="x", outer_antenna="y",
                              alarm_directions=["out", "unknown"])
    t = gate_rig.tag("33000005")
    Walk(gate_rig, gate).through([t], "out", beams=False)
    assert _only(gate_rig).detail["direction"] == "unknown"
    assert any(o["changes"].get("buzzer") == "flash" for o in gate_rig.outputs())


def test_default_directions_from_a_site_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from edge.services.gate import alarm_directions_of
    from smartlib.config import load_settings

    unset = tmp_path / "unset.toml"
    unset.write_text('[gate]\ndetection = "afi"\n', encoding="utf-8")
    opted = tmp_path / "opted.toml"
    opted.write_text('[gate]\nalarm_directions = ["out", "unknown"]\n', encoding="utf-8")
    assert alarm_directions_of(load_settings(unset).gate) == {"out"}
    assert alarm_directions_of(load_settings(opted).gate) == {"out", "unknown"}
    assert alarm_directions_of(load_settings(None, gate={"alarm_directions": ["in"]}).gate) \
        == {"in"}


def test_debounce_per_tag(gate_rig: GateRig) -> None:
    gate = gate_rig.make_gate(detection="afi", debounce_s=10)
    t1, t2 = gate_rig.tag("34000001"), gate_rig.tag("34000002")
    walk = Walk(gate_rig, gate)
    walk.through([t1], "out")
    walk.through([t1, t2], "out")          # t1 again within 10 s: only t2 alarms
    assert sorted(a.item_id for a in gate_rig.alarms()) == ["34000001", "34000002"]
    assert gate.stats.suppressed == 1
    gate_rig.clock.advance(10.0)
    walk.through([t1], "out")               # after the window: alarms again
    assert [a.item_id for a in gate_rig.alarms()].count("34000001") == 2


def test_a_lingering_tag_alarms_once_per_pass(gate_rig: GateRig) -> None:
    gate = gate_rig.make_gate(detection="afi", debounce_s=0)
    t = gate_rig.tag("34000003")
    gate_rig.field.place(t, "gate-in")
    for _ in range(10):
        gate_rig.clock.advance(0.2)
        assert gate.poll_once()
    assert len(gate_rig.alarms()) == 1


def test_eas_mode_cache_points_at_the_item(gate_rig: GateRig) -> None:
    gate = gate_rig.make_gate(detection="eas")
    # EAS-only site: the loaned item's EAS bit is off, the unissued one's on; both AFIs
    # are the secured value, so only the EAS command can tell them apart.
    loaned = gate_rig.tag("35000001", secured=True, eas=False, on_loan=True)
    stolen = gate_rig.tag("35000002", secured=True, eas=True, title="Dế mèn")
    Walk(gate_rig, gate).through([loaned, stolen], "out")
    alarm = _only(gate_rig)
    assert alarm.item_id == "35000002" and alarm.detail["reason"] == "eas"
    assert alarm.detail["title"] == "Dế mèn" and alarm.detail["direction"] == "out"
    assert any(o["changes"].get("buzzer") == "flash" for o in gate_rig.outputs())
    # The EAS answer is field-wide: the record does not claim this tag's own state, and
    # says how the item was singled out.
    assert alarm.detail["security_state"] == "unknown"
    assert alarm.detail["eas"] == {"field_alarm": True, "tag_bit": "not_read",
                                   "identified_by": "cache_not_on_loan", "tags_in_field": 2}


def test_eas_mode_does_not_claim_secured_for_a_released_tag(gate_rig: GateRig) -> None:
    gate = gate_rig.make_gate(detection="eas")
    # A stale cache: this loan has not reached the gate, but the kiosk released the tag
    # (EAS off). The unissued item beside it sets the EAS answer off.
    released = gate_rig.tag("35200001", secured=False, eas=False)
    stolen = gate_rig.tag("35200002", secured=True, eas=True)
    Walk(gate_rig, gate).through([released, stolen], "out")
    by_item = {a.item_id: a.detail for a in gate_rig.alarms()}
    assert set(by_item) == {"35200001", "35200002"}     # the cache cannot tell them apart
    for d in by_item.values():
        assert d["security_state"] == "unknown" and d["reason"] == "eas"
        assert d["eas"]["identified_by"] == "cache_not_on_loan"


def test_eas_mode_every_tag_on_loan_is_blamed_and_says_so(gate_rig: GateRig) -> None:
    gate = gate_rig.make_gate(detection="eas")
    # On loan in the cache, but the kiosk could not reset the EAS bit.
    loaned = gate_rig.tag("35300001", secured=True, eas=True, on_loan=True)
    Walk(gate_rig, gate).through([loaned], "out")
    d = _only(gate_rig).detail
    assert d["item_id"] == "35300001" and d["on_loan"] is True
    assert d["security_state"] == "unknown"
    assert d["eas"]["identified_by"] == "only_tag_in_field" and d["eas"]["tags_in_field"] == 1


def test_eas_mode_no_alarm_without_eas(gate_rig: GateRig) -> None:
    gate = gate_rig.make_gate(detection="eas")
    tags = [gate_rig.tag(f"3510{i:04d}", secured=True, eas=False) for i in range(3)]
    Walk(gate_rig, gate).through(tags, "out")
    assert gate_rig.alarms() == [] and gate_rig.outputs() == []


def test_database_mode_uses_the_cache(gate_rig: GateRig) -> None:
    gate = gate_rig.make_gate(detection="database")
    # Tags without a usable security state: every AFI is 0x00.
    loaned = gate_rig.tag("36000001", on_loan=True)
    stolen = gate_rig.tag("36000002", title="Tắt đèn")
    stranger = gate_rig.tag("36000003", catalogue=False)
    for t in (loaned, stolen, stranger):
        t.afi = 0x00
    Walk(gate_rig, gate).through([loaned, stolen, stranger], "out")
    by_item = {a.item_id: a.detail for a in gate_rig.alarms()}
    assert set(by_item) == {"36000002", "36000003"}
    assert by_item["36000002"]["reason"] == "not_on_loan"
    assert by_item["36000002"]["decided_by"] == "cache"
    assert by_item["36000002"]["title"] == "Tắt đèn"
    assert by_item["36000003"]["reason"] == "unknown_item"


def test_database_mode_ignores_foreign_tags(gate_rig: GateRig) -> None:
    from hardware_sim.tag import SimTag

    gate = gate_rig.make_gate(detection="database")
    foreign = SimTag.from_spec({"uid": "E004015000FFFF01", "memory": "00" * 112, "afi": 0})
    Walk(gate_rig, gate).through([foreign], "out")
    assert gate_rig.alarms() == []


def test_afi_database_tag_decides_cache_explains(gate_rig: GateRig) -> None:
    gate = gate_rig.make_gate(detection="afi+database")
    released_not_loaned = gate_rig.tag("37000001", secured=False)      # tag says: fine
    secured_loaned = gate_rig.tag("37000002", secured=True, on_loan=True)
    odd_afi = gate_rig.tag("37000003", title="Vợ nhặt")               # AFI unusable
    odd_afi.afi = 0x00
    Walk(gate_rig, gate).through([released_not_loaned, secured_loaned, odd_afi], "out")
    by_item = {a.item_id: a.detail for a in gate_rig.alarms()}
    assert set(by_item) == {"37000002", "37000003"}
    assert by_item["37000002"]["reason"] == "loaned_but_secured"
    assert by_item["37000002"]["decided_by"] == "tag" and by_item["37000002"]["on_loan"]
    assert by_item["37000003"]["decided_by"] == "cache"
    assert by_item["37000003"]["security_state"] == "unknown"
    assert by_item["37000003"]["reason"] == "not_on_loan"


def test_offline_afi_unchanged_database_says_last_cache(gate_rig: GateRig) -> None:
    gate_rig.store.meta.set_connectivity(False)
    gate = gate_rig.make_gate(detection="afi")
    Walk(gate_rig, gate).through([gate_rig.tag("38000001")], "out")
    assert _only(gate_rig).detail["reason"] == "not_checked_out"

    gate_db = gate_rig.make_gate(detection="database")
    loaned = gate_rig.tag("38000002", on_loan=True)
    stolen = gate_rig.tag("38000003")
    Walk(gate_rig, gate_db).through([loaned, stolen], "out")
    alarm = [a for a in gate_rig.alarms() if a.item_id == "38000003"]
    assert len(alarm) == 1 and len(gate_rig.alarms()) == 2
    cache = alarm[0].detail["cache"]
    assert cache["offline"] is True and cache["gateway"] == "offline" and cache["as_of"]
    assert alarm_view(alarm[0])["cache_offline"] is True


def test_manual_reset_switches_outputs_off(gate_rig: GateRig) -> None:
    gate = gate_rig.make_gate(detection="afi", alarm_duration_ms=60_000)
    Walk(gate_rig, gate).through([gate_rig.tag("39000001")], "out")
    assert gate_rig.device.outputs_now()["buzzer"] == "flash"
    assert gate.status()["alarm_active"] is True
    gate.reset_outputs()
    now = gate_rig.device.outputs_now()
    assert now["buzzer"] == "off" and now["red"] == "off"
    assert gate.status()["alarm_active"] is False
    assert any(e["type"] == "gate_reset" for e in gate_rig.events)


def test_reader_failure_is_reported_and_recovered(gate_rig: GateRig) -> None:
    gate = gate_rig.make_gate(detection="afi")
    assert gate.poll_once()
    gate_rig.device.inject("timeout", count=None)
    assert not gate.poll_once()
    st = gate.status()
    assert st["state"] == "offline" and st["error"]
    gate_rig.device.faults.clear()
    assert gate.poll_once()
    assert gate.status()["state"] == "online"
    states = [e["state"] for e in gate_rig.events if e["type"] == "device_status"]
    assert states == ["online", "offline", "online"]
    kinds = [e.kind for e in gate_rig.store.events.recent(device="gate-01")]
    assert "reader_offline" in kinds


class _EasOnlyReader:
    """EAS ALARM answers, but the tag has gone before the inventory (a stub, no simulator)."""

    antennas = ("gate-in", "gate-out")

    def __init__(self) -> None:
        self.outputs: list[dict[str, object]] = []

    def read_inputs(self):  # type: ignore[no-untyped-def]
        from drivers.reader import Inputs

        return Inputs(0b01)  # the inner beam is broken: a patron on the way out

    def eas_alarm(self) -> bool:
        return True

    def inventory(self, antennas=None):  # type: ignore[no-untyped-def]
        return []

    def set_outputs(self, **kw: object) -> None:
        self.outputs.append(kw)


def test_eas_alarm_with_no_tag_left_is_recorded_once(gate_rig: GateRig) -> None:
    from drivers.tags import SecurityPolicy
    from edge.services.gate import GateService
    from smartlib.config import GateSection

    reader = _EasOnlyReader()
    gate = GateService(gate_rig.store, reader, gate_rig.bus, GateSection(detection="eas"),
                       SecurityPolicy("afi", 0x07, 0xC2), gate_id="gate-01",
                       clock=gate_rig.clock)
    for _ in range(3):
        gate_rig.clock.advance(0.1)
        assert gate.poll_once()
    alarm = _only(gate_rig)
    assert alarm.item_id is None and alarm.detail["reason"] == "eas_unidentified"
    assert alarm.detail["direction"] == "out"
    # No tag was read: the record claims no security state and names no culprit.
    assert alarm.detail["security_state"] == "unknown"
    assert alarm.detail["eas"] == {"field_alarm": True, "tag_bit": "not_read",
                                   "identified_by": None, "tags_in_field": 0}
    assert len(reader.outputs) == 1 and reader.outputs[0]["buzzer"] == "flash"


def test_database_mode_ignores_a_blank_tag(gate_rig: GateRig) -> None:
    """libdanrfid's blank ISO 28560-3 block (empty primary item ID, valid CRC) decodes with a
    warning; it names no library item, so the gate does not look it up or alarm."""
    from hardware_sim.tag import SimTag

    gate = gate_rig.make_gate(detection="database")
    blank_block = "11010100000000000000000000000000000000CA9F4445373035000000000000"
    blank = SimTag.from_spec({"uid": "E004015000FFFF02", "memory": blank_block + "00" * 80,
                              "afi": 0})
    Walk(gate_rig, gate).through([blank], "out")
    assert gate_rig.alarms() == []
