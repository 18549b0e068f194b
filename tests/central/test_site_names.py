"""Site display names: an admin sets them (form and API, CSRF, audited), a librarian or
viewer may not (403); the pages show the name and the id, the reports the name."""

from __future__ import annotations

import io

from fastapi.testclient import TestClient
from openpyxl import load_workbook

from central.store import CentralStore
from tests.central.test_web import console, csrf, login  # noqa: F401  (the fixture)

NAME = "Thư viện tỉnh Hà Nội"


def test_an_admin_names_a_site_and_the_pages_show_it(console: TestClient,  # noqa: F811
                                                     sqlite_store: CentralStore) -> None:
    login(console, "boss")
    page = console.get("/sites/hn-01").text
    assert 'id="site-name-form"' in page
    r = console.post("/sites/hn-01/name", data={"name": f"  {NAME} ", "csrf_token": csrf(console)},
                     follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/sites/hn-01"
    assert sqlite_store.sites.names() == {"hn-01": NAME}
    [entry] = [e for e in sqlite_store.audit.list() if e.action == "site.rename"]
    assert (entry.actor, entry.target, entry.detail) == (
        "boss", "site:hn-01", {"before": "", "after": NAME})
    site = console.get("/sites/hn-01").text
    assert f'{NAME} <small class="site-id">hn-01</small>' in site
    assert NAME in console.get("/").text and "hn-01" in console.get("/").text
    fleet = console.get("/fleet").text
    assert f">{NAME}</a> <small>hn-01</small>" in fleet
    assert f'<option value="hn-01">{NAME} (hn-01)</option>' in fleet
    assert f'>{NAME}</a>' in console.get("/sites/hn-01/devices/gate-01").text
    assert console.get("/api/sites").json()[0]["name"] == NAME
    # The API: JSON with the CSRF header; an empty name clears it (pages show the id).
    r = console.post("/api/sites/hn-01/name", json={"name": ""},
                     headers={"X-CSRF-Token": csrf(console)})
    assert r.status_code == 200 and r.json() == {"site_id": "hn-01", "name": ""}
    assert console.post("/api/sites/hn-01/name", json={"name": NAME}).status_code == 403  # no CSRF
    token = {"X-CSRF-Token": csrf(console)}
    assert console.post("/api/sites/nowhere/name", json={"name": NAME},
                        headers=token).status_code == 404
    assert console.post("/api/sites/hn-01/name", json={"name": "x" * 121},
                        headers=token).status_code == 400
    assert console.post("/api/sites/hn-01/name", json={"name": "a\x07b"},
                        headers=token).status_code == 400
    assert console.post("/api/sites/hn-01/name", json={"name": 5}, headers=token).status_code == 400
    assert sqlite_store.sites.names() == {"hn-01": ""}


def test_a_librarian_or_viewer_cannot_name_a_site(console: TestClient,  # noqa: F811
                                                  sqlite_store: CentralStore) -> None:
    for user in ("lan", "xem"):
        login(console, user)
        assert 'id="site-name-form"' not in console.get("/sites/hn-01").text
        token = csrf(console)
        assert console.post("/api/sites/hn-01/name", json={"name": NAME},
                            headers={"X-CSRF-Token": token}).status_code == 403
        assert console.post("/sites/hn-01/name", data={"name": NAME, "csrf_token": token},
                            follow_redirects=False).status_code == 403
        console.post("/logout", data={"csrf_token": token})
    assert sqlite_store.sites.names() == {"hn-01": ""}
    assert not [e for e in sqlite_store.audit.list() if e.action == "site.rename"]


def test_the_reports_use_the_name(console: TestClient,  # noqa: F811
                                  sqlite_store: CentralStore) -> None:
    login(console, "boss")
    console.post("/api/sites/hn-01/name", json={"name": NAME},
                 headers={"X-CSRF-Token": csrf(console)})
    csv_text = console.get("/stats/export.csv?month=2026-12&site=hn-01").content.decode("utf-8-sig")
    assert csv_text.splitlines()[1].startswith(f"hn-01,{NAME},2026-12-01,")
    wb = load_workbook(io.BytesIO(console.get("/stats/export.xlsx?month=2026-12").content))
    summary = [r for r in wb.worksheets[0].iter_rows(values_only=True) if r and r[0] == "hn-01"]
    assert summary[0][1] == NAME
    assert ("Thư viện:", NAME) in [tuple(r[:2]) for r in wb["hn-01"].iter_rows(values_only=True)]
