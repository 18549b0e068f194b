"""``smartlib sim serve --vpcd HOST:PORT --ils-port P`` as a subprocess: the virtual card it
runs is a card to a plain pyscard script (through the real pcscd), and the demo ILS it
embeds answers ``smartlib sip2``."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hardware_sim.card import patron_uid
from hardware_sim.ils.data import DEMO_ITEMS, DEMO_PATRONS, INSTITUTION, LOGIN_PASSWORD, LOGIN_USER
from tests.support.pcscd import PcscdVpcd
from tests.support.procs import free_port

ROOT = Path(__file__).resolve().parents[3]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}

# GET DATA (FF CA 00 00 00), PC/SC part 3: the card's UID, from a script that knows
# nothing of smartlib.
PLAIN_PYSCARD = r"""
import sys
from smartcard.System import readers
from smartcard.util import toHexString
r = [r for r in readers() if str(r) == sys.argv[1]][0]
c = r.createConnection()
c.connect()
data, sw1, sw2 = c.transmit([0xFF, 0xCA, 0x00, 0x00, 0x00])
print(toHexString(data), "%02X %02X" % (sw1, sw2))
c.disconnect()
"""


def smartlib(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "smartlib.cli", *args], capture_output=True,
                          text=True, timeout=timeout, env=ENV)


class Served:
    """A running ``sim serve`` subprocess and the endpoints it printed."""

    def __init__(self, tmp_path: Path, db_template: Path, vpcd_port: int | None) -> None:
        self.stderr = ""
        db = tmp_path / "ils.sqlite"
        shutil.copy(db_template, db)
        self.control_port = free_port()
        self.ils_port = free_port()
        args = [sys.executable, "-m", "smartlib.cli", "sim", "serve", "--no-timing",
                "--control-port", str(self.control_port), "--ils-port", str(self.ils_port),
                "--ils-db", str(db)]
        # without a vpcd of its own the test turns the virtual card off (the default is
        # the system's vpcd at 127.0.0.1:35963)
        args += ["--vpcd", f"127.0.0.1:{vpcd_port}" if vpcd_port is not None else "none"]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, cwd=tmp_path, env=ENV)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.stop()
            raise AssertionError(f"sim serve printed nothing: {self.stderr}")
        self.endpoints: dict[str, Any] = json.loads(line)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            _out, self.stderr = self.proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _out, self.stderr = self.proc.communicate(timeout=5)

    def sip2(self, *args: str) -> dict[str, Any]:
        out = smartlib("sip2", "--host", "127.0.0.1", "--port", str(self.ils_port),
                       "--user", LOGIN_USER, "--password", LOGIN_PASSWORD,
                       "--institution", INSTITUTION, *args)
        assert out.returncode == 0, out.stderr
        result: dict[str, Any] = json.loads(out.stdout)
        return result


@pytest.fixture
def serve_ils_only(tmp_path: Path, demo_db_template: Path) -> Iterator[Served]:
    s = Served(tmp_path, demo_db_template, None)
    try:
        yield s
    finally:
        s.stop()


def _check_embedded_ils(s: Served) -> None:
    assert s.endpoints["ils"] == {"host": "127.0.0.1", "port": s.ils_port}
    st = s.sip2("status")
    assert st["message"] == "AcsStatus" and st["online_status"] is True
    assert st["checkout_ok"] is True
    patron = DEMO_PATRONS[0]
    item = DEMO_ITEMS["available"][0]
    co = s.sip2("checkout", "--patron", patron.id, "--pin", patron.pin, "--item", item)
    assert co["message"] == "CheckoutResponse"
    assert co["ok"] is True and co["item_id"] == item and co["patron_id"] == patron.id
    assert co["due_date"]
    again = s.sip2("item", "--item", item)
    assert again["circulation_status"] == "04"  # charged
    ci = s.sip2("checkin", "--item", item)
    assert ci["ok"] is True


def test_sim_serve_embedded_ils(serve_ils_only: Served) -> None:
    assert serve_ils_only.endpoints["vpcd"] is None
    _check_embedded_ils(serve_ils_only)


@pytest.mark.pcsc
def test_sim_serve_with_vpcd_and_ils(tmp_path: Path, demo_db_template: Path,
                                     pcscd_vpcd: PcscdVpcd) -> None:
    from tests.drivers.pcsc.support import READER, wait_card_state

    s = Served(tmp_path, demo_db_template, pcscd_vpcd.port)
    url = s.endpoints["control_url"]
    try:
        assert s.endpoints["vpcd"] == f"127.0.0.1:{pcscd_vpcd.port}"
        # (a) the card, through smartlib sim ctl card, seen by a plain pyscard script
        out = smartlib("sim", "ctl", "--url", url, "card", "insert", "--patron", "P2024001")
        assert out.returncode == 0, out.stderr
        expected_uid = patron_uid("P2024001").hex().upper()
        assert json.loads(out.stdout)["card"]["uid"] == expected_uid
        wait_card_state(present=True, timeout=20)
        got = subprocess.run([sys.executable, "-c", PLAIN_PYSCARD, READER], capture_output=True,
                             text=True, timeout=30)
        assert got.returncode == 0, got.stderr
        spaced = " ".join(expected_uid[i:i + 2] for i in range(0, 16, 2))
        assert got.stdout.strip() == f"{spaced} 90 00"
        out = smartlib("sim", "ctl", "--url", url, "card", "status")
        assert out.returncode == 0 and json.loads(out.stdout)["card"]["uid"] == expected_uid
        out = smartlib("sim", "ctl", "--url", url, "card", "remove")
        assert out.returncode == 0, out.stderr
        wait_card_state(present=False, timeout=20)
        # (b) the embedded ILS
        _check_embedded_ils(s)
    finally:
        s.stop()
    if pcscd_vpcd.proc is not None and pcscd_vpcd.proc.poll() is None:
        wait_card_state(present=False, timeout=20)
