"""Staff log-in: argon2 hashes, one refusal message, lockout after repeated failures."""

from __future__ import annotations

import pytest

from central.auth import REFUSED, token_hash
from central.errors import LoginRefused, StaffError
from central.store import CentralStore
from tests.central.conftest import Clock, make_auth

PASSWORD = "đúng-mật-khẩu-1"


def test_account_password_is_an_argon2id_hash(sqlite_store: CentralStore, clock: Clock) -> None:
    auth = make_auth(sqlite_store, clock)
    account = auth.create_account("lan.nguyen", PASSWORD, role="librarian",
                                  display_name="Nguyễn Thị Lan")
    assert account.password_hash.startswith("$argon2id$") and PASSWORD not in account.password_hash
    assert PASSWORD not in repr(account)
    [entry] = sqlite_store.audit.list()
    assert (entry.actor, entry.action, entry.detail) == ("cli", "staff.create", {"role": "librarian"})
    with pytest.raises(StaffError, match="at least"):
        auth.create_account("short", "abc", role="viewer")
    with pytest.raises(StaffError, match="user name"):
        auth.create_account("Bad Name", PASSWORD, role="viewer")


def test_login_opens_a_session_kept_only_as_a_hash(store: CentralStore, clock: Clock) -> None:
    auth = make_auth(store, clock, session_hours=1)
    auth.create_account("boss", PASSWORD, role="admin")
    done = auth.login("boss", PASSWORD)
    assert store.sessions.find(done.token, "0") is None           # the raw token is not stored
    session, account = auth.session(done.token)  # type: ignore[misc]
    assert session.token_hash == token_hash(done.token) and account.username == "boss"
    assert auth.csrf_ok(session, session.csrf_token)
    assert not auth.csrf_ok(session, "forged") and not auth.csrf_ok(session, None)
    clock.advance(hours=2)
    assert auth.session(done.token) is None                          # expired
    assert auth.session("no-such-token") is None and auth.session(None) is None


def test_unknown_user_and_wrong_password_get_the_same_refusal(store: CentralStore,
                                                               clock: Clock) -> None:
    auth = make_auth(store, clock)
    auth.create_account("boss", PASSWORD, role="admin")
    with pytest.raises(LoginRefused) as unknown:
        auth.login("nobody", PASSWORD)
    with pytest.raises(LoginRefused) as wrong:
        auth.login("boss", "sai-mật-khẩu")
    assert str(unknown.value) == str(wrong.value) == REFUSED


def test_lockout_after_repeated_failures_then_unlock(store: CentralStore, clock: Clock) -> None:
    auth = make_auth(store, clock, lockout_failures=3, lockout_minutes=15)
    auth.create_account("boss", PASSWORD, role="admin")
    for _ in range(2):
        with pytest.raises(LoginRefused) as exc:
            auth.login("boss", "wrong-password")
        assert exc.value.locked_until is None
    with pytest.raises(LoginRefused) as exc:
        auth.login("boss", "wrong-password")
    assert exc.value.locked_until is not None
    with pytest.raises(LoginRefused, match="locked"):                # even the right password
        auth.login("boss", PASSWORD)
    clock.advance(minutes=16)
    assert auth.login("boss", PASSWORD).account.failed_logins == 0
    actions = [e.action for e in store.audit.list()]
    assert actions.count("login.failed") == 3 and "login.locked" in actions
    assert actions[0] == "login"
