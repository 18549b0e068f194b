"""The security audit of a loaded configuration (what ``smartlib config check`` fails on).

:func:`audit_settings` looks at a valid :class:`~smartlib.config.Settings` and names every
setting that is not safe to deploy:

* **secrets**: a default (``…change-me…``) or empty secret: the API tokens of a box that
  serves the edge API, the broker's password when it has a user, the ILS password of a gateway, the SMTP password when it
  has a user, a per-site ILS override's password;
* **plain transport off loopback**: MQTT without TLS to a host (or a ``failover`` host) that
  is not this machine, or SIP2 without TLS (a gateway's, and each per-site override's);
* **files**: a file the configuration names (``*_file``, and a path in a ``*_cert`` or
  ``*_key`` setting such as ``[api] tls_cert``/``tls_key``) that is missing, a private key
  or secret readable by others (``mode & 0o077``), a certificate others may write
  (``mode & 0o022``);
* **certificates** in those files that have expired or expire within 30 days.

The answer is a list of :class:`Finding`; the CLI prints them and fails. It reads files but
changes nothing, and never prints a secret's value. Pure: no import of a product package.
"""

from __future__ import annotations

import ipaddress
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr

from smartlib.config import Settings

CERT_WARNING_DAYS = 30
DEFAULT_SECRET_MARK = "change-me"


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing that is not safe: the setting's key path and what is wrong with it."""

    path: str
    problem: str


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    h = host.strip().strip("[]").lower()
    if h == "localhost" or h.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


def audit_settings(settings: Settings, *, base: Path | None = None,
                   now: datetime | None = None) -> list[Finding]:
    """Every unsafe setting of ``settings`` (empty when it is fit to deploy).

    Args:
        settings: a loaded configuration.
        base: the directory relative file names are read from (the current one if None).
        now: the time certificates are judged at (now if None).
    """
    found = [*_secrets(settings), *_transport(settings),
             *audit_files(settings, base or Path.cwd(), now or datetime.now(UTC))]
    return list(dict.fromkeys(found))   # one line per problem, in the order found


# ---- secrets ----------------------------------------------------------------------------

def secret_problem(value: SecretStr | None) -> str | None:
    """What is wrong with a required secret (empty, or a default), or None."""
    return _secret_problem(value)


def _secret_problem(value: SecretStr | None) -> str | None:
    text = "" if value is None else value.get_secret_value()
    if not text.strip():
        return "empty; set a secret"
    if DEFAULT_SECRET_MARK in text.lower():
        return f"still the default ({DEFAULT_SECRET_MARK}); set a secret of its own"
    return None


def _secrets(s: Settings) -> Iterator[Finding]:
    needed: list[tuple[str, SecretStr | None]] = []
    if s.device.role != "gateway":     # the boxes that serve the edge API
        needed += [("api.device_token", s.api.device_token),
                   ("api.staff_token", s.api.staff_token)]
    if s.broker.username:
        needed.append(("broker.password", s.broker.password))
    if s.device.role == "gateway":
        needed.append(("ils.password", s.ils.password))
    if s.smtp.host and s.smtp.user:
        needed.append(("smtp.password", s.smtp.password))
    for path, value in needed:
        problem = _secret_problem(value)
        if problem:
            yield Finding(path, problem)
    named = {p for p, _ in needed} | {"api.device_token", "api.staff_token"}
    # Any other secret that is set must not be a default either.
    for path, value in _walk(s):
        if isinstance(value, SecretStr) and path not in named and value.get_secret_value():
            if DEFAULT_SECRET_MARK in value.get_secret_value().lower():
                yield Finding(path, f"still the default ({DEFAULT_SECRET_MARK}); "
                                    "set a secret of its own")


# ---- transport --------------------------------------------------------------------------

def broker_transport(broker: Any, key: str = "broker") -> Iterator[Finding]:
    """Plain MQTT from a ``[broker]`` section to a host, or a failover host, off loopback."""
    if broker.tls:
        return
    for host, _ in broker.addresses():
        if not is_loopback(host):
            yield Finding(f"{key}.tls", f"plain MQTT to {host}, which is not this machine: "
                                        "set tls = true (and ca_file)")


def _transport(s: Settings) -> Iterator[Finding]:
    yield from broker_transport(s.broker)
    if s.device.role != "gateway":
        return
    sites = {"": s.ils, **{site: s.ils_for(site) for site in s.gateway.site_ils}}
    for site, ils in sites.items():
        key = f"gateway.site_ils.{site}" if site else "ils"
        if not ils.tls and not is_loopback(ils.host):
            yield Finding(f"{key}.tls", f"plain SIP2 to {ils.host}, which is not this "
                                        "machine: set tls = true")
        override = s.gateway.site_ils[site].password if site else None
        if override is not None:
            problem = _secret_problem(override)
            if problem:
                yield Finding(f"{key}.password", problem)


# ---- files and certificates -------------------------------------------------------------

_SECRET_WORDS = ("key", "password", "secret", "token")


def audit_files(model: BaseModel, base: Path, now: datetime) -> Iterator[Finding]:
    """The problems of every file a ``*_file`` setting of ``model`` names (any section,
    nested ones included): unreadable, too open, or holding a certificate near its end."""
    for path, value in _walk(model):
        leaf = path.rsplit(".", 1)[-1]
        named = leaf.endswith("_file") or (isinstance(value, Path)
                                            and leaf.endswith(("_cert", "_key")))
        if value is None or not named:
            continue
        file = Path(str(value))
        file = file if file.is_absolute() else base / file
        try:
            mode = file.stat().st_mode
            data = file.read_bytes()
        except OSError as exc:
            yield Finding(path, f"{file} cannot be read ({exc.strerror})")
            continue
        name = path.rsplit(".", 1)[-1]
        secret = any(w in name for w in _SECRET_WORDS) or b"PRIVATE KEY-----" in data
        if secret and mode & 0o077:
            yield Finding(path, f"{file} is readable by others (mode {stat.S_IMODE(mode):04o}); "
                                "chmod 600 it")
        elif not secret and mode & 0o022:
            yield Finding(path, f"{file} may be changed by others (mode "
                                f"{stat.S_IMODE(mode):04o}); chmod 644 it")
        yield from _certificates(path, file, data, now)


def _certificates(path: str, file: Path, data: bytes, now: datetime) -> Iterator[Finding]:
    if b"-----BEGIN CERTIFICATE-----" not in data:
        return
    from cryptography import x509

    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        yield Finding(path, f"{file} holds a certificate that cannot be read ({exc})")
        return
    soon = now + timedelta(days=CERT_WARNING_DAYS)
    for cert in certs:
        subject = cert.subject.rfc4514_string() or "(no subject)"
        ends = cert.not_valid_after_utc
        if ends <= now:
            yield Finding(path, f"{file}: the certificate {subject} expired on "
                                f"{ends:%Y-%m-%d}")
        elif ends <= soon:
            yield Finding(path, f"{file}: the certificate {subject} expires on {ends:%Y-%m-%d}, "
                                f"within {CERT_WARNING_DAYS} days")


# ---- walking the model ------------------------------------------------------------------

def _walk(model: BaseModel, prefix: str = "") -> Iterator[tuple[str, Any]]:
    for name in type(model).model_fields:
        value = getattr(model, name)
        path = f"{prefix}{name}"
        if isinstance(value, BaseModel):
            yield from _walk(value, f"{path}.")
        elif isinstance(value, dict):
            for key, item in value.items():
                if isinstance(item, BaseModel):
                    yield from _walk(item, f"{path}.{key}.")
                else:
                    yield f"{path}.{key}", item
        else:
            yield path, value
