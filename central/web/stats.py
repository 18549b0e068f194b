"""The console's statistics pages, charts and report downloads.

- ``/stats``: the network summary of a month (each library's totals, the network's).
- ``/sites/{site}/stats``: one library: charts of the last 30 days (inline SVG, drawn
  here, no script) and the month's figures by day.
- ``/stats/export.csv`` and ``/stats/export.xlsx`` (``month``, optional ``site``): the
  monthly report (:mod:`central.reports`); ``/api/stats`` the same figures as JSON.

Every role may read and export statistics (they are counts, with no patron data). The
routes reach the store and the page renderer through :class:`StatsContext`; they never
write to the database.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup, escape
from starlette.concurrency import run_in_threadpool

from central.errors import NotFound
from central.reports import (
    FIGURES,
    ReportError,
    SiteDays,
    current_month,
    empty_figures,
    monthly,
    parse_month,
    site_days,
    to_csv,
    to_xlsx,
)
from central.store import CentralStore
from central.web.i18n import text

CHART_DAYS = 30
"""Days shown by a library's charts (today included)."""

CHARTS = (("stats.chart.circulation", ("loans", "returns", "renewals")),
          ("stats.chart.visitors", ("visitors_in", "visitors_out")),
          ("stats.chart.exceptions", ("offline_transactions", "conflicts", "gate_alarms",
                                      "other_alarms")))
"""Each chart: its title's text key and its series (figures)."""

SERIES_COLOURS = ("#2b6cb0", "#2f855a", "#c05621", "#805ad5")


@dataclass(frozen=True)
class StatsContext:
    """What the statistics routes need of the app (built by :func:`central.web.app.create_app`).

    ``render(request, staff, template, **values)`` renders a page; ``page_staff`` and
    ``api_staff`` return the logged-in staff member (or redirect / answer 401); ``lang``
    is the request's language.
    """

    store: CentralStore
    timezone: str
    clock: Callable[[], datetime]
    render: Callable[..., HTMLResponse]
    page_staff: Callable[[Request], Any]
    api_staff: Callable[[Request], Any]
    lang: Callable[[Request], str]


# ---- charts ----------------------------------------------------------------------------------

def _nice_max(value: int) -> int:
    """The chart's top: ``value`` rounded up to 1, 2 or 5 times a power of ten."""
    if value <= 0:
        return 1
    step = 1
    while True:
        for m in (1, 2, 5):
            if step * m >= value:
                return step * m
        step *= 10


def bar_chart(title: str, days: Sequence[date], series: Sequence[tuple[str, Sequence[int]]],
              *, chart_id: str, width: int = 720, height: int = 220) -> Markup:
    """A grouped bar chart as inline SVG: one group per day, one bar per series, a legend,
    the y scale and every fifth day's date. Each bar has a ``<title>`` (its day, series
    and value) for a tooltip and for screen readers."""
    left, right, top, bottom = 40, 10, 28, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = _nice_max(max((v for _, values in series for v in values), default=0))
    group = plot_w / max(len(days), 1)
    bar = max(group * 0.8 / max(len(series), 1), 1.0)
    out = [f'<svg class="chart" id="{escape(chart_id)}" role="img" viewBox="0 0 {width} {height}"'
           f' width="100%" xmlns="http://www.w3.org/2000/svg" aria-label="{escape(title)}">',
           f"<title>{escape(title)}</title>"]
    for i in range(5):  # y grid and scale
        value = peak * i / 4
        y = top + plot_h - plot_h * i / 4
        out.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" '
                   'stroke="#ddd" stroke-width="1"/>')
        out.append(f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" font-size="10" '
                   f'fill="#555">{value:g}</text>')
    for d_i, day in enumerate(days):
        x0 = left + group * d_i + group * 0.1
        for s_i, (label, values) in enumerate(series):
            v = values[d_i]
            h = plot_h * v / peak
            out.append(
                f'<rect class="bar" data-series="{s_i}" data-day="{day.isoformat()}" '
                f'data-value="{v}" x="{x0 + bar * s_i:.1f}" y="{top + plot_h - h:.1f}" '
                f'width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{SERIES_COLOURS[s_i % len(SERIES_COLOURS)]}">'
                f"<title>{day:%d/%m}: {escape(label)} {v}</title></rect>")
        if d_i % 5 == 0 or d_i == len(days) - 1:
            out.append(f'<text x="{x0 + group * 0.4:.1f}" y="{height - bottom + 14}" '
                       f'text-anchor="middle" font-size="10" fill="#555">{day:%d/%m}</text>')
    x = left
    for s_i, (label, _values) in enumerate(series):  # legend
        out.append(f'<rect x="{x}" y="8" width="10" height="10" '
                   f'fill="{SERIES_COLOURS[s_i % len(SERIES_COLOURS)]}"/>')
        out.append(f'<text x="{x + 14}" y="17" font-size="11" fill="#222">{escape(label)}</text>')
        x += 24 + 7 * len(label)
    out.append("</svg>")
    return Markup("".join(out))


def site_charts(days: SiteDays, lang: str) -> list[Markup]:
    """The library page's charts of the days in ``days``."""
    rows = days.rows()
    dates = [d for d, _ in rows]
    out = []
    for n, (title_key, figures) in enumerate(CHARTS):
        series = [(text(f"stats.{f}", lang), [fig[f] for _, fig in rows]) for f in figures]
        out.append(bar_chart(text(title_key, lang), dates, series, chart_id=f"chart-{n}"))
    return out


# ---- routes ----------------------------------------------------------------------------------

def _month(request: Request, ctx: StatsContext) -> str:
    month = request.query_params.get("month") or current_month(ctx.clock(), ctx.timezone)
    try:
        parse_month(month)
    except ReportError as exc:
        raise HTTPException(400, "bad_request") from exc
    return month


def _sites(request: Request, ctx: StatsContext) -> list[str] | None:
    """The ``site`` parameter as a one-library list (404 for an unknown one), else None."""
    site = request.query_params.get("site")
    if not site:
        return None
    try:
        ctx.store.sites.get(site)
    except NotFound as exc:
        raise HTTPException(404, "not_found") from exc
    return [site]


def _months_before(month: str, n: int) -> list[str]:
    first, _ = parse_month(month)
    out = []
    for _ in range(n):
        out.append(f"{first:%Y-%m}")
        first = (first - timedelta(days=1)).replace(day=1)
    return out


def install_stats_routes(app: FastAPI, ctx: StatsContext) -> None:
    """Add the statistics pages, downloads and API to ``app``."""

    def month_choices() -> list[str]:
        return _months_before(current_month(ctx.clock(), ctx.timezone), 24)

    @app.get("/stats", response_class=HTMLResponse)
    def stats_network(request: Request) -> Response:
        staff = ctx.page_staff(request)
        month = _month(request, ctx)
        reports = monthly(ctx.store, month, ctx.timezone)
        network = empty_figures()
        rows = []
        for r in reports:
            totals = r.totals
            rows.append({"site": r.site_id, "name": r.name, "totals": totals})
            for f in FIGURES:
                network[f] += totals[f]
        return ctx.render(request, staff, "stats_network.html", month=month, rows=rows,
                          network=network, figures=FIGURES, months=month_choices())

    @app.get("/sites/{site_id}/stats", response_class=HTMLResponse)
    def stats_site(request: Request, site_id: str) -> Response:
        staff = ctx.page_staff(request)
        try:
            site = ctx.store.sites.get(site_id)
        except NotFound as exc:
            raise HTTPException(404, "not_found") from exc
        month = _month(request, ctx)
        today = ctx.clock().astimezone(ZoneInfo(ctx.timezone)).date()
        recent = site_days(ctx.store, today - timedelta(days=CHART_DAYS - 1), today,
                           ctx.timezone, [site_id])[0]
        [report] = monthly(ctx.store, month, ctx.timezone, [site_id])
        return ctx.render(request, staff, "stats_site.html", site=site, month=month,
                          charts=site_charts(recent, ctx.lang(request)), report=report,
                          totals=report.totals, figures=FIGURES, months=month_choices())

    @app.get("/stats/export.csv")
    def export_csv(request: Request) -> Response:
        ctx.page_staff(request)
        month, sites = _month(request, ctx), _sites(request, ctx)
        body = to_csv(monthly(ctx.store, month, ctx.timezone, sites))
        name = f"thong-ke-{sites[0] if sites else 'mang-luoi'}-{month}.csv"
        return Response(body.encode("utf-8"), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

    @app.get("/stats/export.xlsx")
    async def export_xlsx(request: Request) -> Response:
        ctx.page_staff(request)
        month, sites = _month(request, ctx), _sites(request, ctx)

        def build() -> bytes:
            return to_xlsx(monthly(ctx.store, month, ctx.timezone, sites),
                           generated_at=ctx.clock())

        body = await run_in_threadpool(build)
        name = f"bao-cao-{sites[0] if sites else 'mang-luoi'}-{month}.xlsx"
        return Response(body, media_type="application/vnd.openxmlformats-officedocument."
                                          "spreadsheetml.sheet",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

    @app.get("/api/stats")
    def api_stats(request: Request) -> dict[str, Any]:
        ctx.api_staff(request)
        month, sites = _month(request, ctx), _sites(request, ctx)
        return {"month": month, "figures": list(FIGURES), "sites": [
            {"site": r.site_id, "name": r.name, "totals": r.totals,
             "days": [{"date": d.isoformat(), **f} for d, f in r.rows()]}
            for r in monthly(ctx.store, month, ctx.timezone, sites)]}
