"""POST /scans: the edge applies the scanner driver's rules to a raw keyboard-wedge scan."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from edge.api import create_app
from edge.services.sessions import SessionService
from smartlib.config import Settings, load_settings
from tests.support.pin_keys import PinKeys

DEV = {"Authorization": "Bearer dev-tok"}


@pytest.fixture
def settings(tmp_path: Path, pin_keys: PinKeys) -> Settings:
    return load_settings(None, store={"path": tmp_path / "edge.db"},
                         card_reader={"enabled": False, "scanner_prefix": "]C",
                                      "scanner_suffix": "\r"},
                         gateway={"public_key": pin_keys.public_key},
                         api={"device_token": "dev-tok", "staff_token": "staff-tok"})


@pytest.fixture
def client(settings, services) -> Iterator[TestClient]:
    with TestClient(create_app(settings, services, start_services=False)) as c:
        yield c


def test_a_scan_with_its_affixes_gives_the_identifier(client: TestClient) -> None:
    r = client.post("/scans", headers=DEV, json={"raw": "]C 2000001 \r"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"identifier", "scan_token"} and body["identifier"] == "2000001"
    assert len(body["scan_token"]) >= 24


@pytest.mark.parametrize("raw", ["2000001", "]C", "]C20\x0700001", "]C" + "9" * 300])
def test_an_unusable_scan_is_bad_scan_without_its_content(client: TestClient, raw: str) -> None:
    r = client.post("/scans", headers=DEV, json={"raw": raw})
    assert r.status_code == 409, r.text
    err = r.json()["error"]
    assert err["code"] == "bad_scan" and set(err["texts"]) == {"vi", "en"}
    assert "2000001" not in r.text and "9" * 50 not in r.text


def test_scans_need_the_device_token_and_a_bounded_body(client: TestClient) -> None:
    assert client.post("/scans", json={"raw": "]C1\r"}).status_code == 401
    assert client.post("/scans", headers=DEV, json={"raw": "x" * 5000}).status_code == 422


# ---- the credential's source is the edge's call (issue 18 §4) ------------------------------

def _scan(client: TestClient, identifier: str = "2000001") -> str:
    r = client.post("/scans", headers=DEV, json={"raw": f"]C{identifier}\r"})
    assert r.status_code == 200, r.text
    return str(r.json()["scan_token"])


def _login(client: TestClient, cred: dict) -> tuple[int, dict]:
    r = client.post("/sessions", headers=DEV, json={"credential": cred, "language": "en"})
    return r.status_code, r.json()


def test_a_scanned_barcode_logs_in_without_a_pin_with_its_scan_token(client: TestClient) -> None:
    status, body = _login(client, {"source": "barcode", "identifier": "2000001",
                                   "scan_token": _scan(client)})
    assert status == 201, body
    assert body["offline"] is False


@pytest.mark.parametrize("source", ["card", "barcode"])
def test_a_claimed_source_without_a_scan_token_is_a_typed_number(client: TestClient,
                                                                  source: str) -> None:
    status, body = _login(client, {"source": source, "identifier": "2000001"})
    assert status == 401 and body["error"]["code"] == "pin_required"
    # with the PIN it is a typed number and PIN: the ILS checks the PIN
    status, body = _login(client, {"source": source, "identifier": "2000001", "pin": "1234"})
    assert status == 201, body


def test_a_scan_token_is_single_use_and_bound_to_its_identifier(client: TestClient) -> None:
    token = _scan(client)
    status, body = _login(client, {"source": "barcode", "identifier": "2000002",
                                   "scan_token": token})
    assert status == 401 and body["error"]["code"] == "pin_required"
    # a token tried with another identifier is spent
    status, body = _login(client, {"source": "barcode", "identifier": "2000001",
                                   "scan_token": token})
    assert status == 401 and body["error"]["code"] == "pin_required"
    token = _scan(client)
    assert _login(client, {"source": "barcode", "identifier": "2000001",
                           "scan_token": token})[0] == 201
    status, body = _login(client, {"source": "barcode", "identifier": "2000001",
                                   "scan_token": token})
    assert status == 401 and body["error"]["code"] == "pin_required"


def test_a_scan_token_claimed_as_a_card_counts_as_the_barcode_it_is(
        client: TestClient, services) -> None:
    status, body = _login(client, {"source": "card", "identifier": "2000001",
                                   "scan_token": _scan(client)})
    assert status == 201, body
    [session] = services.sessions._sessions.values()
    assert session.source == "barcode"


def test_pin_required_for_barcode_needs_a_pin_even_with_a_scan_token(
        settings, services) -> None:
    strict = settings.model_copy(update={"policy": settings.policy.model_copy(
        update={"pin_required_for": ["manual", "barcode"]})})
    services.sessions = SessionService(services.store, strict.policy, services.bus,
                                       gateway_key=services.sessions.gateway_key)
    with TestClient(create_app(strict, services, start_services=False)) as c:
        status, body = _login(c, {"source": "barcode", "identifier": "2000001",
                                  "scan_token": _scan(c)})
        assert status == 401 and body["error"]["code"] == "pin_required"
        status, body = _login(c, {"source": "barcode", "identifier": "2000001", "pin": "1234",
                                  "scan_token": _scan(c)})
        assert status == 201, body
