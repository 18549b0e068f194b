"""Scripted demo scenarios: ``smartlib demo --headless --scenario NAME[,NAME…]``.

A scenario is a TOML file in ``smartlib_demo/scenario_files/`` with a name, a description and a
list of steps. The runner drives a running :class:`smartlib_demo.system.DemoSystem` from the
outside, like a technician would: the simulator's control API (place tags, walk through
the gate, inject faults), the edges' HTTP API (log in, check out, return, read alarms and
the journal), the demo's own processes (stop and start the broker), and the demo ILS's
``smartlib sim ils stats`` plus a read-only look at its ``applications`` table (to count
what was applied, and how often).

Steps (``do = …``; every step takes an optional ``expect`` table):

========================  ================================================================
``pick``                  ``kind`` (available | loaned), ``count``, ``as``: fresh item ids
``pick_patron``           ``as``, ``min_limit``: a fresh patron in good standing, no loans
``place``                 ``items`` (a picked name or a list), ``zone``, ``parts``,
                          ``present`` (a partial set), ``afi``
``clear``                 ``zone``: take tags out of the field
``login`` / ``logout``    ``patron``, ``pin``; ``expect.offline``
``checkout``              ``items`` (default: the pad); ``expect.status``, ``count``, ``codes``
``return``                ``anonymous``; ``expect`` as for checkout
``fault``                 ``reader``, ``kind``, ``count``, ``params``
``clear_faults``          ``reader``
``broker``                ``state`` = down | up
``walk``                  ``items`` (names or lists), ``direction``, ``reader``
``wait_alarms``           ``expect.count``, ``expect.items`` (gate alarms since the
                          scenario began), ``timeout``
``wait_afi``              ``items``, ``afi``, ``timeout``: the tags' AFI in the simulator
``released_have_loans``   ``items``, ``afi`` (default 0xC2): every tag in the released
                          state is on loan in the ILS now (fails naming the others)
``wait_journal``          ``timeout``: every transaction of the scenario applied at the
                          edge; reports ``lost`` (never applied in the ILS) and
                          ``duplicates`` (applied more than once); ``expect.lost``,
                          ``expect.duplicates``
``wait_security``         ``timeout``: no open security task at the kiosk
``ils_stats``             ``expect.duplicate_count`` (the demo ILS's own count)
``counters``              ``device``, ``expect.at_least`` {name: n} (today's counters)
========================  ================================================================

It imports no product package (it talks to processes), and it never asserts timings: each
step's seconds are reported, not judged.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import subprocess
import threading
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from smartlib_demo.errors import DemoError, ScenarioError
from smartlib_demo.site import DEVICE_TOKEN, HOME_ISIL, STAFF_TOKEN, pick_items

if TYPE_CHECKING:
    from smartlib_demo.system import DemoSystem

log = logging.getLogger(__name__)

SCENARIO_DIR = Path(__file__).parent / "scenario_files"


class ExpectationFailed(Exception):
    """A step's result differs from what the scenario expects (the message says how)."""


@dataclass(frozen=True)
class Scenario:
    """One parsed scenario file."""

    name: str
    description: str
    steps: tuple[dict[str, Any], ...]
    path: Path

    @classmethod
    def load(cls, path: Path) -> Scenario:
        """Parse a scenario file.

        Raises:
            ScenarioError: unreadable TOML, a missing name, or an unknown step.
        """
        try:
            doc = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ScenarioError(f"scenario {path}: {exc}") from exc
        steps = tuple(dict(s) for s in doc.get("step", []))
        for i, s in enumerate(steps):
            if s.get("do") not in STEPS:
                raise ScenarioError(f"{path}: step {i + 1}: do = {s.get('do')!r}; "
                                    f"known: {sorted(STEPS)}")
        if not doc.get("name") or not steps:
            raise ScenarioError(f"{path}: needs a name and at least one [[step]]")
        return cls(str(doc["name"]), str(doc.get("description", "")), steps, path)


def load_all(directory: Path = SCENARIO_DIR) -> dict[str, Scenario]:
    """Every shipped scenario by name."""
    out = {}
    for p in sorted(directory.glob("*.toml")):
        s = Scenario.load(p)
        out[s.name] = s
    return out


def select(names: str, directory: Path = SCENARIO_DIR) -> list[Scenario]:
    """Scenarios for a comma list of names (``all`` = every shipped one), or files.

    Raises:
        ScenarioError: an unknown name.
    """
    known = load_all(directory)
    out: list[Scenario] = []
    for name in (n.strip() for n in names.split(",") if n.strip()):
        if name == "all":
            out += list(known.values())
        elif name in known:
            out.append(known[name])
        elif Path(name).is_file():
            out.append(Scenario.load(Path(name)))
        else:
            raise ScenarioError(f"unknown scenario {name!r}; shipped: {', '.join(sorted(known))}")
    return out


# ---- the runner ------------------------------------------------------------------------

@dataclass
class Context:
    """What one scenario run knows: the system, picked items, its session and journal keys."""

    system: DemoSystem
    used_items: set[str]
    picked: dict[str, list[str]] = field(default_factory=dict)
    session: str | None = None
    keys: list[str] = field(default_factory=list)
    started_at: str = ""
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=60))

    def device_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {DEVICE_TOKEN}"}

    def staff_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {STAFF_TOKEN}"}

    def call(self, method: str, url: str, *, staff: bool = False, ok: tuple[int, ...] = (200,),
             **kw: Any) -> Any:
        headers = self.staff_headers() if staff else self.device_headers()
        r = self.http.request(method, url, headers=headers, **kw)
        if r.status_code not in ok:
            raise ExpectationFailed(f"{method} {url} answered {r.status_code}: {r.text[:400]}")
        return r.json() if r.content and "json" in r.headers.get("content-type", "") else None

    def sim(self, method: str, path: str, body: Any = None) -> Any:
        r = self.http.request(method, self.system.sim_url + path, json=body)
        if r.status_code >= 400:
            raise ExpectationFailed(f"simulator {method} {path}: {r.status_code} {r.text[:300]}")
        return r.json()

    def items(self, ref: Any) -> list[str]:
        """A picked list by name, a literal list, or a list of both."""
        if ref is None:
            return []
        if isinstance(ref, str):
            if ref in self.picked:
                return list(self.picked[ref])
            return [ref]
        out: list[str] = []
        for r in ref:
            out += self.items(r)
        return out


def run_all(scenarios: list[Scenario], system: DemoSystem,
            stop: threading.Event | None = None) -> dict[str, Any]:
    """Run scenarios one after another on one started system; return the JSON summary."""
    used: set[str] = set()
    results = []
    for sc in scenarios:
        if stop is not None and stop.is_set():
            results.append({"name": sc.name, "ok": False, "error": "interrupted", "steps": []})
            break
        results.append(run_one(sc, system, used))
    return {"ok": bool(results) and all(r["ok"] for r in results),
            "passed": sum(1 for r in results if r["ok"]), "failed": sum(1 for r in results
                                                                          if not r["ok"]),
            "startup_s": system.timings.get("startup_s"), "run_dir": str(system.run_dir),
            "cache_kinds": system.endpoints.get("cache_kinds", []),
            "scenarios": results}


def run_one(sc: Scenario, system: DemoSystem, used: set[str]) -> dict[str, Any]:
    """Run one scenario; a failed step stops it (its clean-up steps still run)."""
    ctx = Context(system, used, started_at=time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()))
    out: dict[str, Any] = {"name": sc.name, "description": sc.description, "steps": []}
    t0 = time.monotonic()
    failed = False
    try:
        for i, step in enumerate(sc.steps, start=1):
            if failed and not step.get("always"):
                continue
            rec: dict[str, Any] = {"n": i, "do": step["do"]}
            if step.get("label"):
                rec["label"] = step["label"]
            s0 = time.monotonic()
            try:
                rec["result"] = STEPS[step["do"]](ctx, step)
                rec["ok"] = True
            except (ExpectationFailed, httpx.HTTPError, subprocess.SubprocessError,
                    sqlite3.Error, KeyError, ValueError) as exc:
                rec["ok"] = False
                rec["error"] = f"{type(exc).__name__}: {exc}"
                failed = True
            rec["seconds"] = round(time.monotonic() - s0, 3)
            out["steps"].append(rec)
    finally:
        _cleanup(ctx)
    out["ok"] = not failed
    out["seconds"] = round(time.monotonic() - t0, 3)
    return out


def _cleanup(ctx: Context) -> None:
    """Leave the system as the next scenario expects: broker up, no faults, empty field."""
    system = ctx.system
    try:
        system.start_broker()
    except (DemoError, OSError) as exc:
        log.error("clean-up after the scenario could not restart the broker: %s", exc)
    for reader in ("pad", "gate"):
        with contextlib.suppress(httpx.HTTPError):
            ctx.http.delete(f"{system.sim_url}/readers/{reader}/faults")
    with contextlib.suppress(httpx.HTTPError):
        ctx.http.post(f"{system.sim_url}/tags/clear", json={"zone": None})
    if ctx.session:
        with contextlib.suppress(httpx.HTTPError):
            ctx.http.delete(f"{system.kiosk_url}/sessions/{ctx.session}",
                            headers=ctx.device_headers())
    ctx.http.close()


# ---- expectations ---------------------------------------------------------------------

def _expect_results(step: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    results = body.get("results", [])
    summary = {"results": [{k: r.get(k) for k in ("item_id", "title", "status", "code",
                                                   "due_date", "sort", "transaction")
                            if r.get(k) is not None} for r in results],
               "count": body.get("count")}
    exp = step.get("expect", {})
    if "count" in exp and len(results) != exp["count"]:
        raise ExpectationFailed(f"expected {exp['count']} results, got {len(results)}: {summary}")
    if "status" in exp:
        allowed = exp["status"] if isinstance(exp["status"], list) else [exp["status"]]
        bad = [r for r in results if r.get("status") not in allowed]
        if bad:
            raise ExpectationFailed(f"expected status {allowed}, got "
                                    f"{[(r.get('item_id'), r.get('status'), r.get('code')) for r in bad]}")
    if "codes" in exp:
        allowed = list(exp["codes"])
        bad = [r for r in results if r.get("code") not in allowed]
        if bad:
            raise ExpectationFailed(f"expected codes {allowed}, got "
                                    f"{[(r.get('item_id'), r.get('code')) for r in bad]}")
    return summary


def _wait(pred: Callable[[], Any], timeout: float, what: str, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        ok, last = pred()
        if ok:
            return last
        if time.monotonic() > deadline:
            raise ExpectationFailed(f"{what}: not reached within {timeout}s (last: {last})")
        time.sleep(interval)


# ---- steps -------------------------------------------------------------------------------

def _pick(ctx: Context, step: dict[str, Any]) -> Any:
    items = pick_items(ctx.system.export_dir, int(step.get("count", 1)),
                       kind=step.get("kind", "available"), skip=ctx.used_items)
    ctx.used_items.update(items)
    ctx.picked[str(step.get("as", "items"))] = items
    return {"items": items}


def _pick_patron(ctx: Context, step: dict[str, Any]) -> Any:
    """A patron in good standing with no loans and room for ``min_limit`` (logs in without
    a PIN: the demo ILS knows only the demo patrons' PINs)."""
    import csv

    ex = ctx.system.export_dir
    with open(ex / "loans.csv", encoding="utf-8") as fh:
        borrowers = {r["patron_id"] for r in csv.DictReader(fh)}
    now = time.strftime("%Y-%m-%dT%H:%M:%S")
    with open(ex / "patrons.csv", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            pid = r["patron_id"]
            if (pid in ctx.used_items or pid in borrowers or r["blocked"] != "0"
                    or r["fines"] != "0" or int(r["loan_limit"]) < int(step.get("min_limit", 10))
                    or r["expires"] <= now or int(pid) < 2000010):
                continue
            ctx.used_items.add(pid)
            ctx.picked[str(step.get("as", "patron"))] = [pid]
            return {"patron": pid[:2] + "****" + pid[-1:]}
    raise ExpectationFailed("no free patron in good standing left in the demo data")


def _place(ctx: Context, step: dict[str, Any]) -> Any:
    placed = []
    for item in ctx.items(step.get("items")):
        body: dict[str, Any] = {"item": item, "zone": step.get("zone", "pad"),
                                "isil": step.get("isil", HOME_ISIL)}
        for k in ("parts", "present", "afi"):
            if k in step:
                body[k] = step[k]
        placed += [t["uid"] for t in ctx.sim("POST", "/tags", body)["tags"]]
    return {"uids": placed}


def _clear(ctx: Context, step: dict[str, Any]) -> Any:
    return ctx.sim("POST", "/tags/clear", {"zone": step.get("zone")})


def _login(ctx: Context, step: dict[str, Any]) -> Any:
    patron = ctx.items(step["patron"])[0]
    cred: dict[str, Any] = {"source": "barcode", "identifier": patron}
    if step.get("pin"):
        cred["pin"] = str(step["pin"])
    else:   # a scan, read by the edge as the kiosk sends it: its token lets it skip the PIN
        scan = ctx.call("POST", f"{ctx.system.kiosk_url}/scans", json={"raw": patron}, ok=(200,))
        cred["scan_token"] = scan["scan_token"]
    body = {"credential": cred, "language": step.get("language", "en")}
    s = ctx.call("POST", f"{ctx.system.kiosk_url}/sessions", json=body, ok=(201,))
    ctx.session = s["id"]
    exp = step.get("expect", {})
    if "offline" in exp and bool(s.get("offline")) != bool(exp["offline"]):
        raise ExpectationFailed(f"expected offline={exp['offline']}, the session says "
                                f"{s.get('offline')}")
    return {"offline": s.get("offline"), "patron": s.get("patron", {}).get("id_masked")}


def _logout(ctx: Context, step: dict[str, Any]) -> Any:
    if ctx.session:
        ctx.call("DELETE", f"{ctx.system.kiosk_url}/sessions/{ctx.session}", ok=(204,))
        ctx.session = None
    return None


def _circulate(ctx: Context, step: dict[str, Any], path: str) -> Any:
    items = ctx.items(step.get("items"))
    body = {"items": items} if items else None
    if path == "return" and step.get("anonymous"):
        url = f"{ctx.system.kiosk_url}/returns"
    else:
        if not ctx.session:
            raise ExpectationFailed(f"{path} needs a login step first")
        url = f"{ctx.system.kiosk_url}/sessions/{ctx.session}/{path}"
    res = ctx.call("POST", url, json=body)
    ctx.keys += [r["transaction"] for r in res.get("results", []) if r.get("transaction")]
    return _expect_results(step, res)


def _checkout(ctx: Context, step: dict[str, Any]) -> Any:
    return _circulate(ctx, step, "checkout")


def _return(ctx: Context, step: dict[str, Any]) -> Any:
    return _circulate(ctx, step, "return")


def _fault(ctx: Context, step: dict[str, Any]) -> Any:
    return ctx.sim("POST", f"/readers/{step.get('reader', 'pad')}/faults",
                   {"kind": step["kind"], "count": step.get("count", 1) or None,
                    "params": step.get("params", {})})


def _clear_faults(ctx: Context, step: dict[str, Any]) -> Any:
    """Clear a reader's faults; reports how often each fired before it was cleared."""
    reader = step.get("reader", "pad")
    armed = ctx.sim("GET", f"/readers/{reader}").get("faults", [])
    ctx.sim("DELETE", f"/readers/{reader}/faults")
    return {"cleared": [{k: f.get(k) for k in ("kind", "count", "params", "fired")}
                        for f in armed]}


def _broker(ctx: Context, step: dict[str, Any]) -> Any:
    if step["state"] == "down":
        ctx.system.stop_broker()
    else:
        ctx.system.start_broker()
    return {"broker": step["state"]}


def _walk(ctx: Context, step: dict[str, Any]) -> Any:
    walk = ctx.sim("POST", "/walk", {"items": ctx.items(step.get("items")),
                                     "reader": step.get("reader", "gate"),
                                     "direction": step.get("direction", "out"),
                                     "speed_m_s": step.get("speed_m_s", 1.2)})
    time.sleep(float(walk.get("clear_s", 0.5)) + 0.2)
    return walk


def _alarms(ctx: Context) -> list[dict[str, Any]]:
    got = ctx.call("GET", f"{ctx.system.gate_url}/alarms", staff=True,
                   params={"since": ctx.started_at})
    return [a for a in got if a.get("kind") == "gate"]


def _wait_alarms(ctx: Context, step: dict[str, Any]) -> Any:
    exp = step.get("expect", {})
    want = int(exp.get("count", 1))
    alarms = _wait(lambda: (len(a := _alarms(ctx)) >= want, a), float(step.get("timeout", 10)),
                   f"{want} gate alarm(s)")
    time.sleep(float(step.get("settle", 1.0)))  # anything more than expected shows up now
    alarms = _alarms(ctx)
    if len(alarms) != want:
        raise ExpectationFailed(f"expected {want} gate alarm(s), got {len(alarms)}: "
                                f"{[a.get('message') for a in alarms]}")
    if "items" in exp:
        want_items = sorted(ctx.items(exp["items"]))
        got_items = sorted(str(a.get("item_id")) for a in alarms)
        if want_items != got_items:
            raise ExpectationFailed(f"alarms for {got_items}, expected {want_items}")
    return {"alarms": [{k: a.get(k) for k in ("item_id", "message", "created_at")}
                       for a in alarms]}


def _afi_of(ctx: Context, items: list[str]) -> dict[str, int]:
    return {t["item"]: t["afi"] for t in ctx.sim("GET", "/tags") if t.get("item") in items}


def _wait_afi(ctx: Context, step: dict[str, Any]) -> Any:
    items = ctx.items(step.get("items"))
    afi = int(step["afi"])

    def pred() -> tuple[bool, Any]:
        d = _afi_of(ctx, items)
        return len(d) == len(items) and all(v == afi for v in d.values()), d

    return _wait(pred, float(step.get("timeout", 15)), f"AFI 0x{afi:02X} on {items}")


def _released_have_loans(ctx: Context, step: dict[str, Any]) -> Any:
    items = ctx.items(step.get("items"))
    released = int(step.get("afi", 0xC2))
    afi = _afi_of(ctx, items)
    db = sqlite3.connect(f"file:{ctx.system.ils_db}?mode=ro", uri=True, timeout=10)
    try:
        loaned = {r[0] for r in db.execute(
            f"SELECT item_id FROM loans WHERE item_id IN ({','.join('?' * len(items))})", items)}
    finally:
        db.close()
    out = sorted(i for i, v in afi.items() if v == released)
    bad = [i for i in out if i not in loaned]
    res = {"released": len(out), "loaned": len(loaned & set(items)), "released_without_loan": bad}
    if bad:
        raise ExpectationFailed(f"released without a loan in the ILS: {bad}")
    return res


def _edge_states(ctx: Context) -> dict[str, str]:
    """This scenario's journal entries at the kiosk: key → state."""
    t = ctx.call("GET", f"{ctx.system.kiosk_url}/transactions", staff=True,
                 params={"state": "applied", "limit": 1000})
    applied = {e["key"]: e["state"] for e in t["transactions"]}
    t = ctx.call("GET", f"{ctx.system.kiosk_url}/transactions", staff=True,
                 params={"state": "open", "limit": 1000})
    applied.update({e["key"]: e["state"] for e in t["transactions"]})
    return {k: applied.get(k, "?") for k in ctx.keys}


def _ils_applications(ctx: Context, keys: list[str]) -> dict[str, int]:
    db = sqlite3.connect(f"file:{ctx.system.ils_db}?mode=ro", uri=True, timeout=10)
    try:
        out = {}
        for k in keys:
            out[k] = int(db.execute("SELECT COUNT(*) FROM applications WHERE xk = ?",
                                    (k,)).fetchone()[0])
        return out
    finally:
        db.close()


def _wait_journal(ctx: Context, step: dict[str, Any]) -> Any:
    def drained() -> tuple[bool, Any]:
        st = _edge_states(ctx)
        return all(v == "applied" for v in st.values()), st

    def applied() -> tuple[bool, Any]:
        c = _ils_applications(ctx, ctx.keys)
        return all(v >= 1 for v in c.values()), c

    # A wait that runs out is not the verdict: what the ILS holds then is counted, so a
    # transaction that never arrives shows as lost (and one applied twice as a duplicate).
    timeout = float(step.get("timeout", 60))
    waits: list[str] = []
    try:
        states = _wait(drained, timeout, "this scenario's transactions applied at the kiosk",
                       interval=0.3)
    except ExpectationFailed as exc:
        waits.append(str(exc))
        states = _edge_states(ctx)
    try:
        counts = _wait(applied, timeout if not waits else 1.0, "every transaction in the ILS",
                       interval=0.3)
    except ExpectationFailed as exc:
        waits.append(str(exc))
        counts = _ils_applications(ctx, ctx.keys)
    lost = [k for k, v in counts.items() if v == 0]
    dup = [k for k, v in counts.items() if v > 1]
    res = {"transactions": len(ctx.keys), "lost": len(lost), "duplicates": len(dup),
           "edge_states": sorted(set(states.values())), "unfinished_waits": waits}
    exp = step.get("expect", {})
    if waits and "lost" not in exp:
        raise ExpectationFailed(f"{'; '.join(waits)}: {res}")
    for name in ("lost", "duplicates"):
        if name in exp and res[name] != exp[name]:
            raise ExpectationFailed(f"expected {name} = {exp[name]}, got {res[name]}: {res}")
    if "transactions" in exp and res["transactions"] != exp["transactions"]:
        raise ExpectationFailed(f"expected {exp['transactions']} journaled transactions, "
                                f"got {res['transactions']}")
    return res


def _wait_security(ctx: Context, step: dict[str, Any]) -> Any:
    def pred() -> tuple[bool, Any]:
        d = ctx.call("GET", f"{ctx.system.kiosk_url}/devices", staff=True)
        return int(d.get("security_tasks_open", 0)) == 0, d.get("security_tasks_open")

    return {"open": _wait(pred, float(step.get("timeout", 30)), "no open security task")}


def _ils_stats(ctx: Context, step: dict[str, Any]) -> Any:
    out = subprocess.run(ctx.system.cli("sim", "ils", "stats", "--db", str(ctx.system.ils_db)),
                         capture_output=True, text=True, timeout=60, check=True)
    stats = json.loads(out.stdout)
    exp = step.get("expect", {})
    for k, v in exp.items():
        if stats.get(k) != v:
            raise ExpectationFailed(f"demo ILS {k} = {stats.get(k)}, expected {v}")
    return stats


def _counters(ctx: Context, step: dict[str, Any]) -> Any:
    url = ctx.system.gate_url if step.get("device", "gate") == "gate" else ctx.system.kiosk_url
    totals = ctx.call("GET", f"{url}/stats/today", staff=True)["totals"]
    for k, v in step.get("expect", {}).get("at_least", {}).items():
        if int(totals.get(k, 0)) < int(v):
            raise ExpectationFailed(f"counter {k} = {totals.get(k, 0)}, expected at least {v}")
    return totals


def _sleep(ctx: Context, step: dict[str, Any]) -> Any:
    time.sleep(float(step.get("seconds", 1)))
    return None


STEPS: dict[str, Callable[[Context, dict[str, Any]], Any]] = {
    "pick": _pick, "pick_patron": _pick_patron, "place": _place, "clear": _clear, "login": _login, "logout": _logout,
    "checkout": _checkout, "return": _return, "fault": _fault, "clear_faults": _clear_faults,
    "broker": _broker, "walk": _walk, "wait_alarms": _wait_alarms, "wait_afi": _wait_afi,
    "released_have_loans": _released_have_loans,
    "wait_journal": _wait_journal, "wait_security": _wait_security, "ils_stats": _ils_stats,
    "counters": _counters, "sleep": _sleep,
}
