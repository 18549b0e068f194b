"""The remote configuration pages and API of the central console.

* ``/config``: every device's pushed configuration and its state (pending, applied, failed);
* ``/sites/{site}/config``: the library's document (the base of each of its devices);
* ``/sites/{site}/devices/{device}/config``: the device's own document, the configuration
  in force (site + device) and what the device answered;
* ``/api/…/config``: the same as JSON; ``POST`` with ``{"document", "base_version"}``.

Every staff member may read them; only an admin may change a configuration (403 otherwise).
An edit carries the version it was made from: a stale one is refused (409), so two admins
never overwrite each other silently. Routes only call :class:`~central.remote_config.RemoteConfigService`;
the collector publishes what it records.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from central.errors import ConfigConflict, ConfigRefused
from central.remote_config import DeviceConfigState, RemoteConfigService
from central.web.kit import PageKit
from central.web.limits import json_object
from sync.errors import InvalidTopicError


def state_view(s: DeviceConfigState | None) -> dict[str, Any] | None:
    """A device's configuration state as the API returns it."""
    if s is None:
        return None
    return {"site": s.site_id, "device": s.device_id, "version": s.version,
            "site_version": s.site_version, "device_version": s.device_version,
            "sha256": s.sha256, "state": s.state, "needs_restart": list(s.needs_restart),
            "reason": s.reason, "pushed_by": s.pushed_by, "pushed_at": s.pushed_at,
            "published_at": s.published_at, "acked_at": s.acked_at}


def _base_version(value: Any) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError) as exc:
        raise HTTPException(400, "bad_request") from exc
    if number < 0:
        raise HTTPException(400, "bad_request")
    return number


def add_config_routes(app: FastAPI, kit: PageKit) -> None:
    """Add the remote configuration pages and API to ``app``."""
    service = RemoteConfigService(kit.store, clock=kit.clock)

    def change(staff: Any, site_id: str, device_id: str | None, document: str,
               base_version: int) -> Any:
        kit.require(staff, "admin")
        try:
            return service.change(site_id, device_id, document, base_version=base_version,
                                  actor=staff.account.username)
        except InvalidTopicError as exc:
            raise HTTPException(404, "not_found") from exc

    def site_values(site_id: str) -> dict[str, Any]:
        document, version = service.document(site_id)
        return {"site_id": site_id, "document": document, "version": version,
                "states": kit.store.configs.states(site_id),
                "action": f"/sites/{site_id}/config"}

    def device_values(site_id: str, device_id: str) -> dict[str, Any]:
        document, version = service.document(site_id, device_id)
        return {"site_id": site_id, "device_id": device_id, "document": document,
                "version": version, "effective": service.effective(site_id, device_id),
                "state": kit.store.configs.device_state(site_id, device_id),
                "action": f"/sites/{site_id}/devices/{device_id}/config"}

    async def page_post(request: Request, site_id: str, device_id: str | None) -> Response:
        staff = kit.page_staff(request)
        kit.require(staff, "admin")
        data = await kit.form(request)
        kit.check_csrf(staff, data.get("csrf_token"))
        template = "config_device.html" if device_id else "config_site.html"

        def values() -> dict[str, Any]:
            return device_values(site_id, device_id) if device_id else site_values(site_id)

        try:
            await run_in_threadpool(change, staff, site_id, device_id,
                                    data.get("document", ""),
                                    _base_version(data.get("base_version")))
        except ConfigRefused as exc:
            return kit.render(request, staff, template, status_code=400,
                              **{**values(), "document": data.get("document", "")},
                              problems=exc.problems or [("(document)", str(exc))])
        except ConfigConflict:
            return kit.render(request, staff, template, status_code=409, **values(),
                              conflict=True)
        path = f"/sites/{site_id}" + (f"/devices/{device_id}" if device_id else "")
        return RedirectResponse(f"{path}/config?saved=1", status_code=303)

    @app.get("/config", response_class=HTMLResponse)
    def config_list(request: Request) -> Response:
        staff = kit.page_staff(request)
        return kit.render(request, staff, "config_list.html", states=kit.store.configs.states(),
                          sites=kit.store.sites.list(), devices=kit.store.devices.list())

    @app.get("/sites/{site_id}/config", response_class=HTMLResponse)
    def site_config(request: Request, site_id: str) -> Response:
        staff = kit.page_staff(request)
        return kit.render(request, staff, "config_site.html", **site_values(site_id),
                          notice=request.query_params.get("saved"))

    @app.post("/sites/{site_id}/config")
    async def site_config_post(request: Request, site_id: str) -> Response:
        return await page_post(request, site_id, None)

    @app.get("/sites/{site_id}/devices/{device_id}/config", response_class=HTMLResponse)
    def device_config(request: Request, site_id: str, device_id: str) -> Response:
        staff = kit.page_staff(request)
        return kit.render(request, staff, "config_device.html",
                          **device_values(site_id, device_id),
                          notice=request.query_params.get("saved"))

    @app.post("/sites/{site_id}/devices/{device_id}/config")
    async def device_config_post(request: Request, site_id: str, device_id: str) -> Response:
        return await page_post(request, site_id, device_id)

    # ---- JSON API ---------------------------------------------------------------------------

    @app.get("/api/config")
    def api_config_states(request: Request) -> list[dict[str, Any]]:
        kit.api_staff(request)
        return [state_view(s) for s in kit.store.configs.states()]  # type: ignore[misc]

    @app.get("/api/sites/{site_id}/config")
    def api_site_config(request: Request, site_id: str) -> dict[str, Any]:
        kit.api_staff(request)
        v = site_values(site_id)
        return {"site": site_id, "document": v["document"], "version": v["version"],
                "devices": [state_view(s) for s in v["states"]]}

    @app.get("/api/sites/{site_id}/devices/{device_id}/config")
    def api_device_config(request: Request, site_id: str, device_id: str) -> dict[str, Any]:
        kit.api_staff(request)
        v = device_values(site_id, device_id)
        return {"site": site_id, "device": device_id, "document": v["document"],
                "version": v["version"], "effective": v["effective"],
                "pushed": state_view(v["state"])}

    async def api_post(request: Request, site_id: str, device_id: str | None) -> Response:
        staff = kit.api_staff(request)
        kit.require(staff, "admin")
        kit.check_csrf(staff, request.headers.get("X-CSRF-Token"))
        try:
            data = json_object(await request.body(), '{"document": …, "base_version": …}')
            document = str(data["document"])
            base = _base_version(data.get("base_version", 0))
        except (ValueError, KeyError, TypeError) as exc:
            raise HTTPException(400, "expected {\"document\": …, \"base_version\": …}") from exc
        try:
            done = await run_in_threadpool(change, staff, site_id, device_id, document, base)
        except ConfigRefused as exc:
            return _json(400, {"detail": str(exc),
                               "problems": [list(p) for p in exc.problems]})
        except ConfigConflict as exc:
            return _json(409, {"detail": str(exc)})
        return _json(200, {"version": done.version.version, "sha256": done.version.sha256,
                           "diff": done.diff, "pushed": [state_view(p) for p in done.pushes]})

    @app.post("/api/sites/{site_id}/config")
    async def api_site_config_post(request: Request, site_id: str) -> Response:
        return await api_post(request, site_id, None)

    @app.post("/api/sites/{site_id}/devices/{device_id}/config")
    async def api_device_config_post(request: Request, site_id: str, device_id: str) -> Response:
        return await api_post(request, site_id, device_id)


def _json(status: int, body: dict[str, Any]) -> Response:
    return JSONResponse(body, status_code=status)
