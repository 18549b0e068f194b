"""A kiosk loan whose release write failed, then the gate alarm that explains it.

One simulated world: a kiosk pad reader and the gate reader over the same SimField, the
edge services (circulation, security tasks) with the gateway double. Two layouts:

* one box: the gate on the kiosk's store, so the alarm is tied to the kiosk's
  ``loaned_alarm_on`` security task;
* separate boxes: the kiosk has its own store (the task stays there); the gate's store
  learns of the loan only as the sync agent feeds it, a cache delta through
  ``CacheRepository.apply_delta``, and explains the alarm from the fresh cached loan.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from drivers.credential import PatronCredential
from drivers.feig.reader import FeigReader
from edge.services.container import EdgeServices
from edge.store import LoanRecord, open_store
from hardware_sim.feig_device import FeigReaderDevice
from smartlib.config import load_settings
from smartlib.sealing import generate_keypair
from sync.agent.service import SyncAgent
from sync.messages import CacheDelta, CacheLoan
from tests.edge.doubles import GatewayDouble, Ils
from tests.edge.gate.conftest import GateRig, Walk

PATRON = "2000001"


@pytest.fixture
def kiosk(gate_rig: GateRig) -> Iterator[tuple[EdgeServices, FeigReaderDevice, Any]]:
    pad = FeigReaderDevice(gate_rig.field, ["pad"], name="pad", timing=False,
                           seed=9).start(pty=False, tcp=True)
    reader = FeigReader(f"socket://127.0.0.1:{pad.tcp_port}", timeout_s=0.3, write_retries=1,
                        antennas=("pad",))
    key, public = generate_keypair()
    settings = load_settings(None, store={"path": gate_rig.store.path},
                             card_reader={"enabled": False},
                             policy={"result_timeout_s": 2.0}, gateway={"public_key": public})
    ils = Ils(patrons={PATRON: "1234"}, titles={"60000001": "Nỗi buồn chiến tranh"})
    gw = GatewayDouble(gate_rig.store.path, ils, pin_key=key).__enter__()
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
    assert result.status == "loaned_alarm_on" and result.code == "alarm_still_on"
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
    assert d["explained_by"] == "task" and f"security task {task.id}" in d["explanation"]
    assert d["transaction"] == task.txn_key == result.transaction
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


@pytest.fixture
def kiosk_apart(gate_rig: GateRig, tmp_path: Path) -> Iterator[tuple[EdgeServices, FeigReaderDevice]]:
    """A kiosk box with its own store (the gate's store is ``gate_rig.store``)."""
    pad = FeigReaderDevice(gate_rig.field, ["pad"], name="pad", timing=False,
                           seed=9).start(pty=False, tcp=True)
    reader = FeigReader(f"socket://127.0.0.1:{pad.tcp_port}", timeout_s=0.3, write_retries=1,
                        antennas=("pad",))
    kiosk_db = tmp_path / "kiosk.db"
    store = open_store(kiosk_db)
    key, public = generate_keypair()
    settings = load_settings(None, store={"path": kiosk_db}, card_reader={"enabled": False},
                             policy={"result_timeout_s": 2.0}, gateway={"public_key": public})
    ils = Ils(patrons={PATRON: "1234"}, titles={"60000002": "Chí Phèo"})
    gw = GatewayDouble(kiosk_db, ils, pin_key=key).__enter__()
    svc = EdgeServices.build(settings, store=store, reader=reader)
    svc.start(background=False, poll_pad=False)
    try:
        yield svc, pad
    finally:
        svc.stop()
        reader.close()
        gw.close()
        pad.stop()
        store.close()


def _feed_gate(gate_rig: GateRig, delta: CacheDelta) -> None:
    """What the gate's sync agent does with a cache delta from the gateway (over the wire)."""
    delta = CacheDelta.model_validate_json(delta.model_dump_json())
    gate_rig.store.cache.apply_delta(loans=SyncAgent._rows("loans", delta.loans),
                                     returned_items=delta.returned_items)


def test_separate_boxes_gate_explains_from_the_cached_loan(gate_rig: GateRig,
                                                           kiosk_apart) -> None:
    svc, pad = kiosk_apart
    kiosk_store, gate_store = svc.store, gate_rig.store
    assert kiosk_store.path != gate_store.path
    tag = gate_rig.tag("60000002", secured=True, title="Chí Phèo")   # item in the gate cache
    gate_rig.field.place(tag, "pad")
    pad.inject("fail_afi", count=None)
    session = svc.sessions.login(PatronCredential("manual", PATRON, PATRON.encode()), "1234", "vi")
    [result] = svc.circulation.checkout(session)
    assert result.status == "loaned_alarm_on"
    [task] = kiosk_store.security.open()
    assert task.state == "alarm_on"
    # The gate box has no task and, before the delta, no loan.
    assert gate_store.security.open() == [] and not gate_store.cache.is_on_loan("60000002")

    # The gateway applied the checkout and sends the site's gates the loan (no patron).
    entry = kiosk_store.outbox.find(result.transaction)
    assert entry is not None and entry.state == "applied"
    kiosk_loan = kiosk_store.cache.loan("60000002")
    assert kiosk_loan is not None
    _feed_gate(gate_rig, CacheDelta(site="hn-central", key=entry.key, loans=[CacheLoan(
        item_id="60000002", due_date=kiosk_loan.due_date, loaned_at=entry.created_at)]))
    assert gate_store.cache.is_on_loan("60000002")

    gate_rig.field.remove(tag.uid)
    Walk(gate_rig, gate_rig.make_gate(detection="afi")).through([tag], "out")
    [alarm] = gate_rig.alarms()
    d = alarm.detail
    assert alarm.item_id == "60000002" and d["security_state"] == "secured"
    assert d["reason"] == "loaned_alarm_on" and d["explained_by"] == "cache_loan"
    assert d["reason_texts"]["en"].startswith(
        "Loaned, alarm still on (release failed at the kiosk)")
    assert d["explanation"] == ("loaned, alarm still on (release failed at the kiosk); "
                                f"loaned at {entry.created_at}")
    assert d["loan"]["loaned_at"] == entry.created_at and d["on_loan"] is True
    # The task is in the kiosk's store; the cache does not carry the transaction key.
    assert d["task"] is None and d["transaction"] is None
    assert "release failed at the kiosk" in alarm.message and entry.created_at in alarm.message
    assert PATRON not in json.dumps(d) + alarm.message


def test_an_old_loan_on_a_secured_tag_is_not_blamed_on_the_kiosk(gate_rig: GateRig) -> None:
    gate = gate_rig.make_gate(detection="afi")
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    gate.wall_clock = lambda: now
    old, fresh = gate_rig.tag("61000001"), gate_rig.tag("61000002")
    gate_store = gate_rig.store
    gate_store.cache.record_loan(LoanRecord("61000001", "", "2026-03-20",
                                            "2026-03-01T08:00:00.000Z"))   # yesterday
    gate_store.cache.record_loan(LoanRecord("61000002", "", "2026-03-20",
                                            "2026-03-02T08:50:00+00:00"))  # 10 min ago
    Walk(gate_rig, gate).through([old, fresh], "out")
    by_item = {a.item_id: a.detail for a in gate_rig.alarms()}
    assert by_item["61000001"]["reason"] == "loaned_but_secured"
    assert "explained_by" not in by_item["61000001"]
    assert by_item["61000002"]["reason"] == "loaned_alarm_on"
    assert by_item["61000002"]["explained_by"] == "cache_loan"
