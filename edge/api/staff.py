"""Staff routes (a staff login): log-in, devices, alarms, transactions, statistics, metrics.

``POST /staff/login`` checks a cached staff account (:mod:`edge.api.staff_login`) and
returns a bearer token for the staff console; every other route here needs a staff login
(viewers read, librarians and admins act: see :mod:`edge.api.deps`).

``/devices`` and ``/stats/today`` also show the site: the other kiosks and gates as this
box's sync agent last heard of them (``edge.store.SiteRepository``), and today's counters
summed over the site's devices with the detail per device.
"""

from __future__ import annotations

import json
import logging
import pathlib
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, Field, ValidationError

from edge.api.deps import ServicesDep, StaffAuth
from edge.api.patron import _ERRORS
from edge.api.schemas import AlarmOut, DevicesOut, StatsOut, TransactionsOut
from edge.api.staff_login import log_in
from edge.errors import EdgeError
from edge.services.security import alarm_json
from edge.services.statistics import day_bounds, day_hours, local_day, today_counts
from edge.store import SiteDevice
from edge.store.site import sum_counters
from smartlib.logs import mask_identifier

log = logging.getLogger(__name__)

router = APIRouter(tags=["staff"], responses=_ERRORS)
guarded = APIRouter(dependencies=[StaffAuth])


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class LoginOut(BaseModel):
    token: str
    username: str
    role: str
    expires_at: int


@router.post("/staff/login", response_model=LoginOut)
def staff_login(services: ServicesDep, body: LoginIn, request: Request) -> dict[str, Any]:
    """Log a staff member in with a central account (cached on the box, so offline too);
    returns a bearer token for the staff console (8 hours). Too many failures lock the
    account, or the client, out for a while (423 ``staff_login_locked``)."""
    client = request.client.host if request.client else "unknown"
    guard = services.login_guard
    guard.check(body.username, client)
    try:
        token, session = log_in(services.store, body.username, body.password)
    except EdgeError as exc:
        if exc.code == "login_refused":
            guard.failed(body.username, client)
        raise
    guard.succeeded(body.username)
    return {"token": token, "username": session.username, "role": session.role,
            "expires_at": session.expires_at}

_TODAY_COUNTERS = {"loans": "checkout", "loans_offline": "checkout_offline", "returns": "return",
                   "renewals": "renew", "visitors_in": "visitors_in",
                   "visitors_out": "visitors_out"}
"""The console's figures and the counters they come from."""


class SiteDeviceOut(BaseModel):
    device: str
    role: str
    state: str
    since: str
    backlog: int | None
    reader: str | None
    reader_failures: int | None
    reported_at: str
    received_at: str


class SiteDevicesOut(DevicesOut):
    site: str
    site_devices: list[SiteDeviceOut]


class DeviceStatsOut(BaseModel):
    totals: dict[str, int]
    hours: dict[str, dict[str, int]]


class SiteStatsOut(BaseModel):
    totals: dict[str, int]
    devices: dict[str, DeviceStatsOut]


class StatsTodayOut(StatsOut):
    site: SiteStatsOut


class ProcessOut(BaseModel):
    """One process of the site as its supervisor last wrote it (``api.process_state``)."""

    name: str
    state: str = "unknown"
    restarts: int = Field(0, ge=0)
    last_start: str | None = None
    last_exit: str | None = None


def process_restarts(path: pathlib.Path | None) -> list[ProcessOut]:
    """The processes and their restart counts from the supervisor's state file.

    ``{"processes": {name: {"state", "restarts", "last_start", "last_exit", …}}}``, as
    ``smartlib demo`` writes it (in production the same figure is systemd's ``NRestarts``).
    No file configured: ``[]``; an unreadable or malformed file is logged and gives ``[]``.
    """
    if path is None:
        return []
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        return [ProcessOut.model_validate({**fields, "name": name})
                for name, fields in doc["processes"].items()]
    except (OSError, ValueError, KeyError, TypeError, AttributeError, ValidationError) as exc:
        log.warning("process state %s unreadable: %s", path, exc)
        return []


def _mask(v: str | None) -> str | None:
    return mask_identifier(v) if v else None


def site_device_json(d: SiteDevice) -> dict[str, Any]:
    """A device of the site as the API shows it."""
    return {"device": d.device, "role": d.role, "state": d.state, "since": d.since,
            "backlog": d.backlog, "reader": d.reader, "reader_failures": d.reader_failures,
            "reported_at": d.reported_at, "received_at": d.received_at}


def site_today(services: Any, now: datetime | None = None) -> dict[str, Any]:
    """Today's figures (site-local day) summed over the site, and per device.

    This box's figures come from its own store (``today_counts``: also its offline
    transactions and conflicts); the other devices' from the counters they published and
    the alarms they raised, as the agent stored them.
    """
    store, tz, me = services.store, services.settings.site.timezone, services.settings.device.id
    now = now or datetime.now(UTC)
    day = local_day(now, tz)
    since, until = day_hours(day, tz)
    start, end = (b.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
                  for b in day_bounds(day, tz))
    view = store.site
    per: dict[str, dict[str, int]] = {me: today_counts(store, tz, now)}
    counters = view.totals(since, until)
    alarms = view.alarm_counts(start, end)
    for device in sorted((set(counters) | set(alarms)) - {me}):
        c = counters.get(device, {})
        per[device] = {k: int(c.get(name, 0)) for k, name in _TODAY_COUNTERS.items()}
        per[device]["alarms"] = alarms.get(device, 0)
    keys = [*_TODAY_COUNTERS, "alarms"]
    totals = {k: sum(f.get(k, 0) for f in per.values()) for k in keys}
    return {"date": day.isoformat(), **totals, "devices": per}


@guarded.get("/devices", response_model=SiteDevicesOut)
def devices(services: ServicesDep) -> dict[str, Any]:
    """This box's devices and connectivity, and every device of the site the agent heard of
    (online or offline, since when, backlog, reader failures)."""
    return {"device": services.settings.device.id, "role": services.settings.device.role,
            "gateway": services.gateway_state(), "devices": services.devices.status(),
            "security_tasks_open": len(services.store.security.open()),
            "site": services.settings.site.id,
            "site_devices": [site_device_json(d) for d in services.store.site.devices()]}


@guarded.get("/alarms", response_model=list[AlarmOut])
def alarms(services: ServicesDep, since: str | None = Query(None, max_length=40),
           unacked: bool = False) -> list[dict[str, Any]]:
    """Alarms, newest first."""
    return [alarm_json(a) for a in services.store.alarms.list(since=since, unacked_only=unacked)]


@guarded.post("/alarms/{alarm_id}/ack", response_model=AlarmOut)
def ack_alarm(services: ServicesDep, alarm_id: int = Path(ge=1, le=2**63 - 1)) -> dict[str, Any]:
    """Acknowledge an alarm."""
    alarm = services.store.alarms.ack(alarm_id)
    if alarm is None:
        raise EdgeError("not_found", f"no alarm {alarm_id}", status=404)
    services.bus.publish("alarm_ack", id=alarm_id)
    return alarm_json(alarm)


@guarded.get("/transactions", response_model=TransactionsOut)
def transactions(services: ServicesDep,
                 state: Literal["pending", "sent", "applied", "refused", "conflict",
                                "failed", "open"] | None = None,
                 limit: int = Query(100, ge=1, le=1000)) -> dict[str, Any]:
    """The journal backlog, recent transactions, and unresolved conflicts."""
    states = ("pending", "sent") if state in (None, "open", "pending") else (state,)
    backlog = services.store.outbox.backlog()
    entries = services.store.outbox.list(states=states, limit=limit, newest_first=True)
    return {
        "backlog": backlog.by_state, "oldest_open_at": backlog.oldest_open_at,
        "transactions": [{"key": e.key, "kind": e.kind, "item_id": e.item_id,
                          "patron_masked": _mask(e.patron_ref), "state": e.state,
                          "attempts": e.attempts, "created_at": e.created_at,
                          "applied_at": e.applied_at, "offline": e.offline, "result": e.result}
                         for e in entries],
        "conflicts": [{"id": c.id, "key": c.key, "kind": c.kind, "item_id": c.item_id,
                       "patron_masked": _mask(c.patron_ref), "reason": c.reason,
                       "created_at": c.created_at, "resolved_at": c.resolved_at}
                      for c in services.store.conflicts.list()],
    }


@guarded.get("/stats/today", response_model=StatsTodayOut)
def stats_today(services: ServicesDep) -> dict[str, Any]:
    """Today's counters (UTC hours): this box's, and the site's summed over its devices
    (``site.devices`` keeps each device's; other devices' as they published them)."""
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    first, last = day + "T00", day + "T23"
    me = services.settings.device.id
    own = {"totals": services.store.counters.totals(first, last),
           "hours": services.store.counters.hours(first, last)}
    view = services.store.site
    per: dict[str, dict[str, Any]] = {me: own}
    for device, hours in view.hours(first, last).items():
        if device != me:
            per[device] = {"totals": sum_counters(hours.values()), "hours": hours}
    totals = sum_counters(d["totals"] for d in per.values())
    return {"date": day, **own, "site": {"totals": totals, "devices": per}}


@guarded.get("/metrics", response_class=Response,
            responses={200: {"content": {"text/plain": {}}}})
def metrics(services: ServicesDep) -> Response:
    """Prometheus text exposition."""
    return Response(prometheus_text(services), media_type="text/plain; version=0.0.4")


def prometheus_text(services: Any) -> str:
    """The edge's metrics in the Prometheus text format."""
    lines: list[str] = []

    def gauge(name: str, help_: str, samples: list[tuple[dict[str, str], float]]) -> None:
        lines.append(f"# HELP {name} {help_}")
        lines.append(f"# TYPE {name} gauge")
        for labels, value in samples:
            lab = ",".join(f'{k}="{v}"' for k, v in labels.items())
            lines.append(f"{name}{{{lab}}} {value}" if lab else f"{name} {value}")

    backlog = services.store.outbox.backlog()
    gauge("smartlib_outbox_entries", "Journal entries by state",
          [({"state": s}, float(backlog.by_state.get(s, 0)))
           for s in ("pending", "sent", "applied", "refused", "conflict", "failed")])
    gauge("smartlib_outbox_unhandled", "Entries the edge has not finished", [({}, backlog.unhandled)])
    gauge("smartlib_sessions_active", "Open patron sessions", [({}, services.sessions.active())])
    gauge("smartlib_security_tasks_open", "Security writes still to do",
          [({"state": st}, float(len(services.store.security.open(states=(st,)))))
           for st in ("pending", "alarm_on")])
    gauge("smartlib_alarms_unacked", "Unacknowledged alarms",
          [({}, float(len(services.store.alarms.list(unacked_only=True, limit=10_000))))])
    gauge("smartlib_gateway_online", "1 when the gateway is reachable",
          [({}, 1.0 if services.gateway_state() == "online" else 0.0)])
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    gauge("smartlib_counter_today", "Counters of today",
          [({"name": k}, float(v)) for k, v in services.store.counters.totals(day + "T00").items()])
    reader = next((d for d in services.devices.status() if d["id"] == "reader"), None)
    if reader is not None:
        gauge("smartlib_reader_operations", "Reader driver counters",
              [({"counter": k}, float(v)) for k, v in sorted(reader.get("metrics", {}).items())])
    return "\n".join(lines) + "\n"


router.include_router(guarded)
