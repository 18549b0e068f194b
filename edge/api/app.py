"""The FastAPI app factory of ``smartlib serve``. No import-time side effects.

``create_app(settings, services)`` builds the app around an :class:`EdgeServices`
(made from the settings when not given). The routers to include are the list
:data:`ROUTERS` plus ``extra_routers``; later modules (gate, staff console) add theirs
with ``extra_routers=[...]`` or by extending :func:`default_routers`.

Every failure answers in the one JSON error shape: :class:`EdgeError` with its code;
``DriverError`` → 503 ``device_unavailable``; ``StoreError`` → 500 ``store_error``; any
other exception → 500 ``internal_error``. The last three are logged (masked) with a
``ref`` that the answer's ``detail`` repeats. Every request first passes
:class:`edge.api.limits.RequestLimits` (429 ``rate_limited``, 413 ``payload_too_large``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import traceback
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from drivers.errors import DriverError
from edge.api import events, patron, payments, receipts, scan, staff, staff_console
from edge.api.limits import LIMIT_RESPONSES, RequestLimits
from edge.errors import EdgeError
from edge.services.container import EdgeServices
from edge.store import StoreError
from smartlib.config import Settings
from smartlib.logs import mask_text
from smartlib.sdnotify import SystemdNotifier

log = logging.getLogger(__name__)

_HTTP_CODES = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "not_found",
               422: "validation_error"}


def default_routers() -> list[APIRouter]:
    """The routers every edge serves."""
    return [patron.public, patron.router, scan.router, staff.router, events.router,
            staff_console.router, receipts.router, payments.router]


def create_app(settings: Settings, services: EdgeServices | None = None, *,
               extra_routers: Sequence[APIRouter] = (), start_services: bool = True,
               background: bool = True, notifier: SystemdNotifier | None = None) -> FastAPI:
    """Build the edge API.

    Args:
        settings: the site configuration.
        services: the edge services (built from ``settings`` when omitted).
        extra_routers: more routers (gate, staff console).
        start_services: run :meth:`EdgeServices.start`/``stop`` in the app's lifespan.
        background: start the background thread and pad poller with the services.
        notifier: say READY=1 once serving and feed the watchdog while working (sd_notify;
            :func:`feed_watchdog`).
    """
    svc = services or EdgeServices.build(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if start_services:
            svc.start(background=background, poll_pad=background)
        feeder = (asyncio.create_task(feed_watchdog(svc, notifier))
                  if notifier is not None and notifier.enabled else None)
        try:
            yield
        finally:
            if feeder is not None and notifier is not None:
                notifier.stopping()
                feeder.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await feeder
            if start_services:
                svc.stop()

    app = FastAPI(title="smartlib edge", version="1", lifespan=lifespan,
                  description="The kiosk/gate box API; see docs/api.md.")
    app.state.services = svc
    for router in [*default_routers(), *extra_routers]:
        app.include_router(router, responses=LIMIT_RESPONSES)
    app.add_middleware(RequestLimits, api=settings.api)   # rate per client, body size

    @app.exception_handler(EdgeError)
    async def edge_error(_: Request, exc: EdgeError) -> JSONResponse:
        return JSONResponse(exc.to_json(), status_code=exc.status)

    @app.exception_handler(StoreError)
    async def store_error(request: Request, exc: StoreError) -> JSONResponse:
        ref = _log_failure(request, exc, "store error")
        return JSONResponse(EdgeError("store_error", "the local database failed", status=500,
                                      ref=ref).to_json(), status_code=500)

    @app.exception_handler(DriverError)
    async def driver_error(request: Request, exc: DriverError) -> JSONResponse:
        ref = _log_failure(request, exc, "device error", traceback_too=False)
        err = EdgeError("device_unavailable", f"device error ({type(exc).__name__})",
                        status=503, ref=ref)
        return JSONResponse(err.to_json(), status_code=503)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        # Reached through Starlette's ServerErrorMiddleware, which re-raises afterwards
        # (uvicorn then logs nothing more; the TestClient re-raises unless told not to).
        ref = _log_failure(request, exc, "unexpected error")
        return JSONResponse(EdgeError("internal_error", "internal error", status=500,
                                      ref=ref).to_json(), status_code=500)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg"))}
                    for e in exc.errors()]
        err = EdgeError("validation_error", "the request is not valid", status=422,
                        problems=problems)
        return JSONResponse(err.to_json(), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        err = EdgeError(code, str(exc.detail), status=exc.status_code)
        return JSONResponse(err.to_json(), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    return app


def _log_failure(request: Request, exc: BaseException, what: str, *,
                 traceback_too: bool = True) -> str:
    """Log a failed request, masked (secrets in the message or traceback become ``***``).

    The traceback goes into the message (not ``exc_info``), so the masking filter sees it.

    Returns:
        A short reference, also in the API's answer, to find the log line.
    """
    ref = uuid.uuid4().hex[:12]
    tb = "".join(traceback.format_exception(exc)) if traceback_too else ""
    log.error("%s on %s %s (ref %s): %s: %s%s", what, request.method, request.url.path, ref,
              type(exc).__name__, mask_text(str(exc)), f"\n{mask_text(tb)}" if tb else "")
    return ref


async def feed_watchdog(services: EdgeServices, notifier: SystemdNotifier) -> None:
    """READY=1, then WATCHDOG=1 for as long as the edge works, until cancelled.

    Working means: this event loop turns (it runs this task) and the store answers a read
    from the worker threads the routes use, within twice the ping interval. A probe that
    fails or hangs sends nothing, so the supervisor (systemd, or ``smartlib demo``) restarts
    the process once the watchdog interval has passed.
    """
    ready = False
    while True:
        try:
            await asyncio.wait_for(asyncio.to_thread(services.store.meta.connectivity),
                                   timeout=2 * notifier.ping_interval_s)
        except (TimeoutError, StoreError) as exc:
            log.error("the edge is not working (store probe: %s); no watchdog ping",
                      type(exc).__name__)
        else:
            if not ready:
                ready = notifier.ready(f"serving as {services.settings.device.id}")
            notifier.heartbeat()
        await asyncio.sleep(notifier.ping_interval_s)


def listen_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` and listening, for :func:`run`.

    Raises:
        EdgeError: ``api_port_unavailable`` when the address is taken or cannot be bound.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise EdgeError("api_port_unavailable",
                        f"cannot listen on {host}:{port} ({exc.strerror or exc}); is another "
                        "smartlib serve running, or is [api] port taken?", status=503) from exc
    sock.set_inheritable(True)
    return sock


def run(settings: Settings, **kw: Any) -> None:
    """Serve the app with uvicorn on ``settings.api.host:port`` (sd_notify when supervised).

    The port is bound before the services start, so a taken port ends the command at once
    (it waited for the devices and the store to start and stop again).

    Raises:
        EdgeError: ``api_port_unavailable`` (see :func:`listen_socket`).
    """
    import uvicorn

    sock = listen_socket(settings.api.host, settings.api.port)
    config = uvicorn.Config(create_app(settings, notifier=SystemdNotifier.from_environment()),
                            host=settings.api.host, port=settings.api.port, log_config=None,
                            **kw)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
