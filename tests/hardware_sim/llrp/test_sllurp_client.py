"""sllurp, an independent LLRP implementation, inventories the simulator: every byte the
client sends is built by sllurp's encoder and every byte it receives is parsed by sllurp's
decoder (our codec is not used on the client side) - message by message, and with sllurp's
own reader client."""

from __future__ import annotations

import socket
import struct
import time

from sllurp.llrp import LLRPMessage, LLRPReaderClient, LLRPReaderConfig
from sllurp.llrp_proto import LLRPROSpec

from hardware_sim.llrp_device import LlrpReaderDevice, uhf_tag_for_item
from hardware_sim.llrp_tag import UhfField


class SllurpWire:
    """Frames sllurp messages over a socket (the 10-byte header gives each length)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.buf = b""

    def send(self, name: str, **fields: object) -> None:
        self.sock.sendall(LLRPMessage(msgdict={name: fields}).msgbytes)

    def receive(self) -> tuple[str, dict[str, object]]:
        while True:
            if len(self.buf) >= 10:
                length = struct.unpack_from("!I", self.buf, 2)[0]
                if len(self.buf) >= length:
                    frame, self.buf = self.buf[:length], self.buf[length:]
                    msg = LLRPMessage(msgbytes=frame)
                    assert msg.msgdict is not None
                    return next(iter(msg.msgdict.items()))
            data = self.sock.recv(65536)
            assert data, "the simulator closed the connection"
            self.buf += data

    def expect(self, name: str) -> dict[str, object]:
        while True:
            got, body = self.receive()
            if got == name:
                return body


def test_sllurp_inventories_placed_tags(llrp_device: LlrpReaderDevice, uhf_field: UhfField) -> None:
    pad_tags = [uhf_tag_for_item(f"3100{i:04d}", owner_library="VN-HN0001") for i in range(3)]
    for tag in pad_tags:
        uhf_field.place(tag, "uhf-pad")
    placed = {tag.epc_hex.lower() for tag in pad_tags}
    gate_tag = uhf_tag_for_item("31009999")
    uhf_field.place(gate_tag, "uhf-gate")
    assert llrp_device.tcp_port is not None
    wire = SllurpWire(llrp_device.tcp_port)
    try:
        hello = wire.expect("READER_EVENT_NOTIFICATION")
        assert hello["ReaderEventNotificationData"]["ConnectionAttemptEvent"] == {"Status": "Success"}  # type: ignore[index]
        wire.send("GET_READER_CAPABILITIES", ID=1, RequestedData=0)
        caps = wire.expect("GET_READER_CAPABILITIES_RESPONSE")
        assert caps["LLRPStatus"]["StatusCode"] == "Success"  # type: ignore[index]
        assert caps["GeneralDeviceCapabilities"]["MaxNumberOfAntennaSupported"] == 3  # type: ignore[index]
        rospec = LLRPROSpec(None, 1, antennas=(1,), report_every_n_tags=1,
                            tag_content_selector={"EnablePeakRSSI": True, "EnableAntennaID": True})
        wire.send("ADD_ROSPEC", ID=2, ROSpecID=1, ROSpec=rospec)
        assert wire.expect("ADD_ROSPEC_RESPONSE")["LLRPStatus"]["StatusCode"] == "Success"  # type: ignore[index]
        wire.send("ENABLE_ROSPEC", ID=3, ROSpecID=1)  # sllurp's ROSpec starts immediately
        assert wire.expect("ENABLE_ROSPEC_RESPONSE")["LLRPStatus"]["StatusCode"] == "Success"  # type: ignore[index]
        seen: dict[bytes, dict[str, object]] = {}
        while len(seen) < len(placed):
            for tag in wire.expect("RO_ACCESS_REPORT")["TagReportData"]:  # type: ignore[attr-defined]
                seen[tag["EPC"]] = tag
        # sllurp's AISpec ends upon N tags seen, and with it the ROSpec (Null stop trigger)
        wire.send("DISABLE_ROSPEC", ID=4, ROSpecID=1)
        assert wire.expect("DISABLE_ROSPEC_RESPONSE")["LLRPStatus"]["StatusCode"] == "Success"  # type: ignore[index]
        assert {epc.decode() for epc in seen} == placed  # the gate tag is not on antenna 1
        for tag in seen.values():
            assert tag["AntennaID"] == 1 and -65 <= tag["PeakRSSI"] <= -35  # type: ignore[operator]
        wire.send("CLOSE_CONNECTION", ID=5)
        assert wire.expect("CLOSE_CONNECTION_RESPONSE")["LLRPStatus"]["StatusCode"] == "Success"  # type: ignore[index]
    finally:
        wire.sock.close()


def test_sllurp_reader_client_inventories_placed_tags(llrp_device: LlrpReaderDevice,
                                                      uhf_field: UhfField) -> None:
    """sllurp's own client state machine: capabilities (it checks the antennas, power
    table and RF modes), configuration, polite stop, ROSpec, tag report callbacks."""
    pad_tags = [uhf_tag_for_item(f"3200{i:04d}", owner_library="VN-HN0001") for i in range(4)]
    for tag in pad_tags:
        uhf_field.place(tag, "uhf-pad")
    uhf_field.place(uhf_tag_for_item("32009999"), "uhf-gate")
    seen: list[dict[str, object]] = []
    config = LLRPReaderConfig({"antennas": [1], "report_every_n_tags": 1, "start_inventory": True,
                               "tag_content_selector": {"EnableAntennaID": True,
                                                        "EnablePeakRSSI": True}})
    client = LLRPReaderClient("127.0.0.1", llrp_device.tcp_port, config)
    client.add_tag_report_callback(lambda reader, reports: seen.extend(reports))
    client.connect()
    try:
        deadline = time.monotonic() + 10
        while len({t["EPC"] for t in seen}) < len(pad_tags) and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        client.disconnect()
        client.join(60)  # a loaded machine: sllurp closes its socket and thread late
    assert {t["EPC"].decode() for t in seen} == {t.epc_hex.lower() for t in pad_tags}  # type: ignore[attr-defined]
    assert all(t["AntennaID"] == 1 and -65 <= t["PeakRSSI"] <= -35 for t in seen)  # type: ignore[operator]
    assert llrp_device.counters["rx_GetReaderConfig"] == 1
