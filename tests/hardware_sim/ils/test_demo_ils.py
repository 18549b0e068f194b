"""The demo ILS: data, circulation rules, duplicate detection, any-client framing, and CLI."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from hardware_sim.ils.data import DEMO_ITEMS, DEMO_PATRONS, connect, populate, verify_pin
from hardware_sim.ils.server import DemoIlsServer
from smartlib.cli import root
from sync.sip2.client import Sip2Client


@pytest.fixture
def client(demo_ils: DemoIlsServer) -> Iterator[Sip2Client]:
    c = Sip2Client("127.0.0.1", demo_ils.port, user="kiosk01", password="s3cret",
                   institution="VNLIB", location="MAIN", keepalive=False)
    c.connect()
    yield c
    c.close()


def test_demo_data_is_deterministic_and_large_enough(demo_db_template: Path, tmp_path: Path) -> None:
    db = connect(demo_db_template)
    n_items = db.execute("SELECT COUNT(*) FROM items").fetchone()[0]
    n_patrons = db.execute("SELECT COUNT(*) FROM patrons").fetchone()[0]
    assert n_items >= 5000 and n_patrons >= 500
    titles = [r[0] for r in db.execute("SELECT title FROM items")]
    assert any(not t.isascii() for t in titles) and any(t.isascii() for t in titles)
    assert db.execute("SELECT COUNT(*) FROM items WHERE parts > 1").fetchone()[0] > 0
    assert db.execute("SELECT COUNT(*) FROM items WHERE owner_isil != 'VN-HN0001'").fetchone()[0] > 0
    pin_hash = db.execute("SELECT pin_hash FROM patrons WHERE id='2000001'").fetchone()[0]
    assert pin_hash.startswith("scrypt$") and "1234" not in pin_hash
    assert verify_pin("1234", pin_hash) and not verify_pin("1235", pin_hash)
    other = connect(tmp_path / "again.sqlite")
    populate(other, seed=7, now=None)
    assert (db.execute("SELECT id, title, author, media_type FROM items ORDER BY id").fetchall()
            == other.execute("SELECT id, title, author, media_type FROM items ORDER BY id").fetchall())
    assert (db.execute("SELECT pin_hash FROM patrons ORDER BY id").fetchall()
            == other.execute("SELECT pin_hash FROM patrons ORDER BY id").fetchall())
    db.close()
    other.close()


def test_hold_shelf_alert_on_return(client: Sip2Client) -> None:
    item = DEMO_ITEMS["available"][0]
    assert client.hold("2000001", item_id=item, pickup_location="BRANCH2").ok
    r = client.checkin(item)
    assert r.ok and r.alert is True
    assert r.alert_type == "02" and r.destination_location == "BRANCH2"
    assert r.hold_patron_id == "2000001"
    r2 = client.checkin(DEMO_ITEMS["on_hold_loaned"][3])
    assert r2.alert_type == "01" and r2.hold_patron_id == "2000004"
    assert r2.hold_patron_name == "Lê Minh Châu" and r2.sort_bin == "HOLD"
    info = client.item_information(DEMO_ITEMS["on_hold_loaned"][3])
    assert info.circulation_status == "08" and info.hold_pickup_date


def test_other_library_goes_in_transit(client: Sip2Client) -> None:
    r = client.checkin(DEMO_ITEMS["other_library_loaned"][0])
    assert r.ok and r.alert is True and r.alert_type == "04"
    assert r.destination_location == "VN-HCM0002"
    assert client.item_information(DEMO_ITEMS["other_library_loaned"][0]).circulation_status == "10"


def test_overdue_return_charges_a_fine(client: Sip2Client, demo_ils: DemoIlsServer) -> None:
    before = client.patron_information("2000001").fee_amount
    r = client.checkin(DEMO_ITEMS["overdue"][0])
    assert r.ok and any("fine" in m for m in r.screen_message)
    after = client.patron_information("2000001").fee_amount
    assert before == "0" and after is not None and int(after) > 0


def test_lost_and_missing_items(client: Sip2Client) -> None:
    assert client.item_information(DEMO_ITEMS["lost"][0]).circulation_status == "12"
    assert client.item_information(DEMO_ITEMS["missing"][0]).circulation_status == "13"
    assert client.checkout("2000001", DEMO_ITEMS["lost"][0]).ok is False
    found = client.checkin(DEMO_ITEMS["lost"][0])
    assert found.ok and "Lost item found" in found.screen_message


def test_loan_rules_limits_and_expiry(client: Sip2Client) -> None:
    assert client.checkout("2000005", DEMO_ITEMS["available"][0]).ok is False  # at limit
    assert client.checkout("2000006", DEMO_ITEMS["available"][0]).ok is False  # expired
    cd = client.checkout("2000004", DEMO_ITEMS["multi_part"][1])
    assert cd.ok and any("parts" in m for m in cd.screen_message)
    assert cd.item_properties and cd.item_properties.startswith("parts=")


def test_no_block_applies_with_original_date(client: Sip2Client, demo_ils: DemoIlsServer) -> None:
    item = DEMO_ITEMS["available"][1]
    r = client.checkout("2000002", item, no_block=True, transaction_date="20261101    100000",
                        nb_due_date="20261122    235900")
    assert r.ok and r.due_date == "20261122    235900"
    back = client.checkin(item, no_block=True, transaction_date="20261125    100000",
                          return_date="20261125    100000")
    assert back.ok and any("Overdue 3 days" in m for m in back.screen_message)


def test_duplicate_detection_with_and_without_key(client: Sip2Client, demo_ils: DemoIlsServer) -> None:
    item = DEMO_ITEMS["available"][2]
    date = "20261120    101010"
    assert client.checkout("2000001", item, no_block=True, transaction_date=date).ok
    assert demo_ils.duplicate_count() == 0
    assert client.checkout("2000001", item, no_block=True, transaction_date=date).ok
    assert demo_ils.duplicate_count() == 1
    assert client.checkin(item, extra_fields={"XK": "abc"}).ok
    assert client.checkin(item, extra_fields={"XK": "def"}).ok
    assert demo_ils.duplicate_count() == 1
    assert client.checkin(item, extra_fields={"XK": "abc"}).ok
    assert demo_ils.duplicate_count() == 2
    assert demo_ils.stats()["duplicate_count"] == 2


def test_any_client_one_write_without_error_detection(demo_ils: DemoIlsServer) -> None:
    with socket.create_connection(("127.0.0.1", demo_ils.port), timeout=5) as s:
        s.sendall(b"9300CNkiosk01|COs3cret|CPMAIN|\r")
        assert s.recv(4096) == b"941\r"
        s.sendall(b"1720261123    120000AOVNLIB|AB30000100|\r")
        answer = s.recv(65536)
        assert answer.startswith(b"1803") and answer.endswith(b"|\r") and b"AZ" not in answer
        s.sendall(b"9300CNkiosk01|COs3cret|CPMAIN|AY0AZF4AA\r")
        # 94 ok with the echoed sequence 0; checksum by hand: sum("941AY0AZ") = 0x203 -> FDFD
        assert s.recv(4096) == b"941AY0AZFDFD\r"
        s.sendall(b"9900302.00AY1AZFCA6\r")  # bad checksum
        assert s.recv(4096) == b"96AZFEF6\r"  # sum("96AZ") = 0x10A -> FEF6


def test_ils_export_and_stats_cli(tmp_path: Path, demo_db_template: Path) -> None:
    db = tmp_path / "ils.sqlite"
    shutil.copy(demo_db_template, db)
    res = CliRunner().invoke(root, ["sim", "ils", "export", "--out", str(tmp_path / "csv"),
                                    "--db", str(db)])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["rows"]["items"] >= 5000 and summary["rows"]["patrons"] >= 500
    with open(tmp_path / "csv" / "items.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert {"item_id", "title", "author", "owner_isil", "media_type", "parts", "status",
            "due_date"} <= set(rows[0])
    with open(tmp_path / "csv" / "patrons.csv", encoding="utf-8") as f:
        prow = next(csv.DictReader(f))
    assert {"patron_id", "name", "blocked", "loan_limit", "pin_hash"} <= set(prow)
    assert "email" not in prow
    for name in ("loans", "holds"):
        assert (tmp_path / "csv" / f"{name}.csv").stat().st_size > 100
    res = CliRunner().invoke(root, ["sim", "ils", "stats", "--db", str(db)])
    assert res.exit_code == 0
    assert json.loads(res.stdout)["duplicate_count"] == 0


@contextmanager
def _served(tmp_path: Path, demo_db_template: Path,
            *extra: str) -> Iterator[tuple[subprocess.Popen[bytes], dict[str, Any]]]:
    """``smartlib sim ils serve`` on a copy of the demo database: the process and the JSON
    line it prints; the test ends it (SIGTERM), else it is killed here."""
    db = tmp_path / "ils.sqlite"
    shutil.copy(demo_db_template, db)
    proc = subprocess.Popen([sys.executable, "-m", "smartlib.cli", "sim", "ils", "serve",
                             "--port", "0", "--db", str(db), *extra], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert proc.stdout is not None
        yield proc, json.loads(proc.stdout.readline())
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _client(port: int) -> Sip2Client:
    return Sip2Client("127.0.0.1", port, user="kiosk01", password="s3cret",
                      institution="VNLIB", keepalive=False)


def test_serve_prints_one_json_line_and_stops_on_sigterm(tmp_path: Path,
                                                         demo_db_template: Path) -> None:
    with _served(tmp_path, demo_db_template) as (proc, info):
        assert info["login"] == {"user": "kiosk01", "password": "s3cret", "institution": "VNLIB",
                                 "location": "MAIN"}
        assert [p["id"] for p in info["patrons"]] == [p.id for p in DEMO_PATRONS[:3]]
        assert all(p["pin"] for p in info["patrons"]) and len(info["items"]) == 3
        with _client(info["port"]) as c:
            assert c.checkout(info["patrons"][0]["id"], info["items"][0],
                              pin=info["patrons"][0]["pin"]).ok
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0


def test_serve_on_one_cpu_pins_every_thread(tmp_path: Path, demo_db_template: Path) -> None:
    # --cpu: the server and its connections' threads all run on that CPU only.
    cpu = max(os.sched_getaffinity(0))
    with _served(tmp_path, demo_db_template, "--cpu", str(cpu)) as (proc, info):
        with _client(info["port"]) as c:  # a connection: its thread exists while it is open
            assert c.sc_status().online_status is True
            tasks = [int(t.name) for t in Path(f"/proc/{proc.pid}/task").iterdir()]
            assert len(tasks) >= 3  # main, the accept loop, this connection
            assert all(os.sched_getaffinity(t) == {cpu} for t in tasks)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0

def test_serve_on_a_cpu_it_may_not_use_is_a_usage_error() -> None:
    res = subprocess.run([sys.executable, "-m", "smartlib.cli", "sim", "ils", "serve",
                          "--port", "0", "--cpu", "4095"], capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 2 and "--cpu 4095" in res.stderr and "Traceback" not in res.stderr
