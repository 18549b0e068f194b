"""Dependencies of the routers: the services, and who the caller is (device or staff).

A bearer token is, in this order:

* a staff session (``POST /staff/login`` with a cached staff account, see
  :mod:`edge.api.staff_login`): the account's role (viewer, librarian, admin);
* a per-device token (``smartlib token issue``, stored hashed in the edge store);
* deprecated: the shared ``[api] staff_token`` (acts as an admin), accepted only while no
  staff accounts are cached or with ``[api] staff_token_fallback = true``;
* deprecated: the shared ``[api] device_token``, accepted only while no per-device token is
  active (a bootstrap: the first ``smartlib token issue`` ends it).

Staff roles: a viewer may read (GET); acting (any other method) needs librarian or admin.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from edge.api.staff_login import session_of
from edge.errors import EdgeError
from edge.services.container import EdgeServices

Role = Literal["device", "staff"]
StaffRole = Literal["viewer", "librarian", "admin"]
_bearer = HTTPBearer(auto_error=False,
                     description="a device token, a staff session token or a shared token")
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class Caller:
    """Who sent a request: a device (by token name) or a staff member (and their role)."""

    role: Role
    name: str
    staff_role: StaffRole | None = None


def get_services(request: Request) -> EdgeServices:
    """The app's :class:`EdgeServices` (set by :func:`edge.api.app.create_app`)."""
    return request.app.state.services  # type: ignore[no-any-return]


ServicesDep = Annotated[EdgeServices, Depends(get_services)]


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def caller_of(services: EdgeServices, token: str | None) -> Caller | None:
    """Who presents ``token`` (``None``: no or unknown token). Compares in constant time."""
    if not token:
        return None
    store, api = services.store, services.settings.api
    session = session_of(store, token)
    if session is not None:
        return Caller("staff", session.username, session.role)
    device = store.device_tokens.name_of(token)
    if device is not None:
        return Caller("device", device)
    if ((api.staff_token_fallback or store.staff_accounts.count() == 0)
            and _same(token, api.staff_token.get_secret_value())):
        return Caller("staff", "shared-staff-token", "admin")
    if (_same(token, api.device_token.get_secret_value())
            and not store.device_tokens.any_active()):
        return Caller("device", "shared-device-token")
    return None


def role_of(services: EdgeServices, token: str | None) -> Role | None:
    """Which role a token has (``None``: no or unknown token)."""
    caller = caller_of(services, token)
    return None if caller is None else caller.role


def _caller(services: ServicesDep,
            creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Caller:
    caller = caller_of(services, creds.credentials if creds else None)
    if caller is None:
        raise EdgeError("unauthorized", "a valid bearer token is needed", status=401)
    return caller


def require_device(caller: Annotated[Caller, Depends(_caller)]) -> Role:
    """Patron routes: a device token or any staff login."""
    return caller.role


def require_staff(request: Request, caller: Annotated[Caller, Depends(_caller)]) -> Role:
    """Staff routes: a staff login (403 for a device token; 403 for a viewer that acts)."""
    if caller.role != "staff":
        raise EdgeError("forbidden", "this route needs a staff login", status=403)
    if request.method not in _READ_METHODS and caller.staff_role == "viewer":
        raise EdgeError("forbidden", "a viewer may look but not act (needs librarian or admin)",
                        status=403)
    return caller.role


def optional_caller(services: ServicesDep, request: Request) -> Caller | None:
    """Who calls a public route, if a valid bearer token came with it (None otherwise).
    Read from the header itself, so the route stays public in the OpenAPI document."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return caller_of(services, token.strip() or None) if scheme.lower() == "bearer" else None


OptionalCaller = Annotated[Caller | None, Depends(optional_caller)]
DeviceAuth = Depends(require_device)
StaffAuth = Depends(require_staff)
