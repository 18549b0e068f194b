"""The security audit of ``central.toml`` (``smartlib central check``), as ``smartlib config
check`` audits a box's or a gateway's ``smartlib.toml`` (:mod:`smartlib.config_audit`).

It fails on:

* **secrets**: the collector's ``[broker] password`` empty or a default (``…change-me…``)
  when it has a user name;
* **plain MQTT** from the collector to a broker (or failover) host off loopback;
* **files**: ``[broker]`` TLS files, the broker's ACL and password files and the site CA
  (``[enroll] ca_dir``: ``ca.key`` must be 0600, ``ca.crt`` not writable by others): a
  missing file, a key readable by others, a certificate others may write; the broker's
  password file holds hashes only and may be read by its group (Mosquitto's), not others;
* **certificates** that have expired or expire within 30 days (the site CA's included).

The payment webhook's secret is not read from ``central.toml`` yet (docs/central.md, "Not
built yet"), so it is not audited here.
"""

from __future__ import annotations

import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel

from central.config import CentralSettings
from smartlib.config_audit import Finding, audit_files, broker_transport, secret_problem


class _CaFiles(BaseModel):
    key_file: Path
    cert_file: Path


def _enroll_files(settings: CentralSettings, base: Path, now: datetime) -> Iterator[Finding]:
    sec = settings.enroll
    if sec.ca_dir is not None:
        ca = sec.ca_dir if sec.ca_dir.is_absolute() else base / sec.ca_dir
        for f in audit_files(_CaFiles(key_file=ca / "ca.key", cert_file=ca / "ca.crt"),
                             base, now):
            yield Finding(f"enroll.ca_dir ({f.path.replace('_file', '')})", f.problem)
    if sec.broker_acl_file is not None:
        yield from _mode(sec.broker_acl_file, "enroll.broker_acl_file", base, 0o022,
                         "may be changed by others", "chmod 640 it")
    if sec.broker_password_file is not None:
        yield from _mode(sec.broker_password_file, "enroll.broker_password_file", base, 0o007,
                         "is readable by others", "chmod 640 it (group mosquitto)")


def _mode(path: Path, key: str, base: Path, bad: int, what: str, fix: str) -> Iterator[Finding]:
    file = path if path.is_absolute() else base / path
    try:
        mode = file.stat().st_mode
    except OSError as exc:
        yield Finding(key, f"{file} cannot be read ({exc.strerror})")
        return
    if mode & bad:
        yield Finding(key, f"{file} {what} (mode {stat.S_IMODE(mode):04o}); {fix}")


def audit_central(settings: CentralSettings, *, base: Path | None = None,
                  now: datetime | None = None) -> list[Finding]:
    """Every unsafe setting of a ``central.toml`` (empty when it is fit to deploy)."""
    base = base or Path.cwd()
    now = now or datetime.now(UTC)
    found: list[Finding] = []
    password = settings.broker.password
    if settings.broker.username or (password is not None and password.get_secret_value()):
        problem = secret_problem(settings.broker.password)
        if problem:
            found.append(Finding("broker.password", problem))
    found += broker_transport(settings.broker)
    found += [Finding(f"broker.{f.path}", f.problem)
              for f in audit_files(settings.broker, base, now)]
    found += _enroll_files(settings, base, now)
    return list(dict.fromkeys(found))
