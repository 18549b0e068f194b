"""Mosquitto set-up for one site: config, password file, per-device ACL, TLS with the site CA.

``smartlib broker config`` calls :func:`write_broker_config`. Passwords are hashed in
Mosquitto 2's own ``$7$`` format (PBKDF2-HMAC-SHA512, 101 iterations, 12-byte salt), the
format ``mosquitto_passwd`` writes, so no external tool is needed. With TLS, the listener's
certificate and one client certificate per broker user come from the site CA
(:mod:`sync.pki`); the listener requires a client certificate, takes its common name as the
user name (so the ACL applies to it) and checks the CA's revocation list. This module writes
files only; it never starts or signals a broker.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sync import topics
from sync.errors import BrokerConfigError, InvalidTopicError, PkiError

PBKDF2_ITERATIONS = 101
SALT_BYTES = 12


def hash_password(password: str, *, salt: bytes | None = None,
                  iterations: int = PBKDF2_ITERATIONS) -> str:
    """Hash ``password`` as Mosquitto 2 does: ``$7$<iterations>$<b64 salt>$<b64 sha512>``."""
    salt = salt if salt is not None else os.urandom(SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(hashed: str, password: str) -> bool:
    """Check ``password`` against a ``$7$`` hash (as Mosquitto does)."""
    try:
        _, tag, iterations, salt_b64, digest_b64 = hashed.split("$")
        if tag != "7":
            return False
        salt, digest = base64.b64decode(salt_b64), base64.b64decode(digest_b64)
        got = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, int(iterations))
    except ValueError:
        return False
    return hmac.compare_digest(got, digest)


def default_role(device: str) -> str:
    """A device's role by the site's naming rule: ids starting with ``gate`` are gates.

    ``smartlib broker config`` gives such devices the gate ACL (no patron data), and the
    gateway refuses circulation from them (unless ``device_roles`` says otherwise).
    """
    return "gate" if device.startswith("gate") else "kiosk"


def device_acl(site: str, device: str, user: str | None = None, role: str = "kiosk") -> str:
    """ACL lines that limit ``device`` to writing its own topics.

    It reads its own replies, its site's cache feed, and the site view: every device's
    retained status, statistics and staff alarms (``topics.site_filters``), which carry no
    patron data. A ``gate`` reads only the patron-free cache feed (``cache/gate/+``); other
    roles read ``cache/+`` (which does not match the gates' two-level topics). Every device
    reads the site's ``staff/accounts`` (the central console's staff accounts, argon2 hashes
    only) for its staff console's log-ins.
    """
    user = user or device
    lines = [
        f"user {user}",
        f"topic write {topics.tx(site, device)}",
        f"topic write {topics.lookup(site, device)}",
        f"topic readwrite {topics.status(site, device)}",
        f"topic write {topics.staff_alarm(site, device)}",
        f"topic write {topics.alarm(site, device)}",
        f"topic write {topics.stats(site, device)}",
        f"topic write {topics.stats_live(site, device)}",
        f"topic write {topics.event(site, device)}",
        f"topic write {topics.snapshot_request(site, device)}",
        f"topic write {topics.config_ack(site, device)}",
        f"topic read {topics.config(site, device)}",
        f"topic write {topics.command_ack(site, device)}",
        f"topic readwrite {topics.security_tasks(site, device)}",
        f"topic read {topics.command(site, device)}",
        f"topic read {topics.result(site, device)}",
        f"topic read {topics.lookup_reply(site, device)}",
        f"topic read {topics.snapshot_reply(site, device)}",
        f"topic read {topics.cache_filter(site, role)}",
        f"topic read {topics.staff_accounts(site)}",
        *(f"topic read {f}" for f in topics.site_filters(site)),
    ]
    return "\n".join(lines) + "\n"


def gateway_acl(user: str, sites: list[str] | None = None) -> str:
    """ACL lines of a gateway user: every topic of the sites it serves (all sites if None).

    Gateways subscribe per site (``$share/gateways/smartlib/v1/{site}/+/tx`` …), so a user
    limited to some sites can neither read nor answer another site's devices.
    """
    if sites is None:
        return f"user {user}\ntopic readwrite {topics.ROOT}/#\n"
    lines = [f"user {user}"]
    lines += [f"topic readwrite {topics.ROOT}/{topics.check_id(s, 'site')}/#" for s in sites]
    return "\n".join(lines) + "\n"


def central_acl(user: str, filters: list[str], writes: list[str] | None = None) -> str:
    """ACL lines of the central console's collector: it reads the given topic filters (the
    collector's subscriptions: every site's statuses, alarms, statistics, events, conflicts,
    configuration and command acknowledgements, security task reports) and writes only
    ``writes`` (the devices' remote configuration, ``command`` and ``tx`` topics, the last
    for the fine payments' Fee Paid, and the sites' staff accounts:
    ``central.collector.collector_writes``); ``smartlib central broker-account`` prints
    these lines."""
    return "\n".join([f"user {user}", *(f"topic read {f}" for f in filters),
                      *(f"topic write {w}" for w in writes or [])]) + "\n"


def staff_acl(site: str, user: str) -> str:
    """Staff views read everything of their site (status, alarms, conflicts)."""
    return f"user {user}\ntopic read {topics.ROOT}/{topics.check_id(site, 'site')}/#\n"


@dataclass(frozen=True)
class BrokerFiles:
    """What :func:`write_broker_config` wrote; ``credentials`` maps user to password."""

    config: Path
    password_file: Path
    acl_file: Path
    credentials_file: Path
    credentials: dict[str, str]
    ca_cert: Path | None = None
    server_cert: Path | None = None
    server_key: Path | None = None
    client_certs: dict[str, tuple[Path, Path]] = field(default_factory=dict)
    """With TLS: each broker user's client certificate and key (for its ``[broker]``)."""
    crl: Path | None = None


@dataclass
class BrokerPlan:
    """The inputs of a broker set-up for one site."""

    site: str
    devices: list[str]
    gateway_user: str = "gateway"
    staff_user: str | None = None
    port: int = 1883
    bind: str = "0.0.0.0"
    tls: bool = False
    hostnames: list[str] = field(default_factory=lambda: ["localhost", "127.0.0.1"])
    passwords: dict[str, str] = field(default_factory=dict)
    gateway_sites: list[str] | None = None
    """Sites the gateway user may serve (default: ``site`` only)."""
    gates: list[str] | None = None
    """Gate-role devices (patron-free cache feed only); default: ids starting with ``gate``."""
    local_port: int | None = None
    """With ``tls``: also a plain listener on 127.0.0.1 at this port (password log-in)."""
    ca_dir: Path | None = None
    """With ``tls``: the site CA (``smartlib ca init``); default: ``<out>/ca``, made if missing."""

    def role(self, device: str) -> str:
        if self.gates is None:
            return default_role(device)
        return "gate" if device in self.gates else "kiosk"

    def users(self) -> list[str]:
        out = [*self.devices, self.gateway_user]
        if self.staff_user:
            out.append(self.staff_user)
        return out


def _check(plan: BrokerPlan) -> None:
    try:
        topics.check_id(plan.site, "site")
        for d in plan.devices:
            topics.check_id(d, "device")
        for gs in plan.gateway_sites or []:
            topics.check_id(gs, "site")
    except InvalidTopicError as exc:
        raise BrokerConfigError(str(exc)) from exc
    if not plan.devices:
        raise BrokerConfigError("no devices given; expected --devices kiosk-01,gate-01")
    users = plan.users()
    if len(set(users)) != len(users):
        raise BrokerConfigError(f"user names must be distinct: {users}")
    for u in users:
        if not u or ":" in u or any(c.isspace() for c in u):
            raise BrokerConfigError(f"user name {u!r} may not be empty or hold ':' or spaces")


def write_broker_config(plan: BrokerPlan, out: Path) -> BrokerFiles:
    """Write ``mosquitto.conf``, ``passwd``, ``acl``, ``credentials.toml`` (and certificates).

    Passwords not given in ``plan.passwords`` are generated. ``credentials.toml`` (mode 0600)
    holds the plain passwords for the boxes' ``[broker]`` sections.

    Raises:
        BrokerConfigError: an invalid id or user name, or the directory cannot be written.
    """
    _check(plan)
    out = out.absolute()  # mosquitto.conf names its files by absolute paths
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / "data").mkdir(exist_ok=True)
    except OSError as exc:
        raise BrokerConfigError(f"cannot create {out}: {exc.strerror}") from exc
    creds = {u: plan.passwords.get(u) or secrets.token_urlsafe(18) for u in plan.users()}
    pwfile, aclfile, credfile = out / "passwd", out / "acl", out / "credentials.toml"
    _write_private(pwfile, "".join(f"{u}:{hash_password(p)}\n" for u, p in creds.items()))
    acl = [f"# smartlib broker ACL for site {plan.site}: each device only on its own topics\n"]
    acl += [device_acl(plan.site, d, role=plan.role(d)) for d in plan.devices]
    acl.append(gateway_acl(plan.gateway_user, plan.gateway_sites or [plan.site]))
    if plan.staff_user:
        acl.append(staff_acl(plan.site, plan.staff_user))
    _write_private(aclfile, "\n".join(acl))
    _write_private(credfile, "".join(
        f'[{u}]\nusername = "{u}"\npassword = "{p}"\n\n' for u, p in creds.items()))
    lines = [
        f"# Mosquitto 2 configuration for smartlib site {plan.site} (generated)",
        "per_listener_settings false",
        f"listener {plan.port} {plan.bind}",
    ]
    tls: dict[str, Any] = {}
    if plan.tls:
        tls = _issue_certificates(plan, out)
        lines += [f"cafile {tls['ca_cert']}", f"certfile {tls['server_cert']}",
                  f"keyfile {tls['server_key']}", "tls_version tlsv1.2",
                  "require_certificate true", "use_identity_as_username true",
                  f"crlfile {tls['crl']}"]
        if plan.local_port:
            # Services on the broker's own host (the gateway, the central collector) may log
            # in with their passwords on loopback, where nothing crosses the network.
            lines.append(f"listener {plan.local_port} 127.0.0.1")
    lines += [
        "allow_anonymous false",
        f"password_file {pwfile}",
        f"acl_file {aclfile}",
        "persistence true",
        f"persistence_location {out / 'data'}/",
        "autosave_interval 60",
        "max_queued_messages 100000",
        "max_inflight_messages 100",
        # Each packet goes at once: with Nagle's algorithm a result forwarded just after
        # another small packet to the same box waits for that box's delayed ACK (40 ms).
        "set_tcp_nodelay true",
        "log_dest stderr",
        "log_type error",
        "log_type warning",
        "log_type notice",
    ]
    conf = out / "mosquitto.conf"
    conf.write_text("\n".join(lines) + "\n")
    return BrokerFiles(conf, pwfile, aclfile, credfile, creds, **tls)


def _issue_certificates(plan: BrokerPlan, out: Path) -> dict[str, Any]:
    """The listener's certificate and every user's client certificate, from the site CA."""
    from sync import pki

    ca_dir = plan.ca_dir or out / "ca"
    certs = out / "certs"
    try:
        ca = pki.open_ca(ca_dir) if (ca_dir / "ca.key").exists() else pki.init_ca(ca_dir, plan.site)
        certs.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ca.cert_path, certs / "ca.crt")
        server = pki.issue_server(ca, plan.hostnames, certs)
        clients = {u: pki.issue_client(ca, u, certs / "clients", site=plan.site)
                   for u in plan.users()}
    except (PkiError, OSError) as exc:
        raise BrokerConfigError(f"cannot make the broker's certificates: {exc}") from exc
    return {"ca_cert": certs / "ca.crt", "server_cert": Path(server.cert_path),
            "server_key": Path(server.key_path), "crl": ca.crl_path,
            "client_certs": {u: (Path(c.cert_path), Path(c.key_path)) for u, c in clients.items()}}


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    path.chmod(0o600)
