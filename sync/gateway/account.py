"""A patron's whole account from the ILS's SIP2 answers: the gateway's ``account`` look-up.

SIP2 gives one item list per 63 (the summary field asks for one of hold, overdue, charged,
fine…), so :func:`read_account` sends 63 once per list, then 17 once per loan and hold for
titles, due dates and hold details:

* loans: 64 ``AU`` (charged items), overdue when listed in ``AT``; the 18's ``AH`` due date;
* holds: 64 ``AS`` (or ``CD``, per the site's profile); a hold is ready when its item's 18
  says "on the hold shelf" (status 08) for this patron (``CY``), or, when the ILS sends no
  ``CY``, when it is on the shelf and not listed among the unavailable holds (``CD``); the
  pickup location (``CT``) and the date a ready hold is kept until (``CM``) are taken only
  from an 18 whose ``CY`` is this patron (never another patron's hold);
* fines: 64 ``AV``, one line per fine, read by :func:`parse_fine_item`; the total is ``BV``.

It talks to a SIP2 session it is given; it knows nothing about MQTT or the ledger.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from sync.messages import Account, AccountFine, AccountHold, AccountLoan
from sync.sip2.profiles import Sip2Profile

SUMMARIES = ("charged", "overdue", "hold", "unavailable", "fine")
"""The 63 summary positions asked, one request each (SIP2: one list per request)."""

_FINE_LINE = re.compile(
    r"^(?P<id>\S+)\s+[$]?(?P<amount>\d+(?:[.,]\d+)?)\s+(?:(?P<currency>[A-Z]{3})\s+)?"
    r"(?:(?P<date>\d{8})\s+)?(?P<reason>.*?)\s*(?:\(item (?P<item>[^)\s]+)\))?\s*$")


def _decimal(text: str | None) -> Decimal | None:
    if text is None or not text.strip():
        return None
    try:
        return Decimal(text.strip().replace(",", "."))
    except InvalidOperation:
        return None


def parse_fine_item(text: str, currency: str) -> AccountFine:
    """One 64 ``AV`` fine item as an :class:`AccountFine`.

    SIP2 leaves ``AV``'s text to the ILS. The form read is ``<id> <amount> [<currency>]
    [<YYYYMMDD>] <reason> [(item <id>)]`` (the demo ILS's; Evergreen's ``<id> $<amount>
    <text>`` also fits). Any other text is kept whole as the reason with no amount, so
    staff still see what the ILS said.
    """
    m = _FINE_LINE.match(text.strip())
    if m is None:
        return AccountFine(amount=None, currency=currency, reason=text.strip())
    date = None
    if m["date"]:
        try:
            date = dt.datetime.strptime(m["date"], "%Y%m%d").date().isoformat()
        except ValueError:
            date = None
    return AccountFine(fine_id=m["id"], amount=_decimal(m["amount"]),
                       currency=m["currency"] or currency, reason=m["reason"], date=date,
                       item_id=m["item"])


def read_account(c: Any, patron: str, pin: str | None, prof: Sip2Profile,
                 first: Any) -> Account:
    """The patron's account, asked of the ILS on session ``c``.

    Args:
        c: a logged-in SIP2 session.
        patron: the patron id.
        pin: the patron's PIN, when the ILS wants it with every 63.
        prof: the site's profile (due date formats, where holds are listed).
        first: a 64 for the patron already at hand (its ``BV`` and ``BH`` are the total).
    """
    lists = {s: (first if s == "charged" else c.patron_information(patron, pin=pin, summary=s))
             for s in SUMMARIES}
    currency = (first.currency_type or "VND").strip() or "VND"
    overdue = {prof.normalize_barcode(i) for i in lists["overdue"].overdue_items}
    loans = []
    for item in lists["charged"].charged_items:
        info = c.item_information(item)
        loans.append(AccountLoan(item_id=item, title=info.title or "",
                                 due_date=prof.due_date_iso(info.due_date),
                                 overdue=prof.normalize_barcode(item) in overdue))
    hold_list = lists["hold"]
    unavailable = set(lists["unavailable"].unavailable_hold_items)
    holds = []
    for item in dict.fromkeys(prof.hold_items(hold_list.hold_items,
                                              hold_list.unavailable_hold_items)):
        info = c.item_information(item)
        on_shelf = info.circulation_status == "08"
        mine = info.hold_patron_id == patron
        ready = on_shelf and (mine if info.hold_patron_id else item not in unavailable)
        holds.append(AccountHold(
            item_id=item, title=info.title or "", ready=ready,
            pickup_location=info.destination_location if mine else None,
            expires=prof.due_date_iso(info.hold_pickup_date) if mine and ready else None))
    fines = [parse_fine_item(text, currency) for text in lists["fine"].fine_items]
    return Account(loans=loans, holds=holds, fines=fines,
                   fine_total=_decimal(first.fee_amount), currency=currency)
