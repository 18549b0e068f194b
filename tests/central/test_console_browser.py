"""The central console in Debian's headless Chromium (Playwright), against the real thing:
a private Mosquitto with per-box accounts, the collector on its own account, a kiosk's
``smartlib sync`` and a simulated gate box (the edge app with its gate loop) whose agent
publishes its alarms. Staff log in, see the fleet, acknowledge the alarm of a gate walk as
it arrives live, and watch the kiosk go offline after a kill -9 and come back."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from central.config import CentralSection
from central.web.app import create_app
from tests.central.conftest import Central, agent_toml, make_auth
from tests.edge.test_staff_console import CHROMIUM, GateBox
from tests.support.procs import free_port, wait_port
from tests.sync.gateway.harness import Proc, wait_until

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason="Debian chromium is not installed")

SITE = "hn-central"  # the gate box's site (tests/edge/test_staff_console.py)
PASSWORD = "thủ-thư-mật-khẩu"


@pytest.fixture
def central_site() -> str:
    return SITE


class ConsoleServer:
    """The console's app under uvicorn in a thread, on the collector's database."""

    def __init__(self, central: Central, clock: Any) -> None:
        import uvicorn

        self.auth = make_auth(central.store, clock)
        self.auth.create_account("lan", PASSWORD, role="librarian", display_name="Nguyễn Thị Lan")
        app = create_app(central.store, self.auth, CentralSection(), poll_s=0.1)
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                    log_config=None, timeout_graceful_shutdown=1))
        self.thread = threading.Thread(target=self.server.run, name="uvicorn-central",
                                       daemon=True)

    def start(self) -> ConsoleServer:
        self.thread.start()
        wait_port("127.0.0.1", self.port, timeout=20)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def console(central: Central) -> Iterator[ConsoleServer]:
    from datetime import UTC, datetime

    server = ConsoleServer(central, lambda: datetime.now(UTC)).start()
    try:
        yield server
    finally:
        server.stop()


def fleet_state(page: Any, console: ConsoleServer, device: str) -> str:
    page.goto(console.url + "/fleet")
    row = page.locator(f"#devices tr[data-device='{device}'] td.state")
    return str(row.inner_text()) if row.count() else ""


def test_log_in_fleet_gate_alarm_ack_and_kiosk_offline_and_back(
        tmp_path: Path, site_broker: Any, central: Central, console: ConsoleServer,
        browser_page: Any) -> None:
    from playwright.sync_api import expect

    page = browser_page
    box = GateBox(tmp_path).start()
    kiosk = Proc(["sync", "--config", str(agent_toml(tmp_path, site_broker, SITE, "kiosk-01"))],
                 tmp_path / "kiosk.log").start()
    # The gate box's agent, on the gate's own store (as `smartlib sync` beside `serve`).
    gate_agent = Proc(["sync", "--config", str(agent_toml(tmp_path, site_broker, SITE, "gate-01",
                                                          store_path=tmp_path / "gate.db"))],
                      tmp_path / "gate-agent.log").start()
    try:
        page.goto(console.url + "/")
        expect(page.locator("h1")).to_have_text("Đăng nhập")            # Vietnamese by default
        page.fill("#username", "lan")
        page.fill("#password", PASSWORD)
        page.click("#login button[type=submit]")
        expect(page.locator("h1")).to_have_text("Mạng lưới thư viện")
        expect(page.locator("#whoami")).to_contain_text("Nguyễn Thị Lan")

        wait_until(lambda: fleet_state(page, console, "kiosk-01") == "Trực tuyến"
                   and fleet_state(page, console, "gate-01") == "Trực tuyến",
                   what=lambda: f"both boxes online; kiosk: {kiosk.output()[-1500:]}")
        gate_row = page.locator("#devices tr[data-device='gate-01']")
        expect(gate_row.locator("td").nth(2)).to_have_text("Cổng an ninh")

        page.goto(console.url + "/alarms")
        expect(page.locator("#live")).to_have_attribute("data-live", "1")
        expect(page.locator("#live-alarms tbody tr")).to_have_count(0)

        loaned = box.item("70000001", "Truyện Kiều", loaned=True)
        unissued = box.item("70000002", "Những ngày thơ ấu", loaned=False)
        box.walk_out([loaned, unissued])

        rows = page.locator("#live-alarms tbody tr")
        expect(rows).to_have_count(1)                                   # arrived live (SSE)
        expect(rows.first.locator(".alarm-title")).to_have_text("Những ngày thơ ấu")
        expect(rows.first.locator(".alarm-kind")).to_have_text("Cổng báo động")
        expect(rows.first).to_contain_text("70000002")
        rows.first.locator("button.ack").click()
        acked_by = rows.first.locator(".acked-by")
        expect(acked_by).to_have_text("Nguyễn Thị Lan")              # the display name,
        expect(acked_by).to_have_attribute("title", "lan")           # the account as tooltip
        expect(rows.first.locator("button.ack")).to_have_count(0)
        [alarm] = central.store.alarms.search()
        assert alarm.acked_by == "lan" and alarm.item == "70000002"

        page.click("a.lang[data-lang=en]")
        expect(page.locator("h1")).to_have_text("Alarms across all sites")
        history_by = page.locator("#history tbody tr").first.locator(".acked-by")
        expect(history_by).to_have_text("Nguyễn Thị Lan")
        expect(history_by).to_have_attribute("title", "lan")
        expect(page.locator("#history tbody tr").first.locator(".alarm-state")).to_contain_text(
            "Acknowledged by Nguyễn Thị Lan")

        kiosk.kill9()
        wait_until(lambda: fleet_state(page, console, "kiosk-01") == "Offline",
                   what="the kiosk's last will on the fleet page")
        kiosk.start()
        wait_until(lambda: fleet_state(page, console, "kiosk-01") == "Online",
                   what="the kiosk back on the fleet page")
        # The agent counted its second start (a restart) and the console a reconnect.
        expect(page.locator("#devices tr[data-device='kiosk-01'] td.restarts")).to_have_text("1")
        expect(page.locator("#devices tr[data-device='kiosk-01'] td.reconnects")).to_have_text("1")
    finally:
        gate_agent.stop()
        kiosk.stop()
        box.stop()
