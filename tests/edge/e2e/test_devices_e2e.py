"""The edge's devices end to end: the debounced pad poller of ``smartlib serve`` seen on its
``/events`` WebSocket while tags are placed through the simulator; the ESC/POS receipt
printed to a serial URL (a pty); and card login through the simulated PC/SC card."""

from __future__ import annotations

import json
import os
import select
import time
from collections import Counter
from typing import Any

import pytest
from websockets.sync.client import connect

from tests.edge.e2e.conftest import (
    DEVICE_TOKEN,
    STAFF_TOKEN,
    Sim,
    World,
    by_item,
    login,
    wait_until,
)


def _events_until(ws: Any, done: Any, limit_s: float = 30) -> list[dict[str, Any]]:
    """Receive events until ``done(events)`` is true (a functional time limit)."""
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + limit_s
    while not done(events):
        left = deadline - time.monotonic()
        assert left > 0, f"events so far: {events}"
        try:
            events.append(json.loads(ws.recv(timeout=left)))
        except TimeoutError:
            continue
    return events


def test_pad_poller_debounces_tags_placed_through_the_simulator(world: World, sim: Sim) -> None:
    a, b = world.items(2)
    url = f"ws://127.0.0.1:{world.api_port}/events?token={DEVICE_TOKEN}"
    with connect(url, open_timeout=10) as ws:
        uid_a = sim.place(a)[0]["uid"]
        uid_b = sim.place(b)[0]["uid"]

        def arrived(ev: list[dict[str, Any]]) -> set[str]:
            return {e["uid"] for e in ev if e["type"] == "tag_arrived"}

        events = _events_until(ws, lambda ev: {uid_a, uid_b} <= arrived(ev))
        by_uid = {e["uid"]: e for e in events if e["type"] == "tag_arrived"}
        assert by_uid[uid_a]["item_id"] == a and by_uid[uid_b]["item_id"] == b
        assert by_uid[uid_a]["antenna"] == "pad"
        sim.remove(a)
        events += _events_until(ws, lambda ev: any(e["type"] == "tag_left" for e in ev))
        # ``b`` stayed on the pad through many polls (100 ms): announced once, never left.
        arrivals = Counter(e["uid"] for e in events if e["type"] == "tag_arrived")
        assert arrivals[uid_a] == 1 and arrivals[uid_b] == 1
        left = [e["uid"] for e in events if e["type"] == "tag_left"]
        assert left == [uid_a]


def test_receipt_is_printed_as_escpos_on_a_serial_url(world: World, kiosk2, pty_pair) -> None:
    box = kiosk2(kiosk={"printer_url": pty_pair.path})
    items = world.items(2)
    for item in items:
        box.place(item)
    api = box.client
    sid = login(api, world.patron(), language="vi")
    res = by_item(api.post(f"/sessions/{sid}/checkout").json())
    assert {r["status"] for r in res.values()} == {"loaned"}, res
    r = api.post(f"/sessions/{sid}/receipt/print")
    assert r.status_code == 200 and r.json() == {"printed": True}, r.text
    got = b""
    deadline = time.monotonic() + 10
    while not got.endswith(b"\x1dV\x00") and time.monotonic() < deadline:
        ready, _, _ = select.select([pty_pair.device_fd], [], [], 0.2)
        if ready:
            got += os.read(pty_pair.device_fd, 4096)
    assert got.startswith(b"\x1b@\x1ba\x01\x1bE\x01")  # ESC @, centre, bold
    assert got.endswith(b"\x1bd\x04\x1dV\x00")  # feed 4, full cut
    text = got.decode("ascii")  # folded to ASCII for the printer's code page
    for item in items:
        assert f"Muon: {item}" in text  # "Mượn" folded
    assert "Cam on ban!" in text
    # The same layout as the API's escpos rendering (only the time line may differ).
    api_bytes = api.get(f"/sessions/{sid}/receipt", params={"format": "escpos"}).content
    assert api_bytes.split(b"\n")[2:] == got.split(b"\n")[2:]
    assert api.delete(f"/sessions/{sid}").status_code == 204


@pytest.mark.pcsc
def test_card_login_through_the_simulated_pcsc_card(world: World, kiosk2, pcscd_vpcd) -> None:
    from hardware_sim.card import SimCardDevice, patron_card

    card = SimCardDevice("127.0.0.1", pcscd_vpcd.port)
    card.start()
    try:
        box = kiosk2(card_reader={"enabled": True, "name_pattern": "Virtual PCD",
                                  "identity": "iso28560"})
        api = box.client
        staff = {"Authorization": f"Bearer {STAFF_TOKEN}"}
        card.insert(patron_card("2000001"))

        def card_present() -> bool:
            devs = api.get("/devices", headers=staff).json()
            devs = devs["devices"] if isinstance(devs, dict) else devs
            return any(d["id"] == "card_reader" and d.get("card_present") for d in devs)

        wait_until(card_present, 30, "the edge to see the card")
        r = api.post("/sessions/card", json={"language": "en", "pin": "1234"})
        assert r.status_code == 201, r.text
        s = r.json()
        assert s["offline"] is False and s["patron"]["name"] == "Nguyễn Văn An"
        assert s["patron"]["id_masked"] != "2000001"
        bad = api.post("/sessions/card", json={"language": "en", "pin": "9999"})
        assert bad.status_code in (401, 403), bad.text
        assert bad.json()["error"]["code"] == "wrong_pin"
        card.remove()
        wait_until(lambda: not card_present(), 30, "the edge to see the card leave")
        gone = api.post("/sessions/card", json={"language": "en"})
        assert gone.json()["error"]["code"] == "device_unavailable"
    finally:
        card.stop()
