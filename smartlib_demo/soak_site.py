"""The soak's site: K kiosk boxes, a gate box, two gateways on a PostgreSQL ledger, the broker
and the simulator (readers and demo ILS), all under the demo's supervisor.

It is the demo system (:class:`smartlib_demo.system.DemoSystem`) grown to the shape the soak
needs: one simulated pad reader per kiosk, per-device broker credentials for every box, a
private PostgreSQL server (:mod:`smartlib_demo.postgres`) holding the ledger both gateways
share, and a faster restart back-off, so that a process killed again and again comes back
within a second or two. No kiosk window (headless) and no PC/SC.

Must not do: import a product package (everything runs as its own process), or signal a
process it did not start.
"""

from __future__ import annotations

import contextlib
import functools
import random
import socket
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from smartlib_demo.errors import DemoError
from smartlib_demo.postgres import PostgresUnavailable, private_postgres
from smartlib_demo.processes import wait_until
from smartlib_demo.site import (
    DEVICE_TOKEN,
    GATE,
    HOME_ISIL,
    ILS_LOGIN,
    SITE,
    STAFF_TOKEN,
    toml_dumps,
)
from smartlib_demo.supervisor import Backoff, Supervisor
from smartlib_demo.system import DemoOptions, DemoSystem

SOAK_BACKOFF = Backoff(first=0.2, most=2.0, stable_s=10.0)
"""The soak kills each process every minute or so: come back fast, and never wait long."""

GATEWAYS = ("gateway-1", "gateway-2")
AFI_SECURED = 0x07
AFI_RELEASED = 0xC2
SOAK_DB = "smartlib_soak"


def listen_ports(count: int) -> list[int]:
    """``count`` free loopback ports below the kernel's ephemeral range.

    Every process here is restarted many times and binds its port again each time; a port
    from the ephemeral range can meanwhile be taken as the local end of some outgoing
    connection (an agent's, a gateway's, the soak's own), and the restart then fails with
    EADDRINUSE. Ports below the range are never handed out that way.
    """
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    rng = random.Random()
    out: list[int] = []
    for _ in range(5000):
        port = rng.randrange(max(1024, low - 12000), low)
        if port in out:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        out.append(port)
        if len(out) == count:
            return out
    raise DemoError(f"found only {len(out)} free ports below {low}")


def kiosk_name(n: int) -> str:
    """The device id of kiosk ``n`` (1-based): ``kiosk-01`` …"""
    return f"kiosk-{n:02d}"


def pad_zone(n: int) -> str:
    """The simulator zone (and reader name) of kiosk ``n``'s pad."""
    return f"pad-{n:02d}"


@dataclass
class SoakSite(DemoSystem):
    """The demo system with ``kiosks`` kiosk boxes, two gateways on PostgreSQL, no UI."""

    kiosks: int = 2
    _exit: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    pg_dsn: str = ""

    @classmethod
    def create(cls, run_dir: Path, kiosks: int, *, watchdog_s: float = 10.0) -> SoakSite:
        """A site (not started) with its run directory and ``kiosks`` kiosks."""
        opts = DemoOptions(run_dir=run_dir, ui=False, card=False, timing=True,
                           watchdog_s=watchdog_s)
        return cls(opts, kiosks=kiosks)

    # -- names

    @property
    def devices(self) -> list[str]:
        """Every box: the kiosks, then the gate."""
        return [kiosk_name(n) for n in range(1, self.kiosks + 1)] + [GATE]

    def api_url(self, device: str) -> str:
        return f"http://127.0.0.1:{self.ports[f'{device}_api']}"

    def store_path(self, device: str) -> Path:
        return self.run_dir / f"{device}.db"

    @property
    def kill_targets(self) -> list[str]:
        """The processes the soak's killer picks from: every edge and agent, both gateways
        and the broker (not the simulator: its field and demo ILS are the test bench)."""
        return [*(f"{d}-{part}" for d in self.devices for part in ("serve", "sync")),
                *GATEWAYS, "mosquitto"]

    # -- life cycle

    def start(self) -> SoakSite:
        """Start every process, waiting for each; on failure stop what was started.

        Raises:
            DemoError: a process did not start, or no PostgreSQL could be started.
        """
        try:
            self._prepare_run_dir()
            self.supervisor = Supervisor(self.supervisor_state, watchdog_s=self.options.watchdog_s,
                                         start_timeout_s=self.options.startup_timeout_s,
                                         backoff=SOAK_BACKOFF, on_change=self.on_supervisor_change)
            names = ["sim_control", "ils", "mqtt", "gate_tcp", f"{GATE}_api",
                     *(f"pad{n}_tcp" for n in range(1, self.kiosks + 1)),
                     *(f"{kiosk_name(n)}_api" for n in range(1, self.kiosks + 1))]
            self.ports = dict(zip(names, listen_ports(len(names)), strict=True))
            self.ports["kiosk_api"] = self.ports[f"{kiosk_name(1)}_api"]  # the round trip's
            self._start_soak_sim()
            self._start_broker_config()
            self.start_broker()
            self._start_postgres()
            self._start_soak_gateway(GATEWAYS[0])
            self._start_soak_edges()
            self._wait_gateway_round_trip()
            self._import_soak_cache()
            self._start_soak_gateway(GATEWAYS[1])
            self._supervise()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every process (newest first), then the PostgreSQL server."""
        super().stop()
        self._exit.close()

    def _supervise(self) -> None:
        assert self.supervisor is not None
        for p in self.procs:
            self.supervisor.adopt(p, functools.partial(self._respawn, p.name),
                                  notify=p.name.endswith("-serve"))
        self.supervisor.start()

    # -- steps

    def _start_soak_sim(self) -> None:
        zones = [pad_zone(n) for n in range(1, self.kiosks + 1)]
        text = toml_dumps({"simulator": {"zones": [*zones, "gate-in", "gate-out"], "seed": 1}})
        for n, zone in enumerate(zones, start=1):
            text += (f'[[reader]]\nname = "{zone}"\nantennas = ["{zone}"]\n'
                     f'tcp_port = {self.ports[f"pad{n}_tcp"]}\npty = false\n\n')
        text += (f'[[reader]]\nname = "gate"\nantennas = ["gate-in", "gate-out"]\n'
                 f'tcp_port = {self.ports["gate_tcp"]}\npty = false\n')
        path = self.run_dir / "sim.toml"
        path.write_text(text)
        self.files["sim"] = path
        sim = self.spawn("sim", self.cli(
            "sim", "serve", "--world", str(path), "--control-port", str(self.ports["sim_control"]),
            "--ils-port", str(self.ports["ils"]), "--ils-db", str(self.ils_db), "--vpcd", "none"),
            stdout_pipe=True)
        self.endpoints["sim"] = self._read_json_line(sim, 60)
        self.run_cli("sim", "ils", "export", "--out", str(self.export_dir), "--db", str(self.ils_db))

    def _start_broker_config(self) -> None:
        # The base class writes credentials for the demo's two boxes: widen the device list.
        out_dir = self.run_dir / "broker"
        super()._start_broker_config()
        out = out_dir.resolve()
        self.run_cli("broker", "config", "--site", SITE, "--devices", ",".join(self.devices),
                     "--port", str(self.ports["mqtt"]), "--bind", "127.0.0.1", "--out", str(out))
        import tomllib

        with open(out / "credentials.toml", "rb") as fh:
            creds = tomllib.load(fh)
        self.credentials = {u: str(v["password"]) for u, v in creds.items()}
        self._chown_broker(out)

    def _chown_broker(self, out: Path) -> None:
        import os
        import pwd

        if os.geteuid() != 0:
            return
        try:
            pw = pwd.getpwnam("mosquitto")
        except KeyError:
            return
        for dirpath, _dirs, names in os.walk(out):
            os.chown(dirpath, pw.pw_uid, pw.pw_gid)
            for n in names:
                os.chown(os.path.join(dirpath, n), pw.pw_uid, pw.pw_gid)

    def _start_postgres(self) -> None:
        try:
            admin = self._exit.enter_context(private_postgres(max_connections=60))
        except PostgresUnavailable as exc:
            raise DemoError(f"the soak's ledger needs PostgreSQL: {exc}") from exc
        import psycopg

        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{SOAK_DB}"')
        self.pg_dsn = admin.rsplit("/", 1)[0] + "/" + SOAK_DB

    def _start_soak_gateway(self, name: str) -> None:
        cfg: dict[str, dict[str, Any]] = {
            "site": {"id": SITE, "name": "Thư viện Demo", "isil": HOME_ISIL},
            "device": {"id": name, "role": "gateway"},
            "reader": {"enabled": False},
            "card_reader": {"enabled": False},
            "broker": self._broker_section("gateway"),
            "ils": {"profile": "generic", "host": "127.0.0.1", "port": self.ports["ils"],
                    "user": ILS_LOGIN["user"], "password": ILS_LOGIN["password"],
                    "institution": ILS_LOGIN["institution"], "location": ILS_LOGIN["location"],
                    "pool_size": 4},
            "store": {"path": self.run_dir / f"{name}-unused.db"},
            "gateway": {"ledger": self.pg_dsn, "sites": [SITE],
                        "private_key_file": str(self._pin_key_file())},
        }
        path = self.run_dir / f"{name}.toml"
        path.write_text(toml_dumps(cfg))
        self.files[name] = path
        self.files.setdefault("gateway", path)  # `smartlib gateway import` uses the first
        self.spawn(name, self.cli("gateway", "run", "--config", str(path)))

    def soak_edge_config(self, device: str) -> dict[str, dict[str, Any]]:
        """The configuration of kiosk or gate box ``device`` (the demo's, per box)."""
        role = "gate" if device == GATE else "kiosk"
        readers = self.endpoints["sim"]["readers"]
        reader = readers["gate"] if role == "gate" else readers[pad_zone(int(device[-2:]))]
        return {
            "site": {"id": SITE, "name": "Thư viện Demo", "isil": HOME_ISIL},
            "device": {"id": device, "role": role},
            "reader": {"driver": "feig", "url": reader["url"], "antennas": reader["antennas"],
                       "poll_interval_ms": 200 if role == "kiosk" else 50},
            "card_reader": {"enabled": False},
            "security": {"mode": "afi", "afi_secured": AFI_SECURED, "afi_released": AFI_RELEASED},
            "broker": self._broker_section(device),
            "ils": {"institution": ILS_LOGIN["institution"], "location": ILS_LOGIN["location"]},
            "store": {"path": self.store_path(device)},
            "policy": {"result_timeout_s": self.options.result_timeout_s,
                       "offline_max_items": 5, "offline_login": "cached",
                       "partial_set": "reject", "session_idle_s": 300},
            "gate": {"detection": "afi+database", "debounce_s": 10.0,
                     "alarm_directions": ["out", "unknown"], "alarm_duration_ms": 3000,
                     "inner_antenna": "gate-in", "outer_antenna": "gate-out"},
            "gateway": {"public_key": self._pin_public_key()},
            # The workload logs a patron in for every session from one address (a load
            # generator, not someone guessing PINs): the login rate limit is lifted.
            "api": {"host": "127.0.0.1", "port": self.ports[f"{device}_api"],
                    "device_token": DEVICE_TOKEN, "staff_token": STAFF_TOKEN,
                    "process_state": self.supervisor_state,
                    "login_rate_per_min": 60_000.0, "login_burst": 1_000},
        }

    def _start_soak_edges(self) -> None:
        for device in self.devices:
            path = self.run_dir / f"{device}.toml"
            path.write_text(toml_dumps(self.soak_edge_config(device)))
            self.files[device] = path
            role = "gate" if device == GATE else "kiosk"
            self.spawn(f"{device}-serve", self.cli("serve", "--config", str(path), "--role", role))
        for device in self.devices:
            url = self.api_url(device)
            wait_until(functools.partial(_up, url), self.options.startup_timeout_s,
                       f"{device} edge at {url}", self.check_alive, interval=0.2)
        for device in self.devices:  # after its serve migrated the store (see system.py)
            self.spawn(f"{device}-sync", self.cli("sync", "--config", str(self.files[device])))

    def _import_soak_cache(self) -> None:
        ex = self.export_dir
        self.run_cli("gateway", "import", "--config", str(self.files["gateway"]), "--site", SITE,
                     "--items", str(ex / "items.csv"), "--patrons", str(ex / "patrons.csv"),
                     "--loans", str(ex / "loans.csv"), "--holds", str(ex / "holds.csv"))
        with open(ex / "items.csv", encoding="utf-8") as fh:
            expected = sum(1 for _ in fh) - 1
        for device in self.devices:
            wait_until(functools.partial(self._cached_at_least, device, expected),
                       self.options.startup_timeout_s, f"cache snapshot at {device}",
                       self.check_alive, interval=0.3)

    def _cached_at_least(self, device: str, count: int) -> bool:
        return self.cached_items(device) >= count

    # -- read-only views of the stores (for the soak's accounting)

    def read_store(self, device: str, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        """Rows of a read-only query on an edge's store (empty while it cannot be opened)."""
        return read_sqlite(self.store_path(device), sql, args)


def read_sqlite(path: Path, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
    """Rows of a read-only query on a SQLite file that another process writes (WAL)."""
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    except sqlite3.Error:
        return []
    try:
        db.row_factory = sqlite3.Row
        return list(db.execute(sql, args))
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []
        raise
    finally:
        db.close()


def _up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
