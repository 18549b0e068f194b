"""Staff routes (staff token): devices, alarms, transactions, statistics, metrics."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, Path, Query, Response

from edge.api.deps import ServicesDep, StaffAuth
from edge.api.patron import _ERRORS
from edge.api.schemas import AlarmOut, DevicesOut, StatsOut, TransactionsOut
from edge.errors import EdgeError
from edge.services.security import alarm_json
from smartlib.logs import mask_identifier

router = APIRouter(tags=["staff"], responses=_ERRORS, dependencies=[StaffAuth])


def _mask(v: str | None) -> str | None:
    return mask_identifier(v) if v else None


@router.get("/devices", response_model=DevicesOut)
def devices(services: ServicesDep) -> dict[str, Any]:
    """This box's devices and connectivity."""
    return {"device": services.settings.device.id, "role": services.settings.device.role,
            "gateway": services.gateway_state(), "devices": services.devices.status(),
            "security_tasks_open": len(services.store.security.open())}


@router.get("/alarms", response_model=list[AlarmOut])
def alarms(services: ServicesDep, since: str | None = Query(None, max_length=40),
           unacked: bool = False) -> list[dict[str, Any]]:
    """Alarms, newest first."""
    return [alarm_json(a) for a in services.store.alarms.list(since=since, unacked_only=unacked)]


@router.post("/alarms/{alarm_id}/ack", response_model=AlarmOut)
def ack_alarm(services: ServicesDep, alarm_id: int = Path(ge=1, le=2**63 - 1)) -> dict[str, Any]:
    """Acknowledge an alarm."""
    alarm = services.store.alarms.ack(alarm_id)
    if alarm is None:
        raise EdgeError("not_found", f"no alarm {alarm_id}", status=404)
    services.bus.publish("alarm_ack", id=alarm_id)
    return alarm_json(alarm)


@router.get("/transactions", response_model=TransactionsOut)
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


@router.get("/stats/today", response_model=StatsOut)
def stats_today(services: ServicesDep) -> dict[str, Any]:
    """Today's counters (UTC hours)."""
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    return {"date": day, "totals": services.store.counters.totals(day + "T00", day + "T23"),
            "hours": services.store.counters.hours(day + "T00", day + "T23")}


@router.get("/metrics", response_class=Response,
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
