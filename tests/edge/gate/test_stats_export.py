"""``smartlib stats export``: per local day and box, from counters, alarms and the journal."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime
from pathlib import Path

from click.testing import CliRunner

from edge.services.statistics import COLUMNS, day_hours, today_counts
from edge.store import Store, open_store
from smartlib.cli import root as smartlib_main

TZ = "Asia/Ho_Chi_Minh"  # UTC+7: the local day 2026-03-02 is 2026-03-01T17 .. 2026-03-02T16 UTC


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _stamp(store: Store, table: str, created_at: str) -> None:
    with store.transaction() as conn:
        conn.execute(f"UPDATE {table} SET created_at = ? WHERE id = (SELECT MAX(id) FROM {table})"
                     if table != "outbox" else
                     "UPDATE outbox SET created_at = ? WHERE seq = (SELECT MAX(seq) FROM outbox)",
                     (created_at,))


def _fill_kiosk(store: Store) -> None:
    c = store.counters
    c.incr("checkout", 3, at=_at("2026-03-01T16:30"))   # local 2026-03-01 23:30
    c.incr("checkout", 5, at=_at("2026-03-01T17:10"))   # local 2026-03-02 00:10
    c.incr("checkout_offline", 2, at=_at("2026-03-02T03:00"))
    c.incr("return", 4, at=_at("2026-03-02T09:00"))
    c.incr("renew", 1, at=_at("2026-03-02T16:59"))      # last UTC hour of the local day
    c.incr("return", 7, at=_at("2026-03-02T17:00"))     # local 2026-03-03
    for ts in ("2026-03-02T01:00:00.000Z", "2026-03-02T02:00:00.000Z", "2026-03-03T01:00:00.000Z"):
        store.outbox.append("checkout", {}, item_id=f"i{ts}", patron_ref="p", offline=True)
        _stamp(store, "outbox", ts)
    store.outbox.append("checkout", {}, item_id="online", patron_ref="p")
    _stamp(store, "outbox", "2026-03-02T02:00:00.000Z")
    # Staff alarms of the kiosk (not security-gate alarms): a release that failed.
    store.alarms.raise_alarm("loaned_alarm_on", "x", device="kiosk-01", item_id="2")
    _stamp(store, "alarms", "2026-03-02T04:00:00.000Z")


def _fill_gate(store: Store) -> None:
    store.counters.incr("visitors_in", 10, at=_at("2026-03-02T02:00"))
    store.counters.incr("visitors_out", 8, at=_at("2026-03-02T10:00"))
    for ts in ("2026-03-01T18:00:00.000Z", "2026-03-02T15:00:00.000Z", "2026-03-02T17:00:00.000Z"):
        store.alarms.raise_alarm("gate", "x", device="gate-01", item_id="1")
        _stamp(store, "alarms", ts)
    # One alarm of another kind on the gate box, the same local day as two gate alarms.
    store.alarms.raise_alarm("not_secured", "x", device="gate-01", item_id="3")
    _stamp(store, "alarms", "2026-03-02T05:00:00.000Z")


def test_day_hours_follow_the_site_time_zone() -> None:
    assert day_hours(date(2026, 3, 2), TZ) == ("2026-03-01T17", "2026-03-02T16")
    assert day_hours(date(2026, 3, 2), "UTC") == ("2026-03-02T00", "2026-03-02T23")


def test_export_csv_and_json_for_two_boxes(tmp_path: Path) -> None:
    kiosk_db, gate_db = tmp_path / "kiosk.db", tmp_path / "gate.db"
    with open_store(kiosk_db) as k:
        _fill_kiosk(k)
    with open_store(gate_db) as g:
        _fill_gate(g)
    cfg = tmp_path / "kiosk.toml"
    cfg.write_text(f'[site]\ntimezone = "{TZ}"\n[device]\nid = "kiosk-01"\n'
                   f'[store]\npath = "{kiosk_db}"\n', encoding="utf-8")
    runner = CliRunner()
    args = ["stats", "export", "--config", str(cfg), "--from", "2026-03-02", "--to", "2026-03-03",
            "--store", f"gate-01:gate={gate_db}"]
    res = runner.invoke(smartlib_main, [*args, "--format", "csv"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(io.StringIO(res.output)))
    assert tuple(rows[0]) == COLUMNS
    by = {(r["date"], r["device"]): r for r in rows}
    assert list(by) == [("2026-03-02", "kiosk-01"), ("2026-03-02", "gate-01"),
                        ("2026-03-03", "kiosk-01"), ("2026-03-03", "gate-01")]
    k2 = by[("2026-03-02", "kiosk-01")]
    assert (k2["checkouts"], k2["checkouts_offline"], k2["returns"], k2["renewals"]) == \
        ("5", "2", "4", "1")
    assert k2["offline_transactions"] == "2" and k2["role"] == "kiosk"
    assert (k2["security_alarms"], k2["other_alarms"]) == ("0", "1")
    assert "alarms" not in k2 and "alarms_by_kind" not in k2
    assert by[("2026-03-03", "kiosk-01")]["returns"] == "7"
    assert by[("2026-03-03", "kiosk-01")]["offline_transactions"] == "1"
    g2 = by[("2026-03-02", "gate-01")]
    assert (g2["visitors_in"], g2["visitors_out"], g2["role"]) == ("10", "8", "gate")
    assert (g2["security_alarms"], g2["other_alarms"]) == ("2", "1")
    g3 = by[("2026-03-03", "gate-01")]
    assert (g3["security_alarms"], g3["other_alarms"]) == ("1", "0")

    res = runner.invoke(smartlib_main, [*args, "--format", "json"], catch_exceptions=False)
    doc = json.loads(res.output)
    assert doc["columns"] == list(COLUMNS) and len(doc["rows"]) == 4
    k2j, g2j = doc["rows"][0], doc["rows"][1]
    assert (k2j["device"], g2j["device"]) == ("kiosk-01", "gate-01")
    assert k2j["checkouts"] == 5 and k2j["offline_transactions"] == 2
    assert g2j["visitors_in"] == 10 and g2j["visitors_out"] == 8
    assert (g2j["security_alarms"], g2j["other_alarms"]) == (2, 1)
    assert g2j["alarms_by_kind"] == {"gate": 2, "not_secured": 1}
    assert k2j["alarms_by_kind"] == {"loaned_alarm_on": 1}
    assert doc["rows"][3]["alarms_by_kind"] == {"gate": 1}


def test_export_rejects_bad_ranges_and_missing_stores(tmp_path: Path) -> None:
    cfg = tmp_path / "k.toml"
    cfg.write_text(f'[store]\npath = "{tmp_path / "k.db"}"\n', encoding="utf-8")
    open_store(tmp_path / "k.db").close()
    runner = CliRunner()
    res = runner.invoke(smartlib_main, ["stats", "export", "--config", str(cfg), "--from",
                                        "2026-03-05", "--to", "2026-03-01"])
    assert res.exit_code != 0 and "before" in res.output
    res = runner.invoke(smartlib_main, ["stats", "export", "--config", str(cfg), "--from",
                                        "2026-03-01", "--to", "2026-03-01", "--store",
                                        f"gate-09={tmp_path / 'nope.db'}"])
    assert res.exit_code != 0 and "no store" in res.output
    res = runner.invoke(smartlib_main, ["stats", "export", "--config", str(cfg), "--from",
                                        "2026-03-01", "--to", "2026-03-01", "--store", "bad"])
    assert res.exit_code != 0 and "DEVICE" in res.output


def test_today_counts_for_the_console(tmp_path: Path) -> None:
    with open_store(tmp_path / "t.db") as s:
        s.counters.incr("checkout", 2)
        s.counters.incr("visitors_out", 3)
        s.alarms.raise_alarm("gate", "x")
        s.alarms.raise_alarm("loaned_alarm_on", "y")
        got = today_counts(s, TZ)
    assert got["loans"] == 2 and got["visitors_out"] == 3 and got["alarms"] == 2
    assert got["security_alarms"] == 1 and got["other_alarms"] == 1
    assert got["returns"] == 0 and got["visitors_in"] == 0
