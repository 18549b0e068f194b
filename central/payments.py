"""Fine payments at the centre: the bank's signed notification, matched to a kiosk's intent.

A kiosk that shows a VietQR code announces a *payment intent* (reference, patron, fee ids,
amount, expiry); :meth:`PaymentBook.record_intent` keeps it. The library's bank or payment
service then posts one notification per incoming transfer to ``POST /payments/webhook``
(the adapter format is in ``docs/payments.md``): a JSON body ``{reference, amount, paid_at,
bank_txn_id}`` signed with HMAC-SHA256 over ``<timestamp>.<raw body>`` with a shared secret.

:class:`PaymentService` verifies the signature and the replay window, records the
notification with its outcome (``paid``, ``partial``, ``overpaid``, ``late``, ``duplicate``,
``unmatched``) and, for money that must reach the ILS, submits one ``fee_paid``
:class:`~sync.messages.TransactionRequest` (SIP2 37) to the gateways on the kiosk's tx topic:
the gateway's ledger applies it exactly once (the key is derived from the reference) and
sends the result back to the kiosk on its result topic, as for any transaction.

This module never sees or stores a card or bank credential, and never calls the ILS or the
broker itself (the submitter is injected).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse

from central.db import Database, parse_stamp, stamp
from central.errors import CentralError
from sync.messages import DeviceEventReport, PaymentIntent, TransactionRequest

if TYPE_CHECKING:
    from central.web.config_pages import PageKit

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Smartlib-Signature"
TIMESTAMP_HEADER = "X-Smartlib-Timestamp"
REPLAY_WINDOW_S = 300.0
_KEY_NAMESPACE = uuid.UUID("6f1d1b8e-4a43-4c53-9d3c-2f6a8c1d5e21")

Outcome = Literal["paid", "partial", "overpaid", "late", "duplicate", "unmatched"]
OUTCOMES: tuple[str, ...] = ("paid", "partial", "overpaid", "late", "duplicate", "unmatched")
ATTENTION = frozenset({"partial", "overpaid", "late", "unmatched"})
"""Outcomes staff must act on: money still owed, a refund, a late QR, an unknown reference."""

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS payment_intents (
        reference  TEXT PRIMARY KEY,
        site       TEXT NOT NULL,
        device     TEXT NOT NULL,
        patron     TEXT NOT NULL,
        fee_ids    TEXT NOT NULL,
        amount     BIGINT NOT NULL,
        expires_at TEXT NOT NULL,
        created_at TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS payments (
        bank_txn_id TEXT PRIMARY KEY,
        reference   TEXT NOT NULL,
        amount      BIGINT NOT NULL,
        paid_at     TEXT NOT NULL,
        received_at TEXT NOT NULL,
        outcome     TEXT NOT NULL,
        applied     BIGINT NOT NULL,
        tx_key      TEXT,
        detail      TEXT NOT NULL,
        duplicates  BIGINT NOT NULL DEFAULT 0
    )""",
    # The outbox of Fee Paid requests: written in the transaction that decides the outcome,
    # published on the kiosk's tx topic by the collector's dispatcher, marked sent on PUBACK.
    """CREATE TABLE IF NOT EXISTS payment_submissions (
        tx_key      TEXT PRIMARY KEY,
        bank_txn_id TEXT NOT NULL,
        site        TEXT NOT NULL,
        device      TEXT NOT NULL,
        request     TEXT NOT NULL,
        created_at  TEXT NOT NULL,
        sent_at     TEXT
    )""",
]


class PaymentError(CentralError):
    """A payment notification or intent that cannot be accepted."""


class SignatureError(PaymentError):
    """The notification's signature is missing, malformed, wrong, or outside the window."""


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """The ``X-Smartlib-Signature`` value for ``body`` sent at ``timestamp`` (Unix seconds)."""
    mac = hmac.new(secret, timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: bytes, body: bytes, signature: str | None, timestamp: str | None, *,
           now: float | None = None, window_s: float = REPLAY_WINDOW_S) -> None:
    """Check a notification's signature and that its timestamp is within ``window_s``.

    Raises:
        SignatureError: naming what was wrong (never the secret or the expected value).
    """
    if not signature:
        raise SignatureError(f"missing {SIGNATURE_HEADER} header")
    if not timestamp:
        raise SignatureError(f"missing {TIMESTAMP_HEADER} header")
    if not signature.startswith("sha256="):
        raise SignatureError(f"{SIGNATURE_HEADER} must be 'sha256=<hex>'")
    try:
        sent = int(timestamp)
    except ValueError as exc:
        raise SignatureError(f"{TIMESTAMP_HEADER} must be Unix seconds") from exc
    if not hmac.compare_digest(sign(secret, timestamp, body), signature):
        raise SignatureError("signature does not match the body")
    current = time.time() if now is None else now
    if abs(current - sent) > window_s:
        raise SignatureError(f"timestamp outside the {window_s:.0f} s replay window")


@dataclass(frozen=True)
class Notification:
    """One incoming transfer as the bank reports it."""

    reference: str
    amount: int
    paid_at: str
    bank_txn_id: str

    @classmethod
    def parse(cls, body: bytes) -> Notification:
        """Read the webhook's JSON body.

        Raises:
            PaymentError: not JSON, a field missing or of the wrong type.
        """
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise PaymentError(f"body is not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise PaymentError("body must be a JSON object")
        for name in ("reference", "paid_at", "bank_txn_id"):
            if not isinstance(data.get(name), str) or not data[name]:
                raise PaymentError(f"{name!r} must be a non-empty string")
        amount = data.get("amount")
        if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
            raise PaymentError("'amount' must be a positive whole number of VND")
        return cls(data["reference"], amount, data["paid_at"], data["bank_txn_id"])


@dataclass(frozen=True)
class Intent:
    """What a kiosk asked to be paid under one reference."""

    reference: str
    site: str
    device: str
    patron: str
    fee_ids: tuple[str, ...]
    amount: int
    expires_at: datetime


@dataclass(frozen=True)
class PaymentRecord:
    """One recorded notification and what was done with it."""

    bank_txn_id: str
    reference: str
    amount: int
    paid_at: str
    received_at: str
    outcome: str
    applied: int
    """VND sent to the ILS as Fee Paid for this notification (0: none)."""
    tx_key: str | None
    detail: str
    duplicates: int = 0
    """How many more times the bank sent this notification (each ignored)."""


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class PaymentBook:
    """The intents and the notifications, in the central database."""

    def __init__(self, db: Database) -> None:
        self.db = db
        with db.transaction():
            for ddl in SCHEMA:
                db.execute(ddl)

    def record_intent(self, intent: Intent) -> None:
        """Keep an intent (a re-announced reference keeps its first record)."""
        if intent.amount <= 0:
            raise PaymentError("an intent's amount must be positive")
        self.db.execute(
            "INSERT INTO payment_intents (reference, site, device, patron, fee_ids, amount,"
            " expires_at, created_at) VALUES (?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING",
            (intent.reference, intent.site, intent.device, intent.patron,
             json.dumps(list(intent.fee_ids)), intent.amount,
             stamp(_aware(intent.expires_at)), stamp()))

    def intent(self, reference: str) -> Intent | None:
        """The intent recorded under ``reference``."""
        rows = self.db.query("SELECT reference, site, device, patron, fee_ids, amount, expires_at"
                             " FROM payment_intents WHERE reference=?", (reference,))
        if not rows:
            return None
        r = rows[0]
        return Intent(r[0], r[1], r[2], r[3], tuple(json.loads(r[4])), int(r[5]),
                      parse_stamp(str(r[6])))

    def payment(self, bank_txn_id: str) -> PaymentRecord | None:
        """The notification recorded under ``bank_txn_id``."""
        rows = self.db.query("SELECT * FROM payments WHERE bank_txn_id=?", (bank_txn_id,))
        return PaymentRecord(*rows[0]) if rows else None

    def payments(self, limit: int = 200, *, outcome: str | None = None) -> list[PaymentRecord]:
        """The latest notifications, newest first (only ``outcome`` ones when given;
        ``duplicate``: those the bank sent more than once)."""
        if outcome == "duplicate":
            rows = self.db.query("SELECT * FROM payments WHERE duplicates > 0 ORDER BY"
                                 " received_at DESC, bank_txn_id LIMIT ?", (limit,))
        elif outcome:
            rows = self.db.query("SELECT * FROM payments WHERE outcome=? ORDER BY"
                                 " received_at DESC, bank_txn_id LIMIT ?", (outcome, limit))
        else:
            rows = self.db.query("SELECT * FROM payments ORDER BY received_at DESC,"
                                 " bank_txn_id LIMIT ?", (limit,))
        return [PaymentRecord(*r) for r in rows]

    def intents(self, references: list[str]) -> dict[str, Intent]:
        """The intents of ``references`` (those recorded)."""
        out: dict[str, Intent] = {}
        for ref in dict.fromkeys(references):
            found = self.intent(ref)
            if found is not None:
                out[ref] = found
        return out

    def queue_submission(self, request: TransactionRequest, bank_txn_id: str) -> None:
        """Journal a Fee Paid request for the dispatcher (a key queued before is kept)."""
        self.db.execute(
            "INSERT INTO payment_submissions (tx_key, bank_txn_id, site, device, request,"
            " created_at) VALUES (?,?,?,?,?,?) ON CONFLICT DO NOTHING",
            (request.key, bank_txn_id, request.site, request.device,
             request.model_dump_json(), stamp()))

    def unsent_submissions(self) -> list[TransactionRequest]:
        """The Fee Paid requests not yet taken by the broker, oldest first."""
        rows = self.db.query("SELECT request FROM payment_submissions WHERE sent_at IS NULL"
                             " ORDER BY created_at, tx_key")
        return [TransactionRequest.model_validate_json(str(r[0])) for r in rows]

    def mark_submitted(self, key: str, when: datetime | None = None) -> None:
        """The broker took the request published under ``key`` (its PUBACK)."""
        self.db.execute("UPDATE payment_submissions SET sent_at=? WHERE tx_key=?",
                        (stamp(when), key))

    def applied_for(self, reference: str) -> int:
        """VND already sent to the ILS under ``reference``."""
        rows = self.db.query("SELECT COALESCE(SUM(applied), 0) FROM payments WHERE reference=?",
                             (reference,))
        return int(rows[0][0])


def record_intent_event(db: Database, event: DeviceEventReport) -> None:
    """Keep the intent a kiosk published as a ``payment_intent`` device event.

    Raises:
        pydantic.ValidationError: the event's detail is not a :class:`PaymentIntent`
            (a ``ValueError``: the collector keeps the message as a dead letter).
    """
    p = PaymentIntent.model_validate(event.detail)
    book = PaymentBook(db)
    book.record_intent(Intent(p.reference, event.site, event.device, p.patron,
                              tuple(p.fee_ids), p.amount, p.expires_at))
    rematch(book, p.reference)


def fee_paid_request(book: PaymentBook, intent: Intent, note: Notification, amount: int, *,
                     key: str | None = None) -> TransactionRequest:
    """The ``fee_paid`` request for ``amount`` VND of ``note`` under ``intent``.

    The reference is the idempotency key; a later transfer under the same reference (the
    rest of a partial payment) adds its bank transaction id."""
    first_key = str(uuid.uuid5(_KEY_NAMESPACE, note.reference))
    if key is None:
        first = book.applied_for(note.reference) == 0
        key = first_key if first else str(uuid.uuid5(
            _KEY_NAMESPACE, f"{note.reference}/{note.bank_txn_id}"))
    # The ILS's transaction id (SIP2 BK, at most 32 characters): the reference for the first
    # transfer, the reference and the bank's id for a later one (an ILS that keeps BK
    # unique must not take the rest of a partial payment for a repeat of its first part).
    txid = note.reference if key == first_key else f"{note.reference}/{note.bank_txn_id}"
    return TransactionRequest(
        key=key, kind="fee_paid", site=intent.site, device=intent.device,
        patron=intent.patron, created_at=datetime.now(UTC),
        payload={"amount": amount, "reference": note.reference,
                 "fee_ids": list(intent.fee_ids), "bank_txn_id": note.bank_txn_id,
                 "transaction_id": txid[:32]})


def decide(book: PaymentBook, note: Notification, intent: Intent | None,
           now: datetime) -> tuple[str, int, str, TransactionRequest | None]:
    """A notification's outcome, the VND to send to the ILS, the detail, and the Fee Paid
    request (None when nothing is sent); see :class:`PaymentService` for the outcomes."""
    if intent is None:
        return "unmatched", 0, "no kiosk announced this reference", None
    owed = intent.amount - book.applied_for(note.reference)
    applied = max(0, min(note.amount, owed))
    if owed <= 0:
        outcome, detail = "overpaid", f"already paid; {note.amount} VND to refund"
    elif note.amount < owed:
        outcome, detail = "partial", f"{owed - note.amount} VND still owed"
    elif note.amount > owed:
        outcome, detail = "overpaid", f"{note.amount - owed} VND to refund"
    else:
        outcome, detail = "paid", "paid in full"
    if now > intent.expires_at:
        detail = f"after the QR expired; {detail}"
        outcome = "late" if outcome == "paid" else outcome
    request = fee_paid_request(book, intent, note, applied) if applied else None
    return outcome, applied, detail, request


def rematch(book: PaymentBook, reference: str) -> int:
    """Match the ``unmatched`` notifications of ``reference`` now that its intent is known
    (the bank's notification overtook the kiosk's intent on its way to the centre): each is
    decided as when it arrived, and its Fee Paid request is journaled for the dispatcher.
    Returns how many were matched."""
    n = 0
    with book.db.transaction():
        intent = book.intent(reference)
        if intent is None:
            return 0
        rows = book.db.query("SELECT bank_txn_id FROM payments WHERE reference=? AND"
                             " outcome='unmatched' ORDER BY received_at, bank_txn_id",
                             (reference,))
        for (txn,) in rows:
            rec = book.payment(str(txn))
            if rec is None:
                continue
            note = Notification(rec.reference, rec.amount, rec.paid_at, rec.bank_txn_id)
            outcome, applied, detail, request = decide(book, note, intent,
                                                       parse_stamp(rec.received_at))
            if request is not None:
                book.queue_submission(request, rec.bank_txn_id)
            book.db.execute(
                "UPDATE payments SET outcome=?, applied=?, tx_key=?, detail=? WHERE"
                " bank_txn_id=?", (outcome, applied, request.key if request else None,
                                   f"matched when the kiosk's intent arrived; {detail}",
                                   rec.bank_txn_id))
            log.info("payment %s ref %s: matched late to its intent: %s", rec.bank_txn_id,
                     reference, outcome)
            n += 1
    return n


Submitter = Callable[[TransactionRequest], None]
"""Hands a ``fee_paid`` request to the gateways at once (tests; in production the journaled
request is published by the collector's :class:`~central.dispatch.CommandDispatcher`)."""


class PaymentService:
    """Decides each notification's outcome, records it, and submits Fee Paid.

    Outcomes (``docs/payments.md``): ``paid`` the amount due before expiry; ``partial`` less
    than the remainder (Fee Paid for what arrived, the rest stays owed); ``overpaid`` more
    than the remainder (Fee Paid for the remainder, the excess recorded for a refund at the
    desk); ``late`` after the QR expired (applied as above: the money has arrived; flagged
    for staff); ``duplicate`` a ``bank_txn_id`` seen before (nothing sent again); and
    ``unmatched`` a reference no kiosk announced (recorded only).
    """

    def __init__(self, book: PaymentBook, secret: bytes, submit: Submitter | None = None, *,
                 window_s: float = REPLAY_WINDOW_S,
                 clock: Callable[[], float] = time.time) -> None:
        if len(secret) < 16:
            raise PaymentError("the webhook secret must be at least 16 bytes")
        self.book = book
        self._secret = secret
        self._submit = submit
        self.window_s = window_s
        self._clock = clock

    def receive(self, body: bytes, signature: str | None, timestamp: str | None) -> PaymentRecord:
        """Verify, record and act on one webhook call (see the class for the outcomes).

        Raises:
            SignatureError: the call is not from the bank (nothing is recorded).
            PaymentError: the body is not a notification.
        """
        verify(self._secret, body, signature, timestamp, now=self._clock(),
               window_s=self.window_s)
        return self.handle(Notification.parse(body))

    def handle(self, note: Notification) -> PaymentRecord:
        """Record one verified notification and submit Fee Paid when money is owed."""
        db = self.book.db
        with db.transaction():
            seen = self.book.payment(note.bank_txn_id)
            if seen is not None:
                db.execute("UPDATE payments SET duplicates=duplicates+1 WHERE bank_txn_id=?",
                           (note.bank_txn_id,))
                log.info("payment %s: duplicate notification (first outcome %s)",
                         note.bank_txn_id, seen.outcome)
                return PaymentRecord(seen.bank_txn_id, seen.reference, seen.amount,
                                     seen.paid_at, seen.received_at, "duplicate", 0, None,
                                     f"already recorded as {seen.outcome}",
                                     seen.duplicates + 1)
            intent = self.book.intent(note.reference)
            now = datetime.fromtimestamp(self._clock(), UTC)
            outcome, applied, detail, request = decide(self.book, note, intent, now)
            key = request.key if request is not None else None
            if request is not None:
                self.book.queue_submission(request, note.bank_txn_id)
            db.execute(
                "INSERT INTO payments (bank_txn_id, reference, amount, paid_at, received_at,"
                " outcome, applied, tx_key, detail) VALUES (?,?,?,?,?,?,?,?,?)",
                (note.bank_txn_id, note.reference, note.amount, note.paid_at, stamp(), outcome,
                 applied, key, detail))
        # After the commit: a crash between the two leaves a recorded payment whose request
        # is re-submitted by resubmit() (the key makes a second submission harmless).
        if request is not None and self._submit is not None:
            self._submit(request)
        log.info("payment %s ref %s: %s (%s)", note.bank_txn_id, note.reference, outcome, detail)
        return self.book.payment(note.bank_txn_id) or PaymentRecord(
            note.bank_txn_id, note.reference, note.amount, note.paid_at, "", outcome, applied,
            key, detail)

    def resubmit(self) -> int:
        """Submit every recorded Fee Paid again (after a restart); the gateway's ledger
        answers the ones already applied from its record. With no submitter the journaled
        requests are marked unsent, so the dispatcher publishes them again. Returns how many."""
        rows = self.book.db.query("SELECT bank_txn_id FROM payments WHERE tx_key IS NOT NULL")
        count = 0
        for (txn,) in rows:
            rec = self.book.payment(txn)
            intent = self.book.intent(rec.reference) if rec else None
            if rec is None or intent is None:
                continue
            note = Notification(rec.reference, rec.amount, rec.paid_at, rec.bank_txn_id)
            request = fee_paid_request(self.book, intent, note, rec.applied, key=rec.tx_key)
            if self._submit is not None:
                self._submit(request)
            else:
                with self.book.db.transaction():
                    self.book.queue_submission(request, rec.bank_txn_id)
                    self.book.db.execute("UPDATE payment_submissions SET sent_at=NULL"
                                         " WHERE tx_key=?", (request.key,))
            count += 1
        return count

def payments_router(service: PaymentService) -> APIRouter:
    """``POST /payments/webhook``: authenticated by the signature only (no staff login)."""
    router = APIRouter()

    @router.post("/payments/webhook")
    async def webhook(request: Request) -> JSONResponse:
        body = await request.body()
        try:
            rec = service.receive(body, request.headers.get(SIGNATURE_HEADER),
                                  request.headers.get(TIMESTAMP_HEADER))
        except SignatureError as exc:
            log.warning("payment webhook refused: %s", exc)
            return JSONResponse({"error": str(exc)}, status_code=401)
        except PaymentError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(_record_json(rec))

    return router


def add_payment_routes(app: FastAPI, kit: PageKit, service: PaymentService) -> None:
    """The webhook (signature only) and the staff page ``/payments`` (and its JSON twin
    ``/api/payments``) listing every notification with its outcome."""
    app.include_router(payments_router(service))

    def chosen(outcome: str | None) -> str | None:
        if outcome and outcome not in OUTCOMES:
            raise HTTPException(422, f"outcome must be one of {', '.join(OUTCOMES)}")
        return outcome or None

    @app.get("/payments", response_class=HTMLResponse)
    def payments_page(request: Request, outcome: str | None = None) -> HTMLResponse:
        staff = kit.page_staff(request)
        book = service.book
        records = book.payments(outcome=chosen(outcome))
        intents = book.intents([p.reference for p in records])
        recent = book.payments(1000)
        known = book.intents([p.reference for p in recent])
        attention = sum(1 for p in recent if needs_staff(book, p, known.get(p.reference)))
        flagged = {p.bank_txn_id for p in records
                   if needs_staff(book, p, intents.get(p.reference))}
        return kit.render(request, staff, "payments.html", payments=records, intents=intents,
                          outcomes=OUTCOMES, outcome=outcome or "", attention=attention,
                          flagged=flagged)

    @app.get("/api/payments")
    def payments_api(request: Request, outcome: str | None = None) -> list[dict[str, Any]]:
        kit.api_staff(request)
        records = service.book.payments(outcome=chosen(outcome))
        intents = service.book.intents([p.reference for p in records])
        return [_record_json(p, intents.get(p.reference),
                             needs_staff(service.book, p, intents.get(p.reference)))
                for p in records]


def needs_staff(book: PaymentBook, rec: PaymentRecord, intent: Intent | None) -> bool:
    """Whether staff must act on ``rec``: an overpayment (refund), a late one, an
    unmatched one, or a partial one whose reference still owes money (one the rest of
    which arrived later is settled)."""
    if rec.outcome == "partial" and intent is not None:
        return book.applied_for(rec.reference) < intent.amount
    return rec.outcome in ATTENTION


def _record_json(rec: PaymentRecord, intent: Intent | None = None,
                 staff: bool | None = None) -> dict[str, Any]:
    out = {"bank_txn_id": rec.bank_txn_id, "reference": rec.reference, "amount": rec.amount,
           "outcome": rec.outcome, "applied": rec.applied, "detail": rec.detail,
           "duplicates": rec.duplicates, "received_at": rec.received_at,
           "needs_staff": rec.outcome in ATTENTION if staff is None else staff}
    if intent is not None:
        out.update(site=intent.site, device=intent.device, owed=intent.amount,
                   expires_at=stamp(_aware(intent.expires_at)))
    return out
