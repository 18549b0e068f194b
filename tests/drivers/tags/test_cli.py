"""``smartlib tag decode/encode``: JSON keys and exit codes (output is a contract)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from click.testing import CliRunner

from drivers.cli import tag
from drivers.tags.model import JSON_KEYS

# libdanrfid DDMDataTest vector (protocols.md section 2)
VECTOR = "11 01 01 31 31 32 32 33 33 34 34 00 00 00 00 00 00 00 00 51 3E 44 45 37 30 35 00 00 00 00 00 00"
BAD_CRC = VECTOR.replace("51 3E", "51 3F")
ROOT = Path(__file__).resolve().parents[3]


def test_decode_prints_contract_keys() -> None:
    res = CliRunner().invoke(tag, ["decode", VECTOR])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert tuple(out) == JSON_KEYS
    assert (out["primary_item_id"], out["isil"], out["crc_ok"], out["problems"]) == (
        "11223344", "DE-705", True, [])


def test_decode_strict_invalid_exits_2_lenient_exits_0() -> None:
    res = CliRunner().invoke(tag, ["decode", BAD_CRC])
    assert res.exit_code == 2 and "CRC" in res.stderr and res.stdout == ""
    res = CliRunner().invoke(tag, ["decode", BAD_CRC, "--lenient"])
    assert res.exit_code == 0
    out = json.loads(res.stdout)
    assert out["crc_ok"] is False and out["problems"]
    assert CliRunner().invoke(tag, ["decode", "zz"]).exit_code == 2


def test_decode_reversed_and_explain() -> None:
    words = VECTOR.split()
    rev = " ".join(" ".join(words[i:i + 4][::-1]) for i in range(0, 32, 4))
    res = CliRunner().invoke(tag, ["decode", rev, "--reversed-blocks", "--explain"])
    out = json.loads(res.stdout)
    assert out["reversed_blocks"] is True and out["primary_item_id"] == "11223344"


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
