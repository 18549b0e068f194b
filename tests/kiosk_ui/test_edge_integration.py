"""The kiosk against the REAL edge API over HTTP and WebSocket (uvicorn on a free port).

The edge runs with its real store, circulation and event bus; the pad reader is the edge
tests' in-memory reader and the sync agent + gateway + ILS are the edge tests'
``GatewayDouble`` (the full demo stack with the simulator is issue 12; see
``test_e2e_demo.py``). Flow: log in, borrow 3 (tags put on the pad), return 1, renew 1,
finish. The scan rules: ``POST /scans`` read through the kiosk's client, and a barcode login
by a wedge scan.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from edge.api import create_app
from edge.services.container import EdgeServices
from kiosk_ui.viewmodels import KioskViewModel, Screen
from smartlib.config import load_settings
from tests.edge.doubles import FakeReader, GatewayDouble, Ils, make_tag
from tests.support.pin_keys import make_pin_keys
from tests.support.procs import free_port, wait_port

ITEMS = ("30000001", "30000002", "30000003")


@contextmanager
def _serve_edge(tmp_path: Path, **card_reader: Any) -> Iterator[dict[str, Any]]:
    """The real edge app under uvicorn on a free port (``card_reader``: its settings)."""
    import uvicorn

    port = free_port()
    keys = make_pin_keys(tmp_path)  # PINs are sealed for the gateway (the double opens them)
    settings = load_settings(None, store={"path": tmp_path / "edge.db"},
                             gateway={"public_key": keys.public_key},
                             policy={"result_timeout_s": 2.0},
                             card_reader={"enabled": False, **card_reader},
                             reader={"poll_interval_ms": 50},
                             api={"device_token": "dev-tok", "staff_token": "staff-tok",
                                  "port": port})
    reader = FakeReader()
    ils = Ils(patrons={"2000001": "1234"},
              titles={"30000001": "Truyện Kiều", "30000002": "Số đỏ", "30000003": "Tắt đèn"})
    with GatewayDouble(settings.store.path, ils, pin_key=keys.private_key) as gw:
        services = EdgeServices.build(settings, reader=reader)
        app = create_app(settings, services, start_services=True, background=True)
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                               log_config=None, log_level="warning"))
        thread = threading.Thread(target=server.run, name="edge-uvicorn")
        thread.start()
        try:
            wait_port("127.0.0.1", port, timeout=10)
            yield {"url": f"http://127.0.0.1:{port}", "reader": reader, "ils": ils, "gateway": gw}
        finally:
            server.should_exit = True
            thread.join(10)


@pytest.fixture
def real_edge(tmp_path: Path) -> Iterator[dict[str, Any]]:
    with _serve_edge(tmp_path) as edge:
        yield edge


@pytest.fixture
def affix_edge(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The real edge with a scanner that sends ``]C1`` before and ``#`` CR after each code."""
    with _serve_edge(tmp_path, scanner_prefix="]C1", scanner_suffix="#\r") as edge:
        yield edge


def test_kiosk_against_the_real_edge(real_edge: dict[str, Any], qtbot: Any) -> None:
    from kiosk_ui.app import KioskOptions, create_kiosk

    reader: FakeReader = real_edge["reader"]
    opts = KioskOptions(edge_url=real_edge["url"], token="dev-tok", fullscreen=False,
                        health_interval_ms=1000, card_poll_ms=60_000)
    k = create_kiosk(opts, connect_events=True, threaded=True)
    try:
        qtbot.addWidget(k.window)
        k.window.show()
        vm = k.vm
        qtbot.waitUntil(lambda: vm.events_connected, timeout=10_000)
        # log in (number + PIN)
        vm.go(Screen.LOGIN)
        vm.login.set_number("2000001")
        vm.login.set_pin("1234")
        vm.login.submit()
        qtbot.waitUntil(lambda: vm.screen == Screen.MENU, timeout=10_000)
        assert vm.session and vm.session["patron"]["id_masked"].endswith("001")
        # borrow 3: tags arrive on the pad, rows fill from the edge's events
        vm.go(Screen.BORROW)
        tags = {item: make_tag(item) for item in ITEMS}
        for tag in tags.values():
            reader.tags[tag.uid] = tag
        qtbot.waitUntil(lambda: vm.borrow.counts["ok"] == 3 and vm.borrow.counts["pending"] == 0,
                        timeout=15_000)
        rows = {r["item_id"]: r for r in vm.borrow.model.rows}
        assert {r["status"] for r in rows.values()} == {"loaned"}, rows
        assert all(r.get("due_date") for r in rows.values())
        assert set(real_edge["ils"].loans) == set(ITEMS)
        # the patron takes two away and puts one back to return it
        reader.tags.clear()
        time.sleep(0.3)
        vm.go(Screen.RETURN)
        reader.tags[tags[ITEMS[0]].uid] = tags[ITEMS[0]]
        # (A tag event of the borrow screen still queued leaves no row: item_not_on_pad.)
        qtbot.waitUntil(lambda: vm.returns.counts["ok"] == 1
                        and vm.returns.counts["pending"] == 0, timeout=15_000)
        assert [(r["item_id"], r["status"]) for r in vm.returns.model.rows] == \
            [(ITEMS[0], "returned")]
        reader.tags.clear()
        # renew 1
        vm.go(Screen.RENEW)
        qtbot.waitUntil(lambda: vm.renew.loans.rowCount() == 2, timeout=10_000)
        vm.renew.loans.toggle(0)
        target = vm.renew.selected[0]
        vm.renew.renew_selected()
        qtbot.waitUntil(lambda: any(r.get("status") == "renewed" for r in vm.renew.loans.rows),
                        timeout=15_000)
        renewed = [r for r in vm.renew.loans.rows if r.get("status") == "renewed"]
        assert [r["item_id"] for r in renewed] == [target]
        # finish: receipt offered, skip, session wiped on the edge
        sid = vm.session_id
        vm.finish()
        qtbot.waitUntil(lambda: vm.screen == Screen.RECEIPT and bool(vm.receipt.receipt),
                        timeout=10_000)
        assert len(vm.receipt.receipt["lines"]) >= 5
        vm.receipt.skip()
        qtbot.waitUntil(lambda: vm.screen == Screen.ATTRACT, timeout=5_000)
        from kiosk_ui.client import EdgeClient
        from kiosk_ui.errors import EdgeApiError
        c = EdgeClient(real_edge["url"], "dev-tok")
        deadline = time.monotonic() + 5
        while True:
            try:
                c.get_session(str(sid))
            except EdgeApiError as exc:
                assert exc.code in ("session_expired", "not_found")
                break
            assert time.monotonic() < deadline, "session still alive on the edge"
            time.sleep(0.1)
        c.close()
        # an anonymous return has its receipt too, built by the edge from its journal
        vm.start_anonymous_return()
        reader.tags[tags[ITEMS[1]].uid] = tags[ITEMS[1]]
        qtbot.waitUntil(lambda: vm.returns.counts["ok"] == 1
                        and vm.returns.counts["pending"] == 0, timeout=15_000)
        vm.finish()
        qtbot.waitUntil(lambda: vm.screen == Screen.RECEIPT and bool(vm.receipt.receipt),
                        timeout=10_000)
        assert [(ln["item_id"], ln["action"]) for ln in vm.receipt.receipt["lines"]] == \
            [(ITEMS[1], "return")]
        assert vm.receipt.receipt["patron_masked"] == "-"
        vm.receipt.skip()
        qtbot.waitUntil(lambda: vm.screen == Screen.ATTRACT, timeout=5_000)
        reader.tags.clear()
    finally:
        k.close()


# ---- keyboard-wedge scans: the edge applies the scanner's rules ------------------------

@pytest.mark.parametrize(("raw", "want"), [
    ("123456", "123456"), ("123456\r\n", "123456"), ("123456\n", "123456"),
    ("  2000004 ", "2000004"),
])
def test_the_edge_reads_a_scan(real_edge: dict[str, Any], raw: str, want: str) -> None:
    from kiosk_ui.client import EdgeClient

    c = EdgeClient(real_edge["url"], "dev-tok")
    try:
        assert c.read_scan(raw)["identifier"] == want
    finally:
        c.close()


@pytest.mark.parametrize(("raw", "reason"), [
    ("", "empty scan"), ("   \r", "empty scan"),
    ("12\x0734", "control character U+0007 at offset 2"),
    ("12\u200b34", "control character U+200B at offset 2"),
    ("9" * 129, "expected at most 128"),
])
def test_the_edge_refuses_a_bad_scan_with_the_reason(real_edge: dict[str, Any], raw: str,
                                                      reason: str) -> None:
    from kiosk_ui.client import EdgeClient
    from kiosk_ui.errors import EdgeApiError

    c = EdgeClient(real_edge["url"], "dev-tok")
    try:
        with pytest.raises(EdgeApiError) as ei:
            c.read_scan(raw)
    finally:
        c.close()
    assert (ei.value.code, ei.value.status) == ("bad_scan", 409)
    assert reason in ei.value.message
    if raw.strip():
        assert raw.strip("\r\n ") not in ei.value.message   # the reason never holds the scan


def test_the_edge_requires_and_strips_its_configured_affixes(affix_edge: dict[str, Any]) -> None:
    from kiosk_ui.client import EdgeClient
    from kiosk_ui.errors import EdgeApiError

    c = EdgeClient(affix_edge["url"], "dev-tok")
    try:
        # The suffix's CR is the Enter key that ended the scan: the kiosk sends what was typed.
        for raw in ("]C12000001#", "]C1 2000001 #", "]C12000001#\r"):
            assert c.read_scan(raw)["identifier"] == "2000001", raw
        for raw, reason in (("2000001#", "lacks the configured prefix"),
                            ("]C12000001", "lacks the configured suffix"),
                            ("]C1   #", "empty scan"),
                            ("]C120\x0701#", "control character U+0007 at offset 5")):
            with pytest.raises(EdgeApiError) as ei:
                c.read_scan(raw)
            assert ei.value.code == "bad_scan" and reason in ei.value.message, raw
    finally:
        c.close()


def test_a_wedge_scan_logs_in_through_the_real_edge(affix_edge: dict[str, Any],
                                                    localizer: Any) -> None:
    from kiosk_ui.client import EdgeClient
    from kiosk_ui.worker import InlineRunner

    c = EdgeClient(affix_edge["url"], "dev-tok")
    vm = KioskViewModel(c, InlineRunner(), localizer, scan_prefix="]C1", scan_suffix="#\r")
    try:
        vm.go(Screen.LOGIN)
        vm.login.submit_barcode("2000001")                 # a burst without the prefix
        assert vm.screen == Screen.LOGIN and vm.login.error_code == "bad_scan"
        assert "prefix" in vm.login._error.message   # type: ignore[union-attr]
        vm.login.submit_barcode("]C12000001#")
        assert vm.screen == Screen.MENU, vm.login.error_code
        assert vm.session and vm.session["patron"]["id_masked"].endswith("001")
    finally:
        vm.end_session()
        vm.stop()
        c.close()
