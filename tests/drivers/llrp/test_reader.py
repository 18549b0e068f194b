"""``LlrpReader`` against the LLRP simulator: the EPC/UII as UID, the word mapping, the AFI
in the PC word, and the failure policy (disconnects, timeouts, failed and lost writes)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from drivers.errors import (
    DriverArgumentError,
    ReaderDisconnected,
    ReaderError,
    TagLocked,
    TagNotFound,
    WriteFailed,
)
from drivers.llrp.errors import LlrpOpSpecError
from drivers.llrp.reader import LlrpReader
from drivers.registry import create_reader
from drivers.tags.iso28560_4 import decode_uhf, pc_afi
from hardware_sim.llrp_device import LlrpReaderDevice, uhf_tag_for_item
from hardware_sim.llrp_tag import UhfField, UhfTag


@pytest.fixture
def sim() -> Iterator[tuple[LlrpReaderDevice, UhfField, UhfTag]]:
    field = UhfField({"uhf-pad": (1,), "uhf-gate": (2, 3)})
    device = LlrpReaderDevice(field, timing=False).start(port=0)
    tag = uhf_tag_for_item("30000001", owner_library="VN-HN0001", set_info=(1, 1))
    field.place(tag, "uhf-pad")
    try:
        yield device, field, tag
    finally:
        device.stop()


def _reader(device: LlrpReaderDevice, **kw: object) -> LlrpReader:
    return LlrpReader(f"llrp://127.0.0.1:{device.tcp_port}", timeout_s=1.0,
                      antennas=("pad", "gate-in", "gate-out"), **kw)  # type: ignore[arg-type]


def test_url_and_uid_arguments_are_checked() -> None:
    for url in ("socket://127.0.0.1:5084", "llrp://", "llrp://host:99999"):
        with pytest.raises(DriverArgumentError):
            LlrpReader(url)
    r = LlrpReader("llrp://reader.local")
    assert (r.host, r.port) == ("reader.local", 5084)
    for bad in ("", "abc", "0102030", b"\x01" * 64, 12):
        with pytest.raises(DriverArgumentError):
            r.read_blocks(bad, 0, 1)  # type: ignore[arg-type]


def test_registry_builds_it_from_the_reader_table(sim: tuple[LlrpReaderDevice, UhfField, UhfTag]) -> None:
    device, _, tag = sim
    r = create_reader("llrp", f"llrp://127.0.0.1:{device.tcp_port}", baudrate=38400, parity="E",
                      com_address=0xFF, timeout_s=1.0, antennas=("pad",), retries=1)
    with r:
        assert [i.uid for i in r.inventory()] == [tag.epc_hex]


def test_inventory_names_antennas_and_rssi(sim: tuple[LlrpReaderDevice, UhfField, UhfTag]) -> None:
    device, field, tag = sim
    gate_tag = uhf_tag_for_item("30000002", afi=0xC2)
    field.place(gate_tag, "uhf-gate")
    with _reader(device) as r:
        items = {i.uid: i for i in r.inventory()}
        assert set(items) == {tag.epc_hex, gate_tag.epc_hex}
        assert items[tag.epc_hex].antenna == "pad"
        assert items[gate_tag.epc_hex].antenna in ("gate-in", "gate-out")
        assert all(i.rssi is not None and -65 <= i.rssi <= -35 for i in items.values())
        assert [i.uid for i in r.inventory(antennas="pad")] == [tag.epc_hex]
        assert [i.uid for i in r.inventory(afi=0xC2)] == [gate_tag.epc_hex]
        assert pc_afi(r.last_pc[gate_tag.uii].to_bytes(2, "big")) == 0xC2
        assert r.reader_info().details["antennas"] == 3


def test_blocks_are_user_memory_words(sim: tuple[LlrpReaderDevice, UhfField, UhfTag]) -> None:
    device, _, tag = sim
    with _reader(device) as r:
        assert r.read_blocks(tag.epc_hex, 0, 4) == bytes(tag.user[:8])
        epc_bank = r.read_bank(tag.epc_hex, 1, 1, 0)
        assert decode_uhf(epc_bank, r.read_bank(tag.epc_hex, 3, 0, 0)).set_info == (1, 1)
        r.write_blocks(tag.epc_hex, 30, b"\xca\xfe\xba\xbe")
        assert tag.user[60:64] == b"\xca\xfe\xba\xbe"
        with pytest.raises(LlrpOpSpecError):
            r.read_blocks(tag.epc_hex, 32, 1)  # past the 32-word user bank


def test_read_uhf_tag_decodes_iso28560_4(sim: tuple[LlrpReaderDevice, UhfField, UhfTag]) -> None:
    device, _, tag = sim
    with _reader(device) as r:
        data = r.read_uhf_tag(tag.epc_hex)
        assert (data.primary_item_id, data.owner_library, data.afi) == ("30000001", "VN-HN0001", 0x07)
        assert data.set_info == (1, 1) and data.ok
        with pytest.raises(TagNotFound):
            r.read_uhf_tag("E0040100FFFFFFFE")
        tag_data = r.read_tag_data(tag.epc_hex)  # the shape decode_tag gives for HF tags
        assert (tag_data.format, tag_data.primary_item_id, tag_data.isil) == (
            "iso28560-4", "30000001", "VN-HN0001")
        assert (tag_data.parts_in_item, tag_data.part_number, tag_data.crc_ok) == (1, 1, None)
        assert tag_data.ok and tag_data.country == "VN"


def test_afi_is_written_into_the_pc_word(sim: tuple[LlrpReaderDevice, UhfField, UhfTag]) -> None:
    device, _, tag = sim
    with _reader(device) as r:
        assert r.system_info(tag.epc_hex).afi == 0x07
        r.write_afi(tag.epc_hex, 0xC2)  # checked out: on loan
        assert pc_afi(bytes(tag.epc_bank[2:4])) == 0xC2 and r.system_info(tag.epc_hex).afi == 0xC2
        assert [i.uid for i in r.inventory()] == [tag.epc_hex]  # the UII is unchanged


def test_epc_rewrite_changes_the_uid(sim: tuple[LlrpReaderDevice, UhfField, UhfTag]) -> None:
    device, _, tag = sim
    new = bytes(reversed(tag.uii))
    with _reader(device) as r:
        r.write_bank(tag.epc_hex, 1, 2, new, verify=False)
        assert [i.uid for i in r.inventory()] == [new.hex().upper()]
        assert r.read_bank(new, 1, 2, len(new) // 2) == new


def test_a_failed_write_is_retried(sim: tuple[LlrpReaderDevice, UhfField, UhfTag]) -> None:
    device, _, tag = sim
    with _reader(device) as r:
        device.inject("fail_write")
        r.write_blocks(tag.epc_hex, 0, b"\x11\x22")
        assert tag.user[:2] == b"\x11\x22" and r.metrics()["write_blocks_retries"] == 1
        device.inject("fail_write", None)  # every write fails from now on
        with pytest.raises(WriteFailed):
            r.write_afi(tag.epc_hex, 0xC2)
        assert pc_afi(bytes(tag.epc_bank[2:4])) == 0x07
        assert r.metrics()["write_afi_failures"] == 1 and r.metrics()["write_afi_retries"] == 9


def test_locked_memory_is_tag_locked(sim: tuple[LlrpReaderDevice, UhfField, UhfTag]) -> None:
    device, _, tag = sim
    tag.locked_banks.add(3)
    with _reader(device) as r, pytest.raises(TagLocked):
        r.write_blocks(tag.epc_hex, 0, b"\x00\x01")
    assert r.metrics()["write_blocks_calls"] == 1


def test_a_tag_gone_mid_write_is_tag_not_found(sim: tuple[LlrpReaderDevice, UhfField, UhfTag]) -> None:
    device, field, tag = sim
    before = bytes(tag.user[:4])
    with _reader(device, write_retries=2) as r:
        device.inject("tag_leaves")
        with pytest.raises(TagNotFound):
            r.write_blocks(tag.epc_hex, 0, b"\x01\x02\x03\x04")
        assert tag.user[:4] == b"\x01\x02" + before[2:]  # half written before it left
        field.place(tag, "uhf-pad")  # back on the pad: the retry completes it
        r.write_blocks(tag.epc_hex, 0, b"\x01\x02\x03\x04")
        assert tag.user[:4] == b"\x01\x02\x03\x04"


def test_disconnect_and_timeout_reopen_and_retry(sim: tuple[LlrpReaderDevice, UhfField, UhfTag]) -> None:
    device, _, tag = sim
    with _reader(device, retries=3) as r:
        r.inventory()
        device.inject("disconnect", seconds=0.1)
        assert [i.uid for i in r.inventory()] == [tag.epc_hex]
        assert r.metrics()["disconnects"] >= 1 and r.metrics()["reopens"] >= 1
        device.inject("timeout")
        assert r.read_blocks(tag.epc_hex, 0, 1) == bytes(tag.user[:2])
        assert r.metrics()["timeouts"] == 1


def test_a_broken_stream_reconnects(sim: tuple[LlrpReaderDevice, UhfField, UhfTag]) -> None:
    device, _, tag = sim
    with _reader(device) as r:
        device.inject("garbage", bytes=12)
        assert [i.uid for i in r.inventory()] == [tag.epc_hex]
        assert r.metrics()["disconnects"] == 1 and r.metrics()["reopens"] == 1


def test_keepalives_are_acknowledged(sim: tuple[LlrpReaderDevice, UhfField, UhfTag]) -> None:
    device, _, _ = sim
    with _reader(device, keepalive_s=0.05) as r:
        deadline = time.monotonic() + 5
        while device.counters.get("keepalive_acks", 0) < 2 and time.monotonic() < deadline:
            time.sleep(0.06)
            r.inventory()
        assert device.counters["keepalive_acks"] >= 2 and r.metrics()["keepalives"] >= 2


def test_a_second_client_is_refused(sim: tuple[LlrpReaderDevice, UhfField, UhfTag]) -> None:
    device, _, _ = sim
    with _reader(device):
        second = _reader(device, retries=0)
        with pytest.raises(ReaderDisconnected, match="another client"):
            second.open()


def test_gpi_beams_and_timed_gpo_outputs(sim: tuple[LlrpReaderDevice, UhfField, UhfTag]) -> None:
    device, _, _ = sim
    with _reader(device) as r:
        device.set_input(2, True)
        inputs = r.read_inputs()
        assert (inputs[1], inputs[2]) == (False, True)
        r.set_outputs(red="flash", buzzer="on", relay="off", duration_s=0.1)
        assert device.outputs == {1: False, 2: True, 3: True, 4: False}
        deadline = time.monotonic() + 5  # the driver switches them off after the duration
        while any(device.outputs.values()) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not any(device.outputs.values())


def test_no_eas_on_uhf(sim: tuple[LlrpReaderDevice, UhfField, UhfTag]) -> None:
    device, _, tag = sim
    with _reader(device) as r, pytest.raises(ReaderError, match="AFI in the PC word"):
        r.set_eas(tag.epc_hex, True)
