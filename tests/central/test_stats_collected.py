"""The whole statistics path: counters a box's edge store keeps, published by the product's
agent (``smartlib sync``) through a real Mosquitto, stored by the collector on its own
account, give the same figures per local day as the box's own ``stats export``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from central.config import CentralSection
from central.reports import site_days
from edge.services.statistics import day_figures, local_day
from edge.store import open_store
from tests.central.conftest import Central, agent_toml
from tests.sync.gateway.harness import Proc, wait_until

SITE = "hn-01"
TZ = CentralSection().timezone


def test_published_counters_give_the_boxes_own_figures(tmp_path: Path, site_broker: Any,
                                                       central: Central) -> None:
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    kiosk = open_store(tmp_path / "edge-kiosk-01.db")
    gate = open_store(tmp_path / "edge-gate-01.db")
    # Three days of completed hours, across local midnight (17:00 UTC in Vietnam).
    for days_ago, hour, checkouts, returns in ((3, 16, 4, 1), (3, 17, 2, 5), (2, 3, 7, 0),
                                              (1, 23, 1, 1)):
        at = (now - timedelta(days=days_ago)).replace(hour=hour)
        kiosk.counters.incr("checkout", checkouts, at=at)
        kiosk.counters.incr("checkout_offline", 1, at=at)
        kiosk.counters.incr("return", returns, at=at)
        kiosk.counters.incr("renew", days_ago, at=at)
        gate.counters.incr("visitors_in", 10 * days_ago, at=at)
        gate.counters.incr("visitors_out", 9 * days_ago, at=at)
    gate.alarms.raise_alarm("gate", "gate gate-01: an item going out: secured",
                            device="gate-01", item_id="70000002")
    procs = [Proc(["sync", "--config", str(agent_toml(tmp_path, site_broker, SITE, d))],
                  tmp_path / f"{d}.log").start() for d in ("kiosk-01", "gate-01")]
    try:
        first = local_day(now - timedelta(days=4), TZ)
        last = local_day(now, TZ)

        def collected() -> Any:
            [report] = site_days(central.store, first, last, TZ, [SITE])
            t = report.totals
            return report if (t["loans"], t["visitors_in"], t["gate_alarms"]) == (14, 90, 1) \
                else None

        centre = wait_until(collected, what=lambda: f"the hours; {procs[0].output()[-1500:]}")
        day = first
        seen = 0
        while day <= last:
            k, g = day_figures(kiosk, day, TZ), day_figures(gate, day, TZ)
            figures = centre.days.get(day, {})
            assert figures.get("loans", 0) == k["checkouts"], day
            assert figures.get("returns", 0) == k["returns"], day
            assert figures.get("renewals", 0) == k["renewals"], day
            assert figures.get("offline_transactions", 0) == k["checkouts_offline"], day
            assert figures.get("visitors_in", 0) == g["visitors_in"], day
            assert figures.get("visitors_out", 0) == g["visitors_out"], day
            assert figures.get("gate_alarms", 0) == g["security_alarms"], day
            seen += k["checkouts"]
            day += timedelta(days=1)
        assert seen == 14 and centre.totals["loans"] == 14 and centre.totals["gate_alarms"] == 1
    finally:
        for p in procs:
            p.stop()
        kiosk.close()
        gate.close()
