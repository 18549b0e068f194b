"""The central console's FastAPI app: log-in, the network, fleet and alarm pages, a JSON API
and the live alarm feed (server-sent events).

Every page and API needs a staff session (HttpOnly, SameSite=Strict cookie); every request
that changes something must carry the session's CSRF token (form field ``csrf_token`` or
header ``X-CSRF-Token``). Roles: a viewer sees, a librarian also acknowledges alarms,
resolves conflicts and retries or abandons failed security tasks (pages added by
:mod:`central.web.conflicts` and :mod:`central.web.tasks`), an admin also manages staff
accounts and reads the audit log. The app reads the central
database only through :class:`~central.store.CentralStore` and never talks to MQTT.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode
from zoneinfo import ZoneInfo

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import (
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from central.auth import StaffAuth
from central.config import CentralSection
from central.db import parse_stamp, stamp
from central.errors import LoginRefused, NotFound, StaffError
from central.payments import PaymentService, add_payment_routes
from central.store import (
    ROLES,
    AlarmFilter,
    AlarmRecord,
    CentralStore,
    Device,
    StaffAccount,
    StaffSession,
)
from central.web import conflicts, dead_letters, tasks
from central.web.config_pages import add_config_routes
from central.web.config_problems import Problem, explain_all, split_reason
from central.web.enroll_pages import add_enroll_routes
from central.web.i18n import (
    DEFAULT_LANGUAGE,
    LANGUAGES,
    alarm_details,
    browser_texts,
    event_text,
    optional_text,
    text,
)
from central.web.kit import PageKit
from central.web.limits import BodyLimit, json_object
from central.web.stats import StatsContext, install_stats_routes

log = logging.getLogger(__name__)

SESSION_COOKIE = "smartlib_central"
LANG_COOKIE = "smartlib_lang"
LOGIN_CSRF_COOKIE = "smartlib_login_csrf"
HEARTBEAT_S = 15.0


@dataclass(frozen=True)
class Staff:
    """The logged-in staff member of a request."""

    session: StaffSession
    account: StaffAccount


class _LoginNeeded(Exception):
    """A page asked for without a session: the handler redirects to the log-in page."""


def _lang(request: Request) -> str:
    asked = request.query_params.get("lang")
    if asked in LANGUAGES:
        return asked  # type: ignore[return-value]
    cookie = request.cookies.get(LANG_COOKIE)
    return cookie if cookie in LANGUAGES else DEFAULT_LANGUAGE


def _number(value: str | None, cast: Callable[[str], Any] = float) -> Any:
    """A filter field's number (None when empty); 400 when it is not a number."""
    if value is None or value.strip() == "":
        return None
    try:
        number = cast(value)
    except ValueError as exc:
        raise HTTPException(400, "bad_request") from exc
    if number < 0:
        raise HTTPException(400, "bad_request")
    return number


def _day(value: str | None, zone: ZoneInfo) -> str | None:
    """A ``YYYY-MM-DD`` filter field (a day in the console's time zone) as the stored
    timestamp of its start (None when empty)."""
    if not value:
        return None
    try:
        return stamp(datetime.fromisoformat(value).replace(tzinfo=zone))
    except ValueError as exc:
        raise HTTPException(400, "bad_request") from exc


def _safe_next(target: str | None) -> str:
    """A local path to go to after log-in; anything else (another site, ``//host``,
    ``/\\host``, control characters) goes to ``/``."""
    if (target and target.startswith("/") and not target.startswith("//")
            and "\\" not in target and target.isprintable()):
        return target
    return "/"


def create_app(store: CentralStore, auth: StaffAuth, section: CentralSection, *,
               poll_s: float = 0.5, payments: PaymentService | None = None) -> FastAPI:
    """The central console's ASGI app.

    Args:
        store: the central store (shared with nothing else in this process).
        auth: accounts and sessions over the same store.
        section: the ``[central]`` settings (cookies, time zone).
        poll_s: how often the live alarm feed looks for new rows.
        payments: the fine payments' webhook and staff page (``None``: not served).
    """
    app = FastAPI(title="smartlib central", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(BodyLimit, max_bytes=section.max_body_bytes)
    env = Environment(loader=PackageLoader("central.web", "templates"),
                      autoescape=select_autoescape(["html"]))
    env.globals["payments_enabled"] = payments is not None
    zone = ZoneInfo(section.timezone)
    app.mount("/static", StaticFiles(packages=[("central.web", "static")]), name="static")

    def when(value: str | None) -> str:
        if not value:
            return "—"
        return parse_stamp(value).astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")

    def alarm_view(a: AlarmRecord, lang: str, names: dict[str, str]) -> dict[str, Any]:
        """An alarm as pages and the API show it; ``names``: staff display names by user
        name (``acked_by`` stays the user name, ``acked_by_name`` is who staff read)."""
        by = a.acked_by
        return {"id": a.id, "site": a.site_id, "device": a.device_id, "kind": a.kind,
                "kind_label": optional_text(f"kind.{a.kind}", lang, a.kind),
                "source": a.source, "item": a.item, "uid": a.uid, "title": a.title,
                "direction": a.direction, "message": a.message, "reason": a.detail.get("reason"),
                "details": alarm_details(a, lang),
                "raised_at": a.raised_at, "when": when(a.raised_at), "open": a.open,
                "acked_at": a.acked_at, "acked_when": when(a.acked_at), "acked_by": by,
                "acked_by_name": (names.get(by) or by) if by else None}

    def event_view(e: dict[str, Any], lang: str) -> dict[str, Any]:
        return {**e, "label": event_text(str(e["kind"]), lang)}

    def device_view(d: Device) -> dict[str, Any]:
        now = auth.clock()
        minutes = d.offline_minutes(now)
        silent = d.state == "online" and d.unheard_minutes(now) > section.offline_after_minutes
        return {"site": d.site_id, "device": d.device_id, "role": d.role, "state": d.state,
                "silent": silent, "state_since": d.state_since, "last_seen": d.last_seen, "backlog": d.backlog,
                "reader": d.reader, "reader_failures": d.reader_failures, "printer": d.printer,
                "software_version": d.software_version, "config_version": d.config_version,
                "restarts": d.restarts, "reconnects": d.reconnects,
                "process_starts": d.process_starts,
                "offline_minutes": round(minutes, 1) if minutes is not None else None}

    def render(request: Request, staff: Staff | None, name: str, status_code: int = 200,
               **values: Any) -> HTMLResponse:
        lang = _lang(request)

        def t(key: str) -> str:
            return text(key, lang)

        def label(prefix: str, value: str | None) -> str:
            if value is None:
                return "—"
            return optional_text(f"{prefix}.{value}", lang, value)

        def lang_url(code: str) -> str:
            query = dict(request.query_params)
            query["lang"] = code
            return f"{request.url.path}?{urlencode(query)}"

        names: dict[str, str] | None = None

        def site_name(site_id: str) -> str:
            """The site's display name, or its id when none is set."""
            nonlocal names
            if names is None:
                names = store.sites.names() if staff else {}
            return names.get(site_id) or site_id

        def site_label(site_id: str) -> str:
            """``Name (id)``, or the id alone."""
            named = site_name(site_id)
            return site_id if named == site_id else f"{named} ({site_id})"

        def explained(problems: list[tuple[str, str]] | str | None) -> list[Problem]:
            """Refusal reasons (pairs, or an edge's ``path: msg; …`` text) in ``lang``."""
            pairs = split_reason(problems) if isinstance(problems, str) or problems is None \
                else problems
            return explain_all(pairs, lang)

        html = env.get_template(name).render(
            t=t, lang=lang, label=label, explained=explained, when=when, staff=staff, lang_url=lang_url,
            site_name=site_name, site_label=site_label,
            csrf=staff.session.csrf_token if staff else "", path=request.url.path,
            may_ack=bool(staff and staff.account.may("librarian")),
            is_admin=bool(staff and staff.account.may("admin")),
            browser_texts=json.dumps(browser_texts(lang), ensure_ascii=False), **values)
        return HTMLResponse(html, status_code=status_code)

    def current(request: Request) -> Staff | None:
        found = auth.session(request.cookies.get(SESSION_COOKIE))
        return Staff(*found) if found else None

    def page_staff(request: Request) -> Staff:
        staff = current(request)
        if staff is None:
            raise _LoginNeeded()
        return staff

    def api_staff(request: Request) -> Staff:
        staff = current(request)
        if staff is None:
            raise HTTPException(401, "login required")
        return staff

    def require(staff: Staff, role: str) -> None:
        if not staff.account.may(role):
            raise HTTPException(403, "forbidden")

    def check_csrf(staff: Staff, submitted: str | None) -> None:
        if not StaffAuth.csrf_ok(staff.session, submitted):
            log.warning("CSRF token missing or wrong for staff %s", staff.account.username)
            raise HTTPException(403, "csrf")

    async def form(request: Request) -> dict[str, str]:
        body = (await request.body()).decode("utf-8", errors="replace")
        return {k: v[-1] for k, v in parse_qs(body, keep_blank_values=True).items()}

    @app.middleware("http")
    async def headers(request: Request, call_next: Callable[[Request], Any]) -> Response:
        response: Response = await call_next(request)
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; script-src 'self'; style-src 'self'; frame-ancestors 'none'")
        response.headers.setdefault("Cache-Control", "no-store")
        asked = request.query_params.get("lang")
        if asked in LANGUAGES:
            response.set_cookie(LANG_COOKIE, asked, max_age=365 * 86400, samesite="strict",
                                httponly=True, secure=section.secure_cookies)
        return response

    @app.exception_handler(_LoginNeeded)
    async def login_needed(request: Request, _exc: _LoginNeeded) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?{urlencode({'next': target})}", status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if request.url.path.startswith("/api/") or request.url.path == "/alarms/stream":
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code,
                                headers=getattr(exc, "headers", None))
        key = {403: "error.csrf" if exc.detail == "csrf" else "error.forbidden",
               404: "error.not_found", 400: "error.bad_request"}.get(exc.status_code,
                                                                     "error.bad_request")
        return render(request, current(request), "error.html", status_code=exc.status_code,
                      message_key=key)

    # ---- log-in ---------------------------------------------------------------------------

    def login_page(request: Request, *, error: str | None = None, status_code: int = 200,
                   username: str = "") -> HTMLResponse:
        pre = secrets.token_urlsafe(24)
        response = render(request, None, "login.html", status_code=status_code, error=error,
                          login_csrf=pre, username=username,
                          next=_safe_next(request.query_params.get("next")))
        response.set_cookie(LOGIN_CSRF_COOKIE, pre, httponly=True, samesite="strict",
                            secure=section.secure_cookies, max_age=3600, path="/login")
        return response

    def open_session(response: Response, token: str) -> None:
        response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="strict",
                            secure=section.secure_cookies, path="/",
                            max_age=int(auth.policy.session_hours * 3600))

    @app.get("/login", response_class=HTMLResponse)
    def login_form(request: Request) -> Response:
        if current(request) is not None:
            return RedirectResponse(_safe_next(request.query_params.get("next")), 303)
        return login_page(request)

    @app.post("/login")
    async def login_submit(request: Request) -> Response:
        data = await form(request)
        pre = request.cookies.get(LOGIN_CSRF_COOKIE)
        if not pre or not secrets.compare_digest(pre, data.get("csrf_token", "")):
            return login_page(request, error="login.expired", status_code=403)
        username = data.get("username", "").strip()
        try:
            done = await run_in_threadpool(auth.login, username, data.get("password", ""))
        except LoginRefused as exc:
            key = ("login.locked" if exc.locked_until else
                   "login.disabled" if "disabled" in str(exc) else "login.refused")
            return login_page(request, error=key, status_code=401, username=username)
        response = RedirectResponse(_safe_next(data.get("next")), status_code=303)
        open_session(response, done.token)
        response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
        return response

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        staff = api_staff(request)
        check_csrf(staff, (await form(request)).get("csrf_token")
                   or request.headers.get("X-CSRF-Token"))
        auth.logout(request.cookies.get(SESSION_COOKIE, ""))
        store.audit.record(staff.account.username, "logout", f"staff:{staff.account.username}",
                           stamp(auth.clock()))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @app.post("/api/login")
    async def api_login(request: Request) -> Response:
        """JSON log-in for scripts: ``{"username", "password"}`` (JSON only, so a cross-site
        form cannot post it); answers with the CSRF token and sets the session cookie."""
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            raise HTTPException(415, "send JSON")
        try:
            data = json_object(await request.body(), '{"username": …, "password": …}')
            username, password = str(data["username"]), str(data["password"])
        except (KeyError, TypeError) as exc:
            raise HTTPException(400, "expected {\"username\": …, \"password\": …}") from exc
        try:
            done = await run_in_threadpool(auth.login, username, password)
        except LoginRefused as exc:
            return JSONResponse({"detail": str(exc), "locked_until": exc.locked_until},
                                status_code=401)
        response = JSONResponse({"username": done.account.username, "role": done.account.role,
                                 "csrf_token": done.session.csrf_token})
        open_session(response, done.token)
        return response

    # ---- pages ----------------------------------------------------------------------------

    @app.get("/", response_class=HTMLResponse)
    def network(request: Request) -> Response:
        staff = page_staff(request)
        return render(request, staff, "network.html", sites=store.sites.list())

    @app.get("/sites/{site_id}", response_class=HTMLResponse)
    def site_page(request: Request, site_id: str) -> Response:
        staff = page_staff(request)
        try:
            site = store.sites.get(site_id)
        except NotFound as exc:
            raise HTTPException(404, "not_found") from exc
        lang, names = _lang(request), store.staff.display_names()
        devices = [device_view(d) for d in store.devices.list(site_id=site_id)]
        alarms = [alarm_view(a, lang, names) for a in
                  store.alarms.search(AlarmFilter(site_id=site_id, state="open", limit=100))]
        return render(request, staff, "site.html", site=site, devices=devices, alarms=alarms)

    @app.get("/sites/{site_id}/devices/{device_id}", response_class=HTMLResponse)
    def device_page(request: Request, site_id: str, device_id: str) -> Response:
        staff = page_staff(request)
        try:
            device = store.devices.get(site_id, device_id)
        except NotFound as exc:
            raise HTTPException(404, "not_found") from exc
        lang, names = _lang(request), store.staff.display_names()
        alarms = [alarm_view(a, lang, names) for a in store.alarms.search(
            AlarmFilter(site_id=site_id, device_id=device_id, limit=50))]
        return render(request, staff, "device.html", device=device_view(device),
                      events=[event_view(e, lang) for e in store.events.recent(site_id, device_id)],
                      alarms=alarms)

    def fleet_query(request: Request) -> tuple[dict[str, Any], list[Device]]:
        q = request.query_params
        filters = {"site": q.get("site") or None,
                   "offline_minutes": _number(q.get("offline_minutes")),
                   "backlog_above": _number(q.get("backlog_above"), int)}
        devices = store.devices.list(site_id=filters["site"],
                                     offline_minutes=filters["offline_minutes"],
                                     backlog_above=filters["backlog_above"], now=auth.clock())
        return filters, devices

    @app.get("/fleet", response_class=HTMLResponse)
    def fleet(request: Request) -> Response:
        staff = page_staff(request)
        filters, devices = fleet_query(request)
        return render(request, staff, "fleet.html", filters=filters,
                      devices=[device_view(d) for d in devices],
                      offline_default=section.offline_after_minutes,
                      sites=[s.site_id for s in store.sites.list()])

    def alarm_filter(request: Request) -> AlarmFilter:
        q = request.query_params
        state = q.get("state") or None
        if state not in (None, "open", "acked"):
            raise HTTPException(400, "bad_request")
        until = _day(q.get("until"), zone)
        if until is not None:  # the whole "to" day
            until = stamp(parse_stamp(until) + timedelta(days=1))
        return AlarmFilter(site_id=q.get("site") or None, device_id=q.get("device") or None,
                           kind=q.get("kind") or None, state=state, since=_day(q.get("since"), zone),
                           until=until, after_id=_number(q.get("after_id"), int),
                           limit=_number(q.get("limit"), int) or 200)

    @app.get("/alarms", response_class=HTMLResponse)
    def alarms_page(request: Request) -> Response:
        staff = page_staff(request)
        f = alarm_filter(request)
        lang, names = _lang(request), store.staff.display_names()
        history = [alarm_view(a, lang, names) for a in store.alarms.search(f)]
        live = [alarm_view(a, lang, names) for a in store.alarms.search(AlarmFilter(state="open",
                                                                             limit=100))]
        return render(request, staff, "alarms.html", history=history, live=live,
                      latest_id=store.alarms.latest_id(), filters=request.query_params,
                      sites=[s.site_id for s in store.sites.list()])

    @app.get("/alarms/stream")
    async def alarm_stream(request: Request) -> Response:
        """Server-sent events: ``alarm`` with each new or newly acknowledged alarm."""
        api_staff(request)
        lang = _lang(request)
        after = _number(request.query_params.get("after"), int) or 0

        async def events() -> AsyncIterator[str]:
            last_id, acked_after = after, stamp(auth.clock())
            idle = 0.0
            yield "retry: 2000\n\n"
            while not await request.is_disconnected():
                rows = await run_in_threadpool(store.alarms.changed_after, last_id, acked_after)
                names = (await run_in_threadpool(store.staff.display_names)
                         if any(a.acked_by for a in rows) else {})
                for a in rows:
                    last_id = max(last_id, a.id)
                    if a.acked_at and a.acked_at > acked_after:
                        acked_after = a.acked_at
                    data = json.dumps(alarm_view(a, lang, names), ensure_ascii=False)
                    yield f"event: alarm\nid: {a.id}\ndata: {data}\n\n"
                idle = 0.0 if rows else idle + poll_s
                if idle >= HEARTBEAT_S:
                    idle = 0.0
                    yield ": ping\n\n"
                await asyncio.sleep(poll_s)

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"X-Accel-Buffering": "no"})

    def acknowledge(staff: Staff, alarm_id: int) -> AlarmRecord:
        require(staff, "librarian")
        now = stamp(auth.clock())
        try:
            alarm, changed = store.alarms.acknowledge(alarm_id, staff.account.username, now)
        except NotFound as exc:
            raise HTTPException(404, "not_found") from exc
        if changed:
            store.audit.record(staff.account.username, "alarm.ack",
                               f"alarm:{alarm.site_id}/{alarm.device_id}/{alarm.edge_alarm_id}",
                               now, {"id": alarm.id, "kind": alarm.kind})
        return alarm

    @app.post("/alarms/{alarm_id}/ack")
    async def ack_form(request: Request, alarm_id: int) -> Response:
        staff = page_staff(request)
        data = await form(request)
        check_csrf(staff, data.get("csrf_token"))
        acknowledge(staff, alarm_id)
        return RedirectResponse(_safe_next(data.get("next") or "/alarms"), status_code=303)

    @app.get("/staff", response_class=HTMLResponse)
    def staff_page(request: Request) -> Response:
        staff = page_staff(request)
        require(staff, "admin")
        return render(request, staff, "staff.html", accounts=store.staff.list(), roles=ROLES,
                      notice=request.query_params.get("created"), error=None)

    @app.post("/staff")
    async def staff_create(request: Request) -> Response:
        staff = page_staff(request)
        require(staff, "admin")
        data = await form(request)
        check_csrf(staff, data.get("csrf_token"))
        try:
            await run_in_threadpool(
                auth.create_account, data.get("username", "").strip(), data.get("password", ""),
                role=data.get("role", ""), display_name=data.get("display_name") or None,
                actor=staff.account.username)
        except StaffError as exc:
            return render(request, staff, "staff.html", status_code=400,
                          accounts=store.staff.list(), roles=ROLES, notice=None, error=str(exc))
        return RedirectResponse("/staff?created=1", status_code=303)

    @app.get("/audit", response_class=HTMLResponse)
    def audit_page(request: Request) -> Response:
        staff = page_staff(request)
        require(staff, "admin")
        return render(request, staff, "audit.html", entries=store.audit.list(limit=500))

    # ---- JSON API ---------------------------------------------------------------------------

    @app.get("/api/me")
    def api_me(request: Request) -> dict[str, Any]:
        staff = api_staff(request)
        a = staff.account
        return {"username": a.username, "display_name": a.display_name, "role": a.role,
                "csrf_token": staff.session.csrf_token}

    @app.get("/api/sites")
    def api_sites(request: Request) -> list[dict[str, Any]]:
        api_staff(request)
        return [vars(s) for s in store.sites.list()]

    def rename_site(staff: Staff, site_id: str, name: Any) -> dict[str, str]:
        require(staff, "admin")
        if not isinstance(name, str):
            raise HTTPException(400, "bad_request")
        at = stamp(auth.clock())
        try:
            with store.db.transaction():
                before, after = store.sites.rename(site_id, name)
                store.audit.record(staff.account.username, "site.rename", f"site:{site_id}", at,
                                   {"before": before, "after": after})
        except NotFound as exc:
            raise HTTPException(404, "not_found") from exc
        except StaffError as exc:
            raise HTTPException(400, str(exc)) from exc
        return {"site_id": site_id, "name": after}

    @app.post("/sites/{site_id}/name")
    async def site_name_form(request: Request, site_id: str) -> Response:
        staff = page_staff(request)
        data = await form(request)
        check_csrf(staff, data.get("csrf_token"))
        rename_site(staff, site_id, data.get("name", ""))
        return RedirectResponse(f"/sites/{site_id}", status_code=303)

    @app.post("/api/sites/{site_id}/name")
    async def api_site_name(request: Request, site_id: str) -> dict[str, str]:
        staff = api_staff(request)
        check_csrf(staff, request.headers.get("X-CSRF-Token"))
        try:
            body = await request.json()
        except ValueError as exc:
            raise HTTPException(400, "bad_request") from exc
        return rename_site(staff, site_id, body.get("name") if isinstance(body, dict) else None)

    @app.get("/api/fleet")
    def api_fleet(request: Request) -> list[dict[str, Any]]:
        api_staff(request)
        _filters, devices = fleet_query(request)
        return [device_view(d) for d in devices]

    @app.get("/api/sites/{site_id}/devices/{device_id}")
    def api_device(request: Request, site_id: str, device_id: str) -> dict[str, Any]:
        api_staff(request)
        try:
            device = store.devices.get(site_id, device_id)
        except NotFound as exc:
            raise HTTPException(404, "not_found") from exc
        return {**device_view(device),
                "events": store.events.recent(site_id, device_id)}

    @app.get("/api/alarms")
    def api_alarms(request: Request) -> list[dict[str, Any]]:
        api_staff(request)
        lang, names = _lang(request), store.staff.display_names()
        return [alarm_view(a, lang, names) for a in store.alarms.search(alarm_filter(request))]

    @app.post("/api/alarms/{alarm_id}/ack")
    async def api_ack(request: Request, alarm_id: int) -> dict[str, Any]:
        staff = api_staff(request)
        check_csrf(staff, request.headers.get("X-CSRF-Token"))
        alarm = await run_in_threadpool(acknowledge, staff, alarm_id)
        names = await run_in_threadpool(store.staff.display_names)
        return alarm_view(alarm, _lang(request), names)

    install_stats_routes(app, StatsContext(
        store=store, timezone=section.timezone, clock=auth.clock, render=render,
        page_staff=page_staff, api_staff=api_staff, lang=_lang))
    kit = PageKit(store=store, clock=auth.clock, render=render, page_staff=page_staff,
                  api_staff=api_staff, require=require, check_csrf=check_csrf, form=form,
                  lang=_lang, when=when, command_ttl_hours=section.command_ttl_hours)
    for add_routes in (add_config_routes, add_enroll_routes, conflicts.add_routes,
                       tasks.add_routes, dead_letters.add_routes):
        add_routes(app, kit)
    if payments is not None:
        add_payment_routes(app, kit, payments)
    return app
