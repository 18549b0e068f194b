"""The console's web app through FastAPI's TestClient: log-in, cookies, CSRF, lockout, roles,
and every page and API refused without a session."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from central.config import CentralSection
from central.db import stamp
from central.store import CentralStore, StatusReport
from central.web.app import SESSION_COOKIE, create_app
from tests.central.conftest import Clock, make_auth

PASSWORD = "mật-khẩu-dài-1"
PAGES = ["/", "/fleet", "/alarms", "/sites/hn-01", "/sites/hn-01/devices/gate-01", "/staff",
         "/audit"]
APIS = ["/api/me", "/api/sites", "/api/fleet", "/api/alarms", "/api/sites/hn-01/devices/gate-01",
        "/alarms/stream"]


@pytest.fixture
def console(sqlite_store: CentralStore, clock: Clock) -> Iterator[TestClient]:
    auth = make_auth(sqlite_store, clock, lockout_failures=3)
    auth.create_account("boss", PASSWORD, role="admin", display_name="Trần Văn Boss")
    auth.create_account("lan", PASSWORD, role="librarian", display_name="Nguyễn Thị Lan")
    auth.create_account("xem", PASSWORD, role="viewer")
    now = stamp(clock())
    sqlite_store.devices.record_status(StatusReport("hn-01", "gate-01", "online", now, now,
                                                    since=now, role="gate", backlog=0))
    sqlite_store.alarms.record(site_id="hn-01", device_id="gate-01", edge_alarm_id=1,
                               kind="gate", raised_at=now, received_at=now, title="Truyện Kiều",
                               item="70000002")
    app = create_app(sqlite_store, auth, CentralSection(), poll_s=0.05)
    with TestClient(app, base_url="http://testserver") as client:
        yield client


def login(client: TestClient, user: str, password: str = PASSWORD) -> object:
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    return client.post("/login", data={"username": user, "password": password,
                                       "csrf_token": token}, follow_redirects=False)


def csrf(client: TestClient) -> str:
    return str(client.get("/api/me").json()["csrf_token"])


def test_nothing_works_without_a_login(console: TestClient) -> None:
    for path in PAGES:
        r = console.get(path, follow_redirects=False)
        assert r.status_code == 303, path
        assert r.headers["location"].startswith("/login?next="), path
    for path in APIS:
        assert console.get(path).status_code == 401, path
    assert console.post("/api/alarms/1/ack").status_code == 401
    assert console.post("/alarms/1/ack", follow_redirects=False).status_code == 303
    assert console.post("/logout").status_code == 401


def test_login_sets_a_strict_httponly_cookie_and_logout_ends_it(
        console: TestClient, sqlite_store: CentralStore) -> None:
    r = login(console, "boss")
    assert r.status_code == 303 and r.headers["location"] == "/"  # type: ignore[attr-defined]
    cookie = next(c for c in r.headers.get_list("set-cookie")  # type: ignore[attr-defined]
                  if c.startswith(SESSION_COOKIE + "="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    page = console.get("/")
    assert page.status_code == 200 and "Trần Văn Boss" in page.text and "hn-01" in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert console.post("/logout", data={"csrf_token": csrf(console)},
                        follow_redirects=False).status_code == 303
    assert console.get("/api/me").status_code == 401
    assert [e.action for e in sqlite_store.audit.list(actor="boss")][:2] == ["logout", "login"]


def test_login_form_needs_its_own_csrf_token(console: TestClient) -> None:
    console.get("/login")
    r = console.post("/login", data={"username": "boss", "password": PASSWORD,
                                     "csrf_token": "forged"}, follow_redirects=False)
    assert r.status_code == 403 and console.get("/api/me").status_code == 401


def test_wrong_passwords_lock_the_account(console: TestClient) -> None:
    for _ in range(2):
        r = login(console, "lan", "wrong-password")
        assert r.status_code == 401 and "Sai tên đăng nhập hoặc mật khẩu." in r.text  # type: ignore[attr-defined]
    r = login(console, "lan", "wrong-password")
    assert r.status_code == 401 and "Tài khoản tạm khóa" in r.text  # type: ignore[attr-defined]
    r = login(console, "lan")  # the right password, but locked
    assert r.status_code == 401 and "Tài khoản tạm khóa" in r.text  # type: ignore[attr-defined]
    assert console.get("/api/me").status_code == 401


def test_state_changes_are_refused_without_the_csrf_token(console: TestClient,
                                                          sqlite_store: CentralStore) -> None:
    login(console, "lan")
    [alarm] = sqlite_store.alarms.search()
    assert console.post(f"/api/alarms/{alarm.id}/ack").status_code == 403
    assert console.post(f"/api/alarms/{alarm.id}/ack",
                        headers={"X-CSRF-Token": "forged"}).status_code == 403
    assert console.post(f"/alarms/{alarm.id}/ack", data={"csrf_token": "forged"}).status_code == 403
    assert console.post("/logout").status_code == 403
    assert sqlite_store.alarms.get(alarm.id).open


def test_a_viewer_sees_but_cannot_acknowledge(console: TestClient,
                                              sqlite_store: CentralStore) -> None:
    login(console, "xem")
    [alarm] = sqlite_store.alarms.search()
    page = console.get("/alarms")
    assert page.status_code == 200 and "Truyện Kiều" in page.text
    assert 'class="ack"' not in page.text                        # no button for a viewer
    r = console.post(f"/api/alarms/{alarm.id}/ack", headers={"X-CSRF-Token": csrf(console)})
    assert r.status_code == 403
    assert sqlite_store.alarms.get(alarm.id).open
    assert console.get("/staff").status_code == 403 and console.get("/audit").status_code == 403


def test_a_librarian_acknowledges_in_their_own_name(console: TestClient,
                                                    sqlite_store: CentralStore) -> None:
    login(console, "lan")
    [alarm] = sqlite_store.alarms.search()
    r = console.post(f"/api/alarms/{alarm.id}/ack", headers={"X-CSRF-Token": csrf(console)})
    assert r.status_code == 200 and r.json()["acked_by"] == "lan" and not r.json()["open"]
    assert r.json()["acked_by_name"] == "Nguyễn Thị Lan"
    history = console.get("/alarms").text                   # staff read the display name
    assert '<span class="acked-by" title="lan">Nguyễn Thị Lan</span>' in history
    assert console.get("/api/alarms").json()[0]["acked_by_name"] == "Nguyễn Thị Lan"
    assert sqlite_store.alarms.get(alarm.id).acked_by == "lan"
    assert [(e.actor, e.action) for e in sqlite_store.audit.list(actor="lan")][0] == (
        "lan", "alarm.ack")
    assert console.post("/api/alarms/999/ack",
                        headers={"X-CSRF-Token": csrf(console)}).status_code == 404
    assert console.get("/staff").status_code == 403


def test_the_form_acknowledgement_redirects_back(console: TestClient,
                                                 sqlite_store: CentralStore) -> None:
    login(console, "boss")
    [alarm] = sqlite_store.alarms.search()
    r = console.post(f"/alarms/{alarm.id}/ack", data={"csrf_token": csrf(console),
                                                      "next": "/sites/hn-01"},
                     follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/sites/hn-01"
    assert sqlite_store.alarms.get(alarm.id).acked_by == "boss"


def test_fleet_filters_and_api(console: TestClient, sqlite_store: CentralStore,
                               clock: Clock) -> None:
    login(console, "xem")
    now = stamp(clock())
    sqlite_store.devices.record_status(StatusReport("hn-01", "kiosk-01", "online", now, now,
                                                    since=now, backlog=40))
    assert [d["device"] for d in console.get("/api/fleet?backlog_above=10").json()] == ["kiosk-01"]
    page = console.get("/fleet?backlog_above=10&offline_minutes=")
    assert page.status_code == 200 and 'data-device="kiosk-01"' in page.text
    assert 'data-device="gate-01"' not in page.text
    assert console.get("/fleet?backlog_above=lots").status_code == 400
    assert console.get("/sites/nowhere").status_code == 404


def test_admin_creates_an_account(console: TestClient, sqlite_store: CentralStore) -> None:
    login(console, "boss")
    r = console.post("/staff", data={"csrf_token": csrf(console), "username": "hoa",
                                     "password": PASSWORD, "role": "viewer"},
                     follow_redirects=False)
    assert r.status_code == 303 and sqlite_store.staff.get("hoa").role == "viewer"
    r = console.post("/staff", data={"csrf_token": csrf(console), "username": "hoa2",
                                     "password": "short", "role": "viewer"})
    assert r.status_code == 400 and sqlite_store.staff.find("hoa2") is None
    assert "staff.create" in [e.action for e in sqlite_store.audit.list(actor="boss")]


def test_every_page_in_both_languages(console: TestClient) -> None:
    login(console, "boss")
    for path in PAGES:
        vi = console.get(path + "?lang=vi")
        en = console.get(path + "?lang=en")
        assert vi.status_code == en.status_code == 200, path
        assert '<html lang="vi">' in vi.text and '<html lang="en">' in en.text
    # The switch is remembered by a cookie.
    assert "Library network console" in console.get("/?lang=en").text
    assert "Library network console" in console.get("/").text
    assert "Đăng xuất" in console.get("/?lang=vi").text


def test_json_login_for_scripts(console: TestClient) -> None:
    assert console.post("/api/login", data={"username": "boss", "password": PASSWORD}
                        ).status_code == 415
    r = console.post("/api/login", json={"username": "boss", "password": "wrong-one"})
    assert r.status_code == 401
    r = console.post("/api/login", json={"username": "boss", "password": PASSWORD})
    assert r.status_code == 200 and r.json()["role"] == "admin"
    assert console.get("/api/me").json()["csrf_token"] == r.json()["csrf_token"]


def test_history_days_are_the_consoles_local_days(console: TestClient,
                                                  sqlite_store: CentralStore) -> None:
    """01:30 on 7 December in Hà Nội is 18:30 UTC on the 6th: it belongs to the 7th."""
    login(console, "xem")
    at = "2026-12-06T18:30:00.000Z"
    sqlite_store.alarms.record(site_id="hn-01", device_id="gate-01", edge_alarm_id=2,
                               kind="gate", raised_at=at, received_at=at)

    def raised(query: str) -> list[str]:
        return [a["raised_at"] for a in console.get("/api/alarms?" + query).json()]

    assert at in raised("since=2026-12-07&until=2026-12-07")
    assert at not in raised("until=2026-12-06")
    assert console.get("/api/alarms?since=yesterday").status_code == 400
    page = console.get("/alarms?since=2026-12-07&until=2026-12-07")
    assert page.status_code == 200 and "2026-12-07 01:30:00" in page.text


def test_fleet_offers_the_configured_offline_filter(console: TestClient) -> None:
    login(console, "xem")
    page = console.get("/fleet?lang=en")
    assert 'href="/fleet?offline_minutes=10"' in page.text


@pytest.mark.parametrize(("target", "lands"), [
    ("/fleet?backlog_above=5", "/fleet?backlog_above=5"), ("https://evil.example/", "/"),
    ("//evil.example/", "/"), ("/\\evil.example/", "/"), ("/\nSet-Cookie:x", "/")])
def test_after_login_only_local_paths(console: TestClient, target: str, lands: str) -> None:
    page = console.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    r = console.post("/login", data={"username": "xem", "password": PASSWORD, "csrf_token": token,
                                     "next": target}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == lands


def test_alarm_details_and_device_events_are_in_the_pages_language(
        console: TestClient, sqlite_store: CentralStore, clock: Clock) -> None:
    """A gate alarm's details are its reason in the page's language (the edge sends both
    texts), not the edge's English log line; a device's recent events are named in words,
    not by their codes (``reader_online``, ``printer_none``)."""
    now = stamp(clock())
    line = "gate gate-01: 'Tắt đèn' (70000003) going out: not_checked_out"
    sqlite_store.alarms.record(
        site_id="hn-01", device_id="gate-01", edge_alarm_id=2, kind="gate", raised_at=now,
        received_at=now, title="Tắt đèn", item="70000003", message=line,
        detail={"reason": "not_checked_out", "reason_texts": {
            "vi": "Tài liệu còn khóa từ và chưa được mượn.",
            "en": "The item is secured and was not checked out."}})
    sqlite_store.events.record("hn-01", "gate-01", 1, "gate-01", "reader_online", {}, now)
    sqlite_store.events.record("hn-01", "gate-01", 2, "printer", "printer_none", {}, now)
    login(console, "boss")
    vi = console.get("/alarms?lang=vi").text
    assert "Tài liệu còn khóa từ và chưa được mượn." in vi and line not in vi
    en = console.get("/alarms?lang=en").text
    assert "The item is secured and was not checked out." in en and line not in en
    [api] = [a for a in console.get("/api/alarms?lang=vi").json() if a["item"] == "70000003"]
    assert api["details"] == "Tài liệu còn khóa từ và chưa được mượn."
    assert api["message"] == line                     # the API keeps the edge's own text
    page = console.get("/sites/hn-01/devices/gate-01?lang=vi").text
    events = page[page.index('id="events"'):]
    assert ">reader_online<" not in events and ">printer_none<" not in events  # codes: tooltips
    assert "Đầu đọc trực tuyến" in events and "Máy in: Không có máy in" in events
    events_en = console.get("/sites/hn-01/devices/gate-01?lang=en").text
    assert "Reader online" in events_en and "Printer: No printer" in events_en


def test_the_audit_log_names_each_action_in_words(console: TestClient) -> None:
    """The audit page listed "login", "alarm.ack" … on the Vietnamese page."""
    login(console, "boss")
    assert console.post("/api/alarms/1/ack", headers={"X-CSRF-Token": csrf(console)}
                        ).status_code == 200
    vi = console.get("/audit?lang=vi").text
    cells = re.findall(r'<td title="([a-z_.]+)">([^<]*)</td>', vi)
    assert ("login", "Đăng nhập") in cells and ("alarm.ack", "Xác nhận cảnh báo") in cells
    assert ("staff.create", "Tạo tài khoản") in cells
    en = console.get("/audit?lang=en").text
    assert '<td title="alarm.ack">Alarm acknowledged</td>' in en
