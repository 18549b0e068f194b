from __future__ import annotations

import click
from click.testing import CliRunner

from smartlib.cli import LazyCommands


def test_lazy_commands_load_on_use_and_report_missing_modules() -> None:
    grp = LazyCommands(name="g", lazy={"cfg": "smartlib.config_cli:config",
                                        "gone": "smartlib.no_such_module:x"})
    r = CliRunner().invoke(grp, ["--help"])
    assert r.exit_code == 0 and "cfg" in r.output and "gone" in r.output
    r = CliRunner().invoke(grp, ["cfg", "--help"])
    assert r.exit_code == 0 and "check" in r.output
    r = CliRunner().invoke(grp, ["gone"])
    assert r.exit_code == 1 and "unavailable" in r.output
    assert isinstance(grp.get_command(click.Context(grp), "cfg"), click.Group)
