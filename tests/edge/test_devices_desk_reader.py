"""A staff desk's check-in pad on a PC/SC desk reader: ``[reader] driver = "pcsc15693"``,
wired by :func:`edge.devices.build_devices`, through the private pcscd and vpcd."""

from __future__ import annotations

from pathlib import Path

import pytest

from drivers.pcsc15693.omnikey import OmnikeyIso15693Reader
from drivers.tags import SecurityState
from edge.devices import build_devices
from edge.services.events import EventBus
from hardware_sim.card import SimDeskReaderTag
from hardware_sim.tag import SimTag
from smartlib.config import load_settings
from tests.drivers.pcsc.support import READER, sim_card_device, wait_card_state
from tests.support.pcscd import PcscdVpcd


@pytest.mark.pcsc
def test_staff_desk_check_in_pad_on_a_desk_reader(tmp_path: Path, pcscd_vpcd: PcscdVpcd) -> None:
    settings = load_settings(
        None, device={"id": "desk-01", "role": "staff"}, store={"path": tmp_path / "edge.db"},
        reader={"driver": "pcsc15693", "url": f"pcsc15693://{READER}?family=omnikey"},
        card_reader={"enabled": False},
        api={"device_token": "dev-tok", "staff_token": "staff-tok"})
    devices = build_devices(settings, EventBus())
    assert isinstance(devices.reader, OmnikeyIso15693Reader)
    tag = SimTag.from_item("30001234", isil="HN0001", afi=0xC2, eas=False,
                           uid="E004010000000099")
    with sim_card_device(pcscd_vpcd) as card:
        card.insert(SimDeskReaderTag(tag, "omnikey"))
        wait_card_state(present=True)
        devices.open()
        try:
            [pad_tag] = devices.scan_pad()
            assert pad_tag.uid == tag.uid_hex and pad_tag.tag is not None
            assert pad_tag.tag.primary_item_id == "30001234"
            devices.write_security(tag.uid_hex, SecurityState.SECURED)  # checked in: secured
            assert tag.afi == 0x07
            assert devices.read_security(tag.uid_hex) == SecurityState.SECURED
        finally:
            devices.close()
