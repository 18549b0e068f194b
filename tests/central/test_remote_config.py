"""Remote configuration in the console: versions, validation with the boxes' models, refused
sections, the pushes and their acknowledgements (on SQLite and PostgreSQL), the audit diff,
and the roles (only an admin configures: 403 for a viewer or a librarian)."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from central.config import CentralSection
from central.db import stamp
from central.errors import ConfigConflict, ConfigRefused
from central.remote_config import ConfigPublisher, RemoteConfigService
from central.store import CentralStore, StatusReport
from central.web.app import create_app
from smartlib.remote import document_hash
from sync import topics
from sync.messages import ConfigAck, DeviceConfig, decode, encode
from tests.central.conftest import Clock, make_auth
from tests.central.test_web import PASSWORD, csrf, login

SITE = "hn-01"


def seen(store: CentralStore, clock: Clock, *devices: str) -> None:
    now = stamp(clock())
    for d in devices:
        store.devices.record_status(StatusReport(SITE, d, "online", now, now, since=now))


def test_site_and_device_versions_merge_and_push(store: CentralStore, clock: Clock) -> None:
    seen(store, clock, "kiosk-01", "kiosk-02")
    service = RemoteConfigService(store, clock=clock)
    site = service.change(SITE, None, "[policy]\noffline_max_items = 3\n", base_version=0,
                          actor="boss")
    assert site.version.version == 1
    assert sorted(p.device_id for p in site.pushes) == ["kiosk-01", "kiosk-02"]
    assert {p.state for p in site.pushes} == {"pending"}

    dev = service.change(SITE, "kiosk-01", "[policy]\nsession_idle_s = 90\n[gate]\n"
                         "debounce_s = 4.5\n", base_version=0, actor="boss")
    [push] = dev.pushes
    assert (push.version, push.site_version, push.device_version) == (2, 1, 1)
    assert push.document == ("[gate]\ndebounce_s = 4.5\n\n[policy]\noffline_max_items = 3\n"
                             "session_idle_s = 90\n")
    assert push.sha256 == document_hash(push.document)
    assert service.effective(SITE, "kiosk-02") == "[policy]\noffline_max_items = 3\n"

    # An edit made from an old version is refused: nobody overwrites a change unseen.
    with pytest.raises(ConfigConflict):
        service.change(SITE, None, "[policy]\noffline_max_items = 4\n", base_version=0,
                       actor="other")
    assert service.document(SITE) == ("[policy]\noffline_max_items = 3\n", 1)


@pytest.mark.parametrize(("document", "problem"), [
    ("[broker]\nhost = 'evil'\n", "broker: not remotely configurable: broker credentials"),
    ("[store]\npath = '/tmp/x.db'\n", "store: not remotely configurable"),
    ("[kiosk]\nadmin_exit_code = '1234'\n", "kiosk.admin_exit_code: not remotely configurable"),
    ("[policy]\noffline_max_items = -1\n", "policy.offline_max_items: Input should be greater"),
    ("[policy]\nno_such_key = 1\n", "policy.no_such_key: unknown key"),
    ("[security]\nafi_secured = 7\nafi_released = 7\n", "afi_released must differ"),
    ("[policy\n", "(document)"),
])
def test_refused_configurations_name_the_reason(store: CentralStore, clock: Clock,
                                                document: str, problem: str) -> None:
    seen(store, clock, "kiosk-01")
    service = RemoteConfigService(store, clock=clock)
    with pytest.raises(ConfigRefused) as refused:
        service.change(SITE, "kiosk-01", document, base_version=0, actor="boss")
    assert problem in "; ".join(f"{p}: {m}" for p, m in refused.value.problems)
    assert store.configs.current(SITE, "kiosk-01") is None
    assert store.configs.device_state(SITE, "kiosk-01") is None
    assert store.audit.list() == []


def test_a_site_change_is_checked_against_each_device(store: CentralStore, clock: Clock) -> None:
    seen(store, clock, "gate-01")
    service = RemoteConfigService(store, clock=clock)
    service.change(SITE, "gate-01", "[security]\nafi_released = 9\n", base_version=0,
                   actor="boss")
    # Valid alone, but gate-01's merged configuration would have afi_secured == afi_released.
    with pytest.raises(ConfigRefused, match="invalid"):
        service.change(SITE, None, "[security]\nafi_secured = 9\n", base_version=0, actor="boss")


def test_the_audit_entry_holds_who_and_the_unified_diff(store: CentralStore,
                                                        clock: Clock) -> None:
    seen(store, clock, "kiosk-01")
    service = RemoteConfigService(store, clock=clock)
    service.change(SITE, "kiosk-01", "[policy]\noffline_max_items = 5\nsession_idle_s = 60\n",
                   base_version=0, actor="boss")
    done = service.change(SITE, "kiosk-01", "[policy]\nsession_idle_s = 60\n"
                          "offline_max_items = 7\n", base_version=1, actor="admin2")
    entry = store.audit.list()[0]
    assert (entry.actor, entry.action, entry.target) == ("admin2", "config.change",
                                                         "config:hn-01/kiosk-01")
    assert entry.detail["version"] == 2 and entry.detail["pushed"] == {"kiosk-01": 2}
    assert entry.detail["diff"] == done.diff == (
        "--- config:hn-01/kiosk-01 v1\n+++ config:hn-01/kiosk-01 v2\n"
        "@@ -1,3 +1,3 @@\n [policy]\n-offline_max_items = 5\n+offline_max_items = 7\n"
        " session_idle_s = 60\n")


def test_publisher_sends_retained_pushes_and_records_acks(store: CentralStore,
                                                           clock: Clock) -> None:
    seen(store, clock, "kiosk-01")
    service = RemoteConfigService(store, clock=clock)
    service.change(SITE, "kiosk-01", "[policy]\noffline_max_items = 7\n", base_version=0,
                   actor="boss")
    sent: list[tuple[str, bytes]] = []
    publisher = ConfigPublisher(store.configs, lambda t, p: sent.append((t, p)) is None,
                                clock=clock)
    assert publisher.publish_due() == 1 and publisher.publish_due() == 0
    [(topic, payload)] = sent
    assert topic == topics.config(SITE, "kiosk-01") == "smartlib/v1/hn-01/kiosk-01/config"
    msg = decode(DeviceConfig, payload)
    assert (msg.version, msg.by, msg.document) == (1, "boss", "[policy]\noffline_max_items = 7\n")

    def ack(version: int, state: str, **extra: object) -> bytes:
        return encode(ConfigAck(site=SITE, device="kiosk-01", version=version,
                                sha256=msg.sha256, state=state,  # type: ignore[arg-type]
                                at=datetime.now(UTC), **extra))  # type: ignore[arg-type]

    ref = topics.parse(topics.config_ack(SITE, "kiosk-01"))
    publisher.handle_ack(ref, ack(1, "applied", needs_restart=["gate.debounce_s"]))
    state = store.configs.device_state(SITE, "kiosk-01")
    assert state is not None and state.state == "applied"
    assert state.needs_restart == ("gate.debounce_s",)
    assert store.devices.get(SITE, "kiosk-01").config_version == "1"

    # A new push is pending again; a late answer to the old one does not change it.
    service.change(SITE, "kiosk-01", "[policy]\noffline_max_items = 8\n", base_version=1,
                   actor="boss")
    publisher.handle_ack(ref, ack(1, "failed", reason="late"))
    state = store.configs.device_state(SITE, "kiosk-01")
    assert state is not None and (state.version, state.state) == (2, "pending")
    # After a reconnect, every pending push is handed to the broker again.
    assert publisher.publish_due() == 1
    assert store.configs.publish_again() == 1 and publisher.publish_due() == 1


# ---- the pages and the API --------------------------------------------------------------------

@pytest.fixture
def console(sqlite_store: CentralStore, clock: Clock) -> Iterator[TestClient]:
    auth = make_auth(sqlite_store, clock)
    auth.create_account("boss", PASSWORD, role="admin")
    auth.create_account("lan", PASSWORD, role="librarian")
    auth.create_account("xem", PASSWORD, role="viewer")
    seen(sqlite_store, clock, "kiosk-01")
    app = create_app(sqlite_store, auth, CentralSection(), poll_s=0.05)
    with TestClient(app, base_url="http://testserver") as client:
        yield client


DEVICE_PAGE = f"/sites/{SITE}/devices/kiosk-01/config"
DEVICE_API = f"/api/sites/{SITE}/devices/kiosk-01/config"


def page_token(client: TestClient, path: str) -> str:
    page = client.get(path)
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]


def test_nothing_without_a_login(console: TestClient) -> None:
    for path in ("/config", f"/sites/{SITE}/config", DEVICE_PAGE):
        assert console.get(path, follow_redirects=False).status_code == 303
    for path in ("/api/config", f"/api/sites/{SITE}/config", DEVICE_API):
        assert console.get(path).status_code == 401
    assert console.post(DEVICE_API, json={"document": ""}).status_code == 401


@pytest.mark.parametrize("user", ["xem", "lan"])
def test_a_viewer_or_librarian_sees_but_cannot_configure(console: TestClient,
                                                         sqlite_store: CentralStore,
                                                         user: str) -> None:
    login(console, user)
    page = console.get(DEVICE_PAGE)
    assert page.status_code == 200 and 'id="config-form"' not in page.text
    token = csrf(console)
    for path in (DEVICE_API, f"/api/sites/{SITE}/config"):
        r = console.post(path, json={"document": "[policy]\noffline_max_items = 1\n",
                                     "base_version": 0}, headers={"X-CSRF-Token": token})
        assert r.status_code == 403, path
    r = console.post(DEVICE_PAGE, data={"csrf_token": token, "base_version": "0",
                                        "document": "[policy]\noffline_max_items = 1\n"})
    assert r.status_code == 403
    assert sqlite_store.configs.current(SITE, "kiosk-01") is None


def test_an_admin_configures_by_form_and_api(console: TestClient,
                                             sqlite_store: CentralStore) -> None:
    login(console, "boss")
    token = page_token(console, DEVICE_PAGE)
    r = console.post(DEVICE_PAGE, data={"csrf_token": token, "base_version": "0",
                                        "document": "[policy]\noffline_max_items = 9\n"},
                     follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == DEVICE_PAGE + "?saved=1"
    page = console.get(DEVICE_PAGE + "?saved=1")
    assert 'id="config-notice"' in page.text and "Đang chờ" in page.text  # pending

    # Without the CSRF token: refused; a refused section: 400 with the reason; stale: 409.
    assert console.post(DEVICE_PAGE, data={"base_version": "1", "document": ""}).status_code == 403
    bad = console.post(DEVICE_PAGE, data={"csrf_token": token, "base_version": "1",
                                          "document": "[broker]\npassword = 'x'\n"})
    assert bad.status_code == 400 and "broker credentials" in bad.text
    api = console.post(DEVICE_API, json={"document": "[policy]\noffline_max_items = 4\n",
                                         "base_version": 0}, headers={"X-CSRF-Token": token})
    assert api.status_code == 409
    api = console.post(DEVICE_API, json={"document": "[policy]\noffline_max_items = 4\n",
                                         "base_version": 1}, headers={"X-CSRF-Token": token})
    assert api.status_code == 200 and api.json()["version"] == 2
    assert "-offline_max_items = 9\n+offline_max_items = 4\n" in api.json()["diff"]
    got = console.get(DEVICE_API).json()
    assert got["pushed"]["state"] == "pending" and got["pushed"]["version"] == 2
    audit = console.get("/audit")
    assert "config:hn-01/kiosk-01" in audit.text and "+offline_max_items = 4" in audit.text


def test_a_first_configuration_can_be_reached_from_the_menu(console: TestClient) -> None:
    """"Configuration" in the menu said only "No remote configuration yet.", with no way on
    to a library's or a device's configuration; nor did the library's page link to it."""
    login(console, "boss")
    page = console.get("/config?lang=vi").text
    assert "Chưa có cấu hình từ xa." in page
    assert f'href="/sites/{SITE}/config"' in page
    assert f'href="/sites/{SITE}/devices/kiosk-01/config"' in page
    site = console.get(f"/sites/{SITE}?lang=vi").text
    assert f'href="/sites/{SITE}/config"' in site


MANY_WRONGS = ("[broker]\npassword = 'x'\n[smtp]\nhost = 'mail'\n[policy]\n"
               "offline_max_items = -1\nsession_idle_s = 'abc'\nbogus = 1\n"
               "offline_login = 'maybe'\n")


def test_every_refused_section_and_value_is_reported_at_once(store: CentralStore,
                                                             clock: Clock) -> None:
    """A refused section hid the other refused sections' and the invalid values' reasons."""
    seen(store, clock, "kiosk-01")
    service = RemoteConfigService(store, clock=clock)
    with pytest.raises(ConfigRefused) as refused:
        service.change(SITE, "kiosk-01", MANY_WRONGS, base_version=0, actor="boss")
    paths = [p for p, _m in refused.value.problems]
    assert paths == ["broker", "smtp", "policy.offline_login", "policy.offline_max_items",
                     "policy.session_idle_s", "policy.bogus"]


def test_refusals_are_shown_in_the_page_language_with_the_raw_text(
        console: TestClient, sqlite_store: CentralStore) -> None:
    login(console, "boss")
    token = page_token(console, DEVICE_PAGE)
    vi = console.post(DEVICE_PAGE + "?lang=vi", data={"csrf_token": token, "base_version": "0",
                                                      "document": MANY_WRONGS})
    assert vi.status_code == 400
    items = re.findall(r'<li class="problem" title="([^"]*)">(.*?)</li>', vi.text)
    said = [html.unescape(re.sub(r"<[^>]+>", "", text)) for _raw, text in items]
    assert said == [
        "broker: không được cấu hình từ xa: địa chỉ và tài khoản broker được giữ trên thiết bị",
        "smtp: không được cấu hình từ xa: tài khoản máy chủ thư được giữ trên thiết bị",
        "policy.offline_login: phải là một trong: 'deny', 'cached', 'card-only' "
        "(nhận được 'maybe')",
        "policy.offline_max_items: phải ≥ 0 (nhận được -1)",
        "policy.session_idle_s: phải là số nguyên (nhận được 'abc')",
        "policy.bogus: khóa không có trong cấu hình (không thuộc lược đồ)"]
    raws = [html.unescape(raw) for raw, _text in items]
    assert raws[3] == "policy.offline_max_items: Input should be greater than or equal to 0 " \
                      "(got -1)"
    en = console.post(DEVICE_PAGE + "?lang=en", data={"csrf_token": token, "base_version": "0",
                                                      "document": MANY_WRONGS})
    assert "policy.offline_max_items</code>: must be at least 0 (got -1)" in en.text


def test_an_edge_refusal_is_shown_reason_by_reason_in_the_page_language(
        console: TestClient, sqlite_store: CentralStore) -> None:
    sqlite_store.configs.record_push(SITE, "kiosk-01", site_version=0, device_version=1,
                                     document="[policy]\n", by="boss", at="2026-12-07T10:00:00Z")
    state = sqlite_store.configs.device_state(SITE, "kiosk-01")
    assert state is not None
    reason = ("kiosk.admin_exit_code: not remotely configurable: a secret: it is never sent "
              "over MQTT; set it on the box; gate.debounce_s: Input should be a valid number, "
              "unable to parse string as a number (got 'x')")
    assert sqlite_store.configs.record_ack(ConfigAck(
        site=SITE, device="kiosk-01", version=state.version, sha256=state.sha256,
        state="failed", reason=reason, at=datetime(2026, 12, 7, 10, 1, tzinfo=UTC)),
        "2026-12-07T10:01:00Z")
    login(console, "boss")
    page = console.get(DEVICE_PAGE + "?lang=vi").text
    reasons = re.search(r'<dd id="config-reason">(.*?)</dd>', page, re.S).group(1)  # type: ignore[union-attr]
    texts = [html.unescape(re.sub(r"<[^>]+>", "", t))
             for t in re.findall(r"<li [^>]*>(.*?)</li>", reasons)]
    assert texts == ["kiosk.admin_exit_code: không được cấu hình từ xa: là bí mật: không bao "
                     "giờ gửi qua MQTT; hãy đặt trên thiết bị",
                     "gate.debounce_s: phải là số (nhận được 'x')"]
    site = console.get(f"/sites/{SITE}/config?lang=vi").text
    assert "gate.debounce_s</code>: phải là số (nhận được &#39;x&#39;)" in site
