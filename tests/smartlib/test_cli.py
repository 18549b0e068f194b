from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

from smartlib.cli import root

SUBCOMMANDS = ["serve", "sync", "gateway", "kiosk", "sim", "demo", "doctor", "bench",
               "tag", "sip2", "db", "config", "stats"]


def test_help_lists_every_subcommand() -> None:
    out = subprocess.run([sys.executable, "-m", "smartlib.cli", "--help"],
                         capture_output=True, text=True, check=True).stdout
    listed = {ln.split()[0] for ln in out.split("Commands:")[1].splitlines() if ln.strip()}
    assert set(SUBCOMMANDS) <= listed


def test_bad_arguments_exit_2() -> None:
    r = CliRunner().invoke(root, ["config", "check"])
    assert r.exit_code == 2 and "Missing argument" in r.output
    r = CliRunner().invoke(root, ["no-such-command"])
    assert r.exit_code == 2
    r = CliRunner().invoke(root, ["--log-level", "LOUD", "config"])
    assert r.exit_code == 2


def test_settings_or_exit_names_every_bad_key(tmp_path) -> None:
    import click
    import pytest

    from smartlib.cli import settings_or_exit

    bad = tmp_path / "bad.toml"
    bad.write_text('[api]\nport = "x"\n[reader]\npoll_interval_ms = -1\n')
    with pytest.raises(click.ClickException) as info:
        settings_or_exit(bad)
    text = info.value.format_message()
    assert "api.port" in text and "reader.poll_interval_ms" in text
    assert settings_or_exit(None).site is not None
