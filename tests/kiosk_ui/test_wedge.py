"""Keyboard-wedge scans: the scan rules (as drivers.scanner) and telling a scan from typing."""

from __future__ import annotations

import pytest

from kiosk_ui.wedge import MAX_SCAN, ScanRejected, WedgeDetector, parse_scan

# ---- parse_scan ------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "prefix", "suffix", "want"), [
    ("123456", "", "", "123456"),
    ("123456\r\n", "", "", "123456"),
    ("123456\n", "", "", "123456"),
    ("  2000004 ", "", "", "2000004"),
    ("]C1123456", "]C1", "", "123456"),
    ("\x02123456\x03", "\x02", "\x03", "123456"),   # STX/ETX affixes may be control chars
    ("123456#", "", "#", "123456"),
    ("123456", "", "\r", "123456"),                 # a CR suffix is the Enter key itself
    ("123456#\r", "", "#\r", "123456"),
])
def test_parse_scan_strips_terminator_and_affixes(raw: str, prefix: str, suffix: str,
                                                  want: str) -> None:
    assert parse_scan(raw, prefix=prefix, suffix=suffix) == want


@pytest.mark.parametrize(("raw", "prefix", "suffix", "reason"), [
    ("", "", "", "empty scan"),
    ("   \r", "", "", "empty scan"),
    ("]C1   ", "]C1", "", "empty scan"),
    ("123456", "]C1", "", "lacks the configured prefix"),
    ("123456", "", "#", "lacks the configured suffix"),
    ("12\x0734", "", "", "control character U+0007 at offset 2"),
    ("]C112\u200b34", "]C1", "", "control character U+200B at offset 5"),
    ("9" * (MAX_SCAN + 1), "", "", f"expected at most {MAX_SCAN}"),
])
def test_parse_scan_rejects_with_a_reason(raw: str, prefix: str, suffix: str, reason: str) -> None:
    with pytest.raises(ScanRejected) as ei:
        parse_scan(raw, prefix=prefix, suffix=suffix)
    assert reason in ei.value.reason
    if raw.strip():
        assert raw.strip("\r\n ") not in ei.value.reason   # the reason never holds the scan


def test_parse_scan_wants_text() -> None:
    with pytest.raises(TypeError):
        parse_scan(b"123456")   # type: ignore[arg-type]


# ---- WedgeDetector ---------------------------------------------------------------------

def _type(det: WedgeDetector, text: str, start: float, gap: float) -> float:
    t = start
    for ch in text:
        det.key(ch, t)
        t += gap
    return t - gap


def test_a_fast_burst_ending_with_enter_is_a_scan() -> None:
    det = WedgeDetector()
    last = _type(det, "123456", 10.0, 0.004)
    assert det.enter(last + 0.004) == "123456"


def test_a_person_typing_is_not_a_scan() -> None:
    det = WedgeDetector()
    last = _type(det, "123456", 10.0, 0.25)
    assert det.enter(last + 0.3) is None


def test_a_slow_enter_after_a_burst_is_not_a_scan() -> None:
    det = WedgeDetector()
    last = _type(det, "123456", 10.0, 0.004)
    assert det.enter(last + 0.5) is None


def test_a_short_fast_roll_is_not_a_scan() -> None:
    det = WedgeDetector(min_length=4)
    last = _type(det, "12", 10.0, 0.01)
    assert det.enter(last + 0.01) is None


def test_only_the_burst_is_the_scan_after_typing() -> None:
    det = WedgeDetector()
    t = _type(det, "99", 10.0, 0.4)           # a person, then a scan
    last = _type(det, "2000004", t + 1.0, 0.003)
    assert det.enter(last + 0.003) == "2000004"


def test_an_edit_key_breaks_the_burst() -> None:
    det = WedgeDetector()
    t = _type(det, "1234", 10.0, 0.003)
    det.edited()                              # Backspace, arrows, auto-repeat
    last = _type(det, "56", t + 0.003, 0.003)
    assert det.enter(last + 0.003) is None


def test_enter_resets_the_detector() -> None:
    det = WedgeDetector()
    last = _type(det, "123456", 10.0, 0.003)
    assert det.enter(last + 0.003) == "123456"
    assert det.enter(last + 0.006) is None


def test_configured_affixes_mark_a_scan_at_any_speed() -> None:
    det = WedgeDetector(prefix="]C1")
    last = _type(det, "]C1123456", 10.0, 0.3)
    assert det.enter(last + 0.3) == "]C1123456"


def test_a_burst_without_the_configured_prefix_is_returned_for_rejection() -> None:
    det = WedgeDetector(prefix="]C1")
    last = _type(det, "123456", 10.0, 0.003)
    scan = det.enter(last + 0.003)
    assert scan == "123456"
    with pytest.raises(ScanRejected, match="prefix"):
        parse_scan(scan, prefix="]C1")


def test_a_cr_suffix_is_not_an_affix_for_the_wedge() -> None:
    det = WedgeDetector(suffix="\r")
    assert not det.has_affixes
    last = _type(det, "123456", 10.0, 0.3)   # slow: typed, even though a suffix is set
    assert det.enter(last + 0.3) is None


@pytest.mark.parametrize("kwargs", [{"max_gap_s": 0}, {"min_length": 0}])
def test_detector_arguments_are_checked(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        WedgeDetector(**kwargs)   # type: ignore[arg-type]
