"""The demo ILS: answers to requests it cannot take, hold expiry, profile emulation of
checkins, missing items, and ``sim ils serve`` on a busy port."""

from __future__ import annotations

import datetime as dt
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from hardware_sim.ils.data import DEMO_ITEMS
from hardware_sim.ils.server import DemoIlsServer
from sync.sip2.client import Sip2Client


@pytest.fixture
def client(demo_ils: DemoIlsServer) -> Iterator[Sip2Client]:
    c = Sip2Client("127.0.0.1", demo_ils.port, user="kiosk01", password="s3cret",
                   institution="VNLIB", location="MAIN", keepalive=False)
    c.connect()
    yield c
    c.close()


def _hand_checksum(text: str) -> str:
    """The SIP2 checksum worked out here, independently of the codec."""
    return f"{(0x10000 - sum(text.encode('ascii')) % 0x10000) % 0x10000:04X}"


@pytest.fixture
def raw(demo_ils: DemoIlsServer) -> Iterator[socket.socket]:
    """A plain socket, logged in without error detection."""
    s = socket.create_connection(("127.0.0.1", demo_ils.port), timeout=5)
    s.sendall(b"9300CNkiosk01|COs3cret|CPMAIN|\r")
    assert s.recv(4096) == b"941\r"
    yield s
    s.close()


def test_unknown_command_is_answered_96_not_silence(raw: socket.socket,
                                                    demo_ils: DemoIlsServer) -> None:
    raw.sendall(b"XXhello\r")
    assert raw.recv(4096) == b"96\r"
    body = "XXhelloAY1AZ"
    raw.sendall(f"{body}{_hand_checksum(body)}\r".encode())
    assert raw.recv(4096) == b"96AZFEF6\r"   # with error detection, like the request
    # a response type is not a request this ILS answers either
    raw.sendall(b"941\r")
    assert raw.recv(4096) == b"96\r"
    # the connection is still good
    raw.sendall(b"9900302.00\r")
    assert raw.recv(65536).startswith(b"98Y")
    stats = demo_ils.stats()
    assert stats["unknown_requests"] == 3 and demo_ils.received[-4:] == ["XX", "XX", "94", "99"]


def test_undecodable_request_is_answered_96(raw: socket.socket, demo_ils: DemoIlsServer) -> None:
    raw.sendall(b"9\r")          # too short to hold a command
    assert raw.recv(4096) == b"96\r"
    assert demo_ils.stats()["undecodable_requests"] == 1
    raw.sendall(b"9900302.00AY1AZFCA6\r")  # bad checksum (FCA5 is right): 96 as before
    assert raw.recv(4096) == b"96AZFEF6\r"


def test_expired_hold_neither_blocks_nor_alerts(client: Sip2Client) -> None:
    item = DEMO_ITEMS["available"][0]
    past = dt.datetime.now() - dt.timedelta(days=1)
    placed = client.hold("2000001", item_id=item, pickup_location="MAIN", expiration_date=past)
    assert placed.ok
    assert client.item_information(item).hold_queue_length == "0"
    out = client.checkout("2000004", item)
    assert out.ok, out.screen_message
    back = client.checkin(item)
    assert back.ok and back.alert is False and back.alert_type is None
    assert back.hold_patron_id is None and back.sort_bin == "SHELF"
    assert item not in client.patron_information("2000001", summary="hold").hold_items


def test_live_hold_still_blocks_and_alerts(client: Sip2Client) -> None:
    item = DEMO_ITEMS["available"][1]
    later = dt.datetime.now() + dt.timedelta(days=3)
    assert client.hold("2000001", item_id=item, pickup_location="MAIN",
                       expiration_date=later).ok
    assert client.item_information(item).hold_queue_length == "1"
    assert item in client.patron_information("2000001", summary="hold").hold_items
    refused = client.checkout("2000004", item)
    assert not refused.ok and "on hold for another patron" in refused.screen_message[0]
    back = client.checkin(item)
    assert back.alert is True and back.alert_type == "01" and back.hold_patron_id == "2000001"


def test_expired_shelf_hold_frees_the_item(client: Sip2Client, demo_ils: DemoIlsServer) -> None:
    item = DEMO_ITEMS["on_hold_loaned"][4]      # loaned to 2000005, on hold for 2000004
    shelved = client.checkin(item)
    assert shelved.alert_type == "01" and shelved.hold_patron_id == "2000004"
    assert client.item_information(item).circulation_status == "08"
    # the pickup deadline passes
    with demo_ils.circulation.lock:
        demo_ils.circulation.db.execute(
            "UPDATE holds SET expires_at=? WHERE item_id=? AND state='shelf'",
            ((dt.datetime.now() - dt.timedelta(minutes=1)).isoformat(timespec="seconds"), item))
    info = client.item_information(item)
    assert info.circulation_status == "03" and info.hold_pickup_date is None
    assert client.checkout("2000001", item).ok


def test_koha_emulation_answers_ok_0_for_an_item_not_on_loan(client: Sip2Client,
                                                             demo_ils: DemoIlsServer) -> None:
    item = DEMO_ITEMS["available"][2]
    generic = client.checkin(item)
    assert generic.ok is True and "Item was not checked out" in generic.screen_message
    demo_ils.set_profile("koha")
    koha = client.checkin(item)
    assert koha.ok is False and "Item was not checked out" in koha.screen_message
    assert client.checkout("2000001", item).ok
    assert client.checkin(item).ok is True                  # a real loan returns ok = 1


def test_missing_item_found_on_return(client: Sip2Client) -> None:
    item = DEMO_ITEMS["missing"][0]
    assert client.checkout("2000001", item).ok is False
    found = client.checkin(item)
    assert found.ok and "Missing item found" in found.screen_message
    assert client.item_information(item).circulation_status == "03"


def test_serve_on_a_busy_port_is_one_line_and_non_zero() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        res = subprocess.run([sys.executable, "-m", "smartlib.cli", "sim", "ils", "serve",
                              "--port", str(port)], capture_output=True, text=True, timeout=60)
    assert res.returncode != 0 and res.stdout == ""
    assert res.stderr.count("\n") == 1 and "Traceback" not in res.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in res.stderr
