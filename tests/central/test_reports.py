"""The statistics by local day and month, and the report files, from a known set of stored
counters, alarms and conflicts (on SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path

import pytest
from openpyxl import load_workbook

from central.db import open_database
from central.reports import (
    COLUMNS_VI,
    CSV_HEADER,
    FIGURES,
    GATE_ALARM_KIND,
    HEADER_ROWS,
    SUMMARY_SHEET,
    TOTAL_LABEL,
    ReportError,
    monthly,
    parse_month,
    sheet_title,
    site_days,
    to_csv,
    to_xlsx,
)
from central.store import CentralStore
from edge.services.gate import ALARM_KIND

TZ = "Asia/Ho_Chi_Minh"  # UTC+7: a local day starts at 17:00 UTC the day before


def hour(store: CentralStore, site: str, device: str, start: str, **counters: int) -> None:
    store.stats.record(site, device, start, 3600, counters, complete=True,
                       received_at="2026-12-31T00:00:00.000Z")


def alarm(store: CentralStore, site: str, n: int, kind: str, at: str) -> None:
    store.alarms.record(site_id=site, device_id="gate-01", edge_alarm_id=n, kind=kind,
                        raised_at=at, received_at=at)


def conflict(store: CentralStore, site: str, key: str, at: str) -> None:
    store.conflicts.record(tx_key=key, site_id=site, device_id="kiosk-01", kind="checkout",
                           item="3000100", patron=None, reason="hold", screen_message=None,
                           created_at=at, detected_at="2026-12-20T00:00:00.000Z")


@pytest.fixture
def known(store: CentralStore) -> CentralStore:
    """Two libraries with December figures on either side of local midnight."""
    # 2026-12-01 local: 16:00 UTC (23:00 local); 2026-12-02 local: 17:00 UTC on the 1st.
    hour(store, "hn-01", "kiosk-01", "2026-12-01T16:00:00.000Z", checkout=5, checkout_offline=2,
         renew=1)
    hour(store, "hn-01", "kiosk-02", "2026-12-01T16:00:00.000Z", checkout=1, **{"return": 4})
    hour(store, "hn-01", "kiosk-01", "2026-12-01T17:00:00.000Z", checkout=3,
         return_offline=1, **{"return": 2})
    hour(store, "hn-01", "gate-01", "2026-12-01T17:00:00.000Z", visitors_in=40, visitors_out=38,
         gate_alarm=1)
    hour(store, "hn-01", "kiosk-01", "2026-12-31T16:00:00.000Z", renew=7)  # 31 Dec, 23:00
    hour(store, "hn-01", "kiosk-01", "2026-12-31T17:00:00.000Z", checkout=100)  # 1 Jan
    hour(store, "hn-01", "kiosk-01", "2026-11-30T16:00:00.000Z", checkout=100)  # 30 Nov
    hour(store, "hcm-02", "kiosk-01", "2026-12-10T03:00:00.000Z", checkout=9, visitors_in=1)
    alarm(store, "hn-01", 1, ALARM_KIND, "2026-12-01T17:30:00.000Z")  # 2 Dec
    alarm(store, "hn-01", 2, "loaned_alarm_on", "2026-12-01T10:00:00.000Z")  # 1 Dec
    alarm(store, "hn-01", 3, ALARM_KIND, "2026-11-30T16:59:59.000Z")  # 30 Nov
    conflict(store, "hn-01", "tx-1", "2026-12-02T01:00:00.000Z")
    conflict(store, "hcm-02", "tx-2", "2026-12-31T16:59:59.999Z")  # 31 Dec
    conflict(store, "hcm-02", "tx-3", "2026-12-31T17:00:00.000Z")  # 1 Jan
    return store


def test_the_gate_alarm_kind_is_the_edges() -> None:
    assert GATE_ALARM_KIND == ALARM_KIND


def test_figures_by_local_day_and_month(known: CentralStore) -> None:
    assert [r.site_id for r in monthly(known, "2026-12", TZ)] == ["hcm-02", "hn-01"]  # by id
    hn, hcm = monthly(known, "2026-12", TZ, ["hn-01", "hcm-02"])
    dec1, dec2 = hn.days[date(2026, 12, 1)], hn.days[date(2026, 12, 2)]
    assert dec1 == {"loans": 6, "returns": 4, "renewals": 1, "offline_transactions": 2,
                    "conflicts": 0, "visitors_in": 0, "visitors_out": 0, "gate_alarms": 0,
                    "other_alarms": 1}
    assert dec2 == {"loans": 3, "returns": 2, "renewals": 0, "offline_transactions": 1,
                    "conflicts": 1, "visitors_in": 40, "visitors_out": 38, "gate_alarms": 1,
                    "other_alarms": 0}
    assert hn.days[date(2026, 12, 31)]["renewals"] == 7
    assert hn.totals == {"loans": 9, "returns": 6, "renewals": 8, "offline_transactions": 3,
                         "conflicts": 1, "visitors_in": 40, "visitors_out": 38,
                         "gate_alarms": 1, "other_alarms": 1}
    assert hcm.totals["loans"] == 9 and hcm.totals["conflicts"] == 1
    assert len(hn.rows()) == 31 and hn.rows()[4] == (date(2026, 12, 5), dict.fromkeys(FIGURES, 0))
    [nov] = site_days(known, date(2026, 11, 30), date(2026, 11, 30), TZ, ["hn-01"])
    assert nov.totals["loans"] == 100 and nov.totals["gate_alarms"] == 1
    [jan] = monthly(known, "2027-01", TZ, ["hcm-02"])
    assert jan.totals["conflicts"] == 1 and jan.totals["loans"] == 0


def test_bad_periods_are_refused(known: CentralStore) -> None:
    for bad in ("2026-13", "2026-1", "", "december"):
        with pytest.raises(ReportError):
            parse_month(bad)
    with pytest.raises(ReportError):
        site_days(known, date(2026, 12, 2), date(2026, 12, 1), TZ)
    assert parse_month("2028-02") == (date(2028, 2, 1), date(2028, 2, 29))


def test_csv_has_a_row_per_library_and_day_with_vietnamese_columns(known: CentralStore) -> None:
    body = to_csv(monthly(known, "2026-12", TZ, ["hn-01", "hcm-02"]))
    assert body.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(body[1:])))
    assert rows[0] == list(CSV_HEADER)
    assert rows[0][2:] == ["Ngày", "Lượt mượn", "Lượt trả", "Lượt gia hạn",
                           "Giao dịch ngoại tuyến", "Xung đột", "Lượt vào", "Lượt ra",
                           "Cảnh báo cổng", "Cảnh báo khác"]
    assert len(rows) == 1 + 2 * 31
    assert rows[2] == ["hn-01", "", "2026-12-02", "3", "2", "0", "1", "1", "40", "38", "1", "0"]
    hcm = [r for r in rows[1:] if r[0] == "hcm-02"]
    assert sum(int(r[3]) for r in hcm) == 9 and hcm[-1][2] == "2026-12-31"


def test_xlsx_is_the_monthly_report_with_totals(known: CentralStore) -> None:
    reports = monthly(known, "2026-12", TZ, ["hn-01", "hcm-02"])
    wb = load_workbook(io.BytesIO(to_xlsx(reports)))
    assert wb.sheetnames == [SUMMARY_SHEET, "hn-01", "hcm-02"]
    ws = wb["hn-01"]
    assert "12/2026" in ws["A1"].value
    assert ws["B3"].value == "hn-01" and ws["A3"].value.startswith("Mã thư viện")
    header = [c.value for c in ws[HEADER_ROWS + 1]]
    assert header == ["Ngày", *(COLUMNS_VI[f] for f in FIGURES)]
    assert header[1:9] == ["Lượt mượn", "Lượt trả", "Lượt gia hạn", "Giao dịch ngoại tuyến",
                           "Xung đột", "Lượt vào", "Lượt ra", "Cảnh báo cổng"]
    days = list(ws.iter_rows(min_row=HEADER_ROWS + 2, max_row=HEADER_ROWS + 32, values_only=True))
    assert days[0][0].date() == date(2026, 12, 1) and days[-1][0].date() == date(2026, 12, 31)
    total = [c.value for c in ws[HEADER_ROWS + 33]]
    assert total[0] == TOTAL_LABEL
    for i, f in enumerate(FIGURES, start=1):  # the totals row is the sum of the days
        assert total[i] == sum(d[i] for d in days) == reports[0].totals[f]
    assert total[1:4] == [9, 6, 8]
    summary = wb[SUMMARY_SHEET]
    rows = [r for r in summary.iter_rows(values_only=True) if r and r[0] is not None]
    by_site = {r[0]: r for r in rows}
    assert by_site["hcm-02"][2] == 9 and by_site[TOTAL_LABEL][2] == 18


def test_sheet_titles_are_valid_and_unique() -> None:
    taken: set[str] = set()
    assert sheet_title("hn/01:[x]", taken) == "hn_01__x_"
    long = "a" * 40
    first, second = sheet_title(long, taken), sheet_title(long, taken)
    assert first == "a" * 31 and second != first and len(second) <= 31


def test_site_hours_follow_live_then_completed_periods(store: CentralStore) -> None:
    at = "2026-12-03T04:00:00.000Z"
    rec = store.stats.record
    rec("hn-01", "kiosk-01", at, 3600, {"checkout": 3}, complete=False, received_at=at)
    rec("hn-01", "kiosk-02", at, 3600, {"checkout": 1, "renew": 2}, complete=True, received_at=at)
    rec("hn-01", "kiosk-01", at, 3600, {"checkout": 5, "return": 1}, complete=False,
        received_at=at)
    assert store.stats.site_hours(at, "2026-12-04") == [
        ("hn-01", "2026-12-03T04", {"checkout": 6, "renew": 2, "return": 1})]
    rec("hn-01", "kiosk-01", at, 3600, {"checkout": 7}, complete=True, received_at=at)
    rec("hn-01", "kiosk-01", at, 3600, {"checkout": 2}, complete=False, received_at=at)  # stale
    [(_, _, sums)] = store.stats.site_hours(at, "2026-12-04")
    assert sums == {"checkout": 8, "renew": 2, "return": 0}
    assert store.stats.totals("hn-01", at, "2026-12-04") == {"checkout": 8, "renew": 2}
    assert store.stats.rebuild_site_hours() == 0  # already summed


def test_sums_are_rebuilt_for_a_database_made_before_them(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    s = CentralStore(open_database(url))
    for h in range(3):
        s.stats.record("hn-01", "kiosk-01", f"2026-12-03T0{h}:00:00.000Z", 3600,
                       {"checkout": h + 1}, complete=True, received_at="2026-12-03T05:00:00.000Z")
    s.db.execute("DELETE FROM stats_site_hours")  # as a database of the first slice
    s.close()
    s = CentralStore(open_database(url))
    try:
        [r] = site_days(s, date(2026, 12, 3), date(2026, 12, 3), "UTC", ["hn-01"])
        assert r.totals["loans"] == 6
    finally:
        s.close()
