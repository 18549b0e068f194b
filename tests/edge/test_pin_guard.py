"""Wrong PINs lock a credential out (issue 18 §4): online and offline, durable, logged masked."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from drivers.credential import PatronCredential
from edge.api import create_app
from edge.errors import EdgeError
from edge.services.pin_guard import PinGuard
from edge.store import open_store

DEV = {"Authorization": "Bearer dev-tok"}


class Clock:
    """Wall-clock seconds the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(services) -> Clock:
    c = Clock()
    services.sessions.pin_guard.clock = c
    return c


def _login(services, pin: str | None, pid: str = "2000001", source: str = "manual"):
    return services.sessions.login(PatronCredential(source, pid, pid.encode()), pin, "en")


def _code(services, pin: str | None, pid: str = "2000001") -> str:
    with pytest.raises(EdgeError) as e:
        _login(services, pin, pid)
    return e.value.code


def test_fifty_wrong_pins_then_the_right_one_is_refused_until_the_lockout_ends(
        settings, services, clock) -> None:
    """The issue's case: 50 wrong PINs, then the right PIN logged in. Now the 5th wrong PIN
    locks the card for 15 minutes (the defaults), and the right PIN waits for the end."""
    app = create_app(settings.model_copy(update={"api": settings.api.model_copy(
        update={"login_burst": 1000})}), services, start_services=False)
    codes = []
    with TestClient(app) as client:
        for _ in range(50):
            r = client.post("/sessions", headers=DEV, json={"credential": {
                "source": "manual", "identifier": "2000001", "pin": "0000"}, "language": "vi"})
            codes.append((r.status_code, r.json()["error"]["code"]))
        assert codes[:4] == [(401, "wrong_pin")] * 4
        assert codes[4:] == [(423, "pin_locked")] * 46
        r = client.post("/sessions", headers=DEV, json={"credential": {
            "source": "manual", "identifier": "2000001", "pin": "1234"}, "language": "vi"})
        assert r.status_code == 423
        err = r.json()["error"]
        assert err["code"] == "pin_locked" and err["detail"]["retry_after_s"] == 15 * 60
        assert set(err["texts"]) == {"vi", "en"} and err["texts"]["vi"] != err["texts"]["en"]
        # Another card is not affected.
        r = client.post("/sessions", headers=DEV, json={"credential": {
            "source": "manual", "identifier": "2000002", "pin": "5555"}})
        assert r.status_code == 201, r.text
        clock.now += 15 * 60 - 1
        assert _code(services, "1234") == "pin_locked"
        clock.now += 1
        r = client.post("/sessions", headers=DEV, json={"credential": {
            "source": "manual", "identifier": "2000001", "pin": "1234"}})
        assert r.status_code == 201, r.text
    # The ILS was asked about the five wrong PINs (the fifth locked the card), the other
    # card and the last right PIN only: a locked card is refused before any look-up.
    assert len(services.store.query("SELECT id FROM lookups")) == 5 + 1 + 1


def test_wrong_pins_outside_the_window_do_not_add_up(services, clock) -> None:
    for _ in range(8):                  # 5 minutes apart: at most 3 within any 15 minutes
        assert _code(services, "0000") == "wrong_pin"
        clock.now += 5 * 60
    clock.now -= 5 * 60                 # at the 8th's time: 3 within the window
    assert _code(services, "0000") == "wrong_pin"      # 4
    assert _code(services, "0000") == "pin_locked"     # 5 within 15 minutes


def test_a_right_pin_clears_the_count(services, clock) -> None:
    for _ in range(4):
        assert _code(services, "0000") == "wrong_pin"
    assert not _login(services, "1234").offline
    for _ in range(4):
        assert _code(services, "0000") == "wrong_pin"
    assert _code(services, "0000") == "pin_locked"


def test_offline_wrong_pins_count_and_lock_too(services, gateway, clock) -> None:
    services.sessions.policy = services.settings.policy.model_copy(update={"pin_max_failures": 3})
    services.sessions.pin_guard.policy = services.sessions.policy
    assert not _login(services, "1234").offline        # caches the PIN's hash
    assert _code(services, "0000") == "wrong_pin"      # one online
    gateway.online = False
    assert _code(services, "0000") == "wrong_pin"      # and one offline
    assert _code(services, "0000") == "pin_locked"
    assert _code(services, "1234") == "pin_locked"     # the cached right PIN too
    clock.now += 15 * 60
    assert _login(services, "1234").offline


def test_a_locked_card_is_refused_without_a_pin_too(services, clock) -> None:
    for _ in range(5):
        _code(services, "0000")
    with pytest.raises(EdgeError) as e:
        _login(services, None, source="card")
    assert e.value.code == "pin_locked"


def test_the_lockout_survives_a_restart_and_keeps_no_identifier_or_pin(
        settings, services, clock, tmp_path: Path) -> None:
    for _ in range(5):
        _code(services, "0000")
    path = services.store.path
    # The tables hold a salted HMAC of the card and times: neither the card nor any PIN.
    [row] = services.store.query("SELECT * FROM pin_lockouts")
    assert set(row.keys()) == {"subject", "until", "failures", "locked_at"}
    assert row["subject"] == services.store.pin_failures.subject("2000001")
    assert isinstance(row["subject"], bytes) and len(row["subject"]) == 32
    assert b"2000001" not in row["subject"]
    assert services.store.query("SELECT * FROM pin_failures") == []   # cleared on lockout
    cols = [r["name"] for r in services.store.query("PRAGMA table_info(pin_failures)")]
    assert cols == ["id", "subject", "at"]
    with open_store(path) as reopened:
        guard = PinGuard(reopened, settings.policy, clock=clock)
        with pytest.raises(EdgeError) as e:
            guard.check("2000001")
        assert e.value.code == "pin_locked"
        guard.check("2000002")                        # another card is not locked
        # another box (another salt) names the same card differently
    with open_store(tmp_path / "other.db") as other:
        assert other.pin_failures.subject("2000001") != services.store.pin_failures.subject(
            "2000001")


def test_failures_and_lockouts_are_logged_masked_counted_and_recorded(
        services, clock, caplog) -> None:
    caplog.set_level(logging.INFO)
    for _ in range(5):
        _code(services, "0000")
    text = caplog.text
    assert text.count("wrong PIN for") == 5 and "locked out for 15 min" in text
    assert "2000001" not in text and "0000" not in text.replace("0000000", "")
    totals = services.store.counters.totals("0000")
    assert totals["pin_failure"] == 5 and totals["pin_lockout"] == 1
    [event] = [e for e in services.store.events.recent() if e.kind == "pin_lockout"]
    assert event.device == services.settings.device.id
    assert event.detail["failures"] == 5 and "2000001" not in str(event.detail)
    [alarm] = [a for a in services.store.alarms.list() if a.kind == "pin_lockout"]
    assert alarm.device == services.settings.device.id and "5 wrong PINs" in alarm.message
    assert "2000001" not in alarm.message and "001" in alarm.message


def test_old_failures_and_ended_lockouts_are_purged(services, clock) -> None:
    for _ in range(5):
        _code(services, "0000")                       # 2000001 locked out
    _code(services, "9999", pid="2000002")            # one failure of another card
    rows = "SELECT (SELECT COUNT(*) FROM pin_failures) AS f, (SELECT COUNT(*) FROM pin_lockouts) AS l"
    assert tuple(services.store.query_one(rows)) == (1, 1)
    clock.now += 16 * 60                              # the window and the lockout are over
    _code(services, "9999", pid="2000002")
    assert tuple(services.store.query_one(rows)) == (1, 0)   # only the new failure is left
