"""The MQTT payloads of smartlib, version 1: one set of models shared by agent and gateway.

Every payload is a JSON object with ``"v": 1`` and the fields of its model; unknown fields,
a missing or different version, naive timestamps and bad ids are rejected. Decode with
:func:`decode` (it raises :class:`~sync.errors.InvalidMessageError` naming the reason, and
callers log that reason and drop the message); encode with :func:`encode`.

This module holds data definitions only: no I/O, no MQTT, no SIP2.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal, Self, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
    model_validator,
)

from smartlib.sealing import MAX_SEALED_B64
from sync.errors import InvalidMessageError

VERSION: Literal[1] = 1

_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
SiteId = Annotated[str, Field(pattern=_ID_PATTERN)]
DeviceId = Annotated[str, Field(pattern=_ID_PATTERN)]
Barcode = Annotated[str, Field(min_length=1, max_length=64)]


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamp must carry a timezone (ISO 8601 with offset or Z)")
    return value


_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _uuid(value: str) -> str:
    if _CANONICAL_UUID.fullmatch(value):
        return value  # already the canonical form (every key our agents send)
    try:
        return str(uuid.UUID(value))
    except ValueError as exc:
        raise ValueError("must be a UUID") from exc


AwareDatetime = Annotated[datetime, AfterValidator(_aware)]
Key = Annotated[str, AfterValidator(_uuid)]


def utcnow() -> datetime:
    """The current time, timezone-aware (UTC)."""
    return datetime.now(UTC)


class Message(BaseModel):
    """Base of every payload: frozen, strict about unknown fields, versioned."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    v: Literal[1] = VERSION


# ---- transactions ---------------------------------------------------------------------------

TransactionKind = Literal["checkout", "checkin", "renew", "renew_all", "fee_paid"]


class TransactionRequest(Message):
    """A journaled circulation transaction, sent by a device to the gateways.

    ``key`` is the idempotency key (the outbox row's UUID). ``patron`` is the patron's id
    at the ILS (a reference, never a record). ``offline`` says the edge accepted it while the
    gateway was unreachable: the gateway then applies it with no-block and ``created_at``
    as the transaction date. ``payload`` carries kind-specific extras (``nb_due_date``,
    ``location``, ``fee_acknowledged``…; a ``fee_paid`` (SIP2 37, sent by the central
    payments service, keyed by the payment's reference) carries ``amount`` in whole VND,
    ``reference`` and ``fee_ids``).
    """

    key: Key
    kind: TransactionKind
    site: SiteId
    device: DeviceId
    patron: Barcode | None = None
    item: Barcode | None = None
    created_at: AwareDatetime
    offline: StrictBool = False
    """Strict: a device's ``"yes"`` or ``1`` is refused, not read as true (it decides
    whether the ILS is asked to apply with no block)."""
    payload: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.kind in ("checkout", "renew") and (not self.patron or not self.item):
            raise ValueError(f"a {self.kind} needs both patron and item")
        if self.kind == "checkin" and not self.item:
            raise ValueError("a checkin needs an item")
        if self.kind == "renew_all" and not self.patron:
            raise ValueError("a renew_all needs a patron")
        if self.kind == "fee_paid":
            amount = self.payload.get("amount")
            if not self.patron or not isinstance(amount, int) or amount <= 0:
                raise ValueError("a fee_paid needs a patron and a positive whole VND amount")
        return self


ResultStatus = Literal["applied", "refused", "conflict", "error"]
YesNoUnknown = Literal["Y", "N", "U"]


class TransactionResult(Message):
    """What the ILS said about a transaction, sent back on the device's result topic.

    ``status``: ``applied`` (ok), ``refused`` (an online transaction the ILS refused),
    ``conflict`` (an offline-accepted transaction the ILS refused: staff must act),
    ``error`` (the gateway could not decide; the device keeps it queued). ``replayed`` is
    true when the gateway re-sent a result it had already recorded; ``recovered`` when it
    established the outcome from the ILS's state after a crash.
    """

    key: Key
    kind: TransactionKind
    site: SiteId
    device: DeviceId
    status: ResultStatus
    ok: StrictBool
    item: str | None = None
    patron: str | None = None
    title: str | None = None
    due_date: str | None = None
    screen_message: str | None = None
    desensitize: YesNoUnknown | None = None
    resensitize: YesNoUnknown | None = None
    sort_bin: str | None = None
    destination: str | None = None
    alert_type: str | None = None
    hold_patron: str | None = None
    """Deprecated, never sent (privacy): see ``hold_shelf``. Kept to read old ledger rows."""
    hold_shelf: bool | None = None
    """Check-in: the item goes to the hold shelf (whose hold it is stays at the ILS)."""
    renewed: int | None = None
    unrenewed: int | None = None
    items: list[str] = Field(default_factory=list)
    """Renew all: the renewed items (66 BM)."""
    unrenewed_items: list[str] = Field(default_factory=list)
    """Renew all: the items the ILS did not renew (66 BN)."""
    paid_amount: int | None = None
    """Fee Paid: the whole VND the ILS was asked to apply (the kiosk sums a reference's
    transfers to tell a partial payment from a full one)."""
    reference: str | None = None
    """Fee Paid: the payment's reference (the QR's purpose field)."""
    reason_code: str | None = None
    """A refusal's reason as one of the edge's patron-facing codes (``patron_blocked``,
    ``loan_limit``, ``on_hold_for_other``, ``item_unknown``, ``renew_refused``), when the
    gateway could establish it from the ILS (63 status flags, 17 item state)."""
    applied_at: AwareDatetime = Field(default_factory=utcnow)
    replayed: bool = False
    recovered: bool = False


class Conflict(Message):
    """An offline-accepted transaction the ILS refused, for the staff views."""

    key: Key
    kind: TransactionKind
    site: SiteId
    device: DeviceId
    patron: str | None = None
    item: str | None = None
    created_at: AwareDatetime
    reason: str
    screen_message: str | None = None
    detected_at: AwareDatetime = Field(default_factory=utcnow)


MAX_BATCH = 500
"""Transactions (or results) in one batch message at most."""


class _Batch(Message):
    """One device's entries in one message; ``ENTRIES`` names the list field."""

    ENTRIES: ClassVar[str]

    site: SiteId
    device: DeviceId

    @model_validator(mode="after")
    def _one_sender(self) -> Self:
        for i, r in enumerate(getattr(self, self.ENTRIES)):
            if (r.site, r.device) != (self.site, self.device):
                raise ValueError(f"{self.ENTRIES}[{i}] names {r.site}/{r.device}, not the "
                                 f"batch's {self.site}/{self.device}")
        return self


class TransactionBatch(_Batch):
    """Several of one device's transactions in one message, on its ``tx`` topic.

    A device with a backlog sends up to :data:`MAX_BATCH` requests per message (one
    PUBLISH and one PUBACK for all of them). The gateway acknowledges the message once
    every request in it is durable, keeps their order per item, and answers with a
    :class:`ResultBatch`. An entry the model refuses is rejected on its own (logged,
    named by index): the other entries are still applied. A lone request is sent as a
    plain :class:`TransactionRequest` (the form older agents send, still accepted)::

        {"v": 1, "site": "hn-01", "device": "kiosk-01",
         "transactions": [{"v": 1, "key": "…", "kind": "checkout", …}, …]}
    """

    ENTRIES = "transactions"

    transactions: list[TransactionRequest] = Field(min_length=1, max_length=MAX_BATCH)


class ResultBatch(_Batch):
    """Several results for one device in one message, on its ``result`` topic.

    The gateway answers a :class:`TransactionBatch`'s requests this way (the results of
    one of its batches, per device); a request that came alone is answered with a plain
    :class:`TransactionResult`. The agent stores a batch in one transaction and
    acknowledges it once.
    """

    ENTRIES = "results"

    results: list[TransactionResult] = Field(min_length=1, max_length=MAX_BATCH)


# ---- look-ups (MQTT 5 request/response: response topic + correlation data) ------------------

LookupKind = Literal["patron", "item", "account", "ils_status"]
"""``ils_status``: the gateway logs in to the site's ILS and asks SC Status (99), for
``smartlib doctor`` on an edge box."""


class LookupRequest(Message):
    """A patron, item or account look-up. The reply goes to the MQTT 5 response topic.

    ``account`` asks for the patron's item lists (charged, overdue, holds, fines) for the
    edge's ``GET /sessions/{id}/account``; it needs ``patron`` (and ``pin`` if the ILS
    wants one for 63).

    ``pin_sealed`` carries the patron's PIN for a verification, sealed by the edge to the
    site gateways' public key (a libsodium sealed box, base64; :mod:`smartlib.sealing`).
    A PIN never travels in clear: a payload with a ``pin`` field is refused. ``pin`` is
    the PIN a gateway opened, in memory only (:meth:`with_pin`): never serialised, never
    in ``repr``, never logged.
    """

    request_id: Key
    kind: LookupKind
    site: SiteId
    device: DeviceId
    patron: Barcode | None = None
    pin_sealed: str | None = Field(default=None, repr=False, max_length=MAX_SEALED_B64,
                                   pattern=r"^[A-Za-z0-9+/]+={0,2}$")
    pin: str | None = Field(default=None, repr=False, exclude=True)
    item: Barcode | None = None
    created_at: AwareDatetime = Field(default_factory=utcnow)

    @model_validator(mode="before")
    @classmethod
    def _no_clear_pin(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("pin") is not None:
            raise ValueError("a look-up may not carry a PIN in clear (seal it: pin_sealed)")
        return data

    def with_pin(self, pin: str) -> LookupRequest:
        """A copy holding the opened PIN in memory (for the gateway's SIP2 request)."""
        return self.model_copy(update={"pin": pin})

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.kind in ("patron", "account") and not self.patron:
            raise ValueError(f"a {self.kind} look-up needs a patron")
        if self.kind == "item" and not self.item:
            raise ValueError("an item look-up needs an item")
        return self


class AccountLoan(Message):
    """A loan on a patron's account."""

    item_id: Barcode
    title: str = ""
    due_date: str | None = None
    """ISO date (or date-time) the item is due, as the ILS's ``AH`` read by the profile."""
    overdue: bool = False


class AccountHold(Message):
    """A hold of the patron's: ``ready`` when it waits on the hold shelf for them."""

    item_id: Barcode
    title: str = ""
    ready: bool = False
    pickup_location: str | None = None
    expires: str | None = None
    """ISO date until which a ready hold is kept (SIP2 ``CM`` hold pickup date)."""


class AccountFine(Message):
    """One fine or fee: its amount in ``currency`` (VND has no minor unit), reason, date."""

    fine_id: str | None = None
    amount: Decimal | None = None
    """None when the ILS's ``AV`` line carries no amount the gateway can read."""
    currency: str = "VND"
    reason: str = ""
    date: str | None = None
    """ISO date the fine was charged."""
    item_id: str | None = None


class Account(Message):
    """A patron's whole account as the ILS answers it (SIP2 63/64 plus 17 per item).

    The gateway builds it; the edge reads it from the ``account`` look-up's answer; test
    doubles build the same model so that the edge is tested against the real shape.
    """

    loans: list[AccountLoan] = Field(default_factory=list)
    holds: list[AccountHold] = Field(default_factory=list)
    fines: list[AccountFine] = Field(default_factory=list)
    fine_total: Decimal | None = None
    """The ILS's total (64 ``BV``); None when it sent none."""
    currency: str = "VND"


class LookupResponse(Message):
    """The answer to a :class:`LookupRequest` (same ``request_id``)."""

    request_id: Key
    kind: LookupKind
    ok: bool
    error: str | None = None
    reason: Literal["pin_unsealable"] | None = None
    """Why a look-up was refused, for the edge to act on: ``pin_unsealable``: the gateway
    has no key (or the wrong key) to open ``pin_sealed``."""
    # patron
    patron: str | None = None
    valid_patron: bool | None = None
    valid_pin: bool | None = None
    name: str | None = None
    blocked: bool | None = None
    status_flags: str | None = None
    charged: int | None = None
    holds: int | None = None
    overdue: int | None = None
    fee_amount: str | None = None
    email: str | None = None
    """The patron's e-mail address from the ILS (SIP2 ``BE``), for e-mailed receipts: the
    edge keeps it in the session only (docs/payments.md, "Receipts by e-mail")."""
    charged_items: list[str] = Field(default_factory=list)
    hold_items: list[str] = Field(default_factory=list)
    # account (with the patron fields above)
    overdue_items: list[str] = Field(default_factory=list)
    fine_items: list[str] = Field(default_factory=list)
    recall_items: list[str] = Field(default_factory=list)
    unavailable_hold_items: list[str] = Field(default_factory=list)
    currency: str | None = None
    fee_limit: str | None = None
    account: Account | None = None
    """``account``: the patron's whole account, one shape for the gateway and its doubles."""
    # item
    item: str | None = None
    title: str | None = None
    circulation_status: str | None = None
    due_date: str | None = None
    hold_queue: int | None = None
    screen_message: str | None = None
    # ils_status (the ACS status, 98)
    online_status: bool | None = None
    institution: str | None = None
    ils_seconds: float | None = None


# ---- cache feed --------------------------------------------------------------------------------

class CacheItem(Message):
    """A catalogue item as an edge caches it (``usage``: ISO 28560 type of usage)."""

    item_id: Barcode
    title: str = ""
    usage: int = 1
    value: int = 0
    parts: int = Field(1, ge=1)
    location: str = ""
    owner_isil: str | None = Field(None, max_length=16)
    """ISIL of the owning library (ISO 15511, e.g. ``VN-HN0001``); None when not given."""


class CachePatron(Message):
    """A patron as an edge caches it: minimal, no loan history, never a PIN."""

    patron_id: Barcode
    display_name: str = ""
    blocked: bool = False
    block_reason: str | None = None
    loan_limit: int = 10
    pin_hash: str | None = Field(default=None, repr=False)
    expires_on: str | None = None
    card_uid: str | None = Field(default=None, max_length=40)
    """The card UID that identifies the patron (sites with ``identity = "mapping"``)."""


class CacheLoan(Message):
    """An item on loan (for the gates' security-database mode and local checks).

    ``patron_id`` is left out (None) in what gates receive (``cache/gate/…``): a gate
    needs "item X is on loan", never who borrowed it.
    """

    item_id: Barcode
    patron_id: Barcode | None = None
    due_date: str | None = None
    loaned_at: str | None = None
    offline: bool = False


class CacheHold(Message):
    """A hold on an item for a patron."""

    item_id: Barcode
    patron_id: Barcode
    ready: bool = False
    pickup_location: str = ""
    position: int = 1


CacheKind = Literal["items", "patrons", "loans", "holds"]
CACHE_KINDS: tuple[CacheKind, ...] = ("items", "patrons", "loans", "holds")


class CacheSnapshotChunk(Message):
    """One chunk of a full snapshot of one cache table; ``seq`` runs 0 .. ``total - 1``.

    Only the list named by ``kind`` may hold rows.
    """

    snapshot_id: Key
    site: SiteId
    kind: CacheKind
    seq: int = Field(ge=0)
    total: int = Field(ge=1)
    items: list[CacheItem] = Field(default_factory=list)
    patrons: list[CachePatron] = Field(default_factory=list)
    loans: list[CacheLoan] = Field(default_factory=list)
    holds: list[CacheHold] = Field(default_factory=list)
    created_at: AwareDatetime = Field(default_factory=utcnow)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.seq >= self.total:
            raise ValueError(f"seq {self.seq} must be below total {self.total}")
        for other in ("items", "patrons", "loans", "holds"):
            if other != self.kind and getattr(self, other):
                raise ValueError(f"a {self.kind} chunk may not carry {other}")
        return self

    @property
    def last(self) -> bool:
        """True for the final chunk."""
        return self.seq == self.total - 1

    @property
    def rows(self) -> list[Any]:
        """The rows of this chunk's kind."""
        rows: list[Any] = getattr(self, self.kind)
        return rows


class CacheDelta(Message):
    """A change to a site's cache, sent after applied transactions (at most one per site per
    ``[gateway] delta_window_s``) and by imports."""

    site: SiteId
    key: Key | None = None
    items: list[CacheItem] = Field(default_factory=list)
    patrons: list[CachePatron] = Field(default_factory=list)
    loans: list[CacheLoan] = Field(default_factory=list)
    holds: list[CacheHold] = Field(default_factory=list)
    deleted_items: list[str] = Field(default_factory=list)
    returned_items: list[str] = Field(default_factory=list)
    returned_at: dict[Barcode, AwareDatetime] = Field(default_factory=dict)
    """When each returned item's check-in was journaled (ISO), as a loan's ``loaned_at`` is
    its check-out's: an edge keeps an item's latest change whatever order two gateways'
    deltas arrive in (a return older than the cached loan keeps the loan; a loan older than
    a return the edge applied is not cached again)."""
    deleted_holds: list[tuple[str, str]] = Field(default_factory=list)
    at: AwareDatetime = Field(default_factory=utcnow)


# ---- device status, alarms, statistics ------------------------------------------------------

class DeviceStatus(Message):
    """The retained status of a device; the last will says ``offline``.

    An online agent publishes it again when its backlog or reader state changes.
    ``backlog`` counts the box's open journal entries (no result yet) journaled more than
    ``[sync] status_backlog_age_s`` (10 s) ago: the work that waits, not the work in flight
    (0 there: every open entry).
    ``since`` is when the device went into ``state`` (the agent's connect time; absent
    from the last will, whose receivers use the time it arrived). ``reader`` and
    ``reader_failures`` come from the box's device event log: the last ``reader_online`` /
    ``reader_offline`` event, and the ``reader_offline`` events of the last 24 hours.
    Repeated unchanged every ``[sync] status_heartbeat_s`` (the console's *last seen*).
    """

    site: SiteId
    device: DeviceId
    state: Literal["online", "offline"]
    role: str | None = None
    backlog: int | None = Field(None, ge=0)
    since: AwareDatetime | None = None
    reader: Literal["online", "offline"] | None = None
    reader_failures: int | None = Field(None, ge=0)
    software: str | None = Field(None, max_length=64)
    """The box's smartlib version (the central console's fleet column)."""
    printer: str | None = Field(None, max_length=32, pattern=r"^[a-z_]+$")
    """The receipt printer's last state (the box's last ``printer_*`` device event: ``ok``,
    ``paper_low``, ``paper_out``, ``cover_open``, ``error``, ``offline``, ``reachable``,
    ``unreachable``, ``none``); None: never reported (a gate, an older box)."""
    starts: dict[Literal["serve", "sync", "kiosk", "gateway"],
                 Annotated[int, Field(ge=1)]] | None = None
    """How many times each of the box's processes has started (the edge store's count; a
    gateway's own ``gateway`` starts, counted in its ledger): the central console's restart
    count is the starts beyond the first."""
    at: AwareDatetime = Field(default_factory=utcnow)


class Alarm(Message):
    """An alarm row of a device's store (gate alarm, security write failure, device fault).

    Published by the agent as the edge stored it; ``alarm_id`` is the row's id in that
    edge's store, so ``(site, device, alarm_id)`` identifies it (re-sends are harmless).
    ``detail`` is the row's detail JSON (for gate alarms: direction, gate, security state,
    reason, related transaction…). No patron data.
    """

    site: SiteId
    device: DeviceId
    alarm_id: int | None = Field(default=None, ge=0)
    source: str | None = None
    """The store row's ``device`` (for a gate alarm, the gate's id)."""
    kind: str = Field(min_length=1, max_length=32)
    item: str | None = None
    uid: str | None = None
    title: str | None = None
    direction: str | None = None
    message: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)
    at: AwareDatetime = Field(default_factory=utcnow)
    acked_at: AwareDatetime | None = None


class Statistics(Message):
    """Counters of one device for one period (an hour, UTC, starting at ``period_start``)."""

    site: SiteId
    device: DeviceId
    period_start: AwareDatetime
    period_s: int = Field(3600, ge=1)
    counters: dict[str, int] = Field(default_factory=dict)


class DeviceEventReport(Message):
    """One row of a device's ``device_events`` log (connected, lost, fault…), for staff."""

    site: SiteId
    device: DeviceId
    event_id: int = Field(ge=0)
    source: str = Field(min_length=1, max_length=64)
    """The device (reader, card reader, printer…) the event is about, as the edge names it."""
    kind: str = Field(min_length=1, max_length=64)
    detail: dict[str, Any] = Field(default_factory=dict)
    at: AwareDatetime


PAYMENT_INTENT_EVENT = "payment_intent"
"""The :class:`DeviceEventReport` kind whose ``detail`` is a :class:`PaymentIntent`."""


class IntentFine(Message):
    """One fine a :class:`PaymentIntent` pays: the ILS's fee id, whole VND and the reason
    (what the payment receipt lists)."""

    fine_id: str = Field(min_length=1, max_length=255)
    amount: int = Field(gt=0)
    reason: str = Field(default="", max_length=255)


class PaymentIntent(Message):
    """What a kiosk asked a patron to pay when it showed a VietQR code.

    It travels as the ``detail`` of a device event of kind :data:`PAYMENT_INTENT_EVENT` (the
    edge's journaled ``device_events`` row, published by the agent on the event topic and
    stored by the central collector), so it is durable on the box until the centre has it.
    ``patron`` is the ILS's patron id (a reference, never a record).
    """

    reference: str = Field(min_length=1, max_length=25, pattern=r"^[\x20-\x7e]+$")
    patron: Barcode
    fee_ids: list[str] = Field(default_factory=list)
    amount: int = Field(gt=0)
    expires_at: AwareDatetime
    fines: list[IntentFine] = Field(default_factory=list)
    """The paid fines with their amounts and reasons (a receipt's lines; optional)."""


class SnapshotRequest(Message):
    """A device asks the gateways for a fresh cache snapshot (late join, rebuild-cache).

    The gateway answers on the device's ``snapshot/reply`` topic with the chunks of the last
    import of each requested kind for the site.
    """

    request_id: Key
    site: SiteId
    device: DeviceId
    kinds: list[CacheKind] = Field(default_factory=lambda: list(CACHE_KINDS), min_length=1)
    reason: str = Field("rebuild", max_length=64)
    role: str | None = Field(None, max_length=32)
    """``gate``: the gateway answers with the patron-free gate snapshot (items, loans)."""
    at: AwareDatetime = Field(default_factory=utcnow)


CommandAction = Literal["retry_security", "abandon_security", "resolve_conflict"]
ConflictResolution = Literal["loan_stands", "item_returned", "contact_patron"]


class Command(Message):
    """An order of the central console to one box, on its ``command`` topic (QoS 1).

    ``command_id`` makes it idempotent (a re-delivery is not carried out again).
    ``target`` is the security task's id on the box (``retry_security``,
    ``abandon_security``) or the conflict's transaction key (``resolve_conflict``, with its
    ``resolution``). ``issued_by`` names the staff member. A box that receives it after
    ``expires_at`` (it was away longer than the console waits) does not carry it out and
    answers ``failed``. No patron data.
    """

    command_id: Annotated[str, AfterValidator(_uuid)]
    site: SiteId
    device: DeviceId
    action: CommandAction
    target: str = Field(min_length=1, max_length=128)
    resolution: ConflictResolution | None = None
    issued_by: str = Field(min_length=1, max_length=64)
    issued_at: AwareDatetime = Field(default_factory=utcnow)
    expires_at: AwareDatetime | None = None

    @model_validator(mode="after")
    def _resolution_for_conflicts(self) -> Self:
        if (self.action == "resolve_conflict") != (self.resolution is not None):
            raise ValueError("a resolution is given with resolve_conflict, and only with it")
        return self


class CommandAck(Message):
    """A box's answer to a :class:`Command`, on its ``command/ack`` topic: ``done``, or
    ``failed`` with the ``reason``."""

    command_id: Annotated[str, AfterValidator(_uuid)]
    site: SiteId
    device: DeviceId
    action: CommandAction
    outcome: Literal["done", "failed"]
    reason: str | None = Field(None, max_length=500)
    at: AwareDatetime = Field(default_factory=utcnow)


class SecurityTaskState(Message):
    """One security task of a box that failed (``alarm_on``): retried for ever until it
    succeeds or staff abandon it."""

    task_id: int = Field(ge=1)
    item: str | None = None
    uid: str | None = None
    action: Literal["release", "secure"]
    state: str
    attempts: int = Field(ge=0)
    last_error: str | None = Field(None, max_length=500)
    created_at: AwareDatetime
    updated_at: AwareDatetime


MAX_REPORTED_TASKS = 200
"""Failed security tasks in one report at most (the oldest)."""


class SecurityTaskReport(Message):
    """A box's failed security tasks, all of them (retained on its ``security`` topic: the
    newest report replaces the last; a task missing from it is no longer failing)."""

    site: SiteId
    device: DeviceId
    tasks: list[SecurityTaskState] = Field(default_factory=list, max_length=MAX_REPORTED_TASKS)
    at: AwareDatetime = Field(default_factory=utcnow)


M = TypeVar("M", bound=Message)


class DeviceConfig(Message):
    """A device's remote configuration (retained, QoS 1, on ``…/{device}/config``).

    ``document`` is a TOML text holding only the sections a remote change may touch (the
    site's and the device's overrides merged); ``sha256`` is the hex SHA-256 of its UTF-8
    bytes, so the edge can tell a replayed copy from a new one and a damaged one.
    """

    site: SiteId
    device: DeviceId
    version: int = Field(ge=1)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    document: str = Field(max_length=65536)
    by: str | None = Field(None, max_length=64)
    at: AwareDatetime

    @model_validator(mode="after")
    def _hash_matches(self) -> Self:
        if hashlib.sha256(self.document.encode()).hexdigest() != self.sha256:
            raise ValueError("sha256 does not match the document")
        return self


class ConfigAck(Message):
    """The edge's answer to a :class:`DeviceConfig` (retained, QoS 1, on ``…/config/ack``).

    ``applied``: validated and in force (``needs_restart`` names the keys that take effect
    only after a restart); ``failed``: refused with ``reason``, the old configuration kept.
    """

    site: SiteId
    device: DeviceId
    version: int = Field(ge=1)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    state: Literal["applied", "failed"]
    needs_restart: list[str] = Field(default_factory=list)
    reason: str | None = Field(None, max_length=2000)
    at: AwareDatetime


class StaffAccountEntry(Message):
    """One staff account of the central console as the boxes cache it."""

    username: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{1,63}$")
    role: Literal["viewer", "librarian", "admin"]
    password_hash: str = Field(pattern=r"^\$argon2(id|i|d)\$", max_length=512)
    disabled: bool = False


MAX_STAFF_ACCOUNTS = 1000


class StaffAccounts(Message):
    """The central console's staff accounts for a site's boxes (retained, QoS 1, on
    ``{site}/staff/accounts``): the whole list each time, so the boxes replace their cache.

    Carries argon2 hashes, never passwords; the site's boxes may read it, only the
    central collector may write it.
    """

    site: SiteId
    accounts: list[StaffAccountEntry] = Field(max_length=MAX_STAFF_ACCOUNTS)
    at: AwareDatetime


def _json_object(name: str, payload: bytes | bytearray | str) -> dict[str, Any]:
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidMessageError(f"{name}: not JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise InvalidMessageError(f"{name}: expected a JSON object, got {type(data).__name__}")
    return data


def validate(model: type[M], data: Any) -> M:
    """Validate already parsed JSON ``data`` as ``model`` (what :func:`decode` does after
    parsing).

    Raises:
        InvalidMessageError: not an object, wrong version, or a field is invalid.
    """
    if not isinstance(data, dict):
        raise InvalidMessageError(f"{model.__name__}: expected a JSON object, got {type(data).__name__}")
    if data.get("v") != VERSION:
        raise InvalidMessageError(f"{model.__name__}: version {data.get('v')!r}, expected {VERSION}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(root)"
        raise InvalidMessageError(
            f"{model.__name__}: {where}: {first['msg']} ({exc.error_count()} problem(s))"
        ) from exc
    except ValueError as exc:
        raise InvalidMessageError(f"{model.__name__}: {exc}") from exc


def decode(model: type[M], payload: bytes | bytearray | str) -> M:
    """Parse and validate a payload.

    Raises:
        InvalidMessageError: not UTF-8 JSON, not an object, wrong version, or a field is
            invalid; the message says which.
    """
    return validate(model, _json_object(model.__name__, payload))


_ID_RE = re.compile(_ID_PATTERN)


def batch_entries(model: type[TransactionBatch] | type[ResultBatch],
                  data: dict[str, Any]) -> list[Any]:
    """The entries of a batch's parsed JSON, its envelope checked (version, ids, size,
    no unknown fields). Each entry is still to be validated on its own (a bad entry is
    rejected alone) and must name the envelope's site and device.

    Raises:
        InvalidMessageError: the envelope is wrong; the message says how.
    """
    name, field = model.__name__, model.ENTRIES
    if data.get("v") != VERSION:
        raise InvalidMessageError(f"{name}: version {data.get('v')!r}, expected {VERSION}")
    extra = set(data) - {"v", "site", "device", field}
    if extra:
        raise InvalidMessageError(f"{name}: unknown field(s) {sorted(extra)}")
    for what in ("site", "device"):
        value = data.get(what)
        if not isinstance(value, str) or not _ID_RE.match(value):
            raise InvalidMessageError(f"{name}: {what} {value!r} must match {_ID_PATTERN}")
    rows = data.get(field)
    if not isinstance(rows, list) or not 1 <= len(rows) <= MAX_BATCH:
        raise InvalidMessageError(f"{name}: {field} must be a list of 1 to {MAX_BATCH} entries")
    return rows


def decode_results(payload: bytes | bytearray | str, *,
                   before_json: Callable[[bytes | bytearray | str], None] | None = None,
                   ) -> tuple[list[TransactionResult], list[InvalidMessageError]]:
    """The results in a ``result`` topic payload: one :class:`TransactionResult` or a
    :class:`ResultBatch`, each entry validated on its own.

    Returns:
        The valid results, and one error per entry that was refused (naming its index).

    Args:
        before_json: called with the payload before the standard library's ``json`` parses
            it (a well-formed batch is parsed by pydantic-core, which bounds nesting
            itself): the caller's nesting check.

    Raises:
        InvalidMessageError: the payload as a whole is unusable (not JSON, a bad envelope).
    """
    if b'"results"' in (payload.encode() if isinstance(payload, str) else payload):
        try:  # the whole batch in one go (a third cheaper than entry by entry)
            return list(ResultBatch.model_validate_json(payload).results), []
        except ValidationError:
            pass  # entry by entry below: the good ones are kept, the bad ones named
    if before_json is not None:
        before_json(payload)
    data = _json_object("TransactionResult", payload)
    if "results" not in data:
        return [validate(TransactionResult, data)], []
    good: list[TransactionResult] = []
    bad: list[InvalidMessageError] = []
    site, device = data.get("site"), data.get("device")
    for i, entry in enumerate(batch_entries(ResultBatch, data)):
        try:
            res = validate(TransactionResult, entry)
        except InvalidMessageError as exc:
            bad.append(InvalidMessageError(f"results[{i}]: {exc}"))
            continue
        if (res.site, res.device) != (site, device):
            bad.append(InvalidMessageError(f"results[{i}] names {res.site}/{res.device}, "
                                           f"not the batch's {site}/{device}"))
            continue
        good.append(res)
    return good, bad


def encode(message: Message) -> bytes:
    """Serialise a message to compact UTF-8 JSON."""
    return message.model_dump_json(exclude_none=True).encode()
