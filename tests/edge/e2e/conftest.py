"""The real end-to-end world of the edge tests, started once for the whole directory.

Every piece is the real one, in its own process where production runs it in its own:

* a private Mosquitto (``tests.support.mosquitto.MosquittoBroker``, what the
  ``mosquitto_factory`` fixture starts) with the users and ACL written by
  ``smartlib broker config`` (each device limited to its own topics);
* ``smartlib sim serve`` with its demo ILS (``--ils-port``): the pad reader over
  ``socket://`` and the control API that places tags and reads their AFI back;
* ``smartlib gateway run`` (SQLite ledger) and one ``smartlib sync`` per box;
* box ``kiosk-01``: ``smartlib serve`` as a subprocess (restartable, killable);
* box ``kiosk-02``: an in-process edge (``EdgeServices`` + FastAPI ``TestClient``) over an
  in-process simulated reader, for what needs a device the subprocess cannot offer (a
  seeded AFI fault *rate*, a pty printer, the PC/SC card).

The edge caches are filled from ``smartlib sim ils export`` through ``CacheRepository``
bulk loads (``smartlib gateway import`` does not accept the export's columns; see
``test_cache_feed.py``).
"""

from __future__ import annotations

import csv
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import register_session_resource
from tests.support.mosquitto import MosquittoBroker
from tests.support.procs import free_port, stop_process, wait_port

REPO = Path(__file__).resolve().parents[3]
SMARTLIB = str(REPO / ".venv" / "bin" / "smartlib")
SITE = "e2e"
DEVICES = ("kiosk-01", "kiosk-02")
DEVICE_TOKEN, STAFF_TOKEN = "e2e-device-token", "e2e-staff-token"
ILS_USER, ILS_PASSWORD = "kiosk01", "s3cret"
AFI_SECURED, AFI_RELEASED = 0x07, 0xC2


def wait_until(pred: Callable[[], Any], timeout: float = 30.0, what: str = "condition",
               interval: float = 0.05) -> Any:
    """Poll ``pred`` until truthy (a functional time limit, never a timing assertion)."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def write_toml(path: Path, sections: dict[str, dict[str, Any]]) -> Path:
    """A small TOML writer for flat sections (strings, numbers, booleans, string lists)."""
    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | float):
            return repr(v)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return json.dumps(str(v))

    lines = []
    for name, values in sections.items():
        lines.append(f"[{name}]")
        lines += [f"{k} = {value(v)}" for k, v in values.items() if v is not None]
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


class Proc:
    """One smartlib subprocess, its output in a log file; registered as a session resource."""

    def __init__(self, name: str, args: list[str], log: Path,
                 env: dict[str, str] | None = None) -> None:
        self.name, self.args, self.log = name, args, log
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, env: dict[str, str] | None = None) -> Proc:
        with self.log.open("ab") as fh:
            fh.write(f"---- start {self.args} {env or ''}\n".encode())
            fh.flush()
            self.proc = subprocess.Popen([SMARTLIB, *self.args], stdout=fh,
                                         stderr=subprocess.STDOUT, cwd=str(REPO),
                                         env={**self.env, **(env or {})})
        register_session_resource(pid=self.proc.pid)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, timeout=10)
            self.proc = None

    def wait_killed(self, timeout: float = 60) -> int:
        assert self.proc is not None
        rc = self.proc.wait(timeout)
        self.proc = None
        return rc

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


# ---- the simulator, through its control API ----------------------------------------------

class Sim:
    """Client of ``smartlib sim serve``'s control API."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=30)

    def place(self, item: str, *, zone: str = "pad", parts: int | None = None,
              present: list[int] | None = None, afi: int = AFI_SECURED) -> list[dict[str, Any]]:
        body: dict[str, Any] = {"item": item, "zone": zone, "afi": afi, "isil": "VN-HN0001"}
        if parts:
            body["parts"] = parts
        if present:
            body["present"] = present
        r = self.http.post("/tags", json=body)
        r.raise_for_status()
        return list(r.json()["tags"])

    def clear(self, zone: str = "pad") -> None:
        self.http.post("/tags/clear", json={"zone": zone}).raise_for_status()

    def remove(self, key: str) -> None:
        self.http.delete(f"/tags/{key}").raise_for_status()

    def tags(self) -> list[dict[str, Any]]:
        r = self.http.get("/tags")
        r.raise_for_status()
        return list(r.json())

    def afi_of(self, items: list[str]) -> dict[str, set[int]]:
        """The AFI of every tag of each item now in a zone, read back from the simulator."""
        out: dict[str, set[int]] = {i: set() for i in items}
        for t in self.tags():
            if t["item"] in out and t["zone"] is not None:
                out[t["item"]].add(int(t["afi"]))
        return out

    def close(self) -> None:
        self.http.close()


# ---- the demo ILS, read from its database --------------------------------------------------

class IlsDb:
    """Read-only views of the demo ILS database that ``sim serve`` owns."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=10)
        conn.row_factory = sqlite3.Row
        try:
            return conn.execute(sql, args).fetchall()
        finally:
            conn.close()

    def loaned_to(self, item: str) -> str | None:
        rows = self._rows("SELECT patron_id FROM loans WHERE item_id=?", (item,))
        return str(rows[0][0]) if rows else None

    def applications(self, item: str, kind: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM applications WHERE item_id=?" + (" AND kind=?" if kind else "")
        return [dict(r) for r in self._rows(sql, (item, kind) if kind else (item,))]

    def duplicate_count(self) -> int:
        return int(self._rows("SELECT COALESCE(SUM(duplicate),0) FROM applications")[0][0])


# ---- the edge cache, from the ILS export -----------------------------------------------------

def load_cache_from_export(store_path: Path, export: Path) -> dict[str, int]:
    """Fill an edge cache from ``smartlib sim ils export`` CSVs with ``CacheRepository``."""
    from edge.store import open_store

    def rows(name: str) -> list[dict[str, str]]:
        with (export / f"{name}.csv").open(encoding="utf-8", newline="") as fh:
            return list(csv.DictReader(fh))

    items = [{"item_id": r["item_id"], "title": r["title"], "parts": int(r["parts"] or 1),
              "location": r["location"], "owner_isil": r["owner_isil"] or None}
             for r in rows("items")]
    patrons = [{"patron_id": r["patron_id"], "display_name": r["name"],
                "blocked": r["blocked"] == "1", "block_reason": r["block_reason"] or None,
                "loan_limit": int(r["loan_limit"]), "pin_hash": r["pin_hash"] or None,
                "expires_on": r["expires"][:10]} for r in rows("patrons")]
    loans = [{"item_id": r["item_id"], "patron_id": r["patron_id"], "due_date": r["due_date"],
              "loaned_at": r["loaned_at"]} for r in rows("loans")]
    holds = [{"item_id": r["item_id"], "patron_id": r["patron_id"],
              "ready": r["state"] == "shelf", "pickup_location": r["pickup_location"],
              "position": i + 1}
             for i, r in enumerate(rows("holds")) if r["state"] in ("queued", "shelf")]
    with open_store(store_path) as store:
        return {kind: store.cache.bulk_load(kind, data)  # type: ignore[arg-type]
                for kind, data in (("items", items), ("patrons", patrons), ("loans", loans),
                                   ("holds", holds))}


# ---- the world -------------------------------------------------------------------------------

@dataclass
class World:
    """Everything the e2e tests share; see the module docstring."""

    tmp: Path
    broker: MosquittoBroker
    credentials: dict[str, str]
    sim: Sim
    sim_endpoints: dict[str, Any]
    ils: IlsDb
    export: Path
    gateway: Proc
    agents: dict[str, Proc]
    serve: Proc
    api_port: int
    pin_public_key: str = ""
    """The gateway's PIN-sealing public key (``smartlib gateway keygen``), in every box's
    ``[gateway] public_key``."""
    procs: list[Proc] = field(default_factory=list)
    free: list[str] = field(default_factory=list)
    free_patrons: list[str] = field(default_factory=list)
    lent: list[str] = field(default_factory=list)

    def lent_items(self, n: int) -> list[str]:
        """``n`` demo items on loan to some other patron (the ILS refuses their checkout)."""
        out, self.lent = self.lent[:n], self.lent[n:]
        return out

    def patron(self) -> str:
        """A fresh demo patron in good standing with no loans (log in without a PIN)."""
        return self.free_patrons.pop(0)

    def items(self, n: int) -> list[str]:
        """``n`` fresh demo items that are available, unheld, single-part (never used twice)."""
        out, self.free = self.free[:n], self.free[n:]
        assert len(out) == n, "ran out of free demo items"
        return out

    def config(self, device: str, **overrides: dict[str, Any]) -> dict[str, dict[str, Any]]:
        pad = self.sim_endpoints["readers"]["pad"]
        sections: dict[str, dict[str, Any]] = {
            "site": {"id": SITE, "name": "Thư viện E2E", "isil": "VN-HN0001"},
            "device": {"id": device, "role": "kiosk"},
            "reader": {"driver": "sim", "url": pad["url"], "timeout_s": 1.0,
                       "poll_interval_ms": 100, "antennas": ["pad"]},
            "card_reader": {"enabled": False},
            "security": {"mode": "afi", "afi_secured": AFI_SECURED, "afi_released": AFI_RELEASED},
            "broker": {"host": "127.0.0.1", "port": self.broker.port, "username": device,
                       "password": self.credentials[device]},
            "store": {"path": str(self.store_path(device))},
            "policy": {"result_timeout_s": 15.0, "session_idle_s": 600, "offline_login": "cached",
                       "partial_set": "reject"},
            "api": {"host": "127.0.0.1", "port": self.api_port, "device_token": DEVICE_TOKEN,
                    "staff_token": STAFF_TOKEN,
                    # one edge serves the whole module's logins from 127.0.0.1: the login
                    # limit is tested in tests/edge/test_limits.py, not here
                    "login_burst": 1000, "login_rate_per_min": 6000.0},
            "gateway": {"public_key": self.pin_public_key},
        }
        for name, values in overrides.items():
            sections.setdefault(name, {}).update(values)
        return sections

    def store_path(self, device: str) -> Path:
        return self.tmp / f"edge-{device}.db"

    def api(self, token: str = DEVICE_TOKEN) -> httpx.Client:
        return httpx.Client(base_url=f"http://127.0.0.1:{self.api_port}", timeout=60,
                            headers={"Authorization": f"Bearer {token}"})

    def restart_serve(self, env: dict[str, str] | None = None) -> None:
        """(Re)start ``smartlib serve`` of kiosk-01 and wait until it answers."""
        self.serve.stop()
        self.serve.start(env)
        assert self.serve.proc is not None
        wait_port("127.0.0.1", self.api_port, timeout=30, proc=self.serve.proc)

    def edge_store(self, device: str = "kiosk-01") -> Any:
        from edge.store import open_store

        return open_store(self.store_path(device))

    def wait_edge_idle(self, device: str = "kiosk-01", timeout: float = 60) -> None:
        """Until the box's journal is all handled and no security task is open."""
        with self.edge_store(device) as store:
            wait_until(lambda: not store.outbox.unhandled() and not store.security.open(),
                       timeout, f"{device}: journal handled and security tasks closed")


def _start_world(tmp: Path) -> Iterator[World]:
    procs: list[Proc] = []
    broker: MosquittoBroker | None = None
    sim_proc: subprocess.Popen[bytes] | None = None
    sim: Sim | None = None
    try:
        # Broker users and ACL from `smartlib broker config`.
        bdir = tmp / "broker"
        subprocess.run([SMARTLIB, "broker", "config", "--site", SITE, "--devices",
                        ",".join(DEVICES), "--out", str(bdir)], check=True, capture_output=True,
                       cwd=str(REPO))
        creds_doc = tomllib.loads((bdir / "credentials.toml").read_text())
        credentials = _credentials(creds_doc)
        broker = MosquittoBroker(users=credentials, acl=(bdir / "acl").read_text()).start()
        register_session_resource(pid=broker.proc.pid if broker.proc else None)

        # The simulator with its embedded demo ILS.
        ils_db = tmp / "ils.db"
        sim_log = (tmp / "sim.log").open("ab")
        sim_proc = subprocess.Popen(
            [SMARTLIB, "sim", "serve", "--control-port", "0", "--ils-port", "0",
             "--ils-db", str(ils_db), "--no-timing", "--vpcd", "none"],
            stdout=subprocess.PIPE, stderr=sim_log, cwd=str(REPO))
        sim_log.close()
        register_session_resource(pid=sim_proc.pid)
        assert sim_proc.stdout is not None
        line = sim_proc.stdout.readline()
        if not line:
            raise RuntimeError("sim serve exited: " + (tmp / "sim.log").read_text()[-2000:])
        endpoints = json.loads(line)
        sim = Sim(endpoints["control_url"])

        export = tmp / "export"
        subprocess.run([SMARTLIB, "sim", "ils", "export", "--out", str(export), "--db",
                        str(ils_db)], check=True, capture_output=True, cwd=str(REPO))

        with (export / "items.csv").open(encoding="utf-8", newline="") as fh:
            rows = [r for r in csv.DictReader(fh) if r["hold_count"] == "0"
                    and r["parts"] == "1" and r["owner_isil"] == "VN-HN0001"
                    and int(r["item_id"]) >= 30000200]
        free = [r["item_id"] for r in rows if r["status"] == "available"]
        lent = [r["item_id"] for r in rows if r["status"] == "loaned" and r["loaned_to"]]
        with (export / "loans.csv").open(encoding="utf-8", newline="") as fh:
            borrowers = {r["patron_id"] for r in csv.DictReader(fh)}
        with (export / "patrons.csv").open(encoding="utf-8", newline="") as fh:
            free_patrons = [r["patron_id"] for r in csv.DictReader(fh)
                            if r["blocked"] == "0" and r["fines"] == "0"
                            and int(r["loan_limit"]) >= 10 and r["expires"] > datetime.now().isoformat()
                            and r["patron_id"] not in borrowers and r["patron_id"] > "2000006"]
        api_port = free_port()
        world = World(tmp=tmp, broker=broker, credentials=credentials, sim=sim,
                      sim_endpoints=endpoints, ils=IlsDb(ils_db), export=export,
                      gateway=None, agents={}, serve=None, api_port=api_port, free=free,
                      free_patrons=free_patrons, lent=lent)  # type: ignore[arg-type]
        keygen = subprocess.run([SMARTLIB, "gateway", "keygen", "--out", str(tmp / "gateway.key")],
                                check=True, capture_output=True, text=True, cwd=str(REPO))
        world.pin_public_key = keygen.stdout.strip()

        gw_cfg = write_toml(tmp / "gateway.toml", {
            "site": {"id": SITE}, "device": {"id": "gw-1", "role": "gateway"},
            "broker": {"host": "127.0.0.1", "port": broker.port, "username": "gateway",
                       "password": credentials["gateway"]},
            "ils": {"host": endpoints["ils"]["host"], "port": endpoints["ils"]["port"],
                    "user": ILS_USER, "password": ILS_PASSWORD, "institution": "VNLIB",
                    "location": "MAIN", "pool_size": 4},
            "gateway": {"ledger": f"sqlite:///{tmp / 'ledger.db'}", "sites": [SITE],
                        "private_key_file": str(tmp / "gateway.key")}})
        world.gateway = Proc("gateway", ["gateway", "run", "--config", str(gw_cfg)],
                             tmp / "gateway.log")
        procs.append(world.gateway.start())

        for device in DEVICES:
            load_cache_from_export(world.store_path(device), export)
            cfg = write_toml(tmp / f"{device}.toml", world.config(device))
            agent = Proc(f"sync-{device}", ["sync", "--config", str(cfg)], tmp / f"sync-{device}.log",
                         env={"SMARTLIB_SYNC_RESEND_S": "3", "SMARTLIB_SYNC__RESEND_S": "3"})
            world.agents[device] = agent
            procs.append(agent.start())
        world.serve = Proc("serve", ["serve", "--config", str(tmp / "kiosk-01.toml")],
                           tmp / "serve.log")
        procs.append(world.serve)
        world.procs = procs
        world.restart_serve()
        # The agent does not report its connectivity into the edge store (meta
        # ``agent.connectivity`` stays unset), so wait for its log line instead.
        for name in ("gateway", *(f"sync-{d}" for d in DEVICES)):
            p = next(x for x in procs if x.name == name)
            wait_until(lambda p=p: "connected" in p.output(), 30, f"{name} to connect")
        yield world
    finally:
        for p in reversed(procs):
            p.stop()
        if sim is not None:
            sim.close()
        if sim_proc is not None:
            stop_process(sim_proc, timeout=10)
            if sim_proc.stdout:
                sim_proc.stdout.close()
        if broker is not None:
            broker.stop()


def _credentials(doc: dict[str, Any]) -> dict[str, str]:
    """user -> password from ``credentials.toml`` (one table per user, or flat)."""
    out: dict[str, str] = {}
    for user, v in doc.items():
        if isinstance(v, dict):
            out[str(v.get("username", user))] = str(v["password"])
        else:
            out[str(user)] = str(v)
    return out


@pytest.fixture(scope="package")
def world() -> Iterator[World]:
    """The shared e2e world (started once for tests/edge/e2e).

    Its files live in a private ``/tmp/smartlib-e2e-*`` directory (other pytest sessions on
    the machine prune old ``pytest-of-*`` directories while we run), removed afterwards
    unless ``SMARTLIB_E2E_KEEP`` is set.
    """
    tmp = Path(tempfile.mkdtemp(prefix="smartlib-e2e-"))
    try:
        yield from _start_world(tmp)
    finally:
        if not os.environ.get("SMARTLIB_E2E_KEEP"):
            shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def sim(world: World) -> Iterator[Sim]:
    """The simulator's control API, with an empty pad before and after the test."""
    world.sim.clear("pad")
    yield world.sim
    world.sim.clear("pad")


# ---- helpers used by several test modules ------------------------------------------------------

def login(api: httpx.Client, patron: str, pin: str | None = None, language: str = "en") -> str:
    """Log in as the kiosk does: with a PIN, a typed number; without one, a scan read by the
    edge (``POST /scans``) and its scan token."""
    cred: dict[str, Any] = {"source": "barcode", "identifier": patron}
    if pin:
        cred["pin"] = pin
    else:
        scan = api.post("/scans", json={"raw": patron})
        assert scan.status_code == 200, scan.text
        cred["scan_token"] = scan.json()["scan_token"]
    r = api.post("/sessions", json={"credential": cred, "language": language})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def by_item(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["item_id"]: r for r in results["results"]}


@contextmanager
def killed_ok(proc: Proc) -> Iterator[None]:
    """Expect ``proc`` to die with SIGKILL inside the block."""
    yield
    rc = proc.wait_killed()
    assert rc == -signal.SIGKILL, proc.output()[-3000:]


def seeded_rate(rate: float, seed: int) -> Callable[[], bool]:
    rng = random.Random(seed)
    return lambda: rng.random() < rate


# ---- kiosk-02: an in-process edge over an in-process simulated pad ---------------------------

class FaultyPadDevice:
    """Builds a ``FeigReaderDevice`` whose AFI writes fail when ``fail(uid, n)`` says so
    (``n`` counts that tag's AFI write requests from 1): a seeded fault *rate* that does not
    depend on how requests interleave. It arms the simulator's own ``fail_afi`` fault for
    the one request, so the device answers exactly as that fault makes it answer."""

    @staticmethod
    def make(field_: Any, fail: Callable[[str, int], bool] | None) -> Any:
        from collections import Counter

        from hardware_sim.feig_device import FeigReaderDevice

        class Device(FeigReaderDevice):
            afi_requests: Counter[str] = Counter()

            def _write_afi(self, tag: Any, p: bytes, req: int) -> Any:
                self.afi_requests[tag.uid_hex] += 1
                if fail is not None and fail(tag.uid_hex, self.afi_requests[tag.uid_hex]):
                    self.faults.add("fail_afi", 1)
                return super()._write_afi(tag, p, req)

        return Device(field_, ["pad"], timing=False)


@dataclass
class Box:
    """kiosk-02 in this process: its API (``client``), services, and its pad."""

    client: Any
    services: Any
    field: Any
    device: Any
    settings: Any

    def place(self, item: str, *, uid: str | None = None, afi: int = AFI_SECURED,
              isil: str = "VN-HN0001") -> str:
        from hardware_sim.tag import SimTag

        tag = SimTag.from_item(item, isil=isil, afi=afi, uid=uid)
        self.field.place(tag, "pad")
        return str(tag.uid_hex)

    def afi_of(self, items: list[str]) -> dict[str, set[int]]:
        out: dict[str, set[int]] = {i: set() for i in items}
        for t in self.field.catalog():
            if t.item_id in out and self.field.zone_of(t.uid) is not None:
                out[t.item_id].add(int(t.afi))
        return out


@pytest.fixture
def kiosk2(world: World) -> Iterator[Callable[..., Box]]:
    """Start kiosk-02's edge: ``kiosk2(fail=..., **config_overrides)``; stopped after."""
    from fastapi.testclient import TestClient

    from edge.api.app import create_app
    from edge.services.container import EdgeServices
    from hardware_sim.field import SimField
    from smartlib.config import load_settings

    made: list[tuple[Any, Any]] = []

    def make(fail: Callable[[str, int], bool] | None = None,
             **overrides: dict[str, Any]) -> Box:
        field_ = SimField()
        device = FaultyPadDevice.make(field_, fail).start(pty=False, tcp=True)
        try:
            reader = {"url": f"socket://127.0.0.1:{device.tcp_port}", **overrides.pop("reader", {})}
            cfg = write_toml(world.tmp / "kiosk-02-inproc.toml",
                             world.config("kiosk-02", reader=reader, **overrides))
            settings = load_settings(cfg)
            services = EdgeServices.build(settings)
            client = TestClient(create_app(settings, services),
                                headers={"Authorization": f"Bearer {DEVICE_TOKEN}"})
            client.__enter__()
        except BaseException:
            device.stop()
            raise
        made.append((client, device))
        return Box(client, services, field_, device, settings)

    yield make
    for client, device in reversed(made):
        client.__exit__(None, None, None)
        device.stop()
