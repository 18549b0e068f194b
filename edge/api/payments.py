"""Fine payment routes (device token): a VietQR for the session's fines, and its status.

``POST /sessions/{id}/payments`` journals the payment's intent (docs/payments.md) and
answers the QR payload, amount, bank and expiry; ``GET /sessions/{id}/payments/{ref}``
answers its status (``pending``, ``paid``, ``refused``, ``expired``) and, when it is paid or
refused, publishes a ``payment`` event on the WebSocket (the kiosk polls the status while
the QR is shown; the event tells every other listener).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from edge.api.deps import DeviceAuth, ServicesDep
from edge.api.schemas import ErrorOut
from edge.errors import EdgeError
from edge.payments.desk import PaymentDesk, fines_from_account

router = APIRouter(tags=["patron"], responses={
    code: {"model": ErrorOut} for code in (401, 404, 409, 422, 503)})


class PaymentIn(BaseModel):
    """Which fines to pay: ``all`` (or no ``fee_ids``) pays every fine; otherwise the
    listed ``fee_ids``."""

    fee_ids: list[str] | None = Field(None, max_length=100)
    all: bool = False


def payment_desk(services: Any) -> PaymentDesk:
    """The kiosk's :class:`PaymentDesk` from ``[payments]`` (503 when payments are off)."""
    sec = services.settings.payments
    if not sec.enabled:
        raise EdgeError("payments_disabled", "paying fines at this kiosk is not enabled",
                        status=503)
    return PaymentDesk(services.store.events, services.settings.device.id,
                       bank_bin=sec.bank_bin, bank_name=sec.bank_name, account=sec.account,
                       ttl_s=sec.qr_ttl_s)


@router.get("/sessions/{session_id}/fines", dependencies=[DeviceAuth])
def fines(session_id: str, services: ServicesDep) -> dict[str, Any]:
    """The session's payable fines (id, amount in VND, reason, date) and their total."""
    account = services.circulation.account(services.sessions.get(session_id))
    got = fines_from_account(account)
    return {"fines": [f.__dict__ for f in got], "total": sum(f.amount for f in got),
            "currency": "VND", "offline": bool(account.get("offline"))}


@router.post("/sessions/{session_id}/payments", status_code=201, dependencies=[DeviceAuth])
def create_payment(session_id: str, body: PaymentIn, services: ServicesDep) -> dict[str, Any]:
    """A VietQR for the chosen fines (or all), its intent journaled first."""
    desk = payment_desk(services)
    session = services.sessions.get(session_id)
    account = services.circulation.account(session)
    if account.get("offline"):
        raise EdgeError("fines_offline", "fines cannot be checked while the library system "
                        "is unreachable", status=503)
    payment = desk.create(session.patron_id, fines_from_account(account),
                          None if body.all or body.fee_ids is None else body.fee_ids)
    return payment.to_json()


@router.get("/sessions/{session_id}/payments/{reference}", dependencies=[DeviceAuth])
def payment_status(session_id: str, reference: str, services: ServicesDep) -> dict[str, Any]:
    """The payment's status now."""
    session = services.sessions.get(session_id)
    payment = payment_desk(services).status(session.patron_id, reference)
    if payment.status in ("paid", "refused", "partial"):
        services.bus.publish("payment", session_id=session_id, reference=reference,
                             status=payment.status, amount=payment.amount,
                             paid_amount=payment.paid_amount)
    return payment.to_json()
