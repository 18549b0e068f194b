"""Per-day figures for management reports, from edge stores (``smartlib stats export``).

Per site-local day (``site.timezone``) and per box: checkouts (and how many offline),
returns, renewals, visitors in and out (gate boxes), alarms split by kind (security-gate
alarms, i.e. an item that was not checked out passing a gate, and every other kind of
staff alarm), offline transactions journaled, and conflicts. Counters live in the store per UTC hour; a local day is the
range of UTC hours it covers (Vietnam is UTC+7, so a day starts at 17:00 UTC).

Several boxes can be combined into one report (:func:`export_rows`; the command is
``stats export`` in :mod:`edge.cli`). The helpers :func:`day_hours`, :func:`local_day` and
:func:`today_counts` are also used by the staff console.

Must not do: write to a store, or parse options and settings (the CLI does).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from edge.services.gate import ALARM_KIND
from edge.store import Store

COLUMNS = ("date", "device", "role", "checkouts", "checkouts_offline", "returns", "renewals",
           "visitors_in", "visitors_out", "security_alarms", "other_alarms",
           "offline_transactions", "conflicts")
"""The export's columns, in order (CSV header and JSON keys; JSON rows also carry
``alarms_by_kind``)."""

SECURITY_ALARM_KIND = ALARM_KIND
"""The ``alarms.kind`` of a security-gate alarm."""

_COUNTERS = {"checkouts": "checkout", "checkouts_offline": "checkout_offline",
             "returns": "return", "renewals": "renew", "visitors_in": "visitors_in",
             "visitors_out": "visitors_out"}


def _utc_hour(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H")


def _utc_stamp(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def day_bounds(day: date, tz: str) -> tuple[datetime, datetime]:
    """The local day ``day`` in ``tz`` as ``[start, end)`` aware datetimes."""
    zone = ZoneInfo(tz)
    start = datetime.combine(day, time(0), zone)
    return start, datetime.combine(day + timedelta(days=1), time(0), zone)


def day_hours(day: date, tz: str) -> tuple[str, str]:
    """The first and last UTC counter buckets (``YYYY-MM-DDTHH``) of a local day."""
    start, end = day_bounds(day, tz)
    return _utc_hour(start), _utc_hour(end - timedelta(hours=1))


def local_day(at: datetime, tz: str) -> date:
    """The local date of ``at`` in ``tz``."""
    return at.astimezone(ZoneInfo(tz)).date()


def day_figures(store: Store, day: date, tz: str) -> dict[str, Any]:
    """The report's numbers of one box for one local day.

    ``security_alarms`` counts security-gate alarms, ``other_alarms`` every other kind
    (e.g. ``loaned_alarm_on``: a kiosk loan whose release failed); ``alarms_by_kind`` has
    the count of each kind seen that day.
    """
    since, until = day_hours(day, tz)
    totals = store.counters.totals(since, until)
    out: dict[str, Any] = {k: int(totals.get(name, 0)) for k, name in _COUNTERS.items()}
    start, end = (_utc_stamp(d) for d in day_bounds(day, tz))
    by_kind = {r["kind"]: int(r["n"]) for r in store.query(
        "SELECT kind, COUNT(*) AS n FROM alarms WHERE created_at >= ? AND created_at < ? "
        "GROUP BY kind ORDER BY kind", (start, end))}
    out["security_alarms"] = by_kind.get(SECURITY_ALARM_KIND, 0)
    out["other_alarms"] = sum(n for k, n in by_kind.items() if k != SECURITY_ALARM_KIND)
    out["alarms_by_kind"] = by_kind
    out["offline_transactions"] = _count(
        store, "SELECT COUNT(*) AS n FROM outbox WHERE offline = 1 AND created_at >= ? AND "
               "created_at < ?", (start, end))
    out["conflicts"] = _count(store, "SELECT COUNT(*) AS n FROM conflicts WHERE created_at >= ? "
                                     "AND created_at < ?", (start, end))
    return out


def _count(store: Store, sql: str, params: tuple[Any, ...]) -> int:
    row = store.query_one(sql, params)
    return int(row["n"]) if row is not None else 0


def today_counts(store: Store, tz: str, now: datetime | None = None) -> dict[str, int]:
    """Today's figures (site-local day) for the staff console.

    Keys: ``loans``, ``loans_offline``, ``returns``, ``renewals``, ``visitors_in``,
    ``visitors_out``, ``alarms`` (every kind, as the console's alarm list),
    ``security_alarms``, ``other_alarms``, ``offline_transactions``, ``conflicts``.
    """
    f = day_figures(store, local_day(now or datetime.now(UTC), tz), tz)
    return {"loans": f["checkouts"], "loans_offline": f["checkouts_offline"],
            "returns": f["returns"], "renewals": f["renewals"],
            "visitors_in": f["visitors_in"], "visitors_out": f["visitors_out"],
            "alarms": f["security_alarms"] + f["other_alarms"],
            "security_alarms": f["security_alarms"], "other_alarms": f["other_alarms"],
            "offline_transactions": f["offline_transactions"], "conflicts": f["conflicts"]}


def export_rows(stores: Iterable[tuple[str, str, Store]], first: date, last: date,
                tz: str) -> list[dict[str, Any]]:
    """One row per local day and box, days in order then boxes in the given order.

    Args:
        stores: ``(device id, role, open store)`` of each box.
        first, last: the local days to report, inclusive.
        tz: the site's time zone.
    """
    if last < first:
        raise ValueError(f"--to {last} is before --from {first}")
    boxes = list(stores)
    rows = []
    day = first
    while day <= last:
        for device, role, store in boxes:
            rows.append({"date": day.isoformat(), "device": device, "role": role,
                         **day_figures(store, day, tz)})
        day += timedelta(days=1)
    return rows


def render(rows: list[dict[str, Any]], fmt: str) -> str:
    """The rows as CSV (header first; ``alarms_by_kind`` left out) or as a JSON document."""
    if fmt == "json":
        return json.dumps({"columns": list(COLUMNS), "rows": rows}, ensure_ascii=False, indent=1)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()
