"""Cache deltas from a pool of gateways: each item's latest change wins at the edge, in
whatever order the deltas arrive (a gateway gathers a site's changes for a window, so the
loan one gathered may come after the return another sent)."""

from __future__ import annotations

from typing import Any

from sync import topics
from sync.messages import CacheDelta, CacheLoan, encode
from sync.mqtt import ReceivedMessage
from tests.sync.gateway.harness import SITE, SyncEnv, items, journal, wait_until


class Idle:
    """A runner that runs nothing: the test drains the receiver itself."""

    def attach(self, agent: Any) -> None:
        pass

    def detach(self, agent: Any) -> None:
        pass


def _delta(delta: CacheDelta, topic: str) -> ReceivedMessage:
    return ReceivedMessage(topic=topic, payload=encode(delta))


def test_a_late_loan_after_its_return_is_not_cached(sync_env: SyncEnv) -> None:
    store = sync_env.open_store("gate-01")
    agent = sync_env.start_agent("gate-01", wait=False, runner=Idle())
    item = items(1)[0]
    returned = CacheDelta(site=SITE, returned_items=[item],
                          returned_at={item: "2026-12-07T10:00:01+00:00"})
    late = CacheDelta(site=SITE, loans=[CacheLoan(item_id=item, loaned_at="2026-12-07T10:00:00Z")])
    again = CacheDelta(site=SITE, loans=[CacheLoan(item_id=item, loaned_at="2026-12-07T10:05:00Z")])
    topic = topics.gate_cache_delta(SITE)
    for delta in (returned, late):
        agent.receiver.put(_delta(delta, topic))
    assert agent.receiver.drain() == 2
    assert not store.cache.is_on_loan(item)
    agent.receiver.put(_delta(again, topic))
    agent.receiver.drain()
    assert store.cache.is_on_loan(item)


def test_a_checkout_and_its_return_back_to_back_leave_the_item_returned(sync_env: SyncEnv) -> None:
    """An offline backlog sends an item's check-out and check-in one after the other: the
    gateway gathers both into its window, and the gate's cache ends with the return."""
    kiosk, gate = sync_env.open_store("kiosk-01"), sync_env.open_store("gate-01")
    sync_env.start_gateway()
    sync_env.start_agent("kiosk-01")
    sync_env.start_agent("gate-01")
    first, second = items(2)
    journal(kiosk, "checkout", first, offline=False)  # opens the site's window
    key_out = journal(kiosk, "checkout", second, offline=False)
    key_in = journal(kiosk, "checkin", second, offline=False)
    for key in (key_out, key_in):
        entry = kiosk.outbox.wait_for_result(key, 20)
        assert entry is not None and entry.state == "applied"
    wait_until(lambda: gate.cache.is_on_loan(first), 10, what="the first loan at the gate")
    wait_until(lambda: gate.cache.loan(second) is None
               and gate.query_one("SELECT COUNT(*) AS n FROM cache_returns WHERE item_id = ?",
                                  (second,))["n"] == 1, 10, what="the return at the gate")
    assert not kiosk.cache.is_on_loan(second)
