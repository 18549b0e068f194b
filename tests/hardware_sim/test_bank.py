"""The simulated bank: ``sim ctl bank pay`` posts a signed notification the centre accepts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from central.config import CentralSection
from central.db import open_database
from central.payments import Intent, PaymentBook, PaymentService
from central.store import CentralStore
from central.web.app import create_app
from edge.payments.vietqr import VietQR, encode
from hardware_sim.bank import SimBank
from hardware_sim.control_api import ControlServer
from hardware_sim.ctl_cli import ctl
from hardware_sim.world import SimWorld, WorldSpec
from sync.messages import TransactionRequest
from tests.central.conftest import Clock, make_auth

SECRET = b"sim-bank-secret-0123456789"


@pytest.fixture
def sent() -> list[TransactionRequest]:
    return []


@pytest.fixture
def centre(tmp_path: Path, sent: list[TransactionRequest]) -> Iterator[PaymentService]:
    store = CentralStore(open_database(str(tmp_path / "central.db")))
    book = PaymentBook(store.db)
    book.record_intent(Intent("SLBANK01", "hn-01", "kiosk-01", "2000003", ("1",), 75000,
                              datetime.now(UTC) + timedelta(minutes=10)))
    try:
        yield PaymentService(book, SECRET, sent.append)
    finally:
        store.close()


def served(centre: PaymentService, secret: bytes) -> tuple[SimWorld, ControlServer]:
    store = CentralStore(centre.book.db)
    console = create_app(store, make_auth(store, Clock()), CentralSection(), payments=centre)
    world = SimWorld(WorldSpec.default(), timing=False).start()
    world.bank = SimBank("http://testserver/payments/webhook", secret,
                         client=TestClient(console))
    return world, ControlServer(world, port=0).start()


def test_ctl_bank_pay_posts_a_notification_the_centre_accepts(
        centre: PaymentService, sent: list[TransactionRequest]) -> None:
    world, server = served(centre, SECRET)
    try:
        runner = CliRunner()
        r = runner.invoke(ctl, ["--url", server.url, "bank", "pay", "--ref", "SLBANK01",
                                "--amount", "75000", "--txn", "T1"])
        assert r.exit_code == 0, r.output
        assert json.loads(r.output)["outcome"] == "paid"
        assert [q.payload["amount"] for q in sent] == [75000]
        # The same bank transaction again: the centre calls it a duplicate, sends nothing.
        r = runner.invoke(ctl, ["--url", server.url, "bank", "pay", "--ref", "SLBANK01",
                                "--amount", "75000", "--txn", "T1"])
        assert json.loads(r.output)["outcome"] == "duplicate" and len(sent) == 1
    finally:
        server.stop()
        world.stop()


def test_ctl_bank_pay_reads_reference_and_amount_from_the_shown_qr(
        centre: PaymentService, sent: list[TransactionRequest]) -> None:
    world, server = served(centre, SECRET)
    payload = encode(VietQR(bank_bin="970415", account="0011001932418", amount=30000,
                            purpose="SLBANK01"))
    try:
        r = CliRunner().invoke(ctl, ["--url", server.url, "bank", "pay", "--qr", payload])
        assert r.exit_code == 0, r.output
        assert json.loads(r.output)["outcome"] == "partial"
        assert centre.book.applied_for("SLBANK01") == 30000
    finally:
        server.stop()
        world.stop()


def test_a_bank_with_the_wrong_secret_is_refused_and_says_so(
        centre: PaymentService, sent: list[TransactionRequest]) -> None:
    world, server = served(centre, b"not-the-shared-secret-000")
    try:
        r = CliRunner().invoke(ctl, ["--url", server.url, "bank", "pay", "--ref", "SLBANK01",
                                     "--amount", "75000"])
        assert r.exit_code != 0 and "401" in r.output and "signature" in r.output
        assert sent == [] and centre.book.payments() == []
    finally:
        server.stop()
        world.stop()


def test_no_bank_configured_is_a_clear_404() -> None:
    world = SimWorld(WorldSpec.default(), timing=False).start()
    server = ControlServer(world, port=0).start()
    try:
        r = CliRunner().invoke(ctl, ["--url", server.url, "bank", "pay", "--ref", "X",
                                     "--amount", "1"])
        assert r.exit_code != 0 and "404" in r.output
    finally:
        server.stop()
        world.stop()


def test_sim_serve_builds_a_bank_only_with_a_webhook_url() -> None:
    import httpx

    from hardware_sim.serve import build

    world, control, _ = build(WorldSpec.default(), control_port=0, timing=False,
                              bank_webhook="http://127.0.0.1:9/payments/webhook",
                              bank_secret=SECRET)
    try:
        got = httpx.get(control.url + "/bank", timeout=5).json()
        assert got == {"webhook_url": "http://127.0.0.1:9/payments/webhook", "sent": []}
        # The centre unreachable: a clear 502 naming it, nothing counted as sent.
        r = httpx.post(control.url + "/bank/pay", json={"ref": "X", "amount": 1}, timeout=15)
        assert r.status_code == 502 and "cannot reach the centre" in r.json()["detail"]
    finally:
        control.stop()
        world.stop()
    world, control, _ = build(WorldSpec.default(), control_port=0, timing=False)
    try:
        assert world.bank is None
    finally:
        control.stop()
        world.stop()
