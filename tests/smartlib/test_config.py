from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from smartlib.cli import root
from smartlib.config import load_settings
from smartlib.errors import ConfigError

SAMPLES = sorted(Path("docs/config").glob("*.toml"))


@pytest.mark.parametrize("path", SAMPLES, ids=[p.stem for p in SAMPLES])
def test_samples_are_valid(path: Path) -> None:
    s = load_settings(path)
    assert s.site.id
    assert s.device.role in {"kiosk", "gate", "gateway"}


def test_sample_set_is_complete() -> None:
    assert {p.stem for p in SAMPLES} >= {"kiosk", "gate", "gateway", "demo"}


def test_values_from_file_and_hex_afi() -> None:
    s = load_settings("docs/config/kiosk.toml")
    assert s.security.afi_secured == 0x07 and s.security.afi_released == 0xC2
    assert s.device.id == "kiosk-01" and s.reader.baudrate == 38400
    assert s.broker.password is not None and s.broker.password.get_secret_value() == "change-me"


def test_env_overrides_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMARTLIB_BROKER__PORT", "1884")
    monkeypatch.setenv("SMARTLIB_DEVICE__ID", "kiosk-09")
    s = load_settings("docs/config/kiosk.toml")
    assert s.broker.port == 1884 and s.device.id == "kiosk-09"


def test_problems_name_key_paths(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[reader]\nbaudrate = -1\nspeed = 3\n[security]\nafi_secured = 300\n'
                   '[policy]\noffline_login = "maybe"\n')
    with pytest.raises(ConfigError) as ei:
        load_settings(bad)
    paths = {p for p, _ in ei.value.problems}
    assert {"reader.baudrate", "reader.speed", "security.afi_secured", "policy.offline_login"} <= paths
    msgs = dict(ei.value.problems)
    assert "unknown key" in msgs["reader.speed"]
    assert "greater than 0" in msgs["reader.baudrate"]


def test_same_afi_for_both_states_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "afi.toml"
    bad.write_text("[security]\nafi_secured = 7\nafi_released = 7\n")
    with pytest.raises(ConfigError) as ei:
        load_settings(bad)
    assert ei.value.problems[0][0] == "security.afi_released"


def test_unreadable_and_invalid_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[site\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(broken)


def test_config_check_cli(tmp_path: Path) -> None:
    runner = CliRunner()
    # the sample still has its change-me secrets: valid, and unsafe (test_config_audit.py)
    ok = runner.invoke(root, ["config", "check", "--allow-insecure", "docs/config/kiosk.toml"])
    assert ok.exit_code == 0 and "OK" in ok.output
    bad = tmp_path / "bad.toml"
    bad.write_text("[api]\nport = 99999\n")
    res = runner.invoke(root, ["config", "check", str(bad)])
    assert res.exit_code == 1
    assert "api.port" in res.output and "less than 65536" in res.output


def test_config_check_show_masks_secrets() -> None:
    res = CliRunner().invoke(
        root, ["config", "check", "--allow-insecure", "--show", "docs/config/kiosk.toml"])
    assert res.exit_code == 0
    assert "change-me" not in res.stdout and "**********" in res.stdout
