"""``smartlib tag program`` and ``smartlib tag read`` against a simulated pad reader."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from drivers.cli import tag as tag_cli
from drivers.tags import decode_tag
from hardware_sim.feig_device import FeigReaderDevice
from hardware_sim.field import SimField
from hardware_sim.tag import SimTag


@pytest.fixture
def pad() -> Iterator[tuple[SimField, FeigReaderDevice, str]]:
    field = SimField()
    dev = FeigReaderDevice(field, ["pad"], timing=False).start(pty=False, tcp=True)
    try:
        yield field, dev, f"socket://127.0.0.1:{dev.tcp_port}"
    finally:
        dev.stop()


def run(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(tag_cli, list(args))
    return r.exit_code, r.stdout, r.stderr


def test_program_blank_tag_then_read(pad: tuple[SimField, FeigReaderDevice, str]) -> None:
    field, dev, url = pad
    blank = SimTag(uid=bytes.fromhex("E004010012345678"), afi=0x00)
    field.place(blank, "pad")
    dev.inject("fail_afi", 2)
    code, out, err = run("program", "--reader", url, "--item", "81234567", "--parts", "2",
                         "--part", "2", "--isil", "VN-HN0001")
    assert code == 0, err
    res = json.loads(out)
    assert res["uid"] == "E004010012345678" and res["afi"] == 0x07
    assert res["written"]["primary_item_id"] == "81234567" and res["written"]["part_number"] == 2
    assert blank.afi == 0x07
    assert decode_tag(bytes(blank.memory)).parts_in_item == 2
    code, out, err = run("read", "--reader", url)
    assert code == 0, err
    [one] = json.loads(out)
    assert one["data"]["primary_item_id"] == "81234567" and one["security"] == "secured"


def test_refuses_a_tag_with_data_unless_overwrite(pad: tuple[SimField, FeigReaderDevice, str]) -> None:
    field, _, url = pad
    tag = SimTag.from_item("OLD00001", afi=0xC2)
    field.place(tag, "pad")
    code, _, err = run("program", "--reader", url, "--item", "NEW00001")
    assert code == 4 and "already carries data" in err and "OLD00001" in err
    assert decode_tag(bytes(tag.memory)).primary_item_id == "OLD00001"
    code, out, err = run("program", "--reader", url, "--item", "NEW00001", "--overwrite",
                         "--security", "both")
    assert code == 0, err
    assert decode_tag(bytes(tag.memory)).primary_item_id == "NEW00001"
    assert tag.afi == 0x07 and tag.eas is True


def test_locked_blocks_give_a_clear_error(pad: tuple[SimField, FeigReaderDevice, str]) -> None:
    field, _, url = pad
    tag = SimTag(uid=bytes.fromhex("E004010012345679"), locked={3})
    field.place(tag, "pad")
    code, _, err = run("program", "--reader", url, "--item", "81234568")
    assert code == 5 and "locked" in err


def test_needs_exactly_one_tag(pad: tuple[SimField, FeigReaderDevice, str]) -> None:
    _, _, url = pad
    code, _, err = run("program", "--reader", url, "--item", "1")
    assert code == 3 and "found 0" in err


def test_program_iso28560_2_writes_dsfid_06(pad: tuple[SimField, FeigReaderDevice, str]) -> None:
    field, dev, url = pad
    blank = SimTag(uid=bytes.fromhex("E004010012345679"), dsfid=0x00)
    field.place(blank, "pad")
    code, out, err = run("program", "--reader", url, "--item", "81234568", "--format",
                         "iso28560-2", "--isil", "VN-HN0001")
    assert code == 0, err
    res = json.loads(out)
    assert res["format"] == "iso28560-2" and res["dsfid"] == 0x06
    assert blank.dsfid == 0x06
    assert dev.counters["cmd_b0"] > 0 and dev.counters["dsfid_written"] == 1
    # decoded through the DSFID, as any reader would
    assert decode_tag(bytes(blank.memory), dsfid=blank.dsfid).primary_item_id == "81234568"
    code, out, err = run("read", "--reader", url)
    assert code == 0, err
    [one] = json.loads(out)
    assert one["dsfid"] == 6 and one["data"]["primary_item_id"] == "81234568"
    # back to ISO 28560-3: the stale 0x06 is cleared
    code, out, err = run("program", "--reader", url, "--item", "81234568", "--overwrite")
    assert code == 0, err
    assert json.loads(out)["dsfid"] == 0x00 and blank.dsfid == 0x00


def test_program_iso28560_2_locked_dsfid(pad: tuple[SimField, FeigReaderDevice, str]) -> None:
    field, _dev, url = pad
    tag = SimTag(uid=bytes.fromhex("E00401001234567B"), dsfid=0x00, dsfid_locked=True)
    field.place(tag, "pad")
    code, _out, err = run("program", "--reader", url, "--item", "81234570", "--format", "iso28560-2")
    assert code == 5 and "DSFID is locked" in err
    assert tag.dsfid == 0x00
