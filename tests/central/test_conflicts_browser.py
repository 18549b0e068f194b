"""The conflicts queue and the failed security tasks in Debian's headless Chromium
(Playwright), against the real thing: a private Mosquitto, the demo ILS, a gateway, a box's
agent and edge store, and the collector (with its command dispatcher) and the console.

An offline checkout the ILS refuses becomes a conflict at the centre; a librarian sees the
patron, resolves it ("the loan stands"), and the box's own copy is resolved by the command.
A release that keeps failing on the box shows as a failed task; the librarian abandons it
and sees the box's outcome."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.central.conftest import Central
from tests.central.test_console_browser import PASSWORD, ConsoleServer
from tests.edge.test_staff_console import CHROMIUM
from tests.sync.gateway.harness import PATRON, SITE, SyncEnv, journal, wait_until

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason="Debian chromium is not installed")


@pytest.fixture
def central(tmp_path: Path, sync_env: SyncEnv) -> Iterator[Central]:
    c = Central(tmp_path, sync_env.broker, SITE)
    c.start()
    try:
        yield c
    finally:
        c.stop()
        c.store.close()


@pytest.fixture
def console(central: Central) -> Iterator[ConsoleServer]:
    server = ConsoleServer(central, lambda: datetime.now(UTC)).start()
    try:
        yield server
    finally:
        server.stop()


def test_resolve_a_refused_offline_checkout_and_abandon_a_failed_release(
        sync_env: SyncEnv, central: Central, console: ConsoleServer, browser_page: Any) -> None:
    from playwright.sync_api import expect

    page = browser_page
    store = sync_env.open_store()
    sync_env.start_gateway()
    sync_env.start_agent()

    # The box accepted a checkout offline; the ILS refuses it later (an unknown item).
    key = journal(store, "checkout", "99999999", offline=True)
    entry = store.outbox.wait_for_result(key, timeout=20)
    assert entry is not None and entry.state == "conflict"
    wait_until(lambda: central.store.conflicts.list(), what="the conflict at the centre")
    # A release that keeps failing on the box (the reader never confirmed the write).
    task = store.security.create("30000201", "e004010000000201", "release")
    store.security.record_failure(task.id, "RfidError: no answer", alarm=True)
    wait_until(lambda: central.store.security_tasks.list(), what="the failed task reported")

    page.goto(console.url + "/conflicts")
    page.fill("#username", "lan")
    page.fill("#password", PASSWORD)
    page.click("#login button[type=submit]")
    expect(page.locator("h1")).to_have_text("Hàng đợi xung đột")
    row = page.locator(f"#conflicts tr[data-key='{key}']")
    expect(row).to_contain_text("99999999")
    expect(row.locator("td.patron")).to_have_text(PATRON)         # a librarian sees the patron
    row.locator("input[name=note]").fill("Đã kiểm tra kho")
    row.locator("button.resolve-loan_stands").click()

    resolved = page.locator(f"#conflicts tr[data-key='{key}']")
    expect(resolved.locator("td.resolution")).to_contain_text("Giữ nguyên lượt mượn")
    expect(resolved.locator("td.resolution")).to_contain_text("lan")
    wait_until(lambda: store.conflicts.list(unresolved_only=True) == [],
               what="the box's own conflict resolved by the command")

    def box_outcome(selector: str, cell: str) -> str:
        page.reload()
        found = page.locator(selector)
        return str(found.locator(cell).inner_text()) if found.count() else ""

    wait_until(lambda: "Hoàn tất" in box_outcome(f"#conflicts tr[data-key='{key}']", "td.box"),
               what="the box's acknowledgement on the page")
    [audit] = [e for e in central.store.audit.list() if e.action == "conflict.resolve"]
    assert audit.actor == "lan" and audit.detail["note"] == "Đã kiểm tra kho"

    page.click("#nav-tasks")
    expect(page.locator("h1")).to_have_text("Lỗi ghi an ninh (AFI/EAS)")
    task_row = page.locator(f"#tasks tr[data-task='{SITE}/kiosk-01/{task.id}']")
    expect(task_row).to_contain_text("RfidError: no answer")
    with page.expect_navigation():  # the form posts and redirects: reload only after it
        task_row.locator("button.task-abandon").click()
    wait_until(lambda: "Hoàn tất" in box_outcome("#commands tbody tr", "td.outcome"),
               what="the abandon acknowledged on the page")
    assert store.security.get(task.id).state == "abandoned"
    wait_until(lambda: box_outcome("#tasks", "tbody") == "" and
               page.locator("p.empty").first.is_visible(),
               what="the task gone from the failed list after the box's next report")
    page.click("a.lang[data-lang=en]")
    expect(page.locator("#commands tbody tr").first.locator("td.outcome")).to_have_text("Done")
