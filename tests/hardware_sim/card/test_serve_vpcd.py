"""``smartlib sim serve --vpcd``: the default is Debian's vpcd (127.0.0.1:35963), ``none``
turns the virtual card off; and ``sim ctl card``'s fallback URL is the real control port."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from hardware_sim import serve as serve_mod
from hardware_sim.card_ctl_cli import DEFAULT_SIM_URL
from hardware_sim.ctl_cli import ctl
from hardware_sim.errors import SimError
from hardware_sim.world import WorldSpec


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Replace ``build`` so that ``serve`` stops right after parsing its options."""
    calls: list[dict[str, Any]] = []

    def fake_build(scenario: WorldSpec, **kw: Any) -> Any:
        calls.append(kw)
        raise SimError("stopped by the test")

    monkeypatch.setattr(serve_mod, "build", fake_build)
    return calls


@pytest.mark.parametrize(("args", "vpcd"), [
    ([], "127.0.0.1:35963"),
    (["--vpcd", "none"], None),
    (["--vpcd", "OFF"], None),
    (["--vpcd", "10.0.0.2"], "10.0.0.2"),
    (["--vpcd", "127.0.0.1:35978"], "127.0.0.1:35978"),
])
def test_vpcd_option(built: list[dict[str, Any]], args: list[str], vpcd: str | None) -> None:
    res = CliRunner().invoke(serve_mod.serve, args)
    assert res.exit_code == 1 and "stopped by the test" in res.output
    assert built[0]["vpcd"] == vpcd


@pytest.mark.parametrize(("value", "msg"), [
    ("127.0.0.1:http", "expected HOST:PORT"),
    ("127.0.0.1:70000", "outside 1..65535"),
    ("", "empty string"),
])
def test_bad_vpcd_is_a_usage_error(built: list[dict[str, Any]], value: str, msg: str) -> None:
    res = CliRunner().invoke(serve_mod.serve, ["--vpcd", value])
    assert res.exit_code == 2 and msg in res.output
    assert built == []


def test_build_with_a_bare_host_uses_debians_port() -> None:
    world, control, endpoints = serve_mod.build(WorldSpec.default(), control_port=0,
                                                vpcd="127.0.0.1", timing=False)
    try:
        assert endpoints["vpcd"] == "127.0.0.1:35963"
        assert (world.card.host, world.card.port) == ("127.0.0.1", 35963)
        assert world.card.card is None   # no card inserted: nothing connects to vpcd
    finally:
        control.stop()
        world.stop()
    world, control, endpoints = serve_mod.build(WorldSpec.default(), control_port=0,
                                                vpcd=None, timing=False)
    try:
        assert endpoints["vpcd"] is None and world.card is None
    finally:
        control.stop()
        world.stop()


def test_card_ctl_fallback_url_is_the_ctl_default() -> None:
    url_option = next(p for p in ctl.params if p.name == "url")
    assert DEFAULT_SIM_URL == url_option.default == "http://127.0.0.1:7000"
