"""Privacy of what the sync path stores and sends (review M4, M9) and the agent's
connectivity report for ``/health`` and the kiosk's banner."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sync.agent.service import result_dict
from sync.gateway.applier import Applier
from sync.messages import LookupRequest, TransactionRequest, utcnow
from tests.sync.gateway.harness import (
    PATRON,
    SITE,
    SyncEnv,
    items,
    journal,
    new_key,
    wait_until,
)

PIN = "8642097531"  # distinctive: grepped for in the store's files


def _files(path: Path) -> dict[str, bytes]:
    out = {}
    for suffix in ("", "-wal"):
        f = Path(f"{path}{suffix}")
        if f.exists():
            out[f.name] = f.read_bytes()
    return out


def test_the_pin_of_a_login_lookup_does_not_rest_in_the_store_files(sync_env: SyncEnv) -> None:
    store = sync_env.open_store()
    sync_env.start_gateway()
    sync_env.start_agent()
    sealed = sync_env.pin_keys.seal(PIN)
    lookup = store.lookups.request("patron", {"patron_id": PATRON, "pin_sealed": sealed})
    answer = store.lookups.wait(lookup.id, 20)
    assert answer is not None and answer.state == "answered"
    assert answer.response is not None and answer.response["valid_pin"] is False
    files = _files(sync_env.store_path("kiosk-01"))
    assert files, "no store files found"
    for name, data in files.items():
        assert PIN.encode() not in data, f"the PIN rests in {name}"
        assert sealed.encode() not in data, f"the sealed PIN rests in {name}"
    # The login answer carries what login needs, not the patron's item lists.
    for key in ("charged_items", "hold_items", "overdue_items", "fine_items"):
        assert not answer.response.get(key), key


def test_an_abandoned_lookup_leaves_no_pin_on_disk(sync_env: SyncEnv) -> None:
    store = sync_env.open_store()  # no agent: nobody claims it
    sealed = sync_env.pin_keys.seal(PIN).encode()
    lookup = store.lookups.request("patron", {"patron_id": PATRON, "pin_sealed": sealed.decode()})
    files = _files(sync_env.store_path("kiosk-01")).values()
    assert any(sealed in d for d in files) and not any(PIN.encode() in d for d in files)
    store.lookups.abandon(lookup.id)
    for name, data in _files(sync_env.store_path("kiosk-01")).items():
        assert sealed not in data, f"the sealed PIN rests in {name}"


def test_gates_learn_loans_without_patrons_and_kiosks_with_them(sync_env: SyncEnv) -> None:
    kiosk, gate = sync_env.open_store("kiosk-01"), sync_env.open_store("gate-01")
    sync_env.start_gateway()
    sync_env.start_agent("kiosk-01")
    sync_env.start_agent("gate-01")
    item = items(1)[0]
    key = journal(kiosk, "checkout", item, offline=False)
    entry = kiosk.outbox.wait_for_result(key, 20)
    assert entry is not None and entry.state == "applied"
    wait_until(lambda: gate.cache.loan(item) is not None, 20, what="the delta at the gate")
    wait_until(lambda: kiosk.cache.loan(item) is not None, 20, what="the delta at the kiosk")
    assert gate.cache.loan(item).patron_id == ""
    assert kiosk.cache.loan(item).patron_id == PATRON
    raw = b"".join(_files(sync_env.store_path("gate-01")).values())
    assert PATRON.encode() not in raw


class _Checkin:
    ok, title, resensitize, sort_bin, destination_location = True, "T", True, None, None
    alert_type, hold_patron_id, patron_id, screen_message = "01", "2000042", "2000007", ()


class _Patron:
    valid_patron, valid_patron_password, personal_name = True, True, "A"
    patron_status, charged_items_count, hold_items_count, overdue_items_count = " " * 14, 2, 1, 0
    fee_amount, charged_items, hold_items, screen_message = None, ["x1", "x2"], ["h1"], ()
    email_address, home_address, home_phone_number = "a@example.org", "1 Phố Huế", "0912"


class _Client:
    def checkin(self, *_a: Any, **_k: Any) -> _Checkin:
        return _Checkin()

    def patron_information(self, *_a: Any, **_k: Any) -> _Patron:
        return _Patron()


class _Pool:
    @contextmanager
    def connection(self) -> Any:
        yield _Client()


def test_an_anonymous_return_learns_hold_shelf_but_not_whose_hold_or_loan() -> None:
    req = TransactionRequest(key=new_key(), kind="checkin", site=SITE, device="kiosk-01",
                             item="30000200", created_at=utcnow())
    res = Applier(_Pool()).apply(req).result
    assert res.hold_shelf is True
    assert res.hold_patron is None and res.patron is None
    stored = result_dict(res)
    assert stored["sort"]["kind"] == "hold_shelf"
    assert "2000042" not in str(stored) and "2000007" not in str(stored)


def test_a_login_lookup_answer_has_counts_not_lists() -> None:
    req = LookupRequest(request_id=new_key(), kind="patron", site=SITE, device="kiosk-01",
                        patron=PATRON).with_pin("1")
    resp = Applier(_Pool()).lookup(req)
    assert resp.valid_pin is True and resp.charged == 2 and resp.holds == 1
    assert resp.charged_items == [] and resp.hold_items == []
    # The e-mail address (for receipts) is carried; the home address and phone are not.
    dumped = resp.model_dump_json()
    assert resp.email == "a@example.org" and "Phố Huế" not in dumped and "0912" not in dumped


def test_the_agent_reports_connectivity_into_the_edge_store(sync_env: SyncEnv) -> None:
    store = sync_env.open_store()
    assert store.meta.connectivity()[0] == "unknown"
    agent = sync_env.start_agent()
    wait_until(lambda: store.meta.connectivity()[0] == "online", 10, what="online")
    assert store.meta.connectivity()[1] is not None
    sync_env.broker.stop()
    wait_until(lambda: store.meta.connectivity()[0] == "offline", 20, what="offline")
    sync_env.broker.start()
    wait_until(lambda: agent.connected.is_set(), 30, what="the reconnect")
    wait_until(lambda: store.meta.connectivity()[0] == "online", 10, what="online again")
