"""``smartlib central``: the first admin, the collector's broker account, and ``serve`` with
its collector child against a real broker."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import httpx
import psutil
from click.testing import CliRunner

from central.cli import central
from central.db import open_database
from central.store import CentralStore
from sync import topics
from sync.broker import verify_password
from sync.messages import DeviceStatus, encode
from tests.support.procs import free_port, wait_port
from tests.sync.gateway.harness import Proc, mqtt_client, wait_until, write_toml

PASSWORD = "quản-trị-viên-1"


def config(tmp_path: Path, *, broker_port: int = 1, web_port: int = 1) -> Path:
    return write_toml(tmp_path / "central.toml", {
        "central": {"database": f"sqlite:///{tmp_path / 'central.db'}", "port": web_port},
        "broker": {"host": "127.0.0.1", "port": broker_port}})


def test_admin_create_from_a_file_or_a_prompt(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    pw = tmp_path / "pw"
    pw.write_text(PASSWORD + "\n")
    runner = CliRunner()
    done = runner.invoke(central, ["admin", "create", "--config", str(cfg), "--user", "boss",
                                   "--password-file", str(pw)])
    assert done.exit_code == 0, done.output
    again = runner.invoke(central, ["admin", "create", "--config", str(cfg), "--user", "boss",
                                    "--password-file", str(pw)])
    assert again.exit_code == 1 and "exists already" in again.output
    prompted = runner.invoke(central, ["admin", "create", "--config", str(cfg), "--user", "lan",
                                       "--role", "librarian"], input=f"{PASSWORD}\n{PASSWORD}\n")
    assert prompted.exit_code == 0, prompted.output
    assert PASSWORD not in prompted.output
    short = runner.invoke(central, ["admin", "create", "--config", str(cfg), "--user", "x1"],
                          input="short\nshort\n")
    assert short.exit_code == 1 and "at least" in short.output
    store = CentralStore(open_database(f"sqlite:///{tmp_path / 'central.db'}"))
    try:
        assert [(a.username, a.role) for a in store.staff.list()] == [("boss", "admin"),
                                                                       ("lan", "librarian")]
        assert store.staff.get("boss").password_hash.startswith("$argon2id$")
    finally:
        store.close()


def test_bad_config_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[central]\nport = "x"\nnope = 1\n')
    done = CliRunner().invoke(central, ["admin", "create", "--config", str(bad), "--user", "a1"])
    assert done.exit_code == 1
    assert "central.port" in done.output and "central.nope" in done.output


def test_broker_account_prints_or_appends(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    printed = CliRunner().invoke(central, ["broker-account", "--config", str(cfg)])
    assert printed.exit_code == 0
    assert printed.output.startswith("user central\ntopic read smartlib/v1/+/+/status\n")
    assert "topic read smartlib/v1/+/staff/conflict" in printed.output
    pw = tmp_path / "pw"
    pw.write_text("collector-secret\n")
    acl, passwd = tmp_path / "acl", tmp_path / "passwd"
    acl.write_text("user kiosk-01\ntopic write x\n")
    passwd.write_text("kiosk-01:$7$…\n")
    done = CliRunner().invoke(central, ["broker-account", "--config", str(cfg), "--user", "hub",
                                        "--password-file", str(pw), "--acl-file", str(acl),
                                        "--passwd-file", str(passwd)])
    assert done.exit_code == 0, done.output
    assert acl.read_text().startswith("user kiosk-01\ntopic write x\n\nuser hub\ntopic read ")
    user, hashed = passwd.read_text().splitlines()[1].split(":", 1)
    assert user == "hub" and verify_password(hashed, "collector-secret")


def test_serve_runs_the_pages_and_the_collector(tmp_path: Path, mosquitto_broker: Any) -> None:
    port = free_port()
    cfg = config(tmp_path, broker_port=mosquitto_broker.port, web_port=port)
    serve = Proc(["central", "serve", "--config", str(cfg)], tmp_path / "serve.log").start()
    try:
        wait_port("127.0.0.1", port, timeout=30)
        assert httpx.get(f"http://127.0.0.1:{port}/login", timeout=5).status_code == 200
        assert httpx.get(f"http://127.0.0.1:{port}/api/fleet", timeout=5).status_code == 401
        assert serve.proc is not None
        [collector] = psutil.Process(serve.proc.pid).children()
        status = DeviceStatus(site="hn-01", device="kiosk-01", state="online", backlog=5)
        with mqtt_client(mosquitto_broker.port) as box:
            box.publish(topics.status("hn-01", "kiosk-01"), encode(status), retain=True)
        store = CentralStore(open_database(f"sqlite:///{tmp_path / 'central.db'}"))
        try:
            device = wait_until(lambda: store.devices.find("hn-01", "kiosk-01"),
                                what=lambda: f"the collector child; log: {serve.output()[-2000:]}")
            assert device.backlog == 5
        finally:
            store.close()
        serve.proc.send_signal(signal.SIGTERM)
        assert serve.wait_exit(30) == 0, serve.output()[-2000:]
        assert not collector.is_running() or collector.status() == psutil.STATUS_ZOMBIE
    finally:
        serve.stop()


def test_serve_speaks_sd_notify_while_it_works(tmp_path: Path) -> None:
    """READY=1 once it serves, WATCHDOG=1 while it turns, STOPPING=1 on SIGTERM (the
    smartlib-central unit is Type=notify with WatchdogSec)."""
    import socket

    path = str(tmp_path / "notify")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(30)
    seen: list[str] = []

    def until(wanted: str) -> None:
        while wanted not in seen:
            seen.extend(s.recv(4096).decode().splitlines())

    cfg = config(tmp_path, web_port=free_port())
    serve = Proc(["central", "serve", "--no-collector", "--config", str(cfg)],
                 tmp_path / "serve.log", {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "2000000"}).start()
    try:
        until("READY=1")
        until("WATCHDOG=1")
        assert serve.proc is not None
        serve.proc.send_signal(signal.SIGTERM)
        until("STOPPING=1")
        assert serve.wait_exit(30) == 0, serve.output()[-2000:]
    finally:
        s.close()
        serve.stop()


def test_site_rename_names_a_configured_site_before_it_is_seen(tmp_path: Path) -> None:
    """The demo's console showed its site's id until an admin named it by hand: the CLI
    names it at start (a site of ``[central] sites`` may be named before its boxes speak),
    audited as the web action is."""
    cfg = write_toml(tmp_path / "central.toml", {
        "central": {"database": f"sqlite:///{tmp_path / 'central.db'}", "port": 1,
                    "sites": ["hn-01"]},
        "broker": {"host": "127.0.0.1", "port": 1}})
    runner = CliRunner()
    done = runner.invoke(central, ["site", "rename", "--config", str(cfg), "hn-01",
                                   "  Thư viện   Demo "])
    assert done.exit_code == 0, done.output
    unknown = runner.invoke(central, ["site", "rename", "--config", str(cfg), "hcm-02", "X"])
    assert unknown.exit_code == 1 and "no site 'hcm-02'" in unknown.output
    bad = runner.invoke(central, ["site", "rename", "--config", str(cfg), "Bad Id", "X"])
    assert bad.exit_code == 1
    store = CentralStore(open_database(f"sqlite:///{tmp_path / 'central.db'}"))
    try:
        assert store.sites.names() == {"hn-01": "Thư viện Demo"}
        [entry] = store.audit.list()
        assert (entry.actor, entry.action, entry.target) == ("cli", "site.rename", "site:hn-01")
        assert entry.detail == {"before": "", "after": "Thư viện Demo"}
        [listed] = store.sites.list()
        assert (listed.first_seen, listed.last_seen) == ("", "")     # named, never seen
        store.sites.touch("hn-01", "2026-12-07T10:00:00Z")           # its boxes speak
        [listed] = store.sites.list()
        assert (listed.name, listed.first_seen, listed.last_seen) == (
            "Thư viện Demo", "2026-12-07T10:00:00Z", "2026-12-07T10:00:00Z")
    finally:
        store.close()
