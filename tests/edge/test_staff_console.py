"""The staff console in a real browser: Debian's headless Chromium driven by Playwright.

A gate box runs for real: the simulator's gate (two antenna zones, IR beams) on TCP, a
FeigReader, the edge services and app (role ``gate``, so the app's lifespan starts the
gate loop) under uvicorn on a free port. A simulated patron walks out with one checked-out
and one unissued item; the page must show exactly one alarm with the right title, let
staff acknowledge it, and count the visitor. Never downloads a browser.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drivers.feig.reader import FeigReader
from edge.api import create_app
from edge.services.container import EdgeServices
from edge.store import ItemRecord, LoanRecord
from hardware_sim.feig_device import FeigReaderDevice
from hardware_sim.field import SimField
from hardware_sim.tag import SimTag
from smartlib.config import load_settings
from tests.support.procs import free_port, wait_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
STAFF_TOKEN = "staff-console-tok"

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed")


class GateBox:
    """The simulated gate, the edge app with the gate loop, served by uvicorn."""

    def __init__(self, tmp: Path) -> None:
        import uvicorn

        self.field = SimField()
        self.device = FeigReaderDevice(self.field, ["gate-in", "gate-out"], name="gate",
                                       timing=False, seed=11).start(pty=False, tcp=True)
        self.settings = load_settings(
            None, store={"path": tmp / "gate.db"}, device={"id": "gate-01", "role": "gate"},
            site={"id": "hn-central", "name": "Thư viện Hà Nội"},
            reader={"antennas": ["gate-in", "gate-out"]}, card_reader={"enabled": False},
            gate={"detection": "afi+database", "alarm_duration_ms": 60_000},
            api={"device_token": "dev-tok", "staff_token": STAFF_TOKEN})
        reader = FeigReader(f"socket://127.0.0.1:{self.device.tcp_port}", timeout_s=0.3,
                            antennas=("gate-in", "gate-out"))
        self.services = EdgeServices.build(self.settings, reader=reader)
        self.app = create_app(self.settings, self.services, background=False)
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=self.port,
                                                    log_config=None, lifespan="on",
                                                    ws="websockets-sansio"))
        self.thread = threading.Thread(target=self.server.run, name="uvicorn-staff", daemon=True)

    def start(self) -> GateBox:
        self.thread.start()
        wait_port("127.0.0.1", self.port, timeout=20)
        deadline = time.monotonic() + 10
        while getattr(self.app.state, "gate", None) is None and time.monotonic() < deadline:
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)
        self.device.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def item(self, item_id: str, title: str, *, loaned: bool) -> SimTag:
        store = self.services.store
        store.cache.apply_delta(items=[ItemRecord(item_id, title, location="HN0001")])
        if loaned:
            store.cache.record_loan(LoanRecord(item_id, "2000001", "2030-01-01"))
        return SimTag.from_item(item_id, isil="VN-HN0001", afi=0xC2 if loaned else 0x07,
                                eas=not loaned)

    def walk_out(self, tags: list[SimTag], step_s: float = 0.25) -> None:
        d, f = self.device, self.field
        d.set_input(1, True)
        for t in tags:
            f.place(t, "gate-in")
        time.sleep(step_s)
        d.set_input(2, True)
        time.sleep(step_s)
        for t in tags:
            f.place(t, "gate-out")
        d.set_input(1, False)
        time.sleep(step_s)
        d.set_input(2, False)
        for t in tags:
            f.remove(t.uid)


@pytest.fixture
def gate_box(tmp_path: Path) -> Iterator[GateBox]:
    box = GateBox(tmp_path).start()
    try:
        yield box
    finally:
        box.stop()


@pytest.fixture
def browser_page() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(locale="vi-VN")
            page.set_default_timeout(15_000)
            yield page
        finally:
            browser.close()


def test_patron_walk_shows_one_alarm_ack_and_visitor_count(gate_box: GateBox, browser_page) -> None:
    from playwright.sync_api import expect

    page = browser_page
    page.goto(gate_box.url + "/staff")
    expect(page.locator("h1")).to_have_text("Bàn thủ thư")          # Vietnamese by default
    page.fill("#token", STAFF_TOKEN)
    page.click("#login button[type=submit]")
    expect(page.locator("#live")).to_have_attribute("data-live", "1")
    expect(page.locator("#count-visitors_out")).to_have_text("0")
    expect(page.locator("#devices tr[data-device='gate-01']")).to_contain_text("Trực tuyến")

    loaned = gate_box.item("70000001", "Truyện Kiều", loaned=True)
    unissued = gate_box.item("70000002", "Những ngày thơ ấu", loaned=False)
    gate_box.walk_out([loaned, unissued])

    rows = page.locator("#alarms tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first.locator(".alarm-title")).to_have_text("Những ngày thơ ấu")
    expect(rows.first).to_contain_text("70000002")
    expect(rows.first.locator(".alarm-reason")).to_have_text(
        "Tài liệu còn khóa từ và chưa được mượn.")
    expect(page.locator("#count-visitors_out")).to_have_text("1")
    expect(page.locator("#count-alarms")).to_have_text("1")
    # Nothing else trickles in: both tags' passes are over (decided and forgotten by the
    # gate), and the store and the page still hold exactly one alarm.
    gate = gate_box.app.state.gate
    assert _wait_for(lambda: gate.stats.passes_closed >= 2)
    assert len(gate_box.services.store.alarms.list()) == 1
    page.reload()
    expect(page.locator("#live")).to_have_attribute("data-live", "1")
    expect(rows).to_have_count(1)

    rows.first.locator("button.ack").click()
    expect(rows.first.locator(".alarm-state")).to_have_text("Đã xác nhận")
    expect(rows.first.locator("button.ack")).to_have_count(0)
    [alarm] = gate_box.services.store.alarms.list()
    assert alarm.acked_at is not None and alarm.item_id == "70000002"

    # English, and the manual reset of the gate's light and buzzer.
    page.click("button.lang[data-lang=en]")
    expect(page.locator("h1")).to_have_text("Staff console")
    expect(rows.first.locator(".alarm-reason")).to_have_text(
        "The item is secured and was not checked out.")
    assert gate_box.device.outputs_now()["buzzer"] == "flash"
    page.click("#gate-reset")
    deadline = time.monotonic() + 5
    while gate_box.device.outputs_now()["buzzer"] != "off" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gate_box.device.outputs_now()["buzzer"] == "off"


def test_undetermined_alarm_shows_uid_and_reason(gate_box: GateBox, browser_page) -> None:
    """A tag the reader cannot read at all: the gate alarms (never fails open), and the
    page says why, in both languages, with the tag's UID."""
    from playwright.sync_api import expect

    from drivers.feig import commands as c

    def rf_error(tag: SimTag, p: bytes, req: int) -> tuple[int, bytes, float, list[Any]]:
        return c.STATUS_RF_COMM_ERROR, b"", 0.0, []

    gate_box.device._system_info = rf_error          # type: ignore[method-assign]
    gate_box.device._read_multiple = rf_error        # type: ignore[method-assign]
    page = browser_page
    page.goto(gate_box.url + "/staff")
    page.fill("#token", STAFF_TOKEN)
    page.click("#login button[type=submit]")
    expect(page.locator("#live")).to_have_attribute("data-live", "1")

    loaned = gate_box.item("71000001", "Tuổi thơ dữ dội", loaned=True)
    gate_box.walk_out([loaned])
    rows = page.locator("#alarms tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first.locator(".alarm-title")).to_have_text("Không nhận diện được tài liệu")
    expect(rows.first.locator(".alarm-uid")).to_contain_text(loaned.uid_hex)
    expect(rows.first.locator(".alarm-reason")).to_contain_text(
        "Cổng không đọc được trạng thái an ninh")
    expect(rows.first.locator(".reason-detail")).to_contain_text("security state could not be read")
    page.click("button.lang[data-lang=en]")
    expect(rows.first.locator(".alarm-title")).to_have_text("Item not identified")
    expect(rows.first.locator(".alarm-reason")).to_contain_text(
        "The gate could not read this tag's security state")
    assert gate_box.device.outputs_now()["buzzer"] == "flash"


def _wait_for(cond: Any, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_console_needs_the_staff_token(gate_box: GateBox, browser_page) -> None:
    from playwright.sync_api import expect

    page = browser_page
    page.goto(gate_box.url + "/staff")
    page.fill("#token", "dev-tok")                      # the device token is not enough
    page.click("#login button[type=submit]")
    expect(page.locator("#login-error")).to_have_text("Mã truy cập không đúng.")
    expect(page.locator("#console")).to_be_hidden()


def test_console_logs_in_with_a_cached_central_account(gate_box: GateBox, browser_page) -> None:
    from argon2 import PasswordHasher
    from playwright.sync_api import expect

    fast = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
    gate_box.services.store.staff_accounts.replace_all(
        [("lan", "librarian", fast.hash("lan-password-1"), False)])
    page = browser_page
    page.goto(gate_box.url + "/staff")
    page.fill("#username", "lan")
    page.fill("#password", "not-the-password")
    page.click("#login button[type=submit]")
    expect(page.locator("#login-error")).to_have_text("Sai tên đăng nhập hoặc mật khẩu.")
    expect(page.locator("#console")).to_be_hidden()
    page.fill("#password", "lan-password-1")
    page.click("#login button[type=submit]")
    expect(page.locator("#live")).to_have_attribute("data-live", "1")
    expect(page.locator("#console")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('smartlib.staff_token')").startswith("s1.")


def test_a_locked_staff_account_is_told_so_in_its_language(gate_box: GateBox,
                                                           browser_page) -> None:
    from argon2 import PasswordHasher
    from playwright.sync_api import expect

    from edge.services.login_guard import StaffLoginGuard

    fast = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
    services = gate_box.services
    services.store.staff_accounts.replace_all(
        [("lan", "librarian", fast.hash("lan-password-1"), False)])
    services.login_guard = StaffLoginGuard(services.store, services.settings.api.model_copy(
        update={"staff_login_max_failures": 2}))
    page = browser_page
    page.goto(gate_box.url + "/staff")
    for _ in range(2):
        page.fill("#username", "lan")
        page.fill("#password", "not-the-password")
        page.click("#login button[type=submit]")
    expect(page.locator("#login-error")).to_contain_text("tạm khóa đăng nhập")
    page.fill("#username", "lan")
    page.fill("#password", "lan-password-1")  # the right one: still locked
    page.click("#login button[type=submit]")
    expect(page.locator("#login-error")).to_contain_text("tạm khóa đăng nhập")
    expect(page.locator("#console")).to_be_hidden()


def test_kinds_states_and_the_backlog_are_in_the_consoles_language(gate_box: GateBox,
                                                                  browser_page) -> None:
    """Device kinds, process states and backlog entries were shown by their codes (gate,
    running, checkout, pending) on the Vietnamese page; an empty backlog showed its table
    header under the "nothing waiting" line."""
    from playwright.sync_api import Route, expect

    extra: dict[str, Any] = {}

    def with_extra(route: Route) -> None:
        response = route.fetch()
        state = response.json()
        state.update(extra)
        route.fulfill(response=response, json=state)

    page = browser_page
    page.route("**/staff/state", with_extra)
    page.goto(gate_box.url + "/staff")
    page.fill("#token", STAFF_TOKEN)
    page.click("#login button[type=submit]")
    expect(page.locator("#live")).to_have_attribute("data-live", "1")
    expect(page.locator("#devices tr[data-device='gate-01'] td").nth(1)).to_have_text("Cổng an ninh")
    expect(page.locator("#backlog-summary")).to_have_text("Không có giao dịch chờ.")
    expect(page.locator("#backlog")).to_be_hidden()

    extra["processes"] = [{"name": "kiosk-sync", "state": "restarting", "restarts": 1,
                           "last_start": "2026-12-07T05:23:02Z",
                           "last_exit": "killed by SIGKILL"}]
    extra["backlog"] = {"open": 1, "oldest_open_at": "2026-12-07T05:20:00Z", "entries": [
        {"key": "k1", "kind": "checkout", "item_id": "70000001", "state": "pending",
         "attempts": 2, "offline": True, "created_at": "2026-12-07T05:20:00Z"}]}
    page.reload()
    expect(page.locator("#live")).to_have_attribute("data-live", "1")
    proc = page.locator("#processes tr[data-process='kiosk-sync'] td")
    expect(proc.nth(1)).to_have_text("Đang khởi động lại")
    expect(proc.nth(4)).to_have_text("bị dừng bởi SIGKILL")
    expect(page.locator("#backlog")).to_be_visible()
    entry = page.locator("#backlog tbody tr td")
    expect(entry.nth(1)).to_have_text("Mượn (ngoại tuyến)")
    expect(entry.nth(3)).to_have_text("Chờ gửi")
    page.click("button.lang[data-lang=en]")
    expect(proc.nth(1)).to_have_text("Restarting")
    expect(proc.nth(4)).to_have_text("killed by SIGKILL")
    expect(entry.nth(1)).to_have_text("Checkout (offline)")
    expect(page.locator("#devices tr[data-device='gate-01'] td").nth(1)).to_have_text("Security gate")
