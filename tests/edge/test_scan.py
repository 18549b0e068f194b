"""POST /scans: the edge applies the scanner driver's rules to a raw keyboard-wedge scan."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from edge.api import create_app
from smartlib.config import Settings, load_settings

DEV = {"Authorization": "Bearer dev-tok"}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(None, store={"path": tmp_path / "edge.db"},
                         card_reader={"enabled": False, "scanner_prefix": "]C",
                                      "scanner_suffix": "\r"},
                         api={"device_token": "dev-tok", "staff_token": "staff-tok"})


@pytest.fixture
def client(settings, services) -> Iterator[TestClient]:
    with TestClient(create_app(settings, services, start_services=False)) as c:
        yield c


def test_a_scan_with_its_affixes_gives_the_identifier(client: TestClient) -> None:
    r = client.post("/scans", headers=DEV, json={"raw": "]C 2000001 \r"})
    assert r.status_code == 200, r.text
    assert r.json() == {"identifier": "2000001"}


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
