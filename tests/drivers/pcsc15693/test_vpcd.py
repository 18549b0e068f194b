"""The pcsc15693 driver through the real pcscd and vpcd to a simulated desk-reader tag:
faults (write failure, tag removed, tag swapped) and the tagging station's commands."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from drivers.cli import tag as tag_cli
from drivers.errors import TagNotFound
from drivers.registry import create_reader
from drivers.tags import decode_tag
from hardware_sim.card import SimCardDevice, SimDeskReaderTag
from hardware_sim.tag import SimTag
from tests.drivers.pcsc.support import READER, sim_card_device, wait_card_state
from tests.support.pcscd import PcscdVpcd

pytestmark = pytest.mark.pcsc

FAMILIES = ["acs", "omnikey"]


@pytest.fixture
def card(pcscd_vpcd: PcscdVpcd) -> Iterator[SimCardDevice]:
    with sim_card_device(pcscd_vpcd) as dev:
        yield dev


def _url(family: str) -> str:
    return f"pcsc15693://{READER}?family={family}"


def _insert(dev: SimCardDevice, tag: SimTag, family: str) -> None:
    dev.insert(SimDeskReaderTag(tag, family))
    wait_card_state(present=True)


@pytest.mark.parametrize("family", FAMILIES)
def test_write_failure_is_retried_and_verified(card: SimCardDevice, family: str) -> None:
    tag = SimTag.from_item("30000001", afi=0x07, uid="E004010000000011")
    _insert(card, tag, family)
    with create_reader("pcsc15693", _url(family)) as r:
        card.fault("write-fail", count=2)
        r.write_blocks(tag.uid_hex, 20, b"ABCDEFGH")
        assert bytes(tag.memory[80:88]) == b"ABCDEFGH"
        assert r.metrics()["write_blocks_retries"] == 2
        card.fault("write-fail", count=1)
        r.write_afi(tag.uid_hex, 0xC2)  # through the pass-through: ISO error 0x13 first
        assert tag.afi == 0xC2 and r.metrics()["write_afi_retries"] == 1


@pytest.mark.parametrize("family", FAMILIES)
def test_tag_removed_mid_command_then_another_tag(card: SimCardDevice, family: str) -> None:
    first = SimTag.from_item("30000002", uid="E004010000000012")
    _insert(card, first, family)
    with create_reader("pcsc15693", _url(family), retries=0) as r:
        assert [i.uid for i in r.inventory()] == [first.uid_hex]
        card.fault("remove-mid-apdu")
        with pytest.raises(TagNotFound):
            r.read_blocks(first.uid_hex, 0, 2)
        wait_card_state(present=False)
        assert r.inventory() == []
        assert r.eas_alarm() is False
        second = SimTag.from_item("30000003", uid="E004010000000013", eas=True)
        _insert(card, second, family)
        assert [i.uid for i in r.inventory()] == [second.uid_hex]
        assert r.eas_alarm() is True
        with pytest.raises(TagNotFound):
            r.system_info(first.uid_hex)


@pytest.mark.parametrize("family", FAMILIES)
def test_tag_program_and_read_through_a_desk_reader(card: SimCardDevice, family: str) -> None:
    blank = SimTag(uid=bytes.fromhex("E004010012345678"), afi=0x00)
    _insert(card, blank, family)
    runner = CliRunner()
    res = runner.invoke(tag_cli, ["program", "--driver", "pcsc15693", "--reader", _url(family),
                                  "--item", "81234567", "--isil", "VN-HN0001",
                                  "--security", "both"])
    assert res.exit_code == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["uid"] == "E004010012345678" and out["afi"] == 0x07
    assert blank.afi == 0x07 and blank.eas is True
    assert decode_tag(bytes(blank.memory)).primary_item_id == "81234567"
    res = runner.invoke(tag_cli, ["read", "--driver", "pcsc15693", "--reader", _url(family)])
    assert res.exit_code == 0, res.stderr
    [one] = json.loads(res.stdout)
    assert one["data"]["primary_item_id"] == "81234567" and one["security"] == "secured"


def test_pcscd_restart_is_a_reopen(card: SimCardDevice, pcscd_vpcd: PcscdVpcd) -> None:
    if getattr(pcscd_vpcd, "owned", True) is False:
        pytest.skip("a system pcscd is running; the tests will not restart it")
    from tests.drivers.pcsc.support import restart_pcscd

    tag = SimTag.from_item("30000004", uid="E004010000000014")
    _insert(card, tag, "omnikey")
    with create_reader("pcsc15693", _url("omnikey"), retries=3, reopen_after=1) as r:
        assert [i.uid for i in r.inventory()] == [tag.uid_hex]
        restart_pcscd(pcscd_vpcd)
        wait_card_state(present=True)
        assert r.read_blocks(tag.uid_hex, 0, 1) == bytes(tag.memory[:4])
        assert r.metrics()["reopens"] >= 1
