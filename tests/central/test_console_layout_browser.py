"""The console in Debian's headless Chromium (Playwright): the navigation bar wraps between
its items, never inside a label, however narrow the window; an admin names a library and
the pages show its name with its id; a pending command is cancelled from the tasks page."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from central.db import stamp
from central.store import CentralStore, StatusReport
from tests.central.test_console_browser import ConsoleServer
from tests.edge.test_staff_console import CHROMIUM

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason="Debian chromium is not installed")

PASSWORD = "quản-trị-mật-khẩu"


@pytest.fixture
def console(sqlite_store: CentralStore) -> Iterator[ConsoleServer]:
    server = ConsoleServer(SimpleNamespace(store=sqlite_store),  # type: ignore[arg-type]
                           lambda: datetime.now(UTC))
    server.auth.create_account("admin", PASSWORD, role="admin", display_name="Quản Trị")
    server.auth.create_account("xem", PASSWORD, role="viewer", display_name="Người Xem")
    now = stamp(datetime.now(UTC))
    sqlite_store.devices.record_status(StatusReport("hn-01", "kiosk-01", "online", now, now,
                                                    since=now, role="kiosk", backlog=0))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def login(page: Any, url: str, user: str = "admin", password: str = PASSWORD) -> None:
    from playwright.sync_api import expect

    page.goto(url)
    page.fill("#username", user)
    page.fill("#password", password)
    page.click("#login button[type=submit]")
    expect(page.locator("#whoami")).to_be_visible()


# Each nav label's text as line boxes: one rectangle per line it occupies.
_LINES_PER_LABEL = """links => links.map(a => {
  const r = document.createRange(); r.selectNodeContents(a);
  const tops = new Set(Array.from(r.getClientRects()).map(x => Math.round(x.top)));
  return [a.textContent.trim(), tops.size];
})"""


@pytest.mark.parametrize("width", [560, 760, 1000])
def test_nav_labels_never_wrap_inside(console: ConsoleServer, browser_page: Any,
                                      width: int) -> None:
    page = browser_page
    page.set_viewport_size({"width": width, "height": 800})
    login(page, console.url + "/fleet")
    lines = page.locator("header nav a").evaluate_all(_LINES_PER_LABEL)
    assert len(lines) == 11  # an admin's whole bar, "Thư hỏng" among them
    assert any(label == "Thư hỏng" for label, _ in lines)
    assert [label for label, n in lines if n != 1] == []


def test_an_admin_names_a_library_and_the_pages_show_it(console: ConsoleServer,
                                                       browser_page: Any) -> None:
    from playwright.sync_api import expect

    page = browser_page
    login(page, console.url + "/sites/hn-01")
    expect(page.locator("h1")).to_have_text("hn-01")
    page.fill("#site-name", "Thư viện Quận Hoàn Kiếm")
    page.click("#site-name-form button[type=submit]")
    expect(page.locator("h1")).to_have_text("Thư viện Quận Hoàn Kiếm hn-01")
    expect(page.locator("h1 .site-id")).to_have_text("hn-01")
    page.click("#nav-network")
    expect(page.locator("#sites tr[data-site='hn-01'] td").first).to_have_text(
        "Thư viện Quận Hoàn Kiếm hn-01")
    page.click("#nav-fleet")
    expect(page.locator("#devices tr[data-device='kiosk-01'] td.site")).to_have_text(
        "Thư viện Quận Hoàn Kiếm hn-01")
    expect(page.locator("#f-site option[value='hn-01']")).to_have_text(
        "Thư viện Quận Hoàn Kiếm (hn-01)")


def test_a_viewer_has_no_name_form(console: ConsoleServer, browser_page: Any) -> None:
    from playwright.sync_api import expect

    page = browser_page
    login(page, console.url + "/sites/hn-01", user="xem")
    expect(page.locator("h1")).to_have_text("hn-01")
    expect(page.locator("#site-name-form")).to_have_count(0)
    status = page.evaluate("""async () => {
      const me = await (await fetch('/api/me')).json();
      const r = await fetch('/api/sites/hn-01/name', {method: 'POST',
        headers: {'Content-Type': 'application/json', 'X-CSRF-Token': me.csrf_token},
        body: JSON.stringify({name: 'X'})});
      return r.status; }""")
    assert status == 403


def test_a_pending_command_is_cancelled_on_the_tasks_page(console: ConsoleServer,
                                                          sqlite_store: CentralStore,
                                                          browser_page: Any) -> None:
    from playwright.sync_api import expect

    now = datetime.now(UTC)
    command = sqlite_store.commands.issue("hn-01", "kiosk-01", "abandon_security", "7",
                                          issued_by="lan", at=stamp(now),
                                          expires_at=stamp(now + timedelta(hours=72)))
    page = browser_page
    login(page, console.url + "/tasks")
    row = page.locator(f"#commands tr[data-command='{command.command_id}']")
    expect(row.locator(".outcome")).to_have_text("Đang chờ gửi")
    row.locator("button.command-cancel").click()
    expect(row.locator(".outcome")).to_contain_text("Đã huỷ")
    expect(row.locator(".outcome .cancelled-by")).to_have_text("admin")
    expect(row.locator("button.command-cancel")).to_have_count(0)
    assert sqlite_store.commands.get(command.command_id).state == "cancelled"
