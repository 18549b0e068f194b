"""The demo system: every process of ``smartlib demo``, configured, started and stopped together.

The demo is an orchestrator only. It starts every component as its own subprocess
(``python -m smartlib.cli …``) and imports none of them, so production code never imports
the simulator (import-linter: ``smartlib`` imports nothing of ours). It:

1. makes a run directory (``var/demo`` by default; wiped only when it is an earlier run's);
2. picks free loopback ports and writes one TOML file per process into it;
3. starts, waiting for each to be ready:

   * ``smartlib sim serve`` (pad reader, gate reader, demo ILS, and the virtual card when a
     pcscd with vpcd is there: an already running pcscd is used, else a private one is
     started);
   * a private ``mosquitto`` with the config, password file and ACL from
     ``smartlib broker config``;
   * ``smartlib gateway run``;
   * ``smartlib central serve`` (the central console, with its collector on its own broker
     account, and a demo admin);
   * a kiosk and a gate ``smartlib serve``, each with its ``smartlib sync``;
   * the cache snapshot (``smartlib sim ils export`` then ``smartlib gateway import``);
   * ``smartlib kiosk`` (unless ``--no-ui`` or ``--headless``);

4. prints the URLs, demo patrons and PINs, and the commands that place items on the pad;
5. on Ctrl-C or SIGTERM stops everything it started, in reverse order (SIGTERM, then
   SIGKILL after a grace period), and nothing else.

``smartlib demo --headless --scenario NAME[,NAME…]`` starts the same processes without the UI,
runs scripted scenarios (:mod:`smartlib_demo.scenarios`) and prints one JSON summary.

Must not do: import ``drivers``, ``edge``, ``sync``, ``kiosk_ui`` or ``hardware_sim``; signal
a process it did not start.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import json
import os
import pwd
import secrets
import selectors
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from smartlib_demo.display import usable_display
from smartlib_demo.errors import DemoError
from smartlib_demo.processes import (
    PcscdLauncher,
    Proc,
    die_with_parent,
    free_ports,
    port_open,
    wait_until,
)
from smartlib_demo.site import (
    DEMO_PATRONS,
    DEVICE_TOKEN,
    GATE,
    HOME_ISIL,
    ILS_LOGIN,
    KIOSK,
    RUN_MARKER,
    SITE,
    SITE_NAME,
    STAFF_TOKEN,
    pick_items,
    toml_dumps,
)
from smartlib_demo.supervisor import Supervisor

DEMO_BANK = {"bin": "970415", "name": "VietinBank", "account": "0011001932418"}
"""The demo library's bank account (the kiosk's VietQR codes name it; nothing secret)."""

CENTRAL_ADMIN = ("admin", "smartlib-demo")
"""The demo's central console login (user, password), printed in the banner."""

NOTIFYING = frozenset({"kiosk-serve", "gate-serve", "kiosk-ui"})
"""The processes that say READY=1 and feed their watchdog from the start (sd_notify); the
others are watched once they send their first WATCHDOG=1 (see supervisor.py)."""

# ---- the system --------------------------------------------------------------------------

@dataclass
class DemoOptions:
    """What to start."""

    run_dir: Path = Path("var/demo")
    ui: bool = True
    card: bool = True
    timing: bool = True
    result_timeout_s: float = 3.0
    python: str = sys.executable
    startup_timeout_s: float = 90.0
    vpcd_port: int | None = None
    watchdog_s: float = 10.0


@dataclass
class DemoSystem:
    """Every process of the demo, started and stopped together."""

    options: DemoOptions
    procs: list[Proc] = field(default_factory=list)
    ports: dict[str, int] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)
    endpoints: dict[str, Any] = field(default_factory=dict)
    credentials: dict[str, str] = field(default_factory=dict)
    pcscd: PcscdLauncher | None = None
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    interrupt: threading.Event = field(default_factory=threading.Event)
    cleanup_dirs: list[Path] = field(default_factory=list)
    supervisor: Supervisor | None = None
    on_supervisor_change: Callable[[str], None] | None = None
    _spawned: dict[str, tuple[list[str], dict[str, str] | None]] = field(default_factory=dict)
    _broker_lock: threading.Lock = field(default_factory=threading.Lock)

    # -- paths and URLs

    @property
    def run_dir(self) -> Path:
        return self.options.run_dir

    @property
    def sim_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['sim_control']}"

    @property
    def kiosk_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['kiosk_api']}"

    @property
    def gate_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['gate_api']}"

    @property
    def central_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['central']}/"

    @property
    def staff_console_url(self) -> str:
        return f"{self.gate_url}/staff#token={STAFF_TOKEN}"

    @property
    def supervisor_state(self) -> Path:
        """The supervisor's JSON state file (per process: restarts, last start, last exit)."""
        return self.run_dir / "supervisor.json"

    @property
    def ils_db(self) -> Path:
        return self.run_dir / "ils.db"

    @property
    def export_dir(self) -> Path:
        return self.run_dir / "export"

    def cli(self, *args: str) -> list[str]:
        return [self.options.python, "-m", "smartlib.cli", *args]

    # -- life cycle

    def start(self) -> DemoSystem:
        """Start every component, waiting for each; on failure stop what was started.

        Raises:
            DemoError: a component did not start (the message names it and its log).
        """
        t0 = time.monotonic()
        try:
            self._prepare_run_dir()
            self.supervisor = Supervisor(self.supervisor_state, watchdog_s=self.options.watchdog_s,
                                         start_timeout_s=self.options.startup_timeout_s,
                                         on_change=self.on_supervisor_change)
            self._pick_ports()
            self._start_sim()
            self._start_broker_config()
            self.start_broker()
            self._start_gateway()
            self._start_central()
            self._start_edges()
            self._wait_gateway_round_trip()
            self._import_cache()
            if self.options.ui:
                self._start_kiosk_ui()
            self._supervise()
        except BaseException:
            self.stop()
            raise
        self.timings["startup_s"] = round(time.monotonic() - t0, 2)
        return self

    def stop(self) -> None:
        """Stop the supervisor, then everything this demo started, newest first."""
        if self.supervisor is not None:
            self.supervisor.stop()
        for p in reversed(self.current_procs()):
            p.stop()
        self.procs.clear()
        if self.pcscd is not None:
            self.pcscd.stop()
            self.pcscd = None
        for d in self.cleanup_dirs:
            shutil.rmtree(d, ignore_errors=True)
        self.cleanup_dirs.clear()

    def __enter__(self) -> DemoSystem:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def proc(self, name: str) -> Proc | None:
        """The process called ``name`` now (after a restart: the new one)."""
        current = self.supervisor.proc(name) if self.supervisor is not None else None
        return current or next((p for p in self.procs if p.name == name), None)

    def current_procs(self) -> list[Proc]:
        """Every process of the demo as it is now, in start order."""
        return [self.proc(p.name) or p for p in self.procs]

    def _supervise(self) -> None:
        """Hand every started process to the supervisor and start it (see supervisor.py)."""
        assert self.supervisor is not None
        for p in self.procs:
            self.supervisor.adopt(p, functools.partial(self._respawn, p.name),
                                  notify=p.name in NOTIFYING, final=p.name == "kiosk-ui")
        self.supervisor.start()

    def _respawn(self, name: str) -> Proc:
        args, env = self._spawned[name]
        return self._popen(name, args, stdout_pipe=False, env=env)

    def check_alive(self) -> str | None:
        """The first dead process's reason, if any died (or the demo was interrupted)."""
        if self.interrupt.is_set():
            return "interrupted"
        for p in self.current_procs():
            why = p.why_dead()
            if why:
                return why
        return None

    def spawn(self, name: str, args: list[str], *, stdout_pipe: bool = False,
              env: dict[str, str] | None = None) -> Proc:
        """Start one process in its own session (Ctrl-C reaches the demo only), with its
        notify socket and watchdog (``$NOTIFY_SOCKET``, ``$WATCHDOG_USEC``)."""
        self._spawned[name] = (args, env)
        p = self._popen(name, args, stdout_pipe=stdout_pipe, env=env)
        self.procs.append(p)
        return p

    def _popen(self, name: str, args: list[str], *, stdout_pipe: bool,
               env: dict[str, str] | None) -> Proc:
        logf = self.run_dir / "logs" / f"{name}.log"
        notify = self.supervisor.notify_env(name) if self.supervisor is not None else {}
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **notify, **(env or {})}
        with open(logf, "ab") as out:
            popen = subprocess.Popen(args, stdout=subprocess.PIPE if stdout_pipe else out,
                                     stderr=out, stdin=subprocess.DEVNULL, env=full_env,
                                     cwd=Path.cwd(), start_new_session=True,
                                     preexec_fn=die_with_parent)
        return Proc(name, popen, logf)

    def run_cli(self, *args: str, timeout: float = 120) -> str:
        """Run a short smartlib command to completion and return its stdout.

        Raises:
            DemoError: it failed (its stderr is in the message).
        """
        done = subprocess.run(self.cli(*args), capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            raise DemoError(f"`smartlib {' '.join(args[:3])} …` failed ({done.returncode}): "
                            f"{done.stderr.strip()[-1500:]}")
        return done.stdout

    # -- steps

    def _prepare_run_dir(self) -> None:
        d = self.run_dir
        if d.exists() and any(d.iterdir()):
            if not (d / RUN_MARKER).exists():
                raise DemoError(f"{d} is not empty and not a demo run directory; "
                                "give another --run-dir")
            shutil.rmtree(d)
        (d / "logs").mkdir(parents=True, exist_ok=True)
        (d / RUN_MARKER).write_text("written by smartlib demo; removed on the next run\n")
        self.options.run_dir = d.resolve()

    def _pick_ports(self) -> None:
        names = ("sim_control", "pad_tcp", "gate_tcp", "ils", "mqtt", "kiosk_api", "gate_api",
                 "central")
        self.ports = dict(zip(names, free_ports(len(names)), strict=True))

    def _start_sim(self) -> None:
        world = {"simulator": {"zones": ["pad", "gate-in", "gate-out"], "seed": 1}}
        text = toml_dumps(world)
        text += (f'[[reader]]\nname = "pad"\nantennas = ["pad"]\ntcp_port = {self.ports["pad_tcp"]}\n'
                 f"pty = false\n\n"
                 f'[[reader]]\nname = "gate"\nantennas = ["gate-in", "gate-out"]\n'
                 f'tcp_port = {self.ports["gate_tcp"]}\npty = false\n')
        path = self.run_dir / "sim.toml"
        path.write_text(text)
        self.files["sim"] = path
        args = ["sim", "serve", "--world", str(path), "--control-port",
                str(self.ports["sim_control"]), "--ils-port", str(self.ports["ils"]),
                "--ils-db", str(self.ils_db),
                # the simulated bank pays a kiosk's QR by posting to the console's webhook
                "--bank-webhook", f"http://127.0.0.1:{self.ports['central']}/payments/webhook",
                "--bank-secret-file", str(self._bank_secret_file())]
        if not self.options.timing:
            args.append("--no-timing")
        if self.options.card:
            self.pcscd = PcscdLauncher(self.run_dir, self.options.vpcd_port)
            vport = self.pcscd.start()
            self.notes.append(f"PC/SC: {self.pcscd.reason}")
            if vport is None:
                self.options.card = False
            else:
                args += ["--vpcd", f"127.0.0.1:{vport}"]
        if not self.options.card:
            args += ["--vpcd", "none"]  # never the machine's own pcscd (the default port)
        sim = self.spawn("sim", self.cli(*args), stdout_pipe=True)
        line = self._read_json_line(sim, 60)
        self.endpoints["sim"] = line
        self.run_cli("sim", "ils", "export", "--out", str(self.export_dir), "--db", str(self.ils_db))

    def _bank_secret_file(self) -> Path:
        """The bank webhook's shared secret (made once per run directory), given to the
        simulated bank and the central console."""
        path = self.run_dir / "bank-webhook.secret"
        if not path.exists():
            path.write_text(secrets.token_urlsafe(32) + "\n")
            path.chmod(0o600)
        return path

    def _read_json_line(self, proc: Proc, timeout: float) -> dict[str, Any]:
        assert proc.popen.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(proc.popen.stdout, selectors.EVENT_READ)
        buf = b""
        deadline = time.monotonic() + timeout
        try:
            while b"\n" not in buf:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise DemoError(f"{proc.name}: printed no endpoints within {timeout:.0f}s")
                if sel.select(min(left, 0.5)):
                    chunk = os.read(proc.popen.stdout.fileno(), 65536)
                    if not chunk:
                        raise DemoError(proc.why_dead() or f"{proc.name} closed its output")
                    buf += chunk
                elif not proc.alive():
                    raise DemoError(proc.why_dead() or proc.name)
        finally:
            sel.close()
        first = buf.split(b"\n", 1)[0]
        try:
            data: dict[str, Any] = json.loads(first)
        except ValueError as exc:
            raise DemoError(f"{proc.name} printed {first[:200]!r}, not JSON") from exc
        return data

    def _start_broker_config(self) -> None:
        out = self.run_dir / "broker"
        if os.geteuid() == 0:
            # Started as root, mosquitto drops to the 'mosquitto' user, which may not be able
            # to reach the run directory (pytest's tmp is 0700): use a directory of its own.
            out = Path(tempfile.mkdtemp(prefix="smartlib-demo-broker-"))
            self.cleanup_dirs.append(out)
            (self.run_dir / "broker").symlink_to(out)
        self.run_cli("broker", "config", "--site", SITE, "--devices", f"{KIOSK},{GATE}",
                     "--port", str(self.ports["mqtt"]), "--bind", "127.0.0.1", "--out", str(out))
        with open(out / "credentials.toml", "rb") as fh:
            creds = tomllib.load(fh)
        self.credentials = {u: str(v["password"]) for u, v in creds.items()}
        # The central console's collector: its own read-only account, added to the same files.
        self.credentials["central"] = secrets.token_urlsafe(18)
        secret = self.run_dir / "central-broker.pw"
        secret.write_text(self.credentials["central"])
        secret.chmod(0o600)
        self.run_cli("central", "broker-account", "--user", "central", "--password-file",
                     str(secret), "--acl-file", str(out / "acl"), "--passwd-file",
                     str(out / "passwd"))
        self.files["mosquitto"] = out / "mosquitto.conf"
        if os.geteuid() == 0:
            # Started as root, mosquitto drops to the 'mosquitto' user, which must read them.
            try:
                pw = pwd.getpwnam("mosquitto")
            except KeyError:
                return
            for dirpath, _dirs, names in os.walk(out):
                os.chown(dirpath, pw.pw_uid, pw.pw_gid)
                for n in names:
                    os.chown(os.path.join(dirpath, n), pw.pw_uid, pw.pw_gid)

    def start_broker(self) -> None:
        """Start the private Mosquitto on its port and persistence directory; once supervised,
        release it after :meth:`stop_broker` (and wait for its port either way)."""
        with self._broker_lock:
            supervised = self.supervisor is not None and self.supervisor.proc("mosquitto")
            if supervised:
                assert self.supervisor is not None
                self.supervisor.release("mosquitto")
                alive: Callable[[], str | None] | None = None  # a crash is restarted
            else:
                binary = shutil.which("mosquitto") or (
                    "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
                if binary is None:
                    raise DemoError("mosquitto is not installed (apt-get install mosquitto)")
                alive = self.spawn("mosquitto", [binary, "-c", str(self.files["mosquitto"])]).why_dead
            wait_until(lambda: port_open("127.0.0.1", self.ports["mqtt"]), 30, "mosquitto",
                       alive, interval=0.05)

    def stop_broker(self) -> None:
        """Stop the private Mosquitto (a scenario's network outage); the supervisor holds it
        down until :meth:`start_broker`."""
        with self._broker_lock:
            if self.supervisor is not None and self.supervisor.proc("mosquitto"):
                self.supervisor.hold("mosquitto")

    def _broker_section(self, user: str) -> dict[str, Any]:
        return {"host": "127.0.0.1", "port": self.ports["mqtt"], "username": user,
                "password": self.credentials[user]}

    def _start_gateway(self) -> None:
        cfg: dict[str, dict[str, Any]] = {
            "site": {"id": SITE, "name": SITE_NAME, "isil": HOME_ISIL},
            "device": {"id": "gateway-1", "role": "gateway"},
            "reader": {"enabled": False},
            "card_reader": {"enabled": False},
            "broker": self._broker_section("gateway"),
            "ils": {"profile": "generic", "host": "127.0.0.1", "port": self.ports["ils"],
                    "user": ILS_LOGIN["user"], "password": ILS_LOGIN["password"],
                    "institution": ILS_LOGIN["institution"], "location": ILS_LOGIN["location"],
                    "pool_size": 4},
            "store": {"path": self.run_dir / "gateway-unused.db"},
            "gateway": {"ledger": f"sqlite:///{self.run_dir / 'ledger.db'}", "sites": [SITE],
                        "private_key_file": str(self._pin_key_file())},
        }
        path = self.run_dir / "gateway.toml"
        path.write_text(toml_dumps(cfg))
        self.files["gateway"] = path
        self.spawn("gateway", self.cli("gateway", "run", "--config", str(path)))

    def _start_central(self) -> None:
        """The central console with its collector, and the demo admin account."""
        cfg = {"central": {"database": f"sqlite:///{self.run_dir / 'central.db'}",
                           "host": "127.0.0.1", "port": self.ports["central"],
                           "sites": [SITE]},
               "broker": self._broker_section("central"),
               "payments": {"webhook_secret_file": str(self._bank_secret_file())}}
        path = self.run_dir / "central.toml"
        path.write_text(toml_dumps(cfg))
        self.files["central"] = path
        secret = self.run_dir / "central-admin.pw"
        secret.write_text(CENTRAL_ADMIN[1])
        self.run_cli("central", "admin", "create", "--config", str(path), "--user",
                     CENTRAL_ADMIN[0], "--password-file", str(secret), "--display-name",
                     "Demo admin")
        # The console knows the library by its boxes' id; give it the boxes' [site] name
        # (audited as site.rename by cli), so no page shows "demo-site" until renamed.
        self.run_cli("central", "site", "rename", "--config", str(path), SITE, SITE_NAME)
        proc = self.spawn("central", self.cli("central", "serve", "--config", str(path)))
        wait_until(lambda: port_open("127.0.0.1", self.ports["central"]),
                   self.options.startup_timeout_s, "central console", proc.why_dead,
                   interval=0.1)

    def _pin_key_file(self) -> Path:
        """The demo site's PIN-sealing private key (made once per run directory)."""
        from smartlib.sealing import generate_keypair, write_private_key

        path = self.run_dir / "gateway-pin.key"
        if not path.exists():
            write_private_key(generate_keypair()[0], path)
        return path

    def _pin_public_key(self) -> str:
        """The public half of :meth:`_pin_key_file`, for the boxes' ``[gateway] public_key``."""
        from smartlib.sealing import load_private_key, public_text

        return public_text(load_private_key(self._pin_key_file()))

    def edge_config(self, role: str) -> dict[str, dict[str, Any]]:
        """The site configuration of the kiosk or gate box."""
        device = KIOSK if role == "kiosk" else GATE
        sim_readers = self.endpoints["sim"]["readers"]
        reader = sim_readers["pad" if role == "kiosk" else "gate"]
        api_port = self.ports["kiosk_api" if role == "kiosk" else "gate_api"]
        return {
            "site": {"id": SITE, "name": SITE_NAME, "isil": HOME_ISIL,
                     "opening_hours": "08:00–20:00"},
            "device": {"id": device, "role": role},
            "reader": {"driver": "feig", "url": reader["url"], "baudrate": 38400,
                       "antennas": reader["antennas"], "poll_interval_ms": 200 if role == "kiosk"
                       else 50},
            "card_reader": {"enabled": role == "kiosk" and self.options.card,
                            "name_pattern": "Virtual PCD", "identity": "iso28560"},
            "security": {"mode": "afi", "afi_secured": 0x07, "afi_released": 0xC2},
            "broker": self._broker_section(device),
            "ils": {"institution": ILS_LOGIN["institution"], "location": ILS_LOGIN["location"]},
            "store": {"path": self.run_dir / f"{role}.db"},
            "policy": {"result_timeout_s": self.options.result_timeout_s,
                       "offline_max_items": 5, "offline_login": "cached",
                       "partial_set": "reject", "session_idle_s": 120,
                       # the demo ILS's sort bins, as labelled on the demo's return bins
                       "sort_bin_labels": {"SHELF": "A", "HOLD": "B", "TRANSIT": "C"}},
            "gate": {"detection": "afi+database", "debounce_s": 10.0,
                     "alarm_directions": ["out", "unknown"], "alarm_duration_ms": 3000,
                     "inner_antenna": "gate-in", "outer_antenna": "gate-out"},
            "api": {"host": "127.0.0.1", "port": api_port, "device_token": DEVICE_TOKEN,
                    # The demo's scripts use the shared staff token; keep it once the central
                    # console's staff accounts (the demo admin) are cached on the boxes.
                    "staff_token": STAFF_TOKEN, "staff_token_fallback": True,
                    "process_state": self.supervisor_state},
            "kiosk": {"edge_url": f"http://127.0.0.1:{self.ports['kiosk_api']}",
                      "language": "vi", "fullscreen": False},
            "gateway": {"public_key": self._pin_public_key()},
            # two boxes: the other box's counts on the staff console may go every 2 s (the
            # 15 s default spares a large site's boxes, each of which receives every one)
            "sync": {"stats_live_interval_s": 2.0},
            # the library's own (demo) account the kiosk's VietQR codes pay into
            "payments": {"enabled": role == "kiosk", "bank_bin": DEMO_BANK["bin"],
                         "bank_name": DEMO_BANK["name"], "account": DEMO_BANK["account"],
                         "qr_ttl_s": 600},
        }

    def _start_edges(self) -> None:
        for role in ("kiosk", "gate"):
            path = self.run_dir / f"{role}.toml"
            path.write_text(toml_dumps(self.edge_config(role)))
            self.files[role] = path
            self.spawn(f"{role}-serve", self.cli("serve", "--config", str(path), "--role", role))
        limit = self.options.startup_timeout_s
        for role, url in (("kiosk", self.kiosk_url), ("gate", self.gate_url)):
            def up(u: str = url) -> bool:
                return _health(u) is not None

            wait_until(up, limit, f"{role} edge at {url}", self.check_alive, interval=0.2)
        # Each agent starts once its serve has created and migrated the store: two processes
        # migrating a new store file at once can both try to create its tables.
        for role in ("kiosk", "gate"):
            self.spawn(f"{role}-sync", self.cli("sync", "--config", str(self.files[role])))

    def _wait_gateway_round_trip(self) -> None:
        """Log in once through edge → agent → broker → gateway → ILS and back."""
        patron, pin = DEMO_PATRONS[0][:2]
        headers = {"Authorization": f"Bearer {DEVICE_TOKEN}"}

        def attempt() -> bool:
            try:
                r = httpx.post(f"{self.kiosk_url}/sessions", headers=headers, timeout=30,
                               json={"credential": {"source": "barcode", "identifier": patron,
                                                    "pin": pin}, "language": "en"})
            except httpx.HTTPError:
                return False
            if r.status_code != 201:
                return False
            body = r.json()
            with contextlib.suppress(httpx.HTTPError):
                httpx.delete(f"{self.kiosk_url}/sessions/{body['id']}", headers=headers, timeout=10)
            return not body.get("offline", True)

        wait_until(attempt, self.options.startup_timeout_s, "gateway round trip (patron login)",
                   self.check_alive, interval=0.5)

    def _import_cache(self) -> None:
        """Send the demo ILS's export (items, patrons, loans, holds) as the cache snapshot;
        `smartlib gateway import` reads `smartlib sim ils export`'s files as they are."""
        ex = self.export_dir
        self.run_cli("gateway", "import", "--config", str(self.files["gateway"]), "--site", SITE,
                     "--items", str(ex / "items.csv"), "--patrons", str(ex / "patrons.csv"),
                     "--loans", str(ex / "loans.csv"), "--holds", str(ex / "holds.csv"))
        self.endpoints["cache_kinds"] = ["items", "patrons", "loans", "holds"]
        with open(ex / "items.csv", encoding="utf-8") as fh:
            expected = sum(1 for _ in csv.DictReader(fh))
        for role in ("kiosk", "gate"):
            def loaded(r: str = role) -> bool:
                return self.cached_items(r) >= expected

            wait_until(loaded, self.options.startup_timeout_s, f"cache snapshot at the {role}",
                       self.check_alive, interval=0.3)

    def cached_items(self, role: str) -> int:
        """Items in an edge's cache, read from its store file (read-only)."""
        import sqlite3

        path = self.run_dir / f"{role}.db"
        try:
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
            try:
                return int(db.execute("SELECT COUNT(*) FROM items").fetchone()[0])
            finally:
                db.close()
        except sqlite3.Error:
            return 0

    def _start_kiosk_ui(self) -> None:
        env = {}
        if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
            env["QT_QPA_PLATFORM"] = os.environ.get("QT_QPA_PLATFORM", "offscreen")
            self.notes.append("no DISPLAY: the kiosk window runs offscreen "
                              "(run `make demo` in a desktop session to see it)")
        elif "QT_QPA_PLATFORM" not in os.environ and usable_display() is None:
            # Qt would abort at every start and the supervisor restart it for ever.
            env["QT_QPA_PLATFORM"] = "offscreen"
            named = " / ".join(f"{k}={os.environ[k]}" for k in ("WAYLAND_DISPLAY", "DISPLAY")
                               if os.environ.get(k))
            self.notes.append(f"{named}: no display answers there, so the kiosk window runs "
                              "offscreen (start an X server or Wayland session first, e.g. "
                              "`xvfb-run -a make demo`, to see it)")
        self.spawn("kiosk-ui", self.cli("kiosk", "--config", str(self.files["kiosk"]),
                                        "--windowed"), env=env)

    # -- what to tell the user

    def process_lines(self) -> list[str]:
        """The supervised processes with their pid and restart count (for the banner)."""
        snap = self.supervisor.snapshot() if self.supervisor is not None else {}
        lines = [f"Processes (supervised: a process that dies or hangs is restarted; state in "
                 f"{self.supervisor_state}, restarts also on the staff console):"]
        for name, v in snap.items():
            last = f", last exit: {v['last_exit']}" if v["last_exit"] else ""
            lines.append(f"  {name:12} pid {v['pid']:<8} {v['state']:10} restarts {v['restarts']}{last}")
        return lines

    def banner(self) -> str:
        items = pick_items(self.export_dir, 3, kind="available")
        ctl = f"{smartlib_command()} sim ctl --url {self.sim_url}"
        lines = [
            "",
            "smartlib demo is running. Everything is simulated; logs are in "
            f"{self.run_dir / 'logs'}",
            "",
            f"  kiosk API       {self.kiosk_url}   (device token {DEVICE_TOKEN})",
            f"  staff console   {self.staff_console_url}",
            f"  central console {self.central_url}   (demo admin: {CENTRAL_ADMIN[0]} / "
            f"{CENTRAL_ADMIN[1]})",
            f"  gate API        {self.gate_url}",
            f"  simulator       {self.sim_url}",
            f"  demo ILS        SIP2 127.0.0.1:{self.ports['ils']} "
            f"(user {ILS_LOGIN['user']}, password {ILS_LOGIN['password']}, institution "
            f"{ILS_LOGIN['institution']})",
            f"  MQTT broker     127.0.0.1:{self.ports['mqtt']} (credentials in "
            f"{self.run_dir / 'broker' / 'credentials.toml'})",
            "",
            "Demo patrons (card number / PIN):",
            *(f"  {pid} / {pin}   {name}: {note}" for pid, pin, name, note in DEMO_PATRONS),
            "",
            "Borrow a book (in another terminal, from this directory):",
        ]
        if self.options.card:
            lines.append(f"  {ctl} card insert --patron {DEMO_PATRONS[0][0]}"
                         "      # tap the library card: the kiosk logs in and shows the menu")
        else:
            lines.append("  (no PC/SC card reader: on the kiosk, type the card number and PIN)")
        lines += [
            *(f"  {ctl} place --item {i} --isil {HOME_ISIL}" for i in items[:2]),
            "  … then press Borrow (Mượn sách) on the kiosk: the books on the pad are "
            "borrowed and listed with their due dates.",
            "",
            "Walk through the gate with the borrowed book and one that was not borrowed:",
            f"  {ctl} walk {items[0]} {items[2]} --reader gate --direction out",
            "  … the staff console shows one alarm, for the book that was not borrowed.",
            "",
            "Pay fines by VietQR (patron 2000003 owes 75,000 VND): log in as 2000003 on the "
            "kiosk, My account -> Pay fines -> Pay; the kiosk shows the QR and its reference:",
            f"  {ctl} bank pay --ref REFERENCE --amount 75000"
            "      # the bank's signed notification -> the centre -> SIP2 Fee Paid",
            f"  … the kiosk says Paid; the central console's Payments page ({self.central_url}"
            "payments) lists it.",
            "",
            "Faults: " + f"{ctl} fault pad fail_afi --count 3   |   {ctl} status",
            "",
            *self.process_lines(),
            "",
            "Stop with Ctrl-C (or close the kiosk window).",
            *(f"note: {n}" for n in self.notes),
            "",
        ]
        return "\n".join(lines)



def smartlib_command() -> str:
    """How to run ``smartlib`` from this shell: on PATH, else this venv's script."""
    if shutil.which("smartlib"):
        return "smartlib"
    script = Path(sys.executable).parent / "smartlib"
    if script.exists():
        try:
            return str(script.relative_to(Path.cwd()))
        except ValueError:
            return str(script)
    return f"{sys.executable} -m smartlib.cli"


def _health(url: str) -> dict[str, Any] | None:
    try:
        r = httpx.get(f"{url}/health", timeout=2)
    except httpx.HTTPError:
        return None
    if r.status_code != 200:
        return None
    body: dict[str, Any] = r.json()
    return body


