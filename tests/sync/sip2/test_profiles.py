"""Profiles are data: each setting changes how the same SIP2 answer is read.

The profile methods are checked directly, then through the gateway's applier (with a
fake client handing back fixed answers, and against the demo ILS emulating Koha).
"""

from __future__ import annotations

import datetime as dt
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from hardware_sim.ils.data import DEMO_ITEMS
from hardware_sim.ils.server import DemoIlsServer
from sync.errors import Sip2Error
from sync.gateway.applier import Applier
from sync.messages import TransactionRequest, utcnow
from sync.sip2.client import Sip2Client, Sip2ConnectionPool
from sync.sip2.profiles import Sip2Profile, get_profile

KOHA, EVERGREEN, FOLIO, GENERIC = (get_profile(n) for n in ("koha", "evergreen", "folio",
                                                            "generic"))


# ---- the settings, one by one ------------------------------------------------------------

@pytest.mark.parametrize(("ok", "desensitize", "evergreen", "folio"), [
    (True, True, True, True),
    (True, False, False, True),    # ok and desensitize disagree: folio trusts ok
    (True, None, False, True),     # U: evergreen keeps the security, folio releases on ok
    (False, True, False, False),   # a refused checkout releases nothing under either
    (False, None, False, False),
])
def test_release_security_differs_between_evergreen_and_folio(
        ok: bool, desensitize: bool | None, evergreen: bool, folio: bool) -> None:
    assert EVERGREEN.releases_security(ok, desensitize) is evergreen
    assert FOLIO.releases_security(ok, desensitize) is folio


def test_desensitize_rule_and_unknown_desensitize_setting() -> None:
    des_wins = Sip2Profile(name="des", release_security_on="desensitize")
    assert des_wins.releases_security(False, True) is True   # the flag alone decides
    assert des_wins.releases_security(True, False) is False
    assert des_wins.releases_security(True, None) is False
    u_yes = replace(des_wins, unknown_desensitize_releases=True)
    assert u_yes.releases_security(True, None) is True
    both_u_yes = Sip2Profile(name="b", release_security_on="both",
                             unknown_desensitize_releases=True)
    assert both_u_yes.releases_security(True, None) is True
    assert both_u_yes.releases_security(False, None) is False


def test_alert_codes_are_read_through_the_profile() -> None:
    assert KOHA.alert_meaning("01") == "hold_shelf" and KOHA.alert_meaning("04") == "transit"
    assert KOHA.alert_meaning("00") == "none" and KOHA.alert_meaning("") is None
    assert KOHA.alert_meaning("05") == "other" and KOHA.alert_meaning(None) is None
    site = replace(KOHA, alert_types={"05": "hold_shelf", "07": "transit", "04": "none"})
    assert site.alert_meaning("05") == "hold_shelf" and site.is_hold_alert("05")
    assert site.canonical_alert("05") == "01" and site.canonical_alert("07") == "04"
    assert site.canonical_alert("04") is None                # this site's 04 means nothing
    assert KOHA.canonical_alert("04") == "04" and KOHA.canonical_alert("05") == "05"
    assert not KOHA.is_hold_alert("05")


def test_due_date_formats_are_the_profiles() -> None:
    us = GENERIC
    vn = replace(GENERIC, due_date_formats=("%Y%m%d    %H%M%S", "%d/%m/%Y"))
    assert us.parse_due_date("03/04/2026") == dt.datetime(2026, 3, 4)
    assert vn.parse_due_date("03/04/2026") == dt.datetime(2026, 4, 3)
    assert vn.parse_due_date("2026-04-03") is None              # not one of vn's formats
    assert us.due_date_iso("2026-04-03") == "2026-04-03T00:00:00"
    assert vn.due_date_iso("  due soon ") == "due soon"         # kept as text
    assert us.parse_due_date("20261214   Z235900") == dt.datetime(2026, 12, 14, 23, 59,
                                                                 tzinfo=dt.UTC)
    assert us.parse_due_date("20260230    235900") is None      # impossible: not a date
    assert us.parse_due_date("   ") is None and us.due_date_iso("") is None


def test_checkin_not_loaned_ok_differs_between_koha_and_evergreen() -> None:
    assert KOHA.checkin_succeeded(False, on_loan=False) is True
    assert EVERGREEN.checkin_succeeded(False, on_loan=False) is False
    for prof in (KOHA, EVERGREEN):
        assert prof.checkin_succeeded(True, on_loan=None) is True
        assert prof.checkin_succeeded(False, on_loan=True) is False   # still on loan
        assert prof.checkin_succeeded(False, on_loan=None) is False   # unknown item


@pytest.mark.parametrize(("change", "field"), [
    ({"release_security_on": "always"}, "release_security_on"),
    ({"holds_field": "AT"}, "holds_field"),
    ({"alert_types": {"01": "shelf"}}, "alert_types"),
    ({"due_date_formats": ()}, "due_date_formats"),
])
def test_bad_profile_data_is_a_typed_error(change: dict[str, Any], field: str) -> None:
    with pytest.raises(Sip2Error) as ei:
        replace(GENERIC, **change)
    assert ei.value.field == field


# ---- the gateway's applier reads the site's profile ------------------------------------------

SITE = "s1"


def new_key() -> str:
    return str(uuid.uuid4())


def _req(kind: str, item: str = "30000200", **kw: Any) -> TransactionRequest:
    return TransactionRequest(key=new_key(), kind=kind, site=SITE, device="kiosk-01",
                              item=item, created_at=utcnow(), **kw)


class _Client:
    """Hands back fixed answers, like a Sip2Client with ``profile``."""

    def __init__(self, profile: Sip2Profile, **answers: Any) -> None:
        self.profile = profile
        self.answers = answers
        self.stats = {"resends_after_eof": 0}
        self.item_lookups = 0

    def checkout(self, *_a: Any, **_k: Any) -> Any:
        return self.answers["checkout"]

    def checkin(self, *_a: Any, **_k: Any) -> Any:
        return self.answers["checkin"]

    def item_information(self, *_a: Any, **_k: Any) -> Any:
        self.item_lookups += 1
        return self.answers["item"]


class _Pool:
    def __init__(self, client: Any) -> None:
        self.client = client

    @contextmanager
    def connection(self) -> Iterator[Any]:
        yield self.client


def _checkout_answer(**kw: Any) -> SimpleNamespace:
    base = {"ok": True, "title": "T", "due_date": None, "desensitize": True,
            "screen_message": ()}
    return SimpleNamespace(**{**base, **kw})


def _checkin_answer(**kw: Any) -> SimpleNamespace:
    base = {"ok": True, "title": "T", "resensitize": True, "sort_bin": None,
            "destination_location": None, "alert_type": None, "hold_patron_id": None,
            "screen_message": ()}
    return SimpleNamespace(**{**base, **kw})


def test_applier_release_verdict_follows_the_profile() -> None:
    answer = _checkout_answer(desensitize=False)  # ok = 1, desensitize = N
    ever = Applier(_Pool(_Client(EVERGREEN, checkout=answer))).apply(_req("checkout", patron="2000001"))
    folio = Applier(_Pool(_Client(FOLIO, checkout=answer))).apply(_req("checkout", patron="2000001"))
    assert ever.result.ok and ever.result.desensitize == "N"
    assert folio.result.ok and folio.result.desensitize == "Y"
    # an explicit profile wins over the client's
    forced = Applier(_Pool(_Client(EVERGREEN, checkout=answer)), profile="folio")
    assert forced.apply(_req("checkout", patron="2000001")).result.desensitize == "Y"


def test_applier_due_dates_use_the_profile_formats() -> None:
    answer = _checkout_answer(due_date="03/04/2026")
    vn = replace(GENERIC, due_date_formats=("%d/%m/%Y",))
    us = Applier(_Pool(_Client(GENERIC, checkout=answer))).apply(_req("checkout", patron="2000001"))
    local = Applier(_Pool(_Client(vn, checkout=answer))).apply(_req("checkout", patron="2000001"))
    assert us.result.due_date == "2026-03-04T00:00:00"
    assert local.result.due_date == "2026-04-03T00:00:00"


def test_applier_alert_codes_follow_the_profile() -> None:
    answer = _checkin_answer(alert_type="05", sort_bin="H")
    site = replace(KOHA, alert_types={**KOHA.alert_types, "05": "hold_shelf"})
    plain = Applier(_Pool(_Client(KOHA, checkin=answer))).apply(_req("checkin")).result
    mapped = Applier(_Pool(_Client(site, checkin=answer))).apply(_req("checkin")).result
    assert plain.hold_shelf is False and plain.alert_type == "05"
    assert mapped.hold_shelf is True and mapped.alert_type == "01"
    transit = Applier(_Pool(_Client(KOHA, checkin=_checkin_answer(alert_type="04"))))
    res = transit.apply(_req("checkin")).result
    assert res.hold_shelf is False and res.alert_type == "04"


def test_applier_checkin_not_loaned_asks_the_item_state() -> None:
    refused = _checkin_answer(ok=False)
    shelved = SimpleNamespace(title="T", circulation_status="03")
    koha_client = _Client(KOHA, checkin=refused, item=shelved)
    ever_client = _Client(EVERGREEN, checkin=refused, item=shelved)
    koha = Applier(_Pool(koha_client)).apply(_req("checkin")).result
    ever = Applier(_Pool(ever_client)).apply(_req("checkin")).result
    assert koha.ok and koha.status == "applied" and koha_client.item_lookups == 1
    assert not ever.ok and ever.status == "refused" and ever_client.item_lookups == 0
    on_loan = _Client(KOHA, checkin=refused, item=SimpleNamespace(title="T", circulation_status="04"))
    assert Applier(_Pool(on_loan)).apply(_req("checkin")).result.status == "refused"
    unknown = _Client(KOHA, checkin=refused, item=SimpleNamespace(title="", circulation_status="01"))
    assert Applier(_Pool(unknown)).apply(_req("checkin")).result.status == "refused"


@pytest.fixture
def koha_ils(demo_db_template: Path, tmp_path: Path) -> Iterator[DemoIlsServer]:
    db = tmp_path / "ils.sqlite"
    shutil.copy(demo_db_template, db)
    server = DemoIlsServer(db, profile="koha")
    server.start()
    yield server
    server.stop()


def _pool(ils: DemoIlsServer, profile: str) -> Sip2ConnectionPool:
    return Sip2ConnectionPool(lambda: Sip2Client(
        "127.0.0.1", ils.port, user="kiosk01", password="s3cret", institution="VNLIB",
        location="MAIN", profile=profile, keepalive=False), 1)


def test_koha_and_evergreen_read_the_same_not_loaned_checkin_differently(
        koha_ils: DemoIlsServer) -> None:
    item = DEMO_ITEMS["available"][0]
    with _pool(koha_ils, "evergreen") as pool:
        with pool.connection() as c:
            wire = c.checkin(item)
        # the demo ILS emulates Koha with checked_in_ok off: ok = 0 for an item not on loan
        assert wire.ok is False and "Item was not checked out" in wire.screen_message
        ever = Applier(pool).apply(_req("checkin", item=item)).result
    with _pool(koha_ils, "koha") as pool:
        koha = Applier(pool).apply(_req("checkin", item=item)).result
    assert ever.status == "refused" and ever.ok is False
    assert koha.status == "applied" and koha.ok is True
