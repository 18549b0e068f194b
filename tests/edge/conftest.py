"""Fixtures for the edge tests: settings, a store, a fake pad, the gateway double, services."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.services.container import EdgeServices
from smartlib.config import Settings, load_settings
from tests.edge.doubles import FakeReader, GatewayDouble, Ils
from tests.support.pin_keys import PinKeys, make_pin_keys


@pytest.fixture
def pin_keys(tmp_path: Path) -> PinKeys:
    return make_pin_keys(tmp_path)


@pytest.fixture
def settings(tmp_path: Path, pin_keys: PinKeys) -> Settings:
    return load_settings(None, store={"path": tmp_path / "edge.db"},
                         gateway={"public_key": pin_keys.public_key},
                         policy={"result_timeout_s": 1.0, "offline_max_items": 2,
                                 "offline_login": "cached"},
                         card_reader={"enabled": False},
                         api={"device_token": "dev-tok", "staff_token": "staff-tok"})


@pytest.fixture
def reader() -> FakeReader:
    return FakeReader()


@pytest.fixture
def ils() -> Ils:
    return Ils(patrons={"2000001": "1234", "2000002": "5555"})


@pytest.fixture
def gateway(settings: Settings, ils: Ils, pin_keys: PinKeys) -> Iterator[GatewayDouble]:
    with GatewayDouble(settings.store.path, ils, pin_key=pin_keys.private_key) as gw:
        yield gw


@pytest.fixture
def services(settings: Settings, reader: FakeReader, gateway: GatewayDouble) -> Iterator[EdgeServices]:
    svc = EdgeServices.build(settings, reader=reader)
    svc.start(background=False, poll_pad=False)
    yield svc
    svc.stop()
