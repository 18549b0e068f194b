"""``smartlib config``: check a site configuration file."""

from __future__ import annotations

import json
import sys

import click

from smartlib.config import load_settings
from smartlib.errors import ConfigError


@click.group()
def config() -> None:
    """Site configuration tools."""


@config.command("check")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--show", is_flag=True, help="Print the effective configuration (secrets masked).")
def check(file: str, show: bool) -> None:
    """Validate FILE; print each problem with its key path, exit 1 if any."""
    try:
        settings = load_settings(file)
    except ConfigError as exc:
        click.echo(f"{file}: INVALID", err=True)
        for path, msg in exc.problems:
            click.echo(f"  {path}: {msg}", err=True)
        sys.exit(1)
    click.echo(f"{file}: OK (site {settings.site.id}, device {settings.device.id}, role {settings.device.role})")
    if show:
        click.echo(json.dumps(settings.model_dump(mode="json"), indent=2, ensure_ascii=False))
