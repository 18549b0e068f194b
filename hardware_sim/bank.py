"""The simulated bank: pays a shown VietQR on command by posting the library's bank
notification (the signed webhook of ``docs/payments.md``) to the centre.

It signs on its own from the documented format (HMAC-SHA256 over ``<timestamp>.<body>``,
``X-Smartlib-Signature: sha256=<hex>``, ``X-Smartlib-Timestamp``), so it also cross-checks
the centre's verifier. It holds the shared webhook secret only, never a card or an account
credential. Served under ``/bank`` by the control API; no import-time state.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from hardware_sim.errors import SimError


class BankError(SimError):
    """The notification could not be delivered (the centre unreachable or refusing it)."""


class PayRequest(BaseModel):
    ref: str = Field(min_length=1, max_length=25)
    amount: int = Field(gt=0)
    bank_txn_id: str | None = None


class SimBank:
    """Posts one signed notification per payment.

    Args:
        webhook_url: the centre's ``POST /payments/webhook`` URL.
        secret: the shared webhook secret (bytes).
        client: the HTTP client (default: a fresh ``httpx.Client``).
    """

    def __init__(self, webhook_url: str, secret: bytes, *,
                 client: httpx.Client | None = None) -> None:
        if not secret:
            raise SimError("the simulated bank needs the webhook secret")
        self.webhook_url = webhook_url
        self._secret = secret
        self._client = client or httpx.Client(timeout=10)
        self._serial = itertools.count(1)
        self.sent: list[dict[str, Any]] = []

    def pay(self, reference: str, amount: int, bank_txn_id: str | None = None) -> dict[str, Any]:
        """Pay ``amount`` VND under ``reference``; returns the centre's answer.

        Raises:
            BankError: the centre could not be reached or refused the notification.
        """
        txn = bank_txn_id or f"SIMBANK-{int(time.time())}-{next(self._serial)}"
        body = json.dumps({"reference": reference, "amount": amount,
                           "paid_at": datetime.now(UTC).isoformat(timespec="seconds"),
                           "bank_txn_id": txn}).encode()
        ts = str(int(time.time()))
        mac = hmac.new(self._secret, ts.encode() + b"." + body, hashlib.sha256).hexdigest()
        try:
            resp = self._client.post(self.webhook_url, content=body, headers={
                "Content-Type": "application/json", "X-Smartlib-Timestamp": ts,
                "X-Smartlib-Signature": f"sha256={mac}"})
        except httpx.HTTPError as exc:
            raise BankError(f"cannot reach the centre at {self.webhook_url}: {exc}") from exc
        if resp.status_code >= 400:
            raise BankError(f"the centre refused the notification: {resp.status_code} "
                            f"{resp.text[:200]}")
        answer: dict[str, Any] = resp.json()
        self.sent.append({"bank_txn_id": txn, "reference": reference, "amount": amount})
        return answer


def bank_router(bank: SimBank) -> APIRouter:
    """``POST /bank/pay {ref, amount, bank_txn_id?}`` and ``GET /bank`` (what was sent)."""
    router = APIRouter()

    @router.post("/bank/pay")
    def pay(req: PayRequest) -> dict[str, Any]:
        try:
            return bank.pay(req.ref, req.amount, req.bank_txn_id)
        except BankError as exc:
            raise HTTPException(status_code=502, detail=str(exc)) from exc

    @router.get("/bank")
    def status() -> dict[str, Any]:
        return {"webhook_url": bank.webhook_url, "sent": list(bank.sent)}

    return router
