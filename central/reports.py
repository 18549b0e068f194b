"""Per-library statistics by local day and month, and the monthly report files (CSV, XLSX).

The figures come from what the collector stored: the boxes' hourly counters (``stats``),
the alarms and the gateways' conflicts. A local day (``[central] timezone``) is the range
of UTC hours it covers, as in the boxes' own ``smartlib stats export``
(:mod:`edge.services.statistics`), so both give the same numbers for the same hours.

| figure | source |
|---|---|
| loans, returns, renewals | counters ``checkout``, ``return``, ``renew`` |
| offline transactions | counters ``checkout_offline`` + ``return_offline`` |
| visitors in, out | counters ``visitors_in``, ``visitors_out`` (gates) |
| conflicts | the gateways' conflicts, by the day their transaction was made |
| gate alarms, other alarms | the alarms, by the day they were raised (kind ``gate`` or not) |

Must not do: write to the database, or know about HTTP (:mod:`central.web.stats` does).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from central.db import parse_stamp, stamp
from central.errors import CentralError
from central.store import CentralStore

FIGURES = ("loans", "returns", "renewals", "offline_transactions", "conflicts",
           "visitors_in", "visitors_out", "gate_alarms", "other_alarms")
"""The figures of a day, in the reports' column order."""

COLUMNS_VI = {"loans": "Lượt mượn", "returns": "Lượt trả", "renewals": "Lượt gia hạn",
              "offline_transactions": "Giao dịch ngoại tuyến", "conflicts": "Xung đột",
              "visitors_in": "Lượt vào", "visitors_out": "Lượt ra",
              "gate_alarms": "Cảnh báo cổng", "other_alarms": "Cảnh báo khác"}
"""The reports' Vietnamese column names (the language the management agencies read)."""

GATE_ALARM_KIND = "gate"
"""The alarm kind of a security gate (an item not checked out passing it); the edge's
``edge.services.gate.ALARM_KIND``."""

_COUNTERS = {"loans": ("checkout",), "returns": ("return",), "renewals": ("renew",),
             "offline_transactions": ("checkout_offline", "return_offline"),
             "visitors_in": ("visitors_in",), "visitors_out": ("visitors_out",)}

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


class ReportError(CentralError):
    """A report was asked for with a bad period (a malformed month, a reversed range)."""


def empty_figures() -> dict[str, int]:
    """Every figure at zero."""
    return dict.fromkeys(FIGURES, 0)


@dataclass(frozen=True)
class SiteDays:
    """One library's figures for each local day of a period, and their totals."""

    site_id: str
    name: str
    first: date
    last: date
    days: dict[date, dict[str, int]] = field(default_factory=dict)

    @property
    def totals(self) -> dict[str, int]:
        """Every figure summed over the period."""
        out = empty_figures()
        for figures in self.days.values():
            for k, v in figures.items():
                out[k] += v
        return out

    def rows(self) -> list[tuple[date, dict[str, int]]]:
        """``(day, figures)`` for every day of the period, in order (zero days included)."""
        out = []
        day = self.first
        while day <= self.last:
            out.append((day, self.days.get(day) or empty_figures()))
            day += timedelta(days=1)
        return out


def parse_month(text: str) -> tuple[date, date]:
    """``YYYY-MM`` as its first and last day.

    Raises:
        ReportError: ``text`` is not a month.
    """
    m = _MONTH.match(text or "")
    if m is None:
        raise ReportError(f"month {text!r} is not YYYY-MM")
    first = date(int(m.group(1)), int(m.group(2)), 1)
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return first, following - timedelta(days=1)


def current_month(now: datetime, tz: str) -> str:
    """The month (``YYYY-MM``) that ``now`` falls in, in ``tz``."""
    return now.astimezone(ZoneInfo(tz)).strftime("%Y-%m")


def _local_start(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), zone).astimezone(UTC)


def site_days(store: CentralStore, first: date, last: date, tz: str,
              site_ids: Sequence[str] | None = None) -> list[SiteDays]:
    """Every library's figures for the local days ``first``..``last`` (inclusive).

    Args:
        store: the central store.
        first, last: the period, as local days in ``tz``.
        tz: the console's time zone.
        site_ids: the libraries (default every library the console knows), in that order.

    Raises:
        ReportError: ``last`` is before ``first``.
    """
    if last < first:
        raise ReportError(f"the period ends ({last}) before it starts ({first})")
    zone = ZoneInfo(tz)
    start, end = _local_start(first, zone), _local_start(last + timedelta(days=1), zone)
    since, until = stamp(start), stamp(end)
    site_names = {s.site_id: s.name for s in store.sites.list()}
    wanted = list(site_ids) if site_ids is not None else sorted(site_names)
    out = {s: SiteDays(s, site_names.get(s, ""), first, last) for s in wanted}

    # The local day of each UTC hour of the period (a counter bucket starts on an hour).
    hour_day: dict[str, date] = {}
    at = start
    while at < end:
        hour_day[stamp(at)[:13]] = at.astimezone(zone).date()
        at += timedelta(hours=1)

    def bucket(site: str, day: date) -> dict[str, int]:
        days = out[site].days
        figures = days.get(day)
        if figures is None:
            figures = days[day] = empty_figures()
        return figures

    for site, hour, counters in store.stats.site_hours(since, until, site_ids):
        day = hour_day.get(hour)
        if day is None or site not in out:
            continue
        figures = bucket(site, day)
        for figure, counter_names in _COUNTERS.items():
            for name in counter_names:
                figures[figure] += int(counters.get(name, 0))
    for site, kind, raised_at in store.stats.alarm_times(since, until, site_ids):
        if site in out:
            figure = "gate_alarms" if kind == GATE_ALARM_KIND else "other_alarms"
            bucket(site, parse_stamp(raised_at).astimezone(zone).date())[figure] += 1
    for site, created_at in store.stats.conflict_times(since, until, site_ids):
        if site in out:
            bucket(site, parse_stamp(created_at).astimezone(zone).date())["conflicts"] += 1
    return [out[s] for s in wanted]


def monthly(store: CentralStore, month: str, tz: str,
            site_ids: Sequence[str] | None = None) -> list[SiteDays]:
    """Every library's figures for each day of ``month`` (``YYYY-MM``)."""
    first, last = parse_month(month)
    return site_days(store, first, last, tz, site_ids)


# ---- files -----------------------------------------------------------------------------------

CSV_HEADER = ("Mã thư viện", "Thư viện", "Ngày", *(COLUMNS_VI[f] for f in FIGURES))
"""The CSV's header: the library's code (its site id) and name, the day, the figures."""


def to_csv(reports: Sequence[SiteDays]) -> str:
    """One row per library and day (every day of the period, zero days too), no totals:
    the data for a spreadsheet or another program. UTF-8 with a BOM, so Excel reads the
    Vietnamese names."""
    buf = io.StringIO()
    buf.write("\ufeff")
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(CSV_HEADER)
    for r in reports:
        for day, figures in r.rows():
            w.writerow([r.site_id, r.name, day.isoformat(), *(figures[f] for f in FIGURES)])
    return buf.getvalue()


SUMMARY_SHEET = "Tổng hợp"
"""The XLSX's first sheet: one row of month totals per library."""

TOTAL_LABEL = "Tổng cộng"
"""The label of the totals row."""

DAY_COLUMN = "Ngày"

HEADER_ROWS = 5
"""Rows above a library sheet's column names (title, library, code, period, blank)."""


def sheet_title(site_id: str, taken: set[str]) -> str:
    """A valid, unique sheet title for a library (31 characters, none of ``[]:*?/\\``)."""
    base = re.sub(r"[\[\]:*?/\\]", "_", site_id)[:31] or "site"
    title, n = base, 1
    while title.lower() in taken:
        n += 1
        title = f"{base[:31 - len(str(n)) - 1]}~{n}"
    taken.add(title.lower())
    return title


def _period(r: SiteDays) -> str:
    return f"{r.first:%d/%m/%Y} – {r.last:%d/%m/%Y}"


def to_xlsx(reports: Sequence[SiteDays], *, generated_at: datetime | None = None) -> bytes:
    """The monthly report a library sends to its management agency, as an XLSX workbook.

    A first sheet (:data:`SUMMARY_SHEET`) has each library's totals and a network total;
    then one sheet per library: a header (the report's title and month, the library's name
    and code, the period), the Vietnamese column names, one row per day and a
    :data:`TOTAL_LABEL` row. Numbers are stored as values (not formulas), so any reader
    sees the totals.
    """
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    wb = Workbook(write_only=True)  # streamed: a network's month in well under a second
    summary = wb.create_sheet(SUMMARY_SHEET)
    taken = {SUMMARY_SHEET.lower()}

    def styled(ws: Any, values: Sequence[Any], font: Any) -> list[Any]:
        cells = []
        for v in values:
            cell = WriteOnlyCell(ws, value=v)
            cell.font = font
            cells.append(cell)
        return cells

    title_font, bold = Font(bold=True, size=14), Font(bold=True)
    month = f"{reports[0].first:%m/%Y}" if reports else ""
    made = (generated_at or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    summary.column_dimensions["A"].width = 18
    summary.column_dimensions["B"].width = 30
    summary.append(styled(summary, [f"BÁO CÁO THỐNG KÊ THƯ VIỆN THÁNG {month}"], title_font))
    summary.append([f"Lập lúc: {made}"])
    summary.append([])
    summary.append(styled(summary, ["Mã thư viện", "Thư viện",
                                    *(COLUMNS_VI[f] for f in FIGURES)], bold))
    network = empty_figures()
    for r in reports:
        totals = r.totals
        for f in FIGURES:
            network[f] += totals[f]
        summary.append([r.site_id, r.name, *(totals[f] for f in FIGURES)])
        ws = wb.create_sheet(sheet_title(r.site_id, taken))
        ws.column_dimensions["A"].width = 18
        for i in range(2, len(FIGURES) + 2):
            ws.column_dimensions[get_column_letter(i)].width = 14
        ws.freeze_panes = f"B{HEADER_ROWS + 2}"
        ws.append(styled(ws, [f"BÁO CÁO THỐNG KÊ THÁNG {r.first:%m/%Y}"], title_font))
        ws.append(["Thư viện:", r.name or r.site_id])
        ws.append(["Mã thư viện (ISIL):", r.site_id])
        ws.append(["Thời gian:", _period(r)])
        ws.append([])
        ws.append(styled(ws, [DAY_COLUMN, *(COLUMNS_VI[f] for f in FIGURES)], bold))
        for day, figures in r.rows():
            cell = WriteOnlyCell(ws, value=day)
            cell.number_format = "DD/MM/YYYY"
            ws.append([cell, *(figures[f] for f in FIGURES)])
        ws.append(styled(ws, [TOTAL_LABEL, *(totals[f] for f in FIGURES)], bold))
    summary.append(styled(summary, [TOTAL_LABEL, "", *(network[f] for f in FIGURES)], bold))
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
