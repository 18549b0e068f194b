"""The staff console (``GET /staff``), its state snapshot, the gate routes, and the gate's
life cycle in ``smartlib serve --role gate``.

* ``GET /staff`` and ``GET /staff/assets/{name}``: the console page (plain HTML + JS,
  Vietnamese and English, no build step). The page holds no data; it asks for the staff
  token and then uses the routes below and the WebSocket ``/events?token=``.
* ``GET /staff/state`` (staff token): one snapshot for the console: alarms with title and
  reason (this box's, and the other devices' of the site, read-only here), devices (this
  box's reader and gate, the gateway link, every other kiosk and gate of the site as the
  sync agent last heard of it), the offline backlog and conflicts with details, today's
  counts summed over the site (``today.devices``: per device).
* ``GET /staff/site-version`` (staff token): a number that grows whenever the agent stored
  something from another device; the page polls it and reloads the state when it moves.
* ``GET /gate`` and ``POST /gate/reset`` (staff token): the gate's state, and the manual
  reset of its light and buzzer.

:data:`router` carries a lifespan (merged into the app's by ``include_router``): on a box
whose ``device.role`` is ``gate`` it builds and starts the
:class:`~edge.services.gate.GateService` after the edge services have started (unless
``app.state.gate`` was set by the caller, or ``app.state.gate_autostart`` is False), and
stops it on shutdown.

Must not do: business logic (it reads the store and calls the gate service).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import HTMLResponse

from edge.api.deps import ServicesDep, StaffAuth
from edge.api.schemas import ErrorOut
from edge.api.staff import process_restarts, site_today
from edge.errors import EdgeError
from edge.services.gate import GateService, alarm_view, build_gate
from edge.store import AlarmRecord, SiteAlarm

log = logging.getLogger(__name__)

_ASSETS = {"staff.js": "text/javascript; charset=utf-8", "staff.css": "text/css; charset=utf-8"}


@asynccontextmanager
async def gate_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Run the gate loop on a gate box for as long as the app runs."""
    services = app.state.services
    owned: GateService | None = None
    if getattr(app.state, "gate", None) is None:
        app.state.gate = None
        if services.settings.device.role == "gate" and getattr(app.state, "gate_autostart", True):
            owned = build_gate(services)
            owned.start()
            app.state.gate = owned
    try:
        yield
    finally:
        if owned is not None:
            owned.stop()


_ERRORS: dict[int | str, dict[str, Any]] = {c: {"model": ErrorOut} for c in (401, 403, 404, 503)}
router = APIRouter(tags=["staff console"], lifespan=gate_lifespan)
staff_only = APIRouter(tags=["staff console"], dependencies=[StaffAuth], responses=_ERRORS)


def _asset(name: str) -> str:
    return resources.files("edge.api").joinpath("static", name).read_text(encoding="utf-8")


@router.get("/staff", response_class=HTMLResponse, include_in_schema=True)
def console_page() -> HTMLResponse:
    """The console page (no data in it: it asks for the staff token)."""
    return HTMLResponse(_asset("staff.html"), headers={"Cache-Control": "no-store"})


@router.get("/staff/assets/{name}", responses={404: {"model": ErrorOut}},
            response_class=Response)
def console_asset(name: str) -> Response:
    """The page's script and style sheet."""
    if name not in _ASSETS:
        raise EdgeError("not_found", f"no asset {name}", status=404)
    return Response(_asset(name), media_type=_ASSETS[name],
                    headers={"Cache-Control": "no-store"})


def _gate(request: Request) -> GateService | None:
    return getattr(request.app.state, "gate", None)


def devices_view(services: Any, gate: GateService | None) -> list[dict[str, Any]]:
    """This box's devices, its gate, the gateway link, and other boxes' last known state."""
    me = services.settings.device
    out: list[dict[str, Any]] = []
    for d in services.devices.status():
        metrics = d.get("metrics") or {}
        failures = sum(int(v) for k, v in metrics.items() if k.endswith("_failures"))
        if gate is not None and d.get("id") == "reader":
            continue  # the gate entry shows the gate's reader
        out.append({"id": f"{me.id}/{d['id']}", "kind": d.get("kind", ""), "box": me.id,
                    "role": me.role, "state": d.get("state", "unknown"),
                    "error": d.get("error"), "failures": failures})
    if gate is not None:
        st = gate.status()
        reader = getattr(gate.reader, "metrics", None)
        metrics = reader() if callable(reader) else {}
        failures = sum(int(v) for k, v in metrics.items() if k.endswith("_failures"))
        out.append({"id": st["id"], "kind": "gate", "box": me.id, "role": "gate",
                    "state": st["state"] if st["running"] or st["state"] != "unknown" else "offline",
                    "error": st["error"], "failures": failures + st["stats"]["failures"],
                    "alarm_active": st["alarm_active"], "detection": st["detection"]})
    site = services.store.site.devices()
    if not any(d.role == "gateway" for d in site):
        # No gateway has announced itself (an older gateway): this box's view of the link.
        out.append({"id": "gateway", "kind": "gateway", "box": "central", "role": "gateway",
                    "state": services.gateway_state(), "error": None, "failures": 0})
    for d in site:
        if d.device == me.id:
            continue
        out.append({"id": d.device, "kind": d.role or "device", "box": d.device, "role": d.role,
                    "state": d.state, "error": None, "failures": d.reader_failures or 0,
                    "since": d.since, "backlog": d.backlog, "reader": d.reader,
                    "reported_at": d.reported_at})
    return out


def site_alarm_view(a: SiteAlarm) -> dict[str, Any]:
    """Another device's alarm, shaped as :func:`alarm_view` (acknowledged on its own box)."""
    record = AlarmRecord(id=a.alarm_id, kind=a.kind, device=a.source or a.device,
                         item_id=a.item_id, uid=a.uid, message=a.message,
                         detail={"title": a.title, "direction": a.direction, **a.detail},
                         created_at=a.created_at, acked_at=a.acked_at, acked_by=None)
    return {**alarm_view(record), "id": f"{a.device}:{a.alarm_id}", "box": a.device,
            "remote": True}


def alarms_view(store: Any, limit: int = 100) -> list[dict[str, Any]]:
    """This box's alarms and the site's other devices' alarms, newest first."""
    own = [{**alarm_view(a), "remote": False} for a in store.alarms.list(limit=limit)]
    others = [site_alarm_view(a) for a in store.site.alarms(limit=limit)]
    return sorted(own + others, key=lambda a: a["created_at"], reverse=True)[:limit]


@staff_only.get("/staff/state")
def console_state(request: Request, services: ServicesDep) -> dict[str, Any]:
    """Everything the console shows, in one snapshot."""
    store = services.store
    gate = _gate(request)
    backlog = store.outbox.backlog()
    open_entries = store.outbox.list(states=("pending", "sent"), limit=200, newest_first=True)
    return {
        "site": {"id": services.settings.site.id, "name": services.settings.site.name},
        "device": {"id": services.settings.device.id, "role": services.settings.device.role},
        "gateway": services.gateway_state(),
        "gate": gate.status() if gate is not None else None,
        "alarms": alarms_view(store),
        "devices": devices_view(services, gate),
        "backlog": {"by_state": backlog.by_state, "oldest_open_at": backlog.oldest_open_at,
                    "open": len(open_entries),
                    "entries": [{"key": e.key, "kind": e.kind, "item_id": e.item_id,
                                 "state": e.state, "attempts": e.attempts,
                                 "created_at": e.created_at, "offline": e.offline}
                                for e in open_entries]},
        "conflicts": [{"id": c.id, "key": c.key, "kind": c.kind, "item_id": c.item_id,
                       "reason": c.reason, "detail": _no_patron(c.detail),
                       "created_at": c.created_at} for c in store.conflicts.list()],
        "security_tasks": [{"id": t.id, "item_id": t.item_id, "action": t.action,
                            "state": t.state, "attempts": t.attempts, "error": t.last_error}
                           for t in store.security.open()],
        "today": site_today(services),
        "processes": [p.model_dump() for p in
                      process_restarts(services.settings.api.process_state)],
    }


@staff_only.get("/staff/site-version")
def site_version(services: ServicesDep) -> dict[str, int]:
    """Grows whenever the agent stored a status, counters or an alarm of the site."""
    return {"version": services.store.site.version()}


def _no_patron(detail: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in (detail or {}).items()
            if "patron" not in k and k not in ("pin", "password", "name")}


@staff_only.get("/gate")
def gate_status(request: Request) -> dict[str, Any]:
    """The gate's state (404 on a box without a gate)."""
    gate = _gate(request)
    if gate is None:
        raise EdgeError("not_found", "this box runs no gate", status=404)
    return gate.status()


@staff_only.post("/gate/reset")
def gate_reset(request: Request) -> dict[str, Any]:
    """Switch the gate's light and buzzer off now."""
    from drivers.errors import ReaderError

    gate = _gate(request)
    if gate is None:
        raise EdgeError("not_found", "this box runs no gate", status=404)
    try:
        gate.reset_outputs()
    except ReaderError as exc:
        raise EdgeError("device_unavailable", f"the gate reader failed: {exc}", status=503) from exc
    return {"reset": True, "gate": gate.gate_id}


router.include_router(staff_only)
