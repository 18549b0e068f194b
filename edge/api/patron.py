"""Patron routes (device token): sessions, checkout, return, renew, account, receipt."""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Path, Query, Response

from drivers.credential import CredentialSource, PatronCredential
from edge.api.deps import DeviceAuth, OptionalCaller, ServicesDep
from edge.api.schemas import (
    AccountOut,
    CardLoginIn,
    ErrorOut,
    HealthOut,
    InfoOut,
    ItemResultsOut,
    ItemsIn,
    LoginIn,
    PrintedOut,
    ReceiptOut,
    RenewIn,
    ReturnReceiptIn,
    SessionOut,
)
from edge.errors import EdgeError
from edge.receipt import build_receipt, printer_bytes, receipt_line, receipt_text, site_now
from edge.services.circulation import ItemResult
from edge.services.container import EdgeServices

log = logging.getLogger(__name__)

SessionId = Annotated[str, Path(min_length=1, max_length=64)]
"""A session id in a path (ours are 32 hex digits; longer ones are refused, 422)."""

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (401, 403, 404, 409, 413, 422, 423, 429, 503)}

router = APIRouter(tags=["patron"], responses=_ERRORS)
public = APIRouter(tags=["public"])

OK_STATUSES = {"loaned", "returned", "renewed", "offline_accepted", "checking",
               "loaned_alarm_on"}
"""Statuses counted as ``ok``: ``loaned_alarm_on`` is lent in the ILS (only its release is
still being retried), so it is not a refusal."""


def _results(results: list[ItemResult]) -> dict[str, Any]:
    ok = sum(1 for r in results if r.status in OK_STATUSES)
    return {"results": [r.to_json() for r in results],
            "count": {"ok": ok, "refused": len(results) - ok}}


@router.post("/sessions", status_code=201, response_model=SessionOut, dependencies=[DeviceAuth])
def login(body: LoginIn, services: ServicesDep) -> dict[str, Any]:
    """Log in with a scanned barcode (its scan token) or a typed number and PIN.

    The edge decides the credential's source: ``card``/``barcode`` only with a valid scan
    token from ``POST /scans`` for this identifier (the token's source counts, not the
    client's claim); without one the credential is a typed number (``manual``), which
    needs a PIN.
    """
    c = body.credential
    source: CredentialSource = (
        services.sessions.scan_tokens.redeem(c.scan_token, c.identifier) or "manual")
    if source != c.source:
        log.info("login claimed source %s, counted as %s (scan token %s)", c.source, source,
                 "valid" if c.scan_token and source != "manual" else "missing or not valid")
    cred = PatronCredential(source=source, identifier=c.identifier, raw=c.identifier.encode())
    return services.sessions.login(cred, c.pin, body.language).to_json()


@router.post("/sessions/card", status_code=201, response_model=SessionOut,
             dependencies=[DeviceAuth])
def login_card(body: CardLoginIn, services: ServicesDep) -> dict[str, Any]:
    """Log in with the card now on the PC/SC reader."""
    cred = services.devices.current_card()
    return services.sessions.login(cred, body.pin, body.language).to_json()


@router.get("/sessions/{session_id}", response_model=SessionOut, dependencies=[DeviceAuth])
def get_session(session_id: SessionId, services: ServicesDep) -> dict[str, Any]:
    """The session (also resets its idle timer)."""
    return services.sessions.get(session_id).to_json()


@router.delete("/sessions/{session_id}", status_code=204, dependencies=[DeviceAuth])
def logout(session_id: SessionId, services: ServicesDep) -> Response:
    """End and wipe the session."""
    if not services.sessions.end(session_id, "logout"):
        raise EdgeError("session_expired", "no such session")
    return Response(status_code=204)


@router.post("/sessions/{session_id}/checkout", response_model=ItemResultsOut,
             response_model_exclude_none=True, dependencies=[DeviceAuth])
def checkout(session_id: SessionId, services: ServicesDep, body: ItemsIn | None = None) -> dict[str, Any]:
    """Check out the items on the pad (or the listed ones among them)."""
    session = services.sessions.get(session_id)
    session.require_unrestricted("checkout")
    return _results(services.circulation.checkout(session, body.items if body else None))


@router.post("/sessions/{session_id}/return", response_model=ItemResultsOut,
             response_model_exclude_none=True, dependencies=[DeviceAuth])
def return_items(session_id: SessionId, services: ServicesDep,
                 body: ItemsIn | None = None) -> dict[str, Any]:
    """Secure and check in the items on the pad."""
    session = services.sessions.get(session_id)   # a restricted session may return too
    return _results(services.circulation.return_items(session, body.items if body else None))


@router.post("/returns", response_model=ItemResultsOut, response_model_exclude_none=True,
             dependencies=[DeviceAuth])
def anonymous_return(services: ServicesDep, body: ItemsIn | None = None) -> dict[str, Any]:
    """Return without logging in, where ``policy.anonymous_return`` allows it."""
    if not services.settings.policy.anonymous_return:
        raise EdgeError("forbidden", "anonymous return is disabled at this site", status=403)
    return _results(services.circulation.return_items(None, body.items if body else None))


def _anonymous_receipt(services: EdgeServices, body: ReturnReceiptIn) -> dict[str, Any]:
    if not services.settings.policy.anonymous_return:
        raise EdgeError("forbidden", "anonymous return is disabled at this site", status=403)
    lines = services.circulation.anonymous_return_lines(body.transactions)
    return {"library": services.settings.site.name, "patron_masked": "-",
            "when": site_now(services.settings.site.timezone), "language": body.language,
            "lines": [receipt_line(ln) for ln in lines]}


@router.post("/returns/receipt", response_model=ReceiptOut, dependencies=[DeviceAuth])
def anonymous_return_receipt(body: ReturnReceiptIn, services: ServicesDep) -> dict[str, Any]:
    """The receipt of anonymous returns, by the ``transaction`` keys ``POST /returns``
    answered (no patron on it); 404 ``not_found`` for a key that is not one."""
    return _anonymous_receipt(services, body)


@router.post("/returns/receipt/print", response_model=PrintedOut, dependencies=[DeviceAuth])
def print_anonymous_return_receipt(body: ReturnReceiptIn,
                                   services: ServicesDep) -> dict[str, Any]:
    """Print the receipt of anonymous returns on the kiosk's printer."""
    data = _anonymous_receipt(services, body)
    services.devices.print_bytes(printer_bytes(data, body.language, services.settings.printer))
    return {"printed": True}


@router.post("/sessions/{session_id}/renew", response_model=ItemResultsOut,
             response_model_exclude_none=True, dependencies=[DeviceAuth])
def renew(session_id: SessionId, body: RenewIn, services: ServicesDep) -> dict[str, Any]:
    """Renew the listed loans, or all of them."""
    session = services.sessions.get(session_id)
    session.require_unrestricted("renew")
    if not body.all and not body.items:
        raise EdgeError("validation_error", "give items or all=true", status=422)
    return _results(services.circulation.renew(session, body.items, all_items=body.all))


@router.get("/sessions/{session_id}/account", response_model=AccountOut, dependencies=[DeviceAuth])
def account(session_id: SessionId, services: ServicesDep) -> dict[str, Any]:
    """Loans with due dates, holds, fines."""
    return services.circulation.account(services.sessions.get(session_id))


@router.get("/sessions/{session_id}/receipt", response_model=ReceiptOut,
            dependencies=[DeviceAuth],
            responses={200: {"content": {"text/plain": {}, "application/octet-stream": {}}}})
def receipt(session_id: SessionId, services: ServicesDep,
            format: Literal["json", "text", "escpos"] = Query("json")) -> Any:
    """The session's receipt as JSON, plain text, or ESC/POS bytes (in the printer's
    ``[printer] vietnamese`` mode: ascii, cp1258 or raster)."""
    session = services.sessions.get(session_id)
    data = build_receipt(session, services.settings.site.name,
                         site_now(services.settings.site.timezone))
    if format == "text":
        return Response(receipt_text(data, session.language), media_type="text/plain")
    if format == "escpos":
        return Response(printer_bytes(data, session.language, services.settings.printer),
                        media_type="application/octet-stream")
    return data


@router.post("/sessions/{session_id}/receipt/print", response_model=PrintedOut,
             dependencies=[DeviceAuth])
def print_receipt(session_id: SessionId, services: ServicesDep) -> dict[str, Any]:
    """Print the receipt on the kiosk's printer."""
    session = services.sessions.get(session_id)
    data = build_receipt(session, services.settings.site.name,
                         site_now(services.settings.site.timezone))
    services.devices.print_bytes(printer_bytes(data, session.language, services.settings.printer))
    return {"printed": True}


KioskInstanceHeader = Annotated[str | None, Header(alias="X-Kiosk-Instance", max_length=64)]
"""A kiosk UI's run id (:func:`health`)."""


@public.get("/health", response_model=HealthOut)
def health(services: ServicesDep, caller: OptionalCaller,
           kiosk_instance: KioskInstanceHeader = None) -> dict[str, Any]:
    """Liveness and connectivity (no token).

    A kiosk UI sends ``X-Kiosk-Instance`` (a random id of its run) with its device token:
    each new one counts a kiosk start (the status's process starts)."""
    if kiosk_instance and caller is not None and caller.role == "device":
        services.store.meta.note_instance("kiosk", kiosk_instance)
    p = services.settings.policy
    devices_ok = all(d.get("state") != "offline" for d in services.devices.status())
    return {"status": "ok" if devices_ok else "degraded", "gateway": services.gateway_state(),
            "role": services.settings.device.role,
            "card_reader": services.devices.card_reader_state(),
            "offline_policy": {"login": p.offline_login, "max_items": p.offline_max_items,
                               "max_value": p.offline_max_value}}


@public.get("/info", response_model=InfoOut)
def info(services: ServicesDep) -> dict[str, Any]:
    """Who this box is (no token)."""
    s = services.settings
    return {"site": {"name": s.site.name, "isil": s.site.isil,
                     "opening_hours": s.site.opening_hours},
            "device": s.device.id, "languages": ["vi", "en"]}
