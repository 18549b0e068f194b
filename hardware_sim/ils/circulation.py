"""The demo ILS's circulation rules: one SIP2 request in, one SIP2 answer out.

Each request is applied in one SQLite transaction, and every circulation application
(checkout, checkin, renewal) is recorded in ``applications`` in that same transaction, so
duplicates can be counted: the same ``XK`` idempotency key applied twice, or, without a key,
the same kind, patron, item and transaction date applied twice in a row (nothing else
applied to the item in between, so a checkout, checkin and checkout within one second
are not duplicates). Like Koha, a repeated
checkout of an item the patron already holds is applied again as a renewal: the demo ILS
does not protect against replays, it only counts them.
"""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
import threading
from typing import Any

from hardware_sim.ils.data import (
    CURRENCY,
    HOME_ISIL,
    INSTITUTION,
    LOCATION,
    PIN_COST,
    hash_pin,
    verify_pin,
)
from sync.errors import Sip2Error
from sync.sip2.codec import format_date, parse_date
from sync.sip2.messages import (
    AcsStatus,
    BlockPatron,
    Checkin,
    CheckinResponse,
    Checkout,
    CheckoutResponse,
    EndPatronSession,
    EndSessionResponse,
    FeePaid,
    FeePaidResponse,
    Hold,
    HoldResponse,
    ItemInformation,
    ItemInformationResponse,
    ItemStatusUpdate,
    ItemStatusUpdateResponse,
    Message,
    PatronInformation,
    PatronInformationResponse,
    PatronStatus,
    PatronStatusResponse,
    Renew,
    RenewAll,
    RenewAllResponse,
    RenewResponse,
    ScStatus,
)

log = logging.getLogger(__name__)

LOAN_DAYS = {"001": 21, "002": 7, "003": 14, "004": 14, "005": 7, "006": 14, "007": 14,
             "008": 21, "009": 21, "010": 21}
"""Loan period in days per SIP2 media type (default 14)."""

MAX_RENEWALS = 3
FINE_PER_DAY = 2000          # VND per overdue item per day
FEE_LIMIT = 50000            # VND; at or above this the patron cannot borrow
XK = "XK"                    # the gateway's idempotency-key extension field

CIRC_STATUS = {"available": "03", "loaned": "04", "hold_shelf": "08", "in_transit": "10",
               "lost": "12", "missing": "13"}

SUPPORTED = "YYYYYYYYYYYYYYYY"  # BX: all 16 messages

_ACTIVE_HOLD = "state IN ('queued','shelf') AND expires_at >= ?"
"""SQL condition of a hold that still counts: queued or on the shelf, and not expired."""


def fine_line(row: sqlite3.Row) -> str:
    """One ``AV`` fine item of a 64: ``<id> <amount> <currency> <YYYYMMDD> <reason>``.

    SIP2 leaves the text of ``AV`` to the ILS; this is the demo ILS's (and the one the
    gateway reads, see :func:`sync.sip2.account.parse_fine_item`): an id, the amount in whole
    units, the ISO 4217 code, the charge date, the reason (with ``(item <id>)`` when the fine
    is for an item).
    """
    day = dt.datetime.fromisoformat(row["created_at"]).strftime("%Y%m%d")
    item = f" (item {row['item_id']})" if row["item_id"] else ""
    return f"F{row['id']} {row['amount']} {CURRENCY} {day} {row['reason']}{item}"


def _now() -> dt.datetime:
    return dt.datetime.now().replace(microsecond=0)


def _iso(t: dt.datetime) -> str:
    return t.replace(microsecond=0).isoformat()


def _sip(t: str | None) -> str | None:
    return format_date(dt.datetime.fromisoformat(t)) if t else None


def _when(sip_date: str | None, fallback: dt.datetime) -> dt.datetime:
    if not sip_date:
        return fallback
    try:
        t = parse_date(sip_date)
    except Sip2Error:
        return fallback
    if t.tzinfo is not None:
        t = t.astimezone().replace(tzinfo=None)
    return t


class Circulation:
    """Applies SIP2 requests to the demo ILS database.

    Args:
        db: a connection from ``hardware_sim.ils.data.connect`` (shared, serialised here).
        institution: the AO this ILS answers as.
        location: its own location (pickup location and checkin location by default).
        home_isil: the ISIL of the owning library; other owners go into transit on return.
        holds_field: list hold items in ``AS`` or ``CD`` of the 64 (profile emulation).
        checkin_not_loaned_ok: answer a checkin of an item that was not on loan with ok = 0
            (emulates Koha with ``checked_in_ok`` off; profile emulation).

    A hold whose ``expires_at`` has passed no longer counts: it does not block a checkout
    or renewal, does not send a returned item to the hold shelf, and is not listed.
    """

    def __init__(self, db: sqlite3.Connection, *, institution: str = INSTITUTION,
                 location: str = LOCATION, home_isil: str = HOME_ISIL,
                 holds_field: str = "AS", checkin_not_loaned_ok: bool = False) -> None:
        self.db = db
        self.lock = threading.RLock()
        self.institution = institution
        self.location = location
        self.home_isil = home_isil
        self.holds_field = holds_field
        self.checkin_not_loaned_ok = checkin_not_loaned_ok
        self.online = True

    # ---- queries ------------------------------------------------------------------------

    def _one(self, sql: str, *args: Any) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self.db.execute(sql, args).fetchone()
        return row

    def _patron(self, pid: str | None) -> sqlite3.Row | None:
        return self._one("SELECT * FROM patrons WHERE id=?", pid) if pid else None

    def _item(self, iid: str | None) -> sqlite3.Row | None:
        return self._one("SELECT * FROM items WHERE id=?", iid) if iid else None

    def _loan(self, iid: str) -> sqlite3.Row | None:
        return self._one("SELECT * FROM loans WHERE item_id=?", iid)

    def _loan_count(self, pid: str) -> int:
        row = self._one("SELECT COUNT(*) FROM loans WHERE patron_id=?", pid)
        return int(row[0]) if row else 0

    def _first_hold(self, iid: str, now: dt.datetime) -> sqlite3.Row | None:
        """The hold that comes first for ``iid`` at ``now`` (a shelf hold, else the oldest
        queued one); expired holds are skipped."""
        return self._one(f"SELECT * FROM holds WHERE item_id=? AND {_ACTIVE_HOLD} "
                         "ORDER BY state='shelf' DESC, id LIMIT 1", iid, _iso(now))

    def _hold_count(self, iid: str, now: dt.datetime) -> int:
        row = self._one(f"SELECT COUNT(*) FROM holds WHERE item_id=? AND {_ACTIVE_HOLD}",
                        iid, _iso(now))
        return int(row[0]) if row else 0

    def duplicate_count(self) -> int:
        """How many applications repeated an earlier one."""
        with self.lock:
            row = self._one("SELECT COALESCE(SUM(duplicate),0) FROM applications")
            return int(row[0]) if row else 0

    def stats(self) -> dict[str, int]:
        """Counts of records, applications and duplicates."""
        with self.lock:
            q = {t: f"SELECT COUNT(*) FROM {t}" for t in ("patrons", "items", "loans", "fines")}
            out = {t: int(self.db.execute(s).fetchone()[0]) for t, s in q.items()}
            out["holds"] = int(self.db.execute(
                f"SELECT COUNT(*) FROM holds WHERE {_ACTIVE_HOLD}", (_iso(_now()),)).fetchone()[0])
            out["applications"] = int(self.db.execute(
                "SELECT COUNT(*) FROM applications").fetchone()[0])
            out["duplicate_count"] = self.duplicate_count()
            return out

    def applications(self, xk: str | None = None) -> list[dict[str, Any]]:
        """Recorded applications, optionally only those carrying idempotency key ``xk``."""
        with self.lock:
            sql = "SELECT * FROM applications" + (" WHERE xk=?" if xk else "") + " ORDER BY id"
            return [dict(r) for r in self.db.execute(sql, (xk,) if xk else ())]

    # ---- dispatch -----------------------------------------------------------------------

    def handle(self, msg: Message) -> Message:
        """Apply one request and return its answer.

        Raises:
            Sip2Error: the message is not a request this ILS answers.
        """
        handler = getattr(self, "_on_" + type(msg).__name__, None)
        if handler is None:
            raise Sip2Error(f"the demo ILS does not answer {msg.COMMAND}", "command")
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                resp: Message = handler(msg)
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")
            return resp

    def _record(self, kind: str, pid: str | None, iid: str | None, tdate: str | None,
                msg: Message, no_block: bool) -> None:
        xk = msg.get_extra(XK)
        if xk:
            dup = self._one("SELECT 1 FROM applications WHERE xk=?", xk) is not None
        else:
            # without a key: the item's previous application is this same transaction
            # (kind, patron, transaction date), with nothing applied to the item in between
            last = self._one("SELECT kind, patron_id, transaction_date, xk FROM applications "
                             "WHERE item_id IS ? ORDER BY id DESC LIMIT 1", iid)
            dup = (last is not None and last["xk"] is None and last["kind"] == kind
                   and last["patron_id"] == pid and last["transaction_date"] == tdate)
        if dup:
            log.warning("demo ILS: duplicate %s of item %s (key %s)", kind, iid, xk)
        self.db.execute(
            "INSERT INTO applications (kind, patron_id, item_id, transaction_date, xk, no_block,"
            " duplicate, applied_at) VALUES (?,?,?,?,?,?,?,?)",
            (kind, pid, iid, tdate, xk, int(no_block), int(dup), _iso(_now())))

    def _patron_checks(self, p: sqlite3.Row | None, pin: str | None,
                       at: dt.datetime) -> str | None:
        """Why this patron may not borrow, or None."""
        if p is None:
            return "Unknown patron"
        if pin is not None and pin != "" and not verify_pin(pin, p["pin_hash"]):
            return "Invalid PIN"
        if p["blocked"]:
            return f"Patron blocked: {p['block_reason'] or 'contact staff'}"
        if dt.datetime.fromisoformat(p["expires"]) < at:
            return "Patron card expired"
        if p["fines"] >= FEE_LIMIT:
            return f"Outstanding fines {p['fines']} {CURRENCY} exceed the limit"
        return None

    # ---- session --------------------------------------------------------------------------

    def _on_ScStatus(self, msg: ScStatus) -> AcsStatus:
        return AcsStatus(online_status=self.online, checkin_ok=True, checkout_ok=True,
                         acs_renewal_policy=True, status_update_ok=True, offline_ok=True,
                         timeout_period="030", retries_allowed="003",
                         date_time_sync=format_date(_now()), protocol_version="2.00",
                         institution_id=self.institution, library_name="Thư viện Demo",
                         supported_messages=SUPPORTED, terminal_location=self.location)

    def _on_EndPatronSession(self, msg: EndPatronSession) -> EndSessionResponse:
        return EndSessionResponse(end_session=True, transaction_date=format_date(_now()),
                                  institution_id=self.institution, patron_id=msg.patron_id or "",
                                  screen_message=("Goodbye / Tạm biệt",))

    # ---- patrons --------------------------------------------------------------------------

    def _status_flags(self, p: sqlite3.Row | None, now: dt.datetime) -> str:
        if p is None:
            return "Y" * 4 + " " * 10
        flags = [" "] * 14
        expired = dt.datetime.fromisoformat(p["expires"]) < now
        if p["blocked"] or expired:
            flags[0:4] = ["Y"] * 4
        if p["block_reason"] and "lost" in p["block_reason"].lower():
            flags[4] = "Y"
        if self._loan_count(p["id"]) >= p["loan_limit"]:
            flags[5] = "Y"
        if p["fines"] >= FEE_LIMIT:
            flags[10] = "Y"
            flags[0] = "Y"
        return "".join(flags)

    def _on_PatronStatus(self, msg: PatronStatus) -> PatronStatusResponse:
        now = _now()
        p = self._patron(msg.patron_id)
        pin_ok = None if not msg.patron_password or p is None else verify_pin(
            msg.patron_password, p["pin_hash"])
        return PatronStatusResponse(
            patron_status=self._status_flags(p, now), language="000",
            transaction_date=format_date(now), institution_id=self.institution,
            patron_id=msg.patron_id or "", personal_name=p["name"] if p else "",
            valid_patron=p is not None, valid_patron_password=pin_ok,
            currency_type=CURRENCY, fee_amount=str(p["fines"]) if p else None,
            screen_message=() if p else ("Unknown patron",))

    def _on_PatronInformation(self, msg: PatronInformation) -> PatronInformationResponse:
        now = _now()
        p = self._patron(msg.patron_id)
        if p is None:
            return PatronInformationResponse(
                patron_status="Y" * 4 + " " * 10, transaction_date=format_date(now),
                hold_items_count=0, overdue_items_count=0, charged_items_count=0,
                fine_items_count=0, recall_items_count=0, unavailable_holds_count=0,
                institution_id=self.institution, patron_id=msg.patron_id or "",
                personal_name="", valid_patron=False, valid_patron_password=False,
                screen_message=("Unknown patron",))
        pin_ok = None if not msg.patron_password else verify_pin(msg.patron_password, p["pin_hash"])
        loans = self.db.execute("SELECT * FROM loans WHERE patron_id=? ORDER BY item_id",
                                (p["id"],)).fetchall()
        overdue = [r["item_id"] for r in loans if dt.datetime.fromisoformat(r["due_at"]) < now]
        holds = self.db.execute(f"SELECT * FROM holds WHERE patron_id=? AND {_ACTIVE_HOLD} "
                                "ORDER BY id", (p["id"], _iso(now))).fetchall()
        ready = [h["item_id"] for h in holds if h["state"] == "shelf"]
        waiting = [h["item_id"] for h in holds if h["state"] != "shelf"]
        fine_items = [fine_line(r) for r in self.db.execute(
            "SELECT * FROM fines WHERE patron_id=? ORDER BY id", (p["id"],))]
        summ = (msg.summary or "").ljust(10)
        start = int(msg.start_item) if msg.start_item and msg.start_item.isdigit() else 1
        end = int(msg.end_item) if msg.end_item and msg.end_item.isdigit() else start + 49

        def page(xs: list[str], pos: int) -> tuple[str, ...]:
            return tuple(xs[start - 1:end]) if summ[pos] == "Y" else ()

        hold_list = page(ready + waiting, 0)
        msgs = []
        if pin_ok is False:
            msgs.append("Invalid PIN")
        why = self._patron_checks(p, None, now)
        if why:
            msgs.append(why)
        return PatronInformationResponse(
            patron_status=self._status_flags(p, now), language="000",
            transaction_date=format_date(now), hold_items_count=len(holds),
            overdue_items_count=len(overdue), charged_items_count=len(loans),
            fine_items_count=len(fine_items), recall_items_count=0,
            unavailable_holds_count=len(waiting), institution_id=self.institution,
            patron_id=p["id"], personal_name=p["name"], hold_items_limit="0010",
            overdue_items_limit="0005", charged_items_limit=f"{p['loan_limit']:04d}",
            valid_patron=True, valid_patron_password=pin_ok, currency_type=CURRENCY,
            fee_amount=str(p["fines"]), fee_limit=str(FEE_LIMIT),
            hold_items=hold_list if self.holds_field == "AS" else (),
            overdue_items=page(overdue, 1), charged_items=page([r["item_id"] for r in loans], 2),
            fine_items=page(fine_items, 3),
            unavailable_hold_items=hold_list if self.holds_field == "CD" else page(waiting, 5),
            email_address=p["email"], home_phone_number=p["phone"],
            screen_message=tuple(msgs))

    def _on_BlockPatron(self, msg: BlockPatron) -> PatronStatusResponse:
        now = _now()
        p = self._patron(msg.patron_id)
        if p is not None:
            self.db.execute("UPDATE patrons SET blocked=1, block_reason=? WHERE id=?",
                            (msg.blocked_card_message or "Blocked by self-check", p["id"]))
            p = self._patron(msg.patron_id)
        return PatronStatusResponse(
            patron_status=self._status_flags(p, now), transaction_date=format_date(now),
            institution_id=self.institution, patron_id=msg.patron_id or "",
            personal_name=p["name"] if p else "", valid_patron=p is not None)

    def _on_FeePaid(self, msg: FeePaid) -> FeePaidResponse:
        p = self._patron(msg.patron_id)
        accepted = False
        try:
            amount = int(float(msg.fee_amount or "0"))
        except ValueError:
            amount = -1
        if p is not None and amount > 0:
            self.db.execute("UPDATE patrons SET fines=MAX(fines-?, 0) WHERE id=?", (amount, p["id"]))
            self._settle_fines(p["id"], amount, msg.fee_identifier)
            accepted = True
            # Kept like a circulation application (the BK transaction id as its key) so tests
            # can count how often one payment reached the ILS.
            xk = msg.transaction_id or None
            dup = bool(xk) and self._one("SELECT 1 FROM applications WHERE kind='fee_paid' "
                                         "AND xk=?", xk) is not None
            self.db.execute(
                "INSERT INTO applications (kind, patron_id, item_id, transaction_date, xk,"
                " no_block, duplicate, applied_at) VALUES ('fee_paid',?,NULL,?,?,0,?,?)",
                (p["id"], msg.transaction_date, xk, int(dup), _iso(_now())))
        return FeePaidResponse(payment_accepted=accepted, transaction_date=format_date(_now()),
                               institution_id=self.institution, patron_id=msg.patron_id or "",
                               transaction_id=msg.transaction_id,
                               screen_message=() if accepted else ("Payment not accepted",))

    def _settle_fines(self, patron_id: str, amount: int, fee_id: str | None) -> None:
        """Take a payment off the itemised fines: the one named by ``CG`` first, then the
        others oldest first; a fine paid in full is gone from the account, one paid in part
        keeps the rest."""
        rows = self.db.execute("SELECT id, amount FROM fines WHERE patron_id=? ORDER BY id",
                               (patron_id,)).fetchall()
        rows.sort(key=lambda r: str(r["id"]) != (fee_id or ""))
        for r in rows:
            if amount <= 0:
                break
            take = min(amount, int(r["amount"]))
            amount -= take
            if take == r["amount"]:
                self.db.execute("DELETE FROM fines WHERE id=?", (r["id"],))
            else:
                self.db.execute("UPDATE fines SET amount=amount-? WHERE id=?", (take, r["id"]))

    # ---- items --------------------------------------------------------------------------

    def _on_ItemInformation(self, msg: ItemInformation) -> ItemInformationResponse:
        now = _now()
        it = self._item(msg.item_id)
        if it is None:
            return ItemInformationResponse(circulation_status="01", security_marker="00",
                                           fee_type="01", transaction_date=format_date(now),
                                           item_id=msg.item_id or "", title="",
                                           screen_message=("Unknown item",))
        loan = self._loan(it["id"])
        hold = self._first_hold(it["id"], now)
        status = it["status"]
        if status == "hold_shelf" and (hold is None or hold["state"] != "shelf"):
            status = "available"  # its shelf hold expired
        return ItemInformationResponse(
            circulation_status=CIRC_STATUS.get(status, "01"), security_marker="02",
            fee_type="01", transaction_date=format_date(now),
            hold_queue_length=str(self._hold_count(it["id"], now)),
            due_date=_sip(loan["due_at"]) if loan else None,
            hold_pickup_date=_sip(hold["expires_at"]) if hold and hold["state"] == "shelf" else None,
            destination_location=hold["pickup_location"] if hold else None,
            hold_patron_id=hold["patron_id"] if hold else None,
            item_id=it["id"], title=it["title"], owner=it["owner_isil"],
            media_type=it["media_type"], permanent_location=it["location"],
            current_location=it["location"], item_properties=f"parts={it['parts']}",
            call_number=it["call_number"],
            screen_message=(f"{it['parts']} parts",) if it["parts"] > 1 else ())

    def _on_ItemStatusUpdate(self, msg: ItemStatusUpdate) -> ItemStatusUpdateResponse:
        it = self._item(msg.item_id)
        if it is not None:
            self.db.execute("UPDATE items SET properties=? WHERE id=?",
                            (msg.item_properties, it["id"]))
        return ItemStatusUpdateResponse(item_properties_ok=it is not None,
                                        transaction_date=format_date(_now()),
                                        item_id=msg.item_id or "",
                                        title=it["title"] if it else None,
                                        item_properties=msg.item_properties)

    # ---- circulation ----------------------------------------------------------------------

    def _circ(self, cls: type[CheckoutResponse] | type[RenewResponse], ok: bool,
              msg: Checkout | Renew, it: sqlite3.Row | None, due: str | None,
              screen: tuple[str, ...], renewal: bool = False) -> Any:
        return cls(ok=ok, renewal_ok=renewal, magnetic_media=False if it else None,
                   desensitize=ok if it else None, transaction_date=format_date(_now()),
                   institution_id=self.institution, patron_id=msg.patron_id or "",
                   item_id=msg.item_id or "", title=it["title"] if it else "",
                   due_date=due or "", media_type=it["media_type"] if it else None,
                   item_properties=f"parts={it['parts']}" if it else None,
                   currency_type=CURRENCY if it else None, screen_message=screen)

    def _on_Checkout(self, msg: Checkout) -> CheckoutResponse:
        now = _now()
        at = _when(msg.transaction_date, now) if msg.no_block else now
        p, it = self._patron(msg.patron_id), self._item(msg.item_id)
        refuse: str | None = None
        if it is None:
            refuse = "Unknown item"
        elif p is None:
            refuse = "Unknown patron"
        elif not msg.no_block:
            refuse = self._patron_checks(p, msg.patron_password, at)
        if refuse is None and it is not None and p is not None:
            loan = self._loan(it["id"])
            hold = self._first_hold(it["id"], now)
            if loan is not None and loan["patron_id"] == p["id"]:
                # Koha: a repeated checkout by the same patron is a renewal.
                return self._renew_loan(msg, CheckoutResponse, p, it, loan, at, "checkout")
            if loan is not None and not msg.no_block:
                refuse = "Item is checked out to another patron"
            elif it["status"] in ("lost", "missing") and not msg.no_block:
                refuse = f"Item is {it['status']}"
            elif hold is not None and hold["patron_id"] != p["id"] and not msg.no_block:
                refuse = "Item is on hold for another patron"
            elif self._loan_count(p["id"]) >= p["loan_limit"] and not msg.no_block:
                refuse = "Loan limit reached"
        if refuse is not None or it is None or p is None:
            return self._circ(CheckoutResponse, False, msg, it, None, (refuse or "Refused",))
        if msg.no_block and msg.nb_due_date:
            due = _when(msg.nb_due_date, at)
        else:
            due = (at + dt.timedelta(days=LOAN_DAYS.get(it["media_type"], 14))).replace(
                hour=23, minute=59, second=0)
        self.db.execute("DELETE FROM loans WHERE item_id=?", (it["id"],))
        self.db.execute("INSERT INTO loans VALUES (?,?,?,?,0)", (it["id"], p["id"], _iso(at), _iso(due)))
        self.db.execute("UPDATE items SET status='loaned' WHERE id=?", (it["id"],))
        self.db.execute("UPDATE holds SET state='filled' WHERE item_id=? AND patron_id=? AND "
                        "state IN ('queued','shelf')", (it["id"], p["id"]))
        self._record("checkout", p["id"], it["id"], msg.transaction_date, msg, bool(msg.no_block))
        screen = ["Checked out / Đã mượn"]
        if it["parts"] > 1:
            screen.append(f"This item has {it['parts']} parts")
        return self._circ(CheckoutResponse, True, msg, it, format_date(due), tuple(screen))

    def _renew_loan(self, msg: Checkout | Renew, cls: Any, p: sqlite3.Row, it: sqlite3.Row,
                    loan: sqlite3.Row, at: dt.datetime, kind: str) -> Any:
        hold = self._first_hold(it["id"], _now())
        if not msg.no_block:
            if hold is not None and hold["patron_id"] != p["id"]:
                return self._circ(cls, False, msg, it, _sip(loan["due_at"]),
                                  ("Cannot renew: item is on hold for another patron",))
            if loan["renewals"] >= MAX_RENEWALS:
                return self._circ(cls, False, msg, it, _sip(loan["due_at"]),
                                  ("Cannot renew: renewal limit reached",))
        if msg.no_block and msg.nb_due_date:
            due = _when(msg.nb_due_date, at)
        else:
            due = (at + dt.timedelta(days=LOAN_DAYS.get(it["media_type"], 14))).replace(
                hour=23, minute=59, second=0)
        self.db.execute("UPDATE loans SET due_at=?, renewals=renewals+1 WHERE item_id=?",
                        (_iso(due), it["id"]))
        self._record(kind, p["id"], it["id"], msg.transaction_date, msg, bool(msg.no_block))
        return self._circ(cls, True, msg, it, format_date(due), ("Renewed / Đã gia hạn",),
                          renewal=True)

    def _on_Renew(self, msg: Renew, kind: str = "renew") -> RenewResponse:
        now = _now()
        at = _when(msg.transaction_date, now) if msg.no_block else now
        p, it = self._patron(msg.patron_id), self._item(msg.item_id)
        refuse = None if p else "Unknown patron"
        if refuse is None and not msg.no_block:
            why = self._patron_checks(p, msg.patron_password, at)
            refuse = why if why and "fines" not in why else None
        loan = self._loan(it["id"]) if it is not None else None
        if refuse is None and (it is None or loan is None or p is None
                               or loan["patron_id"] != p["id"]):
            refuse = "Item is not checked out to this patron"
        if refuse is not None or it is None or loan is None or p is None:
            return self._circ(RenewResponse, False, msg, it, None, (refuse or "Refused",))
        resp: RenewResponse = self._renew_loan(msg, RenewResponse, p, it, loan, at, kind)
        return resp

    def _on_RenewAll(self, msg: RenewAll) -> RenewAllResponse:
        p = self._patron(msg.patron_id)
        renewed: list[str] = []
        unrenewed: list[str] = []
        if p is not None and (not msg.patron_password or verify_pin(msg.patron_password, p["pin_hash"])):
            for loan in self.db.execute("SELECT item_id FROM loans WHERE patron_id=? ORDER BY item_id",
                                        (p["id"],)).fetchall():
                r = self._on_Renew(Renew(transaction_date=msg.transaction_date,
                                         patron_id=p["id"], item_id=loan["item_id"]), "renew_all")
                (renewed if r.ok else unrenewed).append(loan["item_id"])
        return RenewAllResponse(ok=p is not None, renewed_count=len(renewed),
                                unrenewed_count=len(unrenewed), transaction_date=format_date(_now()),
                                institution_id=self.institution, renewed_items=tuple(renewed),
                                unrenewed_items=tuple(unrenewed),
                                screen_message=() if p else ("Unknown patron",))

    def _on_Checkin(self, msg: Checkin) -> CheckinResponse:
        now = _now()
        returned = _when(msg.return_date or msg.transaction_date, now) if msg.no_block else now
        it = self._item(msg.item_id)
        here = msg.current_location or self.location
        if it is None:
            return CheckinResponse(ok=False, resensitize=False, magnetic_media=None, alert=True,
                                   transaction_date=format_date(now),
                                   institution_id=self.institution, item_id=msg.item_id or "",
                                   permanent_location="", screen_message=("Unknown item",))
        loan = self._loan(it["id"])
        screen: list[str] = []
        patron_id = loan["patron_id"] if loan else None
        if loan is not None:
            due = dt.datetime.fromisoformat(loan["due_at"])
            days = (returned.date() - due.date()).days
            if days > 0:
                fine = days * FINE_PER_DAY
                self.db.execute("INSERT INTO fines (patron_id, item_id, amount, reason, created_at)"
                                " VALUES (?,?,?,?,?)",
                                (loan["patron_id"], it["id"], fine, f"overdue {days} days", _iso(now)))
                self.db.execute("UPDATE patrons SET fines=fines+? WHERE id=?", (fine, loan["patron_id"]))
                screen.append(f"Overdue {days} days: fine {fine} {CURRENCY}")
            self.db.execute("DELETE FROM loans WHERE item_id=?", (it["id"],))
        elif it["status"] == "lost":
            screen.append("Lost item found")
        elif it["status"] == "missing":
            screen.append("Missing item found")
        else:
            screen.append("Item was not checked out")
        # Koha with checked_in_ok off: ok = 0 for an item that was not on loan (still returned)
        ok = loan is not None or not self.checkin_not_loaned_ok
        kw: dict[str, Any] = {}
        hold = self._first_hold(it["id"], now)
        alert = False
        if hold is not None:
            hp = self._patron(hold["patron_id"])
            expires = now + dt.timedelta(days=7)
            self.db.execute("UPDATE holds SET state='shelf', expires_at=? WHERE id=?",
                            (_iso(expires), hold["id"]))
            self.db.execute("UPDATE items SET status='hold_shelf' WHERE id=?", (it["id"],))
            same = hold["pickup_location"] == here
            kw.update(alert_type="01" if same else "02", hold_patron_id=hold["patron_id"],
                      hold_patron_name=hp["name"] if hp else None,
                      sort_bin="HOLD" if same else "TRANSIT",
                      destination_location=None if same else hold["pickup_location"])
            screen.append("Put on the hold shelf / Để lên kệ đặt trước" if same
                          else f"Send to {hold['pickup_location']} for a hold")
            alert = True
        elif it["owner_isil"] != self.home_isil:
            self.db.execute("UPDATE items SET status='in_transit' WHERE id=?", (it["id"],))
            kw.update(alert_type="04", destination_location=it["owner_isil"], sort_bin="TRANSIT")
            screen.append(f"Return to owning library {it['owner_isil']}")
            alert = True
        else:
            self.db.execute("UPDATE items SET status='available' WHERE id=?", (it["id"],))
            kw.update(sort_bin="SHELF")
        self._record("checkin", None, it["id"], msg.transaction_date, msg, bool(msg.no_block))
        return CheckinResponse(
            ok=ok, resensitize=True, magnetic_media=False, alert=alert,
            transaction_date=format_date(now), institution_id=self.institution, item_id=it["id"],
            permanent_location=it["location"], title=it["title"], patron_id=patron_id,
            media_type=it["media_type"], item_properties=f"parts={it['parts']}",
            call_number=it["call_number"], screen_message=tuple(screen), **kw)

    def _on_Hold(self, msg: Hold) -> HoldResponse:
        now = _now()
        p, it = self._patron(msg.patron_id), self._item(msg.item_id)
        base: dict[str, Any] = {
            "transaction_date": format_date(now), "institution_id": self.institution,
            "patron_id": msg.patron_id or "", "item_id": msg.item_id}
        if p is None or it is None:
            return HoldResponse(ok=False, available=False,
                                screen_message=("Unknown patron or item",), **base)
        if msg.patron_password and not verify_pin(msg.patron_password, p["pin_hash"]):
            return HoldResponse(ok=False, available=False, screen_message=("Invalid PIN",), **base)
        if msg.hold_mode == "-":
            cur = self.db.execute("UPDATE holds SET state='cancelled' WHERE item_id=? AND "
                                  "patron_id=? AND state IN ('queued','shelf')", (it["id"], p["id"]))
            return HoldResponse(ok=cur.rowcount > 0, available=it["status"] == "available",
                                title=it["title"], **base)
        pickup = msg.pickup_location or self.location
        expires = _when(msg.expiration_date, now + dt.timedelta(days=30))
        if msg.hold_mode == "*":
            self.db.execute("UPDATE holds SET pickup_location=?, expires_at=? WHERE item_id=? AND "
                            "patron_id=? AND state='queued'", (pickup, _iso(expires), it["id"], p["id"]))
        else:
            self.db.execute("INSERT INTO holds (item_id, patron_id, placed_at, pickup_location, "
                            "expires_at, state) VALUES (?,?,?,?,?,'queued')",
                            (it["id"], p["id"], _iso(now), pickup, _iso(expires)))
        return HoldResponse(ok=True, available=it["status"] == "available",
                            expiration_date=format_date(expires),
                            queue_position=str(self._hold_count(it["id"], now) or 1),
                            pickup_location=pickup,
                            title=it["title"], **base)

    # ---- administration ---------------------------------------------------------------------

    def set_pin(self, patron_id: str, pin: str) -> None:
        """Set a patron's PIN (hashed with the full cost)."""
        import os

        with self.lock:
            self.db.execute("UPDATE patrons SET pin_hash=? WHERE id=?",
                            (hash_pin(pin, os.urandom(16), PIN_COST), patron_id))
