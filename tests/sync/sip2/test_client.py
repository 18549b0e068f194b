"""Sip2Client and Sip2ConnectionPool against the demo ILS: every command, and recovery."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest

from hardware_sim.ils.data import DEMO_ITEMS
from hardware_sim.ils.server import DemoIlsServer
from sync.errors import (
    Sip2ConnectionError,
    Sip2DateError,
    Sip2LoginError,
    Sip2PoolTimeout,
    Sip2TimeoutError,
)
from sync.sip2.client import Sip2Client, Sip2ConnectionPool
from sync.sip2.messages import CheckoutResponse, ItemInformation
from sync.sip2.profiles import get_profile

AVAILABLE = DEMO_ITEMS["available"]


@pytest.fixture
def make_client(demo_ils: DemoIlsServer) -> Iterator[Callable[..., Sip2Client]]:
    clients: list[Sip2Client] = []

    def make(**kw: Any) -> Sip2Client:
        kw.setdefault("keepalive", False)
        c = Sip2Client("127.0.0.1", demo_ils.port, user="kiosk01", password="s3cret",
                       institution="VNLIB", location="MAIN", **kw)
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.close()


@pytest.fixture
def client(make_client: Callable[..., Sip2Client]) -> Sip2Client:
    c = make_client()
    c.connect()
    return c


def test_every_command(client: Sip2Client, demo_ils: DemoIlsServer) -> None:
    st = client.sc_status()
    assert st.online_status is True and st.institution_id == "VNLIB"

    info = client.patron_information("2000001", "1234", summary="charged")
    assert info.valid_patron and info.valid_patron_password
    assert info.personal_name == "Nguyễn Văn An"
    assert "30000060" in info.charged_items and info.charged_items_count == len(info.charged_items)

    ps = client.patron_status("2000002", "2345")
    assert ps.patron_status[0] == "Y" and ps.valid_patron_password is True

    co = client.checkout("2000001", AVAILABLE[0], pin="1234", extra_fields={"XK": "k-1"})
    assert co.ok and co.desensitize and co.item_id == AVAILABLE[0] and co.due_date
    assert demo_ils.circulation.applications("k-1")[0]["kind"] == "checkout"

    item = client.item_information(AVAILABLE[0])
    assert item.circulation_status == "04" and item.due_date == co.due_date

    rn = client.renew("2000001", AVAILABLE[0])
    assert rn.ok and rn.renewal_ok

    ra = client.renew_all("2000001")
    assert ra.ok and AVAILABLE[0] in ra.renewed_items

    ci = client.checkin(AVAILABLE[0], extra_fields={"XK": "k-2"})
    assert ci.ok and ci.resensitize and ci.alert is False and ci.sort_bin == "SHELF"

    hold = client.hold("2000004", item_id=AVAILABLE[1], pickup_location="MAIN")
    assert hold.ok and hold.queue_position == "1"

    fee = client.fee_paid("2000003", "30000")
    assert fee.payment_accepted

    upd = client.item_status_update(AVAILABLE[2], "shelf=A1")
    assert upd.item_properties_ok

    blk = client.block_patron("2000010", "card retained")
    assert blk.patron_status.startswith("YYYY")

    end = client.end_patron_session("2000001")
    assert end.end_session is True

    raw = client.send_raw("9900302.00")
    assert raw.message.COMMAND == "98" and raw.sequence is not None
    typed = client.send_raw(ItemInformation(transaction_date="20261123    120000",
                                            institution_id="VNLIB", item_id=AVAILABLE[2]))
    assert typed.message.COMMAND == "18"
    assert demo_ils.duplicate_count() == 0


def test_refusals_are_answers(client: Sip2Client) -> None:
    blocked = client.checkout("2000002", AVAILABLE[0], pin="2345")
    assert isinstance(blocked, CheckoutResponse) and blocked.ok is False
    assert blocked.desensitize is False and any("blocked" in m for m in blocked.screen_message)
    fines = client.checkout("2000003", AVAILABLE[0])
    assert fines.ok is False
    held = client.checkout("2000001", DEMO_ITEMS["on_hold_shelf_ready"][0])
    assert held.ok is False
    bad_pin = client.checkout("2000001", AVAILABLE[0], pin="0000")
    assert bad_pin.ok is False


def test_login_refused(make_client: Callable[..., Sip2Client], demo_ils: DemoIlsServer) -> None:
    c = Sip2Client("127.0.0.1", demo_ils.port, user="kiosk01", password="wrong",
                   institution="VNLIB", keepalive=False)
    try:
        with pytest.raises(Sip2LoginError):
            c.connect()
    finally:
        c.close()


def _wait_until(pred: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Poll ``pred`` until it holds; the generous timeout only bounds a hung test."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.01)


class _KeepaliveClock:
    """A fake monotonic clock that counts how often the keepalive thread consults it, so a
    test can see the keepalive loop has polled (and decided) without timing it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.keepalive_reads = 0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            if threading.current_thread().name.startswith("sip2-keepalive"):
                self.keepalive_reads += 1
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds

    def reads(self) -> int:
        with self._lock:
            return self.keepalive_reads


def test_keepalive_fires_only_after_the_idle_interval(make_client: Callable[..., Sip2Client],
                                                      demo_ils: DemoIlsServer) -> None:
    """With a fake clock: no 99 while the connection is fresh, exactly one once it has been
    idle for the keepalive interval (idle_timeout x keepalive_fraction = 0.5 s here)."""
    clock = _KeepaliveClock()
    c = make_client(keepalive=True, profile=replace(get_profile("koha"), idle_timeout=1.0),
                    clock=clock)
    c.connect()
    requests_after_login = demo_ils.counters["requests"]

    def polls_after(n: int) -> Callable[[], bool]:
        start = clock.reads()
        return lambda: clock.reads() >= start + n

    _wait_until(polls_after(3), "the keepalive thread to poll 3 times")
    assert c.stats["keepalives"] == 0           # idle 0 s < 0.5 s: nothing sent

    clock.advance(0.49)
    _wait_until(polls_after(3), "3 more keepalive polls")
    assert c.stats["keepalives"] == 0           # still under the interval

    clock.advance(0.02)                          # idle 0.51 s >= 0.5 s
    _wait_until(lambda: c.stats["keepalives"] == 1, "the first keepalive")
    _wait_until(polls_after(3), "3 polls after the first keepalive")
    assert c.stats["keepalives"] == 1           # the 99 reset the idle time

    clock.advance(0.6)
    _wait_until(lambda: c.stats["keepalives"] == 2, "the second keepalive")
    assert c.stats["reconnects"] == 0 and demo_ils.counters["logins"] == 1
    assert demo_ils.counters["requests"] == requests_after_login + 2  # the two 99s reached the ILS


def test_keepalive_prevents_idle_drop(make_client: Callable[..., Sip2Client],
                                      demo_ils: DemoIlsServer) -> None:
    """Against an ILS that drops connections idle for 2 s, a client whose profile says 0.6 s
    (a 99 after 0.3 s idle) keeps the one session alive. The wait is on the keepalive
    counter, not on the clock: each keepalive needs 0.3 s of idleness, so 8 of them span
    more than the ILS's 2 s idle timeout, and the session must still be the first one."""
    demo_ils.set_idle_timeout(2.0)
    c = make_client(keepalive=True, profile=replace(get_profile("koha"), idle_timeout=0.6))
    c.connect()
    _wait_until(lambda: c.stats["keepalives"] >= 8 or demo_ils.counters["idle_drops"] > 0,
                "8 keepalives (or an idle drop)")
    assert demo_ils.counters["idle_drops"] == 0
    assert c.stats["keepalives"] >= 8
    assert c.item_information(AVAILABLE[0]).item_id == AVAILABLE[0]
    assert c.stats["reconnects"] == 0 and demo_ils.counters["logins"] == 1


def test_idle_drop_then_reconnect(make_client: Callable[..., Sip2Client],
                                  demo_ils: DemoIlsServer) -> None:
    demo_ils.set_idle_timeout(0.5)
    c = make_client()
    c.connect()
    deadline = time.monotonic() + 5
    while demo_ils.counters["idle_drops"] == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert demo_ils.counters["idle_drops"] == 1
    assert c.sc_status().online_status is True
    assert c.stats["reconnects"] == 1 and c.stats["resends_after_eof"] == 1
    assert demo_ils.counters["logins"] == 2


def test_mid_message_disconnect_resends_exactly_once(client: Sip2Client,
                                                     demo_ils: DemoIlsServer) -> None:
    demo_ils.truncate_next_responses(1)
    resp = client.checkout("2000001", AVAILABLE[1], extra_fields={"XK": "key-7"})
    assert resp.ok
    assert demo_ils.received.count("11") == 2
    assert client.stats["resends_after_eof"] == 1
    # the ILS applied it twice (Koha-like renewal of the same checkout): the duplicate is
    # visible, which is why the gateway's ledger must stop replays
    assert [a["kind"] for a in demo_ils.circulation.applications("key-7")] == ["checkout", "checkout"]
    assert demo_ils.duplicate_count() == 1


def test_a_renew_all_is_never_resent_after_a_broken_connection(
        client: Sip2Client, demo_ils: DemoIlsServer) -> None:
    client.checkout("2000001", AVAILABLE[2])
    demo_ils.truncate_next_responses(1)
    with pytest.raises(Sip2ConnectionError) as err:
        client.renew_all("2000001")
    assert err.value.maybe_applied
    assert demo_ils.received.count("65") == 1 and client.stats["resends_after_eof"] == 0


def test_second_disconnect_is_an_error_after_one_resend(client: Sip2Client,
                                                        demo_ils: DemoIlsServer) -> None:
    demo_ils.truncate_next_responses(2)
    with pytest.raises(Sip2ConnectionError):
        client.item_information(AVAILABLE[0])
    # the 17's answer was cut, then the answer to the new login: no second resend follows
    assert demo_ils.received == ["93", "17", "93"]


def test_checksum_failure_sends_97(client: Sip2Client, demo_ils: DemoIlsServer) -> None:
    demo_ils.corrupt_next_responses(1)
    resp = client.item_information(AVAILABLE[0])
    assert resp.item_id == AVAILABLE[0]
    assert client.stats["acs_resend_requests"] == 1
    assert demo_ils.counters["acs_resend_requests"] == 1
    assert demo_ils.received[-2:] == ["17", "97"]


def test_96_makes_the_client_resend(client: Sip2Client, demo_ils: DemoIlsServer) -> None:
    demo_ils.request_resend_next(1)
    assert client.item_information(AVAILABLE[0]).item_id == AVAILABLE[0]
    assert client.stats["sc_resends"] == 1
    assert demo_ils.received[-2:] == ["17", "17"]


def test_timeout_does_not_resend(make_client: Callable[..., Sip2Client],
                                 demo_ils: DemoIlsServer) -> None:
    c = make_client(timeout=0.3)
    c.connect()
    demo_ils.set_latency(0.8)
    with pytest.raises(Sip2TimeoutError):
        c.item_information(AVAILABLE[0])
    assert demo_ils.received.count("17") == 1
    demo_ils.set_latency(0.0)
    assert c.item_information(AVAILABLE[0]).item_id == AVAILABLE[0]


def test_outage(client: Sip2Client, demo_ils: DemoIlsServer) -> None:
    demo_ils.set_outage(True)
    with pytest.raises(Sip2ConnectionError):
        client.sc_status()
    demo_ils.set_outage(False)
    assert client.sc_status().online_status is True


def test_charset_emulation_without_error_detection(make_client: Callable[..., Sip2Client],
                                                   demo_ils: DemoIlsServer) -> None:
    demo_ils.set_profile("folio")
    c = make_client(profile="folio")
    c.connect()
    info = c.patron_information("2000001", "1234")
    # cp850 has no Vietnamese letters: the emulated ILS replaces them, nothing is garbled
    assert info.personal_name == "Nguy?n V?n An"
    assert c.last_response is not None and c.last_response.checksum is None
    assert c.last_request is not None and b"AZ" not in c.last_request


def test_pool_bounds_and_health_check(make_client: Callable[..., Sip2Client],
                                      demo_ils: DemoIlsServer) -> None:
    pool = Sip2ConnectionPool(make_client, size=2, acquire_timeout=0.2, health_check_after=0.0)
    try:
        with pool.connection() as a, pool.connection() as b:
            assert a is not b
            with pytest.raises(Sip2PoolTimeout), pool.connection():
                pass
        with pool.connection() as c:
            assert c in (a, b)
            assert c.checkout("2000001", AVAILABLE[2]).ok
        assert pool.stats["created"] == 2 and pool.stats["health_checks"] >= 1
        demo_ils.set_outage(True)
        with pytest.raises(Sip2ConnectionError), pool.connection():
            pass
        assert pool.stats["discarded"] >= 1
        demo_ils.set_outage(False)
        with pool.connection() as d:
            assert d.sc_status().online_status is True
    finally:
        pool.close()


def test_no_resend_leaves_the_decision_to_the_caller(client: Sip2Client,
                                                     demo_ils: DemoIlsServer) -> None:
    # The gateway passes resend=False: a circulation request whose answer was lost must not
    # be sent a second time by the client, because the ILS may already have applied it.
    demo_ils.truncate_next_responses(1)
    with pytest.raises(Sip2ConnectionError) as ei:
        client.checkout("2000001", AVAILABLE[2], extra_fields={"XK": "key-8"}, resend=False)
    assert ei.value.maybe_applied
    assert demo_ils.received.count("11") == 1
    assert [a["kind"] for a in demo_ils.circulation.applications("key-8")] == ["checkout"]
    assert demo_ils.duplicate_count() == 0
    # the client is usable again afterwards (it reconnects on the next call)
    assert client.item_information(AVAILABLE[2]).item_id == AVAILABLE[2]


def test_dates_accept_iso_strings_and_reject_garbage(client: Sip2Client,
                                                      demo_ils: DemoIlsServer) -> None:
    # The edge journals promised due dates as ISO dates; an offline checkout replayed later
    # must reach the ILS as a SIP2 date (end of that day).
    assert client.sip_date("2026-12-07", "nb_due_date") == "20261207    235959"
    assert client.sip_date("2026-11-23T12:00:00") == "20261123    120000"
    assert client.sip_date("20261123    120000") == "20261123    120000"
    with pytest.raises(Sip2DateError) as ei:
        client.sip_date("next tuesday", "nb_due_date")
    assert ei.value.field == "nb_due_date"
    with pytest.raises(Sip2DateError):
        client.sip_date("20261399    120000")
    resp = client.checkout("2000001", AVAILABLE[-1], no_block=True,
                           transaction_date="2026-11-20T10:00:00", nb_due_date="2026-12-07")
    assert resp.ok
