"""The statistics pages in Debian's headless Chromium (Playwright): a viewer opens the
network summary and a library's charts, switches language, and downloads the XLSX report,
which openpyxl opens with the totals of what was stored."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from openpyxl import load_workbook

from central.db import stamp
from central.reports import HEADER_ROWS, TOTAL_LABEL, current_month
from central.store import CentralStore
from tests.central.test_console_browser import ConsoleServer
from tests.edge.test_staff_console import CHROMIUM

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason="Debian chromium is not installed")

PASSWORD = "thủ-thư-mật-khẩu"
TZ = "Asia/Ho_Chi_Minh"


@pytest.fixture
def console(sqlite_store: CentralStore) -> Iterator[ConsoleServer]:
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    for hours_ago, loans in ((1, 4), (2, 3)):  # within the charts' 30 days
        sqlite_store.stats.record("hn-01", "kiosk-01", stamp(now - timedelta(hours=hours_ago)),
                                  3600, {"checkout": loans, "return": 1, "visitors_in": 5},
                                  complete=True, received_at=stamp(now))
    server = ConsoleServer(SimpleNamespace(store=sqlite_store),  # type: ignore[arg-type]
                           lambda: datetime.now(UTC))
    server.auth.create_account("xem", PASSWORD, role="viewer", display_name="Người Xem")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_a_viewer_sees_the_charts_and_downloads_the_xlsx(console: ConsoleServer,
                                                         sqlite_store: CentralStore,
                                                         browser_page: Any) -> None:
    from playwright.sync_api import expect

    page = browser_page
    page.goto(console.url + "/stats")
    page.fill("#username", "xem")
    page.fill("#password", PASSWORD)
    page.click("#login button[type=submit]")
    expect(page.locator("h1")).to_contain_text("Thống kê mạng lưới")
    month = page.locator("#f-month").input_value()
    assert month == current_month(datetime.now(UTC), TZ)
    expected = sum(int(c.get("checkout", 0))
                   for _, _, c in sqlite_store.stats.site_hours("2000", "3000", ["hn-01"]))
    page.click("#stats-sites tr[data-site='hn-01'] a")
    expect(page.locator("h1")).to_contain_text("hn-01")
    expect(page.locator("svg.chart")).to_have_count(3)
    assert page.locator("#chart-0 rect.bar[data-series='0']").count() == 30
    shown = sum(int(v) for v in page.locator("#chart-0 rect.bar[data-series='0']")
                .evaluate_all("bars => bars.map(b => b.dataset.value)"))
    assert shown == expected == 7
    page.click("a.lang[data-lang=en]")
    expect(page.locator("#chart-0 > title")).to_have_text("Loans, returns, renewals")

    with page.expect_download() as info:
        page.click("#export-xlsx")
    download = info.value
    assert download.suggested_filename == f"bao-cao-hn-01-{month}.xlsx"
    wb = load_workbook(io.BytesIO(Path(download.path()).read_bytes()))
    ws = wb["hn-01"]
    assert [c.value for c in ws[HEADER_ROWS + 1]][:3] == ["Ngày", "Lượt mượn", "Lượt trả"]
    total = next(r for r in ws.iter_rows(values_only=True) if r[0] == TOTAL_LABEL)
    page_total = int(page.locator("#stats-total td[data-figure='loans']").inner_text())
    assert total[1] == page_total
    days = [r[1] for r in ws.iter_rows(min_row=HEADER_ROWS + 2, values_only=True)
            if r[0] != TOTAL_LABEL]
    assert sum(days) == total[1]
