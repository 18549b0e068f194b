"""``smartlib central``: serve the console, run its collector, create the first admin, print
the collector's broker account, issue enrolment codes and revoke devices.

Commands load ``central.toml`` (``--config``) and build their objects by constructor
injection; heavy modules are imported inside the commands.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from smartlib.sdnotify import SystemdNotifier
from smartlib.shutdown import stop_on_signals

if TYPE_CHECKING:
    from central.config import CentralSettings
    from central.payments import PaymentService
    from central.store import CentralStore

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
    from central.enroll import EnrolmentService
    from central.web.app import create_app

    settings = _settings(config)
    sec = settings.central
    store = _store(sec.database)
    auth = StaffAuth(store, LoginPolicy(sec.session_hours, sec.lockout_failures,
                                        sec.lockout_minutes))
    if store.staff.count() == 0:
        log.warning("no staff account yet: create the first admin with "
                    "`smartlib central admin create --user NAME`")
    app = create_app(store, auth, sec, payments=_payment_service(settings, store))
    app.state.enrolment = EnrolmentService(store, settings.enroll)
    child = None
    if not no_collector:
        args = [sys.executable, "-m", "smartlib.cli", "central", "collect"]
        if config:
            args += ["--config", str(config)]
        child = subprocess.Popen(args, preexec_fn=_die_with_parent)
    server = uvicorn.Server(uvicorn.Config(app, host=sec.host, port=sec.port, log_config=None,
                                           timeout_graceful_shutdown=3))
    # uvicorn runs in a thread (so it installs no signal handlers); this thread owns the
    # signals and stops it, then the collector.
    web = threading.Thread(target=server.run, name="central-web", daemon=True)
    click.echo(f"smartlib central on http://{sec.host}:{sec.port}/", err=True)
    notifier = SystemdNotifier.from_environment()
    ready = False
    try:
        with stop_on_signals(name="smartlib central serve") as stop:
            web.start()
            while not stop.wait(0.5) and web.is_alive():
                if child is not None and child.poll() is not None:
                    raise click.ClickException(f"the collector exited ({child.returncode})")
                if server.started:  # sd_notify: ready once serving, pinged while both work
                    if not ready:
                        notifier.ready(f"serving on {sec.host}:{sec.port}")
                        ready = True
                    notifier.heartbeat()
            notifier.stopping()
            server.should_exit = True
            web.join(15)
        if not server.started:
            raise click.ClickException(f"could not serve on {sec.host}:{sec.port}")
    finally:
        if child is not None and child.poll() is None:
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(15)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        store.close()


def _payment_service(settings: CentralSettings, store: CentralStore) -> PaymentService | None:
    """The fine payments' webhook service when ``[payments] webhook_secret_file`` is set
    (None otherwise). It journals each Fee Paid request; the collector publishes them."""
    from central.payments import PaymentBook, PaymentError, PaymentService

    pay = settings.payments
    if pay.webhook_secret_file is None:
        return None
    try:
        lines = pay.webhook_secret_file.read_bytes().splitlines()
    except OSError as exc:
        raise click.ClickException(
            f"payments.webhook_secret_file: cannot read {pay.webhook_secret_file}: "
            f"{exc.strerror}") from exc
    secret = lines[0].strip() if lines else b""
    try:
        return PaymentService(PaymentBook(store.db), secret, window_s=pay.replay_window_s)
    except PaymentError as exc:
        raise click.ClickException(f"payments.webhook_secret_file: {exc}") from exc


def _die_with_parent() -> None:
    """In the collector child before exec: get SIGTERM if ``serve`` dies (Linux prctl), so
    a killed console leaves no collector behind."""
    import ctypes

    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        return


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


@central.group("site")
def site() -> None:
    """Libraries (sites)."""


@site.command("rename")
@_CONFIG
@click.argument("site_id")
@click.argument("name")
def site_rename(config: str | None, site_id: str, name: str) -> None:
    """Set the display name of SITE_ID to NAME ('' clears it), audited as the web action
    (``site.rename`` by ``cli``). A site the console has not heard of yet may be named when
    it is one of ``[central] sites``."""
    from central.db import stamp
    from central.errors import NotFound, StaffError
    from sync import topics
    from sync.errors import InvalidTopicError

    settings = _settings(config)
    try:
        topics.check_id(site_id, "site")
    except InvalidTopicError as exc:
        raise click.ClickException(str(exc)) from exc
    store = _store(settings.central.database)
    try:
        with store.db.transaction():
            before, after = store.sites.rename(site_id, name,
                                               add=site_id in (settings.central.sites or []))
            store.audit.record("cli", "site.rename", f"site:{site_id}",
                               stamp(datetime.now(UTC)), {"before": before, "after": after})
    except NotFound as exc:
        raise click.ClickException(f"{exc}: the console has not heard of it (name a site "
                                   "not yet seen only when it is in [central] sites)") from exc
    except StaffError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.close()
    click.echo(f"site {site_id}: {after!r}" + (f" (was {before!r})" if before else ""))


@central.command("broker-account")
@_CONFIG
@click.option("--user", "username", default=None,
              help="The collector's broker user (default: [broker] username, else 'central').")
@click.option("--password-file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="The account's password (first line): also make its password-file line.")
@click.option("--acl-file", type=click.Path(dir_okay=False), default=None,
              help="Append the ACL lines to this Mosquitto acl_file instead of printing them.")
@click.option("--passwd-file", type=click.Path(dir_okay=False), default=None,
              help="Append the password line to this Mosquitto password_file (needs "
                   "--password-file).")
def broker_account(config: str | None, username: str | None, password_file: str | None,
                   acl_file: str | None, passwd_file: str | None) -> None:
    """The collector's Mosquitto account: its ACL lines (it reads every site's statuses,
    alarms, statistics, events, conflicts and configuration acknowledgements, and writes only
    the devices' configuration, command and tx topics, the last for fine payments' Fee Paid,
    and the sites' staff accounts) and, with --password-file, its password line
    (Mosquitto's own $7$ hash). Printed, or appended to the broker's files."""
    from central.collector import collector_acl
    from sync.broker import hash_password

    settings = _settings(config)
    user = username or settings.broker.username or "central"
    acl = collector_acl(user, settings.central.sites)
    line = None
    if password_file:
        line = f"{user}:{hash_password(_read_password(password_file))}\n"
    elif passwd_file:
        raise click.UsageError("--passwd-file needs --password-file")
    if acl_file:
        _append(Path(acl_file), "\n" + acl)
        click.echo(f"appended the ACL of {user} to {acl_file}")
    else:
        click.echo(acl, nl=False)
    if line and passwd_file:
        _append(Path(passwd_file), line)
        click.echo(f"appended the password of {user} to {passwd_file}")
    elif line:
        click.echo(f"# password file line:\n{line}", nl=False)


def _append(path: Path, text: str) -> None:
    try:
        with path.open("a", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise click.ClickException(f"cannot append to {path}: {exc.strerror}") from exc


@central.command("check")
@_CONFIG
@click.option("--allow-insecure", is_flag=True,
              help="Report unsafe settings as warnings, not failures: a lab.")
def check_config(config: str | None, allow_insecure: bool) -> None:
    """Audit central.toml as `smartlib config check` audits a box's: default or empty
    secrets, plain MQTT off loopback, key files others may read, certificates near their
    end (the site CA's included); exit 1 on any."""
    from central.config_check import audit_central

    settings = _settings(config)
    from smartlib.config_cli import report_findings

    name = config or "central.toml (defaults)"
    click.echo(f"{name}: OK" + report_findings(name, audit_central(settings),
                                               allow_insecure=allow_insecure))


@central.command("enroll-code")
@_CONFIG
@click.option("--site", required=True, help="The box's site (library) id.")
@click.option("--device", required=True, help="The box's device id (its broker user).")
@click.option("--role", type=click.Choice(["kiosk", "gate"]), required=True)
@click.option("--minutes", type=click.FloatRange(min=1), default=None,
              help="How long the code is valid (default: [enroll] code_minutes, 30).")
def enroll_code(config: str | None, site: str, device: str, role: str,
                minutes: float | None) -> None:
    """Issue a one-time enrolment code (shown once) for a new box: run
    `smartlib enroll --central URL --ca-fingerprint FP` on the box (it prompts for the code)."""
    from central.enroll import EnrolmentService
    from central.errors import EnrolRefused

    settings = _settings(config)
    store = _store(settings.central.database)
    try:
        issued = EnrolmentService(store, settings.enroll).issue_code(
            site, device, role, actor="cli", minutes=minutes)
    except EnrolRefused as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.close()
    click.echo(f"code: {issued.code}")
    click.echo(f"for: {site}/{device} ({role}), valid until {issued.expires_at}")
    click.echo(f"ca fingerprint (sha256): {issued.ca_fingerprint}")
    click.echo("on the box (type the code at the prompt; --code - reads it from stdin): "
               f"smartlib enroll --central URL "
               f"--ca-fingerprint {issued.ca_fingerprint}")


@central.command("revoke")
@_CONFIG
@click.option("--site", required=True)
@click.option("--device", required=True)
@click.option("--reload-broker", "reload_command", default=None, metavar="COMMAND",
              help="Reload the broker with this command (default: [enroll] broker_pid_file "
                   "or broker_reload_command; e.g. 'systemctl reload mosquitto').")
def revoke_device(config: str | None, site: str, device: str, reload_command: str | None) -> None:
    """Lock a device out: revoke its certificates (the broker's CRL), list it in the
    revoked-devices file the gateways check on every message, take it out of the broker's
    ACL and password files ([enroll] broker_acl_file, broker_password_file) and reload the
    broker, which then drops its connection."""
    from central.enroll import EnrolmentService
    from central.errors import EnrolRefused

    settings = _settings(config)
    section = settings.enroll
    if reload_command:
        section = section.model_copy(update={"broker_reload_command": reload_command,
                                              "broker_pid_file": None})
    store = _store(settings.central.database)
    service = EnrolmentService(store, section)
    try:
        count = service.revoke(site, device, actor="cli")
    except EnrolRefused as exc:
        if exc.reason == "broker_unavailable":
            raise click.ClickException(f"revoked {site}/{device} (the CRL and "
                                       f"{service.revoked_file} are rewritten), but {exc}: "
                                       "fix it and reload the broker by hand") from exc
        raise click.ClickException(str(exc)) from exc
    finally:
        store.close()
    click.echo(f"revoked {site}/{device}: {count} certificate(s); the CRL and "
               f"{service.revoked_file} are rewritten")
    if service.broker_note:
        click.echo(f"broker: {service.broker_note}")
    else:
        click.echo("Mosquitto reads the CRL only when it starts or reloads: reload it now "
                   "(`systemctl reload mosquitto`), or set [enroll] broker_reload_command")
