"""Keyboard-wedge scans: telling a scan from typing (the scan rules are the edge's: see
test_edge_integration.py)."""

from __future__ import annotations

import pytest

from kiosk_ui.wedge import WedgeDetector, effective_suffix

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
    assert scan == "123456"   # the edge refuses it: it lacks the prefix


def test_a_cr_suffix_is_not_an_affix_for_the_wedge() -> None:
    assert effective_suffix("#\r\n") == "#" and effective_suffix("\r") == ""
    det = WedgeDetector(suffix="\r")
    assert not det.has_affixes
    last = _type(det, "123456", 10.0, 0.3)   # slow: typed, even though a suffix is set
    assert det.enter(last + 0.3) is None


@pytest.mark.parametrize("kwargs", [{"max_gap_s": 0}, {"min_length": 0}])
def test_detector_arguments_are_checked(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        WedgeDetector(**kwargs)   # type: ignore[arg-type]
