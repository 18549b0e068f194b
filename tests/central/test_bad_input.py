"""The central console's API answers bad input with a typed refusal and keeps working
(issue 18, "Bad input"): a body over ``[central] max_body_bytes`` is 413 before any route
reads it (declared or streamed), deeply nested JSON is 400 before the recursive parser sees
it, malformed JSON and wrong types are 400, a replayed enrolment code is 409; each on the
open enrolment API (anyone on the network may call it) and the staff log-in."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from central.enroll import EnrolmentService
from central.store import CentralStore
from sync.enroll_client import enrol
from tests.central.test_enroll import SITE, ca, console, issue, service  # noqa: F401
from tests.central.test_web import PASSWORD

DEEP = b'{"code":' + b"[" * 3000 + b"]" * 3000 + b"}"
LIMIT = 1024 * 1024


def _still_serves(client: TestClient) -> None:
    resp = client.post("/api/login", json={"username": "boss", "password": PASSWORD})
    assert resp.status_code == 200, resp.text


@pytest.mark.parametrize("path", ["/api/enrol", "/api/login"])
def test_an_oversized_body_is_413_declared_or_streamed(console: TestClient, path: str) -> None:  # noqa: F811
    big = b"{" + b" " * LIMIT + b"}"
    resp = console.post(path, content=big, headers={"content-type": "application/json"})
    assert resp.status_code == 413 and "over 1048576 bytes" in resp.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it comes
        for _ in range(20):
            yield b" " * (64 * 1024)

    resp = console.post(path, content=chunks(), headers={"content-type": "application/json"})
    assert resp.status_code == 413
    _still_serves(console)


@pytest.mark.parametrize("path", ["/api/enrol", "/api/login"])
def test_deep_malformed_or_mistyped_json_is_400(console: TestClient, path: str) -> None:  # noqa: F811
    json_ct = {"content-type": "application/json"}
    resp = console.post(path, content=DEEP, headers=json_ct)
    assert resp.status_code == 400 and "nested deeper than 32" in resp.text
    resp = console.post(path, content=b'{"code": "ABCD', headers=json_ct)
    assert resp.status_code == 400 and "not JSON" in resp.text
    resp = console.post(path, content=b'["a list"]', headers=json_ct)
    assert resp.status_code == 400
    wrong = {"code": 5, "csr": []} if path == "/api/enrol" else {"username": ["x"]}
    resp = console.post(path, json=wrong)
    assert resp.status_code in (400, 401) and resp.status_code != 500, resp.text
    _still_serves(console)


def test_a_replayed_enrolment_code_is_refused(console: TestClient, tmp_path: Path,  # noqa: F811
                                              sqlite_store: CentralStore,
                                              service: EnrolmentService) -> None:  # noqa: F811
    code = issue(console)
    enrol("http://testserver", code["code"], tmp_path / "box", http=console)
    from sync.enroll_client import _csr, _pending_key

    (tmp_path / "other").mkdir()
    again = console.post("/api/enrol", json={"code": code["code"],
                                             "csr": _csr(_pending_key(tmp_path / "other"))})
    assert again.status_code == 409 and again.json()["reason"] == "code_used"
    assert ("enrol_refused", f"{SITE}/kiosk-07") in [
        (a.action, a.target) for a in sqlite_store.audit.list()]
