"""Offline returns of another library's items get a transit hint (issue 21 §4).

The site's ISIL is [site] isil (``VN-DEMO`` in these tests); the owner is the tag's ISIL,
else the cache's ``owner_isil`` (kept by ``gateway import``).
"""

from __future__ import annotations

from edge.services.circulation import transit_hint
from edge.store import ItemRecord
from tests.edge.doubles import make_tag

RELEASED = 0xC2


def _offline_return(services, reader, gateway, ils, *tags):
    reader.tags.update({t.uid: t for t in tags})
    gateway.online = False
    return {r.item_id: r for r in services.circulation.return_items(None)}


def test_another_librarys_tag_gets_a_transit_hint_offline(services, reader, gateway, ils) -> None:
    foreign = make_tag("3000500", afi=RELEASED, isil="VN-HCM0002")
    ours = make_tag("3000501", afi=RELEASED)  # VN-DEMO, the site's own
    res = _offline_return(services, reader, gateway, ils, foreign, ours)
    assert res["3000500"].status == "offline_accepted"
    assert res["3000500"].sort == {"kind": "transit", "destination": "VN-HCM0002", "bin": None}
    assert res["3000501"].status == "offline_accepted" and res["3000501"].sort is None


def test_a_tag_without_isil_takes_the_owner_from_the_cache(services, reader, gateway, ils) -> None:
    services.store.cache.bulk_load("items", [ItemRecord("3000502", owner_isil="VN-HCM0002"),
                                             ItemRecord("3000503", owner_isil="vn-demo")],
                                   replace=False)
    tags = [make_tag("3000502", afi=RELEASED, isil=""), make_tag("3000503", afi=RELEASED, isil="")]
    res = _offline_return(services, reader, gateway, ils, *tags)
    assert res["3000502"].sort == {"kind": "transit", "destination": "VN-HCM0002", "bin": None}
    assert res["3000503"].sort is None  # ISILs compare case-insensitively


def test_transit_hint_needs_both_isils() -> None:
    assert transit_hint(None, "VN-HN0001") is None
    assert transit_hint("VN-HCM0002", "") is None
    assert transit_hint(" VN-HCM0002 ", "VN-HN0001")["destination"] == "VN-HCM0002"
