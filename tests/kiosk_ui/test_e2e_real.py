"""The kiosk end to end against the REAL stack (issue 10's last test).

Everything below the kiosk is the real thing, started by ``smartlib demo --no-ui --card``
as subprocesses: the simulator (pad and gate readers, the demo ILS over SIP2, the virtual
patron card on the test session's pcscd/vpcd), a private Mosquitto with per-device
credentials and ACL, ``smartlib gateway run``, and the kiosk box's ``smartlib serve`` and
``smartlib sync``. The kiosk itself (view-models and the real window, offscreen) runs in
this process against the kiosk edge's HTTP API and ``/events`` WebSocket.

Flow: a patron card is tapped (``smartlib sim ctl card insert``) and the kiosk logs in by
itself; borrow 3 (tags put on the pad through the simulator's control API, rows filled from
the edge's events); return 1; renew 1; finish. Evidence comes from the kiosk's view-models,
the simulator's tags (AFI) and the demo ILS database (loans and applied transactions).
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pytestqt.exceptions import TimeoutError as QtTimeoutError

from kiosk_ui.viewmodels import Screen
from smartlib_demo.site import DEVICE_TOKEN, HOME_ISIL, pick_items

pytestmark = pytest.mark.pcsc

REPO = Path(__file__).resolve().parents[2]
PATRON = "2000004"  # Lê Minh Châu: room for 3 more loans (2000001 has 8 of 10)
AFI_SECURED, AFI_RELEASED = 0x07, 0xC2


@pytest.fixture
def stack(tmp_path: Path, pcscd_vpcd: Any) -> Iterator[dict[str, Any]]:
    """``smartlib demo --no-ui --card`` on the test session's pcscd; stopped (and checked
    stopped) after the test."""
    ready = tmp_path / "ready.json"
    proc = subprocess.Popen([sys.executable, "-m", "smartlib.cli", "demo", "--no-ui", "--card",
                             "--vpcd-port", str(pcscd_vpcd.port), "--run-dir",
                             str(tmp_path / "run"), "--ready-file", str(ready)],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():
            if proc.poll() is not None:
                err = proc.stderr.read().decode() if proc.stderr else ""
                raise AssertionError(f"demo exited {proc.returncode}: {err[-3000:]}")
            assert time.monotonic() < deadline, "the demo did not become ready"
            time.sleep(0.2)
        info = json.loads(ready.read_text())
        assert info["card"] is True, "the demo started without the simulated card"
        yield info
    finally:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()


def _ctl(info: dict[str, Any], *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "smartlib.cli", "sim", "ctl", "--url",
                           info["sim_url"], *args], capture_output=True, text=True, cwd=REPO,
                          timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _place(info: dict[str, Any], item: str, afi: int | None = None) -> None:
    body: dict[str, Any] = {"item": item, "zone": "pad", "isil": HOME_ISIL}
    if afi is not None:
        body["afi"] = afi
    r = httpx.post(f"{info['sim_url']}/tags", json=body, timeout=10)
    assert r.status_code < 300, r.text


def _clear_pad(info: dict[str, Any]) -> None:
    r = httpx.post(f"{info['sim_url']}/tags/clear", json={"zone": "pad"}, timeout=10)
    assert r.status_code < 300, r.text


def _afi(info: dict[str, Any], items: list[str]) -> dict[str, int]:
    tags = httpx.get(f"{info['sim_url']}/tags", timeout=10).json()
    return {t["item"]: t["afi"] for t in tags if t.get("item") in items}


def _ils(info: dict[str, Any], sql: str, *args: Any) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(f"file:{Path(info['run_dir']) / 'ils.db'}?mode=ro", uri=True,
                         timeout=10)
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


def _wait(pred: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def test_card_login_borrow_3_return_1_renew_1_finish(stack: dict[str, Any], qtbot: Any) -> None:
    from kiosk_ui.app import KioskOptions, create_kiosk
    from kiosk_ui.client import EdgeClient
    from kiosk_ui.errors import EdgeApiError

    items = pick_items(Path(stack["run_dir"]) / "export", 3)
    opts = KioskOptions(edge_url=stack["kiosk_url"], token=DEVICE_TOKEN, language="en",
                        fullscreen=False, health_interval_ms=1000, card_poll_ms=300,
                        idle_timeout_s=300)
    k = create_kiosk(opts, connect_events=True, threaded=True)
    try:
        qtbot.addWidget(k.window)
        k.window.resize(1280, 800)
        k.window.show()
        vm = k.vm
        seen: list[dict[str, Any]] = []  # the edge's events, as the kiosk receives them
        k.events.event.connect(lambda evt: seen.append(dict(evt)))

        def pad_empty() -> bool:
            """Every tag that arrived on the pad has left it again (as the edge saw it)."""
            arrived = {e.get("uid") for e in seen if e.get("type") == "tag_arrived"}
            left = {e.get("uid") for e in seen if e.get("type") == "tag_left"}
            return arrived <= left

        qtbot.waitUntil(lambda: vm.events_connected and vm.edge_up, timeout=15_000)
        assert vm.screen == Screen.ATTRACT

        # log in by simulated card: the kiosk polls the edge's card login by itself
        _ctl(stack, "card", "insert", "--patron", PATRON)
        qtbot.waitUntil(lambda: vm.screen == Screen.MENU, timeout=30_000)
        assert vm.session is not None and vm.session["offline"] is False
        assert vm.session["patron"]["id_masked"].endswith(PATRON[-1])
        assert PATRON not in json.dumps(vm.session["patron"]["id_masked"])
        _ctl(stack, "card", "remove")

        # borrow 3: tags placed on the simulated pad; rows fill from the edge's events
        vm.go(Screen.BORROW)
        for item in items:
            _place(stack, item)
        try:
            qtbot.waitUntil(lambda: vm.borrow.counts["ok"] == 3
                            and vm.borrow.counts["pending"] == 0, timeout=30_000)
        except QtTimeoutError as exc:
            raise AssertionError(f"borrow rows {vm.borrow.model.rows}, counts "
                                 f"{vm.borrow.counts}, tags {_afi(stack, items)}") from exc
        rows = {r["item_id"]: r for r in vm.borrow.model.rows}
        assert set(rows) == set(items)
        assert {r["status"] for r in rows.values()} == {"loaned"}, rows
        assert all(r.get("due_date") and r.get("title") for r in rows.values())
        loans = dict(_ils(stack, "SELECT item_id, patron_id FROM loans WHERE item_id IN (?,?,?)",
                          *items))
        assert loans == {i: PATRON for i in items}
        _wait(lambda: set(_afi(stack, items).values()) == {AFI_RELEASED}, 15,
              "every borrowed tag released")

        # the patron takes the books away, then puts one back to return it
        _clear_pad(stack)
        qtbot.waitUntil(pad_empty, timeout=15_000)
        vm.go(Screen.RETURN)
        _place(stack, items[0], afi=AFI_RELEASED)
        qtbot.waitUntil(lambda: vm.returns.counts["ok"] == 1, timeout=30_000)
        back = vm.returns.model.rows[0]
        assert (back["item_id"], back["status"]) == (items[0], "returned")
        assert _ils(stack, "SELECT COUNT(*) FROM loans WHERE item_id = ?", items[0]) == [(0,)]
        _wait(lambda: _afi(stack, [items[0]]) == {items[0]: AFI_SECURED}, 15,
              "the returned tag secured")
        _clear_pad(stack)
        qtbot.waitUntil(pad_empty, timeout=15_000)

        # renew 1 of the two books still on loan
        vm.go(Screen.RENEW)
        qtbot.waitUntil(lambda: {r.get("item_id") for r in vm.renew.loans.rows} >= set(items[1:]),
                        timeout=30_000)
        ids = [r["item_id"] for r in vm.renew.loans.rows]
        assert items[0] not in ids
        vm.renew.loans.toggle(ids.index(items[1]))
        assert vm.renew.selected == [items[1]]
        vm.renew.renew_selected()
        qtbot.waitUntil(lambda: any(r.get("status") for r in vm.renew.loans.rows
                                    if r["item_id"] == items[1]), timeout=30_000)
        renewed = next(r for r in vm.renew.loans.rows if r["item_id"] == items[1])
        assert renewed["status"] == "renewed", renewed
        assert _ils(stack, "SELECT renewals FROM loans WHERE item_id = ?", items[1]) == [(1,)]

        # every transaction applied once in the ILS, none twice
        kinds = _ils(stack, "SELECT kind, item_id, COUNT(*) FROM applications WHERE item_id IN "
                            "(?,?,?) AND duplicate = 0 GROUP BY kind, item_id", *items)
        assert sorted(kinds) == sorted([("checkout", i, 1) for i in items]
                                       + [("checkin", items[0], 1), ("renew", items[1], 1)])

        # finish: the receipt is offered, skipped, and the session is wiped on the edge
        sid = str(vm.session_id)
        vm.finish()
        qtbot.waitUntil(lambda: vm.screen == Screen.RECEIPT and bool(vm.receipt.receipt),
                        timeout=15_000)
        vm.receipt.skip()
        qtbot.waitUntil(lambda: vm.screen == Screen.ATTRACT, timeout=10_000)
        c = EdgeClient(stack["kiosk_url"], DEVICE_TOKEN)
        try:
            def gone() -> bool:
                try:
                    c.get_session(sid)
                except EdgeApiError as exc:
                    assert exc.code in ("session_expired", "not_found")
                    return True
                return False

            _wait(gone, 10, "the session is still alive on the edge")
        finally:
            c.close()
    finally:
        k.close()
