"""The site configuration (``smartlib.toml``): one typed model for every process.

Values come from a TOML file and may be overridden by ``SMARTLIB_*`` environment
variables, nested with ``__`` (``SMARTLIB_BROKER__PORT=1884``). Nothing is read at import
time: call :func:`load_settings`.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from smartlib.errors import ConfigError

ENV_FILE_VAR = "SMARTLIB_CONFIG"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_tls_files(section: BrokerSection | IlsSection) -> None:
    """``key_file`` needs ``cert_file``; CA and certificate files need ``tls = true``."""
    if section.key_file is not None and section.cert_file is None:
        raise ValueError("key_file needs cert_file (the certificate of that key)")
    if not section.tls and (section.ca_file or section.cert_file):
        raise ValueError("ca_file / cert_file are set but tls = false")


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
    """The site CA (``smartlib ca init``) that signed the broker's certificate; unset: the
    system CAs."""
    cert_file: Path | None = None
    """This box's client certificate (``smartlib ca issue --device``), when the broker
    requires one (``broker config --tls``)."""
    key_file: Path | None = None
    """The key of ``cert_file`` (mode 0600), if not inside it."""
    client_id: str | None = None
    session_expiry_s: int = Field(7 * 24 * 3600, ge=0)
    failover: list[str] = Field(default_factory=list)
    """Other addresses of the same broker service (``host:port``: the other nodes of a
    cluster, or a standby), tried in turn by the sync agent when a connection attempt to
    the current one fails."""

    @field_validator("failover")
    @classmethod
    def _host_ports(cls, value: list[str]) -> list[str]:
        for addr in value:
            host, sep, port = addr.rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"{addr!r} is not host:port")
        return value

    def addresses(self) -> list[tuple[str, int]]:
        """The broker's address first, then the failover ones."""
        out = [(self.host, self.port)]
        for addr in self.failover:
            host, _, port = addr.rpartition(":")
            out.append((host.strip("[]"), int(port)))
        return out

    @model_validator(mode="after")
    def _tls_files(self) -> BrokerSection:
        _check_tls_files(self)
        return self


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
    ca_file: Path | None = None
    """With ``tls``: trust only this CA (PEM) for the ILS's certificate; unset: the system's."""
    cert_file: Path | None = None
    """With ``tls``: the client certificate the gateway presents (an ILS that asks for one)."""
    key_file: Path | None = None
    """The key of ``cert_file``, if not inside it."""
    user: str = "kiosk"
    password: SecretStr = SecretStr("")
    institution: str = "VNLIB"
    location: str = "MAIN"
    pool_size: int = Field(4, ge=1, le=64)

    @model_validator(mode="after")
    def _tls_files(self) -> IlsSection:
        _check_tls_files(self)
        return self


class StoreSection(_Section):
    """The local SQLite store."""

    path: Path = Path("var/smartlib.db")


CredentialSource = Literal["card", "barcode", "manual"]
_PIN_ALWAYS: tuple[CredentialSource, ...] = ("manual",)


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
    pin_max_failures: int = Field(5, ge=1, le=100)
    """Wrong PINs for one credential within ``pin_window_min`` that lock it out; keep it at
    most the ILS's own limit, so the edge locks before the ILS does (docs/edge.md)."""
    pin_window_min: float = Field(15.0, gt=0, le=24 * 60)
    """The window, in minutes, in which wrong PINs are counted."""
    pin_lockout_min: float = Field(15.0, gt=0, le=24 * 60)
    """How long, in minutes, a locked-out credential is refused (``pin_locked``)."""
    pin_required_for: list[CredentialSource] = Field(default_factory=lambda: list(_PIN_ALWAYS))
    """Credential sources that never log in without a PIN. A typed number always needs one;
    add ``"barcode"`` (and ``"card"``) where the site asks for it. What the source is, the
    edge decides, not the client (docs/edge.md, "Credential sources")."""
    scan_token_s: float = Field(60.0, gt=0, le=600)
    """How long a scan token from ``POST /scans`` stays good for one login."""
    sort_bin_labels: dict[str, str] = Field(default_factory=dict)
    """The ILS's sort-bin codes (SIP2 ``CL`` of a check-in) → what is written on this
    site's return bins, shown to the patron (``{ SHELF = "A" }``); a code without a label is
    shown as it is."""


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
    """Loopback by default: the kiosk UI runs on the same box. Another address needs HTTPS
    (``tls_cert``/``tls_key``) or ``allow_plain_http = true``."""
    port: int = Field(8080, gt=0, lt=65536)
    tls_cert: Path | None = None
    """HTTPS: the box's server certificate (``smartlib ca issue --server HOST``)."""
    tls_key: Path | None = None
    """The key of ``tls_cert`` (mode 0600)."""
    allow_plain_http: bool = False
    """Serve plain HTTP on an address that is not loopback (a trusted, closed LAN only)."""
    device_token: SecretStr = SecretStr("device-token-change-me")
    """The kiosk UI's bearer token (``smartlib token issue --name kiosk-ui``). Deprecated
    as a shared secret: the box accepts it only while it has issued no per-device token."""
    staff_token: SecretStr = SecretStr("staff-token-change-me")
    """Deprecated shared staff secret (acts as admin): accepted only while the box has no
    cached staff accounts, unless ``staff_token_fallback``."""
    staff_token_fallback: bool = False
    """Keep accepting ``staff_token`` after the centre's staff accounts are cached."""
    rate_per_s: float = Field(20.0, gt=0)
    """Requests per second each client (address, and bearer token) may make on average."""
    rate_burst: int = Field(100, ge=1)
    """Requests a client may make at once before ``rate_per_s`` applies."""
    login_rate_per_min: float = Field(30.0, gt=0)
    """``POST /sessions`` (a typed or scanned login) per minute per client on average."""
    login_burst: int = Field(10, ge=1)
    """Logins a client may try at once before ``login_rate_per_min`` applies."""
    staff_login_max_failures: int = Field(5, ge=1, le=1000)
    """Wrong passwords for one staff account within ``staff_login_window_min`` that lock it
    out on this box for ``staff_login_lockout_min`` (``staff_login_locked``), as the central
    console locks its accounts."""
    staff_login_client_max_failures: int = Field(20, ge=1, le=10000)
    """Failed staff log-ins from one client address (any accounts) within the window that
    lock that client out."""
    staff_login_window_min: float = Field(15.0, gt=0, le=24 * 60)
    staff_login_lockout_min: float = Field(15.0, gt=0, le=24 * 60)
    max_body_bytes: int = Field(64 * 1024, ge=1024, le=16 * 1024 * 1024)
    """The largest request body accepted (413 ``payload_too_large`` above)."""
    process_state: Path | None = None
    """A JSON file of this site's processes and their restarts (``smartlib demo``'s supervisor
    writes one); the staff console shows it. Unset: no process list."""

    @model_validator(mode="after")
    def _https_off_loopback(self) -> ApiSection:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together (HTTPS needs both)")
        if not is_loopback(self.host) and self.tls_cert is None and not self.allow_plain_http:
            raise ValueError(f"host {self.host} is not loopback: set tls_cert and tls_key "
                             "(HTTPS with the site CA) or allow_plain_http = true")
        return self


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


class PaymentsSection(_Section):
    """Fines paid at the kiosk by VietQR (docs/payments.md): the library's own account only,
    never a credential."""

    enabled: bool = False
    bank_bin: str = Field("970415", pattern=r"^[0-9]{6}$")
    """The beneficiary bank's six-digit BIN."""
    bank_name: str = "VietinBank"
    """The bank's name as the kiosk shows it."""
    account: str = ""
    """The library's account number the QR pays into."""
    qr_ttl_s: float = Field(600.0, gt=0, le=86400)
    """How long a shown QR is valid (its countdown)."""


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
    health_interval_s: float = Field(60.0, ge=0)
    """How often the kiosk asks its printer its real-time status (``DLE EOT``) for the
    box's status and the central fleet; 0: never (only prints report failures)."""
    status_timeout_s: float = Field(1.0, gt=0, le=10)
    """How long a status check waits for the printer's replies."""


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
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
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
    """How long an intent is protected. The gateway extends the leases it works on every
    quarter of this, and its SIP2 timeouts follow it (``min(10, lease_s / 5)`` to answer,
    ``min(5, lease_s / 10)`` to connect), so one call lasts at most half a lease."""
    workers: int | None = Field(None, ge=1, le=64)
    """Batch pipelines (default: 2). SIP2 calls run on ``pool_size`` threads per site."""
    batch_size: int = Field(256, ge=1, le=10_000)
    """Transactions claimed in one fsynced ledger commit at most."""
    retry_s: float = Field(2.0, gt=0)
    """Back-off after an ILS failure before an intent is verified and retried."""
    delta_window_s: float = Field(0.5, ge=0, le=5)
    """A site's cache deltas go at most once per this long: its first change at once, what
    follows gathered into one delta (every box of the site receives each delta; 0: one
    delta per batch)."""
    site_ils: dict[str, IlsOverride] = Field(default_factory=dict)
    """``[gateway.site_ils.<site>]``: that site's ILS, over the ``[ils]`` defaults."""
    public_key: str | None = Field(None, pattern=r"^[A-Za-z0-9+/]{43}=$")
    """On every edge box: the site gateways' X25519 public key (base64, printed by
    ``smartlib gateway keygen``). PINs are sealed to it; without it a PIN login is refused."""
    private_key_file: str | None = None
    """On a gateway: the file (mode 0600) holding the private half of ``public_key``; every
    gateway of a site holds the same one. Without it, no PIN login can be checked."""
    revoked_file: Path | None = None
    """The central console's revoked-devices list (``revoked.json``, written by
    ``smartlib central revoke``): their transactions are refused. None: no check."""


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
    status_heartbeat_s: float = Field(60.0, gt=0)
    """The retained ``online`` status is published again at least this often, unchanged:
    the central console's *last seen* of a healthy box (a box whose agent stopped sending
    it shows as silent)."""
    status_backlog_age_s: float = Field(10.0, ge=0)
    """The status's backlog counts the open entries journaled more than this long ago (work
    that waits, not work in flight): every box of the site receives each status, and a
    backlog that flipped with each transaction re-published it for nothing. 0: every open
    entry."""
    publish_ops: bool = True
    """Publish the store's alarms, hourly counters and device events."""
    stats_grace_s: float = Field(60.0, ge=0)
    """An hour's counters are published this long after the hour ended."""
    stats_live_interval_s: float = Field(15.0, ge=0)
    """The hours not yet completed go on ``…/stats/live`` when their counters changed, but
    not more often than this, less up to a fifth at random (every box of the site receives
    each one; the last change goes once the interval has passed; the randomness keeps boxes
    started together from publishing together). 0: at every ops pass that sees a change."""
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
    payments: PaymentsSection = Field(default_factory=PaymentsSection)
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
        overlay = getattr(settings_cls, "remote_overlay", None)
        if overlay:  # the central console's configuration: over the file, under env and init
            sources.append(InitSettingsSource(settings_cls, init_kwargs=overlay))
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


def overlay_path(store_path: str | Path) -> Path:
    """Where a box keeps the remote configuration in force (written by the edge when it
    applies one): next to its store, ``var/smartlib.db`` → ``var/smartlib.remote.toml``."""
    return Path(store_path).with_suffix(".remote.toml")


def load_settings(path: str | Path | None = None, *, remote: bool = True,
                  **overrides: Any) -> Settings:
    """Load the site configuration from ``path`` (or ``$SMARTLIB_CONFIG``) plus env overrides.

    Precedence, lowest first: built-in defaults, the file, the remote overlay (the central
    console's configuration last applied, :func:`overlay_path` of ``[store] path``, when it
    exists), ``SMARTLIB_*`` environment variables, ``overrides``.

    Args:
        path: a TOML file; without it, ``$SMARTLIB_CONFIG`` or built-in defaults are used.
        remote: read the remote overlay (False: the file and environment only).
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
        settings = cls(**overrides)
    except ValidationError as exc:
        problems = _problems(exc)
        raise ConfigError(f"{path or 'configuration'}: {len(problems)} problem(s)", problems) from exc
    over = overlay_path(settings.store.path)
    if not remote or not over.exists():
        return settings
    try:
        overlay = tomllib.loads(over.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"the remote overlay {over} is unreadable: {exc}",
                          [("(overlay)", str(exc))]) from exc
    with_overlay = type("RemoteSettings", (cls,), {})
    with_overlay.remote_overlay = overlay  # type: ignore[attr-defined]  # read by the sources
    try:
        return with_overlay(**overrides)
    except ValidationError as exc:
        problems = _problems(exc)
        raise ConfigError(f"{over}: {len(problems)} problem(s)", problems) from exc
