"""``smartlib tag decode/encode``: JSON keys and exit codes (output is a contract)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from drivers.cli import tag
from drivers.tags.model import JSON_KEYS

# The contract (issue 4): the listed keys in this order, then how the data was found;
# issue 20 added type_of_usage_code (the whole ISO 28560-1 byte) after the usage name.
CONTRACT_KEYS = ("format", "version", "type_of_usage", "type_of_usage_name",
                 "type_of_usage_code", "parts_in_item", "part_number", "primary_item_id",
                 "country", "isil", "crc_ok", "elements", "problems", "detected_by",
                 "reversed_blocks")

# libdanrfid DDMDataTest vector (protocols.md section 2)
VECTOR = "11 01 01 31 31 32 32 33 33 34 34 00 00 00 00 00 00 00 00 51 3E 44 45 37 30 35 00 00 00 00 00 00"
BAD_CRC = VECTOR.replace("51 3E", "51 3F")
ROOT = Path(__file__).resolve().parents[3]


def test_decode_prints_contract_keys() -> None:
    res = CliRunner().invoke(tag, ["decode", VECTOR])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert tuple(out) == CONTRACT_KEYS == JSON_KEYS
    assert (out["primary_item_id"], out["isil"], out["crc_ok"], out["problems"]) == (
        "11223344", "DE-705", True, [])
    assert (out["detected_by"], out["reversed_blocks"]) == ("version+crc", False)


def test_lenient_and_unknown_output_has_every_key() -> None:
    for args in (["decode", BAD_CRC, "--lenient"], ["decode", "00 00 00 00", "--lenient"],
                 ["decode", "11 02 04 D2 E5 04 01 10 00 00 00 00", "--dsfid", "06"]):
        res = CliRunner().invoke(tag, args)
        assert res.exit_code == 0, res.output
        assert tuple(json.loads(res.stdout)) == CONTRACT_KEYS


def test_decode_strict_invalid_exits_2_lenient_exits_0() -> None:
    res = CliRunner().invoke(tag, ["decode", BAD_CRC])
    assert res.exit_code == 2 and "CRC" in res.stderr and res.stdout == ""
    res = CliRunner().invoke(tag, ["decode", BAD_CRC, "--lenient"])
    assert res.exit_code == 0
    out = json.loads(res.stdout)
    assert out["crc_ok"] is False and out["problems"]
    assert CliRunner().invoke(tag, ["decode", "zz"]).exit_code == 2


def _reversed(hexdata: str) -> str:
    words = hexdata.split()
    return " ".join(" ".join(words[i:i + 4][::-1]) for i in range(0, len(words), 4))


def test_decode_reversed_blocks_in_the_output() -> None:
    rev = _reversed(VECTOR)
    for extra in ([], ["--reversed-blocks"], ["--reversed-blocks", "--explain"]):
        res = CliRunner().invoke(tag, ["decode", rev, *extra])
        assert res.exit_code == 0, res.output
        out = json.loads(res.stdout)
        assert out["reversed_blocks"] is True and out["primary_item_id"] == "11223344"
        assert out["detected_by"] == "version+crc"


@pytest.mark.parametrize(("hexdata", "message"), [
    ("11 01 01", "(field basic_block, offset 3)"),               # a cut-off part-3 block
    (" ".join(VECTOR.split()[:20]), "(field basic_block, offset 20)"),  # 20 of 32 bytes
    ("31" + VECTOR[2:], "(field version, offset 0)"),               # version 3
])
def test_auto_mode_names_the_field_at_fault(hexdata: str, message: str) -> None:
    res = CliRunner().invoke(tag, ["decode", hexdata])
    assert res.exit_code == 2 and res.stdout == ""
    assert message in res.stderr and "unrecognised" not in res.stderr


def test_encode_version() -> None:
    res = CliRunner().invoke(tag, ["encode", "--item", "11223344", "--isil", "DE-705",
                                   "--version", "2"])
    assert res.exit_code == 0, res.output
    # libdanrfid's vector with version 2 (CRC 0x633F, see test_golden.V2_CIRCULATING)
    assert res.stdout.strip() == ("21 01 01 31 31 32 32 33 33 34 34 00 00 00 00 00 00 00 00 3F 63"
                                  " 44 45 37 30 35 00 00 00 00 00 00").replace(" ", "")
    out = json.loads(CliRunner().invoke(tag, ["decode", res.stdout.strip()]).stdout)
    assert (out["version"], out["crc_ok"]) == (2, True)
    res = CliRunner().invoke(tag, ["encode", "--item", "11223344", "--isil", "DE-705"])
    assert res.stdout.strip().replace(" ", "") == VECTOR.replace(" ", "")  # default version 1
    res = CliRunner().invoke(tag, ["encode", "--item", "1", "--version", "3"])
    assert res.exit_code == 2
    res = CliRunner().invoke(tag, ["encode", "--item", "1", "--format", "iso28560-2",
                                   "--version", "2"])
    assert res.exit_code == 2 and "version" in res.stderr


def test_encode_then_decode() -> None:
    res = CliRunner().invoke(tag, ["encode", "--item", "98765", "--isil", "VN-HN0001",
                                   "--parts", "3", "--part", "2", "--blocks", "28"])
    assert res.exit_code == 0
    hexout = res.stdout.strip()
    assert len(hexout) == 28 * 4 * 2 and hexout.startswith("110302")
    out = json.loads(CliRunner().invoke(tag, ["decode", hexout]).stdout)
    assert (out["parts_in_item"], out["part_number"], out["isil"]) == (3, 2, "VN-HN0001")
    res = CliRunner().invoke(tag, ["encode", "--item", "1", "--format", "iso28560-2"])
    out = json.loads(CliRunner().invoke(tag, ["decode", res.stdout.strip()]).stdout)
    assert out["format"] == "iso28560-2"
    assert CliRunner().invoke(tag, ["encode", "--item", "1", "--parts", "1", "--part", "2"]).exit_code == 2


def test_real_subprocess() -> None:
    exe = ROOT / ".venv" / "bin" / "smartlib"
    res = subprocess.run([str(exe), "tag", "decode", VECTOR], capture_output=True, text=True,
                         timeout=60, check=False)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["primary_item_id"] == "11223344"
    res = subprocess.run([str(exe), "tag", "decode", BAD_CRC], capture_output=True, text=True,
                         timeout=60, check=False)
    assert res.returncode == 2 and "crc" in res.stderr


# libdanrfid LibTagTest.UserEmptyHex: the blank tag libdanrfid serialises (no barcode,
# DE-705, CRC 0x9FCA); see tests/drivers/tags/corpus/manifest.json.
BLANK_PII = "11010100000000000000000000000000000000ca9f4445373035000000000000"


def test_decode_blank_tag_with_empty_item_id_reports_a_problem_and_exits_0() -> None:
    for extra in ([], ["--lenient"]):
        res = CliRunner().invoke(tag, ["decode", BLANK_PII, *extra])
        assert res.exit_code == 0, res.output
        out = json.loads(res.stdout)
        assert (out["format"], out["primary_item_id"], out["crc_ok"], out["isil"]) == (
            "iso28560-3", "", True, "DE-705")
        assert out["problems"] == [
            "primary item id is empty (a blank tag) (field primary_item_id, offset 3)"]


def test_decode_prints_the_whole_type_of_usage_byte() -> None:
    # ISO 28560-2: OID 1 integer "7" (11 01 07), type of usage as one octet 0x32 (65 01 32)
    res = CliRunner().invoke(tag, ["decode", "11 01 07 65 01 32 00 00", "--dsfid", "06"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert (out["type_of_usage"], out["type_of_usage_code"], out["type_of_usage_name"]) == (
        3, 0x32, "local use")
    # the same code in numeric compaction, as a vendor encoder writes it: 25 01 10 = "10"
    out = json.loads(CliRunner().invoke(tag, ["decode", "11 01 07 25 01 10 00 00"]).stdout)
    assert (out["type_of_usage"], out["type_of_usage_code"], out["detected_by"]) == (
        1, 0x10, "oid-plausibility")
    # ISO 28560-3 has only the main category: the code is category << 4
    out = json.loads(CliRunner().invoke(tag, ["decode", VECTOR]).stdout)
    assert (out["type_of_usage"], out["type_of_usage_code"]) == (1, 0x10)


def test_decode_unsupported_construct_exits_2_and_says_so() -> None:
    # relative OID 128 (extension byte 0x71) after the primary item id
    res = CliRunner().invoke(tag, ["decode", "11 01 07 7F 71 01 78 00", "--dsfid", "06"])
    assert res.exit_code == 2 and res.stdout == ""
    assert "not supported" in res.stderr and "(field oid, offset 4)" in res.stderr
