"""``smartlib demo``: start the whole system on simulated devices, wired together.

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
   * a kiosk and a gate ``smartlib serve``, each with its ``smartlib sync``;
   * the cache snapshot (``smartlib sim ils export`` then ``smartlib gateway import``);
   * ``smartlib kiosk`` (unless ``--no-ui`` or ``--headless``);

4. prints the URLs, demo patrons and PINs, and the commands that place items on the pad;
5. on Ctrl-C or SIGTERM stops everything it started, in reverse order (SIGTERM, then
   SIGKILL after a grace period), and nothing else.

``smartlib demo --headless --scenario NAME[,NAME…]`` starts the same processes without the UI,
runs scripted scenarios (:mod:`smartlib.scenarios`) and prints one JSON summary.

Must not do: import ``drivers``, ``edge``, ``sync``, ``kiosk_ui`` or ``hardware_sim``; signal
a process it did not start.
"""

from __future__ import annotations

import contextlib
import csv
import ctypes
import json
import logging
import os
import pwd
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import httpx

from smartlib.errors import SmartlibError

log = logging.getLogger("smartlib.demo")

SITE = "demo-site"
KIOSK = "kiosk-01"
GATE = "gate-01"
RUN_MARKER = ".smartlib-demo"
DEVICE_TOKEN = "demo-device-token"
STAFF_TOKEN = "demo-staff-token"
# The demo ILS's SIP2 login and home library (hardware_sim/ils/data.py, docs/demo-ils.md).
ILS_LOGIN = {"user": "kiosk01", "password": "s3cret", "institution": "VNLIB", "location": "MAIN"}
HOME_ISIL = "VN-HN0001"
DEMO_PATRONS = (("2000001", "1234", "Nguyễn Văn An", "good standing"),
                ("2000004", "4567", "Lê Minh Châu", "good standing, holds waiting"),
                ("2000002", "2345", "Trần Thị Bình", "blocked: card reported lost"))
VPCD_STANDARD_PORT = 35963
VPCD_LIBS = ("/usr/lib/pcsc/drivers/serial/libifdvpcd.so",
             "/usr/lib/pcsc/drivers/serial/libifdvpcd.so.0.8")
PR_SET_PDEATHSIG = 1


class DemoError(SmartlibError):
    """A component of the demo did not start or is missing; the message says which and why."""


# ---- small helpers -----------------------------------------------------------------------

def free_ports(count: int) -> list[int]:
    """``count`` distinct loopback ports that are free now."""
    socks, ports = [], []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.3):
            return True
    except OSError:
        return False


def toml_dumps(doc: dict[str, dict[str, Any]]) -> str:
    """A TOML text for ``{section: {key: value}}`` (str, int, float, bool, lists of them)."""

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | float):
            return repr(v)
        if isinstance(v, str | Path):
            return json.dumps(str(v), ensure_ascii=False)
        if isinstance(v, list | tuple):
            return "[" + ", ".join(value(x) for x in v) + "]"
        raise TypeError(f"cannot write {type(v).__name__} to TOML")

    out = []
    for section, body in doc.items():
        out.append(f"[{section}]")
        out += [f"{k} = {value(v)}" for k, v in body.items() if v is not None]
        out.append("")
    return "\n".join(out)


def _die_with_parent() -> None:
    """Run in the child before exec: get SIGTERM if the demo dies (Linux prctl)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        return


def wait_until(pred: Callable[[], Any], timeout: float, what: str,
               alive: Callable[[], str | None] | None = None, interval: float = 0.1) -> Any:
    """Poll ``pred`` until truthy; ``alive`` returns a reason when a process died.

    Raises:
        DemoError: the timeout passed or ``alive`` reported a dead process.
    """
    deadline = time.monotonic() + timeout
    while True:
        got = pred()
        if got:
            return got
        dead = alive() if alive else None
        if dead:
            raise DemoError(f"{what}: {dead}")
        if time.monotonic() > deadline:
            raise DemoError(f"{what}: not ready after {timeout:.0f}s")
        time.sleep(interval)


@dataclass
class Proc:
    """One process the demo started; its output goes to ``log``."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def why_dead(self) -> str | None:
        if self.alive():
            return None
        return (f"{self.name} exited with {self.popen.returncode}; last lines of {self.log}:\n"
                + tail(self.log))

    def stop(self, grace: float = 8.0) -> None:
        """SIGTERM, then SIGKILL after ``grace`` seconds; always reaps."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop within %.0fs; killing it", self.name, grace)
                self.popen.kill()
                self.popen.wait(5)
        if self.popen.stdout is not None:
            self.popen.stdout.close()


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(cannot read {path}: {exc.strerror})"


# ---- PC/SC ---------------------------------------------------------------------------------

def _pcscd_pids() -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if (d / "comm").read_text().strip() == "pcscd":
                    out.append(int(d.name))
            except OSError:
                continue
    return out


def _vpcd_port_of(pid: int) -> int:
    """The vpcd port of a running pcscd: its ``-c DIR`` reader config, else the standard one."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        argv = []
    dirs = [Path("/etc/reader.conf.d")]
    for i, a in enumerate(argv):
        if a in (b"-c", b"--config") and i + 1 < len(argv):
            dirs.insert(0, Path(argv[i + 1].decode()))
    for d in dirs:
        files = [d] if d.is_file() else sorted(d.glob("*")) if d.is_dir() else []
        for f in files:
            try:
                text = f.read_text(errors="replace")
            except OSError:
                continue
            if "vpcd" not in text.lower():
                continue
            for line in text.splitlines():
                parts = line.split()
                if len(parts) == 2 and parts[0] == "CHANNELID":
                    return int(parts[1], 0)
    return VPCD_STANDARD_PORT


class PcscdLauncher:
    """Use a running pcscd (and its vpcd port), or start a private one with vpcd."""

    def __init__(self, run_dir: Path, port: int | None = None) -> None:
        self.run_dir = run_dir
        self.proc: Proc | None = None
        self.port: int | None = port
        self.reason = ""

    def start(self) -> int | None:
        """Returns the vpcd port, or None (with ``reason``) when PC/SC is not available."""
        running = _pcscd_pids()
        if running and self.port is not None:
            self.reason = (f"using the running pcscd (pid {running[0]}), vpcd port {self.port} "
                           "(--vpcd-port)")
            return self.port
        if running:
            self.port = _vpcd_port_of(running[0])
            self.reason = f"using the running pcscd (pid {running[0]}), vpcd port {self.port}"
            return self.port
        binary = shutil.which("pcscd") or ("/usr/sbin/pcscd" if Path("/usr/sbin/pcscd").exists()
                                           else None)
        lib = next((p for p in VPCD_LIBS if Path(p).exists()), None)
        if binary is None or lib is None:
            self.reason = ("pcscd or vsmartcard-vpcd is not installed "
                           "(apt-get install pcscd vsmartcard-vpcd); the card login is off")
            return None
        port = free_ports(1)[0]
        conf = self.run_dir / "pcscd"
        conf.mkdir(exist_ok=True)
        (conf / "vpcd").write_text(f'FRIENDLYNAME "Virtual PCD"\nDEVICENAME   /dev/null:0x{port:04X}\n'
                                   f"LIBPATH      {lib}\nCHANNELID    0x{port:04X}\n")
        Path("/run/pcscd").mkdir(parents=True, exist_ok=True)
        logf = self.run_dir / "logs" / "pcscd.log"
        with open(logf, "wb") as out:
            popen = subprocess.Popen([binary, "-f", "-c", str(conf)], stdout=out,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True, preexec_fn=_die_with_parent)
        self.proc = Proc("pcscd", popen, logf)
        try:
            wait_until(lambda: Path("/run/pcscd/pcscd.comm").exists(), 15, "pcscd",
                       self.proc.why_dead)
        except DemoError as exc:
            self.stop()
            self.reason = f"{exc}; the card login is off"
            return None
        self.port = port
        self.reason = f"started a private pcscd (pid {popen.pid}), vpcd port {port}"
        return port

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()
            self.proc = None


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
    def staff_console_url(self) -> str:
        return f"{self.gate_url}/staff#token={STAFF_TOKEN}"

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
            self._pick_ports()
            self._start_sim()
            self._start_broker_config()
            self.start_broker()
            self._start_gateway()
            self._start_edges()
            self._wait_gateway_round_trip()
            self._import_cache()
            if self.options.ui:
                self._start_kiosk_ui()
        except BaseException:
            self.stop()
            raise
        self.timings["startup_s"] = round(time.monotonic() - t0, 2)
        return self

    def stop(self) -> None:
        """Stop everything this demo started, newest first."""
        for p in reversed(self.procs):
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
        return next((p for p in self.procs if p.name == name), None)

    def check_alive(self) -> str | None:
        """The first dead process's reason, if any died (or the demo was interrupted)."""
        if self.interrupt.is_set():
            return "interrupted"
        for p in self.procs:
            why = p.why_dead()
            if why:
                return why
        return None

    def spawn(self, name: str, args: list[str], *, stdout_pipe: bool = False,
              env: dict[str, str] | None = None) -> Proc:
        """Start one process in its own session (Ctrl-C reaches the demo only)."""
        logf = self.run_dir / "logs" / f"{name}.log"
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        with open(logf, "ab") as out:
            popen = subprocess.Popen(args, stdout=subprocess.PIPE if stdout_pipe else out,
                                     stderr=out, stdin=subprocess.DEVNULL, env=full_env,
                                     cwd=Path.cwd(), start_new_session=True,
                                     preexec_fn=_die_with_parent)
        p = Proc(name, popen, logf)
        self.procs.append(p)
        return p

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
        names = ("sim_control", "pad_tcp", "gate_tcp", "ils", "mqtt", "kiosk_api", "gate_api")
        self.ports = dict(zip(names, free_ports(len(names)), strict=True))

    def _start_sim(self) -> None:
        scenario = {"simulator": {"zones": ["pad", "gate-in", "gate-out"], "seed": 1}}
        text = toml_dumps(scenario)
        text += (f'[[reader]]\nname = "pad"\nantennas = ["pad"]\ntcp_port = {self.ports["pad_tcp"]}\n'
                 f"pty = false\n\n"
                 f'[[reader]]\nname = "gate"\nantennas = ["gate-in", "gate-out"]\n'
                 f'tcp_port = {self.ports["gate_tcp"]}\npty = false\n')
        path = self.run_dir / "sim.toml"
        path.write_text(text)
        self.files["sim"] = path
        args = ["sim", "serve", "--scenario", str(path), "--control-port",
                str(self.ports["sim_control"]), "--ils-port", str(self.ports["ils"]),
                "--ils-db", str(self.ils_db)]
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
        """Start (or restart) the private Mosquitto on its port and persistence directory."""
        with self._broker_lock:
            binary = shutil.which("mosquitto") or (
                "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
            if binary is None:
                raise DemoError("mosquitto is not installed (apt-get install mosquitto)")
            old = self.proc("mosquitto")
            if old is not None and old.alive():
                return
            if old is not None:
                self.procs.remove(old)
            p = self.spawn("mosquitto", [binary, "-c", str(self.files["mosquitto"])])
            wait_until(lambda: port_open("127.0.0.1", self.ports["mqtt"]), 15, "mosquitto",
                       p.why_dead, interval=0.05)

    def stop_broker(self) -> None:
        """Stop the private Mosquitto (a scenario's network outage)."""
        with self._broker_lock:
            p = self.proc("mosquitto")
            if p is not None:
                p.stop()
                self.procs.remove(p)

    def _broker_section(self, user: str) -> dict[str, Any]:
        return {"host": "127.0.0.1", "port": self.ports["mqtt"], "username": user,
                "password": self.credentials[user]}

    def _start_gateway(self) -> None:
        cfg: dict[str, dict[str, Any]] = {
            "site": {"id": SITE, "name": "Thư viện Demo", "isil": HOME_ISIL},
            "device": {"id": "gateway-1", "role": "gateway"},
            "reader": {"enabled": False},
            "card_reader": {"enabled": False},
            "broker": self._broker_section("gateway"),
            "ils": {"profile": "generic", "host": "127.0.0.1", "port": self.ports["ils"],
                    "user": ILS_LOGIN["user"], "password": ILS_LOGIN["password"],
                    "institution": ILS_LOGIN["institution"], "location": ILS_LOGIN["location"],
                    "pool_size": 4},
            "store": {"path": self.run_dir / "gateway-unused.db"},
            "gateway": {"ledger": f"sqlite:///{self.run_dir / 'ledger.db'}", "sites": [SITE]},
        }
        path = self.run_dir / "gateway.toml"
        path.write_text(toml_dumps(cfg))
        self.files["gateway"] = path
        self.spawn("gateway", self.cli("gateway", "run", "--config", str(path)))

    def edge_config(self, role: str) -> dict[str, dict[str, Any]]:
        """The site configuration of the kiosk or gate box."""
        device = KIOSK if role == "kiosk" else GATE
        sim_readers = self.endpoints["sim"]["readers"]
        reader = sim_readers["pad" if role == "kiosk" else "gate"]
        api_port = self.ports["kiosk_api" if role == "kiosk" else "gate_api"]
        return {
            "site": {"id": SITE, "name": "Thư viện Demo", "isil": HOME_ISIL,
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
                       "partial_set": "reject", "session_idle_s": 120},
            "gate": {"detection": "afi+database", "debounce_s": 10.0,
                     "alarm_directions": ["out", "unknown"], "alarm_duration_ms": 3000,
                     "inner_antenna": "gate-in", "outer_antenna": "gate-out"},
            "api": {"host": "127.0.0.1", "port": api_port, "device_token": DEVICE_TOKEN,
                    "staff_token": STAFF_TOKEN},
            "kiosk": {"edge_url": f"http://127.0.0.1:{self.ports['kiosk_api']}",
                      "language": "vi", "fullscreen": False},
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
        self.spawn("kiosk-ui", self.cli("kiosk", "--config", str(self.files["kiosk"]),
                                        "--windowed"), env=env)

    # -- what to tell the user

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
            "Faults: " + f"{ctl} fault pad fail_afi --count 3   |   {ctl} status",
            "Stop with Ctrl-C.",
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


def pick_items(export_dir: Path, count: int, *, kind: str = "available",
               skip: set[str] | None = None) -> list[str]:
    """Item barcodes from the demo ILS export that fit ``kind``.

    ``available``: home library, one part, available, not loaned, no holds, a book (001).
    ``loaned``: the same, but on loan to someone.

    Raises:
        DemoError: not enough such items.
    """
    skip = skip or set()
    out: list[str] = []
    with open(export_dir / "items.csv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["item_id"] in skip or row["owner_isil"] != HOME_ISIL or row["parts"] != "1":
                continue
            if row["media_type"] != "001" or row["hold_count"] != "0":
                continue
            if int(row["item_id"]) < 30000100:
                continue  # the demo ILS's special cases live below 30000100
            loaned = bool(row["loaned_to"])
            if kind == "available" and (loaned or row["status"] != "available"):
                continue
            if kind == "loaned" and not (loaned and row["status"] == "loaned"):
                continue
            out.append(row["item_id"])
            if len(out) == count:
                return out
    raise DemoError(f"the demo ILS export has only {len(out)} {kind} items, {count} needed")


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[threading.Event]:
    stop = threading.Event()

    def handler(signum: int, _frame: object) -> None:
        stop.set()

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for s, h in old.items():
            signal.signal(s, h)


@click.command()
@click.option("--headless", is_flag=True, help="Run scripted scenarios without the UI; print JSON.")
@click.option("--scenario", "scenarios", default=None,
              help="Scenario names for --headless, comma-separated (or 'all').")
@click.option("--list-scenarios", is_flag=True, help="List the shipped scenarios and exit.")
@click.option("--no-ui", is_flag=True, help="Start everything but the kiosk window.")
@click.option("--card/--no-card", default=None,
              help="Simulate the PC/SC card reader (default: on, off with --headless).")
@click.option("--run-dir", type=click.Path(file_okay=False), default="var/demo", show_default=True,
              help="Where the per-run configs, databases and logs go (wiped on the next run).")
@click.option("--no-timing", is_flag=True, help="Simulated readers answer at once.")
@click.option("--ready-file", type=click.Path(dir_okay=False), default=None,
              help="Write the endpoints as JSON here once everything is up (for scripts).")
@click.option("--vpcd-port", type=click.IntRange(1, 65535), default=None,
              help="The vpcd port of the running pcscd (default: read from its reader config).")
def demo(headless: bool, scenarios: str | None, list_scenarios: bool, no_ui: bool,
         card: bool | None, run_dir: str, no_timing: bool, ready_file: str | None,
         vpcd_port: int | None) -> None:
    """Start the simulator, broker, gateway, kiosk and gate edges and the kiosk UI together."""
    from smartlib import scenarios as sc

    if list_scenarios:
        for name, s in sorted(sc.load_all().items()):
            click.echo(f"{name:20} {s.description}")
        return
    if headless and not scenarios:
        raise click.UsageError("--headless needs --scenario NAME[,NAME…] (see --list-scenarios)")
    if scenarios and not headless:
        raise click.UsageError("--scenario runs only with --headless")
    chosen: list[sc.Scenario] = []
    if scenarios:
        try:
            chosen = sc.select(scenarios)
        except sc.ScenarioError as exc:
            raise click.UsageError(str(exc)) from exc
    opts = DemoOptions(run_dir=Path(run_dir), ui=not (headless or no_ui),
                       card=(not headless) if card is None else card, timing=not no_timing,
                       vpcd_port=vpcd_port)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    with _stop_on_signals() as stop:
        system = DemoSystem(opts, interrupt=stop)
        try:
            system.start()
        except DemoError as exc:
            raise click.ClickException(str(exc)) from exc
        try:
            if ready_file:
                _write_ready(system, Path(ready_file))
            if headless:
                report = sc.run_all(chosen, system, stop)
                report["ports"] = dict(system.ports)  # all closed once the demo has stopped
                click.echo(json.dumps(report, ensure_ascii=False))
                if not report["ok"]:
                    sys.exit(1)
                return
            click.echo(system.banner())
            while not stop.wait(1.0):
                dead = system.check_alive()
                if dead:
                    ui = system.proc("kiosk-ui")
                    if ui is not None and not ui.alive():
                        click.echo("the kiosk window was closed; stopping the demo", err=True)
                    else:
                        click.echo(f"a component stopped: {dead}", err=True)
                    sys.exit(1)
        finally:
            click.echo("stopping the demo …", err=True)
            system.stop()
            click.echo("stopped.", err=True)


def _write_ready(system: DemoSystem, path: Path) -> None:
    data = {"kiosk_url": system.kiosk_url, "gate_url": system.gate_url, "sim_url": system.sim_url,
            "staff_console_url": system.staff_console_url, "device_token": DEVICE_TOKEN,
            "staff_token": STAFF_TOKEN, "run_dir": str(system.run_dir), "ports": system.ports,
            "pids": {p.name: p.popen.pid for p in system.procs}, "card": system.options.card}
    tmp = Path(tempfile.mkstemp(dir=path.parent or ".", prefix=".ready-")[1])
    tmp.write_text(json.dumps(data))
    tmp.replace(path)
