"""Apply transactions and answer look-ups through the SIP2 pool; verify after a crash.

:class:`Applier` turns a :class:`~sync.messages.TransactionRequest` into SIP2 11/09/29/65
(offline ones with no-block and their original date, each carrying the idempotency key
as the extension field ``XK``) and maps the answer to a
:class:`~sync.messages.TransactionResult`. :meth:`Applier.verify` asks the ILS (17 item
information, 63 charged items) whether an interrupted attempt took effect, so a recovered
key is never sent twice. It knows nothing about MQTT or the ledger's storage.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from smartlib.logs import mask_identifier
from sync.errors import (
    InvalidMessageError,
    Sip2ConnectionError,
    Sip2Error,
    Sip2NotSentError,
    Sip2OutcomeUnknownError,
    Sip2PoolTimeout,
)
from sync.gateway.account import read_account
from sync.messages import (
    CacheLoan,
    Conflict,
    LookupRequest,
    LookupResponse,
    TransactionRequest,
    TransactionResult,
)
from sync.sip2.profiles import Sip2Profile, Verdict, get_profile, screen_text, with_overrides
from sync.sip2.session import Sip2Session

log = logging.getLogger(__name__)

CHARGED = frozenset({"04", "05", "07"})
"""18 circulation statuses that mean "on loan" (charged, charged not recallable, recalled)."""

IDEMPOTENCY_FIELD = "XK"


class _Pool(Protocol):
    def connection(self) -> AbstractContextManager[Sip2Session]: ...


def _profile_of(client: Any, profile: Sip2Profile | None) -> Sip2Profile:
    """The profile that interprets ``client``'s answers: the applier's own, else the
    client's (:attr:`Sip2Client.profile`), else ``generic``."""
    if profile is not None:
        return profile
    theirs = getattr(client, "profile", None)
    return theirs if isinstance(theirs, Sip2Profile) else get_profile("generic")


@dataclass(frozen=True)
class Outcome:
    """What applying (or recovering) a transaction produced.

    ``loan`` (a checkout or renewal) and ``returned`` (a checkin's item) are its change to
    the site's cache; the gateway gathers them into :class:`~sync.messages.CacheDelta`
    messages (:class:`sync.gateway.deltas.DeltaWindow`).
    """

    result: TransactionResult
    conflict: Conflict | None = None
    loan: CacheLoan | None = None
    returned: str | None = None
    returned_at: datetime | None = None
    """When the check-in of ``returned`` was journaled: orders it against loans."""


def cache_change(req: TransactionRequest, result: TransactionResult) -> Outcome:
    """An applied transaction's change to its site's cache (none for a refused one): a
    checkout's or renewal's loan (``loaned_at``: when it was journaled), a checkin's return
    (``returned_at``, the same)."""
    if not result.ok:
        return Outcome(result)
    if req.kind in ("checkout", "renew") and req.item and req.patron:
        return Outcome(result, loan=CacheLoan(
            item_id=req.item, patron_id=req.patron, due_date=result.due_date,
            loaned_at=req.created_at.isoformat(), offline=req.offline))
    if req.kind == "checkin" and req.item:
        return Outcome(result, returned=req.item, returned_at=req.created_at)
    return Outcome(result)


def _need(value: str | None, what: str, req: Any) -> str:
    """``value``, or :class:`InvalidMessageError` naming the missing field."""
    if not value:
        raise InvalidMessageError(f"a {req.kind} {type(req).__name__} needs {what}")
    return value


def _item_unknown(info: Any) -> bool:
    """A 17 answer for an item the ILS does not know (no title, status other/unknown)."""
    return not info.title and info.circulation_status in (None, "", "01")


def _vnd(amount: str | None) -> int:
    """A SIP2 fee amount (BV, text) as whole VND; 0 when absent or not a number."""
    try:
        return int(float(amount or "0"))
    except ValueError:
        return 0


class Applier:
    """Talks SIP2 for the gateway.

    The site's :class:`~sync.sip2.profiles.Sip2Profile` interprets every answer:

    * a checkout's ``desensitize`` in the result is the profile's verdict
      (:meth:`~Sip2Profile.releases_security`): ``Y`` release the security, ``N`` keep it;
    * a checkin's CV code is read with :meth:`~Sip2Profile.alert_meaning` and reported as
      the canonical code (01 hold shelf, 02 hold at another branch, 04 transit);
    * a checkin with ok = 0 for an item that was not on loan counts as a return when
      the profile says so (``checkin_not_loaned_ok``; the item's state is asked with 17);
    * ``AH`` due dates are parsed with the profile's ``due_date_formats``.

    Args:
        pool: a :class:`~sync.sip2.client.Sip2ConnectionPool` (or anything with
            ``connection()``) for the site's ILS.
        profile: the site's profile; default: the borrowed client's ``profile``
            (``generic`` for a client without one).
    """

    def __init__(self, pool: _Pool, profile: Sip2Profile | str | None = None) -> None:
        self.pool = pool
        self.profile = get_profile(profile) if isinstance(profile, str) else profile
        self.stats = {"outcome_unknown": 0, "client_resends": 0, "unconfirmed": 0}

    def _circulate(self, name: str, call: Callable[[], Any],
                   before_call: Callable[[], None] | None = None) -> Any:
        """Make one non-idempotent call (11/09/29 with ``resend=False``, 65 never resent)
        and never let it go out twice: a connection broken mid-call raises
        :class:`Sip2OutcomeUnknownError`, and the gateway establishes the outcome from the
        ILS's state (:meth:`verify`) before anything is sent again. A request that never
        left (the client could not connect or log in) raises :class:`Sip2NotSentError`.

        ``before_call`` runs right before the request goes out (the gateway's lease check:
        it raises :class:`~sync.errors.LeaseLostError` when the lease might end during the
        call, and nothing is sent)."""
        if before_call is not None:
            before_call()
        try:
            return call()
        except Sip2NotSentError:
            raise
        except Sip2OutcomeUnknownError:
            self.stats["outcome_unknown"] += 1
            raise
        except Sip2ConnectionError as exc:
            self.stats["outcome_unknown"] += 1
            raise Sip2OutcomeUnknownError(f"{name}: connection failed mid-call ({exc}); "
                                          "the outcome will be verified with the ILS") from exc

    # ---- before the call -------------------------------------------------------------------

    def pre_state(self, req: TransactionRequest) -> dict[str, Any] | None:
        """What a later verification needs to know about the ILS before the call.

        A renewal needs the due date (its effect is "the due date moved"); a fee payment
        the patron's fee amount (64 BV: its effect is "the balance went down").
        """
        if req.kind == "fee_paid":
            with self.pool.connection() as c:
                pi = c.patron_information(_need(req.patron, "a patron", req))
            return {"fee_amount": pi.fee_amount}
        if req.kind != "renew" or not req.item:
            return None
        with self.pool.connection() as c:
            info = c.item_information(req.item)
        return {"due_date": info.due_date, "status": info.circulation_status}

    # ---- the call --------------------------------------------------------------------------

    def apply(self, req: TransactionRequest,
              before_call: Callable[[], None] | None = None) -> Outcome:
        """Send the transaction to the ILS once and map the answer.

        Args:
            req: the transaction.
            before_call: called right before the circulation request goes out, with the
                connection in hand (see :meth:`_circulate`); what it raises propagates and
                nothing is sent.

        Raises:
            Sip2NotSentError: the request never left (no connection, no login, no free
                pooled connection): it cannot have taken effect.
            Sip2Error: the ILS could not be reached or answered nonsense; the outcome is
                unknown and the caller must verify before trying again.
        """
        acquired = False
        try:
            with self.pool.connection() as c:
                acquired = True
                return self._apply(c, req, before_call)
        except Sip2PoolTimeout as exc:
            if acquired:
                raise
            raise Sip2NotSentError(f"{req.kind} not sent: {exc}") from exc

    def _apply(self, c: Any, req: TransactionRequest,
               before_call: Callable[[], None] | None) -> Outcome:
        extra = {IDEMPOTENCY_FIELD: req.key}
        offline = req.offline
        when = req.created_at if offline else None
        pay = req.payload
        nb_due = pay.get("nb_due_date") if offline else None
        prof = _profile_of(c, self.profile)
        # One call to the ILS, one call to the profile for what its answer means.
        if req.kind == "checkout":
            patron, item = _need(req.patron, "a patron", req), _need(req.item, "an item", req)
            resp = self._circulate("checkout", lambda: c.checkout(
                patron, item, no_block=offline, transaction_date=when, nb_due_date=nb_due,
                fee_acknowledged=pay.get("fee_acknowledged"), extra_fields=extra,
                resend=False), before_call)
            verdict = prof.interpret_checkout(resp)
            return self._finish(req, verdict,
                                reason_code=None if verdict.ok else self._reason(c, req))
        if req.kind == "checkin":
            item = _need(req.item, "an item", req)
            ci = self._circulate("checkin", lambda: c.checkin(
                item, no_block=offline, transaction_date=when, location=pay.get("location"),
                extra_fields=extra, resend=False), before_call)
            verdict = prof.interpret_checkin(ci)
            if verdict.needs_item_state:
                verdict = prof.interpret_checkin(ci, on_loan=self._on_loan(c, item),
                                                 asked=True)
            return self._finish(req, verdict)
        if req.kind == "renew":
            patron, item = _need(req.patron, "a patron", req), _need(req.item, "an item", req)
            rn = self._circulate("renew", lambda: c.renew(
                patron, item, no_block=offline, transaction_date=when, nb_due_date=nb_due,
                extra_fields=extra, resend=False), before_call)
            verdict = prof.interpret_renew(rn)
            return self._finish(req, verdict,
                                reason_code=None if verdict.ok else self._reason(c, req))
        if req.kind == "renew_all":
            patron = _need(req.patron, "a patron", req)
            ra = self._circulate("renew_all", lambda: c.renew_all(patron), before_call)
            return self._finish(req, prof.interpret_renew_all(ra))
        if req.kind == "fee_paid":
            return self._fee_paid(c, req, before_call)
        raise InvalidMessageError(f"unknown transaction kind {req.kind!r}")

    def _fee_paid(self, c: Any, req: TransactionRequest,
                  before_call: Callable[[], None] | None = None) -> Outcome:
        """37 Fee Paid for a bank payment the centre matched: the amount in whole VND, the
        payment's reference as the SIP2 transaction id, the fee id when exactly one fee is
        paid. Never resent blindly after a broken connection: :meth:`verify` compares the
        patron's fee amount with the one asked before the call (:meth:`pre_state`)."""
        pay = req.payload
        fee_ids = [str(f) for f in pay.get("fee_ids") or []]
        patron = _need(req.patron, "a patron", req)
        fp = self._circulate("fee_paid", lambda: c.fee_paid(
            patron, str(int(pay["amount"])), fee_type="01", payment_type="00", currency="VND",
            fee_id=fee_ids[0] if len(fee_ids) == 1 else None,
            transaction_id=str(pay.get("transaction_id") or pay.get("reference")
                               or "")[:32] or None), before_call)
        screen = " ".join(fp.screen_message) or None
        return self._finish(req, Verdict(ok=bool(fp.payment_accepted), screen_message=screen))

    @staticmethod
    def _reason(c: Any, req: TransactionRequest) -> str | None:
        """Why the ILS refused a checkout or renewal, as an edge code, asked of the ILS.

        17 on the item (unknown; on the hold shelf or with holds queued), then 63 on the
        patron (SIP2 patron status flags: 0 charge privileges denied, 1 renewal privileges
        denied, 4 card reported lost, 5 too many items charged, 10/11 excessive fines or
        fees). None when neither explains it (the edge then reads the ILS's text). Extra
        calls happen only on a refusal, and they change nothing at the ILS.
        """
        try:
            info = c.item_information(str(req.item))
            if _item_unknown(info):
                return "item_unknown"
            queued = (info.hold_queue_length or "").isdigit() and int(info.hold_queue_length) > 0
            if info.circulation_status == "08" or queued:
                return "on_hold_for_other"
            pi = c.patron_information(str(req.patron), pin=None, summary=None)
        except Sip2Error as exc:
            log.info("tx %s: the refusal's reason could not be asked (%s)", req.key, exc)
            return None
        flags = (pi.patron_status or "").ljust(14)
        if req.kind == "renew" and flags[1] == "Y":
            return "renew_refused"
        if flags[0] == "Y" or flags[4] == "Y" or "Y" in flags[10:12]:
            return "patron_blocked"
        if flags[5] == "Y":
            return "loan_limit"
        return "renew_refused" if req.kind == "renew" else None

    @staticmethod
    def _on_loan(c: Any, item: str) -> bool | None:
        """Whether the ILS has ``item`` on loan now (17); None when it does not know it."""
        info = c.item_information(item)
        return None if _item_unknown(info) else info.circulation_status in CHARGED

    def _finish(self, req: TransactionRequest, verdict: Verdict, *, recovered: bool = False,
                **fields: Any) -> Outcome:
        ok = verdict.ok
        if ok:
            status = "applied"
        elif req.offline:
            status = "conflict"
        else:
            status = "refused"
        screen = verdict.screen_message
        fields = {**verdict.result_fields(), **fields}
        fields["patron"] = req.patron
        if req.kind == "fee_paid":
            fields["paid_amount"] = int(req.payload.get("amount") or 0) or None
            fields["reference"] = str(req.payload.get("reference") or "") or None
        result = TransactionResult(key=req.key, kind=req.kind, site=req.site, device=req.device,
                                   status=status, ok=ok, item=req.item, screen_message=screen,
                                   recovered=recovered, **fields)
        conflict = None
        if status == "conflict":
            conflict = Conflict(key=req.key, kind=req.kind, site=req.site, device=req.device,
                                patron=req.patron, item=req.item, created_at=req.created_at,
                                reason=screen or "refused by the ILS", screen_message=screen)
        change = cache_change(req, result)
        # Routine outcomes at DEBUG (thousands per second in a drain); the ones staff or an
        # operator must see (refusals, conflicts, recoveries) at INFO.
        level = logging.DEBUG if status == "applied" and not recovered else logging.INFO
        if log.isEnabledFor(level):
            log.log(level, "tx %s %s item %s patron %s: %s%s", req.key, req.kind, req.item,
                    mask_identifier(req.patron or ""), status,
                    " (recovered)" if recovered else "")
        return Outcome(result, conflict, change.loan, change.returned, change.returned_at)

    @staticmethod
    def rejected(req: TransactionRequest, reason: str) -> Outcome:
        """The outcome of a request that can never be applied (an invalid message)."""
        result = TransactionResult(key=req.key, kind=req.kind, site=req.site, device=req.device,
                                   status="error", ok=False, item=req.item, patron=req.patron,
                                   screen_message=f"invalid request: {reason}"[:200])
        return Outcome(result)

    # ---- after a crash ----------------------------------------------------------------------

    def verify(self, req: TransactionRequest, pre_state: dict[str, Any] | None) -> Outcome | None:
        """Decide from the ILS's state whether an interrupted attempt took effect.

        Returns:
            The outcome to record when it did; ``None`` when it did not (send it now).

        Raises:
            Sip2Error: the ILS cannot be asked now (try again later).
        """
        with self.pool.connection() as c:
            prof = _profile_of(c, self.profile)
            if req.kind == "checkout":
                item = _need(req.item, "an item", req)
                pi = c.patron_information(_need(req.patron, "a patron", req), summary="charged")
                charged = {prof.normalize_barcode(i) for i in pi.charged_items}
                if prof.normalize_barcode(item) not in charged:
                    return None
                info = c.item_information(item)
                return self._finish(req, Verdict(ok=True, title=info.title, desensitize="Y",
                                                 due_date=prof.due_date_iso(info.due_date)),
                                    recovered=True)
            if req.kind == "checkin":
                info = c.item_information(_need(req.item, "an item", req))
                if info.circulation_status in CHARGED:
                    return None
                return self._finish(req, Verdict(ok=True, title=info.title, resensitize="Y"),
                                    recovered=True)
            if req.kind == "renew":
                _need(req.item, "an item", req)
                if pre_state is None:
                    return None  # the intent never reached its SIP2 call
                if pre_state.get("status") not in CHARGED:
                    return None  # not on loan before the call: it cannot have renewed it
                info = c.item_information(str(req.item))
                if info.circulation_status not in CHARGED:
                    return None  # not on loan now: a renewal cannot take effect (refused)
                if info.due_date != pre_state.get("due_date"):
                    return self._finish(req, Verdict(ok=True, title=info.title, desensitize="Y",
                                                     due_date=prof.due_date_iso(info.due_date)),
                                        recovered=True)
                return self._unconfirmed_renewal(req, prof.due_date_iso(info.due_date))
            if req.kind == "fee_paid":
                if pre_state is None:
                    return None  # the intent never reached its SIP2 call
                pi = c.patron_information(_need(req.patron, "a patron", req))
                if _vnd(pi.fee_amount) >= _vnd(pre_state.get("fee_amount")):
                    return None  # the balance did not go down: the 37 did not take effect
                return self._finish(req, Verdict(ok=True), recovered=True)
        # renew_all: its effect cannot be told apart from the state before it; never resend.
        result = TransactionResult(
            key=req.key, kind=req.kind, site=req.site, device=req.device, status="error",
            ok=False, patron=req.patron, recovered=True,
            screen_message="renew-all was interrupted; check the account at the desk")
        return Outcome(result)

    def _unconfirmed_renewal(self, req: TransactionRequest, due_date: str | None) -> Outcome:
        """The outcome of an interrupted renewal whose effect the ILS's state cannot show.

        A renewal is seen only as a moved due date. An ILS that counts the new loan period
        from today (Koha's ``RenewalPeriodBase = now``, the demo ILS) gives a loan made or
        renewed today the same due date again, so an unchanged date does not mean "not
        renewed". Sending it again could renew twice; so it is never sent again: the
        result is an ``error`` with the loan's due date, for the patron to check at the
        desk (as for an interrupted renew-all).
        """
        self.stats["unconfirmed"] += 1
        log.warning("tx %s renew item %s: interrupted, and the ILS's due date (%s) cannot "
                    "tell whether it took effect; not sent again", req.key, req.item, due_date)
        result = TransactionResult(
            key=req.key, kind=req.kind, site=req.site, device=req.device, status="error",
            ok=False, item=req.item, patron=req.patron, recovered=True, due_date=due_date,
            screen_message=("the renewal was interrupted and could not be confirmed; "
                            "check the due date at the desk"))
        return Outcome(result)

    # ---- look-ups --------------------------------------------------------------------------

    def lookup(self, req: LookupRequest) -> LookupResponse:
        """Answer a patron (63, with the PIN when given), item (17), account or ILS status
        (99, on a logged-in connection of the pool) look-up.

        Raises:
            Sip2Error: the ILS cannot be reached.
        """
        started = time.monotonic()
        with self.pool.connection() as c:
            prof = _profile_of(c, self.profile)
            if req.kind == "ils_status":
                st = c.sc_status()
                return LookupResponse(
                    request_id=req.request_id, kind="ils_status", ok=True,
                    online_status=st.online_status, institution=st.institution_id,
                    ils_seconds=round(time.monotonic() - started, 3), screen_message=screen_text(st))
            if req.kind == "account":
                return self._account(c, req, prof)
            if req.kind == "patron":
                # A login needs valid/PIN/blocked and the counts; the item lists go only to
                # the account look-up (privacy: nothing more rests in the edge's lookups).
                pi = c.patron_information(_need(req.patron, "a patron", req), pin=req.pin,
                                          summary=None)
                flags = pi.patron_status or ""
                return LookupResponse(
                    request_id=req.request_id, kind="patron", ok=True, patron=req.patron,
                    valid_patron=pi.valid_patron,
                    valid_pin=pi.valid_patron_password if req.pin else None,
                    name=pi.personal_name, blocked="Y" in flags[:4], status_flags=flags,
                    charged=pi.charged_items_count, holds=pi.hold_items_count,
                    overdue=pi.overdue_items_count, fee_amount=pi.fee_amount,
                    email=pi.email_address or None, screen_message=screen_text(pi))
            if req.kind != "item":
                raise InvalidMessageError(f"unknown look-up kind {req.kind!r}")
            info = c.item_information(_need(req.item, "an item", req))
            return LookupResponse(
                request_id=req.request_id, kind="item", ok=True, item=req.item, title=info.title,
                circulation_status=info.circulation_status, due_date=prof.due_date_iso(info.due_date),
                hold_queue=int(info.hold_queue_length) if (info.hold_queue_length or "").isdigit() else None,
                screen_message=screen_text(info))

    @staticmethod
    def _account(c: Any, req: LookupRequest, prof: Sip2Profile) -> LookupResponse:
        """The whole account (:func:`~sync.gateway.account.read_account`): 63 once per
        item list (charged, overdue, holds, unavailable holds, fines), 17 per loan and hold.
        An unknown patron or a wrong PIN gets the patron fields only."""
        patron = _need(req.patron, "a patron", req)
        first = c.patron_information(patron, pin=req.pin, summary="charged")
        flags = first.patron_status or ""
        base: dict[str, Any] = dict(
            request_id=req.request_id, kind="account", patron=req.patron,
            valid_patron=first.valid_patron,
            valid_pin=first.valid_patron_password if req.pin else None,
            name=first.personal_name, blocked="Y" in flags[:4], status_flags=flags,
            charged=first.charged_items_count, holds=first.hold_items_count,
            overdue=first.overdue_items_count, fee_amount=first.fee_amount,
            email=first.email_address or None, currency=first.currency_type, fee_limit=first.fee_limit,
            screen_message=screen_text(first))
        if not first.valid_patron or (req.pin and first.valid_patron_password is False):
            return LookupResponse(ok=True, **base)
        account = read_account(c, patron, req.pin, prof, first)
        return LookupResponse(
            ok=True, **base, account=account,
            charged_items=[x.item_id for x in account.loans],
            overdue_items=[x.item_id for x in account.loans if x.overdue],
            hold_items=[x.item_id for x in account.holds],
            fine_items=[x.reason for x in account.fines])


def sip2_timeouts(lease_s: float) -> tuple[float, float]:
    """The gateway's SIP2 ``(answer timeout, connect timeout)`` for a lease of ``lease_s``:
    10 s and 5 s, shortened for a short lease so that a whole call (connect, log in,
    request: :func:`call_bound_s`) lasts at most half the lease (docs/sync.md)."""
    return min(10.0, lease_s / 5), min(5.0, lease_s / 10)


def call_bound_s(timeout: float, connect_timeout: float) -> float:
    """How long one circulation call can last: connect, log in again, send and wait."""
    return connect_timeout + 2 * timeout


def make_pool(settings: Any, site: str | None = None) -> Any:
    """Build the SIP2 pool for a site: ``[ils]`` with its ``[gateway.site_ils.<site>]``;
    its clients' timeouts come from the lease (:func:`sip2_timeouts`)."""
    from sync.sip2.client import Sip2Client, Sip2ConnectionPool, client_tls_context

    ils = settings.ils_for(site) if site is not None else settings.ils
    tls = (client_tls_context(ils.ca_file, cert_file=ils.cert_file, key_file=ils.key_file)
           if ils.tls else None)
    profile = with_overrides(get_profile(ils.profile), ils.sip2.model_dump(exclude_none=True))
    timeout, connect_timeout = sip2_timeouts(settings.gateway.lease_s)

    def factory() -> Sip2Client:
        return Sip2Client(ils.host, ils.port, user=ils.user, password=ils.password.get_secret_value(),
                          institution=ils.institution, location=ils.location, profile=profile,
                          tls=tls, keepalive=False, timeout=timeout,
                          connect_timeout=connect_timeout)

    return Sip2ConnectionPool(factory, ils.pool_size)


PoolFactory = Callable[[Any], Any]
