"""The simulated LLRP reader, driven with our codec: connection event, ROSpec lifecycle and
its status codes, reports with antenna/RSSI/PC/EPC, AccessSpecs on the EPC and user banks,
faults, zones and the air-time floor."""

from __future__ import annotations

import pytest

from drivers.llrp import messages as m
from drivers.llrp import params as p
from drivers.tags.iso28560_4 import decode_uhf, pc_afi
from hardware_sim.llrp_device import LlrpReaderDevice, uhf_tag_for_item
from hardware_sim.llrp_tag import UhfField, UhfTag, gen2_crc16
from tests.hardware_sim.llrp.conftest import RawClient

ALL_CONTENT = p.TagReportContentSelector(
    frozenset({"antenna_id", "peak_rssi", "first_seen_timestamp", "rospec_id"}),
    p.C1G2EPCMemorySelector(False, True))
ONE_ROUND = p.AISpecStopTrigger(3, 0, (p.TagObservationTrigger(2, 0, 0, 1, 0, 1000),))


def _rospec(rid: int = 1, antennas: tuple[int, ...] = (0,), start: int = 0) -> p.ROSpec:
    return p.ROSpec(rid, boundary=p.ROBoundarySpec(p.ROSpecStartTrigger(start), p.ROSpecStopTrigger(0)),
                    specs=(p.AISpec(antennas, ONE_ROUND),), report=p.ROReportSpec(2, 0, ALL_CONTENT))


def _ok(msg: m.Message) -> None:
    assert isinstance(msg, m.StatusResponse), msg
    assert msg.status.code == p.M_SUCCESS, msg.status


def _inventory(client: RawClient, rid: int = 1) -> tuple[p.TagReportData, ...]:
    """Start the ROSpec, wait for its end event; the tags of the reports sent before it."""
    _ok(client.call(m.StartROSpec(rid)))
    while True:
        event = client.wait(m.ReaderEventNotification)
        if event.data.events == (p.ROSpecEvent(p.ROSPEC_ENDED, rid),):  # type: ignore[attr-defined]
            break
    reports = [r for r in client.inbox if isinstance(r, m.ROAccessReport)]
    client.inbox = [r for r in client.inbox if not isinstance(r, m.ROAccessReport)]
    return tuple(t for r in reports for t in r.tags)


def _setup(client: RawClient, rospec: p.ROSpec | None = None) -> None:
    event = client.wait(m.ReaderEventNotification)
    assert isinstance(event, m.ReaderEventNotification) and event.data is not None
    assert event.data.events == (p.ConnectionAttemptEvent(p.CONNECTION_SUCCESS),)
    _ok(client.call(m.SetReaderConfig(events=p.ReaderEventNotificationSpec(
        (p.EventNotificationState(p.EVENT_ROSPEC, True),)))))
    _ok(client.call(m.AddROSpec(rospec or _rospec())))
    _ok(client.call(m.EnableROSpec(1)))


def test_capabilities_name_the_antennas(client: RawClient) -> None:
    resp = client.call(m.GetReaderCapabilities())
    assert isinstance(resp, m.GetReaderCapabilitiesResponse) and resp.general is not None
    assert resp.status.code == 0 and resp.general.max_antennas == 3


def test_inventory_reports_each_tag_with_antenna_rssi_pc(client: RawClient, uhf_field: UhfField) -> None:
    pad = [uhf_tag_for_item(f"3000{i:04d}", owner_library="VN-HN0001") for i in range(3)]
    gate = uhf_tag_for_item("40000001", afi=0xC2)
    for t in pad:
        uhf_field.place(t, "uhf-pad")
    uhf_field.place(gate, "uhf-gate")
    _setup(client)
    tags = _inventory(client)
    seen = {(t.epc, t.antenna_id) for t in tags}
    assert seen == {(t.uii, 1) for t in pad} | {(gate.uii, 2), (gate.uii, 3)}
    for t in tags:
        assert t.rospec_id == 1 and t.peak_rssi is not None and -65 <= t.peak_rssi <= -35
        assert t.first_seen_utc and t.pc is not None
    by_epc = {t.epc: t for t in tags}
    assert pc_afi(by_epc[gate.uii].pc.to_bytes(2, "big")) == 0xC2  # type: ignore[union-attr]
    assert decode_uhf(by_epc[pad[0].uii].pc.to_bytes(2, "big") + pad[0].uii).primary_item_id == "30000000"  # type: ignore[union-attr]


def test_rospec_state_errors(client: RawClient) -> None:
    client.wait(m.ReaderEventNotification)
    _ok(client.call(m.AddROSpec(_rospec())))
    for msg, words in ((m.AddROSpec(_rospec()), "already used"),
                       (m.StartROSpec(1), "Disabled, not Inactive"),
                       (m.StopROSpec(1), "Disabled, not Active"),
                       (m.EnableROSpec(9), "no ROSpec with ID 9"),
                       (m.AddROSpec(p.ROSpec(2, state=p.ROSPEC_ACTIVE)), "Disabled state")):
        resp = client.call(msg)
        assert isinstance(resp, m.StatusResponse)
        assert resp.status.code == p.M_FIELD_ERROR and words in resp.status.description
    _ok(client.call(m.EnableROSpec(1)))
    _ok(client.call(m.DisableROSpec(1)))
    _ok(client.call(m.DeleteROSpec(0)))
    resp = client.call(m.EnableROSpec(1))
    assert resp.status.code == p.M_FIELD_ERROR  # type: ignore[attr-defined]


def test_continuous_rospec_runs_until_stopped(client: RawClient, uhf_field: UhfField) -> None:
    uhf_field.place(uhf_tag_for_item("1"), "uhf-pad")
    client.wait(m.ReaderEventNotification)
    spec = p.ROSpec(5, specs=(p.AISpec((1,), p.AISpecStopTrigger(0)),),
                    report=p.ROReportSpec(1, 1, ALL_CONTENT),
                    boundary=p.ROBoundarySpec(p.ROSpecStartTrigger(1), p.ROSpecStopTrigger(0)))
    _ok(client.call(m.AddROSpec(spec)))
    _ok(client.call(m.EnableROSpec(5)))  # immediate start trigger
    report = client.wait(m.ROAccessReport)
    assert report.tags[0].antenna_id == 1  # type: ignore[attr-defined]
    _ok(client.call(m.StopROSpec(5)))
    _ok(client.call(m.StartROSpec(5)))  # Inactive again after STOP
    _ok(client.call(m.StopROSpec(5)))


def test_unsupported_and_malformed_messages(client: RawClient) -> None:
    client.wait(m.ReaderEventNotification)
    err = client.call(m.UnknownMessage(60, b""))
    assert isinstance(err, m.ErrorMessage) and err.status.code == p.M_UNSUPPORTED_MESSAGE
    client.sock.sendall(bytes.fromhex("04160000000c000000070000"))  # START_ROSPEC, 2-byte body
    bad = client.wait(m.ErrorMessage)
    assert bad.status.code == p.M_PARAMETER_ERROR and "truncated" in bad.status.description  # type: ignore[attr-defined]
    _ok(client.call(m.DeleteROSpec(0)))  # the connection still works
    client.sock.sendall(bytes.fromhex("1c16") + bytes(8))  # version 7: no framing after it
    broken = client.wait(m.ErrorMessage)
    assert "version 7" in broken.status.description  # type: ignore[attr-defined]
    with pytest.raises(ConnectionError):
        client.wait(m.Keepalive)  # and the reader closed the connection


def _access(aid: int, tag: UhfTag, *ops: p.Parameter, count: int = 1) -> p.AccessSpec:
    target = p.C1G2TargetTag(p.BANK_EPC, True, 0x20, b"\xff" * len(tag.uii), tag.uii)
    return p.AccessSpec(aid, p.AccessCommand(p.C1G2TagSpec((target,)), ops),
                        stop=p.AccessSpecStopTrigger(1, count))


def _run_access(client: RawClient, spec: p.AccessSpec) -> dict[bytes, p.TagReportData]:
    _ok(client.call(m.AddAccessSpec(spec)))
    _ok(client.call(m.EnableAccessSpec(spec.access_spec_id)))
    return {t.epc: t for t in _inventory(client)}


def test_access_reads_and_writes_banks(client: RawClient, uhf_field: UhfField) -> None:
    tag = uhf_tag_for_item("30000001", owner_library="VN-HN0001", set_info=(1, 1))
    other = uhf_tag_for_item("30000002")
    uhf_field.place(tag, "uhf-pad")
    uhf_field.place(other, "uhf-pad")
    _setup(client)
    got = _run_access(client, _access(7, tag, p.C1G2Read(1, p.BANK_EPC, 0, 0), p.C1G2Read(2, p.BANK_USER, 0, 4)))
    epc_read, user_read = got[tag.uii].op_results
    assert isinstance(epc_read, p.C1G2ReadOpSpecResult) and epc_read.result == p.READ_SUCCESS
    crc, pc = int.from_bytes(epc_read.data[:2], "big"), epc_read.data[2:4]
    assert pc == tag.pc.to_bytes(2, "big") and epc_read.data[4:] == tag.uii
    assert crc == gen2_crc16(epc_read.data[2:])
    assert user_read.data == bytes(tag.user[:8])  # type: ignore[attr-defined]
    assert got[tag.uii].access_spec_id == 7 and got[other.uii].op_results == ()
    # the AccessSpec ran once (operation count 1) and is gone: a new one may use its ID
    pc_loan = bytes([tag.pc >> 8, 0xC2])
    got = _run_access(client, _access(7, tag, p.C1G2Write(3, p.BANK_EPC, 1, pc_loan),
                                      p.C1G2Write(4, p.BANK_USER, 30, b"\xab\xcd")))
    assert [r.result for r in got[tag.uii].op_results] == [0, 0]  # type: ignore[attr-defined]
    assert pc_afi(tag.epc_bank[2:]) == 0xC2 and tag.user[60:62] == b"\xab\xcd"
    assert int.from_bytes(tag.epc_bank[:2], "big") == gen2_crc16(bytes(tag.epc_bank[2:]))


def test_access_overrun_and_write_faults(client: RawClient, uhf_field: UhfField,
                                         llrp_device: LlrpReaderDevice) -> None:
    tag = uhf_tag_for_item("30000003")
    before = bytes(tag.user[:4])
    uhf_field.place(tag, "uhf-pad")
    _setup(client)
    res = _run_access(client, _access(1, tag, p.C1G2Read(1, p.BANK_USER, 40, 1)))[tag.uii].op_results[0]
    assert res.result == p.READ_TAG_ERROR  # type: ignore[attr-defined]
    llrp_device.inject("fail_write")
    res = _run_access(client, _access(2, tag, p.C1G2Write(1, p.BANK_USER, 0, b"\x01\x02")))[tag.uii].op_results[0]
    assert res == p.C1G2WriteOpSpecResult(p.WRITE_TAG_ERROR, 1, 0) and tag.user[:4] == before
    llrp_device.inject("tag_leaves")
    res = _run_access(client, _access(3, tag, p.C1G2Write(1, p.BANK_USER, 0, b"\x01\x02\x03\x04")))[tag.uii].op_results[0]
    assert res == p.C1G2WriteOpSpecResult(p.WRITE_NO_RESPONSE, 1, 1)
    assert tag.user[:4] == b"\x01\x02" + before[2:] and uhf_field.zone_of(tag) is None
    assert _inventory(client) == ()  # it left the field


def test_second_client_is_refused(client: RawClient, llrp_device: LlrpReaderDevice) -> None:
    client.wait(m.ReaderEventNotification)
    assert llrp_device.tcp_port is not None
    second = RawClient(llrp_device.tcp_port)
    try:
        event = second.wait(m.ReaderEventNotification)
        assert event.data.events == (p.ConnectionAttemptEvent(p.CONNECTION_FAILED_CLIENT_EXISTS),)  # type: ignore[attr-defined]
        with pytest.raises(ConnectionError):
            second.wait(m.Keepalive)
    finally:
        second.close()


def test_keepalive_and_close(client: RawClient, llrp_device: LlrpReaderDevice) -> None:
    client.wait(m.ReaderEventNotification)
    _ok(client.call(m.SetReaderConfig(keepalive=p.KeepaliveSpec(1, 50))))
    ka = client.wait(m.Keepalive)
    client.send(m.KeepaliveAck(msg_id=ka.msg_id))
    _ok(client.call(m.CloseConnection()))
    with pytest.raises(ConnectionError):
        client.wait(m.Keepalive)
    assert llrp_device.counters["keepalives"] >= 1


def test_disconnect_fault_drops_the_client(client: RawClient, llrp_device: LlrpReaderDevice) -> None:
    client.wait(m.ReaderEventNotification)
    llrp_device.inject("disconnect", seconds=0.1)
    with pytest.raises((ConnectionError, OSError)):
        client.call(m.DeleteROSpec(0))
    assert llrp_device.tcp_port is not None
    again = RawClient(llrp_device.tcp_port)
    try:
        event = again.wait(m.ReaderEventNotification)
        assert event.data.events == (p.ConnectionAttemptEvent(p.CONNECTION_SUCCESS),)  # type: ignore[attr-defined]
    finally:
        again.close()


def test_floor_counts_the_modelled_round(client: RawClient, uhf_field: UhfField,
                                         llrp_device: LlrpReaderDevice) -> None:
    tags = [uhf_tag_for_item(f"5000{i:04d}") for i in range(20)]
    for t in tags:
        uhf_field.place(t, "uhf-pad")
    _setup(client, _rospec(antennas=(1,)))
    assert len(_inventory(client)) == 20
    expected = llrp_device.air.round_s([len(t.uii) for t in tags])
    assert llrp_device.floor.snapshot().air_s == pytest.approx(expected)
