"""The LLRP codec against independent bytes: public captures quoted from sllurp's test suite
(a real reader's RO_ACCESS_REPORT stream and READER_EVENT_NOTIFICATION), and sllurp itself,
which encodes what a client sends (we decode it and re-encode the same bytes) and decodes
what a reader sends (we encode it)."""

from __future__ import annotations

import pytest
from sllurp.llrp import LLRPMessage
from sllurp.llrp_proto import LLRPROSpec

from drivers.errors import DriverError, FrameError
from drivers.llrp import messages as m
from drivers.llrp import params as p
from drivers.llrp.codec import FrameDecoder, decode_message, encode_message
from drivers.llrp.errors import LlrpFrameError

# sllurp tests/test_all.py (TestReaderEventNotification.test_decode): a reader's greeting.
REN_CAPTURE = bytes.fromhex("043f000000200ab288c900f600160080000c0004f8535baadaff010000060000")
# sllurp tests/test_all.py (test_encode): the same event at time 0, message ID 0.
REN_ZERO = bytes.fromhex("043f000000200000000000f600160080000c0000000000000000010000060000")
# sllurp tests/test_all.py (TestDecodeROAccessReport): the first three reports of a captured
# stream (EPC-96, antenna, peak RSSI, first-seen UTC, tag seen count) and one with a 144-bit
# EPC in an EPCData parameter.
REPORTS_CAPTURE = bytes.fromhex(
    "043d0000002c4095892f00f000228d3005fb63ac1f3841ec88046781000186ce820004ec2ea8354c09880001"
    "043d0000002c4095893000f000228d300833b2ddd906c00000000081000186c6820004ec2ea8355af2880001"
    "043d000000374095894100f0002d00f1001800901fb41f712ac9c37ab79d618173188324001a81000186ef82"
    "0004ec2ea8381f57880001")

# sllurp tests/test_all.py (test_parse_get_reader_config): a reader's whole configuration,
# 843 bytes, with vendor (custom) parameters at several levels.
CONFIG_CAPTURE = bytes.fromhex(
    "040c0000034b00000003011f00080000000000da000f000008001625ffff10ba4700"
    "dd0009800001000000dd0009000002000000de0072000100df0006000100e0000a00"
    "0100000051014a005c00014f000803e800000150000b4000200000000003ff000e00"
    "00651a00000017000003ff00120000651a0000001a00000000000003ff0012000065"
    "1a0000001b00000000000003ff00120000651a0000001c00000000000000de007200"
    "0200df0006000100e0000a000100000051014a005c00014f000803e800000150000b"
    "4000200000000003ff000e0000651a00000017000003ff00120000651a0000001a00"
    "000000000003ff00120000651a0000001b00000000000003ff00120000651a000000"
    "1c00000000000000f4004300f5000700000000f5000700010000f5000700020000f5"
    "000700030000f5000700048000f5000700050000f5000700060000f5000700070000"
    "f5000700088000ed008602000100ee000b1600015c00050003ff00140000651a0000"
    "0018000000020000000003ff00600000651a0000003203ff000e0000651a00000033"
    "000003ff000e0000651a00000034000003ff000e0000651a00000035000003ff000e"
    "0000651a00000036000003ff000e0000651a00000041000003ff000e0000651a0000"
    "0043000000ef00050100d900087857993700dc0009000000000000e1000800010000"
    "00e100080002000000e100080003000000e100080004000000db000700010000db00"
    "0700020000db000700030000db000700040000e200050003ff000e0000651a000000"
    "16000003ff00120000651a0000002400010000001403ff00120000651a0000002400"
    "020000001403ff00120000651a0000002400030000001403ff00120000651a000000"
    "2400040000001403ff000e0000651a00000025001b03ff00100000651a0000002600"
    "00000003ff000e0000651a00000027000003ff00360000651a0000002803ff000e00"
    "00651a00000029000103ff000e0000651a0000003f000003ff000e0000651a000000"
    "42000003ff000c0000651a0000003c03ff00140000651a0000004000010000000000"
    "0003ff00140000651a00000040000200000000000003ff00140000651a0000004000"
    "0300000000000003ff00140000651a000000400004000000000000")


def _feed(chunks: list[bytes]) -> list[m.Message]:
    d = FrameDecoder()
    out: list[m.Message] = []
    for chunk in chunks:
        out += d.feed(chunk)
    assert d.pending == 0
    return out


@pytest.mark.parametrize("split", ["whole", "halves", "bytes"])
def test_captured_report_stream(split: str) -> None:
    data = REPORTS_CAPTURE
    chunks = {"whole": [data], "halves": [data[:37], data[37:]],
              "bytes": [data[i:i + 1] for i in range(len(data))]}[split]
    reports = _feed(chunks)
    assert [type(r) for r in reports] == [m.ROAccessReport] * 3
    assert [r.msg_id for r in reports] == [0x4095892F, 0x40958930, 0x40958941]
    first = reports[0].tags[0]  # type: ignore[attr-defined]
    assert first.epc.hex() == "3005fb63ac1f3841ec880467"
    assert (first.antenna_id, first.peak_rssi, first.first_seen_utc) == (1, -50, 0x0004EC2EA8354C09)
    assert first.details == (p.RawParameter(8, b"\x00\x01", tv=True),)  # TagSeenCount, kept
    long_epc = reports[2].tags[0]  # type: ignore[attr-defined]
    assert long_epc.epc.hex() == "1fb41f712ac9c37ab79d618173188324001a" and long_epc.peak_rssi == -17


def test_captured_reports_re_encode_to_the_same_bytes() -> None:
    assert b"".join(encode_message(r) for r in _feed([REPORTS_CAPTURE])) == REPORTS_CAPTURE


@pytest.mark.parametrize("split", ["whole", "bytes"])
def test_captured_reader_config(split: str) -> None:
    chunks = [CONFIG_CAPTURE] if split == "whole" else [bytes([b]) for b in CONFIG_CAPTURE]
    (msg,) = _feed(chunks)
    assert isinstance(msg, m.GetReaderConfigResponse) and msg.msg_id == 3
    assert msg.status == p.LLRPStatus(p.M_SUCCESS, "")
    events = next(d for d in msg.details if isinstance(d, p.ReaderEventNotificationSpec))
    assert [s.event_type for s in events.states if s.enabled] == [4, 8]
    report = next(d for d in msg.details if isinstance(d, p.ROReportSpec))
    assert (report.trigger, report.n) == (2, 1)
    assert report.content.enabled == {"antenna_id", "peak_rssi", "first_seen_timestamp"}
    assert [d.type for d in report.details] == [1023, 1023]  # type: ignore[attr-defined]  # vendor ones
    assert [d for d in msg.details if isinstance(d, p.KeepaliveSpec)] == [p.KeepaliveSpec(0, 0)]
    assert [(g.port, g.enabled, g.state) for g in msg.details
            if isinstance(g, p.GPIPortCurrentState)] == [(n, False, 0) for n in range(1, 5)]
    assert [g for g in msg.details if isinstance(g, p.GPOWriteData)] == [
        p.GPOWriteData(n, False) for n in range(1, 5)]
    assert sum(isinstance(d, p.RawParameter) and d.type == 1023 for d in msg.details) == 14
    assert encode_message(msg) == CONFIG_CAPTURE  # unknown parameters are kept byte for byte


def test_captured_connection_event() -> None:
    msg = decode_message(REN_CAPTURE)
    assert isinstance(msg, m.ReaderEventNotification) and msg.msg_id == 0x0AB288C9
    assert msg.data is not None and msg.data.timestamp.microseconds == 0x0004F8535BAADAFF
    assert msg.data.events == (p.ConnectionAttemptEvent(p.CONNECTION_SUCCESS),)


def test_connection_event_encodes_as_published() -> None:
    msg = m.ReaderEventNotification(p.ReaderEventNotificationData(
        p.UTCTimestamp(0), (p.ConnectionAttemptEvent(0),)))
    assert encode_message(msg) == REN_ZERO


# ---- sllurp encodes, we decode (and re-encode to the same bytes) --------------------------

def _sllurp(name: str, **fields: object) -> bytes:
    return bytes(LLRPMessage(msgdict={name: {"ID": 77, **fields}}).msgbytes)


def _same(raw: bytes) -> m.Message:
    msg = decode_message(raw)
    assert msg.msg_id == 77 and msg.version == 1
    assert encode_message(msg) == raw
    return msg


def test_sllurp_add_rospec() -> None:
    ro = LLRPROSpec(None, 3, antennas=(1, 2), tag_content_selector={"EnablePeakRSSI": True})
    msg = _same(_sllurp("ADD_ROSPEC", ROSpecID=3, ROSpec=ro))
    assert isinstance(msg, m.AddROSpec)
    spec = msg.rospec
    assert (spec.rospec_id, spec.priority, spec.state) == (3, 0, p.ROSPEC_DISABLED)
    assert spec.boundary.start.trigger_type == 1 and spec.boundary.stop.trigger_type == 0
    assert spec.specs[0].antenna_ids == (1, 2)
    assert spec.specs[0].inventory[0].protocol_id == p.PROTOCOL_EPC_C1G2
    # one AntennaConfiguration (222) per antenna, kept whole
    assert [d.type for d in spec.specs[0].inventory[0].details] == [222, 222]  # type: ignore[attr-defined]
    assert spec.report is not None and spec.report.trigger == 1
    assert spec.report.content.enabled == {"rospec_id", "antenna_id", "peak_rssi",
                                           "last_seen_timestamp", "tag_seen_count"}


def test_sllurp_tag_observation_stop_trigger() -> None:
    ro = LLRPROSpec(None, 4, antennas=(1,))
    ro["AISpec"][0]["AISpecStopTrigger"] = {
        "AISpecStopTriggerType": "Tag observation", "DurationTriggerValue": 0,
        "TagObservationTrigger": {"TriggerType": "UponNAttempts", "NumberOfTags": 0,
                                  "NumberOfAttempts": 2, "T": 0, "Timeout": 500}}
    msg = _same(_sllurp("ADD_ROSPEC", ROSpecID=4, ROSpec=ro))
    assert isinstance(msg, m.AddROSpec)
    stop = msg.rospec.specs[0].stop
    assert stop.trigger_type == 3
    assert stop.details == (p.TagObservationTrigger(2, 0, 0, 2, 0, 500),)


@pytest.mark.parametrize(("name", "cls"), [
    ("ENABLE_ROSPEC", m.EnableROSpec), ("START_ROSPEC", m.StartROSpec),
    ("STOP_ROSPEC", m.StopROSpec), ("DISABLE_ROSPEC", m.DisableROSpec),
    ("DELETE_ROSPEC", m.DeleteROSpec)])
def test_sllurp_rospec_commands(name: str, cls: type[m.SpecIdRequest]) -> None:
    msg = _same(_sllurp(name, ROSpecID=3))
    assert type(msg) is cls and msg.spec_id == 3  # type: ignore[attr-defined]


@pytest.mark.parametrize(("name", "cls"), [
    ("ENABLE_ACCESSSPEC", m.EnableAccessSpec), ("DELETE_ACCESSSPEC", m.DeleteAccessSpec),
    ("DISABLE_ACCESSSPEC", m.DisableAccessSpec)])
def test_sllurp_accessspec_commands(name: str, cls: type[m.SpecIdRequest]) -> None:
    msg = _same(_sllurp(name, AccessSpecID=9))
    assert type(msg) is cls and msg.spec_id == 9  # type: ignore[attr-defined]


def _access_spec(op: dict[str, object]) -> dict[str, object]:
    return {
        "AccessSpecID": 9, "AntennaID": 0, "ProtocolID": 1, "CurrentState": False, "ROSpecID": 0,
        "AccessSpecStopTrigger": {"AccessSpecStopTriggerType": 1, "OperationCountValue": 1},
        "AccessCommand": {
            "TagSpecParameter": {"C1G2TagSpec": {"C1G2TargetTag": [{
                "MB": 1, "M": True, "Pointer": 0x20, "TagMask": "ffffffffffffffffffffffff",
                "TagData": "3005fb63ac1f3841ec880467"}]}},
            "OpSpecParameter": [op]},
        "AccessReportSpec": {"AccessReportTrigger": 1},
    }


def test_sllurp_add_accessspec_read() -> None:
    op = {"C1G2Read": {"OpSpecID": 5, "AccessPassword": 0, "MB": 3, "WordPtr": 2, "WordCount": 4}}
    msg = _same(_sllurp("ADD_ACCESSSPEC", AccessSpec=_access_spec(op)))
    assert isinstance(msg, m.AddAccessSpec) and msg.access_spec is not None
    spec = msg.access_spec
    assert (spec.access_spec_id, spec.rospec_id, spec.enabled) == (9, 0, False)
    assert spec.stop == p.AccessSpecStopTrigger(1, 1)
    target = spec.command.tag_spec.targets[0]
    assert (target.bank, target.match, target.pointer) == (p.BANK_EPC, True, 0x20)
    assert target.data.hex() == "3005fb63ac1f3841ec880467" and target.mask == b"\xff" * 12
    assert spec.command.op_specs == (p.C1G2Read(5, p.BANK_USER, 2, 4),)
    assert [d.type for d in spec.details] == [239]  # type: ignore[attr-defined]


def test_sllurp_add_accessspec_write() -> None:
    op = {"C1G2Write": {"OpSpecID": 6, "AccessPassword": 0x11223344, "MB": 1, "WordPtr": 1,
                        "WriteDataWordCount": 1, "WriteData": b"\x31\xc2"}}
    msg = _same(_sllurp("ADD_ACCESSSPEC", AccessSpec=_access_spec(op)))
    assert isinstance(msg, m.AddAccessSpec) and msg.access_spec is not None
    assert msg.access_spec.command.op_specs == (
        p.C1G2Write(6, p.BANK_EPC, 1, b"\x31\xc2", access_password=0x11223344),)


def test_sllurp_small_client_messages() -> None:
    msg = _same(_sllurp("GET_READER_CAPABILITIES", RequestedData=0))
    assert isinstance(msg, m.GetReaderCapabilities) and msg.requested_data == 0
    msg = _same(_sllurp("GET_READER_CONFIG", RequestedData=0))
    assert isinstance(msg, m.GetReaderConfig) and (msg.antenna_id, msg.requested_data) == (0, 0)
    assert isinstance(_same(_sllurp("ENABLE_EVENTS_AND_REPORTS")), m.EnableEventsAndReports)
    assert isinstance(_same(_sllurp("KEEPALIVE_ACK")), m.KeepaliveAck)
    assert isinstance(_same(_sllurp("CLOSE_CONNECTION")), m.CloseConnection)


def test_sllurp_set_reader_config() -> None:
    raw = _sllurp("SET_READER_CONFIG", ResetToFactoryDefaults=True,
                  ReaderEventNotificationSpec={"EventNotificationState": {
                      "ROSpecEvent": True, "ReaderExceptionEvent": False}},
                  KeepaliveSpec={"KeepaliveTriggerType": 1, "TimeInterval": 5000})
    msg = decode_message(raw)
    assert isinstance(msg, m.SetReaderConfig) and msg.reset_to_factory_default
    assert msg.keepalive == p.KeepaliveSpec(1, 5000)
    assert msg.events is not None
    assert {(s.event_type, s.enabled) for s in msg.events.states} == {(2, True), (4, False)}


# ---- we encode, sllurp decodes --------------------------------------------------------

def _by_sllurp(msg: m.Message) -> dict[str, object]:
    decoded = LLRPMessage(msgbytes=encode_message(msg)).msgdict
    assert decoded is not None and len(decoded) == 1
    return next(iter(decoded.values()))


def test_report_decoded_by_sllurp() -> None:
    tag = p.TagReportData(bytes.fromhex("3005fb63ac1f3841ec880467"), antenna_id=2, peak_rssi=-48,
                          first_seen_utc=123456, pc=0x3107,
                          op_results=(p.C1G2ReadOpSpecResult(0, 5, b"\x12\x34"),
                                      p.C1G2WriteOpSpecResult(0, 6, 1)))
    short = p.TagReportData(bytes.fromhex("e280"), antenna_id=1)
    got = _by_sllurp(m.ROAccessReport((tag, short), msg_id=9))
    assert got["ID"] == 9 and got["Type"] == 61
    first, second = got["TagReportData"]  # type: ignore[misc]
    assert first["EPC-96"] == b"3005fb63ac1f3841ec880467"
    assert (first["AntennaID"], first["PeakRSSI"], first["FirstSeenTimestampUTC"]) == (2, -48, 123456)
    assert first["C1G2PC"] == 0x3107
    assert first["C1G2ReadOpSpecResult"] == {"Result": 0, "OpSpecID": 5, "ReadDataWordCount": 1,
                                             "ReadData": b"\x12\x34"}
    assert first["C1G2WriteOpSpecResult"] == {"Result": 0, "OpSpecID": 6, "NumWordsWritten": 1}
    assert second["EPC"] == b"e280" and second["AntennaID"] == 1


def test_events_decoded_by_sllurp() -> None:
    got = _by_sllurp(m.ReaderEventNotification(p.ReaderEventNotificationData(
        p.UTCTimestamp(5), (p.ROSpecEvent(p.ROSPEC_ENDED, 1),)), msg_id=3))
    assert got["ReaderEventNotificationData"]["ROSpecEvent"] == {  # type: ignore[index]
        "ROSpecID": 1, "PreemptingROSpecID": 0, "EventType": "End_of_ROSpec"}


@pytest.mark.parametrize("cls", [
    m.AddROSpecResponse, m.EnableROSpecResponse, m.StartROSpecResponse, m.StopROSpecResponse,
    m.DisableROSpecResponse, m.DeleteROSpecResponse, m.AddAccessSpecResponse,
    m.EnableAccessSpecResponse, m.DeleteAccessSpecResponse, m.DisableAccessSpecResponse,
    m.SetReaderConfigResponse, m.CloseConnectionResponse, m.ErrorMessage, m.GetReaderConfigResponse])
def test_status_responses_decoded_by_sllurp(cls: type[m.StatusResponse]) -> None:
    got = _by_sllurp(cls(p.LLRPStatus(p.M_FIELD_ERROR, "bad ROSpecID"), msg_id=4))
    assert got["Type"] == cls.TYPE and got["ID"] == 4
    assert got["LLRPStatus"] == {"StatusCode": "FieldError", "ErrorDescription": b"bad ROSpecID"}


def test_reader_config_with_gpi_decoded_by_sllurp() -> None:
    got = _by_sllurp(m.GetReaderConfigResponse(p.LLRPStatus(), (
        p.GPIPortCurrentState(1, True, p.GPI_HIGH), p.GPIPortCurrentState(2, True, p.GPI_LOW),
        p.KeepaliveSpec(1, 5000)), msg_id=6))
    assert got["GPIPortCurrentState"] == [  # type: ignore[comparison-overlap]
        {"GPIPortNum": 1, "GPIConfig": True, "GPIState": 1},
        {"GPIPortNum": 2, "GPIConfig": True, "GPIState": 0}]
    assert got["KeepaliveSpec"]["TimeInterval"] == 5000  # type: ignore[index]


def test_gpi_and_gpo_round_trip() -> None:
    msg = m.SetReaderConfig(details=(p.GPOWriteData(1, True), p.GPOWriteData(3, False)))
    assert decode_message(encode_message(msg)) == msg
    assert encode_message(msg)[10:] == bytes.fromhex("00" "00db0007000180" "00db0007000300")
    state = m.GetReaderConfigResponse(p.LLRPStatus(), (p.GPIPortCurrentState(2, True, 1),))
    assert decode_message(encode_message(state)) == state


def test_capabilities_and_keepalive_decoded_by_sllurp() -> None:
    got = _by_sllurp(m.GetReaderCapabilitiesResponse(
        p.LLRPStatus(), p.GeneralDeviceCapabilities(4, 25882, 7, "sim-1.0"), msg_id=3))
    general = got["GeneralDeviceCapabilities"]
    assert general["MaxNumberOfAntennaSupported"] == 4  # type: ignore[index]
    assert general["DeviceManufacturerName"] == 25882  # type: ignore[index]
    assert general["ReaderFirmwareVersion"] == b"sim-1.0"  # type: ignore[index]
    assert _by_sllurp(m.Keepalive(msg_id=8))["Type"] == 62


def test_round_trip_of_every_parameter_we_build() -> None:
    spec = p.AccessSpec(4, p.AccessCommand(
        p.C1G2TagSpec((p.C1G2TargetTag(p.BANK_EPC, True, 0x20, b"\xff" * 4, b"\x01\x02\x03\x04"),)),
        (p.C1G2Write(1, p.BANK_EPC, 1, b"\x31\xc2"),)), enabled=True, rospec_id=1)
    rospec = p.ROSpec(1, boundary=p.ROBoundarySpec(p.ROSpecStartTrigger(0), p.ROSpecStopTrigger(1, 50)),
                      specs=(p.AISpec((1, 2), p.AISpecStopTrigger(0)),), report=p.ROReportSpec())
    for msg in (m.AddAccessSpec(spec, msg_id=1), m.AddROSpec(rospec, version=2),
                m.SetReaderConfig(events=p.ReaderEventNotificationSpec(
                    (p.EventNotificationState(p.EVENT_ROSPEC, True),)),
                    report=p.ROReportSpec(), keepalive=p.KeepaliveSpec())):
        assert decode_message(encode_message(msg)) == msg


# ---- bad frames -----------------------------------------------------------------------

def _frame(body: bytes, mtype: int = 61, version: int = 1) -> bytes:
    return (version << 10 | mtype).to_bytes(2, "big") + (10 + len(body)).to_bytes(4, "big") + b"\0\0\0\1" + body


@pytest.mark.parametrize(("raw", "words"), [
    (_frame(b"", version=3), "version 3"),
    (bytes.fromhex("0400000000050000000100"), "length 5"),
    (_frame(b"\x00\xf0\x00\x02"), "below its 4-byte header"),
    (_frame(b"\x00\xf0\x00\x20\x8d"), "past its container"),
    (_frame(b"\x00\xf0\x00\x05\xff"), "unknown TV parameter type 127"),
    (_frame(b"\x00\xf0\x00\x06\x81\x00"), "truncated"),
    (_frame(b"\x00\xf0\x00\x07\x81\x00\x01"), "0 EPCs"),
    (_frame(b"\x00\x00\x00\x00\x07", mtype=21), "bytes after the spec ID"),
    (_frame(b"", mtype=30), "lacks its LLRPStatus"),
    (_frame(b"\x00\x00", mtype=62), "has no body"),
])
def test_bad_frames_name_the_fault(raw: bytes, words: str) -> None:
    with pytest.raises(LlrpFrameError, match=words) as info:
        FrameDecoder().feed(raw)
    assert isinstance(info.value, FrameError) and isinstance(info.value, DriverError)


def test_decoder_keeps_messages_before_a_bad_frame() -> None:
    good = encode_message(m.Keepalive(msg_id=1))
    d = FrameDecoder()
    assert d.feed(good + _frame(b"", mtype=30) + good) == [m.Keepalive(msg_id=1)]
    with pytest.raises(LlrpFrameError, match="LLRPStatus"):
        d.feed(b"")
    assert d.feed(b"") == [m.Keepalive(msg_id=1)]  # the frame after the bad one survives


def test_a_bad_header_breaks_the_stream_until_reset() -> None:
    d = FrameDecoder()
    with pytest.raises(LlrpFrameError, match="version"):
        d.feed(_frame(b"", version=0))
    with pytest.raises(LlrpFrameError, match="broken"):
        d.feed(encode_message(m.Keepalive()))
    d.reset()
    assert d.feed(encode_message(m.Keepalive())) == [m.Keepalive()]


def test_unknown_message_is_kept() -> None:
    msg = decode_message(_frame(b"\x01\x02", mtype=60))
    assert msg == m.UnknownMessage(60, b"\x01\x02", msg_id=1)
    assert encode_message(msg) == _frame(b"\x01\x02", mtype=60)
