"""The conflicts queue: offline transactions the ILS refused later, and staff's resolutions.

``/conflicts`` (filters: library, open / resolved / all) and ``/api/conflicts``. A
librarian or an admin resolves a conflict (the loan stands, the item is returned, the
patron is to be contacted) with an optional note: the resolution, the audit entry and a
``resolve_conflict`` command to the box that accepted the transaction are written in one
transaction; the box resolves its own copy and acknowledges (the page shows the outcome).
Only a librarian or an admin sees the patron (kept at the centre from the gateway's
conflict report; never sent to a box, never in the audit log) and the resolution's note
(which may name the patron).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from central.commands import DEFAULT_TTL_HOURS, RESOLUTIONS, CommandRecord, expiry
from central.db import stamp
from central.errors import NotFound
from central.store import CentralStore, ConflictRecord
from central.web.kit import PageKit
from central.web.limits import json_object

STATES = ("open", "resolved", "all")
MAX_NOTE = 500
SEES_PATRON = "librarian"
"""The weakest role that sees who the patron of a conflict is."""


def resolve_conflict(store: CentralStore, tx_key: str, resolution: str, note: str | None,
                     by: str, at: str, *, ttl_hours: float = DEFAULT_TTL_HOURS,
                     ) -> tuple[ConflictRecord, CommandRecord]:
    """Resolve a conflict, audit it and command its box to resolve its copy (one
    transaction).

    Raises:
        NotFound: no such conflict.
        HTTPException: 400 for an unknown resolution, 409 when it was resolved already.
    """
    if resolution not in RESOLUTIONS:
        raise HTTPException(400, "bad_request")
    note = (note or "").strip()[:MAX_NOTE] or None
    with store.db.transaction():
        conflict = store.conflicts.get(tx_key)
        if not store.conflicts.resolve(tx_key, resolution, by, at):
            raise HTTPException(409, "already resolved")
        command = store.commands.issue(conflict.site_id, conflict.device_id, "resolve_conflict",
                                       tx_key, issued_by=by, at=at, resolution=resolution,
                                       note=note, expires_at=expiry(at, ttl_hours))
        store.audit.record(by, "conflict.resolve",
                           f"conflict:{conflict.site_id}/{conflict.device_id}/{tx_key}", at,
                           {"resolution": resolution, "note": note, "item": conflict.item,
                            "kind": conflict.kind, "command": command.command_id})
        return store.conflicts.get(tx_key), command


def add_routes(app: FastAPI, kit: PageKit) -> None:
    """The conflicts queue's pages and API."""
    store = kit.store

    def view(c: ConflictRecord, staff: Any, commands: dict[str, CommandRecord]) -> dict[str, Any]:
        cmd = commands.get(c.tx_key)
        sees = staff.account.may(SEES_PATRON)
        return {"key": c.tx_key, "site": c.site_id, "device": c.device_id, "kind": c.kind,
                "item": c.item, "reason": c.reason, "screen_message": c.screen_message,
                "created_at": c.created_at, "detected_at": c.detected_at,
                "patron": c.patron if sees else None,
                "resolution": c.resolution, "resolved_by": c.resolved_by,
                "resolved_at": c.resolved_at,
                "note": cmd.note if cmd and sees else None,  # staff may name the patron
                "box": None if cmd is None else {
                    "command_id": cmd.command_id, "state": cmd.state, "sent": bool(cmd.sent_at),
                    "reason": cmd.reason, "acked_at": cmd.acked_at}}

    def query(request: Request, staff: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        q = request.query_params
        state = q.get("state") or "open"
        if state not in STATES:
            raise HTTPException(400, "bad_request")
        site = q.get("site") or None
        rows = store.conflicts.list(unresolved_only=state == "open",
                                    resolved_only=state == "resolved", site_id=site)
        commands = store.commands.latest(["resolve_conflict"],
                                         [c.tx_key for c in rows if c.resolution is not None])
        return {"site": site, "state": state}, [view(c, staff, commands) for c in rows]

    @app.get("/conflicts", response_class=HTMLResponse)
    def conflicts_page(request: Request) -> Response:
        staff = kit.page_staff(request)
        filters, rows = query(request, staff)
        return kit.render(request, staff, "conflicts.html", filters=filters, conflicts=rows,
                          resolutions=RESOLUTIONS, states=STATES,
                          sees_patron=staff.account.may(SEES_PATRON),
                          sites=[s.site_id for s in store.sites.list()])

    def resolve(staff: Any, tx_key: str, resolution: str, note: str | None) -> dict[str, Any]:
        kit.require(staff, "librarian")
        try:
            conflict, command = resolve_conflict(store, tx_key, resolution, note,
                                                 staff.account.username, stamp(kit.clock()),
                                                 ttl_hours=kit.command_ttl_hours)
        except NotFound as exc:
            raise HTTPException(404, "not_found") from exc
        return view(conflict, staff, {tx_key: command})

    @app.post("/conflicts/{tx_key}/resolve")
    async def resolve_form(request: Request, tx_key: str) -> Response:
        staff = kit.page_staff(request)
        data = await kit.form(request)
        kit.check_csrf(staff, data.get("csrf_token"))
        resolve(staff, tx_key, data.get("resolution", ""), data.get("note"))
        return RedirectResponse("/conflicts?state=resolved", status_code=303)

    @app.get("/api/conflicts")
    def api_conflicts(request: Request) -> list[dict[str, Any]]:
        staff = kit.api_staff(request)
        return query(request, staff)[1]

    @app.post("/api/conflicts/{tx_key}/resolve")
    async def api_resolve(request: Request, tx_key: str) -> dict[str, Any]:
        """``{"resolution": "loan_stands" | "item_returned" | "contact_patron",
        "note": "…"}``."""
        staff = kit.api_staff(request)
        kit.check_csrf(staff, request.headers.get("X-CSRF-Token"))
        try:
            data = json_object(await request.body(), '{"resolution": …, "note": …}')
            resolution, note = str(data["resolution"]), data.get("note")
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise HTTPException(400, "expected {\"resolution\": …, \"note\": …}") from exc
        return resolve(staff, tx_key, resolution, None if note is None else str(note))
