"""The exception tree of the edge service: every service error is an :class:`EdgeError`.

An :class:`EdgeError` carries a stable ``code`` (see ``docs/api.md``), an English
``message`` for logs and staff, and for patron-facing codes the texts shown to the
patron in Vietnamese and English (:data:`TEXTS`, kept in the pure data module
:mod:`edge.error_texts` so the kiosk's test double shows the very same texts). The
API turns it into the one JSON error shape. Store errors are :class:`edge.store.StoreError` (a separate tree, because
the sync agent imports the store alone).
"""

from __future__ import annotations

from typing import Any

from edge.error_texts import TEXTS

__all__ = ["STATUS", "TEXTS", "DeviceUnavailable", "EdgeError", "SessionError", "texts"]

STATUS: dict[str, int] = {
    "unknown_patron": 404, "wrong_pin": 401, "pin_required": 401, "patron_blocked": 403,
    "restricted_fines": 403,
    "card_expired": 403, "session_expired": 404, "offline_login_denied": 503,
    "device_unavailable": 503, "pin_locked": 423, "rate_limited": 429,
    "staff_login_locked": 423,
    "payload_too_large": 413, "pin_check_unavailable": 503,
    "validation_error": 422, "unauthorized": 401, "forbidden": 403, "not_found": 404,
    "internal_error": 500, "store_error": 500,
}


def texts(code: str) -> dict[str, str] | None:
    """The vi/en texts of ``code``, or ``None`` for a staff-only code."""
    t = TEXTS.get(code)
    return dict(t) if t else None


class EdgeError(Exception):
    """A failure with a stable code, shown to API clients in one JSON shape.

    Args:
        code: a code from ``docs/api.md`` (``wrong_pin``, ``device_unavailable`` ...).
        message: what went wrong, in English, without secrets.
        status: the HTTP status (default from :data:`STATUS`, else 409).
        detail: extra JSON-able data for the client.
    """

    def __init__(self, code: str, message: str | None = None, *, status: int | None = None,
                 **detail: Any) -> None:
        self.code = code
        self.message = message or (TEXTS.get(code, {}).get("en") or code.replace("_", " "))
        self.status = status or STATUS.get(code, 409)
        self.detail = detail
        super().__init__(f"{code}: {self.message}")

    @property
    def texts(self) -> dict[str, str] | None:
        """The vi/en texts for the patron, or ``None``."""
        return texts(self.code)

    def to_json(self) -> dict[str, Any]:
        """The API's error body."""
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.texts:
            body["texts"] = self.texts
        if self.detail:
            body["detail"] = self.detail
        return {"error": body}


class DeviceUnavailable(EdgeError):
    """A device (reader, card reader, printer) is missing or failed."""

    def __init__(self, message: str, **detail: Any) -> None:
        super().__init__("device_unavailable", message, **detail)


class SessionError(EdgeError):
    """A session does not exist or has expired."""

    def __init__(self, message: str = "no such session (expired or ended)") -> None:
        super().__init__("session_expired", message)


