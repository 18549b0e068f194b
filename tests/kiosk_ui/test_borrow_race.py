"""The kiosk's Borrow screen racing the pad (issue 17 §1), against the REAL edge over HTTP.

Books are put on the pad just before, while and just after the Borrow screen opens, so the
screen's opening sweep (``POST /checkout {}``) races the ``tag_arrived`` events (one
``POST /checkout {"items": [id]}`` each). The edge must make one checkout per book: one
journal entry, one ILS application, and every row ``loaned`` with that one transaction.
"""

from __future__ import annotations

import time
from typing import Any

from kiosk_ui.viewmodels import Screen
from tests.edge.doubles import FakeReader, GatewayDouble, Ils, make_tag
from tests.kiosk_ui.conftest import login
from tests.kiosk_ui.test_edge_integration import real_edge  # noqa: F401 - the fixture

BOOKS = ("30000001", "30000002", "30000003")


def test_books_placed_while_the_borrow_screen_opens_are_lent_once(
        real_edge: dict[str, Any], qtbot: Any) -> None:  # noqa: F811 - the fixture
    from kiosk_ui.app import KioskOptions, create_kiosk

    reader: FakeReader = real_edge["reader"]
    ils: Ils = real_edge["ils"]
    gateway: GatewayDouble = real_edge["gateway"]
    k = create_kiosk(KioskOptions(edge_url=real_edge["url"], token="dev-tok", fullscreen=False,
                                  health_interval_ms=1000, card_poll_ms=60_000),
                     connect_events=True, threaded=True)
    try:
        qtbot.addWidget(k.window)
        k.window.show()
        vm = k.vm
        qtbot.waitUntil(lambda: vm.events_connected, timeout=10_000)
        login(vm, "2000001", "1234")
        qtbot.waitUntil(lambda: vm.screen == Screen.MENU, timeout=10_000)
        tags = [make_tag(item) for item in BOOKS]
        reader.tags[tags[0].uid] = tags[0]       # on the pad before Borrow is pressed
        vm.go(Screen.BORROW)                     # the sweep starts
        reader.tags[tags[1].uid] = tags[1]       # while it runs
        qtbot.wait(60)                           # about one pad poll later
        reader.tags[tags[2].uid] = tags[2]
        qtbot.waitUntil(lambda: vm.borrow.counts["ok"] == 3 and vm.borrow.counts["pending"] == 0,
                        timeout=15_000)
        # Let every call still under way (sweep, tag events) come back.
        qtbot.waitUntil(lambda: not vm.borrow.busy, timeout=15_000)
        time.sleep(0.5)
        rows = {r["item_id"]: r for r in vm.borrow.model.rows}
        assert {item: r["status"] for item, r in rows.items()} == dict.fromkeys(BOOKS, "loaned")
        assert ils.applications("checkout") == dict.fromkeys(BOOKS, 1)
        checkouts = [key for key in gateway.deliveries if key in ils.calls]
        assert len(checkouts) == 3  # one journal entry (one key) per book
        assert {r["transaction"] for r in rows.values() if r.get("transaction")} <= set(checkouts)
    finally:
        k.close()
