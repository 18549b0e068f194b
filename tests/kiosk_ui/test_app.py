"""The app factory and the `smartlib kiosk` command."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from click.testing import CliRunner

from kiosk_ui.app import KioskOptions
from kiosk_ui.cli import kiosk
from smartlib.config import load_settings


def test_options_from_settings(tmp_path: Path) -> None:
    cfg = tmp_path / "k.toml"
    cfg.write_text('[site]\nname = "Thư viện Hội An"\nopening_hours = "7–19"\n'
                   '[kiosk]\nedge_url = "http://10.0.0.2:8080"\nlanguage = "en"\n'
                   'admin_exit_code = "9876"\nprinter_url = "tcp://printer:9100"\nlarge_text = true\n'
                   '[policy]\nanonymous_return = false\nsession_idle_s = 45\n'
                   '[api]\ndevice_token = "tok"\n', encoding="utf-8")
    opts = KioskOptions.from_settings(load_settings(cfg), language=None, edge_url="http://x:1")
    assert (opts.edge_url, opts.language, opts.token, opts.admin_exit_code) == (
        "http://x:1", "en", "tok", "9876")
    assert opts.printer and opts.large_text and not opts.high_contrast
    assert not opts.anonymous_return and opts.idle_timeout_s == 45
    assert opts.site_name == "Thư viện Hội An"


def test_cli_help_and_bad_config(tmp_path: Path) -> None:
    r = CliRunner().invoke(kiosk, ["--help"])
    assert r.exit_code == 0 and "--edge-url" in r.output and "--windowed" in r.output
    bad = tmp_path / "bad.toml"
    bad.write_text("[kiosk]\nlanguage = 'fr'\n")
    r = CliRunner().invoke(kiosk, ["--config", str(bad)])
    assert r.exit_code != 0 and "kiosk.language" in r.output


def test_created_kiosk_starts_on_attract_in_default_language(kiosk: Any) -> None:
    assert kiosk.vm.screen.value == "attract"
    assert kiosk.localizer.language == "vi"
    assert not kiosk.window.kiosk
