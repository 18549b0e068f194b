"""The statistics pages, charts and downloads through FastAPI's TestClient."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from central.config import CentralSection
from central.reports import HEADER_ROWS, TOTAL_LABEL
from central.store import CentralStore
from central.web.app import create_app
from tests.central.conftest import Clock, make_auth
from tests.central.test_web import PASSWORD, login


@pytest.fixture
def console(sqlite_store: CentralStore) -> Iterator[TestClient]:
    clock = Clock(datetime(2026, 12, 20, 3, 0, tzinfo=UTC))
    auth = make_auth(sqlite_store, clock)
    auth.create_account("xem", PASSWORD, role="viewer")
    for day in (1, 10, 19):
        sqlite_store.stats.record("hn-01", "kiosk-01", f"2026-12-{day:02d}T03:00:00.000Z", 3600,
                                  {"checkout": day, "return": 2, "visitors_in": 10 * day},
                                  complete=True, received_at="2026-12-20T00:00:00.000Z")
    sqlite_store.stats.record("hcm-02", "gate-01", "2026-12-05T03:00:00.000Z", 3600,
                              {"visitors_in": 7, "visitors_out": 6}, complete=True,
                              received_at="2026-12-20T00:00:00.000Z")
    app = create_app(sqlite_store, auth, CentralSection(), poll_s=0.05)
    with TestClient(app, base_url="http://testserver") as client:
        yield client


def test_statistics_need_a_login(console: TestClient) -> None:
    for path in ("/stats", "/sites/hn-01/stats", "/stats/export.csv", "/stats/export.xlsx"):
        r = console.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login"), path
    assert console.get("/api/stats").status_code == 401


def test_network_and_library_pages_in_both_languages(console: TestClient) -> None:
    login(console, "xem")
    page = console.get("/stats?lang=vi").text
    assert "Thống kê mạng lưới" in page and "2026-12" in page
    assert 'data-site="hn-01"' in page and 'data-site="hcm-02"' in page
    assert '<td class="n" data-figure="loans">30</td>' in page  # 1 + 10 + 19
    assert '<td class="n" data-figure="visitors_in">307</td>' in page  # network: 300 + 7
    page = console.get("/sites/hn-01/stats?lang=en").text
    assert "Loans, returns, renewals" in page and "Visitors in and out" in page
    assert page.count("<svg") == 3
    # the last 30 days: 21 Nov .. 20 Dec; 1 Dec's loans bar shows 1, 19 Dec's 19
    assert 'data-series="0" data-day="2026-12-19" data-value="19"' in page
    assert 'data-day="2026-11-21"' in page and 'data-day="2026-11-20"' not in page
    assert '<tr id="stats-total"><th>Total</th><td class="n" data-figure="loans">30</td>' in page
    assert "Lượt mượn" in console.get("/sites/hn-01/stats?lang=vi").text
    assert console.get("/sites/nowhere/stats").status_code == 404
    assert console.get("/stats?month=2026-13").status_code == 400


def test_a_viewer_downloads_csv_and_xlsx(console: TestClient) -> None:
    login(console, "xem")
    r = console.get("/stats/export.csv?month=2026-12&site=hn-01")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert 'filename="thong-ke-hn-01-2026-12.csv"' in r.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0][:4] == ["Mã thư viện", "Thư viện", "Ngày", "Lượt mượn"]
    assert len(rows) == 32 and sum(int(x[3]) for x in rows[1:]) == 30
    r = console.get("/stats/export.xlsx?month=2026-12")
    assert r.status_code == 200
    wb = load_workbook(io.BytesIO(r.content))
    assert wb.sheetnames[1:] == ["hcm-02", "hn-01"]
    total = [c.value for c in wb["hn-01"][HEADER_ROWS + 33]]
    assert total[:3] == [TOTAL_LABEL, 30, 6]
    assert console.get("/stats/export.xlsx?month=2026-12&site=nowhere").status_code == 404
    api = console.get("/api/stats?month=2026-12&site=hcm-02").json()
    assert api["sites"][0]["totals"]["visitors_out"] == 6 and len(api["sites"][0]["days"]) == 31
