"""Who may use the box's API: per-device tokens (hashed, rotated, revoked; the shared token a
bootstrap only) and staff log-ins against the cached central staff accounts (roles)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from click.testing import CliRunner
from fastapi.testclient import TestClient

from edge.api import create_app
from edge.api.staff_login import session_of
from edge.services.container import EdgeServices
from edge.store import InvalidState
from smartlib.config import Settings

FAST = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)


@pytest.fixture
def client(settings: Settings, services: EdgeServices) -> Iterator[TestClient]:
    with TestClient(create_app(settings, services, start_services=False)) as c:
        yield c


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def device_call(client: TestClient, token: str) -> int:
    """The status of a patron (device) route: 404 (no such session) once authorised."""
    return client.get("/sessions/no-such-session", headers=bearer(token)).status_code


def cache_accounts(services: EdgeServices, *rows: tuple[str, str, str, bool]) -> None:
    services.store.staff_accounts.replace_all(
        (user, role, FAST.hash(password), disabled) for user, role, password, disabled in rows)


# ---- device tokens ----------------------------------------------------------------------------

def test_the_shared_device_token_works_only_until_a_token_is_issued(
        client: TestClient, services: EdgeServices) -> None:
    assert device_call(client, "dev-tok") == 404
    issued = services.store.device_tokens.issue("kiosk-ui")
    assert device_call(client, issued) == 404
    assert device_call(client, "dev-tok") == 401


def test_a_rotated_token_refuses_the_old_one(client: TestClient, services: EdgeServices) -> None:
    old = services.store.device_tokens.issue("kiosk-ui")
    new = services.store.device_tokens.rotate("kiosk-ui")
    assert new != old
    assert device_call(client, old) == 401
    assert device_call(client, new) == 404
    services.store.device_tokens.revoke("kiosk-ui")
    assert device_call(client, new) == 401
    # a device token is no staff login
    other = services.store.device_tokens.issue("self-check-2")
    assert client.get("/alarms", headers=bearer(other)).status_code == 403


def test_a_token_is_stored_hashed_never_in_clear(services: EdgeServices, settings: Settings) -> None:
    token = services.store.device_tokens.issue("kiosk-ui")
    services.store.connection.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    files = [p for p in Path(settings.store.path).parent.iterdir()
             if p.name.startswith(Path(settings.store.path).name)]
    assert files
    for f in files:
        assert token.encode() not in f.read_bytes(), f
    assert services.store.device_tokens.name_of(token) == "kiosk-ui"
    assert services.store.device_tokens.name_of(token[:-1]) is None


def test_issue_refuses_a_live_name_and_rotate_an_unknown_one(services: EdgeServices) -> None:
    services.store.device_tokens.issue("kiosk-ui")
    with pytest.raises(InvalidState, match="rotate it instead"):
        services.store.device_tokens.issue("kiosk-ui")
    with pytest.raises(InvalidState, match="no active device token"):
        services.store.device_tokens.rotate("nobody")
    with pytest.raises(InvalidState, match="letters, digits"):
        services.store.device_tokens.issue("bad name")


def test_the_token_commands(settings: Settings, tmp_path: Path) -> None:
    from edge.cli import token
    from edge.store import open_store

    config = tmp_path / "box.toml"
    config.write_text(f'[store]\npath = "{settings.store.path}"\n', encoding="utf-8")
    runner = CliRunner()
    first = runner.invoke(token, ["issue", "--config", str(config), "--name", "kiosk-ui"])
    assert first.exit_code == 0, first.output
    again = runner.invoke(token, ["issue", "--config", str(config), "--name", "kiosk-ui"])
    assert again.exit_code != 0 and "rotate it instead" in again.output
    rotated = runner.invoke(token, ["rotate", "--config", str(config), "--name", "kiosk-ui"])
    assert rotated.exit_code == 0, rotated.output
    old, new = first.output.strip(), rotated.output.strip()
    with open_store(settings.store.path) as store:
        assert store.device_tokens.name_of(old) is None
        assert store.device_tokens.name_of(new) == "kiosk-ui"
    listed = runner.invoke(token, ["list", "--config", str(config)])
    [row] = [json.loads(line) for line in listed.output.splitlines()]
    assert row["name"] == "kiosk-ui" and row["active"] and row["rotated_at"]
    assert new not in listed.output
    revoked = runner.invoke(token, ["revoke", "--config", str(config), "--name", "kiosk-ui"])
    assert revoked.exit_code == 0, revoked.output
    with open_store(settings.store.path) as store:
        assert store.device_tokens.name_of(new) is None


# ---- staff log-ins ----------------------------------------------------------------------------

def login(client: TestClient, user: str, password: str) -> tuple[int, dict[str, object]]:
    r = client.post("/staff/login", json={"username": user, "password": password})
    return r.status_code, r.json()


def test_a_cached_account_logs_in_and_its_role_decides(client: TestClient,
                                                       services: EdgeServices) -> None:
    cache_accounts(services, ("lan", "librarian", "lan-password-1", False),
                   ("vy", "viewer", "vy-password-12", False))
    status, body = login(client, "lan", "lan-password-1")
    assert status == 200 and body["role"] == "librarian"
    lib = bearer(str(body["token"]))
    status, body = login(client, "vy", "vy-password-12")
    assert status == 200 and body["role"] == "viewer"
    viewer = bearer(str(body["token"]))

    alarm = services.store.alarms.raise_alarm("unpaid_exit", "an item left unpaid")
    [seen] = client.get("/alarms", headers=viewer).json()
    assert seen["id"] == alarm.id and seen["acked_at"] is None
    r = client.post(f"/alarms/{alarm.id}/ack", headers=viewer)
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    r = client.post(f"/alarms/{alarm.id}/ack", headers=lib)
    assert r.status_code == 200 and r.json()["acked_at"]


def test_wrong_passwords_unknown_and_disabled_accounts_are_refused_alike(
        client: TestClient, services: EdgeServices) -> None:
    cache_accounts(services, ("lan", "librarian", "lan-password-1", False),
                   ("old", "admin", "old-password-1", True))
    for user, password in (("lan", "wrong-password"), ("nobody", "whatever-1"),
                           ("old", "old-password-1")):
        status, body = login(client, user, password)  # one message for each: no probing names
        assert (status, body["error"]["code"]) == (401, "login_refused"), user


def test_a_session_ends_when_the_account_is_disabled_or_forged(
        client: TestClient, services: EdgeServices) -> None:
    cache_accounts(services, ("lan", "librarian", "lan-password-1", False))
    _, body = login(client, "lan", "lan-password-1")
    token = str(body["token"])
    assert client.get("/alarms", headers=bearer(token)).status_code == 200
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert client.get("/alarms", headers=bearer(forged)).status_code == 401
    assert session_of(services.store, token, now=10**12) is None  # expired
    cache_accounts(services, ("lan", "librarian", "lan-password-1", True))
    assert client.get("/alarms", headers=bearer(token)).status_code == 401


def test_the_shared_staff_token_stops_once_accounts_are_cached(
        client: TestClient, services: EdgeServices) -> None:
    assert client.get("/alarms", headers=bearer("staff-tok")).status_code == 200
    cache_accounts(services, ("lan", "librarian", "lan-password-1", False))
    assert client.get("/alarms", headers=bearer("staff-tok")).status_code == 401


def test_staff_token_fallback_keeps_the_shared_token(settings: Settings, services: EdgeServices) -> None:
    api = settings.api.model_copy(update={"staff_token_fallback": True})
    services.settings = settings.model_copy(update={"api": api})
    cache_accounts(services, ("lan", "librarian", "lan-password-1", False))
    with TestClient(create_app(services.settings, services, start_services=False)) as c:
        assert c.get("/alarms", headers=bearer("staff-tok")).status_code == 200
