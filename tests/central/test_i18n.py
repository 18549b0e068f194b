"""Every visible string of the console exists in Vietnamese and English."""

from __future__ import annotations

import re
from pathlib import Path

import central.web
from central.web.i18n import BROWSER_KEYS, TEXTS, text

TEMPLATES = Path(central.web.__file__).parent / "templates"


def test_every_text_has_both_languages() -> None:
    for key, (vi, en) in TEXTS.items():
        assert vi.strip() and en.strip(), key
    assert text("nav.alarms", "vi") == "Cảnh báo" and text("nav.alarms", "en") == "Alarms"
    assert text("nav.alarms", "fr") == "Cảnh báo"  # unknown language: Vietnamese


def test_templates_and_script_use_known_keys_only() -> None:
    used: set[str] = set()
    for template in TEMPLATES.glob("*.html"):
        used |= set(re.findall(r"\bt\('([a-z_.]+)'\)", template.read_text()))
    assert used, "no t('…') found: the pattern is out of date"
    assert used - set(TEXTS) == set()
    script = (Path(central.web.__file__).parent / "static" / "central.js").read_text()
    assert set(re.findall(r'texts\["([a-z_.]+)"\]', script)) <= set(BROWSER_KEYS)
    assert set(BROWSER_KEYS) <= set(TEXTS)


def test_a_device_role_has_one_name_on_every_page() -> None:
    """The enrolment form called a kiosk "Ki-ốt" while the fleet said "Máy mượn trả"; the
    gateway was "Cổng kết nối", a "gate" like the security gate (the box's staff console
    calls it "Máy chủ")."""
    from central.web.i18n import text

    for lang in ("vi", "en"):
        for role in ("kiosk", "gate"):
            assert text(f"enrol.role.{role}", lang) == text(f"role.{role}", lang)
    assert not text("role.gateway", "vi").startswith("Cổng")
    assert text("role.gate", "vi") != text("role.gateway", "vi")
