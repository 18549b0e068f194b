"""Failed security tasks of every box (a release or secure write that keeps failing), with
Retry and Abandon, and the outcome of each command.

``/tasks`` (filter: library) and ``/api/tasks``, ``/api/commands/{id}``. A librarian or an
admin retries or abandons a task: the command is stored (``pending``) with its audit entry
in one transaction; the collector's dispatcher sends it on the box's ``command`` topic and
the box's acknowledgement closes it (``done``, or ``failed`` with the box's reason), its expiry
(``expired``) or a cancel (``POST /commands/{id}/cancel``, ``/api/commands/{id}/cancel``:
librarian, admin; audited ``command.cancel``). A viewer sees the tasks and the outcomes but
may not act (403).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from central.commands import DEFAULT_TTL_HOURS, CommandRecord, SecurityTaskRecord, expiry
from central.db import stamp
from central.errors import NotFound, StaffError
from central.store import CentralStore
from central.web.kit import PageKit

TASK_ACTIONS = {"retry": "retry_security", "abandon": "abandon_security"}


def command_task(store: CentralStore, site_id: str, device_id: str, task_id: int, action: str,
                 by: str, at: str, *, ttl_hours: float = DEFAULT_TTL_HOURS) -> CommandRecord:
    """Issue a retry or abandon command for a box's failed task, with its audit entry.

    Raises:
        NotFound: the box never reported this task.
        HTTPException: 400 for an unknown action.
    """
    if action not in TASK_ACTIONS:
        raise HTTPException(400, "bad_request")
    with store.db.transaction():
        task = store.security_tasks.get(site_id, device_id, task_id)
        command = store.commands.issue(site_id, device_id, TASK_ACTIONS[action], str(task_id),
                                       issued_by=by, at=at, expires_at=expiry(at, ttl_hours))
        store.audit.record(by, f"security_task.{action}",
                           f"security_task:{site_id}/{device_id}/{task_id}", at,
                           {"item": task.item, "task_action": task.action,
                            "command": command.command_id})
        return command


def cancel_command(store: CentralStore, command_id: str, by: str, at: str) -> CommandRecord:
    """Cancel a pending command, with its audit entry (one transaction).

    Raises:
        NotFound: no such command.
        HTTPException: 409 when it is no longer pending.
    """
    with store.db.transaction():
        try:
            command = store.commands.cancel(command_id, by, at)
        except StaffError as exc:
            raise HTTPException(409, str(exc)) from exc
        store.audit.record(by, "command.cancel", f"command:{command_id}", at,
                           {"site": command.site_id, "device": command.device_id,
                            "action": command.action, "target": command.target,
                            "was_sent": command.sent_at is not None})
        return command


def command_view(c: CommandRecord | None) -> dict[str, Any] | None:
    """A command as the pages and the API show it (``sent``: the broker has it)."""
    if c is None:
        return None
    return {"command_id": c.command_id, "site": c.site_id, "device": c.device_id,
            "action": c.action, "target": c.target, "issued_by": c.issued_by,
            "issued_at": c.issued_at, "sent": c.sent_at is not None, "state": c.state,
            "reason": c.reason, "acked_at": c.acked_at, "expires_at": c.expires_at,
            "cancelled_by": c.cancelled_by, "closed_at": c.closed_at,
            "shown_state": c.state if c.state != "pending" or c.sent_at is None else "sent"}


def add_routes(app: FastAPI, kit: PageKit) -> None:
    """The failed security tasks' pages and API."""
    store = kit.store

    def rows(site: str | None) -> list[dict[str, Any]]:
        tasks = store.security_tasks.list(site_id=site)
        by_box: dict[tuple[str, str], list[SecurityTaskRecord]] = {}
        for t in tasks:
            by_box.setdefault((t.site_id, t.device_id), []).append(t)
        out = []
        for (site_id, device_id), group in by_box.items():
            last = store.commands.latest(TASK_ACTIONS.values(), [str(t.task_id) for t in group],
                                         site_id=site_id, device_id=device_id)
            out += [{"site": t.site_id, "device": t.device_id, "task_id": t.task_id,
                     "item": t.item, "uid": t.uid, "action": t.action, "state": t.state,
                     "attempts": t.attempts, "last_error": t.last_error,
                     "created_at": t.created_at, "updated_at": t.updated_at,
                     "command": command_view(last.get(str(t.task_id)))} for t in group]
        return out

    @app.get("/tasks", response_class=HTMLResponse)
    def tasks_page(request: Request) -> Response:
        staff = kit.page_staff(request)
        site = request.query_params.get("site") or None
        commands = [command_view(c) for c in store.commands.list(
            site_id=site, actions=TASK_ACTIONS.values(), limit=50)]
        return kit.render(request, staff, "tasks.html", tasks=rows(site), commands=commands,
                          site=site, may_act=staff.account.may("librarian"),
                          sites=[s.site_id for s in store.sites.list()])

    def act(staff: Any, site_id: str, device_id: str, task_id: int, action: str) -> CommandRecord:
        kit.require(staff, "librarian")
        try:
            return command_task(store, site_id, device_id, task_id, action,
                                staff.account.username, stamp(kit.clock()),
                                ttl_hours=kit.command_ttl_hours)
        except NotFound as exc:
            raise HTTPException(404, "not_found") from exc

    @app.post("/tasks/{site_id}/{device_id}/{task_id}/{action}")
    async def task_form(request: Request, site_id: str, device_id: str, task_id: int,
                        action: str) -> Response:
        staff = kit.page_staff(request)
        kit.check_csrf(staff, (await kit.form(request)).get("csrf_token"))
        act(staff, site_id, device_id, task_id, action)
        return RedirectResponse(f"/tasks?site={site_id}", status_code=303)

    @app.get("/api/tasks")
    def api_tasks(request: Request) -> list[dict[str, Any]]:
        kit.api_staff(request)
        return rows(request.query_params.get("site") or None)

    @app.post("/api/tasks/{site_id}/{device_id}/{task_id}/{action}")
    def api_task(request: Request, site_id: str, device_id: str, task_id: int,
                 action: str) -> dict[str, Any] | None:
        staff = kit.api_staff(request)
        kit.check_csrf(staff, request.headers.get("X-CSRF-Token"))
        return command_view(act(staff, site_id, device_id, task_id, action))

    def cancel(staff: Any, command_id: str) -> CommandRecord:
        kit.require(staff, "librarian")
        try:
            return cancel_command(store, command_id, staff.account.username, stamp(kit.clock()))
        except NotFound as exc:
            raise HTTPException(404, "not_found") from exc

    @app.post("/commands/{command_id}/cancel")
    async def cancel_form(request: Request, command_id: str) -> Response:
        staff = kit.page_staff(request)
        kit.check_csrf(staff, (await kit.form(request)).get("csrf_token"))
        c = cancel(staff, command_id)
        return RedirectResponse(f"/tasks?site={c.site_id}", status_code=303)

    @app.post("/api/commands/{command_id}/cancel")
    def api_cancel(request: Request, command_id: str) -> dict[str, Any] | None:
        staff = kit.api_staff(request)
        kit.check_csrf(staff, request.headers.get("X-CSRF-Token"))
        return command_view(cancel(staff, command_id))

    @app.get("/api/commands/{command_id}")
    def api_command(request: Request, command_id: str) -> dict[str, Any] | None:
        kit.api_staff(request)
        try:
            return command_view(store.commands.get(command_id))
        except NotFound as exc:
            raise HTTPException(404, "not_found") from exc
