"""``[ils.sip2]`` profile overrides (per site too) and the Vietnamese charset warning."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from smartlib.cli import root
from smartlib.config import load_settings
from smartlib.config_cli import vietnamese_charset_warnings
from smartlib.errors import ConfigError


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text('[device]\nid = "gw-01"\nrole = "gateway"\n' + text, encoding="utf-8")
    return path


def test_a_site_overrides_single_settings_over_the_defaults(tmp_path: Path) -> None:
    s = load_settings(_write(tmp_path, '''
[ils]
profile = "koha"
[ils.sip2]
error_detection = false
idle_timeout = 120
[gateway]
sites = ["hn", "hcm"]
[gateway.site_ils.hcm]
profile = "folio"
[gateway.site_ils.hcm.sip2]
charset = "utf-8"
terminator = "CRLF"
checkin_not_loaned_ok = true
'''))
    hn, hcm = s.ils_for("hn"), s.ils_for("hcm")
    assert hn.profile == "koha" and hn.sip2.error_detection is False and hn.sip2.charset is None
    assert hcm.profile == "folio" and hcm.sip2.charset == "utf-8"
    assert hcm.sip2.terminator == "CRLF" and hcm.sip2.checkin_not_loaned_ok is True
    # Setting by setting: the site keeps [ils.sip2]'s values it does not change.
    assert hcm.sip2.error_detection is False and hcm.sip2.idle_timeout == 120


@pytest.mark.parametrize(("text", "path"), [
    ('[ils.sip2]\ncharset = "klingon-8"\n', "ils.sip2.charset"),
    ('[ils.sip2]\nterminator = "LF"\n', "ils.sip2.terminator"),
    ('[ils.sip2]\nidle_timeout = 0\n', "ils.sip2.idle_timeout"),
    ('[ils.sip2]\nholds_field = "CD"\n', "ils.sip2.holds_field"),
])
def test_bad_overrides_are_refused_with_their_key_path(tmp_path: Path, text: str,
                                                       path: str) -> None:
    with pytest.raises(ConfigError) as ei:
        load_settings(_write(tmp_path, text))
    assert path in {p for p, _ in ei.value.problems}


def test_folio_default_cp850_is_warned_and_a_utf8_override_is_not(tmp_path: Path) -> None:
    s = load_settings(_write(tmp_path, '''
[ils]
profile = "folio"
[gateway]
sites = ["hn", "hcm"]
[gateway.site_ils.hcm.sip2]
charset = "utf-8"
'''))
    warnings = vietnamese_charset_warnings(s)
    assert len(warnings) == 1 and warnings[0].startswith("ils: SIP2 charset cp850")
    latin = load_settings(_write(tmp_path, '[ils.sip2]\ncharset = "latin-1"\n'))
    assert [w.split(":")[0] for w in vietnamese_charset_warnings(latin)] == ["ils"]
    assert vietnamese_charset_warnings(load_settings(_write(tmp_path, ""))) == []


def test_config_check_prints_the_warning_and_still_passes(tmp_path: Path) -> None:
    path = _write(tmp_path, '[ils]\nprofile = "folio"\n')
    # --allow-insecure: the defaults' change-me secrets are another check's failures
    res = CliRunner().invoke(root, ["config", "check", "--allow-insecure", str(path)])
    assert res.exit_code == 0 and "OK" in res.output
    assert "warning: ils: SIP2 charset cp850" in res.output
