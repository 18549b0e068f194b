"""``smartlib doctor``: a technician's check of everything a box's configuration names.

Each check gives OK, WARN or FAIL with a short finding and, when it is not OK, what to do
next in plain words. Checks (skipped when the configuration does not use the part):

* ``reader``: open the reader URL, ``reader_info``, one inventory, the failure counters;
* ``card_reader``: pcscd running, and a PC/SC reader matching ``card_reader.name_pattern``;
* ``broker``: connect with this device's credentials, publish to its own topic (QoS 1, the
  PUBACK reason code says whether the ACL allows it);
* ``gateway``: an item look-up on the device's look-up topic, answered on its reply topic
  (MQTT 5 response topic and correlation data): the gateway's answer time;
* ``ils``: from the gateway side: the look-up's answer says whether the gateway could reach
  the ILS; on a gateway box (``device.role = gateway``) ``smartlib sip2 … status`` runs
  SIP2 login and SC status as a subprocess;
* ``store``: read-only: SQLite integrity check, schema version, journal backlog, the oldest
  pending transaction;
* ``clock``: the system clock against the broker's answer and a sanity range; the time zone.

The broker, gateway and ILS-through-the-gateway checks live in :mod:`sync.doctor` (they
speak the sync messages, and ``edge`` may not import ``sync``): they are found through the
``smartlib.doctor_checks`` entry point group. The doctor opens the store read-only
and never writes to it.
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Literal

import click

from edge.store.schema import SCHEMA_VERSION
from smartlib.cli import settings_or_exit
from smartlib.config import Settings

Level = Literal["OK", "WARN", "FAIL", "SKIP"]


@dataclass(frozen=True)
class Check:
    """One line of the doctor's report."""

    name: str
    level: Level
    finding: str
    advice: str = ""
    seconds: float = 0.0
    details: dict[str, Any] | None = None


class _Timer:
    def __enter__(self) -> _Timer:
        self.t0 = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = round(time.monotonic() - self.t0, 3)


# ---- reader ------------------------------------------------------------------------------

def check_reader(settings: Settings) -> Check:
    r = settings.reader
    if not r.enabled:
        return Check("reader", "SKIP", "reader.enabled = false")
    from drivers.errors import DriverError
    from drivers.registry import create_reader

    with _Timer() as t:
        try:
            reader = create_reader(r.driver, r.url, baudrate=r.baudrate, parity=r.parity,
                                   com_address=r.com_address, timeout_s=r.timeout_s,
                                   antennas=tuple(r.antennas), retries=r.retries,
                                   reopen_after=r.reopen_after, write_retries=r.write_retries)
            reader.open()
        except (DriverError, OSError, ValueError, KeyError) as exc:
            return Check("reader", "FAIL", f"cannot open {r.url}: {exc}",
                         "Check that the reader is powered and plugged in, that reader.url is "
                         "its port (ls /dev/serial/by-id/), and that no other program holds it.")
        try:
            info = reader.reader_info()
            tags = reader.inventory(antennas=list(r.antennas))
            metrics = reader.metrics()
        except DriverError as exc:
            return Check("reader", "FAIL", f"{r.url} opened but does not answer: {exc}",
                         "Check the baud rate, parity and COM address in [reader]; power-cycle "
                         "the reader; run again with --log-level TRACE to see the frames.")
        finally:
            reader.close()
    failures = {k: v for k, v in metrics.items() if k.endswith("_failures") and v}
    details = {"vendor": info.vendor, "model": info.model, "firmware": info.firmware,
               "tags_in_field": len(tags), "counters": metrics}
    finding = (f"{info.vendor} {info.model} firmware {info.firmware}; inventory saw "
               f"{len(tags)} tag(s)")
    if failures:
        return Check("reader", "WARN", f"{finding}; failures {failures}",
                     "The reader answered but some exchanges failed: check the cable, the "
                     "antenna tuning, and metal near the antenna.", t.seconds, details)
    return Check("reader", "OK", finding, "", t.seconds, details)


# ---- card reader -------------------------------------------------------------------------

def _process_running(name: str) -> bool:
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if (d / "comm").read_text().strip() == name:
                    return True
            except OSError:
                continue
    return False


def check_card_reader(settings: Settings) -> Check:
    c = settings.card_reader
    if not c.enabled or settings.device.role != "kiosk":
        return Check("card_reader", "SKIP", "no card reader on this box")
    if not _process_running("pcscd"):
        return Check("card_reader", "FAIL", "pcscd is not running",
                     "Start the PC/SC daemon: `systemctl start pcscd` (package pcscd).")
    with _Timer() as t:
        try:
            from smartcard.System import readers  # type: ignore[import-untyped]

            names = [str(x) for x in readers()]
        except Exception as exc:  # noqa: BLE001 - pyscard raises several unrelated types
            return Check("card_reader", "FAIL", f"pcscd runs but PC/SC fails: {exc}",
                         "Restart pcscd (`systemctl restart pcscd`) and check its log.")
    match = [n for n in names if re.search(c.name_pattern, n)]
    if not match:
        return Check("card_reader", "FAIL",
                     f"no reader matches {c.name_pattern!r} (readers: {names or 'none'})",
                     "Plug the card reader in, or set card_reader.name_pattern to one of the "
                     "names listed.", t.seconds, {"readers": names})
    return Check("card_reader", "OK", f"pcscd running; reader {match[0]!r}", "", t.seconds,
                 {"readers": names})


# ---- broker, gateway, ILS, clock ------------------------------------------------------------

CHECK_GROUP = "smartlib.doctor_checks"
"""Entry point group of the checks other packages add: ``sync.doctor:run_checks`` gives the
broker, gateway and ILS-through-the-gateway checks (``edge`` may not import ``sync``). Each
entry is ``run_checks(settings, want) -> list[dict]`` with :class:`Check`'s fields."""


def plugin_checks(settings: Settings, want: Callable[[str], bool]) -> list[Check]:
    """The checks of the ``smartlib.doctor_checks`` entry points, in their names' order."""
    out: list[Check] = []
    found = sorted(entry_points(group=CHECK_GROUP), key=lambda ep: ep.name)
    if not found and any(want(n) for n in ("broker", "gateway", "ils")):
        out.append(Check("broker", "FAIL", "the broker and gateway checks are not installed",
                         "Reinstall smartlib (`make setup` or `pip install -e .`): the "
                         f"{CHECK_GROUP} entry points are missing."))
    for ep in found:
        try:
            run = ep.load()
            out += [Check(**d) for d in run(settings, want)]
        except Exception as exc:  # noqa: BLE001 - a broken add-on is a finding, not a crash
            out.append(Check(ep.name, "FAIL", f"the {ep.name} checks failed: {exc}",
                             "Reinstall smartlib; run again with --log-level DEBUG."))
    return out


def check_ils_direct(settings: Settings) -> Check:
    i = settings.ils
    args = [sys.executable, "-m", "smartlib.cli", "sip2", "--host", i.host, "--port",
            str(i.port), "--user", i.user, "--password", i.password.get_secret_value(),
            "--institution", i.institution, "--location", i.location, "--profile", i.profile,
            "status"]
    with _Timer() as t:
        try:
            done = subprocess.run(args, capture_output=True, text=True, timeout=30)
        except subprocess.TimeoutExpired:
            return Check("ils", "FAIL", f"{i.host}:{i.port}: no answer within 30 s",
                         "The ILS hangs: check its SIP2 service.")
    if done.returncode != 0:
        return Check("ils", "FAIL", f"SIP2 {i.host}:{i.port}: {done.stderr.strip()[-300:]}",
                     "Is the ILS's SIP2 server running and reachable from here? Check [ils] "
                     "host, port, user, password and institution.", t.seconds)
    try:
        status = json.loads(done.stdout)
    except ValueError:
        status = {}
    if status.get("online_status") is False:
        return Check("ils", "WARN", f"SIP2 {i.host}:{i.port}: login OK, the ILS says it is "
                     "offline", "Ask the ILS administrator; transactions queue meanwhile.",
                     t.seconds)
    return Check("ils", "OK", f"SIP2 {i.host}:{i.port}: login and SC status OK "
                 f"({t.seconds * 1000:.0f} ms)", "", t.seconds)


def check_clock(settings: Settings) -> Check:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    now = datetime.now(UTC)
    try:
        local = now.astimezone(ZoneInfo(settings.site.timezone))
    except (ZoneInfoNotFoundError, ValueError):
        return Check("clock", "FAIL", f"unknown time zone {settings.site.timezone!r}",
                     "Set site.timezone to an IANA name such as Asia/Ho_Chi_Minh.")
    if now.year < 2024:
        return Check("clock", "FAIL", f"the system clock says {now:%Y-%m-%d %H:%M}",
                     "Set the clock (timedatectl set-ntp true): due dates and offline "
                     "transactions carry it.")
    synced = Path("/run/systemd/timesync/synchronized").exists()
    return Check("clock", "OK", f"{local:%Y-%m-%d %H:%M:%S %Z}"
                 + ("; NTP synchronised" if synced else ""))


# ---- store -------------------------------------------------------------------------------

def check_store(settings: Settings) -> Check:
    path = Path(settings.store.path)
    if settings.device.role == "gateway":
        return Check("store", "SKIP", "a gateway has no edge store")
    if not path.exists():
        return Check("store", "WARN", f"{path} does not exist yet",
                     "It is created on the first `smartlib serve`; check store.path.")
    with _Timer() as t:
        try:
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
            try:
                problems = [r[0] for r in db.execute("PRAGMA quick_check")]
                version = int(db.execute("PRAGMA user_version").fetchone()[0])
                if problems != ["ok"]:
                    raise sqlite3.DatabaseError("; ".join(problems[:3]))
                rows = db.execute("SELECT state, COUNT(*), MIN(created_at) FROM outbox "
                                  "WHERE state IN ('pending', 'sent') GROUP BY state").fetchall()
            finally:
                db.close()
        except sqlite3.Error as exc:
            return Check("store", "FAIL", f"{path} is damaged or unreadable: {exc}",
                         "Stop `smartlib serve`, keep a copy of the file, then `smartlib db "
                         "restore BACKUP` (or move it away and `smartlib db rebuild-cache`); "
                         "pending transactions in a damaged file must be recovered by hand.")
    backlog = {state: n for state, n, _ in rows}
    oldest = min((o for _, _, o in rows if o), default=None)
    details = {"schema_version": version, "backlog": backlog, "oldest_pending": oldest}
    finding = (f"integrity ok; schema v{version}; backlog {sum(backlog.values())}"
               + (f", oldest pending {oldest}" if oldest else ""))
    if version > SCHEMA_VERSION:
        return Check("store", "WARN", finding + " (newer than this software)",
                     "Update smartlib on this box.", t.seconds, details)
    if oldest and _age_s(oldest) > 3600:
        return Check("store", "WARN", finding,
                     "Transactions have waited more than an hour: check the broker and gateway "
                     "checks above and `smartlib sync`'s log.", t.seconds, details)
    return Check("store", "OK", finding, "", t.seconds, details)


def _age_s(stamp: str) -> float:
    try:
        t = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return (datetime.now(UTC) - t).total_seconds()


# ---- running all -------------------------------------------------------------------------

def run_checks(settings: Settings, only: tuple[str, ...] = ()) -> list[Check]:
    """Run every check the configuration calls for (``only``: a subset by name)."""
    def want(n: str) -> bool:
        return not only or n in only

    out: list[Check] = []
    if want("reader"):
        out.append(check_reader(settings))
    if want("card_reader"):
        out.append(check_card_reader(settings))
    out += plugin_checks(settings, want)
    if want("ils") and settings.device.role == "gateway":
        out.append(check_ils_direct(settings))
    if want("store"):
        out.append(check_store(settings))
    if want("clock"):
        out.append(check_clock(settings))
    return out


def render_table(checks: list[Check]) -> str:
    lines = []
    for c in checks:
        lines.append(f"{c.level:<4}  {c.name:<12} {c.finding}")
        if c.advice and c.level in ("WARN", "FAIL"):
            lines.append(f"{'':<4}  {'':<12} → {c.advice}")
    fails = sum(c.level == "FAIL" for c in checks)
    warns = sum(c.level == "WARN" for c in checks)
    lines.append(f"{fails} FAIL, {warns} WARN, {sum(c.level == 'OK' for c in checks)} OK")
    return "\n".join(lines)


@click.command()
@click.option("--config", "config", type=click.Path(dir_okay=False), default=None,
              help="The box's smartlib.toml (default: $SMARTLIB_CONFIG).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--only", multiple=True,
              type=click.Choice(["reader", "card_reader", "broker", "gateway", "ils", "store",
                                 "clock", "pin_key"]), help="Run only these checks.")
def doctor(config: str | None, as_json: bool, only: tuple[str, ...]) -> None:
    """Check the reader, card reader, broker, gateway, ILS, store and clock of this box."""
    settings = settings_or_exit(config)
    checks = run_checks(settings, only)
    failed = any(c.level == "FAIL" for c in checks)
    if as_json:
        click.echo(json.dumps({"ok": not failed, "device": settings.device.id,
                               "role": settings.device.role,
                               "checks": [asdict(c) for c in checks]}, ensure_ascii=False))
    else:
        click.echo(render_table(checks))
    if failed:
        sys.exit(1)
