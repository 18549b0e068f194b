"""The site configuration (``smartlib.toml``): one typed model for every process.

Values come from a TOML file and may be overridden by ``SMARTLIB_*`` environment
variables, nested with ``__`` (``SMARTLIB_BROKER__PORT=1884``). Nothing is read at import
time: call :func:`load_settings`.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from smartlib.errors import ConfigError

ENV_FILE_VAR = "SMARTLIB_CONFIG"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SiteSection(_Section):
    """Who this library is."""

    id: str = Field("demo-site", pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    name: str = "Thư viện Demo"
    isil: str = "VN-DEMO"
    country: str = Field("VN", pattern=r"^[A-Z]{2}$")
    timezone: str = "Asia/Ho_Chi_Minh"
    opening_hours: str = "08:00–20:00"


class DeviceSection(_Section):
    """Which box this process runs on."""

    id: str = Field("kiosk-01", pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    role: Literal["kiosk", "gate", "gateway", "staff"] = "kiosk"


class ReaderSection(_Section):
    """The RFID reader (pad or gate antennas)."""

    enabled: bool = True
    driver: str = "feig"
    url: str = "/dev/ttyUSB0"
    baudrate: int = Field(38400, gt=0)
    parity: Literal["N", "E", "O"] = "E"
    com_address: int = Field(0xFF, ge=0, le=255)
    timeout_s: float = Field(0.5, gt=0)
    retries: int = Field(2, ge=0)
    reopen_after: int = Field(3, ge=1)
    write_retries: int = Field(8, ge=0)
    poll_interval_ms: int = Field(300, ge=10)
    antennas: list[str] = Field(default_factory=lambda: ["pad"])


class CardReaderSection(_Section):
    """The PC/SC card reader and the barcode scanner used for patron login."""

    enabled: bool = True
    name_pattern: str = "Virtual PCD"
    identity: Literal["uid", "iso28560", "mapping"] = "uid"
    uid_format: Literal["hex", "decimal"] = "hex"
    uid_reversed: bool = False
    scanner_url: str | None = None
    scanner_prefix: str = ""
    scanner_suffix: str = ""


class SecuritySection(_Section):
    """How an item's security state is stored on the tag."""

    mode: Literal["afi", "eas", "both"] = "afi"
    afi_secured: int = Field(0x07, ge=0, le=255)
    afi_released: int = Field(0xC2, ge=0, le=255)

    @field_validator("afi_released")
    @classmethod
    def _distinct(cls, v: int, info: Any) -> int:
        if info.data.get("afi_secured") == v:
            raise ValueError("afi_released must differ from afi_secured")
        return v


class BrokerSection(_Section):
    """The MQTT broker that links this box to the central gateway."""

    host: str = "127.0.0.1"
    port: int = Field(1883, gt=0, lt=65536)
    username: str | None = None
    password: SecretStr | None = None
    tls: bool = False
    ca_file: Path | None = None
    client_id: str | None = None
    session_expiry_s: int = Field(7 * 24 * 3600, ge=0)


PROFILE_CHARSETS: dict[str, str] = {"generic": "utf-8", "koha": "utf-8", "evergreen": "utf-8",
                                    "folio": "cp850"}
"""Each built-in SIP2 profile's wire charset (sync.sip2.profiles; a test keeps them equal)."""


class Sip2Settings(_Section):
    """Single settings of the site's SIP2 profile, over the named profile (unset = the
    profile's own): ``[ils.sip2]`` or ``[gateway.site_ils.<site>.sip2]``."""

    charset: Literal["utf-8", "latin-1", "cp850", "ascii"] | None = None
    """Text encoding on the wire (the SIP2 codec's charsets)."""
    error_detection: bool | None = None
    """Send ``AY``/``AZ`` checksums and verify them on input."""
    terminator: Literal["CR", "CRLF"] | None = None
    idle_timeout: float | None = Field(None, gt=0)
    """Seconds after which the ILS drops an idle connection (the keepalive runs inside it)."""
    keepalive_fraction: float | None = Field(None, gt=0, lt=1)
    checkin_not_loaned_ok: bool | None = None
    """A checkin refused because the item was not on loan counts as a return."""


class IlsSection(_Section):
    """The library's ILS, reached over SIP2 by the gateway."""

    profile: Literal["generic", "koha", "evergreen", "folio"] = "generic"
    sip2: Sip2Settings = Field(default_factory=Sip2Settings)
    """Overrides of single settings of ``profile``."""
    host: str = "127.0.0.1"
    port: int = Field(6001, gt=0, lt=65536)
    tls: bool = False
    user: str = "kiosk"
    password: SecretStr = SecretStr("")
    institution: str = "VNLIB"
    location: str = "MAIN"
    pool_size: int = Field(4, ge=1, le=64)


class StoreSection(_Section):
    """The local SQLite store."""

    path: Path = Path("var/smartlib.db")


class PolicySection(_Section):
    """Circulation and offline policies."""

    offline_login: Literal["deny", "cached", "card-only"] = "cached"
    partial_set: Literal["reject", "warn", "allow"] = "reject"
    offline_max_items: int = Field(5, ge=0)
    offline_max_value: int = Field(1_000_000, ge=0)
    offline_forbidden_usage: list[int] = Field(default_factory=list)
    result_timeout_s: float = Field(5.0, gt=0)
    session_idle_s: int = Field(60, ge=5)
    anonymous_return: bool = True
    desensitize_wins: bool = False
    """Deprecated and ignored: the gateway applies the site's SIP2 profile
    (``releases_security``) and the edge follows its Y/N verdict."""


Direction = Literal["in", "out", "unknown"]
_ALARM_DEFAULT: tuple[Direction, ...] = ("out",)
"""Only exits alarm; add ``"unknown"`` for a gate that cannot tell the direction."""


class GateSection(_Section):
    """Security gate behaviour."""

    detection: Literal["eas", "afi", "database", "afi+database"] = "afi"
    debounce_s: float = Field(10.0, ge=0)
    alarm_directions: list[Direction] = Field(default_factory=lambda: list(_ALARM_DEFAULT))
    alarm_duration_ms: int = Field(3000, ge=100)
    fresh_loan_s: float = Field(1800.0, ge=0)
    """A cached loan this young on a still-secured tag: the kiosk's release failed."""
    inner_antenna: str = "gate-in"
    outer_antenna: str = "gate-out"


class ApiSection(_Section):
    """The edge's HTTP API."""

    host: str = "127.0.0.1"
    port: int = Field(8080, gt=0, lt=65536)
    device_token: SecretStr = SecretStr("device-token-change-me")
    staff_token: SecretStr = SecretStr("staff-token-change-me")
    process_state: Path | None = None
    """A JSON file of this site's processes and their restarts (``smartlib demo``'s supervisor
    writes one); the staff console shows it. Unset: no process list."""


class KioskSection(_Section):
    """The patron-facing kiosk UI."""

    edge_url: str = "http://127.0.0.1:8080"
    language: Literal["vi", "en"] = "vi"
    fullscreen: bool = True
    admin_exit_code: SecretStr = SecretStr("")
    """Digits staff type to leave kiosk mode; unset: a one-time code is generated per run
    and written once to the kiosk's log (set it for production)."""
    printer_url: str | None = None
    large_text: bool = False
    high_contrast: bool = False


class PrinterSection(_Section):
    """The receipt printer's capabilities (its port is ``kiosk.printer_url``)."""

    vietnamese: Literal["ascii", "cp1258", "raster"] = "ascii"
    """How Vietnamese reaches paper: folded to ASCII, the printer's WPC1258 code page, or
    raster graphics drawn with DejaVu Sans (docs/kiosk.md, "Receipts")."""
    codepage: int = Field(52, ge=0, le=255)
    """``ESC t n`` for WPC1258: 52 on Epson TM and most compatibles; see the printer's manual."""
    width_chars: int = Field(42, ge=16, le=96)
    """Characters per line in the text modes (42: 80 mm paper, font A)."""
    width_dots: int = Field(576, ge=64, le=2048, multiple_of=8)
    """Dots per line in raster mode (576: 80 mm at 203 dpi; 384: 58 mm)."""
    font_size: int = Field(22, ge=8, le=96)
    """Raster mode: the DejaVu Sans size in dots."""
    font_dir: str = "/usr/share/fonts/truetype/dejavu"
    """Where DejaVuSans.ttf and DejaVuSans-Bold.ttf are (raster and PDF receipts)."""


class SmtpSection(_Section):
    """The mail relay for e-mailed receipts: always STARTTLS with a verified certificate."""

    host: str | None = None
    """Unset: e-mailed receipts are off."""
    port: int = Field(587, gt=0, lt=65536)
    user: str | None = None
    password: SecretStr | None = None
    sender: str = Field("thuvien@example.org", pattern=r"^[^@\s]+@[^@\s]+$")
    ca_file: str | None = None
    """A CA file to trust besides the system's (a relay with a private certificate)."""
    timeout_s: float = Field(15.0, gt=0)


class IlsOverride(_Section):
    """Per-site changes to ``[ils]`` for a gateway serving several sites (unset = ``[ils]``)."""

    profile: Literal["generic", "koha", "evergreen", "folio"] | None = None
    sip2: Sip2Settings | None = None
    """This site's SIP2 overrides, over ``[ils.sip2]`` setting by setting."""
    host: str | None = None
    port: int | None = Field(None, gt=0, lt=65536)
    tls: bool | None = None
    user: str | None = None
    password: SecretStr | None = None
    institution: str | None = None
    location: str | None = None
    pool_size: int | None = Field(None, ge=1, le=64)


class GatewaySection(_Section):
    """The central gateway."""

    ledger: str = "sqlite:///var/gateway-ledger.db"
    sites: list[str] = Field(default_factory=lambda: ["demo-site"])
    lease_s: float = Field(60.0, gt=0)
    """How long an intent is protected; must exceed the longest SIP2 call (timeout + resend)."""
    workers: int | None = Field(None, ge=1, le=64)
    """Batch pipelines (default: 2). SIP2 calls run on ``pool_size`` threads per site."""
    batch_size: int = Field(256, ge=1, le=10_000)
    """Transactions claimed in one fsynced ledger commit at most."""
    retry_s: float = Field(2.0, gt=0)
    """Back-off after an ILS failure before an intent is verified and retried."""
    site_ils: dict[str, IlsOverride] = Field(default_factory=dict)
    """``[gateway.site_ils.<site>]``: that site's ILS, over the ``[ils]`` defaults."""


class SyncSection(_Section):
    """The edge's sync agent (``smartlib sync``)."""

    resend_s: float = Field(30.0, gt=0)
    """Re-publish an entry without a result after this long (doubling up to max_backoff_s)."""
    max_backoff_s: float = Field(600.0, gt=0)
    window: int = Field(500, ge=1)
    """Transactions whose publish awaits its PUBACK at most."""
    tx_batch: int = Field(100, ge=1, le=500)
    """Transactions in one MQTT message at most (a backlog goes in TransactionBatch
    messages; 1: one message each)."""
    max_awaiting: int = Field(5000, ge=1)
    """Published entries awaiting their result at most."""
    poll_s: float = Field(0.5, gt=0)
    publish_ops: bool = True
    """Publish the store's alarms, hourly counters and device events."""
    stats_grace_s: float = Field(60.0, ge=0)
    """An hour's counters are published this long after the hour ended."""
    snapshot_on_empty_cache: bool = True
    """Ask the gateways for a snapshot when the cache is empty (a late-joining edge)."""
    resend_on_gateway_online: bool = True
    """Re-publish every unanswered entry when a gateway (re)connects (a broker restart
    drops what reached a shared subscription while no gateway was connected)."""


class Settings(BaseSettings):
    """The whole site configuration. Load it with :func:`load_settings`."""

    model_config = SettingsConfigDict(
        env_prefix="SMARTLIB_", env_nested_delimiter="__", extra="forbid"
    )

    site: SiteSection = Field(default_factory=SiteSection)
    device: DeviceSection = Field(default_factory=DeviceSection)
    reader: ReaderSection = Field(default_factory=ReaderSection)
    card_reader: CardReaderSection = Field(default_factory=CardReaderSection)
    security: SecuritySection = Field(default_factory=SecuritySection)
    broker: BrokerSection = Field(default_factory=BrokerSection)
    ils: IlsSection = Field(default_factory=IlsSection)
    store: StoreSection = Field(default_factory=StoreSection)
    policy: PolicySection = Field(default_factory=PolicySection)
    gate: GateSection = Field(default_factory=GateSection)
    api: ApiSection = Field(default_factory=ApiSection)
    kiosk: KioskSection = Field(default_factory=KioskSection)
    printer: PrinterSection = Field(default_factory=PrinterSection)
    smtp: SmtpSection = Field(default_factory=SmtpSection)
    gateway: GatewaySection = Field(default_factory=GatewaySection)
    sync: SyncSection = Field(default_factory=SyncSection)

    def ils_for(self, site: str) -> IlsSection:
        """``[ils]`` with the site's ``[gateway.site_ils.<site>]`` overrides applied."""
        over = self.gateway.site_ils.get(site)
        if over is None:
            return self.ils
        update = over.model_dump(exclude_none=True, exclude={"sip2"})
        if over.sip2 is not None:
            update["sip2"] = self.ils.sip2.model_copy(
                update=over.sip2.model_dump(exclude_none=True))
        return self.ils.model_copy(update=update)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if settings_cls.model_config.get("toml_file"):
            sources.append(TomlConfigSettingsSource(settings_cls))
        return tuple(sources)


def _problems(err: ValidationError) -> list[tuple[str, str]]:
    out = []
    for e in err.errors():
        path = ".".join(str(p) for p in e["loc"]) or "(root)"
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown key (not part of the configuration schema)"
        elif "input" in e and not isinstance(e["input"], dict):
            msg = f"{msg} (got {e['input']!r})"
        out.append((path, msg))
    return out


def load_settings(path: str | Path | None = None, **overrides: Any) -> Settings:
    """Load the site configuration from ``path`` (or ``$SMARTLIB_CONFIG``) plus env overrides.

    Args:
        path: a TOML file; without it, ``$SMARTLIB_CONFIG`` or built-in defaults are used.
        overrides: section values that win over file and environment (for tests).

    Raises:
        ConfigError: the file is unreadable or a key is invalid; ``problems`` lists each.
    """
    path = path or os.environ.get(ENV_FILE_VAR)
    if path is not None:
        p = Path(path)
        try:
            with p.open("rb") as fh:
                tomllib.load(fh)
        except OSError as exc:
            raise ConfigError(f"cannot read {p}: {exc.strerror}", [("(file)", str(exc))]) from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{p} is not valid TOML: {exc}", [("(file)", str(exc))]) from exc
    cls: type[Settings] = Settings
    if path is not None:
        config = SettingsConfigDict(**{**Settings.model_config, "toml_file": str(path)})
        cls = type("FileSettings", (Settings,), {"model_config": config})
    try:
        return cls(**overrides)
    except ValidationError as exc:
        problems = _problems(exc)
        raise ConfigError(f"{path or 'configuration'}: {len(problems)} problem(s)", problems) from exc
