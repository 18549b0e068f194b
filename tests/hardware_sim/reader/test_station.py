"""``smartlib tag program`` and ``smartlib tag read`` against a simulated pad reader."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from drivers.cli import tag as tag_cli
from drivers.errors import TagFormatError
from drivers.tags import ItemTagData, decode_tag, encode_tag
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


def _part2_tag(uid: str, **kw: object) -> SimTag:
    """A tag carrying a long ISO 28560-2 image (item OLD2, a title) and DSFID 0x06."""
    image = encode_tag(ItemTagData("OLD2", isil="VN-HN0001", elements={
        "title": "Truyen Kieu, a long title that needs many blocks"}), fmt="iso28560-2", blocks=28)
    return SimTag(uid=bytes.fromhex(uid), dsfid=0x06, memory=bytearray(image), **kw)  # type: ignore[arg-type]


def test_overwrite_clears_the_rest_of_a_longer_old_image(
        pad: tuple[SimField, FeigReaderDevice, str]) -> None:
    field, _, url = pad
    tag = _part2_tag("E00401001234567C")
    field.place(tag, "pad")
    old = bytes(tag.memory)
    assert any(old[32:])  # the old image is longer than the new 32-byte basic block
    # the audit's failure: the new image alone over the old one leaves a broken tail
    with pytest.raises(TagFormatError):
        decode_tag(encode_tag(ItemTagData("NEW00002")) + old[32:])
    code, out, err = run("program", "--reader", url, "--item", "NEW00002", "--overwrite")
    assert code == 0, err
    res = json.loads(out)
    stale = [b for b in range(8, 28) if any(old[b * 4:b * 4 + 4])]
    assert res["cleared_blocks"] == stale and res["blocks"] == 8
    mem = bytes(tag.memory)
    assert mem[32:] == bytes(28 * 4 - 32)
    # the whole memory decodes, as a kiosk or `tag read` reads it
    d = decode_tag(mem, dsfid=tag.dsfid)
    assert (d.format, d.primary_item_id, d.elements, d.problems) == ("iso28560-3", "NEW00002", {}, ())
    assert tag.dsfid == 0x00 and res["written"]["primary_item_id"] == "NEW00002"
    code, out, err = run("read", "--reader", url)
    assert code == 0, err
    [one] = json.loads(out)
    assert one["data"]["primary_item_id"] == "NEW00002" and one["data"]["problems"] == []


def test_overwrite_refuses_a_locked_block_with_old_data_before_writing(
        pad: tuple[SimField, FeigReaderDevice, str]) -> None:
    field, _, url = pad
    tag = _part2_tag("E00401001234567D", locked={9, 10})
    field.place(tag, "pad")
    before = bytes(tag.memory)
    assert any(before[36:44])  # blocks 9 and 10 hold old data
    code, _, err = run("program", "--reader", url, "--item", "NEW00003", "--overwrite")
    assert code == 5 and "locked blocks 9-10" in err
    assert json.loads(err)["locked"] == [9, 10]
    assert bytes(tag.memory) == before and tag.dsfid == 0x06  # nothing was written


def test_locked_blank_blocks_after_the_image_are_skipped(
        pad: tuple[SimField, FeigReaderDevice, str]) -> None:
    field, _, url = pad
    tag = SimTag(uid=bytes.fromhex("E00401001234567E"), locked={20, 27})
    field.place(tag, "pad")
    code, out, err = run("program", "--reader", url, "--item", "NEW00004")
    assert code == 0, err
    assert json.loads(out)["cleared_blocks"] == []
    assert decode_tag(bytes(tag.memory)).primary_item_id == "NEW00004"


def test_old_data_only_after_the_image_still_needs_overwrite(
        pad: tuple[SimField, FeigReaderDevice, str]) -> None:
    field, _, url = pad
    mem = bytearray(28 * 4)
    mem[100:104] = b"\x01\x02\x03\x04"  # block 25
    tag = SimTag(uid=bytes.fromhex("E00401001234567F"), memory=mem)
    field.place(tag, "pad")
    code, _, err = run("program", "--reader", url, "--item", "NEW00005")
    assert code == 4 and "already carries data" in err
    code, out, err = run("program", "--reader", url, "--item", "NEW00005", "--overwrite")
    assert code == 0, err
    assert json.loads(out)["cleared_blocks"] == [25] and bytes(tag.memory)[32:] == bytes(80)
