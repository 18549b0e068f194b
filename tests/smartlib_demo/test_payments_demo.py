"""Fines paid by VietQR through the whole demo (``smartlib demo --no-ui``): the patron blocked
for fines logs in restricted, the kiosk's edge makes the QR, the simulated bank pays it
(``smartlib sim ctl bank pay``), the console's webhook records it, its collector publishes
Fee Paid on the kiosk's tx topic, the gateway sends SIP2 37 to the demo ILS once per
transfer, the kiosk is told (a partial payment first, then the rest), and the fines are gone
from the account."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from smartlib_demo.site import DEVICE_TOKEN
from tests.smartlib_demo.test_system import REPO, _wait_file

HEADERS = {"Authorization": f"Bearer {DEVICE_TOKEN}"}


def _until(what: str, check: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.3)


def _rows(db: Path, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return con.execute(sql, args).fetchall()
    except sqlite3.OperationalError:  # a table not made yet
        return []
    finally:
        con.close()


def _bank_pay(sim_url: str, *args: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-m", "smartlib.cli", "sim", "ctl", "--url", sim_url,
                          "bank", "pay", *args], cwd=REPO, capture_output=True, text=True,
                         timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    answer: dict[str, Any] = json.loads(out.stdout)
    return answer


def test_the_simulated_bank_pays_a_kiosk_qr_end_to_end(tmp_path: Path) -> None:
    run, ready = tmp_path / "run", tmp_path / "ready.json"
    proc = subprocess.Popen([sys.executable, "-m", "smartlib.cli", "demo", "--no-ui", "--no-card",
                             "--run-dir", str(run), "--ready-file", str(ready)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        info = _wait_file(ready, proc)
        ils_db, central_db = run / "ils.db", run / "central.db"
        with httpx.Client(base_url=info["kiosk_url"], headers=HEADERS, timeout=30) as kiosk:
            r = kiosk.post("/sessions", json={"credential": {"source": "barcode",
                                                             "identifier": "2000003",
                                                             "pin": "3456"}, "language": "en"})
            assert r.status_code == 201, r.text
            assert r.json()["restricted"] == "fines"
            sid = r.json()["id"]
            fines = kiosk.get(f"/sessions/{sid}/fines").json()
            assert fines["total"] == 75000 and len(fines["fines"]) == 2
            created = kiosk.post(f"/sessions/{sid}/payments", json={"all": True})
            assert created.status_code == 201, created.text
            pay = created.json()
            ref = pay["reference"]
            assert pay["amount"] == 75000 and pay["status"] == "pending" and pay["payload"]
            # The intent reaches the console (device event -> broker -> collector).
            _until("the intent at the centre", lambda: _rows(
                central_db, "SELECT amount FROM payment_intents WHERE reference=?", (ref,)))
            # The patron's bank sends 30,000 first: partial; the kiosk shows what arrived
            # and a QR for the rest under the same reference.
            part = _bank_pay(info["sim_url"], "--ref", ref, "--amount", "30000")
            assert (part["outcome"], part["applied"]) == ("partial", 30000), part
            status = _until("the kiosk told of the partial payment", lambda: (
                s := kiosk.get(f"/sessions/{sid}/payments/{ref}").json())["status"] != "pending"
                and s)
            assert (status["status"], status["paid_amount"]) == ("partial", 30000)
            # The simulated bank pays the QR now shown (its reference and the rest).
            first = _bank_pay(info["sim_url"], "--qr", status["payload"])
            assert (first["outcome"], first["applied"]) == ("paid", 45000), first
            status = _until("the kiosk told of the payment", lambda: (
                s := kiosk.get(f"/sessions/{sid}/payments/{ref}").json())["status"] == "paid"
                and s)
            assert status["paid_amount"] == 75000
            # The bank sends its notification again: recorded as a duplicate, nothing sent.
            again = _bank_pay(info["sim_url"], "--ref", ref, "--amount", "45000",
                              "--txn", first["bank_txn_id"])
            assert again["outcome"] == "duplicate"
            # SIP2 37 reached the demo ILS exactly once, and the fines are gone.
            time.sleep(1)  # room for a wrongly repeated Fee Paid to show up
            assert _rows(ils_db, "SELECT xk, duplicate FROM applications WHERE kind='fee_paid'"
                         " AND patron_id='2000003' ORDER BY id") == [
                (ref, 0), (f"{ref}/{first['bank_txn_id']}"[:32], 0)]
            assert _rows(ils_db, "SELECT fines FROM patrons WHERE id='2000003'") == [(0,)]
            assert _rows(ils_db, "SELECT COUNT(*) FROM fines WHERE patron_id='2000003'") == [(0,)]
            assert kiosk.get(f"/sessions/{sid}/fines").json()["fines"] == []
            kiosk.delete(f"/sessions/{sid}")
            # Paid up, the patron logs in again unrestricted.
            r = kiosk.post("/sessions", json={"credential": {"source": "barcode",
                                                             "identifier": "2000003",
                                                             "pin": "3456"}, "language": "en"})
            assert r.status_code == 201 and r.json()["restricted"] is None, r.text
        with httpx.Client(base_url=info["central_url"], timeout=10) as central:
            assert central.post("/api/login", json=info["central_admin"]).status_code == 200
            rows = {p["outcome"]: p for p in central.get("/api/payments").json()
                    if p["reference"] == ref}
            # settled by the second transfer: nothing left for staff
            assert (rows["partial"]["applied"], rows["partial"]["needs_staff"]) == (30000, False)
            assert (rows["paid"]["applied"], rows["paid"]["duplicates"]) == (45000, 1)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err[-2000:]
    assert "2000003 / 3456" in out and "bank pay --ref" in out
