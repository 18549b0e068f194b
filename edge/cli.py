"""``smartlib serve`` (the edge API with uvicorn) and the ``smartlib stats`` group.

The commands parse options and settings and import the service they run on use; the
figures themselves come from :mod:`edge.services.statistics`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import click

from smartlib.cli import settings_or_exit
from smartlib.config import Settings


def _settings(config: str | None, role: str | None = None) -> Settings:
    settings = settings_or_exit(config)
    if role:
        return settings_or_exit(config, device=settings.device.model_copy(update={"role": role}))
    return settings


@click.command()
@click.option("--config", "config", type=click.Path(dir_okay=False), default=None,
              help="the site configuration (default: $SMARTLIB_CONFIG)")
@click.option("--role", type=click.Choice(["kiosk", "gate"]), default=None,
              help="override device.role")
@click.option("--host", default=None, help="override api.host")
@click.option("--port", type=int, default=None, help="override api.port")
def serve(config: str | None, role: str | None, host: str | None, port: int | None) -> None:
    """Run the edge service (devices, store, circulation, HTTP API)."""
    from edge.api.app import run

    settings = _settings(config, role)
    if host or port:
        settings = settings.model_copy(update={"api": settings.api.model_copy(update={
            k: v for k, v in (("host", host), ("port", port)) if v is not None})})
    run(settings)


@click.group()
def stats() -> None:
    """Usage statistics from the local store."""


@stats.command("today")
@click.option("--config", "config", type=click.Path(dir_okay=False), default=None)
def stats_today(config: str | None) -> None:
    """Print today's counters as JSON."""
    from edge.store import open_store

    settings = _settings(config)
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    with open_store(settings.store.path) as store:
        click.echo(json.dumps({"date": day,
                               "totals": store.counters.totals(day + "T00", day + "T23")}))


@stats.command("export")
@click.option("--config", "config", type=click.Path(dir_okay=False), default=None,
              help="the site configuration (default: $SMARTLIB_CONFIG): its store and device")
@click.option("--from", "from_", required=True, type=click.DateTime(["%Y-%m-%d"]),
              help="first local day, YYYY-MM-DD")
@click.option("--to", "to", required=True, type=click.DateTime(["%Y-%m-%d"]),
              help="last local day (inclusive), YYYY-MM-DD")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv",
              show_default=True)
@click.option("--store", "extra", multiple=True, metavar="DEVICE[:ROLE]=PATH",
              help="another box's store to include (repeatable)")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), default=None,
              help="write to this file instead of standard output")
def stats_export(config: str | None, from_: datetime, to: datetime, fmt: str,
                 extra: tuple[str, ...], output: str | None) -> None:
    """Per-day circulation per kiosk, visitors per gate, alarms and offline transactions."""
    from edge.services.statistics import export_rows, render
    from edge.store import Store, open_store

    settings = _settings(config)
    specs: list[tuple[str, str, Path]] = [(settings.device.id, settings.device.role,
                                           Path(settings.store.path))]
    for spec in extra:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise click.BadParameter(f"{spec!r}: expected DEVICE[:ROLE]=PATH", param_hint="--store")
        device, _, role = name.partition(":")
        specs.append((device, role or "", Path(path)))
    opened: list[tuple[str, str, Store]] = []
    try:
        for device, role, store_path in specs:
            if not store_path.exists():
                raise click.ClickException(f"{device}: no store at {store_path}")
            opened.append((device, role, open_store(store_path, integrity="off")))
        try:
            rows = export_rows(opened, from_.date(), to.date(), settings.site.timezone)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--to") from exc
    finally:
        for _, _, s in opened:
            s.close()
    text = render(rows, fmt)
    if output:
        Path(output).write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=not text.endswith("\n"))
