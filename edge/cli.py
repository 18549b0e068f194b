"""``smartlib serve`` (the edge API with uvicorn) and the ``smartlib stats`` group."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import click

from smartlib.cli import LazyCommands, settings_or_exit
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


@click.group(cls=LazyCommands, lazy={})
def stats() -> None:
    """Usage statistics from the local store."""


stats.lazy["export"] = "edge.stats_export:export"  # per-day report for management (issue 11)


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
