"""The enrolment page and API of the central console.

* ``/enrol`` (admin): issue a one-time code for a site, device id and role (shown once, with
  the site CA's fingerprint), revoke a device, see the revoked devices;
* ``POST /api/enrol/codes``, ``POST /api/enrol/revoke`` (admin, JSON, CSRF header): the same;
* ``POST /api/enrol`` (no session: the code is the credential): a box redeems its code
  (``smartlib enroll``) with ``{"code", "csr"}``; refusals answer ``{"reason", "detail"}``.

Routes only call :class:`~central.enroll.EnrolmentService` (set as ``app.state.enrolment`` by
``smartlib central serve``; without one, enrolment answers ``not_configured``).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from central.config import EnrollSection
from central.enroll import ROLES, EnrolmentService
from central.errors import EnrolRefused
from central.web.kit import PageKit
from central.web.limits import json_object

_STATUS = {"code_unknown": 403, "code_used": 409, "code_expired": 410, "bad_request": 400,
           "not_configured": 503, "broker_unavailable": 503}


def _refused(exc: EnrolRefused) -> Response:
    return JSONResponse({"reason": exc.reason, "detail": str(exc)},
                        status_code=_STATUS.get(exc.reason, 400))


def add_enroll_routes(app: FastAPI, kit: PageKit) -> None:
    """Add the enrolment page and API to ``app``."""
    fallback = EnrolmentService(kit.store, EnrollSection(), clock=kit.clock)

    def service() -> EnrolmentService:
        found = getattr(app.state, "enrolment", None)
        return found if isinstance(found, EnrolmentService) else fallback

    def page(request: Request, staff: Any, status_code: int = 200, **values: Any) -> Response:
        return kit.render(request, staff, "enrol.html", status_code=status_code, roles=ROLES,
                          revoked=kit.store.enrolment.revoked(), **values)

    @app.get("/enrol", response_class=HTMLResponse)
    def enrol_page(request: Request) -> Response:
        staff = kit.page_staff(request)
        kit.require(staff, "admin")
        return page(request, staff)

    @app.post("/enrol", response_class=HTMLResponse)
    async def enrol_post(request: Request) -> Response:
        staff = kit.page_staff(request)
        kit.require(staff, "admin")
        data = await kit.form(request)
        kit.check_csrf(staff, data.get("csrf_token"))
        actor = staff.account.username
        try:
            if data.get("action") == "revoke":
                count = await run_in_threadpool(service().revoke, data.get("site", ""),
                                                data.get("device", ""), actor=actor)
                return page(request, staff, revoked_now=(data.get("site"), data.get("device"),
                                                         count))
            minutes = float(data["minutes"]) if data.get("minutes") else None
            issued = await run_in_threadpool(
                lambda: service().issue_code(data.get("site", ""), data.get("device", ""),
                                             data.get("role", ""), actor=actor, minutes=minutes))
        except ValueError:
            return page(request, staff, status_code=400, error="minutes")
        except EnrolRefused as exc:
            return page(request, staff, status_code=_STATUS.get(exc.reason, 400),
                        error=str(exc))
        return page(request, staff, issued=issued)

    def _body(raw: bytes) -> dict[str, Any]:
        return json_object(raw)

    @app.post("/api/enrol/codes")
    async def api_issue_code(request: Request) -> Response:
        staff = kit.api_staff(request)
        kit.require(staff, "admin")
        kit.check_csrf(staff, request.headers.get("X-CSRF-Token"))
        data = _body(await request.body())
        try:
            minutes = float(data["minutes"]) if data.get("minutes") else None
            issued = await run_in_threadpool(
                lambda: service().issue_code(str(data.get("site", "")),
                                             str(data.get("device", "")),
                                             str(data.get("role", "")),
                                             actor=staff.account.username, minutes=minutes))
        except (TypeError, ValueError) as exc:
            raise HTTPException(400, "minutes must be a number") from exc
        except EnrolRefused as exc:
            return _refused(exc)
        return JSONResponse({"code": issued.code, "site": issued.site, "device": issued.device,
                             "role": issued.role, "expires_at": issued.expires_at,
                             "ca_fingerprint": issued.ca_fingerprint},
                            headers={"Cache-Control": "no-store"})

    @app.post("/api/enrol/revoke")
    async def api_revoke(request: Request) -> Response:
        staff = kit.api_staff(request)
        kit.require(staff, "admin")
        kit.check_csrf(staff, request.headers.get("X-CSRF-Token"))
        data = _body(await request.body())
        svc = service()
        try:
            count = await run_in_threadpool(
                lambda: svc.revoke(str(data.get("site", "")), str(data.get("device", "")),
                                   actor=staff.account.username))
        except EnrolRefused as exc:
            return _refused(exc)
        return JSONResponse({"revoked_certificates": count,
                             "broker": svc.broker_note or "reload the broker so that it reads "
                             "the new CRL ([enroll] broker_reload_command is not set)"})

    @app.post("/api/enrol")
    async def api_enrol(request: Request) -> Response:
        data = _body(await request.body())
        code, csr = data.get("code"), data.get("csr")
        if not isinstance(code, str) or not isinstance(csr, str):
            return _refused(EnrolRefused("bad_request", 'expected {"code": …, "csr": …}'))
        peer = request.client.host if request.client else "?"
        try:
            answer = await run_in_threadpool(lambda: service().enrol(code, csr, peer=peer))
        except EnrolRefused as exc:
            return _refused(exc)
        return JSONResponse(answer, headers={"Cache-Control": "no-store"})
