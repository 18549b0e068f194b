"""``smartlib install``: the units of each role, verified by systemd, and what it refuses.

Every install here goes under a temporary ``--prefix`` root (or is a ``--dry-run``): the
real ``systemd-sysusers --root`` and ``systemctl --root enable`` run against that root, and
``systemd-analyze verify`` (offline: no systemd as PID 1 is needed) checks every unit
written. This machine's /etc is never touched.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from smartlib.install import install
from tests.support.procs import require_binary

SECRET = "s3cret-token-that-must-not-be-printed"
ROLE_UNITS = {
    "kiosk": ["smartlib-serve.service", "smartlib-sync.service", "smartlib-kiosk.service"],
    "gate": ["smartlib-serve.service", "smartlib-sync.service"],
    "central": ["smartlib-gateway.service", "smartlib-central.service"],
}
BACKGROUND_HARDENING = {
    "ProtectSystem": "strict", "ReadWritePaths": "/var/lib/smartlib", "PrivateTmp": "yes",
    "NoNewPrivileges": "yes", "ProtectHome": "yes", "StateDirectory": "smartlib",
    "User": "smartlib", "StandardOutput": "journal", "StandardError": "journal",
}


def site_config(tmp_path: Path, role: str = "kiosk", **extra: str) -> Path:
    """A box's configuration with every secret set (not the shipped placeholders).

    ``extra``: ``section__key="TOML value"`` pairs that add or replace a key.
    """
    device_role = {"central": "gateway"}.get(role, role)
    sections: dict[str, dict[str, str]] = {
        "device": {"id": f'"{role}-01"', "role": f'"{device_role}"'},
        "broker": {"username": '"box"', "password": f'"{SECRET}"'},
        "ils": {"password": f'"{SECRET}"'},
        "api": {"device_token": f'"{SECRET}-d"', "staff_token": f'"{SECRET}-s"'},
        "kiosk": {"admin_exit_code": '"97531"'},
    }
    for key, value in extra.items():
        section, _, name = key.partition("__")
        sections.setdefault(section, {})[name] = value
    text = "".join(f"[{name}]\n" + "".join(f"{k} = {v}\n" for k, v in keys.items())
                   for name, keys in sections.items())
    path = tmp_path / f"{role}-site.toml"
    path.write_text(text, encoding="utf-8")
    return path


def central_config(tmp_path: Path, database: str = "sqlite:///central.db") -> Path:
    path = tmp_path / "central.toml"
    path.write_text(f'[central]\ndatabase = "{database}"\n', encoding="utf-8")
    return path


def run_install(tmp_path: Path, *args: str) -> tuple[int, str]:
    """``smartlib install ARGS`` in this process, run with a ``smartlib`` script as a
    production venv has one (this checkout's venv may use a Python under /root, which
    the install refuses: see test_an_interpreter_under_root_is_refused)."""
    if "--executable" not in args:
        args = (*args, "--executable", str(production_script(tmp_path)))
    result = CliRunner().invoke(install, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def production_script(tmp_path: Path) -> Path:
    """A console script like /opt/smartlib/bin/smartlib (its shebang: the system's python3)."""
    path = tmp_path / "opt/smartlib/bin/smartlib"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("#!/usr/bin/python3\nimport sys\nsys.exit(0)\n")
        path.chmod(0o755)
    return path


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """``{section: {key: [values…]}}`` of a unit file (a test-local reader)."""
    out: dict[str, dict[str, list[str]]] = {}
    section = None
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if line.startswith("["):
            section = out.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        assert section is not None, line
        section.setdefault(key, []).append(value)
    return out


def verify(units: list[Path]) -> subprocess.CompletedProcess[str]:
    """``systemd-analyze verify`` offline: no man pages, no generators."""
    analyze = require_binary("systemd-analyze", "systemd")
    return subprocess.run([analyze, "verify", "--man=no", "--generators=no",
                           *(str(u) for u in units)], capture_output=True, text=True,
                          timeout=120, check=False)


def installed(tmp_path: Path, role: str, *more: str) -> tuple[Path, str]:
    root = tmp_path / "root"
    args = ["--role", role, "--config", str(site_config(tmp_path, role)),
            "--prefix", str(root), "--systemd-version", "252", *more]
    if role == "central":
        args += ["--central-config", str(central_config(tmp_path))]
    code, output = run_install(tmp_path, *args)
    assert code == 0, output
    return root, output


@pytest.mark.parametrize("role", ["kiosk", "gate", "central"])
def test_install_writes_users_units_and_enables_them_and_systemd_verifies_them(
        tmp_path: Path, role: str) -> None:
    root, output = installed(tmp_path, role)
    unit_dir = root / "etc/systemd/system"
    units = [unit_dir / name for name in ROLE_UNITS[role]]
    written = sorted(p.name for p in unit_dir.glob("smartlib-*.service"))
    assert written == sorted(ROLE_UNITS[role])
    checked = verify(units)
    assert checked.returncode == 0 and checked.stderr == "", checked.stderr
    for name in ROLE_UNITS[role]:  # enabled: systemctl --root made the wants links
        link = unit_dir / "multi-user.target.wants" / name
        assert link.is_symlink() and link.readlink() == Path("/etc/systemd/system") / name
    passwd = (root / "etc/passwd").read_text()
    assert "smartlib:x:" in passwd
    assert ("smartlib-kiosk:x:" in passwd) == (role == "kiosk")
    groups = {line.split(":")[0]: line.rstrip().split(":")[3].split(",")
              for line in (root / "etc/group").read_text().splitlines()}
    assert ("smartlib" in groups.get("dialout", [])) == (role != "central")
    copied = root / "etc/smartlib/smartlib.toml"
    assert copied.read_text() == (tmp_path / f"{role}-site.toml").read_text()
    assert copied.stat().st_mode & 0o777 == 0o640
    if role == "central":
        assert (root / "etc/smartlib/central.toml").exists()
    assert SECRET not in output


def test_verify_reports_a_broken_unit(tmp_path: Path) -> None:
    """The verify step can fail: a misspelt value and a missing program are reported."""
    root, _ = installed(tmp_path, "gate")
    unit = root / "etc/systemd/system/smartlib-sync.service"
    text = unit.read_text()
    exe = parse_unit(text)["Service"]["ExecStart"][0].split()[0]
    unit.write_text(text.replace("Restart=always", "Restart=sometimes")
                    .replace(exe, "/nonexistent/smartlib"))
    checked = verify([unit])
    assert checked.returncode != 0
    assert "sometimes" in checked.stderr
    assert "/nonexistent/smartlib is not executable" in checked.stderr


@pytest.mark.parametrize("role", ["kiosk", "gate", "central"])
def test_every_unit_is_notify_with_a_watchdog_restarted_for_ever_and_sandboxed(
        tmp_path: Path, role: str) -> None:
    root, _ = installed(tmp_path, role)
    for name in ROLE_UNITS[role]:
        unit = parse_unit((root / "etc/systemd/system" / name).read_text())
        svc = unit["Service"]
        assert svc["Type"] == ["notify"]
        assert int(svc["WatchdogSec"][0].removesuffix("s")) >= 10
        assert svc["Restart"] == ["always"] and svc["RestartSec"] == ["2s"]
        assert unit["Unit"]["StartLimitIntervalSec"] == ["0"]  # never gives up
        assert "RestartSteps" not in svc  # systemd 252 does not know it
        assert svc["NoNewPrivileges"] == ["yes"] and svc["PrivateTmp"] == ["yes"]
        assert svc["ProtectSystem"] == ["strict"]
        assert unit["Install"]["WantedBy"] == ["multi-user.target"]
        if name == "smartlib-kiosk.service":
            continue
        assert svc["NotifyAccess"] == ["main"]
        for key, value in BACKGROUND_HARDENING.items():
            assert svc[key] == [value], (name, key)


def test_the_edge_gets_devices_and_its_role_the_others_do_not(tmp_path: Path) -> None:
    root, _ = installed(tmp_path, "gate")
    serve = parse_unit((root / "etc/systemd/system/smartlib-serve.service").read_text())
    sync = parse_unit((root / "etc/systemd/system/smartlib-sync.service").read_text())
    exe = serve["Service"]["ExecStart"][0].split()
    assert exe[0].endswith("/smartlib")
    assert exe[1:] == ["serve", "--config", "/etc/smartlib/smartlib.toml", "--role", "gate"]
    assert "dialout" in serve["Service"]["SupplementaryGroups"][0].split()
    assert "pcscd.socket" in serve["Unit"]["After"][0].split()
    assert "pcscd.socket" in serve["Unit"]["Wants"][0].split()
    assert "PrivateDevices" not in serve["Service"]
    assert sync["Service"]["ExecStart"][0].split()[1:] == [
        "sync", "--config", "/etc/smartlib/smartlib.toml"]
    assert sync["Service"]["PrivateDevices"] == ["yes"]
    assert "SupplementaryGroups" not in sync["Service"]


def test_central_runs_the_gateway_and_the_console(tmp_path: Path) -> None:
    root, _ = installed(tmp_path, "central", "--log-json")
    gw = parse_unit((root / "etc/systemd/system/smartlib-gateway.service").read_text())
    console = parse_unit((root / "etc/systemd/system/smartlib-central.service").read_text())
    assert gw["Service"]["ExecStart"][0].split()[1:] == [
        "--log-json", "gateway", "run", "--config", "/etc/smartlib/smartlib.toml"]
    assert console["Service"]["ExecStart"][0].split()[1:] == [
        "--log-json", "central", "serve", "--config", "/etc/smartlib/central.toml"]


def test_the_console_may_write_the_ca_and_the_broker_files_its_enrolment_changes(
        tmp_path: Path) -> None:
    central = central_config(tmp_path)
    central.write_text(central.read_text() + '[enroll]\nca_dir = "/etc/smartlib/ca"\n'
                       'broker_acl_file = "/etc/mosquitto/smartlib/acl"\n'
                       'broker_password_file = "/etc/mosquitto/smartlib/passwd"\n')
    root = tmp_path / "root"
    code, output = run_install(tmp_path, "--role", "central", "--config",
                               str(site_config(tmp_path, "central")), "--prefix", str(root),
                               "--systemd-version", "252", "--central-config", str(central))
    assert code == 0, output
    unit_dir = root / "etc/systemd/system"
    console = parse_unit((unit_dir / "smartlib-central.service").read_text())
    gateway = parse_unit((unit_dir / "smartlib-gateway.service").read_text())
    assert console["Service"]["ReadWritePaths"][0].split() == [
        "/var/lib/smartlib", "-/etc/smartlib/ca", "-/etc/mosquitto/smartlib"]
    assert gateway["Service"]["ReadWritePaths"][0].split() == ["/var/lib/smartlib"]
    checked = verify([unit_dir / "smartlib-central.service"])
    assert checked.returncode == 0 and checked.stderr == "", checked.stderr
    central.write_text('[central]\ndatabase = "sqlite:///central.db"\n'
                       '[enroll]\nbroker_acl_file = "acl"\n')
    code, output = run_install(tmp_path, "--role", "central", "--config",
                               str(site_config(tmp_path, "central")), "--prefix", str(root),
                               "--systemd-version", "252", "--central-config", str(central))
    assert code != 0 and "broker_acl_file must be an absolute path" in output


def test_the_kiosk_window_is_a_cage_session_on_tty1_whose_kiosk_feeds_the_watchdog(
        tmp_path: Path) -> None:
    root, _ = installed(tmp_path, "kiosk")
    unit = parse_unit((root / "etc/systemd/system/smartlib-kiosk.service").read_text())
    svc = unit["Service"]
    words = svc["ExecStart"][0].split()
    # cage is the main process: the kiosk (its child) may notify, without cage's WATCHDOG_PID.
    assert words[:5] == ["/usr/bin/env", "-u", "WATCHDOG_PID", "/usr/bin/cage", "-d"]
    assert words[5] == "--" and words[7:] == ["kiosk", "--config", "/etc/smartlib/smartlib.toml"]
    assert svc["NotifyAccess"] == ["all"]
    assert svc["User"] == ["smartlib-kiosk"] and svc["PAMName"] == ["smartlib-kiosk"]
    assert svc["TTYPath"] == ["/dev/tty1"]
    assert unit["Unit"]["Conflicts"] == ["getty@tty1.service"]
    assert "QT_QPA_PLATFORM=wayland" in svc["Environment"]
    pam = (root / "etc/pam.d/smartlib-kiosk").read_text()
    assert "pam_systemd.so" in pam
    getty = root / "etc/systemd/system/getty@tty1.service"  # masked: tty1 is the kiosk's
    assert getty.is_symlink() and getty.readlink() == Path("/dev/null")


def test_the_broker_restarts_like_the_services_and_runs_the_generated_config(
        tmp_path: Path) -> None:
    shipped = Path("/lib/systemd/system/mosquitto.service")
    if not shipped.exists():
        pytest.fail("mosquitto.service is missing: apt-get install mosquitto (scripts/setup.sh)")
    conf = "/etc/mosquitto/smartlib/mosquitto.conf"
    root, _ = installed(tmp_path, "central", "--broker-config", conf)
    unit_dir = root / "etc/systemd/system"
    dropin = parse_unit((unit_dir / "mosquitto.service.d/smartlib.conf").read_text())
    assert dropin["Service"]["Restart"] == ["always"]
    assert dropin["Unit"]["StartLimitIntervalSec"] == ["0"]
    assert dropin["Service"]["ExecStart"] == ["", f"/usr/sbin/mosquitto -c {conf}"]
    # Debian's unit with the drop-in beside it: systemd reads both, and accepts them.
    (unit_dir / "mosquitto.service").write_text(shipped.read_text())
    checked = verify([unit_dir / "mosquitto.service"])
    assert checked.returncode == 0 and checked.stderr == "", checked.stderr


def test_systemd_254_doubles_the_restart_delay_as_the_demo_supervisor_does(tmp_path: Path) -> None:
    gate = str(site_config(tmp_path, "gate"))
    code, output = run_install(tmp_path, "--role", "gate", "--config", gate,
                               "--dry-run", "--systemd-version", "254")
    assert code == 0, output
    # The demo supervisor's back-off: 0.5 s doubling to 8 s.
    assert output.count("RestartSec=500ms") == 2
    assert output.count("RestartSteps=4") == 2 and output.count("RestartMaxDelaySec=8s") == 2


def test_dry_run_prints_the_units_and_writes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "root"
    code, output = run_install(tmp_path, "--role", "kiosk", "--config", str(site_config(tmp_path)),
                               "--prefix", str(root), "--dry-run")
    assert code == 0, output
    assert not root.exists()
    for name in ROLE_UNITS["kiosk"]:
        assert f"# ==> {root}/etc/systemd/system/{name}" in output
    assert f"# would run: systemctl --root={root} enable " + " ".join(ROLE_UNITS["kiosk"]) in output
    assert SECRET not in output  # the configuration is named, never printed


def test_the_programs_the_units_run_are_named_when_missing(tmp_path: Path) -> None:
    """An empty target root lacks cage and Xwayland: the dry run says which package to add
    (on this machine's root the install refuses instead)."""
    code, output = run_install(tmp_path, "--role", "kiosk", "--config",
                               str(site_config(tmp_path)), "--prefix", str(tmp_path / "root"),
                               "--dry-run")
    assert code == 0, output
    assert "# missing on the target: /usr/bin/cage (apt-get install cage)" in output
    assert "# missing on the target: /usr/bin/Xwayland (apt-get install xwayland)" in output


def test_a_configuration_config_check_rejects_is_not_installed(tmp_path: Path) -> None:
    root = tmp_path / "root"
    bad = site_config(tmp_path, "gate", reader__baudrate="-5")
    code, output = run_install(tmp_path, "--role", "gate", "--config", str(bad),
                               "--prefix", str(root))
    assert code == 1
    assert "reader.baudrate" in output and "config check` rejects" in output
    assert not root.exists()


@pytest.mark.parametrize(("role", "extra", "said"), [
    ("gate", {}, "device.role is 'kiosk'"),
    ("central", {"device__role": '"staff"'}, "set device.role = 'gateway'"),
    ("kiosk", {"store__path": '"/srv/smartlib.db"'}, "store.path = /srv/smartlib.db"),
    ("central", {"gateway__ledger": '"sqlite:////srv/ledger.db"'}, "gateway.ledger"),
])
def test_refusals_name_what_to_change(tmp_path: Path, role: str, extra: dict[str, str],
                                      said: str) -> None:
    config = site_config(tmp_path, role, **extra)
    if role == "gate":  # a kiosk's configuration offered for a gate
        config = site_config(tmp_path, "kiosk")
    args = ["--role", role, "--config", str(config), "--prefix", str(tmp_path / "root")]
    if role == "central":
        args += ["--central-config", str(central_config(tmp_path))]
    code, output = run_install(tmp_path, *args)
    assert code == 1 and said in output, output
    assert not (tmp_path / "root").exists()


def test_a_console_database_outside_the_state_directory_is_refused(tmp_path: Path) -> None:
    code, output = run_install(
        tmp_path, "--role", "central", "--config", str(site_config(tmp_path, "central")),
        "--dry-run",
        "--central-config", str(central_config(tmp_path, "sqlite:////opt/central.db")))
    assert code == 1 and "central.database" in output


def test_an_executable_under_home_is_refused(tmp_path: Path) -> None:
    gate = str(site_config(tmp_path, "gate"))
    code, output = run_install(tmp_path, "--role", "gate", "--config", gate,
                               "--dry-run", "--executable", "/home/someone/venv/bin/smartlib")
    assert code == 1 and "ProtectHome=yes" in output and "/opt/smartlib" in output


def test_an_interpreter_under_root_is_refused(tmp_path: Path) -> None:
    """A venv made from a Python under /root (pyenv) cannot run in the sandbox either."""
    script = tmp_path / "bin/smartlib"
    script.parent.mkdir()
    script.write_text("#!/root/.pyenv/versions/3.11.7/bin/python3\n")
    script.chmod(0o755)
    gate = str(site_config(tmp_path, "gate"))
    code, output = run_install(tmp_path, "--role", "gate", "--config", gate,
                               "--dry-run", "--executable", str(script))
    assert code == 1 and "/root/.pyenv" in output and "ProtectHome=yes" in output


def test_reinstall_over_an_install_is_an_upgrade(tmp_path: Path) -> None:
    root, _ = installed(tmp_path, "gate")
    root2, output = installed(tmp_path, "gate")
    assert root2 == root and "installed and enabled" in output


def test_the_entry_point_runs_it(tmp_path: Path) -> None:
    """`smartlib install` is found through the smartlib.commands entry point."""
    smartlib = Path(__file__).resolve().parents[2] / ".venv/bin/smartlib"
    done = subprocess.run([str(smartlib), "install", "--role", "gate", "--dry-run",
                           "--config", str(site_config(tmp_path, "gate")),
                           "--executable", str(production_script(tmp_path))],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "# ==> /etc/systemd/system/smartlib-serve.service" in done.stdout
