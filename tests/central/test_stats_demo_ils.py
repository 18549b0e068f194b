"""The monthly XLSX against the demo ILS: a patron checks out and returns items at a real
kiosk (``smartlib serve`` over the simulated pad, ``smartlib sync``, Mosquitto with the
generated ACL, ``smartlib gateway run``, the demo ILS of ``smartlib sim serve``: the e2e
world of tests/edge/e2e); the central collector, on its own read-only account, stores what
the kiosk's agent publishes; the report's loans and returns are the ILS's own records."""

from __future__ import annotations

import io
import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from central.collector import CentralCollector, collector_filters, make_collector_client
from central.config import CentralSection
from central.db import open_database
from central.reports import HEADER_ROWS, TOTAL_LABEL, current_month, monthly, to_xlsx
from central.store import CentralStore
from smartlib.config import BrokerSection
from sync.broker import central_acl
from tests.edge.e2e.conftest import SITE, World, _start_world, login, wait_until

TZ = CentralSection().timezone
PATRON, PIN = "2000004", "4567"  # good standing, no loans, limit 10 (the demo ILS)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """The e2e world, with the central collector's account added to its broker (the users
    and ACL files rewritten, then Mosquitto reloads them on SIGHUP)."""
    with contextmanager(_start_world)(tmp_path / "world") as w:
        assert w.broker.users is not None and w.broker.proc is not None
        w.broker.users["central"] = "central-pw"
        w.broker.acl = (w.broker.acl or "") + "\n" + central_acl("central",
                                                                 collector_filters(None))
        w.broker.write_config()
        os.kill(w.broker.proc.pid, signal.SIGHUP)
        time.sleep(0.5)
        yield w


@pytest.fixture
def collector(world: World, tmp_path: Path) -> Iterator[CentralStore]:
    url = f"sqlite:///{tmp_path / 'central.db'}"
    store = CentralStore(open_database(url))
    section = BrokerSection(host="127.0.0.1", port=world.broker.port, username="central",
                            password="central-pw")  # type: ignore[arg-type]
    c = CentralCollector(CentralStore(open_database(url, create=False)),
                         make_collector_client(section, "central-e2e"), host="127.0.0.1",
                         port=world.broker.port)
    c.start()
    try:
        assert c.connected.wait(30), "the collector did not connect"
        yield store
    finally:
        c.stop()
        c.store.close()
        store.close()


def test_exported_loans_and_returns_are_the_ils_records(world: World,
                                                        collector: CentralStore) -> None:
    items = world.items(3)
    for item in items:
        world.sim.place(item)
    with world.api() as api:
        sid = login(api, PATRON, PIN)
        out = api.post(f"/sessions/{sid}/checkout")
        assert out.status_code == 200, out.text
        back = api.post(f"/sessions/{sid}/return")
        assert back.status_code == 200, back.text
        assert api.delete(f"/sessions/{sid}").status_code == 204
    world.wait_edge_idle()
    ils_loans = sum(len(world.ils.applications(i, "checkout")) for i in items)
    ils_returns = sum(len(world.ils.applications(i, "checkin")) for i in items)
    assert (ils_loans, ils_returns) == (3, 3)

    month = current_month(datetime.now(UTC), TZ)

    def collected() -> Any:
        [r] = monthly(collector, month, TZ, [SITE])
        return r if (r.totals["loans"], r.totals["returns"]) == (ils_loans, ils_returns) \
            else None

    wait_until(collected, 60, "the kiosk's counters at the centre")
    wb = load_workbook(io.BytesIO(to_xlsx(monthly(collector, month, TZ, [SITE]))))
    ws = wb[SITE]
    total = next(r for r in ws.iter_rows(min_row=HEADER_ROWS + 2, values_only=True)
                 if r[0] == TOTAL_LABEL)
    assert (total[1], total[2]) == (ils_loans, ils_returns)  # Lượt mượn, Lượt trả
    days = [r for r in ws.iter_rows(min_row=HEADER_ROWS + 2, values_only=True)
            if r[0] != TOTAL_LABEL]
    assert sum(r[1] for r in days) == ils_loans and sum(r[2] for r in days) == ils_returns
