"""A site's single SIP2 settings applied over its named profile."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import pytest

from smartlib.config import PROFILE_CHARSETS, Sip2Settings, load_settings
from sync.errors import Sip2Error
from sync.gateway.applier import make_pool
from sync.sip2.codec import CHARSETS
from sync.sip2.messages import ScStatus
from sync.sip2.profiles import PROFILES, get_profile, with_overrides


def test_the_config_knows_each_profiles_charset() -> None:
    assert PROFILE_CHARSETS == {name: p.charset for name, p in PROFILES.items()}


def test_overrides_change_only_what_they_name() -> None:
    folio = get_profile("folio")
    site = with_overrides(folio, {"charset": "utf-8", "terminator": "CRLF",
                                  "error_detection": True, "checkin_not_loaned_ok": None})
    assert (site.charset, site.terminator, site.error_detection) == ("utf-8", b"\r\n", True)
    assert site.checkin_not_loaned_ok == folio.checkin_not_loaned_ok
    assert site.holds_field == folio.holds_field and site.name == "folio"
    assert site.codec().encode(ScStatus(status_code="0", max_print_width="040",
                                        protocol_version="2.00")).endswith(b"\r\n")


def test_the_configs_charsets_are_the_codecs() -> None:
    assert set(get_args(get_args(Sip2Settings.model_fields["charset"].annotation)[0])) == \
        set(CHARSETS)


@pytest.mark.parametrize(("overrides", "field"), [
    ({"holds_field": "CD"}, "holds_field"),
    ({"terminator": "LF"}, "terminator"),
    ({"charset": "klingon-8"}, "charset"),
    ({"idle_timeout": 0}, "idle_timeout"),
])
def test_bad_overrides_are_refused(overrides: dict[str, object], field: str) -> None:
    with pytest.raises(Sip2Error) as ei:
        with_overrides(get_profile("koha"), overrides)
    assert field in str(ei.value)


def test_the_gateways_pool_speaks_the_sites_overridden_profile(tmp_path: Path) -> None:
    path = tmp_path / "gw.toml"
    path.write_text('[device]\nid = "gw-01"\nrole = "gateway"\n[ils]\nprofile = "folio"\n'
                    '[gateway]\nsites = ["hn", "hcm"]\n'
                    '[gateway.site_ils.hcm.sip2]\ncharset = "utf-8"\nidle_timeout = 90\n')
    settings = load_settings(path)
    hn = make_pool(settings, "hn")._factory()
    hcm = make_pool(settings, "hcm")._factory()
    assert hn.profile.charset == "cp850"
    assert (hcm.profile.charset, hcm.profile.idle_timeout) == ("utf-8", 90.0)
    assert hcm.profile.holds_field == "CD"  # the rest stays FOLIO's
