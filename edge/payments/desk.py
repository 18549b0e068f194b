"""The kiosk's side of paying fines: a VietQR for chosen fines, its intent, its status.

:class:`PaymentDesk` turns a patron's fines (from the account look-up) into one payment: a
reference, the VietQR payload for the library's account (``[payments]`` settings), the
amount and an expiry. Before it answers it journals the *intent* as a ``payment_intent``
device event (the agent publishes it; the centre matches the bank's notification to it).
The status comes from the same journal: ``payment_result`` events (the gateway's Fee Paid
result for this kiosk, stored by the agent) keyed like the centre keys the Fee Paid.

It never sees a card or bank credential, and keeps no state of its own besides the journal.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from edge.errors import EdgeError
from edge.payments.vietqr import VietQR, encode

FEE_PAID_KEY_NAMESPACE = uuid.UUID("6f1d1b8e-4a43-4c53-9d3c-2f6a8c1d5e21")
"""The UUID namespace of a payment's Fee Paid key, ``uuid5(namespace, reference)``; the same
constant as the centre's (``central.payments``; a test keeps them equal)."""

INTENT_EVENT = "payment_intent"
RESULT_EVENT = "payment_result"
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"

Status = Literal["pending", "partial", "paid", "refused", "expired"]


@dataclass(frozen=True)
class Fine:
    """One fine of the patron: the ILS's id, whole VND, reason and date."""

    fine_id: str
    amount: int
    reason: str
    date: str | None = None


@dataclass(frozen=True)
class Payment:
    """One shown QR and what became of it."""

    reference: str
    payload: str
    amount: int
    bank_bin: str
    bank_name: str
    account: str
    fee_ids: tuple[str, ...]
    expires_at: datetime
    status: Status = "pending"
    message: str | None = None
    paid_amount: int = 0
    """VND the library system took so far under this reference (a partial payment: less
    than ``amount``; ``payload`` is then the QR for the rest)."""

    def to_json(self) -> dict[str, Any]:
        """The API's shape."""
        return {"reference": self.reference, "payload": self.payload, "amount": self.amount,
                "paid_amount": self.paid_amount,
                "currency": "VND", "bank": {"bin": self.bank_bin, "name": self.bank_name,
                                            "account": self.account},
                "fee_ids": list(self.fee_ids), "expires_at": self.expires_at.isoformat(),
                "status": self.status, "message": self.message}


def fee_paid_key(reference: str) -> str:
    """The key the centre gives the Fee Paid of ``reference`` (its first transfer)."""
    return str(uuid.uuid5(FEE_PAID_KEY_NAMESPACE, reference))


def fines_from_account(account: dict[str, Any]) -> list[Fine]:
    """The payable fines of an account answer (``fines``: fine_id, amount, reason, date);
    a fine without a whole positive amount cannot be paid here and is left out."""
    out: list[Fine] = []
    for i, f in enumerate(account.get("fines") or []):
        try:
            amount = int(f.get("amount"))
        except (TypeError, ValueError):
            continue
        if amount > 0:
            out.append(Fine(str(f.get("fine_id") or i + 1), amount, str(f.get("reason") or ""),
                            f.get("date")))
    return out


class PaymentDesk:
    """Creates payments and reports their status.

    Args:
        events: the edge store's ``device_events`` repository (``record``, ``recent``).
        device: this kiosk's device id.
        bank_bin, bank_name, account: the library's account the QR pays into.
        ttl_s: how long a QR is valid.
        clock: aware "now".
    """

    def __init__(self, events: Any, device: str, *, bank_bin: str, bank_name: str,
                 account: str, ttl_s: float = 600.0,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        if not account:
            raise EdgeError("payments_disabled", "no library account is configured for "
                            "payments ([payments] account)", status=503)
        self.events = events
        self.device = device
        self.bank_bin, self.bank_name, self.account = bank_bin, bank_name, account
        self.ttl_s = ttl_s
        self.clock = clock

    def create(self, patron: str, fines: Sequence[Fine],
               fee_ids: Sequence[str] | None) -> Payment:
        """One payment for ``fee_ids`` (None: all fines), journaled before it is returned.

        Raises:
            EdgeError: nothing to pay, or a fee id the patron does not owe (422).
        """
        by_id = {f.fine_id: f for f in fines}
        chosen = list(by_id) if fee_ids is None else list(dict.fromkeys(fee_ids))
        unknown = [f for f in chosen if f not in by_id]
        if unknown:
            raise EdgeError("validation_error", f"no such fine: {', '.join(unknown)}",
                            status=422)
        if not chosen:
            raise EdgeError("nothing_to_pay", "there is no fine to pay", status=422)
        amount = sum(by_id[f].amount for f in chosen)
        reference = "SL" + "".join(secrets.choice(_ALPHABET) for _ in range(10))
        expires = self.clock() + timedelta(seconds=self.ttl_s)
        payload = encode(VietQR(bank_bin=self.bank_bin, account=self.account, amount=amount,
                                purpose=reference))
        self.events.record(self.device, INTENT_EVENT, {
            "reference": reference, "patron": patron, "fee_ids": chosen, "amount": amount,
            "expires_at": expires.isoformat(),
            "fines": [{"fine_id": f, "amount": by_id[f].amount, "reason": by_id[f].reason[:255]}
                      for f in chosen]})
        return Payment(reference, payload, amount, self.bank_bin, self.bank_name, self.account,
                       tuple(chosen), expires)

    def _intent(self, recent: Sequence[Any], patron: str, reference: str) -> dict[str, Any]:
        intent = next((e.detail for e in recent if e.kind == INTENT_EVENT
                       and e.detail.get("reference") == reference
                       and e.detail.get("patron") == patron), None)
        if intent is None:
            raise EdgeError("not_found", f"no payment {reference}", status=404)
        return dict(intent)

    def paid_fines(self, patron: str, reference: str, *,
                   scan: int = 500) -> list[tuple[str, int | None]]:
        """The fines payment ``reference`` was for: ``(reason, amount)`` from its intent
        (an intent journaled without them: the fee ids, no amount).

        Raises:
            EdgeError: no such payment for this patron (404).
        """
        intent = self._intent(self.events.recent(scan, device=self.device), patron, reference)
        if intent.get("fines"):
            return [(str(f.get("reason") or f.get("fine_id")), int(f["amount"]))
                    for f in intent["fines"]]
        return [(str(f), None) for f in intent.get("fee_ids") or ()]

    def status(self, patron: str, reference: str, *, scan: int = 500) -> Payment:
        """The payment ``reference`` of ``patron`` as the journal knows it now.

        Raises:
            EdgeError: no such payment for this patron (404).
        """
        recent = self.events.recent(scan, device=self.device)
        intent = self._intent(recent, patron, reference)
        key = fee_paid_key(reference)
        amount = int(intent["amount"])
        # Every Fee Paid result of this reference: the first transfer's (keyed by the
        # reference) and later ones of a partial payment (keyed per bank transaction).
        results: dict[str, dict[str, Any]] = {}
        for e in recent:
            if e.kind == RESULT_EVENT and (e.detail.get("key") == key
                                           or e.detail.get("reference") == reference):
                results.setdefault(str(e.detail.get("key")), e.detail)
        first = results.get(key)
        paid = 0
        for k, r in results.items():
            if r.get("ok"):
                # A result without its amount (an older gateway) is the first, whole one.
                paid += int(r.get("amount") or (amount if k == key else 0))
        expires = datetime.fromisoformat(intent["expires_at"])
        status: Status = "pending"
        message = None
        if first is not None and not first.get("ok"):
            status, message = "refused", first.get("screen_message")
        elif paid >= amount:
            status = "paid"
            message = first.get("screen_message") if first else None
        elif paid > 0:
            status = "partial"
        elif self.clock() > expires:
            status = "expired"
        owed = amount - paid if status == "partial" else amount
        payload = encode(VietQR(bank_bin=self.bank_bin, account=self.account,
                                amount=owed, purpose=reference))
        return Payment(reference, payload, amount, self.bank_bin,
                       self.bank_name, self.account, tuple(intent.get("fee_ids") or ()),
                       expires, status, message, min(paid, amount))
