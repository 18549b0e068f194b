"""``smartlib install --role kiosk|gate|central``: the systemd units of a production box.

It checks the site configuration with the same check as ``smartlib config check`` (and
refuses one that fails), copies it to ``/etc/smartlib/``, writes the units that
:mod:`smartlib.units` renders and the ``sysusers.d`` file of the service users, creates
those users (``systemd-sysusers``) and enables the units. systemd then is the supervisor:
``Restart=always``, and a watchdog each service feeds only while its working loop turns.
``--dry-run`` prints every file and command and changes nothing; ``--prefix DIR`` writes
under another root (an image being built, a test) and runs ``systemctl --root``.

Must not do: import a product package (the units name commands; they never load them),
print the configuration's contents (it holds secrets), or start the services (the
technician does, after ``smartlib doctor``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import click

from smartlib.errors import SmartlibError
from smartlib.units import (
    CONFIG_DIR,
    ROLES,
    STATE_DIR,
    SYSUSERS_FILE,
    InstallFile,
    InstallPlan,
    Role,
    UnitOptions,
    plan_install,
)

HIDDEN_BY_PROTECT_HOME = (PurePosixPath("/home"), PurePosixPath("/root"),
                          PurePosixPath("/run/user"))
DEFAULT_SYSTEMD = 252
"""Assumed when ``systemctl --version`` cannot say (Debian 12's)."""
DEVICE_ROLE = {"kiosk": "kiosk", "gate": "gate", "central": "gateway"}
"""The ``device.role`` a box's configuration must name for its install role."""


class InstallError(SmartlibError):
    """The install cannot go on; the message says what to change."""


Runner = Callable[[Sequence[str]], None]


def run_command(argv: Sequence[str]) -> None:
    """Run one command; its failure is an :class:`InstallError` with its output."""
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, check=False)
    except OSError as exc:
        raise InstallError(f"cannot run {argv[0]}: {exc.strerror}") from exc
    if done.returncode != 0:
        out = (done.stderr or done.stdout).strip()
        raise InstallError(f"`{' '.join(argv)}` failed ({done.returncode}): {out}")


def systemd_version() -> int:
    """The major version ``systemctl --version`` reports, or :data:`DEFAULT_SYSTEMD`."""
    try:
        out = subprocess.run(["systemctl", "--version"], capture_output=True, text=True,
                             check=False, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return DEFAULT_SYSTEMD
    found = re.match(r"systemd (\d+)", out)
    return int(found.group(1)) if found else DEFAULT_SYSTEMD


def default_executable() -> Path:
    """The ``smartlib`` script beside the running interpreter (the venv's), else on PATH."""
    beside = Path(sys.executable).parent / "smartlib"
    if beside.exists():
        return beside
    found = shutil.which("smartlib")
    return Path(found) if found else beside


def check_executable(path: Path) -> PurePosixPath:
    """The executable as the units name it: absolute, present, outside ProtectHome's reach.

    Raises:
        InstallError: relative, missing, or it or its interpreter (a venv's python, followed
            through its links) under /home, /root or /run/user.
    """
    if not path.is_absolute():
        raise InstallError(f"--executable {path}: give an absolute path")
    for what in (path, *_interpreter(path)):
        where = PurePosixPath(os.path.realpath(what))
        for hidden in HIDDEN_BY_PROTECT_HOME:
            if PurePosixPath(what).is_relative_to(hidden) or where.is_relative_to(hidden):
                raise InstallError(
                    f"{what} (for {path}) is under {hidden}, which the units hide from the "
                    "services (ProtectHome=yes): install smartlib into /opt/smartlib with the "
                    "system's python3 (docs/deploy.md)")
    if not os.access(path, os.X_OK):
        raise InstallError(f"--executable {path}: not an executable file")
    return PurePosixPath(path)


def _interpreter(script: Path) -> list[Path]:
    """The interpreter a ``#!`` script names (a venv's python, and so the Python it links)."""
    try:
        with script.open("rb") as fh:
            first = fh.readline(4096)
    except OSError:
        return []
    if not first.startswith(b"#!"):
        return []
    words = first[2:].decode("utf-8", "replace").split()
    return [Path(words[0])] if words and words[0].startswith("/") else []


def check_config(path: Path) -> None:
    """Run ``smartlib config check`` on ``path`` in this process; refuse what it rejects.

    Its report (OK, or each problem with its key) goes to the terminal as usual.

    Raises:
        InstallError: the check failed.
    """
    from smartlib.config_cli import check

    try:
        code = check.main([str(path)], prog_name="smartlib config check",
                          standalone_mode=False)
    except SystemExit as exc:
        code = exc.code
    except click.ClickException as exc:
        exc.show()
        code = exc.exit_code
    if code not in (None, 0):
        raise InstallError(f"{path}: `smartlib config check` rejects this configuration; "
                           "fix it before installing")


def state_path(value: str | os.PathLike[str]) -> PurePosixPath:
    """Where a path of the configuration lands for a service (relative: in the state dir)."""
    p = PurePosixPath(value)
    return p if p.is_absolute() else STATE_DIR / p


def check_writable(key: str, value: str | os.PathLike[str]) -> None:
    """Refuse a path the sandbox would make read-only (outside the state directory)."""
    where = state_path(value)
    if not where.is_relative_to(STATE_DIR):
        raise InstallError(
            f"{key} = {value!s}: the services may write only under {STATE_DIR} "
            f"(ProtectSystem=strict); use a path there, or a relative one")


def sqlite_file(url: str) -> str | None:
    """The file of a ``sqlite:///…`` URL (a bare path counts too); None for PostgreSQL."""
    if url.startswith("sqlite:///"):
        return url[len("sqlite:///"):]
    return None if "://" in url else url


def check_site_config(role: Role, config: Path) -> None:
    """The role-specific checks: the device's role, and where its files are written."""
    from smartlib.config import load_settings

    settings = load_settings(config)
    if role in DEVICE_ROLE and settings.device.role != DEVICE_ROLE[role]:
        raise InstallError(f"{config}: device.role is {settings.device.role!r}, but this is "
                           f"a {role} install: set device.role = {DEVICE_ROLE[role]!r}")
    if role == "central":
        ledger = sqlite_file(settings.gateway.ledger)
        if ledger is not None:
            check_writable("gateway.ledger", ledger)
    else:
        check_writable("store.path", settings.store.path)


def check_central_config(path: Path) -> tuple[PurePosixPath, ...]:
    """The console's ``central.toml``: readable TOML whose SQLite database is writable.
    Returns the directories its ``[enroll]`` section makes the console write (the site CA,
    the broker's ACL and password files, the revoked-devices list)."""
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise InstallError(f"--central-config {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise InstallError(f"--central-config {path} is not valid TOML: {exc}") from exc
    section = data.get("central", {})
    database = section.get("database") if isinstance(section, dict) else None
    db_file = sqlite_file(database if isinstance(database, str) else "sqlite:///var/central.db")
    if db_file is not None:
        check_writable("central.database", db_file)
    enroll = data.get("enroll", {})
    enroll = enroll if isinstance(enroll, dict) else {}
    dirs: list[PurePosixPath] = []
    for key in ("ca_dir", "broker_acl_file", "broker_password_file", "revoked_file"):
        value = enroll.get(key)
        if not isinstance(value, str) or not value:
            continue
        where = PurePosixPath(value) if key == "ca_dir" else PurePosixPath(value).parent
        if not where.is_absolute():
            raise InstallError(f"--central-config {path}: [enroll] {key} must be an absolute "
                               f"path, not {value!r}")
        if where not in dirs:
            dirs.append(where)
    return tuple(dirs)


@dataclass(frozen=True)
class Installer:
    """Writes a plan under ``prefix`` and runs the commands that enable it.

    Args:
        plan: what to write and enable.
        prefix: the target's root (``/``: this machine).
        user: the service user (owner group of the copied configuration).
        configs: (source file, its installed path) pairs copied with mode 0640.
        run: runs one command (injected for tests).
        echo: prints one line.
    """

    plan: InstallPlan
    prefix: Path
    user: str
    configs: tuple[tuple[Path, PurePosixPath], ...]
    run: Runner = run_command
    echo: Callable[[str], None] = click.echo

    @property
    def on_this_machine(self) -> bool:
        """Whether the target is this machine's root (daemon-reload, chown)."""
        return self.prefix.resolve() == Path("/")

    def target(self, path: PurePosixPath) -> Path:
        """``path`` under the prefix."""
        return self.prefix / path.relative_to("/")

    def missing_programs(self) -> list[str]:
        """The programs the units run that the target lacks, each with its package."""
        return [f"{path} (apt-get install {package})" for path, package in self.plan.programs
                if not self.target(PurePosixPath(path)).exists()]

    def commands(self) -> list[list[str]]:
        """The commands the install runs after writing its files, in order."""
        root = [] if self.on_this_machine else [f"--root={self.prefix}"]
        cmds = [["systemd-sysusers", *root, SYSUSERS_FILE.name]]
        if self.on_this_machine:
            # The state directory now, not at the first start (StateDirectory= adopts it):
            # the doctor and commands run by hand find it, and work there as the services do.
            cmds += [["install", "-d", "-m", "0750", "-o", self.user, "-g", self.user,
                      str(STATE_DIR)],
                     ["chown", f"root:{self.user}", *(str(dst) for _, dst in self.configs)],
                     ["systemctl", "daemon-reload"]]
        if self.plan.masked:
            cmds.append(["systemctl", *root, "mask", *self.plan.masked])
        cmds.append(["systemctl", *root, "enable", *self.plan.units])
        return cmds

    def dry_run(self) -> None:
        """Print every file (configurations by name only) and command; change nothing."""
        for f in self.plan.files:
            self.echo(f"# ==> {self.target(f.path)} (mode {f.mode:04o})")
            self.echo(f.text)
        for src, dst in self.configs:
            self.echo(f"# ==> {self.target(dst)}: a copy of {src} (mode 0640, group "
                      f"{self.user}; not printed: it holds secrets)\n")
        for cmd in self.commands():
            self.echo("# would run: " + " ".join(cmd))
        for program in self.missing_programs():
            self.echo(f"# missing on the target: {program}")

    def install(self) -> None:
        """Write the files, create the users, enable the units.

        Raises:
            InstallError: on this machine, a program a unit runs is missing; a file or a
                command failed.
        """
        missing = self.missing_programs()
        if missing and self.on_this_machine:
            raise InstallError("the units need programs this machine lacks: "
                               + ", ".join(missing))
        for src, dst in self.configs:
            out = self.target(dst)
            try:
                if Path(src).resolve() != out.resolve():
                    self._write(out, Path(src).read_bytes(), 0o640)
                    self.echo(f"copied {src} to {out}")
                else:
                    out.chmod(0o640)
            except OSError as exc:
                raise InstallError(f"cannot copy {src} to {out}: {exc.strerror}") from exc
        for f in self.plan.files:
            self._write(self.target(f.path), f.text.encode("utf-8"), f.mode)
            self.echo(f"wrote {self.target(f.path)}")
        if not self.on_this_machine:  # made with its owner by a command on this machine
            self.target(STATE_DIR).mkdir(mode=0o750, parents=True, exist_ok=True)
        for cmd in self.commands():
            self.echo("running: " + " ".join(cmd))
            self.run(cmd)

    @staticmethod
    def _write(path: Path, data: bytes, mode: int) -> None:
        """Write ``path`` whole or not at all, never readable by others before its ``mode``."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                os.fchmod(fh.fileno(), mode)
            tmp.replace(path)
        except OSError as exc:
            raise InstallError(f"cannot write {path}: {exc.strerror}") from exc


@click.command("install")
@click.option("--role", type=click.Choice(ROLES), required=True,
              help="kiosk: serve, sync and the kiosk window; gate: serve and sync; "
                   "central: gateway and central console")
@click.option("--config", "config", type=click.Path(dir_okay=False, exists=True),
              default=str(CONFIG_DIR / "smartlib.toml"), show_default=True,
              help="the site configuration to install (copied to /etc/smartlib/smartlib.toml)")
@click.option("--central-config", type=click.Path(dir_okay=False), default=None,
              help="central role: the console's central.toml (copied to "
                   "/etc/smartlib/central.toml; default: that file)")
@click.option("--prefix", type=click.Path(file_okay=False), default="/", show_default=True,
              help="install under this root instead (an image, a test): systemctl --root, "
                   "no daemon-reload")
@click.option("--dry-run", is_flag=True, help="print the files and commands; change nothing")
@click.option("--user", default="smartlib", show_default=True,
              help="the system user the services run as (created by the install)")
@click.option("--executable", type=click.Path(dir_okay=False), default=None,
              help="the smartlib script the units run (default: this one)")
@click.option("--systemd-version", "systemd_major", type=click.IntRange(200, 999), default=None,
              help="the target's systemd (default: systemctl --version); 254 and later "
                   "get a growing restart delay")
@click.option("--broker-config", type=click.Path(dir_okay=False), default=None,
              help="central role: the mosquitto.conf `smartlib broker config --out DIR` "
                   "wrote, for mosquitto.service to run (absolute path on the target)")
@click.option("--log-json", is_flag=True, help="the services log JSON lines to journald")
def install(role: Role, config: str, central_config: str | None, prefix: str, dry_run: bool,
            user: str, executable: str | None, systemd_major: int | None,
            broker_config: str | None, log_json: bool) -> None:
    """Write and enable the systemd units of a kiosk, a gate or the central server."""
    if not re.fullmatch(r"[a-z_][a-z0-9_-]{0,31}", user):
        raise click.BadParameter(f"{user!r} is not a system user name", param_hint="--user")
    root = Path(prefix).resolve()
    try:
        if root == Path("/") and not dry_run and os.geteuid() != 0:
            raise InstallError("installing on this machine needs root (or use --dry-run, "
                               "or --prefix DIR)")
        exe = check_executable(Path(executable) if executable else default_executable())
        config_path = Path(config)
        check_config(config_path)
        check_site_config(role, config_path)
        configs = [(config_path, CONFIG_DIR / "smartlib.toml")]
        central_writable: tuple[PurePosixPath, ...] = ()
        if role == "central":
            central_path = Path(central_config or CONFIG_DIR / "central.toml")
            central_writable = check_central_config(central_path)
            configs.append((central_path, CONFIG_DIR / "central.toml"))
        if broker_config is not None and (role != "central"
                                          or not PurePosixPath(broker_config).is_absolute()):
            raise InstallError("--broker-config: an absolute path, with --role central only")
        opts = UnitOptions(executable=exe, user=user, log_json=log_json,
                           broker_config=PurePosixPath(broker_config) if broker_config else None,
                           central_writable=central_writable,
                           systemd_version=systemd_major or systemd_version())
        installer = Installer(plan_install(role, opts), root, user, tuple(configs))
        if dry_run:
            installer.dry_run()
            return
        installer.install()
    except InstallError as exc:
        raise click.ClickException(str(exc)) from exc
    first = installer.plan.units[0]
    click.echo(f"\ninstalled and enabled: {', '.join(installer.plan.units)}")
    if installer.on_this_machine:
        click.echo(f"next: cd {STATE_DIR} && runuser -u {user} -- {exe} doctor "
                   f"--config {opts.config}\n"
                   f"      systemctl start {' '.join(installer.plan.units)}\n"
                   f"      journalctl -u {first} -f")


__all__ = ["InstallError", "Installer", "InstallFile", "check_config", "install"]
