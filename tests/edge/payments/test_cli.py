"""``smartlib pay vietqr``: the payload on stdout, the PNG, and refusals of bad options."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from PIL import Image

from smartlib.cli import root

# From the README of subiz/vietqr (Go), 120,000 VND to account 0011001932418 at BIN 970415.
SUBIZ_README = ("00020101021238570010A00000072701270006970415011300110019324180208QRIBFTTA"
                "530370454061200005802VN62170813ung ho lu lut6304C15C")


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(root, ["pay", "vietqr", *args])
    return result.exit_code, result.output


def test_prints_the_payload() -> None:
    code, out = run("--bank", "970415", "--account", "0011001932418", "--amount", "120000",
                    "--ref", "ung ho lu lut")
    assert code == 0, out
    assert out == SUBIZ_README + "\n"


def test_pay_is_a_group_listing_vietqr() -> None:
    result = CliRunner().invoke(root, ["pay", "--help"])
    assert result.exit_code == 0 and "vietqr" in result.output


def test_png_is_a_qr_symbol(tmp_path: Path) -> None:
    png = tmp_path / "pay.png"
    code, out = run("--bank", "970415", "--account", "0011001932418", "--amount", "75000",
                    "--ref", "PHAT 2000003", "--png", str(png), "--scale", "4")
    assert code == 0, out
    with Image.open(png) as img:
        assert img.format == "PNG" and img.width == img.height
        grey = img.convert("L")
        modules = img.width // 4 - 8  # 4 modules of quiet zone each side
        assert img.width % 4 == 0 and modules >= 21 and (modules - 21) % 4 == 0
        dark = [[grey.getpixel((4 * (4 + x) + 2, 4 * (4 + y) + 2)) < 128 for x in range(7)]
                for y in range(7)]
    # The top-left finder pattern: a dark 7x7 ring, a light ring, a dark 3x3 core.
    ring = {(x, y) for x in range(7) for y in range(7) if x in (0, 6) or y in (0, 6)}
    core = {(x, y) for x in range(2, 5) for y in range(2, 5)}
    for y in range(7):
        for x in range(7):
            assert dark[y][x] == ((x, y) in ring or (x, y) in core), (x, y)


def test_bad_options_are_refused_with_the_option_named() -> None:
    code, out = run("--bank", "97041", "--account", "1", "--amount", "1")
    assert code == 2 and "--bank" in out and "six-digit" in out
    code, out = run("--bank", "970415", "--account", "1", "--amount", "1", "--ref", "x" * 26)
    assert code == 2 and "--ref" in out and "at most 25" in out
    code, out = run("--bank", "970415", "--account", "1", "--amount", "0")
    assert code == 2 and "--amount" in out
    code, out = run("--bank", "970415", "--account", "1", "--amount", "1.5")
    assert code == 2 and "--amount" in out
