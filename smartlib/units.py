"""The systemd units, and the small system files beside them, of a production install.

:func:`plan_install` turns a role (``kiosk``, ``gate`` or ``central``) and
:class:`UnitOptions` into :class:`InstallFile` objects: one ``Type=notify`` service per
process the role runs, with its watchdog, its restart policy and its sandbox; the
``sysusers.d`` file that creates the service users; and, for a kiosk, the PAM service of the
kiosk window's session. Rendering is pure (text in memory); :mod:`smartlib.install` writes
the files and runs ``systemctl``. Must not do: import a product package (the units name
commands, they never load them), touch the file system, or depend on this machine's systemd.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Literal

from smartlib import __version__

Role = Literal["kiosk", "gate", "central"]
ROLES: tuple[Role, ...] = ("kiosk", "gate", "central")

STATE_DIR = PurePosixPath("/var/lib/smartlib")
"""``StateDirectory=smartlib``: the only place the services may write (stores, ledgers)."""
CONFIG_DIR = PurePosixPath("/etc/smartlib")
UNIT_DIR = PurePosixPath("/etc/systemd/system")
SYSUSERS_FILE = PurePosixPath("/etc/sysusers.d/smartlib.conf")
PAM_FILE = PurePosixPath("/etc/pam.d/smartlib-kiosk")
KIOSK_USER = "smartlib-kiosk"
KIOSK_TTY = "tty1"
CAGE = "/usr/bin/cage"
MOSQUITTO = "/usr/sbin/mosquitto"
XWAYLAND = "/usr/bin/Xwayland"
"""Debian's cage will not start without it."""

RESTART_STEPS_SYSTEMD = 254
"""The first systemd with ``RestartSteps=``/``RestartMaxDelaySec=`` (Debian 12 has 252)."""


@dataclass(frozen=True)
class UnitOptions:
    """What every unit of one install shares.

    Args:
        executable: the absolute path of the ``smartlib`` console script (a venv's bin/).
        config: the site configuration the services read (``/etc/smartlib/smartlib.toml``).
        central_config: the central console's ``central.toml`` (central role only).
        user: the system user the services run as (the kiosk window has its own).
        systemd_version: the target's systemd; from 254 the restart delay grows by steps.
        log_json: run the services with ``smartlib --log-json`` (JSON lines in journald).
        broker_config: central role: the ``mosquitto.conf`` that ``smartlib broker config``
            wrote, for Debian's ``mosquitto.service`` to run instead of its own.
        central_writable: central role: directories the console writes besides the state
            directory (``central.toml``'s ``[enroll]``: the site CA, the broker's ACL and
            password files, the revoked-devices list).
    """

    executable: PurePosixPath
    config: PurePosixPath = CONFIG_DIR / "smartlib.toml"
    central_config: PurePosixPath = CONFIG_DIR / "central.toml"
    user: str = "smartlib"
    systemd_version: int = 252
    log_json: bool = False
    broker_config: PurePosixPath | None = None
    central_writable: tuple[PurePosixPath, ...] = ()


@dataclass(frozen=True)
class ServiceSpec:
    """One supervised process: its unit name, its ``smartlib`` arguments, its needs.

    ``watchdog_s`` must exceed the longest gap between two turns of the process's working
    loop (the sdnotify heartbeat sends at most every quarter of it, and at least every
    second while the loop turns); ``devices`` gives it the reader's serial port, the
    receipt printer and pcscd's socket.
    """

    name: str
    description: str
    args: tuple[str, ...]
    watchdog_s: int
    devices: bool = False
    after: tuple[str, ...] = ()


@dataclass(frozen=True)
class InstallFile:
    """One file of the install: an absolute path on the target and its text."""

    path: PurePosixPath
    text: str
    mode: int = 0o644


@dataclass(frozen=True)
class InstallPlan:
    """Everything ``smartlib install`` writes for a role, and the units it enables."""

    role: Role
    files: tuple[InstallFile, ...]
    units: tuple[str, ...] = field(default=())
    masked: tuple[str, ...] = field(default=())
    """Units masked so that they cannot take what a unit of the plan needs (tty1)."""
    programs: tuple[tuple[str, str], ...] = field(default=())
    """``(path, Debian package)`` of each program a unit runs besides smartlib."""


def services_for(role: Role, opts: UnitOptions) -> tuple[ServiceSpec, ...]:
    """The background services of a role (the kiosk window is :func:`kiosk_session_unit`)."""
    cfg = ("--config", str(opts.config))
    if role == "central":
        return (
            ServiceSpec("smartlib-gateway", "smartlib gateway (MQTT in, SIP2 to the ILS)",
                        ("gateway", "run", *cfg), watchdog_s=30,
                        after=("mosquitto.service", "postgresql.service")),
            ServiceSpec("smartlib-central", "smartlib central console (fleet, alarms, staff)",
                        ("central", "serve", "--config", str(opts.central_config)),
                        watchdog_s=30, after=("mosquitto.service", "postgresql.service")),
        )
    return (
        ServiceSpec("smartlib-serve", f"smartlib edge service ({role})",
                    ("serve", *cfg, "--role", role), watchdog_s=20, devices=True,
                    after=("pcscd.socket",)),
        ServiceSpec("smartlib-sync", "smartlib sync agent (journal to the broker)",
                    ("sync", *cfg), watchdog_s=30, after=("smartlib-serve.service",)),
    )


def plan_install(role: Role, opts: UnitOptions) -> InstallPlan:
    """Every file of a role's install, rendered, the units to enable and those to mask."""
    files = [service_unit(spec, role, opts) for spec in services_for(role, opts)]
    masked: tuple[str, ...] = ()
    programs: list[tuple[str, str]] = []
    if role == "kiosk":
        files += [kiosk_session_unit(opts), InstallFile(PAM_FILE, _PAM_KIOSK)]
        masked = (f"getty@{KIOSK_TTY}.service",)  # tty1 is the kiosk window's
        programs += [(CAGE, "cage"), (XWAYLAND, "xwayland")]
    if role == "central":
        files.append(broker_dropin(opts))
        programs.append((MOSQUITTO, "mosquitto"))
    files.append(InstallFile(SYSUSERS_FILE, sysusers_conf(role, opts)))
    units = tuple(f.path.name for f in files if f.path.suffix == ".service")
    return InstallPlan(role, tuple(files), units, masked, tuple(programs))


def broker_dropin(opts: UnitOptions) -> InstallFile:
    """A drop-in for Debian's ``mosquitto.service``: the same restart policy as ours, and
    the configuration ``smartlib broker config`` wrote (``opts.broker_config``), if given.

    Mosquitto speaks sd_notify (READY=1) but feeds no watchdog, so it gets none.
    """
    service = _restart_policy(opts)
    if opts.broker_config is not None:
        service += [("ExecStart", ""),  # clears the shipped command, then ours
                    ("ExecStart", f"{MOSQUITTO} -c {_quote(str(opts.broker_config))}")]
    text = _render("central", [("Unit", [("StartLimitIntervalSec", "0")]),
                               ("Service", service)])
    return InstallFile(UNIT_DIR / "mosquitto.service.d" / "smartlib.conf", text)


def exec_start(opts: UnitOptions, args: tuple[str, ...]) -> str:
    """``smartlib [--log-json] ARGS…``, each word quoted for systemd when it needs it."""
    words = [str(opts.executable), *(["--log-json"] if opts.log_json else []), *args]
    return " ".join(_quote(w) for w in words)


def service_unit(spec: ServiceSpec, role: Role, opts: UnitOptions) -> InstallFile:
    """A hardened ``Type=notify`` service with a watchdog that restarts for ever."""
    groups = ["dialout", "lp"] if spec.devices else []
    after = ("network-online.target", *spec.after)
    unit = [
        ("Description", spec.description),
        ("After", " ".join(after)),
        ("Wants", " ".join(a for a in after if not a.endswith(".service"))),
        # Never give up: the restart policy below paces the restarts instead.
        ("StartLimitIntervalSec", "0"),
    ]
    service = [
        ("Type", "notify"),
        ("NotifyAccess", "main"),
        ("ExecStart", exec_start(opts, spec.args)),
        ("WatchdogSec", f"{spec.watchdog_s}s"),
        ("TimeoutStartSec", "120s"),
        ("TimeoutStopSec", "30s"),
        # After the watchdog's SIGABRT (a stack dump), SIGKILL if the process is still there.
        ("TimeoutAbortSec", "10s"),
        ("KillMode", "mixed"),
        *_restart_policy(opts),
        ("User", opts.user),
        ("Group", opts.user),
        *([("SupplementaryGroups", " ".join(groups))] if groups else []),
        ("StateDirectory", "smartlib"),
        ("StateDirectoryMode", "0750"),
        ("WorkingDirectory", str(STATE_DIR)),
        ("Environment", f"SMARTLIB_CONFIG={opts.config}"),
        ("Environment", "PYTHONUNBUFFERED=1"),
        # A watchdog kill (SIGABRT) then leaves every thread's stack in the journal.
        ("Environment", "PYTHONFAULTHANDLER=1"),
        ("StandardOutput", "journal"),
        ("StandardError", "journal"),
        ("SyslogIdentifier", spec.name),
        ("UMask", "0027"),
        *_sandbox(devices=spec.devices, writable=" ".join(
            [str(STATE_DIR), *(f"-{p}" for p in opts.central_writable
                               if spec.name == "smartlib-central")])),
        ("ProtectHome", "yes"),
    ]
    text = _render(role, [("Unit", unit), ("Service", service),
                          ("Install", [("WantedBy", "multi-user.target")])])
    return InstallFile(UNIT_DIR / f"{spec.name}.service", text)


def kiosk_session_unit(opts: UnitOptions) -> InstallFile:
    """The kiosk window: ``smartlib kiosk`` full screen in a ``cage`` session on tty1.

    The unit is the autologin: it owns tty1 (no getty there) and opens a logind session for
    :data:`KIOSK_USER` through PAM, which gives it the seat's screen and input devices.
    ``cage`` is the main process and the kiosk its child, so the kiosk's notifications are
    accepted from any process of the unit (``NotifyAccess=all``) and ``WATCHDOG_PID`` (the
    main pid, cage's) is dropped on the way, or the kiosk would leave its watchdog off.
    """
    kiosk = exec_start(opts, ("kiosk", "--config", str(opts.config)))
    unit = [
        ("Description", "smartlib kiosk window (cage Wayland kiosk on tty1)"),
        ("After", f"systemd-user-sessions.service getty@{KIOSK_TTY}.service "
                  "plymouth-quit-wait.service smartlib-serve.service"),
        ("Wants", "smartlib-serve.service"),
        ("Conflicts", f"getty@{KIOSK_TTY}.service"),
        ("StartLimitIntervalSec", "0"),
    ]
    service = [
        ("Type", "notify"),
        ("NotifyAccess", "all"),
        ("ExecStart", f"/usr/bin/env -u WATCHDOG_PID {CAGE} -d -- {kiosk}"),
        ("WatchdogSec", "30s"),
        ("TimeoutStartSec", "120s"),
        ("TimeoutStopSec", "30s"),
        # After the watchdog's SIGABRT (a stack dump), SIGKILL if the process is still there.
        ("TimeoutAbortSec", "10s"),
        ("KillMode", "mixed"),
        *_restart_policy(opts),
        ("User", KIOSK_USER),
        ("Group", KIOSK_USER),
        # smartlib: read the site configuration; the rest: the screen and the touch panel
        # when logind's seat ACLs are not there (a seat without logind).
        ("SupplementaryGroups", f"{opts.user} video input render"),
        ("PAMName", "smartlib-kiosk"),
        ("TTYPath", f"/dev/{KIOSK_TTY}"),
        ("TTYReset", "yes"),
        ("TTYVHangup", "yes"),
        ("TTYVTDisallocate", "yes"),
        ("StandardInput", "tty-fail"),
        ("StandardOutput", "journal"),
        ("StandardError", "journal"),
        ("SyslogIdentifier", "smartlib-kiosk"),
        ("UtmpIdentifier", KIOSK_TTY),
        ("UtmpMode", "user"),
        ("StateDirectory", KIOSK_USER),
        ("StateDirectoryMode", "0700"),
        ("WorkingDirectory", str(STATE_DIR.parent / KIOSK_USER)),
        ("Environment", f"SMARTLIB_CONFIG={opts.config}"),
        ("Environment", f"HOME={STATE_DIR.parent / KIOSK_USER}"),
        ("Environment", "QT_QPA_PLATFORM=wayland"),
        ("Environment", "XDG_SESSION_TYPE=wayland"),
        ("Environment", "PYTHONUNBUFFERED=1"),
        ("Environment", "PYTHONFAULTHANDLER=1"),
        ("UMask", "0077"),
        # Its home (the state directory above) and /run/user, where the session's Wayland
        # socket lives. No ProtectHome=: it would hide /run/user.
        *_sandbox(devices=True, writable="-/run/user"),
    ]
    text = _render("kiosk", [("Unit", unit), ("Service", service),
                             ("Install", [("WantedBy", "multi-user.target")])])
    return InstallFile(UNIT_DIR / "smartlib-kiosk.service", text)


def sysusers_conf(role: Role, opts: UnitOptions) -> str:
    """``sysusers.d(5)`` lines: the service user (and the kiosk window's user)."""
    lines = [f"# Written by `smartlib install --role {role}` (smartlib-edge {__version__}).",
             f'u {opts.user} - "smartlib services" {STATE_DIR} /usr/sbin/nologin']
    if role == "kiosk":
        lines += [f'u {KIOSK_USER} - "smartlib kiosk window" {STATE_DIR.parent / KIOSK_USER} '
                  "/usr/sbin/nologin",
                  # Normally there already (base-passwd, udev); made if a minimal system lacks them.
                  "g video -", "g input -", "g render -"]
    if role != "central":
        # Members for real (not only SupplementaryGroups= in the unit): `runuser -u smartlib
        # -- smartlib doctor` then opens the reader and the printer as the service does.
        lines += [f"m {opts.user} dialout", f"m {opts.user} lp"]
    return "\n".join(lines) + "\n"


def _restart_policy(opts: UnitOptions) -> list[tuple[str, str]]:
    """``Restart=always`` with the demo supervisor's back-off where systemd can say it.

    From systemd 254: from 0.5 s to 8 s in four steps (systemd grows the delay
    geometrically, so it roughly doubles), close to ``smartlib_demo.supervisor.Backoff``
    (0.5 s doubling to 8 s). Before (Debian 12's 252): a fixed 2 s.
    """
    if opts.systemd_version >= RESTART_STEPS_SYSTEMD:
        return [("Restart", "always"), ("RestartSec", "500ms"), ("RestartSteps", "4"),
                ("RestartMaxDelaySec", "8s")]
    return [("Restart", "always"), ("RestartSec", "2s")]


def _sandbox(*, devices: bool, writable: str) -> list[tuple[str, str]]:
    """The sandbox every unit shares: the whole file system read-only but ``writable``;
    ``devices`` keeps /dev (serial ports, the screen)."""
    return [
        ("ProtectSystem", "strict"),
        ("ReadWritePaths", writable),
        ("PrivateTmp", "yes"),
        ("NoNewPrivileges", "yes"),
        *([] if devices else [("PrivateDevices", "yes")]),
        ("ProtectKernelTunables", "yes"),
        ("ProtectKernelModules", "yes"),
        ("ProtectKernelLogs", "yes"),
        ("ProtectControlGroups", "yes"),
        # ProtectClock= implies a device allow-list (the RTC), which would shut the serial
        # ports and the screen out: only for the units without devices.
        *([] if devices else [("ProtectClock", "yes")]),
        ("ProtectHostname", "yes"),
        ("RestrictSUIDSGID", "yes"),
        ("RestrictRealtime", "yes"),
        ("RestrictNamespaces", "yes"),
        ("LockPersonality", "yes"),
        ("RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6 AF_NETLINK"),
    ]


def _render(role: Role, sections: list[tuple[str, list[tuple[str, str]]]]) -> str:
    lines = [f"# Written by `smartlib install --role {role}` (smartlib-edge {__version__});",
             "# see docs/deploy.md. A new `smartlib install` writes it again: change the site",
             "# configuration, or add a drop-in (systemctl edit), not this file."]
    for name, items in sections:
        lines += ["", f"[{name}]", *(f"{k}={v}" for k, v in items)]
    return "\n".join(lines) + "\n"


def _quote(word: str) -> str:
    """A word of an ``ExecStart=`` line: double-quoted when it holds a space or a quote."""
    if word and not any(c in word for c in ' \t"\'\\$%;'):
        return word
    escaped = word.replace("\\", "\\\\").replace('"', '\\"').replace("$", "$$").replace("%", "%%")
    return f'"{escaped}"'


_PAM_KIOSK = """\
# PAM service of the smartlib kiosk window (smartlib-kiosk.service, PAMName=smartlib-kiosk).
# systemd opens the session without asking for a password; pam_systemd registers it with
# logind, which gives the session tty1's seat: the screen, the touch panel, /run/user/UID.
account  required  pam_unix.so
session  required  pam_unix.so
session  required  pam_systemd.so
"""
