"""Checkout, return and renewal of items on the pad: the transaction path of the edge.

Checkout of a stack (see ``docs/edge.md`` for the crash-safety argument):

1. scan the pad and decode every tag; group parts by item id and apply the partial-set
   policy (``reject`` / ``warn`` / ``allow``);
2. local checks against the cache: type of usage, patron blocked, on hold for someone
   else, loan limit;
3. journal each item (``outbox``, state ``pending``, key = UUID), then wait, bounded by
   ``policy.result_timeout_s``, for all the results at once;
4. ``applied``: in ONE store transaction create the release tasks, cache the loan and
   mark the entry handled; then run the writes (verified, retried; a failure leaves the
   task in ``alarm_on`` → status ``loaned_alarm_on``). ``refused``: the ILS reason,
   mapped to a patron code. No answer: the offline policy (items, value, type of usage,
   the patron-block cache) accepts it (``mark_offline``) or withdraws it (``cancel``, or a
   compensating check-in when it may already have left the box; a check-in that has left
   is never compensated: it is left to finish).

Return: secure first (journaled task), and the check-in is journaled by the same
transaction that marks the task done; then wait for the result and surface the
hold-shelf / transit / sort-bin hints.

One physical action, one transaction: every call holds the locks of its items (one call per
item at a time, in the edge), and a checkout, check-in or renewal is journaled once per
(session, item, kind) (``outbox.append(..., once=True)``). A repeat (a double press,
concurrent calls, the UI's sweep racing tag events, a retry, a restart) is answered with the
first transaction's key and result, read from the journal (``_replay``); one journaled but
never finished is finished by the repeat. Whoever finishes an entry claims it first
(``outbox.claim``), so a live request and the recovery pass never both do.

Must not do: talk to drivers directly (it goes through :class:`edge.devices.DeviceManager`)
or hold a patron's PIN.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from edge.devices import DeviceManager, PadTag
from edge.errors import EdgeError, texts
from edge.services.crash import crash_point
from edge.services.events import EventBus
from edge.services.locks import KeyedLocks
from edge.services.security import SecurityService
from edge.services.sessions import ReceiptLine, Session
from edge.store import ItemRecord, LoanRecord, OutboxEntry, Store, stamp, utcnow
from smartlib.config import PolicySection

log = logging.getLogger(__name__)

OFFLINE_LOAN_DAYS = 14
"""Loan period promised for an offline checkout (sent to the ILS as the nb due date)."""

PATRON_CODES = {"patron_blocked", "on_hold_for_other", "loan_limit", "not_loanable",
                "not_on_loan", "renew_refused", "card_expired", "item_unknown",
                "item_not_on_pad"}

ItemStatus = Literal["checking", "loaned", "refused", "incomplete_set", "on_hold_for_other",
                     "loaned_alarm_on", "returned", "renewed", "offline_accepted"]
"""The statuses of an item in ``docs/api.md``."""


@dataclass(frozen=True, slots=True)
class ItemResult:
    """What happened to one item: the API's ``ItemResult`` (see ``docs/api.md``).

    ``message`` is the patron text ``{"vi", "en"}``; ``sort`` the hold-shelf / transit /
    sort-bin hint of a return; ``transaction`` the journal key; ``ils_message`` the ILS's
    own words; ``uid`` the tag of an unreadable one.
    """

    item_id: str
    title: str
    status: ItemStatus
    due_date: str | None = None
    code: str | None = None
    message: dict[str, str] | None = None
    sort: dict[str, Any] | None = None
    transaction: str | None = None
    ils_message: str | None = None
    uid: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The API's JSON object, absent fields omitted."""
        out: dict[str, Any] = {"item_id": self.item_id, "title": self.title,
                               "status": self.status}
        for name in ("due_date", "message", "code", "sort", "transaction", "ils_message",
                     "uid"):
            value = getattr(self, name)
            if value is not None:
                out[name] = dict(value) if isinstance(value, dict) else value
        return out


@dataclass
class _Pending:
    entry: OutboxEntry
    item_id: str
    title: str
    parts: list[PadTag]
    warn: dict[str, str] | None = None
    value: int = 0


def item_result(item_id: str, title: str, status: ItemStatus, *, code: str | None = None,
                due_date: str | None = None, transaction: str | None = None,
                ils_message: str | None = None, sort: dict[str, Any] | None = None,
                message: dict[str, str] | None = None, uid: str | None = None) -> ItemResult:
    """An :class:`ItemResult`; a ``code`` without ``message`` gets the code's patron text,
    and empty values count as absent."""
    if code and not message:
        message = texts(code)
    return ItemResult(item_id, title, status, due_date=due_date or None, code=code or None,
                      message=message or None, sort=sort or None,
                      transaction=transaction or None, ils_message=ils_message or None,
                      uid=uid or None)


REFUSAL_TEXTS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("card_expired", re.compile(r"\b(card|patron|membership)\b[^.;]*\bexpired\b", re.I)),
    ("patron_blocked", re.compile(
        r"\bblocked\b|\bbarred\b|privileges? (are )?denied|"
        r"(outstanding|excessive|unpaid) fines|too many overdue", re.I)),
    ("on_hold_for_other", re.compile(
        r"\bon hold\b|\b(held|reserved) for another\b|\bhold for another\b", re.I)),
    ("loan_limit", re.compile(
        r"\bloan limit\b|too many (items|loans)|maximum (number of )?(items|loans)", re.I)),
    ("not_loanable", re.compile(
        r"not (loanable|for loan|circulating)|reference only|non-?circulating", re.I)),
    ("item_unknown", re.compile(r"\bunknown item\b|\bitem not found\b", re.I)),
    ("not_on_loan", re.compile(r"\bnot (checked out|on loan)\b", re.I)),
)
"""Fallback mapping of an ILS's refusal text (SIP2 AF, English) to a patron code, first match
wins. SIP2 12/10/30 carry no reason code, so until the gateway sends ``reason_code`` this is
all the edge has; an unmatched text keeps the generic code and is shown as ``ils_message``."""


def refused_status(code: str) -> ItemStatus:
    """The status of a refusal: ``on_hold_for_other`` has its own, the rest are refused."""
    return "on_hold_for_other" if code == "on_hold_for_other" else "refused"


def refusal_code(result: dict[str, Any] | None, default: str = "ils_refused") -> str:
    """Map an ILS refusal to a patron-facing code (unknown reasons → ``default``).

    In order: the result's ``reason_code`` (set by a gateway that knows the reason), its
    ``code``, then the ILS's text (``screen_message``/``message``) against
    :data:`REFUSAL_TEXTS`. Only codes in :data:`PATRON_CODES` are returned.
    """
    r = result or {}
    for key in ("reason_code", "code"):
        code = str(r.get(key) or "")
        if code in PATRON_CODES:
            return code
    text = str(r.get("screen_message") or r.get("message") or "")
    for code, pattern in REFUSAL_TEXTS:
        if text and pattern.search(text):
            return code
    return default


def renewed_items(result: dict[str, Any] | None, key: str = "") -> list[str]:
    """The item ids a renew-all result lists as renewed (``TransactionResult.items``).

    The contract is a list of item-id strings (SIP2 66 BM). Any other entry is logged with
    the transaction ``key`` and skipped, so one bad entry never stops the rest.
    """
    raw = (result or {}).get("items") or []
    if not isinstance(raw, list):
        log.warning("renew-all %s: items is a %s, not a list; ignored", key, type(raw).__name__)
        return []
    out: list[str] = []
    for i, entry in enumerate(raw):
        if isinstance(entry, str) and entry:
            out.append(entry)
        else:
            log.warning("renew-all %s: items[%d] is not an item id (%s); skipped", key, i,
                        type(entry).__name__)
    return list(dict.fromkeys(out))


def sort_hint(result: dict[str, Any] | None,
              bin_labels: Mapping[str, str] | None = None) -> dict[str, Any] | None:
    """The hold-shelf / transit / sort-bin instruction carried by a check-in result.

    ``bin_labels`` maps the ILS's sort-bin codes to the labels on the site's bins: ``bin``
    is what the patron is shown, ``bin_code`` the ILS's code."""
    r = result or {}
    hint: dict[str, Any] | None
    if isinstance(r.get("sort"), dict):
        hint = dict(r["sort"])
        kind = str(hint.get("kind") or "")
        hint["kind"] = {"hold_shelf": "hold_shelf", "hold_transit": "transit",
                        "transit": "transit"}.get(kind, "bin")
    else:
        alert = str(r.get("alert_type") or "")
        dest = r.get("destination") or r.get("destination_location")
        if r.get("hold_patron") or alert in ("01", "02"):
            hint = {"kind": "hold_shelf", "destination": dest, "bin": r.get("sort_bin")}
        elif alert == "04" or (dest and r.get("transit")):
            hint = {"kind": "transit", "destination": dest, "bin": r.get("sort_bin")}
        elif r.get("sort_bin"):
            hint = {"kind": "bin", "destination": dest, "bin": r.get("sort_bin")}
        else:
            return None
    code = hint.get("bin")
    if isinstance(code, str) and code:
        hint["bin_code"] = code
        hint["bin"] = (bin_labels or {}).get(code, code)
    return hint


def transit_hint(owner_isil: str | None, site_isil: str) -> dict[str, Any] | None:
    """The edge's own transit hint for a return: the item belongs to another library
    (its owner ISIL differs from the site's), so it goes back there. None when either
    ISIL is unknown or they are the same (ISILs compare case-insensitively, ISO 15511)."""
    owner, here = (owner_isil or "").strip(), site_isil.strip()
    if not owner or not here or owner.casefold() == here.casefold():
        return None
    return {"kind": "transit", "destination": owner, "bin": None}


class CirculationService:
    """Checkout, return, renew, account.

    About 680 lines, on purpose: the four patron actions share one journaling rule (one
    transaction per session, item and kind, looked up inside the journaling SQLite
    transaction), the per-item locks, the bounded wait for a result and the offline policy;
    they are read together against docs/edge.md's crash-safety argument. The pure rules sit
    below it (``locks``, ``security``, ``gate_logic``); what is left is that shared path.

    Args:
        store: the edge store.
        devices: the pad reader and friends.
        security: executes security tasks.
        policy: the site's circulation policy.
        bus: where ``item_status`` events go.
        site_id, device_id, institution, location: stamped on every transaction.
        clock: returns "now" (UTC) — injected for tests.
    """

    def __init__(self, store: Store, devices: DeviceManager, security: SecurityService,
                 policy: PolicySection, bus: EventBus, *, site_id: str = "", device_id: str = "",
                 institution: str = "", location: str = "", site_isil: str = "",
                 clock: Callable[[], datetime] | None = None) -> None:
        self.store = store
        self.devices = devices
        self.security = security
        self.policy = policy
        self.bus = bus
        self.site_id = site_id
        self.device_id = device_id
        self.institution = institution
        self.location = location
        self.site_isil = site_isil
        self.clock = clock or (lambda: datetime.now(UTC))
        self.in_progress: set[str] = set()
        self._lock = threading.Lock()
        self._items = KeyedLocks()
        self.last_gateway_seen: float | None = None
        self.last_gateway_missed: float | None = None

    def try_hold_item(self, item_id: str) -> AbstractContextManager[bool]:
        """The item's circulation lock if no request holds it (True), else False at once:
        a background pass that works on an item stays out of a live request's way."""
        return self._items.try_hold(item_id)

    # ---- helpers --------------------------------------------------------------------------

    def _payload(self, kind: str, item_id: str | None, patron_id: str | None,
                 **extra: Any) -> dict[str, Any]:
        return {"kind": kind, "item_id": item_id, "patron_id": patron_id, "site": self.site_id,
                "device": self.device_id, "institution": self.institution,
                "location": self.location, "transaction_date": utcnow(), **extra}

    def _group(self, tags: list[PadTag], wanted: Iterable[str] | None,
               results: list[ItemResult]) -> dict[str, list[PadTag]]:
        groups: dict[str, list[PadTag]] = {}
        for t in tags:
            if t.tag is None or not t.item_id:
                results.append(item_result("", "", "refused", code="item_unknown", uid=t.uid,
                                           ils_message=t.error))
                continue
            groups.setdefault(t.item_id, []).append(t)
        if wanted is not None:
            want = list(dict.fromkeys(wanted))
            for item_id in want:
                if item_id not in groups:
                    results.append(item_result(item_id, self._title(item_id, None), "refused",
                                               code="item_not_on_pad",
                                               message=texts("item_not_on_pad")))
            groups = {k: v for k, v in groups.items() if k in want}
        return groups

    def _title(self, item_id: str, parts: list[PadTag] | None) -> str:
        item = self.store.cache.item(item_id)
        if item and item.title:
            return item.title
        for p in parts or []:
            if p.tag and p.tag.elements.get("title"):
                return str(p.tag.elements["title"])
        return ""

    def _set_check(self, parts: list[PadTag]) -> tuple[bool, dict[str, str] | None]:
        """(refuse?, warning) for the partial-set policy."""
        tag = parts[0].tag
        assert tag is not None
        expected = max(1, tag.parts_in_item)
        have = {p.tag.part_number for p in parts if p.tag}
        if expected <= 1 or len(have) >= expected:
            return False, None
        if self.policy.partial_set == "reject":
            return True, None
        return False, texts("incomplete_set") if self.policy.partial_set == "warn" else None

    def _emit(self, session: Session | None, result: ItemResult) -> ItemResult:
        self.bus.publish("item_status", session=session.id if session else None,
                         item=result.to_json())
        return result

    def _wait_all(self, keys: Iterable[str], timeout: float,
                  on_result: Callable[[OutboxEntry], None]) -> set[str]:
        """Wait for results of ``keys``; call ``on_result`` as each arrives; return the rest."""
        left = set(keys)
        bell = self.store.doorbell("edge")
        deadline = time.monotonic() + timeout
        while left:
            for key in sorted(left):
                e = self.store.outbox.get(key)
                if e.is_terminal:
                    left.discard(key)
                    self.last_gateway_seen = time.monotonic()
                    on_result(e)
            remaining = deadline - time.monotonic()
            if not left or remaining <= 0:
                break
            bell.wait(min(remaining, 0.05))
        if left:
            self.last_gateway_missed = time.monotonic()
        return left

    # ---- one action, one transaction ---------------------------------------------------

    def _take(self, key: str) -> None:
        """Make ``key`` ours: the recovery pass leaves a live request's entries alone."""
        with self._lock:
            self.in_progress.add(key)

    def _release(self, keys: Iterable[str]) -> None:
        with self._lock:
            self.in_progress.difference_update(keys)

    def _journal_once(self, kind: str, session_ref: str | None, item_id: str | None,
                      patron_ref: str | None, **extra: Any) -> tuple[OutboxEntry, bool]:
        """Journal the action, or find it journaled: (entry, True when new).

        The key is ours (in progress) before the row exists, so the recovery pass never
        finishes an entry this request is about to finish too. A repeat's key is taken
        instead.
        """
        key = str(uuid.uuid4())
        self._take(key)
        try:
            entry = self.store.outbox.append(
                kind, self._payload(kind, item_id, patron_ref, session=session_ref, **extra),
                item_id=item_id, patron_ref=patron_ref, key=key, once=True)
        except BaseException:
            self._release([key])
            raise
        if entry.key != key:
            self._take(entry.key)
            self._release([key])
        return entry, entry.key == key

    def _is_answered(self, e: OutboxEntry) -> bool:
        """True when the edge already answered ``e`` (handled, or finished offline)."""
        return e.handled_at is not None or (e.is_open and e.offline)

    def _replay(self, session: Session | None, e: OutboxEntry,
                title: str = "") -> list[ItemResult]:
        """The answer to a repeat of the action ``e`` the edge already answered: what the
        journal, its result and its security tasks say now (nothing is changed)."""
        res = e.result or {}
        item_id = e.item_id or ""
        title = title or str(res.get("title") or "") or self._title(item_id, None)
        msg = res.get("screen_message") or res.get("message")
        if e.is_open and not e.offline:
            text = {"checkin": "return_sent", "renew": "renew_sent"}.get(e.kind)
            return [item_result(item_id, title, "checking", transaction=e.key,
                                message=texts(text) if text else None)]
        if res.get("code") == "cancelled":  # withdrawn before it was sent: refused offline
            reason = str(res.get("reason") or "")
            if e.kind in ("renew", "renew_all") or reason == "offline":
                return [item_result(item_id, title, "refused", code="renew_refused",
                                    message=texts("offline_renew"), transaction=e.key)]
            return [item_result(item_id, title, refused_status(reason),
                                code=reason or "ils_refused", transaction=e.key)]
        if e.kind == "renew_all":
            return self._renew_all_lines(session, e, record=False)
        if e.is_terminal and (e.state != "applied" or res.get("ok") is False):
            code = refusal_code(res, "renew_refused" if e.kind == "renew" else "ils_refused")
            status = refused_status(code)
            return [item_result(item_id, title, status, code=code, transaction=e.key,
                                ils_message=msg)]
        if e.kind == "checkin":
            return [item_result(item_id, title, "offline_accepted" if e.is_open else "returned",
                                transaction=e.key, sort=sort_hint(res, self.policy.sort_bin_labels),
                                ils_message=msg)]
        if e.kind == "renew":
            return [item_result(item_id, title, "renewed", due_date=res.get("due_date"),
                                transaction=e.key)]
        due = res.get("due_date") or e.payload.get("nb_due_date")
        releases = [t for t in self.store.security.for_item(item_id)
                    if t.action == "release" and t.txn_key == e.key]
        if res.get("desensitize") == "N" or any(t.state != "done" for t in releases):
            return [item_result(item_id, title, "loaned_alarm_on", code="alarm_still_on",
                                due_date=due, transaction=e.key)]
        return [item_result(item_id, title, "offline_accepted" if e.is_open else "loaned",
                            due_date=due, transaction=e.key)]

    # ---- checkout ---------------------------------------------------------------------------

    def checkout(self, session: Session, item_ids: list[str] | None = None) -> list[ItemResult]:
        """Check out the items on the pad (or those of ``item_ids`` that are on it).

        One call per item at a time (the item's lock is held to the end); an item whose
        checkout this session already journaled is answered from that transaction.
        """
        results: list[ItemResult] = []
        groups = self._group(self.devices.scan_pad(), item_ids, results)
        with self._items.hold(*groups):
            return self._checkout(session, groups, results)

    def _checkout(self, session: Session, groups: dict[str, list[PadTag]],
                  results: list[ItemResult]) -> list[ItemResult]:
        pending: dict[str, _Pending] = {}
        loans_now = {loan.item_id for loan in self.store.cache.loans_of(session.patron_id)}
        patron = self.store.cache.patron(session.patron_id)
        try:
            for item_id, parts in groups.items():
                title = self._title(item_id, parts)
                first = self.store.outbox.find_action("checkout", item_id, session.id)
                if first is not None and self._is_answered(first):
                    results.extend(self._emit(session, r)
                                   for r in self._replay(session, first, title))
                    continue
                refuse, warn = self._set_check(parts)
                if first is None and refuse:
                    results.append(self._emit(session, item_result(
                        item_id, title, "incomplete_set", code="incomplete_set")))
                    continue
                tag = parts[0].tag
                assert tag is not None
                code = None
                if first is not None:
                    pass  # journaled before (a crash or a restart since): finished below
                elif tag.type_of_usage != 1:
                    code = "not_loanable"
                elif patron is not None and patron.blocked:
                    code = "patron_blocked"
                elif any(h.patron_id != session.patron_id for h in
                         self.store.cache.holds_for_item(item_id)[:1]):
                    code = "on_hold_for_other"
                elif item_id not in loans_now and len(loans_now) >= session.loan_limit:
                    code = "loan_limit"
                if code:
                    status = refused_status(code)
                    results.append(self._emit(session, item_result(item_id, title, status,
                                                                   code=code)))
                    continue
                item = self.store.cache.item(item_id) or ItemRecord(item_id)
                if first is None:
                    first, _ = self._journal_once(
                        "checkout", session.id, item_id, session.patron_id,
                        uids=[p.uid for p in parts], title=title)
                    crash_point("after_journal")
                else:
                    self._take(first.key)
                pending[first.key] = _Pending(first, item_id, title, parts, warn, item.value)
                if self._is_answered(first):  # a repeat journaled meanwhile by another box
                    continue
                loans_now.add(item_id)
                self._emit(session, item_result(item_id, title, "checking",
                                                transaction=first.key))
            done: dict[str, ItemResult] = {}
            for key, p in pending.items():
                if self._is_answered(p.entry):
                    [done[key]] = self._replay(session, p.entry, p.title)

            def on_result(e: OutboxEntry) -> None:
                done[e.key] = self._finish_checkout(session, pending[e.key], e)

            left = self._wait_all(set(pending) - set(done), self.policy.result_timeout_s,
                                  on_result)
            for key in sorted(left, key=lambda k: pending[k].entry.seq):
                done[key] = self._offline_checkout(session, pending[key])
            results.extend(self._emit(session, done[k]) for k in pending)
        finally:
            self._release(pending)
        return results

    def _finish_checkout(self, session: Session | None, p: _Pending, e: OutboxEntry,
                         *, offline: bool = False) -> ItemResult:
        res = e.result or {}
        if not offline and (e.state != "applied" or res.get("ok") is False):
            self.store.outbox.mark_handled(e.key)
            code = refusal_code(res)
            return item_result(p.item_id, p.title, refused_status(code), code=code,
                               transaction=e.key,
                               ils_message=res.get("screen_message") or res.get("message"))
        crash_point("after_result")
        due = res.get("due_date") or e.payload.get("nb_due_date")
        # The gateway sends the site profile's verdict (Y release / N keep secured: e.g. an
        # item the ILS circulates but whose tag must stay secured); no verdict: release.
        release = res.get("desensitize") != "N"
        patron_id = e.patron_ref or (session.patron_id if session else "")
        with self.store.transaction():
            # an offline one is finished again when its result arrives; an online one
            # only once, by whoever claims it (this request or the recovery pass)
            claimed = offline or self.store.outbox.claim(e.key)
            if claimed:
                tasks = [self.store.security.create(p.item_id, part.uid, "release",
                                                    txn_key=e.key)
                         for part in p.parts] if release else []
                # made when journaled (as the central feed says): a late check-in result
                # compares against it (``record_return``)
                self.store.cache.record_loan(LoanRecord(p.item_id, patron_id, due, e.created_at,
                                                        offline or e.offline))
                self.store.counters.incr("checkout")
        if not claimed:
            [answer] = self._replay(session, self.store.outbox.get(e.key), p.title)
            return answer
        crash_point("after_release_task")
        status: ItemStatus = "offline_accepted" if offline else "loaned"
        alarm = not release
        for task in tasks:
            after, _ = self.security.execute(task)
            alarm = alarm or after.state != "done"
        crash_point("after_loan_cached")
        if session is not None:
            session.lines.append(ReceiptLine(p.item_id, p.title, "checkout", due))
        if alarm:
            return item_result(p.item_id, p.title, "loaned_alarm_on", code="alarm_still_on",
                               due_date=due, transaction=e.key)
        return item_result(p.item_id, p.title, status, due_date=due, transaction=e.key,
                           message=p.warn)

    def _offline_checkout(self, session: Session, p: _Pending) -> ItemResult:
        tag = p.parts[0].tag
        assert tag is not None
        patron = self.store.cache.patron(session.patron_id)
        code = None
        if tag.forbids_offline_issue or tag.type_of_usage in self.policy.offline_forbidden_usage:
            code = "not_loanable"
        elif patron is not None and patron.blocked:
            code = "patron_blocked"
        elif session.offline_items + 1 > self.policy.offline_max_items or \
                session.offline_value + p.value > self.policy.offline_max_value:
            code = "offline_limit"
        if code is None:
            due = (self.clock() + timedelta(days=OFFLINE_LOAN_DAYS)).date().isoformat()
            e = self.store.outbox.mark_offline(p.entry.key, {
                "no_block": True, "nb_due_date": due, "offline_accepted_at": utcnow()})
            if e.is_terminal:
                return self._finish_checkout(session, p, e)
            session.offline_items += 1
            session.offline_value += p.value
            self.store.counters.incr("checkout_offline")
            return self._finish_checkout(session, p, e, offline=True)
        return self._withdraw(p, code, session)

    def _withdraw(self, p: _Pending, code: str, session: Session | None) -> ItemResult:
        """Take back a transaction the offline policy refuses (``code``), by its kind.

        Still ``pending`` (never published): cancelled, reported refused. Otherwise it may
        have left the box. A checkout with its result is finished with that result; one
        without is undone by a compensating check-in journaled after it. A check-in is never
        compensated (a second check-in would repeat hold/transit alerts and could become a
        false conflict): with its result it is finished; without, it is left open for the
        recovery pass to finish when the result comes, and reported as still ``checking``.
        """
        e, withdrawn = self.store.outbox.cancel(p.entry.key, code)
        if withdrawn:
            if session is not None and e.kind == "checkin":
                session.lines.append(ReceiptLine(p.item_id, p.title, "return",
                                                 outcome="refused", reason=code))
            return item_result(p.item_id, p.title, "refused", code=code, transaction=e.key)
        if e.kind == "checkout":
            if e.is_terminal:
                return self._finish_checkout(session, _Pending(e, p.item_id, p.title, []), e)
            self.store.outbox.append("checkin", self._payload(
                "checkin", p.item_id, e.patron_ref, compensates=e.key),
                item_id=p.item_id, patron_ref=e.patron_ref, offline=True)
            self.store.outbox.mark_handled(e.key)
            return item_result(p.item_id, p.title, "refused", code=code, transaction=e.key)
        if e.is_terminal:
            return self._finish_return(session, p, e)
        log.info("check-in %s of %s already sent: left to finish when its result arrives",
                 e.key, p.item_id)
        return item_result(p.item_id, p.title, "checking", transaction=e.key,
                           message=texts("return_sent"))

    # ---- return ---------------------------------------------------------------------------

    def return_items(self, session: Session | None,
                     item_ids: list[str] | None = None) -> list[ItemResult]:
        """Secure, then check in, the items on the pad (``session`` None: anonymous).

        One call per item at a time; an item whose return this session (or, anonymous,
        an anonymous return) already journaled is answered from that transaction.
        """
        results: list[ItemResult] = []
        started = utcnow()
        groups = self._group(self.devices.scan_pad(), item_ids, results)
        with self._items.hold(*groups):
            return self._return(session, groups, results, started)

    def _return(self, session: Session | None, groups: dict[str, list[PadTag]],
                results: list[ItemResult], started: str) -> list[ItemResult]:
        pending: dict[str, _Pending] = {}
        patron_ref = session.patron_id if session else None
        session_ref = session.id if session else None
        try:
            for item_id, parts in groups.items():
                title = self._title(item_id, parts)
                refuse, warn = self._set_check(parts)
                first = self.store.outbox.find_action("checkin", item_id, session_ref)
                if first is None:
                    first = self._late_return(item_id, parts, started)
                if first is not None and self._is_answered(first):
                    results.extend(self._emit(session, r)
                                   for r in self._replay(session, first, title))
                    continue
                if first is None and refuse:
                    results.append(self._emit(session, item_result(
                        item_id, title, "incomplete_set", code="incomplete_set")))
                    continue
                if first is None:
                    first = self._secure_then_journal(session_ref, patron_ref, item_id, title,
                                                      parts)
                    if first is None:
                        results.append(self._emit(session, item_result(
                            item_id, title, "refused", code="alarm_still_on")))
                        continue
                    crash_point("after_checkin_journal")
                self._take(first.key)
                pending[first.key] = _Pending(first, item_id, title, parts, warn)
            done: dict[str, ItemResult] = {}
            for key, p in pending.items():
                if self._is_answered(p.entry):  # a repeat journaled meanwhile elsewhere
                    [done[key]] = self._replay(session, p.entry, p.title)

            def on_result(e: OutboxEntry) -> None:
                done[e.key] = self._finish_return(session, pending[e.key], e)

            left = self._wait_all(set(pending) - set(done), self.policy.result_timeout_s,
                                  on_result)
            for key in left:
                p = pending[key]
                tag = p.parts[0].tag
                if tag is not None and tag.forbids_offline_return:
                    done[key] = self._withdraw(p, "not_loanable", session)
                    continue
                e = self.store.outbox.mark_offline(key, {"no_block": True,
                                                         "offline_accepted_at": utcnow()})
                if not e.is_terminal:
                    # the central statistics' offline transactions (with checkout_offline)
                    self.store.counters.incr("return_offline")
                done[key] = self._finish_return(session, p, e, offline=not e.is_terminal)
            results.extend(self._emit(session, done[k]) for k in pending)
        finally:
            self._release(pending)
        return results

    def _late_return(self, item_id: str, parts: list[PadTag], started: str) -> OutboxEntry | None:
        """The check-in of an earlier return of this book finished since the book was put on
        the pad (by the background pass, or by another session while the book lay there),
        or while this request waited for the item: that check-in is this placement's
        return, not a second one. None when there is none, when the ILS refused it, or when
        the item was lent again after it (journaled here, or a newer loan in the cache).
        Without the pad poller the placement is not known and only the wait counts."""
        placed = [self.devices.placed_at(pt.uid) for pt in parts]
        since = started
        if placed and all(t is not None for t in placed):
            first = min(t for t in placed if t is not None)
            since = min(started, stamp(datetime.fromtimestamp(first, UTC)))
        late = self.store.security.return_done_since(item_id, since)
        e = self.store.outbox.find(late) if late else None
        if e is None or self.store.outbox.journaled_since(item_id, e.created_at, exclude_key=e.key):
            return None
        if e.is_terminal and (e.state != "applied" or (e.result or {}).get("ok") is False):
            return None
        loan = self.store.cache.loan(item_id)
        if loan is not None and loan.made_after(e.created_at):
            return None
        return e

    def _secure_then_journal(self, session_ref: str | None, patron_ref: str | None,
                             item_id: str, title: str,
                             parts: list[PadTag]) -> OutboxEntry | None:
        """Secure every part; the last part's task journals the check-in once (a repeat of
        it gives the first one). None when a part could not be secured."""
        key = str(uuid.uuid4())
        loan = self.store.cache.loan(item_id)
        follow: dict[str, Any] = {"key": key, "kind": "checkin", "item_id": item_id, "once": True,
                  "patron_ref": patron_ref or (loan.patron_id if loan else None),
                  # the cache had the loan: should it be gone at a retry, it ended elsewhere
                  "cached_loan": loan is not None,
                  "payload": self._payload("checkin", item_id, patron_ref, session=session_ref,
                                           uids=[pt.uid for pt in parts], title=title)}
        self._take(key)
        entry: OutboxEntry | None = None
        try:
            follow_key: str | None = None
            for i, part in enumerate(parts):
                task = self.store.security.create(
                    item_id, part.uid, "secure", follow_up=follow if i == len(parts) - 1 else None)
                after, follow_key = self.security.execute(task)
                if after.state != "done":
                    return None
            # The last part's task may be an open one of an earlier call (with its own
            # follow-up) or one without any: the check-in is then the one journaled.
            entry = self.store.outbox.find(follow_key) if follow_key else None
            if entry is None:
                entry = self.store.outbox.append(
                    "checkin", follow["payload"], item_id=item_id,
                    patron_ref=follow["patron_ref"], key=key, once=True)
            self._take(entry.key)
            return entry
        finally:
            if entry is None or entry.key != key:
                self._release([key])

    def _finish_return(self, session: Session | None, p: _Pending, e: OutboxEntry,
                       *, offline: bool = False) -> ItemResult:
        res = e.result or {}
        if not offline and (e.state != "applied" or res.get("ok") is False):
            self.store.outbox.mark_handled(e.key)
            code = refusal_code(res)
            ils_message = res.get("screen_message") or res.get("message")
            if session is not None:
                session.lines.append(ReceiptLine(p.item_id, p.title, "return", outcome="refused",
                                                 reason=code, reason_text=ils_message))
            return item_result(p.item_id, p.title, "refused", code=code, transaction=e.key,
                               ils_message=ils_message)
        crash_point("after_checkin_result")
        with self.store.transaction():
            claimed = offline or self.store.outbox.claim(e.key)
            if claimed:
                self.store.cache.record_return(p.item_id, journaled_at=e.created_at)
                self.store.counters.incr("return")
        if not claimed:
            [answer] = self._replay(session, self.store.outbox.get(e.key), p.title)
            return answer
        sort = sort_hint(res, self.policy.sort_bin_labels)
        if sort is None and offline:
            sort = transit_hint(self._owner_isil(p), self.site_isil)
        if session is not None:
            outcome = (str(sort["kind"]) if sort else
                       "offline_accepted" if offline else "returned")
            session.lines.append(ReceiptLine(
                p.item_id, p.title, "return", outcome=outcome,
                destination=sort.get("destination") if sort else None,
                bin=sort.get("bin") if sort else None))
        return item_result(p.item_id, p.title, "offline_accepted" if offline else "returned",
                           transaction=e.key, sort=sort, message=p.warn,
                           ils_message=res.get("screen_message"))

    def anonymous_return_lines(self, transactions: list[str]) -> list[ReceiptLine]:
        """The receipt lines of anonymous returns, from their journal entries: the
        ``transaction`` keys ``POST /returns`` answered (repeats counted once; nothing is
        changed).

        Raises:
            EdgeError: ``not_found`` (404) for a key that is not an anonymous return.
        """
        lines: list[ReceiptLine] = []
        for key in dict.fromkeys(transactions):
            e = self.store.outbox.find(key)
            if e is None or e.kind != "checkin" or e.payload.get("session") is not None:
                raise EdgeError("not_found", f"transaction {key!r} is not an anonymous return",
                                status=404)
            for r in self._replay(None, e):
                sort = r.sort or {}
                outcome = (str(sort["kind"]) if sort.get("kind") else
                           {"returned": "returned", "offline_accepted": "offline_accepted",
                            "checking": None}.get(r.status, "refused"))
                lines.append(ReceiptLine(
                    r.item_id, r.title, "return", outcome=outcome,
                    destination=sort.get("destination"), bin=sort.get("bin"),
                    reason=r.code if outcome == "refused" else None,
                    reason_text=r.ils_message if outcome == "refused" else None))
        return lines

    def _owner_isil(self, p: _Pending) -> str | None:
        """The owning library of a returned item: its tag's ISIL, else the cache's."""
        for part in p.parts:
            if part.tag is not None and part.tag.isil:
                return part.tag.isil
        cached = self.store.cache.item(p.item_id)
        return cached.owner_isil if cached else None

    # ---- renew ------------------------------------------------------------------------------

    def renew(self, session: Session, item_ids: list[str] | None = None, *,
              all_items: bool = False) -> list[ItemResult]:
        """Renew some loans, or all (``all_items``); renewals are never made offline.

        Without an answer in time a renewal is withdrawn when it never left the box
        (``refused`` with the ``offline_renew`` text). One that was already sent may still be
        made by the ILS: it stays open as a follow-up (the recovery pass records the new due
        date when its result arrives) and is reported ``checking`` with the ``renew_sent``
        text, never as refused.
        """
        kind = "renew_all" if all_items else "renew"
        wanted: list[str | None] = [None] if all_items else list(dict.fromkeys(item_ids or []))
        names = [f"renew_all:{session.id}"] if all_items else [str(i) for i in wanted]
        with self._items.hold(*names):
            return self._renew(session, kind, wanted)

    def _renew(self, session: Session, kind: str,
               wanted: list[str | None]) -> list[ItemResult]:
        keys: dict[str, str | None] = {}
        done: dict[str, list[ItemResult]] = {}
        try:
            for item_id in wanted:
                first = self.store.outbox.find_action(kind, item_id, session.id)
                if first is None:
                    first, _ = self._journal_once(kind, session.id, item_id, session.patron_id)
                else:
                    self._take(first.key)
                keys[first.key] = item_id
                if first.handled_at is not None:
                    done[first.key] = self._replay(session, first)

            def on_result(e: OutboxEntry) -> None:
                res = e.result or {}
                with self.store.transaction():
                    if not self.store.outbox.claim(e.key):
                        done[e.key] = self._replay(session, e)
                        return
                    if e.kind == "renew_all":
                        done[e.key] = self._renew_all_lines(session, e)
                        return
                    ok = e.state == "applied" and res.get("ok", True) is not False
                    done[e.key] = [self._renew_line(session, keys[e.key] or "", ok, res, e.key)]

            left = self._wait_all(set(keys) - set(done), self.policy.result_timeout_s, on_result)
            for key in left:
                e, withdrawn = self.store.outbox.cancel(key, "offline")
                if e.is_terminal and not withdrawn:  # the answer came just now
                    on_result(e)
                    continue
                item_id = keys[key] or ""
                title = self._title(item_id, None) if item_id else ""
                if withdrawn:
                    done[key] = [item_result(item_id, title, "refused", code="renew_refused",
                                             message=texts("offline_renew"), transaction=key)]
                else:
                    log.info("renewal %s sent without an answer yet: left open as a follow-up",
                             key)
                    done[key] = [item_result(item_id, title, "checking", transaction=key,
                                             message=texts("renew_sent"))]
            return [self._emit(session, r) for k in keys for r in done[k]]
        finally:
            self._release(keys)

    def _renew_all_lines(self, session: Session | None, e: OutboxEntry, *,
                         record: bool = True) -> list[ItemResult]:
        """One line per renewed item, and one per item the ILS did not renew.

        The unrenewed items are those the result names (``unrenewed_items``, 66 BN); an ILS
        that only counts them (``unrenewed``): when the patron's cached loans not renewed
        match that count they are listed as refused, otherwise one line without an item
        says how the ILS answered. ``record``: also record the new due dates (False: a
        repeat's answer, nothing changes).
        """
        res = e.result or {}
        if e.state != "applied" or res.get("ok") is False:
            return [item_result("", "", "refused", code=refusal_code(res, "renew_refused"),
                                transaction=e.key,
                                ils_message=res.get("screen_message") or res.get("message"))]
        renewed = renewed_items(res, e.key)
        lines = [self._renew_line(session if record else None, item_id, True, {}, e.key)
                 for item_id in renewed]
        named = [i for i in renewed_items({"items": res.get("unrenewed_items")}, e.key)
                 if i not in renewed]
        unrenewed = res.get("unrenewed")
        if named:  # the ILS named them (66 BN)
            lines.extend(item_result(i, self._title(i, None), "refused", code="renew_refused",
                                     transaction=e.key) for i in named)
        elif isinstance(unrenewed, int) and unrenewed > 0:
            others = [loan.item_id for loan in self.store.cache.loans_of(e.patron_ref or "")
                      if loan.item_id not in renewed]
            if len(others) == unrenewed:
                lines.extend(item_result(i, self._title(i, None), "refused",
                                         code="renew_refused", transaction=e.key)
                             for i in others)
            else:
                lines.append(item_result("", "", "refused", code="renew_refused",
                                         transaction=e.key,
                                         ils_message=res.get("screen_message")))
        return lines

    def _renew_line(self, session: Session | None, item_id: str, ok: bool, res: dict[str, Any],
                    key: str) -> ItemResult:
        """The line of one renewal; recorded (cache, counter, receipt) when ``session`` is
        given, only rendered when it is None (a repeat's answer)."""
        title = str(res.get("title") or self._title(item_id, None))
        if not ok:
            return item_result(item_id, title, "refused", code=refusal_code(res, "renew_refused"),
                               transaction=key, ils_message=res.get("screen_message"))
        due = res.get("due_date")
        if session is None:
            return item_result(item_id, title, "renewed", due_date=due, transaction=key)
        loan = self.store.cache.loan(item_id)
        if loan is not None:
            self.store.cache.record_loan(LoanRecord(item_id, loan.patron_id, due, loan.loaned_at,
                                                    loan.offline))
        self.store.counters.incr("renew")
        session.lines.append(ReceiptLine(item_id, title, "renew", due))
        return item_result(item_id, title, "renewed", due_date=due, transaction=key)

    # ---- account ------------------------------------------------------------------------------

    def account(self, session: Session) -> dict[str, Any]:
        """Loans with due dates, holds, fines: from the gateway, else from the cache."""
        req = self.store.lookups.request("account", {"patron_id": session.patron_id})
        got = self.store.lookups.wait(req.id, self.policy.result_timeout_s)
        today = self.clock().date().isoformat()
        if got is not None and got.state == "answered" and got.response is not None:
            if got.response.get("email"):
                # The address lives in the session only (an older login may not have had it).
                session.email = session.email or str(got.response["email"])
                self.store.lookups.redact(req.id, "email")
            return self._account_from(got.response, today)
        self.store.lookups.abandon(req.id)
        loans = [{"item_id": loan.item_id, "title": self._title(loan.item_id, None),
                  "due_date": loan.due_date,
                  "overdue": bool(loan.due_date and loan.due_date[:10] < today)}
                 for loan in self.store.cache.loans_of(session.patron_id)]
        holds = [{"item_id": h.item_id, "title": self._title(h.item_id, None), "ready": h.ready,
                  "pickup_location": h.pickup_location, "expires": None}
                 for h in self.store.cache.holds_of(session.patron_id)]
        return {"loans": loans, "holds": holds, "fines": [], "fine_total": None,
                "currency": "VND", "offline": True}

    def _account_from(self, r: dict[str, Any], today: str) -> dict[str, Any]:
        """The ``Account`` from the gateway's answer: its ``account`` object (the shape of
        ``sync.messages.Account``), with a title the ILS left empty taken from the cache and
        an overdue mark added for a due date already past. An answer without ``account``
        (an unknown patron, a wrong PIN) is an empty account."""
        raw = r.get("account")
        acc: dict[str, Any] = raw if isinstance(raw, dict) else {}
        loans = []
        for x in acc.get("loans") or []:
            iid, due = str(x.get("item_id", "")), x.get("due_date")
            loans.append({"item_id": iid, "title": str(x.get("title") or self._title(iid, None)),
                          "due_date": due,
                          "overdue": bool(x.get("overdue") or (due and str(due)[:10] < today))})
        holds = [{"item_id": str(x.get("item_id", "")),
                  "title": str(x.get("title") or self._title(str(x.get("item_id", "")), None)),
                  "ready": bool(x.get("ready")), "pickup_location": x.get("pickup_location"),
                  "expires": x.get("expires")} for x in acc.get("holds") or []]
        currency = str(acc.get("currency") or r.get("currency") or "VND")
        fines = [{"fine_id": x.get("fine_id"), "amount": x.get("amount"),
                  "currency": x.get("currency") or currency, "reason": str(x.get("reason") or ""),
                  "date": x.get("date"), "item_id": x.get("item_id")}
                 for x in acc.get("fines") or []]
        return {"loans": loans, "holds": holds, "fines": fines,
                "fine_total": acc.get("fine_total"), "currency": currency, "offline": False}

