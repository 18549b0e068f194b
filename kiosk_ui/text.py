"""Patron-facing wording shared by models and views: item statuses, dates, money.

Everything is translated through Qt's installed translator (context ``Status``) at the
moment it is shown, so a language switch re-renders lists without refetching anything.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from PySide6.QtCore import QCoreApplication as Q

from kiosk_ui.i18n import error_text

# How a row looks: ok (green), pending (blue), warn (amber), bad (red).
OK, PENDING, WARN, BAD = "ok", "pending", "warn", "bad"

STATUS_KIND = {
    "checking": PENDING,
    "loaned": OK,
    "offline_accepted": OK,
    "returned": OK,
    "renewed": OK,
    "refused": BAD,
    "incomplete_set": WARN,
    "on_hold_for_other": BAD,
    "loaned_alarm_on": WARN,
}

# Statuses that mean the transaction happened (they go on the receipt).
DONE_STATUSES = frozenset({"loaned", "offline_accepted", "returned", "renewed", "loaned_alarm_on"})

_MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def format_date(value: str | None, language: str) -> str:
    """``2026-12-07`` → ``07/12/2026`` (vi) or ``7 Dec 2026`` (en); unparsable values as-is."""
    if not value:
        return ""
    try:
        d = dt.date.fromisoformat(value[:10])
    except ValueError:
        return value
    if language == "vi":
        return f"{d.day:02d}/{d.month:02d}/{d.year}"
    return f"{d.day} {_MONTHS_EN[d.month - 1]} {d.year}"


def format_money(amount: Any, currency: str | None, language: str) -> str:
    """``15000, VND`` → ``15.000 ₫`` (vi) or ``15,000 VND`` (en)."""
    try:
        value = float(amount)
    except (TypeError, ValueError):
        return f"{amount} {currency or ''}".strip()
    whole = value.is_integer()
    text = f"{value:,.0f}" if whole else f"{value:,.2f}"
    cur = currency or ""
    if language == "vi":
        text = text.replace(",", "\u2009").replace(".", ",").replace("\u2009", ".")
        return f"{text} ₫" if cur in ("VND", "") else f"{text} {cur}"
    return f"{text} {cur}".strip()


def sort_text(sort: dict[str, Any] | None) -> str:
    """The sorting instruction for a returned item, or ``""``."""
    if not sort:
        return ""
    kind = sort.get("kind")
    if kind == "hold_shelf":
        return Q.translate("Status", "Reserved for another reader: put it on the hold shelf")
    if kind == "transit":
        dest = str(sort.get("destination") or "")
        return Q.translate("Status", "Goes to {place}: put it in the transit box").format(place=dest)
    if kind == "bin":
        return Q.translate("Status", "Put it in return bin {bin}").format(bin=sort.get("bin") or "")
    return ""


def status_text(item: dict[str, Any], language: str) -> str:
    """One line saying what happened to ``item`` (an ItemResult), in ``language``."""
    status = item.get("status", "")
    due = format_date(item.get("due_date"), language)
    message = item.get("message") if isinstance(item.get("message"), dict) else None
    if status == "checking":
        return Q.translate("Status", "Checking…")
    if status == "loaned":
        return Q.translate("Status", "Borrowed — due {date}").format(date=due)
    if status == "offline_accepted":
        return Q.translate("Status", "Borrowed (offline) — due {date}").format(date=due)
    if status == "loaned_alarm_on":
        return Q.translate("Status", "Borrowed, but the alarm is still on: please see the staff")
    if status == "incomplete_set":
        return Q.translate("Status", "Incomplete set: put all parts on the pad")
    if status == "on_hold_for_other":
        return Q.translate("Status", "On hold for another patron: please leave it at the desk")
    if status == "returned":
        parts = [Q.translate("Status", "Returned")]
        sort = sort_text(item.get("sort"))
        if sort:
            parts.append(sort)
        return " · ".join(parts)
    if status == "renewed":
        return Q.translate("Status", "Renewed — now due {date}").format(date=due)
    if status == "refused":
        reason = error_text(item.get("code"), message, language)
        ils = str(item.get("ils_message") or "").strip()
        if ils and ils not in reason:  # the ILS's own words (a renewal refusal's AF)
            reason = f"{reason} ({ils})"
        return Q.translate("Status", "Refused: {reason}").format(reason=reason)
    return error_text(item.get("code"), message, language) if message or item.get("code") else status


def fine_text(item: dict[str, Any], language: str) -> str:
    """The fine notice of an item result, or ``""``."""
    fine = item.get("fine")
    if not isinstance(fine, dict) or not fine.get("amount"):
        return ""
    money = format_money(fine.get("amount"), fine.get("currency"), language)
    return Q.translate("Status", "Fine to pay: {amount}").format(amount=money)
