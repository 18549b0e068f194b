"""Dependencies of the routers: the services, and device/staff token checks."""

from __future__ import annotations

import hmac
from typing import Annotated, Literal

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from edge.errors import EdgeError
from edge.services.container import EdgeServices

Role = Literal["device", "staff"]
_bearer = HTTPBearer(auto_error=False, description="the device token or the staff token")


def get_services(request: Request) -> EdgeServices:
    """The app's :class:`EdgeServices` (set by :func:`edge.api.app.create_app`)."""
    return request.app.state.services  # type: ignore[no-any-return]


ServicesDep = Annotated[EdgeServices, Depends(get_services)]


def role_of(services: EdgeServices, token: str | None) -> Role | None:
    """Which role a token has (``None``: no or unknown token). Constant-time compares."""
    if not token:
        return None
    api = services.settings.api
    if hmac.compare_digest(token.encode(), api.staff_token.get_secret_value().encode()):
        return "staff"
    if hmac.compare_digest(token.encode(), api.device_token.get_secret_value().encode()):
        return "device"
    return None


def _role(services: ServicesDep,
          creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Role:
    role = role_of(services, creds.credentials if creds else None)
    if role is None:
        raise EdgeError("unauthorized", "a valid bearer token is needed", status=401)
    return role


def require_device(role: Annotated[Role, Depends(_role)]) -> Role:
    """Patron routes: the device token or the staff token."""
    return role


def require_staff(role: Annotated[Role, Depends(_role)]) -> Role:
    """Staff routes: the staff token only (403 for the device token)."""
    if role != "staff":
        raise EdgeError("forbidden", "this route needs the staff token", status=403)
    return role


DeviceAuth = Depends(require_device)
StaffAuth = Depends(require_staff)
