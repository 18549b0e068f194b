"""``smartlib sync``, ``smartlib gateway run|import|keygen``, ``smartlib broker config`` and
``smartlib ca init|issue|rotate|revoke`` (the site CA, :mod:`sync.pki`).

Each command loads the site configuration, builds its objects by constructor injection
and runs until SIGTERM/SIGINT. Heavy modules are imported inside the commands.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import click

from smartlib.cli import settings_or_exit as _load
from smartlib.shutdown import stop_on_signals
from sync.errors import PkiError

log = logging.getLogger(__name__)


class _Service(Protocol):
    def run(self, stop: threading.Event) -> None: ...


def _systemd_heartbeat() -> Callable[[], None]:
    """The working loop's heartbeat as sd_notify: READY=1 at its first turn, then WATCHDOG=1
    (rate-limited) at each; nothing without $NOTIFY_SOCKET. Under systemd (``Type=notify``,
    ``WatchdogSec``) or the demo's supervisor, a loop that stops turning gets the process
    restarted, not only one that exits."""
    from smartlib.sdnotify import SystemdNotifier

    notifier = SystemdNotifier.from_environment()
    started = threading.Event()

    def beat() -> None:
        if not started.is_set():
            started.set()
            notifier.ready()
        notifier.heartbeat()

    return beat


def _run_until_signal(name: str, build: Callable[[], _Service]) -> None:
    """Build a service (a :class:`SyncError` is a click error) and run it until a signal."""
    from sync.errors import SyncError

    with stop_on_signals(name=name) as stop:
        try:
            service = build()
        except SyncError as exc:
            raise click.ClickException(str(exc)) from exc
        service.run(stop)


@click.command("sync")
@click.option("--config", "config", type=click.Path(dir_okay=False), default=None,
              help="The box's smartlib.toml (default: $SMARTLIB_CONFIG).")
def sync_agent(config: str | None) -> None:
    """Run the edge agent: outbox -> broker, results and cache -> the edge store."""
    from sync.agent.service import SyncAgent

    settings = _load(config)
    _run_until_signal("smartlib sync", lambda: SyncAgent.from_settings(
        settings, heartbeat=_systemd_heartbeat()))


@click.group("gateway")
def gateway() -> None:
    """The central gateway: MQTT in, SIP2 to the ILS out, exactly once."""


@gateway.command("run")
@click.option("--config", "config", type=click.Path(dir_okay=False), default=None,
              help="The gateway's smartlib.toml (default: $SMARTLIB_CONFIG).")
def gateway_run(config: str | None) -> None:
    """Consume transactions and look-ups from every site and apply them to the ILS."""
    from sync.gateway.service import Gateway

    settings = _load(config)
    _run_until_signal("smartlib gateway run", lambda: Gateway.from_settings(
        settings, heartbeat=_systemd_heartbeat()))


@gateway.command("retire")
@click.option("--config", "config", type=click.Path(dir_okay=False), default=None,
              help="The retired gateway's smartlib.toml (default: $SMARTLIB_CONFIG).")
@click.option("--force", is_flag=True, help="Even if the gateway says it is online.")
def gateway_retire(config: str | None, force: bool) -> None:
    """Take a gateway out of its pool for good: end its MQTT session at the broker, so the
    broker stops queueing its share of the transactions (the edges re-send what it held).
    Not for a restart: a stopped gateway keeps its session on purpose."""
    from sync.errors import SyncError
    from sync.gateway.retire import gateway_client_id, retire_session

    settings = _load(config)
    try:
        retire_session(settings, force=force)
    except SyncError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"session of {gateway_client_id(settings.device.id)} ended at "
               f"{settings.broker.host}:{settings.broker.port}")


@gateway.command("keygen")
@click.option("--out", "out", type=click.Path(dir_okay=False), required=True,
              help="Where to write the private key (created with mode 0600; never overwritten).")
def gateway_keygen(out: str) -> None:
    """Make the site's PIN-sealing key pair: the private key goes to --out (for every
    gateway's ``[gateway] private_key_file``), the public key is printed (for every box's
    ``[gateway] public_key``)."""
    from smartlib.errors import SealError
    from smartlib.sealing import generate_keypair, write_private_key

    key, public = generate_keypair()
    try:
        write_private_key(key, out)
    except SealError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(public)


@gateway.command("import")
@click.option("--config", "config", type=click.Path(dir_okay=False), default=None)
@click.option("--site", default=None, help="The site whose edges receive it (default: [site] id).")
@click.option("--items", "items_csv", type=click.Path(exists=True, dir_okay=False), default=None)
@click.option("--patrons", "patrons_csv", type=click.Path(exists=True, dir_okay=False), default=None)
@click.option("--loans", "loans_csv", type=click.Path(exists=True, dir_okay=False), default=None)
@click.option("--holds", "holds_csv", type=click.Path(exists=True, dir_okay=False), default=None)
@click.option("--chunk-size", default=5000, show_default=True, type=click.IntRange(1, 100_000))
def gateway_import(config: str | None, site: str | None, items_csv: str | None,
                   patrons_csv: str | None, loans_csv: str | None, holds_csv: str | None,
                   chunk_size: int) -> None:
    """Send a chunked cache snapshot (items, patrons, loans, holds from CSV) to a site's edges.

    Accepts the files of ``smartlib sim ils export`` as they are (see docs/sync.md).
    """
    from sync.errors import SyncError
    from sync.gateway.cachefeed import publish_snapshot_files

    settings = _load(config)
    if not (items_csv or patrons_csv or loans_csv or holds_csv):
        raise click.UsageError("give at least one of --items, --patrons, --loans, --holds")
    try:
        sent = publish_snapshot_files(settings, site or settings.site.id,
                                      items=Path(items_csv) if items_csv else None,
                                      patrons=Path(patrons_csv) if patrons_csv else None,
                                      loans=Path(loans_csv) if loans_csv else None,
                                      holds=Path(holds_csv) if holds_csv else None,
                                      chunk_size=chunk_size)
    except SyncError as exc:
        raise click.ClickException(str(exc)) from exc
    for kind, (rows, chunks) in sent.items():
        click.echo(f"{kind}: {rows} rows in {chunks} chunk(s)")


@click.group("broker")
def broker() -> None:
    """Mosquitto set-up for a site."""


@broker.command("config")
@click.option("--site", required=True)
@click.option("--devices", required=True, help="Comma-separated device ids (kiosk-01,gate-01).")
@click.option("--gateway-user", default="gateway", show_default=True)
@click.option("--gateway-sites", default=None,
              help="Comma-separated sites the gateway user may serve (default: --site).")
@click.option("--staff-user", default=None)
@click.option("--gates", default=None,
              help="Comma-separated gate-role devices, which get the patron-free cache feed "
                   "only (default: the devices whose id starts with 'gate').")
@click.option("--port", default=None, type=click.IntRange(1, 65535),
              help="Listener port (default 1883, or 8883 with --tls).")
@click.option("--bind", default="0.0.0.0", show_default=True)
@click.option("--tls", is_flag=True,
              help="A TLS listener (client certificates required) with the site CA.")
@click.option("--local-port", default=None, type=click.IntRange(0, 65535),
              help="With --tls: a plain listener on 127.0.0.1 for services on the broker's "
                   "host, password log-in (default 1883; 0: none).")
@click.option("--ca", "ca_dir", type=click.Path(file_okay=False), default=None,
              help="The site CA directory (smartlib ca init); default: OUT/ca, made if missing.")
@click.option("--hostname", "hostnames", multiple=True,
              help="Names in the server certificate (default localhost, 127.0.0.1).")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False))
def broker_config(site: str, devices: str, gateway_user: str, gateway_sites: str | None,
                  staff_user: str | None, gates: str | None,
                  port: int | None, bind: str, tls: bool, local_port: int | None,
                  ca_dir: str | None,
                  hostnames: tuple[str, ...], out: str) -> None:
    """Write mosquitto.conf, passwd, acl, credentials.toml (and certs/ with --tls)."""
    from sync.broker import BrokerPlan, write_broker_config
    from sync.errors import BrokerConfigError

    plan = BrokerPlan(site=site, devices=[d.strip() for d in devices.split(",") if d.strip()],
                      gateway_user=gateway_user, staff_user=staff_user,
                      port=port or (8883 if tls else 1883), bind=bind, tls=tls,
                      gateway_sites=[s.strip() for s in gateway_sites.split(",") if s.strip()]
                      if gateway_sites else None,
                      gates=[g.strip() for g in gates.split(",") if g.strip()]
                      if gates is not None else None,
                      ca_dir=Path(ca_dir) if ca_dir else None,
                      local_port=(1883 if local_port is None else local_port) if tls else None)
    if hostnames:
        plan.hostnames = list(hostnames)
    try:
        files = write_broker_config(plan, Path(out))
    except BrokerConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"wrote {files.config}, {files.password_file}, {files.acl_file}")
    click.echo(f"passwords for each box's [broker] section: {files.credentials_file} (mode 0600)")
    if files.ca_cert:
        click.echo(f"CA certificate for the boxes' [broker] ca_file: {files.ca_cert}")
        click.echo(f"client certificates for [broker] cert_file / key_file: "
                   f"{files.ca_cert.parent / 'clients'} (revocation list: {files.crl})")
    click.echo(f"start it with: mosquitto -c {files.config}")


@click.group("ca")
def ca() -> None:
    """The site CA: server and device certificates, rotation, revocation (docs/sync.md)."""


@ca.command("init")
@click.option("--site", required=True, help="The site this CA is for.")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False),
              help="The CA directory (ca.key 0600, ca.crt, crl.pem, issued.json).")
@click.option("--days", default=3650, show_default=True, type=click.IntRange(1, 36500))
@click.option("--force", is_flag=True, help="Replace a CA already in --out.")
def ca_init(site: str, out: str, days: int, force: bool) -> None:
    """Create the site CA."""
    from sync import pki

    try:
        made = pki.init_ca(Path(out), site, days=days, force=force)
    except PkiError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"site CA for {site}: {made.cert_path} (key {made.directory / 'ca.key'}, mode 0600)")


@ca.command("issue")
@click.option("--ca", "ca_dir", required=True, type=click.Path(file_okay=False),
              help="The CA directory.")
@click.option("--server", "servers", multiple=True,
              help="A server certificate for these host names / addresses (repeatable).")
@click.option("--device", "device", default=None, metavar="SITE/DEVICE",
              help="A client certificate for this device (common name = its broker user).")
@click.option("--user", "user", default=None,
              help="A client certificate for another broker user (the gateway, staff).")
@click.option("--name", "stem", default=None, help="File name stem (default: server / the id).")
@click.option("--days", default=397, show_default=True, type=click.IntRange(1, 3650))
@click.option("--out", "out", required=True, type=click.Path(file_okay=False))
def ca_issue(ca_dir: str, servers: tuple[str, ...], device: str | None, user: str | None,
             stem: str | None, days: int, out: str) -> None:
    """Issue a server certificate (--server HOST…) or a client one (--device SITE/DEVICE, --user)."""
    from sync import pki

    if sum(bool(x) for x in (servers, device, user)) != 1:
        raise click.UsageError("give exactly one of --server, --device, --user")
    try:
        site_ca = pki.open_ca(Path(ca_dir))
        if servers:
            row = pki.issue_server(site_ca, list(servers), Path(out), days=days,
                                   stem=stem or "server")
        elif device:
            site, dev = pki.parse_device(device)
            row = pki.issue_client(site_ca, dev, Path(out), site=site, days=days, stem=stem)
        else:
            row = pki.issue_client(site_ca, str(user), Path(out), days=days, stem=stem)
    except PkiError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{row.kind} certificate {row.name}: {row.cert_path} (key {row.key_path}), "
               f"expires {row.not_after}")


@ca.command("rotate")
@click.option("--ca", "ca_dir", required=True, type=click.Path(file_okay=False))
@click.option("--within-days", default=30, show_default=True, type=click.IntRange(0, 3650),
              help="Reissue what expires within this many days.")
@click.option("--days", default=397, show_default=True, type=click.IntRange(1, 3650))
def ca_rotate(ca_dir: str, within_days: int, days: int) -> None:
    """Reissue (new keys, same files) the certificates about to expire; refresh the CRL."""
    from sync import pki

    try:
        rows = pki.rotate(pki.open_ca(Path(ca_dir)), within_days, days)
    except PkiError as exc:
        raise click.ClickException(str(exc)) from exc
    for row in rows:
        click.echo(f"reissued {row.kind} {row.name}: {row.cert_path}, expires {row.not_after}")
    click.echo(f"{len(rows)} certificate(s) reissued; CRL refreshed. Restart the broker and "
               "the services that use them.")


@ca.command("revoke")
@click.option("--ca", "ca_dir", required=True, type=click.Path(file_okay=False))
@click.option("--device", "device", default=None, metavar="SITE/DEVICE")
@click.option("--user", "user", default=None, help="Another broker user (the gateway, staff).")
def ca_revoke(ca_dir: str, device: str | None, user: str | None) -> None:
    """Revoke a device's (or user's) certificates; writes the CRL the broker reads."""
    from sync import pki

    if bool(device) == bool(user):
        raise click.UsageError("give exactly one of --device, --user")
    try:
        site_ca = pki.open_ca(Path(ca_dir))
        if device:
            site, dev = pki.parse_device(device)
            rows = pki.revoke(site_ca, dev, site)
        else:
            rows = pki.revoke(site_ca, str(user))
    except PkiError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"revoked {len(rows)} certificate(s); CRL: {site_ca.crl_path}. Restart Mosquitto "
               "to load it (it reads crlfile when it starts).")
