"""``smartlib tag decode/encode --format iso28560-4``: JSON keys, exit codes, round trip.

Vectors: ISO/TS 28560-4:2014(E) pp. 49/52 as quoted in dp2's ``UnitTestRFID/TestUHF.cs``
(see test_iso28560_4.py for the provenance of each).
"""

from __future__ import annotations

import json

from click.testing import CliRunner

from drivers.cli import tag
from drivers.tags.model import JSON_KEYS

EPC = "45C2 141C C04F C70B ADB5 C6E2 DA1D ED4D D319"
USER = "06 02 01 D0 14 02 04B3 4607 441C B6E2 E335 D653 08AB 4D6C 9DD5 56CD EB00"
UHF_KEYS = ("afi", "toggle", "umi", "xi", "length_words", "uii", "dsfid", "attribute_bits",
            "epc_hex")


def _decode(*args: str) -> tuple[int, dict | None, str]:
    res = CliRunner().invoke(tag, ["decode", *args, "--format", "iso28560-4"])
    return res.exit_code, json.loads(res.stdout) if res.exit_code == 0 else None, res.stderr


def test_decode_epc_and_user_bank() -> None:
    code, out, _ = _decode(EPC, "--user", USER)
    assert code == 0 and out is not None
    assert tuple(out) == JSON_KEYS + UHF_KEYS  # the other formats' keys first
    assert (out["format"], out["primary_item_id"], out["isil"], out["country"]) == (
        "iso28560-4", "12345678.31", "CH-000134-1", "CH")
    assert (out["parts_in_item"], out["part_number"]) == (12, 3)
    assert out["elements"]["shelf_location"] == "QA268.L55"
    assert (out["afi"], out["toggle"], out["umi"], out["dsfid"]) == (0xC2, True, True, 6)
    assert out["problems"] == []


def test_decode_epc_bank_alone() -> None:
    code, out, _ = _decode(EPC)
    assert code == 0 and out is not None
    assert out["uii"] == "CH-000134-1.12345678.31" and out["dsfid"] is None


def test_plain_epc_exits_2_strict_and_0_lenient() -> None:
    blank = "3000 E200 1234 5678 9ABC DEF0 1122"  # toggle 0 (dp2's factory blank)
    code, _, err = _decode(blank)
    assert code == 2 and "(field pc.toggle, offset 0)" in err
    code, out, _ = _decode(blank, "--lenient")
    assert code == 0 and out is not None
    assert out["toggle"] is False and out["afi"] is None and out["problems"]


def test_cut_uii_exits_2_naming_the_field() -> None:
    code, _, err = _decode(EPC[:-5])
    assert code == 2 and "field uii" in err


def test_bad_input_exits_2() -> None:
    assert _decode("zz")[0] == 2
    assert _decode(EPC, "--user", "0")[0] == 2
    assert _decode("45")[0] == 2  # no PC word
    res = CliRunner().invoke(tag, ["decode", EPC, "--user", USER])  # --user without the format
    assert res.exit_code == 2 and "--user" in res.stderr
    for extra in (["--dsfid", "06"], ["--reversed-blocks"]):
        code, _, err = _decode(EPC, *extra)
        assert code == 2 and "do not apply" in err


def test_encode_then_decode() -> None:
    res = CliRunner().invoke(tag, ["encode", "--item", "98765", "--isil", "VN-HN0001",
                                   "--parts", "3", "--part", "2", "--format", "iso28560-4",
                                   "--afi", "C2"])
    assert res.exit_code == 0, res.output
    banks = json.loads(res.stdout)
    assert set(banks) == {"epc", "user"} and banks["epc"][2:4] == "C2"
    code, out, _ = _decode(banks["epc"], "--user", banks["user"])
    assert code == 0 and out is not None
    assert (out["primary_item_id"], out["isil"], out["parts_in_item"], out["part_number"],
            out["type_of_usage_code"], out["afi"]) == ("98765", "VN-HN0001", 3, 2, 0x10, 0xC2)


def test_encode_refuses_what_does_not_apply() -> None:
    for extra in (["--blocks", "8"], ["--version", "2"], ["--afi", "zz"], ["--afi", "100"],
                  ["--type-of-usage", "16"]):
        res = CliRunner().invoke(tag, ["encode", "--item", "1", "--format", "iso28560-4",
                                       *extra])
        assert res.exit_code == 2, (extra, res.output)
    res = CliRunner().invoke(tag, ["encode", "--item", "1.2", "--format", "iso28560-4"])
    assert res.exit_code == 2 and "field primary_item_id" in res.stderr
