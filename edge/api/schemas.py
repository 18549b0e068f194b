"""Pydantic models of the HTTP API (request bodies and response documents).

They document ``docs/api.md`` in the OpenAPI schema; the kiosk UI does not import them.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Language = Literal["vi", "en"]
MAX_ID = 64
"""The longest patron or item identifier the API accepts (SIP2 fields are far shorter in
practice; a longer one is refused with ``validation_error`` before anything is looked up)."""
MAX_ITEMS = 100
"""Items named in one call at most (a pad holds far fewer)."""
_ID_PATTERN = r"^[^\x00-\x1f\x7f]+$"
_ID = Field(min_length=1, max_length=MAX_ID, pattern=_ID_PATTERN)
ItemId = Annotated[str, Field(min_length=1, max_length=MAX_ID, pattern=_ID_PATTERN)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CredentialIn(_In):
    source: Literal["card", "barcode", "manual"]
    """What the client says the credential is; ``card``/``barcode`` count only with a valid
    ``scan_token`` (else the credential is treated as typed, ``manual``)."""
    identifier: str = _ID
    pin: str | None = Field(None, min_length=1, max_length=32)
    scan_token: str | None = Field(None, min_length=1, max_length=64)
    """The token ``POST /scans`` answered with this identifier (single use, short-lived)."""


class LoginIn(_In):
    credential: CredentialIn
    language: Language = "vi"


class CardLoginIn(_In):
    language: Language = "vi"
    pin: str | None = Field(None, min_length=1, max_length=32)


class ItemsIn(_In):
    items: list[ItemId] | None = Field(None, max_length=MAX_ITEMS)


class ReturnReceiptIn(_In):
    transactions: list[ItemId] = Field(min_length=1, max_length=MAX_ITEMS)
    """The ``transaction`` keys ``POST /returns`` answered for the returns to list."""
    language: Language = "vi"


class RenewIn(_In):
    items: list[ItemId] | None = Field(None, max_length=MAX_ITEMS)
    all: bool = False


class Texts(BaseModel):
    vi: str
    en: str


class PatronOut(BaseModel):
    id_masked: str
    name: str
    language: str


class SessionOut(BaseModel):
    id: str
    patron: PatronOut
    started_at: str
    expires_at: str
    idle_timeout_s: int
    offline: bool
    restricted: Literal["fines"] | None = None
    """``fines``: blocked for fines; only the account and the fines/payment endpoints work."""
    email_masked: str | None = None
    """The ILS's e-mail address for the patron, masked (``p***@example.org``): where an
    e-mailed receipt goes by default; None: the patron must type one."""


class SortOut(BaseModel):
    kind: Literal["hold_shelf", "transit", "bin"]
    destination: str | None = None
    bin: str | None = None


class FineOut(BaseModel):
    amount: float | int | str
    currency: str


class ItemResultOut(BaseModel):
    item_id: str
    title: str
    status: Literal["checking", "loaned", "refused", "incomplete_set", "on_hold_for_other",
                    "loaned_alarm_on", "returned", "renewed", "offline_accepted"]
    due_date: str | None = None
    message: Texts | None = None
    code: str | None = None
    sort: SortOut | None = None
    fine: FineOut | None = None
    transaction: str | None = None
    ils_message: str | None = None
    uid: str | None = None


class CountOut(BaseModel):
    ok: int
    refused: int


class ItemResultsOut(BaseModel):
    results: list[ItemResultOut]
    count: CountOut


class LoanOut(BaseModel):
    item_id: str
    title: str
    due_date: str | None
    overdue: bool


class HoldOut(BaseModel):
    item_id: str
    title: str
    ready: bool
    pickup_location: str | None
    expires: str | None = None


class AccountFineOut(BaseModel):
    fine_id: str | None = None
    amount: Decimal | None
    currency: str
    reason: str
    date: str | None = None
    item_id: str | None = None


class AccountOut(BaseModel):
    """The patron's account: the fields of ``sync.messages.Account`` (the gateway's answer;
    tests/edge/test_account_shape.py keeps the two in step) plus ``offline``."""

    loans: list[LoanOut]
    holds: list[HoldOut]
    fines: list[AccountFineOut]
    fine_total: Decimal | None
    currency: str = "VND"
    offline: bool = False


class ReceiptLineOut(BaseModel):
    item_id: str
    title: str
    action: str
    due_date: str | None


class ReceiptOut(BaseModel):
    library: str
    patron_masked: str
    when: str
    language: str
    lines: list[ReceiptLineOut]


class PrintedOut(BaseModel):
    printed: bool


class HealthOut(BaseModel):
    status: Literal["ok", "degraded"]
    gateway: Literal["online", "offline", "unknown"]
    role: str
    card_reader: Literal["online", "offline", "unknown"] | None = None
    """The PC/SC card reader (``None``: the box has none); ``offline``: a card tap cannot
    log in, the kiosk says to type the card number."""
    offline_policy: dict[str, Any]


class SiteOut(BaseModel):
    name: str
    isil: str
    opening_hours: str


class InfoOut(BaseModel):
    site: SiteOut
    device: str
    languages: list[str]


class ErrorBody(BaseModel):
    code: str
    message: str
    texts: Texts | None = None
    detail: dict[str, Any] | None = None


class ErrorOut(BaseModel):
    error: ErrorBody


class AlarmOut(BaseModel):
    id: int
    kind: str
    device: str
    item_id: str | None
    uid: str | None
    message: str
    created_at: str
    acked_at: str | None


class TransactionOut(BaseModel):
    key: str
    kind: str
    item_id: str | None
    patron_masked: str | None
    state: str
    attempts: int
    created_at: str
    applied_at: str | None
    offline: bool
    result: dict[str, Any] | None


class ConflictOut(BaseModel):
    id: int
    key: str
    kind: str
    item_id: str | None
    patron_masked: str | None
    reason: str
    created_at: str
    resolved_at: str | None


class TransactionsOut(BaseModel):
    backlog: dict[str, int]
    oldest_open_at: str | None
    transactions: list[TransactionOut]
    conflicts: list[ConflictOut]


class DevicesOut(BaseModel):
    device: str
    role: str
    gateway: str
    devices: list[dict[str, Any]]
    security_tasks_open: int


class StatsOut(BaseModel):
    date: str
    totals: dict[str, int]
    hours: dict[str, dict[str, int]]
