"""``smartlib soak``: a chaos soak of a whole site, and the accounting that proves the promise.

It starts a :class:`smartlib_demo.soak_site.SoakSite` (K kiosks, a gate, two gateways on a
PostgreSQL ledger, the broker, the simulator with its demo ILS, all supervised) and then,
from one seeded RNG per thread:

* **workers** (two per kiosk) log random patrons in through the kiosk's HTTP API and run
  checkouts, returns and renewals of items they place on that kiosk's simulated pad; each
  action is sent 1 to 5 times (repeats sequential or concurrent), and some have their tag
  taken off the pad while the call runs (a patron lifting the book mid-write);
* **faults**: 30 % of AFI writes fail on every pad reader (the simulator's ``fail_afi`` at
  ``rate`` 0.3); the demo ILS gets latency spikes, dropped connections and short outages;
* **the killer** sends SIGKILL at random moments to a random edge, agent, gateway or the
  broker (the pid from the supervisor), and counts a kill once the supervisor has restarted
  that process (new pid, running).

Then a quiet period: the workload and the killer stop, the faults clear, and every journal
drains. Each action is accounted for against the demo ILS's own ``applications`` table,
by item, patron and kind (never by transaction key); the rules are in :func:`account` and
in docs/demo.md (Soak). One JSON line is printed.

Items are serialised: an item is used by one action at a time, and used again only once
no edge's journal holds an entry for it without a result. So every ILS application of an
item between the start of one of its actions and the start of the next belongs to that
action; the application ids (``MAX(id)`` read at each action's start) are the boundaries.
(An open secure task whose check-in waits for its tag is not waited for: should it journal
that check-in later, the application falls in a later action's window and counts against
it, as a duplicate or a stray.) A session acts on an item at most once per kind: by the
one-action rule a second one is a repeat of the first.

Must not do: import a product package (it talks HTTP to the edges and the simulator and
reads the SQLite files read-only), or signal a process the soak did not start.
"""

from __future__ import annotations

import json
import logging
import os
import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from smartlib_demo.site import DEMO_PATRONS, DEVICE_TOKEN, HOME_ISIL, pick_items
from smartlib_demo.soak_site import (
    AFI_RELEASED,
    AFI_SECURED,
    SoakSite,
    kiosk_name,
    pad_zone,
    read_sqlite,
)

log = logging.getLogger("smartlib_demo.soak")

OK_STATUSES = frozenset({"loaned", "returned", "renewed", "offline_accepted", "checking",
                         "loaned_alarm_on"})
"""Answers that tell the patron the action went through (or is going through)."""
ILS_KIND = {"checkout": "checkout", "return": "checkin", "renew": "renew"}
"""The demo ILS's ``applications.kind`` of each workload action."""
TERMINAL = ("applied", "refused", "conflict", "failed")
AFI_FAULT_RATE = 0.3
MAX_DOWN = 2
"""Processes killed and not yet back at most at one time."""


@dataclass(frozen=True)
class SoakOptions:
    """What ``smartlib soak`` runs."""

    kills: int = 20
    seed: int = 1
    kiosks: int = 2
    minutes: float = 1.0
    run_dir: Path = Path("var/soak")
    items: int = 400
    workers_per_kiosk: int = 2
    drain_timeout_s: float = 240.0
    watchdog_s: float = 10.0


@dataclass
class Call:
    """One HTTP call of an action and what came back for the action's item."""

    answer: str          # ok:<status> | refused:<code> | error:<code> | no_answer:<what>
    key: str | None = None


@dataclass
class Action:
    """One patron action of the workload."""

    n: int
    kind: str            # checkout | return | renew
    item: str
    patron: str
    device: str
    repeats: int
    concurrent: bool
    lifted: bool         # the tag was taken off the pad while the call ran
    wm_start: int        # MAX(applications.id) of the demo ILS before the first call
    t_start: str
    calls: list[Call] = field(default_factory=list)
    wm_end: int | None = None  # the next action's wm_start on this item, or the end's
    verdict: str = ""
    reason: str = ""


# ---- the demo ILS and the stores, read-only -----------------------------------------------

class Ledgers:
    """Read-only views of the demo ILS database and the edges' journals."""

    def __init__(self, site: SoakSite) -> None:
        self.site = site

    def ils(self, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
        return read_sqlite(self.site.ils_db, sql, args)

    def watermark(self) -> int:
        rows = self.ils("SELECT COALESCE(MAX(id), 0) FROM applications")
        return int(rows[0][0]) if rows else 0

    def loans(self, items: set[str]) -> dict[str, str]:
        """Item → patron of every current ILS loan among ``items``."""
        return {r["item_id"]: r["patron_id"] for r in self.ils("SELECT item_id, patron_id FROM loans")
                if r["item_id"] in items}

    def unsettled(self, item: str) -> bool:
        """Whether any edge's journal holds an entry for ``item`` without a result yet."""
        marks = ",".join("?" * len(TERMINAL))
        for device in self.site.devices:
            rows = self.site.read_store(
                device, f"SELECT COUNT(*) FROM outbox WHERE item_id=? AND state NOT IN ({marks})",
                (item, *TERMINAL))
            if rows and rows[0][0]:
                return True
        return False

    def backlog(self) -> int:
        """Outbox entries without a result, over every edge."""
        marks = ",".join("?" * len(TERMINAL))
        total = 0
        for device in self.site.devices:
            rows = self.site.read_store(
                device, f"SELECT COUNT(*) FROM outbox WHERE state NOT IN ({marks})", TERMINAL)
            total += int(rows[0][0]) if rows else 0
        return total

    def journal(self, item: str) -> list[dict[str, Any]]:
        """Every edge's outbox entries for ``item`` (device, key, kind, state, payload, result)."""
        out = []
        for device in self.site.devices:
            for r in self.site.read_store(
                    device, "SELECT key, kind, state, payload, result, created_at, offline "
                    "FROM outbox WHERE item_id=? ORDER BY seq", (item,)):
                d = dict(r)
                d["device"] = device
                d["payload"] = json.loads(d["payload"] or "{}")
                d["result"] = json.loads(d["result"]) if d["result"] else None
                out.append(d)
        return out

    def ledger(self, item: str) -> list[dict[str, Any]]:
        """The gateways' ledger rows (PostgreSQL) for ``item``, oldest first."""
        import psycopg
        from psycopg.rows import dict_row

        with psycopg.connect(self.site.pg_dsn, row_factory=dict_row) as conn:
            rows = conn.execute(
                "SELECT key, device, kind, item, patron, created_at, state, attempts, status, "
                "result, started_at, applied_at FROM ledger WHERE item = %s ORDER BY started_at",
                (item,)).fetchall()
        return [dict(r) for r in rows]

    def open_security_tasks(self) -> set[str]:
        """Items with a security task (release or secure) still open at some edge."""
        out: set[str] = set()
        for device in self.site.devices:
            out |= {r[0] for r in self.site.read_store(
                device, "SELECT item_id FROM security_tasks WHERE state IN ('pending','alarm_on')")}
        return out


# ---- the workload ---------------------------------------------------------------------------

class ItemPool:
    """The soak's items; each is free (for its next action), busy or settling."""

    def __init__(self, items: list[str]) -> None:
        self.items = list(items)
        self.free: set[str] = set(items)
        self.settling: dict[str, float] = {}
        self.lock = threading.Lock()

    def take(self, rng: random.Random, wanted: Callable[[str], bool]) -> str | None:
        with self.lock:
            choices = sorted(i for i in self.free if wanted(i))
            if not choices:
                return None
            item = rng.choice(choices)
            self.free.discard(item)
            return item

    def settle_later(self, item: str) -> None:
        with self.lock:
            self.settling[item] = time.monotonic()

    def settle(self, ledgers: Ledgers) -> None:
        """Free the settling items whose work has finished at every edge."""
        with self.lock:
            waiting = [i for i, t in self.settling.items() if time.monotonic() - t > 0.3]
        for item in waiting:
            if not ledgers.unsettled(item):
                with self.lock:
                    self.settling.pop(item, None)
                    self.free.add(item)


@dataclass
class Soak:
    """One soak run: the site, the workload, the killer, the accounting."""

    options: SoakOptions
    site: SoakSite
    interrupt: threading.Event = field(default_factory=threading.Event)
    stop_work: threading.Event = field(default_factory=threading.Event)
    actions: list[Action] = field(default_factory=list)
    kills: Counter[str] = field(default_factory=Counter)
    kill_log: list[dict[str, Any]] = field(default_factory=list)
    faults: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _n: int = 0

    def __post_init__(self) -> None:
        self.ledgers = Ledgers(self.site)
        self.pool = ItemPool(pick_items(self.site.export_dir, self.options.items,
                                        kind="available"))
        self.patrons = self._patrons()
        self.sim = httpx.Client(base_url=self.site.sim_url, timeout=30)

    def _patrons(self) -> list[tuple[str, str | None]]:
        """Patrons in good standing: the named demo ones with their PIN, and the demo ILS's
        general patrons (their PINs are random and only hashed: they log in by barcode,
        which needs no PIN by default)."""
        pins = {p[0]: p[1] for p in DEMO_PATRONS}
        today = datetime.now().isoformat()
        rows = self.ledgers.ils("SELECT id FROM patrons WHERE blocked=0 AND fines < 50000 AND "
                                "expires > ? AND id NOT IN ('2000005') ORDER BY id", (today,))
        return [(r["id"], pins.get(r["id"])) for r in rows][:120]

    # -- helpers

    def _next_n(self) -> int:
        with self._lock:
            self._n += 1
            return self._n

    def _place(self, item: str, zone: str) -> None:
        self.sim.post("/tags", json={"item": item, "isil": HOME_ISIL, "zone": zone}
                      ).raise_for_status()

    def _lift(self, item: str) -> None:
        r = self.sim.delete(f"/tags/{item}")
        if r.status_code not in (200, 404):
            r.raise_for_status()

    # -- the workers

    def worker(self, device: str, zone: str, rng: random.Random) -> None:
        """Sessions of random patrons at ``device``, each with a few actions."""
        client = httpx.Client(base_url=self.site.api_url(device), timeout=60,
                              headers={"Authorization": f"Bearer {DEVICE_TOKEN}"})
        try:
            while not self.stop_work.is_set():
                patron, pin = rng.choice(self.patrons)
                session = self._login(client, patron, pin)
                if session is None:
                    self.stop_work.wait(0.5)
                    continue
                done: set[tuple[str, str]] = set()
                for _ in range(rng.randint(1, 4)):
                    if self.stop_work.is_set():
                        break
                    if not self._one_action(client, device, zone, session, patron, rng, done):
                        break  # the session is gone (edge restarted): log in again
                try:
                    client.delete(f"/sessions/{session}")
                except httpx.HTTPError:
                    pass
        except Exception as exc:  # a worker must not die silently: record and stop it
            log.exception("soak worker at %s failed", device)
            self.errors.append(f"worker at {device}: {exc!r}")
        finally:
            client.close()

    def _login(self, client: httpx.Client, patron: str, pin: str | None) -> str | None:
        """Log ``patron`` in as the kiosk does after a barcode scan: ``POST /scans`` with
        the scan (the edge answers a single-use scan token), then ``POST /sessions`` with
        source ``barcode`` and that token (without one the edge counts the login as a
        typed number, which needs a PIN). None when either call fails."""
        try:
            scan = client.post("/scans", json={"raw": patron})
            if scan.status_code != 200:
                return None
            cred: dict[str, Any] = {"source": "barcode", "identifier": patron,
                                    "scan_token": scan.json()["scan_token"]}
            if pin:
                cred["pin"] = pin
            r = client.post("/sessions", json={"credential": cred, "language": "en"})
        except httpx.HTTPError:
            return None
        if r.status_code != 201:
            return None
        return str(r.json()["id"])

    def _one_action(self, client: httpx.Client, device: str, zone: str, session: str,
                    patron: str, rng: random.Random, done: set[tuple[str, str]]) -> bool:
        """One action (``done``: the session's (item, kind) so far: a second one would be a
        repeat of the first by the one-action rule, so the workload never makes one)."""
        mine = self.ledgers.loans(set(self.pool.items))
        roll = rng.random()
        kind = "checkout" if roll < 0.5 else "return" if roll < 0.8 else "renew"
        if kind != "checkout":
            item = self.pool.take(rng, lambda i: mine.get(i) == patron and (i, kind) not in done)
            if item is None:
                kind = "checkout"
        if kind == "checkout":
            item = self.pool.take(rng, lambda i: i not in mine and (i, kind) not in done)
        if item is None:
            self.stop_work.wait(0.2)
            return True
        done.add((item, kind))
        repeats = 1 if rng.random() < 0.5 else rng.randint(2, 5)
        concurrent = repeats > 1 and rng.random() < 0.5
        lifted = kind != "renew" and rng.random() < 0.1
        action = Action(self._next_n(), kind, item, patron, device, repeats, concurrent, lifted,
                        self.ledgers.watermark(), _utc())
        with self._lock:
            self.actions.append(action)
        try:
            if kind != "renew":
                self._place(item, zone)
            path = {"checkout": "checkout", "return": "return", "renew": "renew"}[kind]
            body = {"items": [item]}

            def call() -> Call:
                return self._call(client, f"/sessions/{session}/{path}", body, item)

            lifter = None
            if lifted:
                lifter = threading.Timer(rng.uniform(0.02, 0.8), self._lift, (item,))
                lifter.start()
            if concurrent:
                with ThreadPoolExecutor(repeats) as ex:
                    action.calls = list(ex.map(lambda _: call(), range(repeats)))
            else:
                action.calls = [call() for _ in range(repeats)]
            if lifter is not None:
                lifter.join()
            if kind != "renew":
                self._lift(item)  # the patron takes the book away (or drops it in the bin)
        finally:
            self.pool.settle_later(item)
        return not all(c.answer == "error:session_expired" for c in action.calls)

    def _call(self, client: httpx.Client, path: str, body: dict[str, Any], item: str) -> Call:
        try:
            r = client.post(path, json=body)
        except httpx.HTTPError as exc:
            return Call(f"no_answer:{type(exc).__name__}")
        try:
            data = r.json()
        except ValueError:
            return Call(f"error:http_{r.status_code}")
        if r.status_code != 200:
            code = data.get("error", {}).get("code") if isinstance(data.get("error"), dict) \
                else data.get("code") or data.get("error")
            return Call(f"error:{code or f'http_{r.status_code}'}")
        lines = [x for x in data.get("results", []) if x.get("item_id") == item]
        if not lines:
            return Call("refused:item_not_on_pad")
        line = lines[0]
        if line["status"] in OK_STATUSES:
            return Call(f"ok:{line['status']}", line.get("transaction"))
        return Call(f"refused:{line.get('code') or line['status']}", line.get("transaction"))

    # -- faults

    def arm_afi_faults(self) -> None:
        for n in range(1, self.site.kiosks + 1):
            self.sim.post(f"/readers/{pad_zone(n)}/faults", json={
                "kind": "fail_afi", "count": None,
                "params": {"rate": AFI_FAULT_RATE, "seed": self.options.seed + n}}
            ).raise_for_status()

    def clear_faults(self) -> None:
        for n in range(1, self.site.kiosks + 1):
            self.sim.delete(f"/readers/{pad_zone(n)}/faults").raise_for_status()
        self.sim.post("/ils/faults", json={"outage": False, "latency_s": 0}).raise_for_status()

    def ils_faults(self, rng: random.Random) -> None:
        """Latency spikes, dropped connections and short outages of the demo ILS."""
        while not self.stop_work.wait(rng.uniform(2.0, 8.0)):
            roll = rng.random()
            try:
                if roll < 0.4:
                    self.sim.post("/ils/faults", json={"latency_s": rng.uniform(0.3, 2.5)})
                    self.faults["ils_latency"] += 1
                    self.stop_work.wait(rng.uniform(1.0, 5.0))
                    self.sim.post("/ils/faults", json={"latency_s": 0})
                elif roll < 0.8:
                    self.sim.post("/ils/faults", json={"drop_connections": True})
                    self.faults["ils_drop"] += 1
                else:
                    self.sim.post("/ils/faults", json={"outage": True})
                    self.faults["ils_outage"] += 1
                    self.stop_work.wait(rng.uniform(0.3, 2.0))
                    self.sim.post("/ils/faults", json={"outage": False})
            except httpx.HTTPError as exc:
                self.errors.append(f"ILS fault control: {exc!r}")

    # -- the killer

    def killer(self, rng: random.Random, deadline: float) -> None:
        """SIGKILL a random target every few seconds until ``options.kills`` are counted."""
        sup = self.site.supervisor
        assert sup is not None
        gap = max(0.5, self.options.minutes * 60.0 / max(self.options.kills, 1))
        # Kill n falls near start + n * gap (jittered by up to half a gap either way), so
        # the time spent waiting for restarts does not add up: --minutes is the kill phase.
        start, issued = time.monotonic(), 0
        down: dict[str, tuple[int, float]] = {}
        targets = self.site.kill_targets
        while (sum(self.kills.values()) < self.options.kills and time.monotonic() < deadline
               and not self.interrupt.is_set()):
            snap = sup.snapshot()
            self._count_back(down, snap)
            if len(down) >= MAX_DOWN or sum(self.kills.values()) + len(down) >= self.options.kills:
                time.sleep(0.1)
                continue
            ready = [t for t in targets if t not in down and snap[t]["state"] == "running"]
            if not ready:
                time.sleep(0.1)
                continue
            name = rng.choice(ready)
            pid = int(snap[name]["pid"])
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
            down[name] = (pid, time.monotonic())
            issued += 1
            due = start + (issued + rng.uniform(-0.5, 0.5)) * gap
            time.sleep(max(0.2, due - time.monotonic()))
        # wait for the last ones to come back (not counted if they do not)
        end = time.monotonic() + 60
        while down and time.monotonic() < end:
            self._count_back(down, sup.snapshot())
            time.sleep(0.1)

    def _count_back(self, down: dict[str, tuple[int, float]],
                    snap: dict[str, dict[str, Any]]) -> None:
        """Count the kills whose process the supervisor has restarted (new pid, running)."""
        for name, (old, t) in list(down.items()):
            v = snap[name]
            if v["pid"] != old and v["state"] == "running":
                del down[name]
                self.kills[name] += 1
                self.kill_log.append({"target": name, "pid": old,
                                      "back_s": round(time.monotonic() - t, 2)})

    # -- the run

    def run(self) -> dict[str, Any]:
        """Run the workload and the killer, drain, account; the report (one JSON object)."""
        t0 = time.monotonic()
        master = random.Random(self.options.seed)
        self.arm_afi_faults()
        threads = []
        for n in range(1, self.site.kiosks + 1):
            for w in range(self.options.workers_per_kiosk):
                threads.append(threading.Thread(
                    target=self.worker, name=f"soak-{n}-{w}", daemon=True,
                    args=(kiosk_name(n), pad_zone(n), random.Random(master.random()))))
        threads.append(threading.Thread(target=self.ils_faults, name="soak-ils", daemon=True,
                                        args=(random.Random(master.random()),)))
        settler_stop = threading.Event()

        def settler() -> None:
            while not settler_stop.wait(0.5):
                self.pool.settle(self.ledgers)

        threads.append(threading.Thread(target=settler, name="soak-settle", daemon=True))
        for t in threads:
            t.start()
        killer_rng = random.Random(master.random())
        self.killer(killer_rng, time.monotonic() + self.options.minutes * 60 * 2 + 120)
        kill_s = time.monotonic() - t0
        self.stop_work.set()
        for t in threads[:-1]:
            t.join(120)
        self.clear_faults()
        drained = self._drain()
        settler_stop.set()
        report = self.account()
        report.update(kills=sum(self.kills.values()), kills_wanted=self.options.kills,
                      kills_by_target=dict(sorted(self.kills.items())),
                      faults=dict(self.faults), drained=drained,
                      kill_phase_s=round(kill_s, 1), seconds=round(time.monotonic() - t0, 1),
                      seed=self.options.seed, kiosks=self.site.kiosks,
                      restarts={k: v["restarts"] for k, v in
                                (self.site.supervisor.snapshot().items()
                                 if self.site.supervisor else [])},
                      errors=self.errors[:10])
        return report

    def _drain(self) -> bool:
        """Wait until no edge's journal holds unfinished work; True if it drained."""
        end = time.monotonic() + self.options.drain_timeout_s
        while time.monotonic() < end:
            if self.ledgers.backlog() == 0:
                return True
            time.sleep(1.0)
        return False

    # -- the accounting

    def account(self) -> dict[str, Any]:
        """Classify every action against the demo ILS's applications (see :func:`classify`),
        and check the tags' alarm state against the ILS's loans."""
        end_wm = self.ledgers.watermark()
        by_item: dict[str, list[Action]] = {}
        for a in self.actions:
            by_item.setdefault(a.item, []).append(a)
        apps: dict[str, list[dict[str, Any]]] = {}
        for r in self.ledgers.ils("SELECT id, kind, patron_id, item_id, xk FROM applications "
                                  "WHERE id > ? ORDER BY id", (min(
                                      (a.wm_start for a in self.actions), default=end_wm),)):
            apps.setdefault(r["item_id"], []).append(dict(r))
        counts: Counter[str] = Counter()
        reasons: Counter[str] = Counter()
        problems: list[dict[str, Any]] = []
        for item, acts in by_item.items():
            journal = self.ledgers.journal(item)
            for a, window, entries in windows(acts, apps.get(item, []), journal, end_wm):
                verdict, reason, stray = classify(a, window, entries)
                a.verdict, a.reason = verdict, reason
                counts[verdict] += 1
                if verdict == "refused":
                    reasons[reason] += 1
                if stray:
                    counts["stray"] += stray
                if verdict in ("lost", "duplicated") or stray:
                    problems.append({"action": asdict(a), "applications": window,
                                     "journal": entries, "ledger": self.ledgers.ledger(item),
                                     "stray": stray})
        touched = set(by_item)
        released_not_loaned, alarm_on_unflagged = tag_checks(
            self.sim.get("/tags").json(), self.ledgers.loans(touched),
            self.ledgers.open_security_tasks(), touched)
        detail = {"problems": problems, "released_not_loaned": released_not_loaned,
                  "alarm_on_unflagged": alarm_on_unflagged,
                  "actions": [asdict(a) for a in self.actions], "kill_log": self.kill_log}
        (self.site.run_dir / "soak-detail.json").write_text(json.dumps(detail, indent=1))
        return {"actions": len(self.actions), "applied": counts["applied"],
                "refused": counts["refused"], "lost": counts["lost"],
                "duplicated": counts["duplicated"] + counts["stray"],
                "released_not_loaned": len(released_not_loaned),
                "alarm_on_unflagged": len(alarm_on_unflagged),
                "refused_by_reason": dict(reasons.most_common()),
                "repeated": sum(1 for a in self.actions if a.repeats > 1),
                "concurrent": sum(1 for a in self.actions if a.concurrent),
                "lifted": sum(1 for a in self.actions if a.lifted),
                "detail": str(self.site.run_dir / "soak-detail.json")}


def windows(acts: list[Action], apps: list[dict[str, Any]], journal: list[dict[str, Any]],
            end_wm: int) -> list[tuple[Action, list[dict[str, Any]], list[dict[str, Any]]]]:
    """Each action of one item (in start order) with its *window*: the ILS's applications
    of the item from its start to the next action's start (``applications.id`` read at
    each start; ``end_wm`` at the end), and the journal entries of the item made in that
    time. Sets each action's ``wm_end``.

    Two actions of the same kind on one item (a renewal asked again in a later session,
    a second checkout after a return) each get their own window, so each is counted once:
    only two applications inside one action's window are a duplicate.
    """
    out = []
    for i, a in enumerate(acts):
        a.wm_end = acts[i + 1].wm_start if i + 1 < len(acts) else end_wm
        t_end = acts[i + 1].t_start if i + 1 < len(acts) else "9999"
        out.append((a, [x for x in apps if a.wm_start < x["id"] <= a.wm_end],
                    [e for e in journal if a.t_start <= e["created_at"] < t_end]))
    return out


def tag_checks(tags: list[dict[str, Any]], loans: dict[str, str], flagged: set[str],
               touched: set[str]) -> tuple[list[str], list[str]]:
    """The tags' alarm state against the ILS's loans, for the items the soak touched.

    Returns:
        ``released_not_loaned``: tags with the alarm off (AFI released) whose item the ILS
        has not on loan; ``alarm_on_unflagged``: ILS loans whose tag has the alarm on (AFI
        secured) while no edge has an open security task for the item (a loan whose
        release failed is fine only while a release task flags it; a returned book whose
        secure write reached the tag but whose check-in waits is flagged by its secure
        task). Tags with any other AFI, and items without a tag, count in neither.
    """
    by_item = {t["item"]: t for t in tags if t.get("item") in touched}
    released_not_loaned = sorted(i for i, t in by_item.items()
                                 if t["afi"] == AFI_RELEASED and i not in loans)
    alarm_on_unflagged = sorted(i for i in loans if i in by_item
                                and by_item[i]["afi"] == AFI_SECURED and i not in flagged)
    return released_not_loaned, alarm_on_unflagged


def classify(a: Action, window: list[dict[str, Any]],
             entries: list[dict[str, Any]]) -> tuple[str, str, int]:
    """The verdict on one action: ``(applied | refused | lost | duplicated, reason, stray)``.

    ``window``: the demo ILS's applications of the action's item between its start and the
    next action's start on the item; ``entries``: the edges' journal entries for the item
    made in that time. The rules (docs/demo.md, Soak):

    * the action's own applications are those of its ILS kind (checkout → ``checkout``,
      return → ``checkin``, renewal → ``renew``), for its patron (a check-in carries none);
    * two or more: **duplicated**, whatever the answers said;
    * exactly one: **applied**, except a checkout the edge withdrew and undid with a
      compensating check-in (a journal entry whose payload ``compensates`` a key) that the
      ILS applied too: **refused** (``withdrawn_compensated``);
    * none: **lost** if an answer said it went through (``loaned``, ``returned``,
      ``renewed``, ``offline_accepted``, ``loaned_alarm_on``, ``checking``) and no journal
      entry of it ended refused; lost too if a journal entry of its kind is ``applied``
      or still unfinished after the drain. Otherwise **refused**, with the reason: the
      edge's code (refused before journaling: ``loan_limit``, ``alarm_still_on``,
      ``item_not_on_pad`` …), the journal's refusal (the ILS's reason, or a conflict), or
      ``no_answer`` when every call died with the edge and nothing was journaled;
    * ``stray``: applications in the window that are neither the action's own nor a
      journaled compensation; each counts as a duplicate (an application no action asked
      for).
    """
    kind = ILS_KIND[a.kind]
    journal_kind = "checkin" if a.kind == "return" else a.kind
    own = [x for x in window if x["kind"] == kind
           and (kind == "checkin" or x["patron_id"] == a.patron)]
    compensations = [e for e in entries if e["kind"] == "checkin" and e["payload"].get("compensates")]
    comp_apps = [x for x in window if a.kind == "checkout" and x["kind"] == "checkin"]
    explained = min(len(comp_apps), len(compensations))
    stray = len(window) - len(own) - explained
    ok_told = any(c.answer.startswith("ok:") for c in a.calls)
    mine = [e for e in entries if e["kind"] == journal_kind and not e["payload"].get("compensates")]
    if len(own) >= 2:
        return "duplicated", f"{len(own)} {kind} applications", stray
    if len(own) == 1:
        if explained:
            codes = [c.answer.split(":", 1)[1] for c in a.calls if c.answer.startswith("refused:")]
            return "refused", f"withdrawn_compensated:{codes[0] if codes else '?'}", stray
        return "applied", "", stray
    unfinished = [e for e in mine if e["state"] not in TERMINAL]
    if unfinished:
        return "lost", f"journal entry {unfinished[0]['key']} still {unfinished[0]['state']}", stray
    applied = [e for e in mine if e["state"] == "applied"
               and (e["result"] or {}).get("ok") is not False]
    if applied:
        return "lost", f"journal entry {applied[0]['key']} applied, no ILS application", stray
    refused_entries = [e for e in mine if e["state"] in ("refused", "conflict", "failed")
                       or (e["result"] or {}).get("ok") is False]
    if ok_told and not refused_entries:
        return "lost", "answered " + ",".join(c.answer for c in a.calls), stray
    if refused_entries:
        e = refused_entries[0]
        res = e["result"] or {}
        why = res.get("screen_message") or res.get("message") or res.get("reason") or ""
        if isinstance(why, list):
            why = " ".join(why)
        return "refused", f"ils_{e['state']}:{why}"[:80], stray
    codes = [c.answer.split(":", 1)[1] for c in a.calls if c.answer.startswith(("refused:", "error:"))]
    if codes:
        return "refused", codes[0], stray
    return "refused", "no_answer", stray


def _utc() -> str:
    """Now, in the edge store's timestamp format (so that the two compare as strings)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def must_be_zero(report: dict[str, Any]) -> list[str]:
    """The figures of ``report`` that must be 0 and are not (and a kill count short)."""
    bad = [k for k in ("lost", "duplicated", "released_not_loaned", "alarm_on_unflagged")
           if report.get(k)]
    if report.get("kills", 0) < report.get("kills_wanted", 0):
        bad.append("kills")
    return bad
