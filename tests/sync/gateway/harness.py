"""Helpers shared by the sync tests: MQTT test clients, waiting, subprocess agents/gateways."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from tests.support.pin_keys import make_pin_keys
from tests.support.procs import stop_process

REPO = Path(__file__).resolve().parents[3]
SMARTLIB = str(REPO / ".venv" / "bin" / "smartlib")


def wait_until(pred: Callable[[], Any], timeout: float = 30.0, interval: float = 0.05,
               what: str | Callable[[], str] = "condition") -> Any:
    """Poll ``pred`` until it is truthy (a functional timeout, not a timing assert).

    ``what`` names the condition in the failure message; a callable is asked at failure
    time (to include the state then).
    """
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            name = what() if callable(what) else what
            raise AssertionError(f"timed out after {timeout}s waiting for {name}")
        time.sleep(interval)


class MqttProbe:
    """A paho MQTT 5 client that records what it receives and the PUBACK reason codes."""

    def __init__(self, port: int, *, user: str | None = None, password: str | None = None,
                 client_id: str = "", ca: Path | None = None, host: str = "127.0.0.1",
                 cert: tuple[Path, Path] | None = None) -> None:
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.acks: dict[int, int] = {}
        self.connected = threading.Event()
        self.connect_rc: Any = None
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                        protocol=mqtt.MQTTv5)
        if user is not None:
            c.username_pw_set(user, password)
        if ca is not None:
            c.tls_set(ca_certs=str(ca), certfile=str(cert[0]) if cert else None,
                      keyfile=str(cert[1]) if cert else None)
        c.on_connect = self._on_connect
        c.on_message = lambda _c, _u, m: self.messages.put(m)
        c.on_publish = self._on_publish
        self.client = c
        c.connect(host, port)
        c.loop_start()

    def _on_connect(self, _c: Any, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        self.connect_rc = rc
        self.connected.set()

    def _on_publish(self, _c: Any, _u: Any, mid: int, rc: Any, _p: Any) -> None:
        self.acks[mid] = int(rc.value) if hasattr(rc, "value") else int(rc)

    def wait_connected(self, timeout: float = 10) -> Any:
        assert self.connected.wait(timeout), "no CONNACK"
        return self.connect_rc

    def subscribe(self, topic: str, qos: int = 1) -> None:
        done = threading.Event()
        self.client.on_subscribe = lambda *a: done.set()
        self.client.subscribe(topic, qos)
        assert done.wait(10), f"no SUBACK for {topic}"

    def publish(self, topic: str, payload: bytes, qos: int = 1, **kw: Any) -> int:
        info = self.client.publish(topic, payload, qos, **kw)
        info.wait_for_publish(10)
        return self.acks.get(info.mid, -1) if qos else 0

    def get(self, timeout: float = 10) -> mqtt.MQTTMessage:
        return self.messages.get(timeout=timeout)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@contextmanager
def mqtt_client(port: int, **kw: Any) -> Iterator[MqttProbe]:
    c = MqttProbe(port, **kw)
    try:
        c.wait_connected()
        yield c
    finally:
        c.close()


def chown_tree_to_mosquitto(root: Path) -> None:
    """Mosquitto started as root drops to the 'mosquitto' user, which must read its files."""
    if os.geteuid() != 0:
        return
    import pwd

    try:
        pw = pwd.getpwnam("mosquitto")
    except KeyError:
        return
    for dirpath, _dirs, files in os.walk(root):
        os.chown(dirpath, pw.pw_uid, pw.pw_gid)
        for f in files:
            os.chown(os.path.join(dirpath, f), pw.pw_uid, pw.pw_gid)


class Proc:
    """A smartlib subprocess (agent or gateway) whose output goes to a log file."""

    def __init__(self, args: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.args = args
        self.log = log
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Proc:
        fh = self.log.open("ab")
        self.proc = subprocess.Popen([SMARTLIB, *self.args], stdout=fh, stderr=subprocess.STDOUT,
                                     env=self.env, cwd=str(REPO))
        fh.close()
        return self

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def wait_exit(self, timeout: float = 30) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def python() -> str:
    return sys.executable


# ---- a whole sync system: demo ILS, config files, in-process gateway and agent ---------------

import shutil as _shutil  # noqa: E402
import uuid as _uuid  # noqa: E402

import pytest  # noqa: E402

SITE = "s1"
ILS_USER, ILS_PASSWORD = "kiosk01", "s3cret"
PATRON = "2000001"
FIRST_FREE_ITEM = 30000200  # demo items 30000200.. have no special situation


def items(n: int, start: int = FIRST_FREE_ITEM) -> list[str]:
    return [str(start + i) for i in range(n)]


@pytest.fixture(scope="session")
def _ils_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from hardware_sim.ils.data import open_demo_db

    path = tmp_path_factory.mktemp("ils") / "template.db"
    open_demo_db(path).close()
    return path


@pytest.fixture
def demo_ils(_ils_template: Path, tmp_path: Path) -> Iterator[Any]:
    """The demo ILS on a copy of the session's demo database (no hardware_sim in production)."""
    from hardware_sim.ils.server import DemoIlsServer

    db = tmp_path / "ils.db"
    _shutil.copy(_ils_template, db)
    server = DemoIlsServer(db)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def write_toml(path: Path, sections: dict[str, dict[str, Any]]) -> Path:
    lines = []
    for name, values in sections.items():
        lines.append(f"[{name}]")
        for k, v in values.items():
            if isinstance(v, bool):
                lines.append(f"{k} = {'true' if v else 'false'}")
            elif isinstance(v, int | float):
                lines.append(f"{k} = {v}")
            elif isinstance(v, list):
                lines.append(f"{k} = [{', '.join(repr(str(x)).replace(chr(39), chr(34)) for x in v)}]")
            else:
                lines.append(f'{k} = "{v}"')
        lines.append("")
    path.write_text("\n".join(lines))
    return path


class SyncEnv:
    """Config files and in-process components for one test; everything is stopped after."""

    def __init__(self, tmp: Path, broker: Any, ils: Any) -> None:
        self.tmp, self.broker, self.ils = tmp, broker, ils
        self._stops: list[Callable[[], None]] = []
        self.ledger_url = f"sqlite:///{tmp / 'ledger.db'}"
        self.pin_keys = make_pin_keys(tmp)
        """The site's PIN-sealing keys: the agents' boxes seal to it, the gateways open."""

    def broker_section(self, user: str | None = None, password: str | None = None, *,
                       broker: Any = None) -> dict[str, Any]:
        sec: dict[str, Any] = {"host": "127.0.0.1", "port": (broker or self.broker).port}
        if user:
            sec.update(username=user, password=password or "")
        return sec

    def agent_config(self, device: str = "kiosk-01", *, user: str | None = None,
                     password: str | None = None, role: str | None = None,
                     failover: list[str] | None = None) -> Path:
        role = role or ("gate" if device.startswith("gate") else "kiosk")
        broker = self.broker_section(user, password)
        if failover:
            broker["failover"] = failover
        return write_toml(self.tmp / f"agent-{device}.toml", {
            "site": {"id": SITE}, "device": {"id": device, "role": role},
            "broker": broker,
            "store": {"path": str(self.store_path(device))},
            "gateway": {"public_key": self.pin_keys.public_key}})

    def store_path(self, device: str) -> Path:
        return self.tmp / f"edge-{device}.db"

    def gateway_config(self, gid: str = "gw-1", *, ledger: str | None = None,
                       user: str | None = None, password: str | None = None,
                       pool_size: int = 2, broker: Any = None,
                       pin_key_file: Path | None | bool = True) -> Path:
        """``pin_key_file``: True for the site's key, None for no key, or another file."""
        key_file = self.pin_keys.private_key_file if pin_key_file is True else pin_key_file
        key = {"private_key_file": str(key_file)} if key_file else {}
        return write_toml(self.tmp / f"gateway-{gid}.toml", {
            "site": {"id": SITE}, "device": {"id": gid, "role": "gateway"},
            "broker": self.broker_section(user, password, broker=broker),
            "ils": {"host": "127.0.0.1", "port": self.ils.port, "user": ILS_USER,
                    "password": ILS_PASSWORD, "institution": "VNLIB", "location": "MAIN",
                    "pool_size": pool_size},
            "gateway": {"ledger": ledger or self.ledger_url, "sites": [SITE], **key}})

    def open_store(self, device: str = "kiosk-01") -> Any:
        from edge.store import open_store

        store = open_store(self.store_path(device))
        self._stops.append(store.close)
        return store

    def start_gateway(self, gid: str = "gw-1", **kw: Any) -> Any:
        from smartlib.config import load_settings
        from sync.gateway.service import Gateway

        gw = Gateway.from_settings(load_settings(self.gateway_config(gid, **kw)))
        gw.start()
        self._stops.append(gw.stop)
        assert gw.connected.wait(10), "gateway did not connect"
        return gw

    def start_agent(self, device: str = "kiosk-01", *, wait: bool = True, tuning: Any = None,
                    heartbeat: Callable[[], None] | None = None, runner: Any = None,
                    **kw: Any) -> Any:
        from smartlib.config import load_settings
        from sync.agent.service import SyncAgent

        agent = SyncAgent.from_settings(load_settings(self.agent_config(device, **kw)),
                                        tuning=tuning, heartbeat=heartbeat, runner=runner)
        agent.start()

        def stop() -> None:
            agent.stop()
            agent.store.close()

        self._stops.append(stop)
        if wait:
            assert agent.connected.wait(10), "agent did not connect"
            assert agent.subscribed.wait(10), "the broker did not grant the agent's subscriptions"
        return agent

    def proc(self, name: str, args: list[str], env: dict[str, str] | None = None) -> Proc:
        p = Proc(args, self.tmp / f"{name}.log", env)
        self._stops.append(p.stop)
        return p

    def close(self) -> None:
        for stop in reversed(self._stops):
            stop()
        self._stops.clear()


@pytest.fixture
def sync_env(tmp_path: Path, mosquitto_broker: Any, demo_ils: Any) -> Iterator[SyncEnv]:
    env = SyncEnv(tmp_path, mosquitto_broker, demo_ils)
    try:
        yield env
    finally:
        env.close()


def journal(store: Any, kind: str, item: str | None, *, patron: str | None = PATRON,
            offline: bool = True, payload: dict[str, Any] | None = None) -> str:
    """Append one transaction to the edge's outbox; returns its key."""
    return str(store.outbox.append(kind, payload or {}, item_id=item, patron_ref=patron,
                                   offline=offline).key)


def applied_keys(ils: Any) -> list[str]:
    return [a["xk"] for a in ils.circulation.applications() if a["xk"]]


def new_key() -> str:
    return str(_uuid.uuid4())
