"""The simulated world and its world file: devices, tags and a timeline, from a TOML file.

(Not the demo's scripted scenarios: those are :mod:`smartlib_demo.scenarios`.)

:class:`SimWorld` owns the field, the simulated readers, the optional virtual card and
demo ILS, and a scheduler for timeline actions and gate walks. The control API
(:mod:`hardware_sim.control_api`) and ``smartlib sim serve`` drive it. A world file::

    [simulator]
    zones = ["pad", "gate-in", "gate-out"]
    seed = 1

    [[reader]]                 # one FeigReaderDevice per table
    name = "pad"
    antennas = ["pad"]
    tcp_port = 7001            # 0 = any free port; pty = true also serves a pty
    baudrate = 38400

    [[reader]]                 # protocol = "llrp": an LlrpReaderDevice (UHF, TCP only)
    name = "uhf"
    protocol = "llrp"
    zones = { uhf-pad = [1], uhf-gate = [2, 3] }   # zone -> antenna numbers

Placing an item in a zone of an LLRP reader makes a UHF tag (ISO/TS 28560-4, built with
``encode_uhf``) instead of an ISO 15693 one.

    [[tag]]                    # SimTag.from_spec keys, plus zone (omit: catalogued only)
    item = "30000001"
    isil = "VN-DEMO"
    zone = "pad"

    [[timeline]]               # actions run at `at` seconds after start
    at = 2.0
    action = "walk"            # place | remove | clear | walk | fault | input
    reader = "gate"
    items = ["30000001"]
    direction = "out"

Each action's keys are checked when the file is loaded (:func:`check_action`): ``remove``
needs ``key``, ``item`` or ``uid``; ``walk`` needs ``items``; ``fault`` needs ``kind``;
``input`` needs ``number``. An action that still fails when it runs (a reader refuses a
fault's parameters, say) is logged with the action and counted in ``status()``
(``failed_actions``); the timeline goes on.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import logging
import random
import threading
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hardware_sim.errors import SimError
from hardware_sim.feig_device import FeigReaderDevice
from hardware_sim.field import DEFAULT_ZONES, SimField
from hardware_sim.tag import SimTag, TagSpecError

log = logging.getLogger("hardware_sim.world")

WORLD_DIR = Path(__file__).parent / "worlds"
ACTIONS = ("place", "remove", "clear", "walk", "fault", "input")


class WorldSpecError(SimError):
    """A world file or a world request is invalid: names the key and what was expected."""


@dataclass
class ReaderSpec:
    name: str
    antennas: list[str]
    tcp_port: int = 0
    pty: bool = True
    tcp: bool = True
    baudrate: int = 38400
    page_records: int = 24
    protocol: str = "feig"
    zones: dict[str, list[int]] | None = None  # llrp: zone name -> antenna numbers


@dataclass
class WorldSpec:
    """A parsed world file."""

    zones: list[str] = field(default_factory=lambda: list(DEFAULT_ZONES))
    seed: int | None = None
    readers: list[ReaderSpec] = field(default_factory=list)
    tags: list[dict[str, Any]] = field(default_factory=list)
    timeline: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def default(cls) -> WorldSpec:
        """A pad reader, a two-antenna gate reader and a UHF (LLRP) reader, no tags."""
        return cls(readers=[ReaderSpec("pad", ["pad"]), ReaderSpec("gate", ["gate-in", "gate-out"]),
                            ReaderSpec("uhf", [], protocol="llrp")])

    @classmethod
    def load(cls, path: str | Path) -> WorldSpec:
        """Parse a world file (a bare name is looked up in ``hardware_sim/worlds``).

        Raises:
            WorldSpecError: unreadable TOML, unknown keys or actions, or bad values.
        """
        p = Path(path)
        if not p.exists() and (WORLD_DIR / f"{path}.toml").exists():
            p = WORLD_DIR / f"{path}.toml"
        try:
            doc = tomllib.loads(p.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise WorldSpecError(f"world file {p}: {exc}") from exc
        return cls.from_dict(doc, str(p))

    @classmethod
    def from_dict(cls, doc: dict[str, Any], where: str = "world") -> WorldSpec:
        unknown = set(doc) - {"simulator", "reader", "tag", "timeline"}
        if unknown:
            raise WorldSpecError(f"{where}: unknown tables {sorted(unknown)}")
        sim = doc.get("simulator", {})
        sc = cls(zones=list(sim.get("zones", DEFAULT_ZONES)), seed=sim.get("seed"))
        for i, r in enumerate(doc.get("reader", [])):
            extra = set(r) - {"name", "antennas", "tcp_port", "pty", "tcp", "baudrate", "page_records",
                              "protocol", "zones"}
            if extra or "name" not in r:
                raise WorldSpecError(f"{where}: reader {i}: needs name; unknown keys {sorted(extra)}")
            if r.get("protocol", "feig") not in ("feig", "llrp"):
                raise WorldSpecError(f"{where}: reader {i}: protocol must be feig or llrp")
            sc.readers.append(ReaderSpec(str(r["name"]), list(r.get("antennas", ["pad"])),
                                         int(r.get("tcp_port", 0)), bool(r.get("pty", True)),
                                         bool(r.get("tcp", True)), int(r.get("baudrate", 38400)),
                                         int(r.get("page_records", 24)), r.get("protocol", "feig"),
                                         r.get("zones")))
        if not sc.readers:
            sc.readers = cls.default().readers
        sc.tags = [dict(t) for t in doc.get("tag", [])]
        timeline = doc.get("timeline", [])
        if not isinstance(timeline, list):
            raise WorldSpecError(f"{where}: timeline must be an array of tables ([[timeline]])")
        for i, ev in enumerate(timeline):
            if not isinstance(ev, dict):
                raise WorldSpecError(f"{where}: timeline {i}: must be a table, got {ev!r}")
            at = ev.get("at")
            if isinstance(at, bool) or not isinstance(at, (int, float)) or at < 0:
                raise WorldSpecError(f"{where}: timeline {i}: needs at, seconds >= 0 (got {at!r})")
            check_action(ev, f"{where}: timeline {i}")
        sc.timeline = sorted((dict(e) for e in timeline), key=lambda e: float(e["at"]))
        return sc


def _need(ok: bool, where: str, kind: object, what: str) -> None:
    if not ok:
        raise WorldSpecError(f"{where} ({kind}): {what}")


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def check_action(a: dict[str, Any], where: str = "action") -> None:
    """Check one timeline / control action's keys and value types before it runs.

    Raises:
        WorldSpecError: unknown action, or a missing or mistyped field; names ``where``
            (e.g. ``timeline 3``), the action and the field.
    """
    kind = a.get("action")
    if kind not in ACTIONS:
        raise WorldSpecError(f"{where}: needs action, one of {ACTIONS} (got {kind!r})")
    if "reader" in a:
        _need(a["reader"] is None or isinstance(a["reader"], str), where, kind,
              f"reader must be a reader name, got {a['reader']!r}")
    if "zone" in a:
        _need(a["zone"] is None or isinstance(a["zone"], str), where, kind,
              f"zone must be a zone name, got {a['zone']!r}")
    if kind == "place":
        present = a.get("present")
        _need(present is None or (isinstance(present, list) and all(_is_int(p) for p in present)),
              where, kind, f"present must be a list of part numbers, got {present!r}")
    elif kind == "remove":
        _need(any(isinstance(a.get(k), (str, int)) and not isinstance(a.get(k), bool)
                  for k in ("key", "item", "uid")),
              where, kind, "needs key, item or uid (a UID or an item id)")
    elif kind == "walk":
        items = a.get("items")
        _need(isinstance(items, list) and bool(items) and all(
            isinstance(i, (str, int)) and not isinstance(i, bool) for i in items),
            where, kind, f"needs items, a non-empty list of item ids or UIDs (got {items!r})")
        _need(a.get("direction", "out") in ("in", "out"), where, kind,
              f"direction must be 'in' or 'out', got {a.get('direction')!r}")
        speed = a.get("speed_m_s", 1.2)
        _need(not isinstance(speed, bool) and isinstance(speed, (int, float)) and speed > 0,
              where, kind, f"speed_m_s must be a positive number, got {speed!r}")
    elif kind == "fault":
        _need(isinstance(a.get("kind"), str), where, kind, "needs kind, a fault name")
        count = a.get("count", 1)
        _need(count in (None, "forever") or (_is_int(count) and count >= 0), where, kind,
              f"count must be an int >= 0 or 'forever', got {count!r}")
    elif kind == "input":
        _need(_is_int(a.get("number")), where, kind,
              f"needs number, the input 1..8 (got {a.get('number')!r})")
        _need(isinstance(a.get("on", True), bool), where, kind,
              f"on must be true or false, got {a.get('on')!r}")


class Scheduler:
    """Runs callables at monotonic times on one background thread."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._cv = threading.Condition()
        self._stop = False
        self._thread: threading.Thread | None = None
        self.failures = 0  # callables that raised (logged; the scheduler keeps running)

    def start(self) -> None:
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="sim-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._cv:
            self._stop = True
            self._cv.notify()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def at(self, delay_s: float, fn: Callable[[], None]) -> None:
        with self._cv:
            heapq.heappush(self._heap, (time.monotonic() + max(0.0, delay_s), next(self._seq), fn))
            self._cv.notify()

    def pending(self) -> int:
        with self._cv:
            return len(self._heap)

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._stop and (not self._heap or self._heap[0][0] > time.monotonic()):
                    timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._cv.wait(timeout)
                if self._stop:
                    return
                _, _, fn = heapq.heappop(self._heap)
            try:
                fn()
            except SimError as exc:
                self.failures += 1
                log.error("scheduled action failed: %s", exc)
            except Exception:
                # One bad callable must not stop the thread, and with it every later
                # action: logged with its traceback, counted, and the loop goes on.
                self.failures += 1
                log.exception("scheduled action %r raised", fn)


class SimWorld:
    """Everything simulated, started and stopped together.

    Args:
        world_spec: what to build (default: a pad reader and a gate reader).
        timing: False makes readers answer at once (tests); the floor is still counted.
        host: where readers listen on TCP.
    """

    def __init__(self, world_spec: WorldSpec | None = None, *, timing: bool = True,
                 host: str = "127.0.0.1") -> None:
        self.spec = world_spec or WorldSpec.default()
        self.rng = random.Random(self.spec.seed)
        self.field = SimField(self.spec.zones)
        self.host = host
        self.readers: dict[str, FeigReaderDevice] = {}
        self.llrp: dict[str, Any] = {}  # name -> hardware_sim.llrp_device.LlrpReaderDevice
        for spec in self.spec.readers:
            if spec.name in self.readers or spec.name in self.llrp:
                raise WorldSpecError(f"two readers named {spec.name!r}")
            if spec.protocol == "llrp":
                self.llrp[spec.name] = _llrp_device(spec, timing)
                continue
            try:
                self.readers[spec.name] = FeigReaderDevice(
                    self.field, spec.antennas, name=spec.name, baudrate=spec.baudrate,
                    page_records=spec.page_records, timing=timing, seed=self.rng.randrange(1 << 30))
            except SimError as exc:
                raise WorldSpecError(f"reader {spec.name}: {exc}") from exc
        self.card: Any = None   # hardware_sim.card.SimCardDevice when serving vpcd
        self.ils: Any = None    # hardware_sim.ils.server.DemoIlsServer when embedded
        self.bank: Any = None   # hardware_sim.bank.SimBank when a webhook URL is configured
        self.scheduler = Scheduler()
        self.started_at = 0.0
        for t in self.spec.tags:
            tag_spec = dict(t)
            zone = tag_spec.pop("zone", None)
            tag = self.make_tag(tag_spec)
            if zone:
                self.field.place(tag, zone)

    # ---- life cycle ------------------------------------------------------------------------

    def start(self) -> SimWorld:
        for spec in self.spec.readers:
            if spec.name in self.llrp:
                self.llrp[spec.name].start(self.host, spec.tcp_port)
                continue
            self.readers[spec.name].start(pty=spec.pty, tcp=spec.tcp, host=self.host,
                                          port=spec.tcp_port)
        self.scheduler.start()
        self.started_at = time.monotonic()
        for i, ev in enumerate(self.spec.timeline):
            action = dict(ev)
            self.scheduler.at(float(action.pop("at")), functools.partial(self._timeline_action, i, action))
        return self

    def _timeline_action(self, index: int, action: dict[str, Any]) -> None:
        """Run a scheduled timeline action; a failure is logged with the action, not raised."""
        try:
            self.run_action(action)
        except (SimError, KeyError, ValueError, TypeError) as exc:
            self.scheduler.failures += 1
            log.error("timeline action %d %r failed: %s: %s", index, action,
                      type(exc).__name__, exc)

    def stop(self) -> None:
        self.scheduler.stop()
        for r in [*self.readers.values(), *self.llrp.values()]:
            r.stop()
        for extra in (self.card, self.ils):
            if extra is not None:
                extra.stop()

    def __enter__(self) -> SimWorld:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reader(self, name: str | None) -> FeigReaderDevice:
        """A reader by name (an LLRP one too: it has ``inject``, ``faults``, ``floor``,
        ``status``)."""
        if name is None:
            return next(iter(self.readers.values()))
        try:
            return self.readers[name] if name in self.readers else self.llrp[name]
        except KeyError:
            raise WorldSpecError(f"no reader {name!r}; readers: "
                                f"{sorted([*self.readers, *self.llrp])}") from None

    def endpoints(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, r in self.readers.items():
            out[name] = {"protocol": "feig", "pty": r.pty_path, "tcp_port": r.tcp_port,
                         "antennas": list(r.antennas),
                         "url": f"socket://{self.host}:{r.tcp_port}" if r.tcp_port else r.pty_path}
        for name, u in self.llrp.items():
            out[name] = {"protocol": "llrp", "tcp_port": u.tcp_port, "url": u.url,
                         "antennas": [f"antenna-{a}" for a in range(1, u.antenna_count + 1)],
                         "zones": {z: list(a) for z, a in u.field.zones.items()}}
        return out

    def _uhf_reader(self, zone: str) -> Any:
        """The LLRP reader whose zones include ``zone``, or None."""
        return next((u for u in self.llrp.values() if zone in u.field.zones), None)

    # ---- tags ------------------------------------------------------------------------------

    def make_tag(self, spec: dict[str, Any]) -> SimTag:
        """A catalogued tag; an item id already catalogued (same part) is reused."""
        if "item" in spec and "memory" not in spec and "uid" not in spec:
            part = int(spec.get("part", 1))
            for t in self.field.tags_for_item(str(spec["item"])):
                if _part_of(t) == part:
                    return t
        try:
            return self.field.register(SimTag.from_spec(spec, rng=self.rng))
        except TagSpecError as exc:
            raise WorldSpecError(str(exc)) from exc

    def place(self, spec: dict[str, Any], zone: str = "pad",
              present: list[int] | None = None) -> list[SimTag]:
        """Place an item (every part of a set, or only ``present`` parts: a partial set)
        or a full tag spec in ``zone``."""
        spec = dict(spec)
        uhf = self._uhf_reader(zone)
        if uhf is not None:
            return [self._place_uhf(uhf, spec, zone)]
        parts = int(spec.get("parts", 1))
        if "item" in spec and parts > 1 and "part" not in spec:
            wanted = present or list(range(1, parts + 1))
            tags = [self.make_tag({**spec, "part": k}) for k in wanted]
        else:
            tags = [self.make_tag(spec)]
        try:
            for t in tags:
                self.field.place(t, zone)
        except SimError as exc:
            raise WorldSpecError(str(exc)) from exc
        return tags

    def _place_uhf(self, uhf: Any, spec: dict[str, Any], zone: str) -> Any:
        """A UHF tag for ``spec["item"]`` (reused if catalogued) placed in ``zone``."""
        from hardware_sim.llrp_device import uhf_tag_for_item
        from hardware_sim.llrp_tag import UhfTagError

        if "item" not in spec:
            raise WorldSpecError(f"zone {zone!r} is a UHF zone: place an item (item id), got {spec}")
        item = str(spec["item"])
        found = [t for t in uhf.field.find(item) if t.item_id == item]
        try:
            tag = found[0] if found else uhf_tag_for_item(
                item, owner_library=spec.get("isil") or None, afi=int(spec.get("afi", 0x07)))
            uhf.field.place(tag, zone)
        except (UhfTagError, ValueError) as exc:
            raise WorldSpecError(f"UHF tag for {item!r}: {exc}") from exc
        return tag

    def find_tags(self, key: str) -> list[SimTag]:
        """Tags by UID hex or by item id."""
        by_item = self.field.tags_for_item(key)
        if by_item:
            return by_item
        try:
            return [self.field.tag(key)]
        except (SimError, ValueError):
            raise WorldSpecError(f"no tag with UID or item id {key!r}") from None

    def remove(self, key: str) -> list[str]:
        out = [t.epc_hex for u in self.llrp.values() for t in u.field.find(key) if u.field.remove(t)]
        if out:
            return out
        for t in self.find_tags(key):
            if self.field.remove(t.uid):
                out.append(t.uid_hex)
        return out

    # ---- gate walks ------------------------------------------------------------------------

    def walk(self, items: list[str], *, reader: str | None = None, direction: str = "out",
             speed_m_s: float = 1.2, depth_m: float = 0.6) -> dict[str, Any]:
        """Walk a patron carrying ``items`` (item ids or UIDs) through a gate.

        Going out, the patron breaks beam A (IN1, inside) and the items enter the first
        antenna's zone; halfway the items move to the second zone and beam B (IN2) takes
        over; at the far side everything clears. ``in`` is the mirror image.

        Returns:
            The planned times (seconds from now) and the UIDs carried.
        """
        if direction not in ("in", "out"):
            raise WorldSpecError(f"direction must be 'in' or 'out', got {direction!r}")
        if speed_m_s <= 0 or depth_m <= 0:
            raise WorldSpecError("speed and depth must be positive")
        if reader in self.llrp:
            raise WorldSpecError(f"reader {reader} is a UHF (LLRP) reader: walks drive FEIG gates; "
                                "place UHF tags in its zones and set its inputs instead")
        dev = self.reader(reader)
        zones = list(dev.antennas)
        if len(zones) < 2:
            raise WorldSpecError(f"reader {dev.name} has one antenna; a gate needs two")
        tags: list[SimTag] = []
        for key in items:
            try:
                tags += self.find_tags(key)
            except WorldSpecError:
                tags.append(self.make_tag({"item": key}))
        first, second = (zones[0], zones[1]) if direction == "out" else (zones[1], zones[0])
        beam1, beam2 = (1, 2) if direction == "out" else (2, 1)
        half = depth_m / 2 / speed_m_s

        def enter() -> None:
            dev.set_input(beam1, True)
            for t in tags:
                self.field.place(t, first)

        def middle() -> None:
            dev.set_input(beam1, False)
            dev.set_input(beam2, True)
            for t in tags:
                self.field.place(t, second)

        def leave() -> None:
            dev.set_input(beam2, False)
            for t in tags:
                self.field.remove(t.uid)

        self.scheduler.at(0, enter)
        self.scheduler.at(half, middle)
        self.scheduler.at(2 * half, leave)
        return {"reader": dev.name, "direction": direction, "uids": [t.uid_hex for t in tags],
                "enter_s": 0.0, "cross_s": half, "clear_s": 2 * half}

    # ---- actions (timeline, control API) -------------------------------------------------

    def run_action(self, a: dict[str, Any]) -> Any:
        """Run one timeline action (see the module docstring).

        Raises:
            WorldSpecError: (or another SimError) the action is invalid or refused.
        """
        check_action(a)
        a = dict(a)
        kind = a.pop("action")
        if kind == "place":
            zone = a.pop("zone", "pad")
            present = a.pop("present", None)
            return [t.uid_hex for t in self.place(a, zone, present)]
        if kind == "remove":
            return self.remove(str(a["key"] if "key" in a else a.get("item", a.get("uid"))))
        if kind == "clear":
            return self.field.clear(a.get("zone"))
        if kind == "walk":
            return self.walk([str(i) for i in a["items"]], reader=a.get("reader"),
                             direction=a.get("direction", "out"),
                             speed_m_s=float(a.get("speed_m_s", 1.2)))
        if kind == "fault":
            dev = self.reader(a.pop("reader", None))
            count = a.pop("count", 1)
            dev.inject(a.pop("kind"), None if count in (None, 0, "forever") else int(count), **a)
            return dev.faults.armed()
        if kind == "input":
            self.reader(a.get("reader")).set_input(int(a["number"]), bool(a.get("on", True)))
            return None
        raise WorldSpecError(f"unknown action {kind!r}; known: {ACTIONS}")

    def status(self) -> dict[str, Any]:
        return {
            "uptime_s": round(time.monotonic() - self.started_at, 3) if self.started_at else 0.0,
            "zones": self.field.snapshot(),
            "readers": {n: r.status() for n, r in [*self.readers.items(), *self.llrp.items()]},
            "tags": len(self.field.catalog()),
            "scheduled": self.scheduler.pending(),
            "failed_actions": self.scheduler.failures,
        }


def _llrp_device(spec: ReaderSpec, timing: bool) -> Any:
    from hardware_sim.llrp_device import DEFAULT_ZONES, LlrpReaderDevice
    from hardware_sim.llrp_tag import UhfField, UhfTagError

    try:
        zones = {str(z): [int(a) for a in ants] for z, ants in (spec.zones or DEFAULT_ZONES).items()}
        return LlrpReaderDevice(UhfField(zones), name=spec.name, timing=timing)
    except (UhfTagError, TypeError, ValueError) as exc:
        raise WorldSpecError(f"reader {spec.name}: zones must map names to antenna numbers: {exc}") from exc


def _part_of(tag: SimTag) -> int:
    from drivers.tags import decode_tag

    data = decode_tag(bytes(tag.memory), dsfid=tag.dsfid, lenient=True)
    return data.part_number or 1
