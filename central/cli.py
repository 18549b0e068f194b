"""``smartlib central``: serve the console, run its collector, create the first admin, print
the collector's broker account.

Commands load ``central.toml`` (``--config``) and build their objects by constructor
injection; heavy modules are imported inside the commands.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
from pathlib import Path

import click

from smartlib.shutdown import stop_on_signals

log = logging.getLogger(__name__)

_CONFIG = click.option("--config", "config", type=click.Path(dir_okay=False), default=None,
                       help="The console's central.toml (default: the built-in defaults).")


def _settings(config: str | None):  # type: ignore[no-untyped-def]
    from central.config import load_central_settings
    from central.errors import CentralConfigError

    try:
        return load_central_settings(config)
    except CentralConfigError as exc:
        lines = [str(exc), *(f"  {key}: {msg}" for key, msg in exc.problems)]
        raise click.ClickException("\n".join(lines)) from exc


def _store(url: str):  # type: ignore[no-untyped-def]
    from central.db import open_database
    from central.errors import DatabaseError
    from central.store import CentralStore

    try:
        return CentralStore(open_database(url))
    except DatabaseError as exc:
        raise click.ClickException(str(exc)) from exc


@click.group("central")
def central() -> None:
    """The central console of a library network: fleet, alarms, staff accounts."""


@central.command("serve")
@_CONFIG
@click.option("--no-collector", is_flag=True,
              help="Serve the pages only (a collector runs elsewhere: `smartlib central collect`).")
def serve(config: str | None, no_collector: bool) -> None:
    """Serve the console over HTTP, with its MQTT collector as a child process."""
    import uvicorn

    from central.auth import LoginPolicy, StaffAuth
    from central.web.app import create_app

    settings = _settings(config)
    sec = settings.central
    store = _store(sec.database)
    auth = StaffAuth(store, LoginPolicy(sec.session_hours, sec.lockout_failures,
                                        sec.lockout_minutes))
    if store.staff.count() == 0:
        log.warning("no staff account yet: create the first admin with "
                    "`smartlib central admin create --user NAME`")
    app = create_app(store, auth, sec)
    child = None
    if not no_collector:
        args = [sys.executable, "-m", "smartlib.cli", "central", "collect"]
        if config:
            args += ["--config", str(config)]
        child = subprocess.Popen(args)
    server = uvicorn.Server(uvicorn.Config(app, host=sec.host, port=sec.port, log_config=None,
                                           timeout_graceful_shutdown=3))
    click.echo(f"smartlib central on http://{sec.host}:{sec.port}/", err=True)
    try:
        server.run()
    finally:
        if child is not None and child.poll() is None:
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(15)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        store.close()


@central.command("collect")
@_CONFIG
def collect(config: str | None) -> None:
    """Run the collector alone: every site's statuses, alarms, statistics, events and
    conflicts from the broker into the central database."""
    from central.collector import CentralCollector, make_collector_client

    settings = _settings(config)
    sec, broker = settings.central, settings.broker
    store = _store(sec.database)
    client = make_collector_client(broker, broker.client_id or sec.collector_client_id)
    collector = CentralCollector(store, client, host=broker.host, port=broker.port,
                                 sites=sec.sites, session_expiry_s=broker.session_expiry_s)
    with stop_on_signals(name="smartlib central collect") as stop:
        collector.run(stop)


@central.group("admin")
def admin() -> None:
    """Staff accounts."""


def _read_password(password_file: str | None) -> str:
    if password_file:
        try:
            return Path(password_file).read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise click.ClickException(f"cannot read {password_file}: {exc.strerror}") from exc
    value: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return value


@admin.command("create")
@_CONFIG
@click.option("--user", "username", required=True, help="The account's user name.")
@click.option("--password-file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Read the password from this file (first line) instead of a prompt.")
@click.option("--role", type=click.Choice(["admin", "librarian", "viewer"]), default="admin",
              show_default=True)
@click.option("--display-name", default=None)
def admin_create(config: str | None, username: str, password_file: str | None, role: str,
                 display_name: str | None) -> None:
    """Create a staff account (the first admin of a new console)."""
    from central.auth import StaffAuth
    from central.errors import StaffError

    settings = _settings(config)
    store = _store(settings.central.database)
    try:
        StaffAuth(store).create_account(username, _read_password(password_file), role=role,
                                        display_name=display_name, actor="cli")
    except StaffError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.close()
    click.echo(f"created {role} {username}")


@central.command("broker-account")
@_CONFIG
@click.option("--user", "username", default=None,
              help="The collector's broker user (default: [broker] username, else 'central').")
@click.option("--password-file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Also print the Mosquitto password-file line for the password in this file.")
def broker_account(config: str | None, username: str | None, password_file: str | None) -> None:
    """Print the collector's Mosquitto ACL lines (read only) and, with --password-file, its
    password-file line."""
    from central.collector import collector_filters
    from sync.broker import central_acl, hash_password

    settings = _settings(config)
    user = username or settings.broker.username or "central"
    click.echo(central_acl(user, collector_filters(settings.central.sites)), nl=False)
    if password_file:
        password = Path(password_file).read_text(encoding="utf-8").rstrip("\r\n")
        click.echo(f"# password file line:\n{user}:{hash_password(password)}")
