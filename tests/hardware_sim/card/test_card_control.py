"""The card's control plane: the FastAPI router and ``smartlib sim ctl card`` over HTTP."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import pytest
import uvicorn
from click.testing import CliRunner
from fastapi import FastAPI
from fastapi.testclient import TestClient

from drivers.credential import PatronCredential
from drivers.pcsc import CardLeft, CardUnreadable, PatronIdentityRule, PcscCardReader
from hardware_sim.card import SimCardDevice, card_router, patron_uid
from hardware_sim.card_ctl_cli import card
from tests.drivers.pcsc.support import READER, EventRecorder, sim_card_device
from tests.support.pcscd import PcscdVpcd
from tests.support.procs import free_port, wait_port

PATRONS = {"P2024001": "P2024001", "alice": "P2024002"}


@pytest.fixture
def client() -> TestClient:
    dev = SimCardDevice(port=1)  # never started: routes only change the device's state
    app = FastAPI()
    app.include_router(card_router(dev, patron_lookup=PATRONS.get))
    return TestClient(app)


def test_router_insert_remove(client: TestClient) -> None:
    assert client.get("/card").json()["card"] is None
    r = client.post("/card/insert", json={"uid": "04A2246A"})
    assert r.status_code == 200
    assert r.json()["card"] == {
        "kind": "mifare-classic-1k", "uid": "04A2246A",
        "atr": "3B 8F 80 01 80 4F 0C A0 00 00 03 06 03 00 01 00 00 00 00 6A"}
    r = client.post("/card/insert", json={"patron": "alice"})
    assert r.json()["card"]["uid"] == patron_uid("P2024002").hex().upper()
    assert r.json()["card"]["kind"] == "iso15693"
    assert client.post("/card/remove").json()["card"] is None


def test_router_errors(client: TestClient) -> None:
    assert client.post("/card/insert", json={"patron": "mallory"}).status_code == 404
    assert client.post("/card/insert", json={}).status_code == 422
    assert client.post("/card/insert", json={"uid": "xyz"}).status_code == 422
    assert client.post("/card/fault", json={"kind": "melt"}).status_code == 422
    r = client.post("/card/fault", json={"kind": "status-word", "sw": "63"})
    assert r.status_code == 422 and "2 bytes" in r.json()["detail"]


def test_router_faults(client: TestClient) -> None:
    st = client.post("/card/fault", json={"kind": "status-word", "sw": "6A81", "count": 2}).json()
    assert st["faults"]["status_word"] == "6A81" and st["faults"]["status_word_count"] == 2
    st = client.post("/card/fault", json={"kind": "slow", "delay_s": 0.3}).json()
    assert st["faults"]["slow_s"] == 0.3
    st = client.post("/card/fault", json={"kind": "remove-mid-apdu"}).json()
    assert st["faults"]["remove_mid_apdu"] is True
    st = client.post("/card/fault", json={"kind": "clear"}).json()
    assert st["faults"]["status_word_count"] == 0 and st["faults"]["remove_mid_apdu"] is False


class _Server:
    def __init__(self, app: FastAPI) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                    log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, name="test-sim-api")

    def __enter__(self) -> str:
        self.thread.start()
        wait_port("127.0.0.1", self.port)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def sim_api(pcscd_vpcd: PcscdVpcd) -> Iterator[tuple[str, SimCardDevice]]:
    with sim_card_device(pcscd_vpcd) as dev:
        app = FastAPI()
        app.include_router(card_router(dev))
        with _Server(app) as url:
            yield url, dev


def _ctl(url: str, *args: str) -> dict:
    res = CliRunner().invoke(card, list(args), obj={"sim_url": url}, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


@pytest.mark.pcsc
def test_ctl_card_end_to_end(sim_api: tuple[str, SimCardDevice]) -> None:
    url, dev = sim_api
    rec = EventRecorder()
    reader = PcscCardReader(READER, poll_interval=0.1,
                            identity=PatronIdentityRule(source="iso28560"))
    reader.start(rec)
    try:
        st = _ctl(url, "insert", "--patron", "P2024001")
        assert st["card"]["kind"] == "iso15693"
        assert rec.wait_type(PatronCredential).identifier == "P2024001"
        assert _ctl(url, "status")["connected"] is True
        mark = rec.mark()
        _ctl(url, "remove")
        rec.wait_type(CardLeft, start=mark)
        _ctl(url, "fault", "status-word", "--sw", "6A81")
        _ctl(url, "insert", "--uid", "E004015012345678")
        bad = rec.wait_type(CardUnreadable, start=mark)
        assert bad.error_type == "CardNotSupported"
        st = _ctl(url, "remove")
        assert st["faults"]["applied"] == ["status-word 6A81"]
    finally:
        reader.stop()


def test_ctl_usage_and_unreachable() -> None:
    res = CliRunner().invoke(card, ["insert"], obj={"sim_url": "http://127.0.0.1:1"})
    assert res.exit_code == 2 and "exactly one of --uid or --patron" in res.output
    res = CliRunner().invoke(card, ["remove"], obj={"sim_url": "http://127.0.0.1:1"})
    assert res.exit_code == 1 and "unreachable" in res.output
