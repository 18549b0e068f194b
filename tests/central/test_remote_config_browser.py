"""Remote configuration in Debian's headless Chromium (Playwright), against the real thing:
an admin edits a kiosk's configuration in the console, the collector pushes it over a
private Mosquitto, the kiosk's ``smartlib sync`` stores it and its edge services apply it;
the page shows it applied, with what needs a restart. An invalid edit is refused on the page
with the reason, and nothing is pushed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.central.conftest import Central
from tests.central.test_console_browser import ConsoleServer
from tests.central.test_remote_config_e2e import SITE, Box
from tests.edge.test_staff_console import CHROMIUM
from tests.sync.gateway.harness import wait_until

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason="Debian chromium is not installed")

PASSWORD = "quản-trị-mật-khẩu"


@pytest.fixture
def central_site() -> str:
    return SITE


@pytest.fixture
def console(central: Central) -> Iterator[ConsoleServer]:
    server = ConsoleServer(central, lambda: datetime.now(UTC))
    server.auth.create_account("boss", PASSWORD, role="admin", display_name="Trần Văn Boss")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_an_admin_pushes_a_change_and_sees_it_applied(
        tmp_path: Path, site_broker: Any, central: Central, console: ConsoleServer,
        browser_page: Any) -> None:
    from playwright.sync_api import expect

    box = Box(tmp_path, site_broker).start()
    try:
        wait_until(lambda: (d := central.device("kiosk-01")) and d.state == "online",
                   what=lambda: f"the kiosk online; agent: {box.agent.output()[-2000:]}")
        page = browser_page
        page.goto(console.url + "/")
        page.fill("#username", "boss")
        page.fill("#password", PASSWORD)
        page.click("#login button[type=submit]")
        expect(page.locator("#whoami")).to_contain_text("Trần Văn Boss")

        page.goto(console.url + f"/sites/{SITE}/devices/kiosk-01?lang=en")
        page.click("#device-config")
        expect(page.locator("#config-version")).to_have_text("0")

        # Refused on the page, with the reason; nothing is pushed.
        page.fill("#config-document", "[broker]\nhost = \"elsewhere\"\n")
        page.click("#config-save")
        expect(page.locator("#config-error")).to_contain_text("broker credentials")
        assert central.store.configs.device_state(SITE, "kiosk-01") is None

        page.fill("#config-document", "[policy]\noffline_max_items = 8\n\n[kiosk]\n"
                                      "large_text = true\n")
        page.click("#config-save")
        expect(page.locator("#config-notice")).to_be_visible()
        expect(page.locator("#config-version")).to_have_text("1")

        def shown_state() -> str:
            page.reload()
            return str(page.locator("#config-state").inner_text())

        wait_until(lambda: shown_state() == "Applied",
                   what=lambda: f"'Applied' on the page; agent: {box.agent.output()[-2000:]}")
        expect(page.locator("#config-restart")).to_have_text("kiosk.large_text")
        expect(page.locator("#config-effective")).to_contain_text("offline_max_items = 8")
        assert box.services is not None
        assert box.services.circulation.policy.offline_max_items == 8

        page.goto(console.url + "/config")
        expect(page.locator("#config-states tr[data-device='hn-01/kiosk-01'] .config-state")
               ).to_have_text("Applied")
        page.goto(console.url + "/audit")
        expect(page.locator("#audit")).to_contain_text("config:hn-01/kiosk-01")
    finally:
        box.stop()
