"""The ``smartlib`` command: a root group whose subcommands come from entry points.

Each product package registers its own commands in the ``smartlib.commands`` entry-point
group and is imported only when its command runs, so a missing optional dependency breaks
only that command.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from smartlib import __version__
from smartlib.logs import configure_logging

if TYPE_CHECKING:
    from smartlib.config import Settings

GROUP = "smartlib.commands"


def settings_or_exit(config: str | Path | None, **overrides: Any) -> Settings:
    """The site configuration for a command, or a click error listing every invalid key.

    ``config`` is the ``--config`` path (None: ``$SMARTLIB_CONFIG``, else the defaults);
    ``overrides`` replace whole sections, as :func:`smartlib.config.load_settings` takes them.

    Raises:
        click.ClickException: the file is unreadable or invalid (exit status 1).
    """
    from smartlib.config import load_settings
    from smartlib.errors import ConfigError

    try:
        return load_settings(config, **overrides)
    except ConfigError as exc:
        lines = [str(exc), *(f"  {key}: {msg}" for key, msg in exc.problems)]
        raise click.ClickException("\n".join(lines)) from exc


class LazyGroup(click.Group):
    """A click group that loads each subcommand from its entry point on demand."""

    def _eps(self) -> dict[str, object]:
        return {ep.name: ep for ep in entry_points(group=GROUP)}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self._eps()))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        cmd = super().get_command(ctx, cmd_name)
        if cmd is not None:
            return cmd
        ep = self._eps().get(cmd_name)
        if ep is None:
            return None
        try:
            loaded = ep.load()  # type: ignore[attr-defined]
        except ImportError as exc:
            return _broken(cmd_name, f"cannot load {ep.value}: {exc}")  # type: ignore[attr-defined]
        if not isinstance(loaded, click.Command):
            return _broken(cmd_name, f"{ep.value} is not a click command")  # type: ignore[attr-defined]
        return loaded


class LazyCommands(click.Group):
    """A click group whose subcommands are ``{"name": "module:attr"}``, imported on use.

    Packages use it to split one command group over several modules (and owners).
    """

    def __init__(self, *args: object, lazy: dict[str, str] | None = None, **kw: object) -> None:
        super().__init__(*args, **kw)  # type: ignore[arg-type]
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self.lazy))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        cmd = super().get_command(ctx, cmd_name)
        if cmd is not None or cmd_name not in self.lazy:
            return cmd
        target = self.lazy[cmd_name]
        module, _, attr = target.partition(":")
        try:
            loaded = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            return _broken(cmd_name, f"cannot load {target}: {exc}")
        return loaded if isinstance(loaded, click.Command) else _broken(cmd_name, f"{target} is not a command")


def _broken(name: str, why: str) -> click.Command:
    @click.command(name=name, help=f"(unavailable: {why})", context_settings={"ignore_unknown_options": True})
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def cmd(args: tuple[str, ...]) -> None:
        raise click.ClickException(f"'{name}' is unavailable: {why}")

    return cmd


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="smartlib")
@click.option("--log-level", default="INFO", show_default=True,
              type=click.Choice(["TRACE", "DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
              help="TRACE also logs raw device frames.")
@click.option("--log-json", is_flag=True, help="Write logs as JSON lines.")
@click.pass_context
def root(ctx: click.Context, log_level: str, log_json: bool) -> None:
    """smartlib-edge: library RFID kiosks, gates, sync and simulator."""
    configure_logging(log_level, json_output=log_json)
    ctx.ensure_object(dict)
    ctx.obj["log_json"] = log_json


def main() -> None:
    """Console-script entry point."""
    root(prog_name="smartlib")


if __name__ == "__main__":
    main()
