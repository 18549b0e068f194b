"""``smartlib serve`` (the edge API with uvicorn), the ``smartlib stats`` group and the
``smartlib token`` group (per-device API tokens).

The commands parse options and settings and import the service they run on use; the
figures themselves come from :mod:`edge.services.statistics`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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
    """Run the edge service (devices, store, circulation, HTTP API).

    The API listens on ``[api] host`` (loopback by default); with ``[api] tls_cert`` and
    ``tls_key`` it serves HTTPS. Plain HTTP on another address is refused unless
    ``[api] allow_plain_http`` says so.
    """
    from pydantic import ValidationError

    from edge.api.app import run
    from edge.errors import EdgeError
    from smartlib.config import ApiSection

    settings = _settings(config, role)
    if host or port:
        update = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
        try:
            api = ApiSection.model_validate({**settings.api.model_dump(), **update})
        except ValidationError as exc:
            raise click.BadParameter("; ".join(e["msg"] for e in exc.errors()),
                                     param_hint="--host") from exc
        settings = settings.model_copy(update={"api": api})
    tls = settings.api
    try:
        if tls.tls_cert is not None:
            run(settings, ssl_certfile=str(tls.tls_cert), ssl_keyfile=str(tls.tls_key))
        else:
            run(settings)
    except EdgeError as exc:
        raise click.ClickException(str(exc)) from exc


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


@click.group()
def token() -> None:
    """Per-device API tokens of this box (stored hashed; each shown once).

    Once one token is active the shared ``[api] device_token`` stops working: put the
    issued token in the kiosk's ``[api] device_token``.
    """


def _token_store(config: str | None) -> Any:
    from edge.store import open_store

    return open_store(_settings(config).store.path, integrity="off")


_config_option = click.option("--config", "config", type=click.Path(dir_okay=False),
                              default=None, help="the site configuration (default: $SMARTLIB_CONFIG)")
_name_option = click.option("--name", required=True, help="the client, e.g. kiosk-ui")


def _token_command(action: str, config: str | None, name: str) -> None:
    from edge.store import InvalidState

    with _token_store(config) as store:
        try:
            if action == "issue":
                click.echo(store.device_tokens.issue(name))
            elif action == "rotate":
                click.echo(store.device_tokens.rotate(name))
            else:
                store.device_tokens.revoke(name)
                click.echo(f"revoked {name}", err=True)
        except InvalidState as exc:
            raise click.ClickException(str(exc)) from exc


@token.command("issue")
@_config_option
@_name_option
def token_issue(config: str | None, name: str) -> None:
    """Issue a token for a new client; prints it once."""
    _token_command("issue", config, name)


@token.command("rotate")
@_config_option
@_name_option
def token_rotate(config: str | None, name: str) -> None:
    """Replace a client's token; prints the new one once, the old one stops working."""
    _token_command("rotate", config, name)


@token.command("revoke")
@_config_option
@_name_option
def token_revoke(config: str | None, name: str) -> None:
    """Revoke a client's token (it stops working at once)."""
    _token_command("revoke", config, name)


@token.command("list")
@_config_option
def token_list(config: str | None) -> None:
    """List the tokens (names and dates, never the tokens) as JSON lines."""
    with _token_store(config) as store:
        for t in store.device_tokens.list():
            click.echo(json.dumps({"name": t.name, "active": t.active, "created_at": t.created_at,
                                   "rotated_at": t.rotated_at, "revoked_at": t.revoked_at}))
