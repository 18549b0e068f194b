"""The box's ``POST /staff/login`` locks an account after too many wrong passwords within a
window, and a client after too many failures across accounts, as the central console locks
its accounts: refused with 423 ``staff_login_locked`` (vi/en texts, ``retry_after_s``) even
with the right password, until the lockout ends; logged and alarmed without the password;
kept across a restart (the edge store)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from edge.api import create_app
from edge.services.container import EdgeServices
from edge.services.login_guard import StaffLoginGuard
from smartlib.config import Settings
from tests.edge.test_access import cache_accounts

GOOD, OTHER_GOOD = "lan-password-1", "vy-password-12"
WRONG = [f"wrong-guess-{i}" for i in range(30)]


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(services: EdgeServices, settings: Settings) -> Clock:
    c = Clock()
    api = settings.api.model_copy(update={"staff_login_max_failures": 5,
                                          "staff_login_client_max_failures": 8,
                                          "staff_login_window_min": 10.0,
                                          "staff_login_lockout_min": 15.0})
    services.login_guard = StaffLoginGuard(services.store, api, device="kiosk-01", clock=c)
    cache_accounts(services, ("lan", "librarian", GOOD, False), ("vy", "viewer", OTHER_GOOD, False))
    return c


def _client(settings: Settings, services: EdgeServices, addr: str) -> TestClient:
    return TestClient(create_app(settings, services, start_services=False), client=(addr, 40000))


@pytest.fixture
def desk(settings: Settings, services: EdgeServices) -> Iterator[TestClient]:
    with _client(settings, services, "10.0.0.5") as c:
        yield c


def login(client: TestClient, user: str, password: str) -> tuple[int, dict]:
    r = client.post("/staff/login", json={"username": user, "password": password})
    return r.status_code, r.json()


def test_an_account_is_locked_after_n_failures_even_for_the_right_password(
        desk: TestClient, services: EdgeServices, clock: Clock,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    for i in range(4):
        status, body = login(desk, "lan", WRONG[i])
        assert (status, body["error"]["code"]) == (401, "login_refused")
        clock.now += 60
    status, body = login(desk, "lan", WRONG[4])  # the 5th within 10 minutes
    assert status == 423 and body["error"]["code"] == "staff_login_locked"
    assert body["error"]["detail"]["retry_after_s"] == 15 * 60
    texts = body["error"]["texts"]
    assert "khóa" in texts["vi"] and "locked" in texts["en"]
    status, body = login(desk, "lan", GOOD)  # the right password does not get through
    assert (status, body["error"]["code"]) == (423, "staff_login_locked")
    assert login(desk, "vy", OTHER_GOOD)[0] == 200  # another account, same desk: fine
    # kept across a restart: a new guard on the same store
    again = StaffLoginGuard(services.store, services.login_guard.api, clock=clock)
    with pytest.raises(Exception, match="too many failed log-ins"):
        again.check("lan", "10.0.0.99")
    clock.now += 15 * 60 + 1
    assert login(desk, "lan", GOOD)[0] == 200
    # logged and alarmed, never with a password
    text = caplog.text
    assert "failed staff log-in for 'lan' from 10.0.0.5" in text
    assert "account 'lan' locked out for 15 min" in text
    assert all(p not in text for p in [*WRONG[:5], GOOD, OTHER_GOOD])
    alarms = [a for a in services.store.alarms.list(unacked_only=True) if a.kind == "staff_login_lockout"]
    assert len(alarms) == 1 and "lan" in alarms[0].message


def test_failures_spread_over_the_window_do_not_lock(desk: TestClient, clock: Clock) -> None:
    for i in range(12):
        assert login(desk, "lan", WRONG[i])[0] == 401
        clock.now += 3 * 60  # 4 within any 10 minutes: under the limit of 5 per account
        if i % 2:
            clock.now += 10 * 60  # and the client's failures age out too
    assert login(desk, "lan", GOOD)[0] == 200


def test_a_client_is_locked_after_failures_across_accounts(
        desk: TestClient, settings: Settings, services: EdgeServices, clock: Clock) -> None:
    for i in range(7):
        assert login(desk, f"guess-{i}", WRONG[i])[0] == 401  # unknown names count too
    status, body = login(desk, "guess-7", WRONG[7])
    assert (status, body["error"]["code"]) == (423, "staff_login_locked")
    assert login(desk, "vy", OTHER_GOOD)[0] == 423  # this client, any account
    with _client(settings, services, "10.0.0.6") as other_desk:
        assert login(other_desk, "vy", OTHER_GOOD)[0] == 200
