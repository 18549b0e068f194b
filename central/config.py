"""The central console's configuration (``central.toml``): ``[central]``, ``[broker]``,
``[enroll]`` and ``[payments]`` sections.

``[broker]`` is the same model as a box's (host, port, credentials, TLS): here it names the
collector's own account (``smartlib central broker-account`` writes its ACL lines). Nothing
is read at import time: call :func:`load_central_settings`.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from central.errors import CentralConfigError
from smartlib.config import BrokerSection

_ID = r"^[a-z0-9][a-z0-9_-]{0,63}$"


class CentralSection(BaseModel):
    """The console itself: its database, its web listener, its staff-login policy."""

    model_config = ConfigDict(extra="forbid")

    database: str = "sqlite:///var/central.db"
    """``sqlite:///relative.db``, ``sqlite:////abs.db``, a bare path, or a PostgreSQL DSN."""
    host: str = "127.0.0.1"
    port: int = Field(8090, gt=0, lt=65536)
    secure_cookies: bool = False
    """Mark the session cookie ``Secure`` (set it when the console is served over HTTPS)."""
    session_hours: float = Field(12.0, gt=0, le=24 * 30)
    lockout_failures: int = Field(5, ge=1, le=100)
    """Wrong passwords in a row that lock an account."""
    lockout_minutes: float = Field(15.0, gt=0)
    sites: list[str] | None = None
    """The sites the collector subscribes to (None: every site on the broker)."""
    collector_client_id: str = "smartlib-central-collector"
    timezone: str = "Asia/Ho_Chi_Minh"
    """The time zone the pages show times in (stored times are UTC)."""
    max_body_bytes: int = Field(1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    """Request bodies above this answer 413 before any route reads them."""
    offline_after_minutes: float = Field(10.0, gt=0)
    """The fleet page's default for "offline for more than N minutes"."""
    command_ttl_hours: float = Field(72.0, gt=0, le=24 * 365)
    """How long a command to a box (retry, abandon, resolve) waits for its answer before it
    is ``expired`` (a box that receives it later does not carry it out)."""


class EnrollSection(BaseModel):
    """Enrolment of new boxes (``central/enroll.py``): the site CA that signs their client
    certificates, the broker address written into their configuration, the revoked list."""

    model_config = ConfigDict(extra="forbid")

    ca_dir: Path | None = None
    """The site CA's directory (``smartlib ca init``); None: enrolment is off."""
    broker_host: str = "127.0.0.1"
    """The broker's TLS listener as the boxes reach it (written into their smartlib.toml)."""
    broker_port: int = Field(8883, gt=0, lt=65536)
    code_minutes: float = Field(30.0, gt=0, le=7 * 24 * 60)
    """How long a one-time code is valid by default."""
    revoked_file: Path | None = None
    """The revoked-devices list the gateways read (default: ``revoked.json`` in ``ca_dir``)."""
    broker_acl_file: Path | None = None
    """The broker's ACL file (``smartlib broker config``'s ``acl``): an enrolled device's
    block is added to it, a revoked one's taken out. None: the broker is not touched."""
    broker_password_file: Path | None = None
    """The broker's password file: a revoked device's line (if any) is taken out."""
    broker_pid_file: Path | None = None
    """Mosquitto's pid file: SIGHUP after each change (it then re-reads its files and CRL)."""
    broker_reload_command: str | None = None
    """Else this command reloads it (e.g. ``systemctl reload mosquitto``)."""


class PaymentsSection(BaseModel):
    """Fine payments (``docs/payments.md``): the bank's signed webhook at the console."""

    model_config = ConfigDict(extra="forbid")

    webhook_secret_file: Path | None = None
    """The file holding the bank webhook's shared HMAC secret (first line, at least 16
    bytes); None: the webhook and the payments page are not served."""
    replay_window_s: float = Field(300.0, gt=0, le=3600)
    """How far a notification's timestamp may be from the console's clock."""


class CentralSettings(BaseModel):
    """The whole of ``central.toml``."""

    model_config = ConfigDict(extra="forbid")

    central: CentralSection = Field(default_factory=CentralSection)
    broker: BrokerSection = Field(default_factory=lambda: BrokerSection(username="central"))
    enroll: EnrollSection = Field(default_factory=EnrollSection)
    payments: PaymentsSection = Field(default_factory=PaymentsSection)


def load_central_settings(path: str | Path | None) -> CentralSettings:
    """Load ``central.toml`` (defaults when ``path`` is None).

    Raises:
        CentralConfigError: the file is unreadable, not TOML, or a key is invalid
            (``problems`` names each).
    """
    data: dict[str, object] = {}
    if path is not None:
        p = Path(path)
        try:
            with p.open("rb") as fh:
                data = tomllib.load(fh)
        except OSError as exc:
            raise CentralConfigError(f"cannot read {p}: {exc.strerror}",
                                     [("(file)", str(exc))]) from exc
        except tomllib.TOMLDecodeError as exc:
            raise CentralConfigError(f"{p} is not valid TOML: {exc}",
                                     [("(file)", str(exc))]) from exc
    try:
        settings = CentralSettings.model_validate(data)
    except ValidationError as exc:
        problems = [(".".join(str(x) for x in e["loc"]), e["msg"]) for e in exc.errors()]
        raise CentralConfigError(f"{path or 'configuration'}: {len(problems)} problem(s)",
                                 problems) from exc
    for site in settings.central.sites or []:
        if not re.match(_ID, site):
            raise CentralConfigError(f"{path}: central.sites: {site!r} is not a site id",
                                     [("central.sites", f"{site!r} must match {_ID}")])
    return settings
