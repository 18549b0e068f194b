"""The conflicts queue through TestClient: filters, who sees the patron, the resolutions
(recorded, audited, commanded to the box), and roles (a viewer cannot resolve: 403)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from central.config import CentralSection
from central.dispatch import command_message
from central.store import CentralStore
from central.web.app import create_app
from tests.central.conftest import Clock, make_auth
from tests.central.test_web import PASSWORD, csrf, login

KEY_HN = "2c0a8c6e-1111-4aaa-8bbb-000000000001"
KEY_HCM = "2c0a8c6e-1111-4aaa-8bbb-000000000002"
PATRON = "2000417"


@pytest.fixture
def console(store: CentralStore, clock: Clock) -> Iterator[TestClient]:
    auth = make_auth(store, clock)
    auth.create_account("boss", PASSWORD, role="admin")
    auth.create_account("lan", PASSWORD, role="librarian")
    auth.create_account("xem", PASSWORD, role="viewer")
    for key, site, item in ((KEY_HN, "hn-01", "3000123"), (KEY_HCM, "hcm-02", "3000999")):
        store.conflicts.record(tx_key=key, site_id=site, device_id="kiosk-01", kind="checkout",
                               item=item, patron=PATRON, reason="Patron blocked",
                               screen_message="Patron blocked",
                               created_at="2026-12-07T02:00:00.000Z",
                               detected_at="2026-12-07T02:05:00.000Z")
    with TestClient(create_app(store, auth, CentralSection(), poll_s=0.05)) as client:
        yield client


def test_the_queue_filters_by_site_and_state(console: TestClient) -> None:
    login(console, "xem")
    keys = {c["key"] for c in console.get("/api/conflicts").json()}
    assert keys == {KEY_HN, KEY_HCM}
    assert [c["key"] for c in console.get("/api/conflicts?site=hn-01").json()] == [KEY_HN]
    assert console.get("/api/conflicts?state=resolved").json() == []
    assert console.get("/api/conflicts?state=bogus").status_code == 400
    page = console.get("/conflicts?site=hcm-02&lang=en")
    assert page.status_code == 200 and "3000999" in page.text and "3000123" not in page.text


def test_only_librarians_and_admins_see_the_patron(console: TestClient) -> None:
    login(console, "xem")
    assert {c["patron"] for c in console.get("/api/conflicts").json()} == {None}
    page = console.get("/conflicts?lang=en")
    assert PATRON not in page.text and "(hidden)" in page.text
    assert 'class="resolve"' not in page.text  # no resolve form for a viewer
    console.cookies.clear()
    login(console, "lan")
    assert {c["patron"] for c in console.get("/api/conflicts").json()} == {PATRON}
    assert PATRON in console.get("/conflicts").text


def test_a_viewer_cannot_resolve(console: TestClient, store: CentralStore) -> None:
    login(console, "xem")
    r = console.post(f"/api/conflicts/{KEY_HN}/resolve", json={"resolution": "loan_stands"},
                     headers={"X-CSRF-Token": csrf(console)})
    assert r.status_code == 403
    r = console.post(f"/conflicts/{KEY_HN}/resolve", follow_redirects=False,
                     data={"csrf_token": csrf(console), "resolution": "loan_stands"})
    assert r.status_code == 403
    assert store.conflicts.get(KEY_HN).resolution is None and store.commands.list() == []


def test_a_resolution_is_recorded_audited_and_sent_to_the_box(
        console: TestClient, store: CentralStore) -> None:
    login(console, "lan")
    r = console.post(f"/api/conflicts/{KEY_HN}/resolve",
                     json={"resolution": "contact_patron", "note": "gọi điện cho bạn đọc"},
                     headers={"X-CSRF-Token": csrf(console)})
    assert r.status_code == 200
    body = r.json()
    assert (body["resolution"], body["resolved_by"], body["note"]) == (
        "contact_patron", "lan", "gọi điện cho bạn đọc")
    assert body["box"]["state"] == "pending" and body["box"]["sent"] is False
    conflict = store.conflicts.get(KEY_HN)
    assert (conflict.resolution, conflict.resolved_by) == ("contact_patron", "lan")
    [cmd] = store.commands.list()
    assert (cmd.site_id, cmd.device_id, cmd.action, cmd.target, cmd.resolution) == (
        "hn-01", "kiosk-01", "resolve_conflict", KEY_HN, "contact_patron")
    # The command the box gets names the transaction only: no patron, no note.
    sent = command_message(cmd).model_dump_json()
    assert PATRON not in sent and "gọi" not in sent
    [entry] = [e for e in store.audit.list() if e.action == "conflict.resolve"]
    assert (entry.actor, entry.target, entry.detail["resolution"], entry.detail["note"]) == (
        "lan", f"conflict:hn-01/kiosk-01/{KEY_HN}", "contact_patron", "gọi điện cho bạn đọc")
    assert PATRON not in str(entry.detail)
    # Resolved once: a second resolution is refused; the queue moves it to "resolved".
    again = console.post(f"/api/conflicts/{KEY_HN}/resolve", json={"resolution": "loan_stands"},
                         headers={"X-CSRF-Token": csrf(console)})
    assert again.status_code == 409 and len(store.commands.list()) == 1
    assert [c["key"] for c in console.get("/api/conflicts").json()] == [KEY_HCM]
    assert [c["key"] for c in console.get("/api/conflicts?state=resolved").json()] == [KEY_HN]
    # The box's acknowledgement shows as the outcome.
    assert store.commands.record_ack(cmd.command_id, "hn-01", "kiosk-01", "done", None,
                                     "2026-12-07T03:00:01.000Z")
    [shown] = console.get("/api/conflicts?state=resolved").json()
    assert shown["box"]["state"] == "done"
    # A viewer sees the resolution and the outcome, not the patron nor the note.
    console.cookies.clear()
    login(console, "xem")
    [seen] = console.get("/api/conflicts?state=resolved").json()
    assert (seen["resolution"], seen["box"]["state"], seen["patron"], seen["note"]) == (
        "contact_patron", "done", None, None)
    assert "gọi điện" not in console.get("/conflicts?state=resolved").text


def test_the_form_resolves_and_bad_input_is_refused(console: TestClient,
                                                    store: CentralStore) -> None:
    login(console, "boss")
    token = csrf(console)
    bad = console.post(f"/conflicts/{KEY_HCM}/resolve", follow_redirects=False,
                       data={"csrf_token": token, "resolution": "forget_it"})
    assert bad.status_code == 400
    assert console.post("/conflicts/no-such-key/resolve", follow_redirects=False, data={
        "csrf_token": token, "resolution": "loan_stands"}).status_code == 404
    assert console.post(f"/conflicts/{KEY_HCM}/resolve", follow_redirects=False, data={
        "resolution": "loan_stands"}).status_code == 403  # no CSRF token
    r = console.post(f"/conflicts/{KEY_HCM}/resolve", follow_redirects=False,
                     data={"csrf_token": token, "resolution": "item_returned"})
    assert r.status_code == 303
    assert store.conflicts.get(KEY_HCM).resolution == "item_returned"
    assert "The item is returned" in console.get("/conflicts?state=all&lang=en").text


def test_nothing_without_a_login(console: TestClient) -> None:
    assert console.get("/api/conflicts").status_code == 401
    assert console.post(f"/api/conflicts/{KEY_HN}/resolve").status_code == 401
    r = console.get("/conflicts", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
