"""The console's layout in Debian's headless Chromium (Playwright): the navigation bar
wraps between its items, never inside a label, however narrow the window."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from central.store import CentralStore
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
