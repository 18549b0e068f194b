"""``gateway import`` keeps each item's owner ISIL, and the edge's cache stores it."""

from __future__ import annotations

from pathlib import Path

from edge.store import open_store
from sync.agent.receiver import cache_rows
from sync.gateway.cachefeed import read_csv


def test_owner_isil_goes_from_the_csv_to_the_edge_cache(tmp_path: Path) -> None:
    csv_path = tmp_path / "items.csv"
    csv_path.write_text("item_id,title,owner_isil,location\n"
                        "30000031,Mắt biếc,VN-HCM0002,MAIN\n"
                        "30000100,Truyện Kiều,,MAIN\n", encoding="utf-8")
    rows = list(read_csv(csv_path, "items"))
    assert [r.owner_isil for r in rows] == ["VN-HCM0002", None]
    with open_store(tmp_path / "edge.db") as store:
        store.cache.apply_delta(items=cache_rows("items", rows))
        assert store.cache.item("30000031").owner_isil == "VN-HCM0002"
        assert store.cache.item("30000100").owner_isil is None
        assert store.cache.item("30000031").title == "Mắt biếc"
