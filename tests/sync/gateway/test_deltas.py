"""The delta window: a site's cache changes, at most one delta per window, in order."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime

import pytest

from sync.gateway.applier import Outcome
from sync.gateway.deltas import DeltaWindow
from sync.messages import CacheDelta, CacheLoan, TransactionResult
from tests.support.clock import ManualClock
from tests.sync.gateway.harness import SyncEnv, items, journal, wait_until


def _result(item: str) -> TransactionResult:
    return TransactionResult(key=str(uuid.uuid4()), kind="checkout", site="s1", device="k1",
                             status="applied", ok=True, item=item)


def loan(item: str, at: str = "2026-12-07T10:00:00+00:00") -> Outcome:
    return Outcome(_result(item), loan=CacheLoan(item_id=item, patron_id="p1", loaned_at=at))


def ret(item: str, at: str = "2026-12-07T10:00:05+00:00") -> Outcome:
    return Outcome(_result(item), returned=item, returned_at=datetime.fromisoformat(at))


@pytest.fixture
def sent() -> list[tuple[str, CacheDelta]]:
    return []


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(100.0)


@pytest.fixture
def window(sent: list[tuple[str, CacheDelta]], clock: ManualClock) -> DeltaWindow:
    return DeltaWindow(lambda site, d: sent.append((site, d)), window_s=0.25, clock=clock)


def test_a_quiet_sites_change_goes_at_once(window: DeltaWindow, sent: list) -> None:
    window.add("s1", [loan("i1")])
    assert [(s, [x.item_id for x in d.loans]) for s, d in sent] == [("s1", ["i1"])]
    assert window.flush_due() is None


def test_changes_inside_the_window_go_together_when_it_ends(window: DeltaWindow, sent: list,
                                                            clock: ManualClock) -> None:
    window.add("s1", [loan("i1")])
    clock.now += 0.05
    window.add("s1", [loan("i2")])
    clock.now += 0.05
    window.add("s1", [ret("i3"), loan("i4")])
    assert len(sent) == 1
    assert window.flush_due() == pytest.approx(100.25)  # not yet: the window ends at 100.25
    assert len(sent) == 1
    clock.now = 100.25
    assert window.flush_due() is None
    site, delta = sent[1]
    assert site == "s1"
    assert [x.item_id for x in delta.loans] == ["i2", "i4"]
    assert delta.returned_items == ["i3"]
    assert delta.returned_at == {"i3": datetime(2026, 12, 7, 10, 0, 5, tzinfo=UTC)}
    assert window.sent == 2


def test_sites_have_their_own_windows(window: DeltaWindow, sent: list, clock: ManualClock) -> None:
    window.add("s1", [loan("i1")])
    window.add("s2", [loan("i2")])
    assert [s for s, _d in sent] == ["s1", "s2"]
    clock.now += 0.1
    window.add("s1", [loan("i3")])
    window.add("s2", [loan("i4")])
    assert len(sent) == 2
    clock.now += 0.2
    window.flush_due()
    assert sorted(s for s, _d in sent[2:]) == ["s1", "s2"]


def test_an_items_last_change_in_the_window_wins(window: DeltaWindow, sent: list,
                                                 clock: ManualClock) -> None:
    window.add("s1", [loan("i0")])  # opens the window
    window.add("s1", [loan("i1", "2026-12-07T10:00:00+00:00")])
    window.add("s1", [ret("i1", "2026-12-07T10:00:01+00:00")])
    window.add("s1", [ret("i2", "2026-12-07T10:00:01+00:00")])
    window.add("s1", [loan("i2", "2026-12-07T10:00:02+00:00")])
    clock.now += 1
    window.flush_due()
    delta = sent[-1][1]
    assert [x.item_id for x in delta.loans] == ["i2"]
    assert delta.returned_items == ["i1"]
    assert "i2" not in delta.returned_at


def test_a_window_of_zero_sends_every_batch(sent: list, clock: ManualClock) -> None:
    window = DeltaWindow(lambda site, d: sent.append((site, d)), window_s=0, clock=clock)
    for i in range(3):
        window.add("s1", [loan(f"i{i}")])
    assert len(sent) == 3


def test_outcomes_without_a_cache_change_send_nothing(window: DeltaWindow, sent: list) -> None:
    window.add("s1", [Outcome(_result("i1"))])
    assert sent == [] and window.flush_due() is None


def test_flush_all_sends_what_is_gathered(window: DeltaWindow, sent: list) -> None:
    window.add("s1", [loan("i1")])
    window.add("s1", [loan("i2")])
    window.flush_all()
    assert [[x.item_id for x in d.loans] for _s, d in sent] == [["i1"], ["i2"]]


def test_a_failed_publish_is_logged_and_the_next_window_still_goes(
        clock: ManualClock, caplog: pytest.LogCaptureFixture) -> None:
    sent: list[CacheDelta] = []

    def publish(_site: str, delta: CacheDelta) -> None:
        if not sent and not caplog.records:
            raise ValueError("broker queue full")
        sent.append(delta)

    window = DeltaWindow(publish, window_s=0.25, clock=clock)
    window.add("s1", [loan("i1")])
    assert "cache delta of s1 not published (1 loan(s), 0 return(s))" in caplog.text
    clock.now += 1
    window.add("s1", [loan("i2")])
    assert [x.item_id for d in sent for x in d.loans] == ["i2"]


def test_the_flusher_thread_sends_a_gathered_delta_and_stops(sent: list) -> None:
    window = DeltaWindow(lambda site, d: sent.append((site, d)), window_s=0.05)
    stop = threading.Event()
    t = threading.Thread(target=window.run, args=(stop,), daemon=True)
    t.start()
    window.add("s1", [loan("i1")])
    window.add("s1", [loan("i2")])  # gathered: the thread sends it when the window ends
    for _ in range(200):
        if len(sent) == 2:
            break
        stop.wait(0.01)
    assert [[x.item_id for x in d.loans] for _s, d in sent] == [["i1"], ["i2"]]
    stop.set()
    window.wake()
    t.join(5)
    assert not t.is_alive()


def test_a_negative_window_is_refused() -> None:
    with pytest.raises(ValueError, match="0 or more seconds"):
        DeltaWindow(lambda s, d: None, window_s=-1)


# ---- a gateway that dies inside its window ------------------------------------------------------


def test_a_gateway_killed_inside_its_window_sends_the_changes_again_on_restart(
        sync_env: SyncEnv) -> None:
    """kill -9 of a gateway holding a gathered change: the gate never got it; the restarted
    gateway sends again the changes it completed since its last delta mark."""
    kiosk, gate = sync_env.open_store("kiosk-01"), sync_env.open_store("gate-01")
    env = {"SMARTLIB_GATEWAY__DELTA_WINDOW_S": "5"}
    args = ["gateway", "run", "--config", str(sync_env.gateway_config())]
    gw = sync_env.proc("gateway", args, env).start()
    sync_env.start_agent("kiosk-01")
    sync_env.start_agent("gate-01")
    first, second = items(2)
    for item in (first, second):
        key = journal(kiosk, "checkout", item, offline=False)
        entry = kiosk.outbox.wait_for_result(key, 30)
        assert entry is not None and entry.state == "applied"
    wait_until(lambda: gate.cache.is_on_loan(first), 10, what="the first change (at once)")
    gw.kill9()  # the second change waits in the 5 s window: lost with the process
    assert not gate.cache.is_on_loan(second)
    gw2 = sync_env.proc("gateway2", args, env).start()
    wait_until(lambda: gate.cache.is_on_loan(second), 30, what="the change sent again")
    wait_until(lambda: "sent again" in gw2.output(), 10, what="the replay's log line")
