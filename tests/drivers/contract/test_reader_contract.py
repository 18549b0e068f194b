"""The reader contract: what every Reader must do, run against the simulator (pty and
socket://) and against a real reader with ``-m hardware --reader-url``."""

from __future__ import annotations

import pytest

from drivers.errors import ReaderStatusError, TagLocked, TagNotFound
from drivers.reader import InventoryItem, Reader, ReaderInfo
from drivers.tags import decode_tag
from tests.drivers.contract.conftest import ReaderEnv

ABSENT = "E0040100FFFFFFFE"


def _tags(env: ReaderEnv) -> list[InventoryItem]:
    items = env.reader.inventory()
    if not items:
        pytest.skip("no tag on the antenna")
    return items


def test_reader_info(reader_env: ReaderEnv) -> None:
    info = reader_env.reader.reader_info()
    assert isinstance(info, ReaderInfo) and info.vendor == reader_env.vendor and info.firmware


def test_inventory_lists_each_tag_once(reader_env: ReaderEnv) -> None:
    items = _tags(reader_env)
    uids = [i.uid for i in items]
    assert len(set(uids)) == len(uids)
    for i in items:
        assert len(i.uid) == 16 and i.uid.startswith("E0") and i.antenna == "pad"
    if reader_env.field is not None:
        assert sorted(uids) == sorted(reader_env.field.snapshot()["pad"])


def test_read_blocks_and_system_info(reader_env: ReaderEnv) -> None:
    uid = _tags(reader_env)[0].uid
    info = reader_env.reader.system_info(uid)
    assert info.uid == uid and info.block_size == 4 and info.block_count >= 28
    data = reader_env.reader.read_blocks(uid, 0, 8)
    assert len(data) == 32
    if reader_env.field is not None:
        tag = decode_tag(data)
        assert tag.primary_item_id.startswith("3000") and tag.isil == "VN-HN0001"


def test_write_blocks_round_trip(reader_env: ReaderEnv) -> None:
    r = reader_env.reader
    uid = _tags(reader_env)[0].uid
    info = r.system_info(uid)
    last = info.block_count - 1
    before = r.read_blocks(uid, last, 1)
    try:
        r.write_blocks(uid, last, b"\x01\x02\x03\x04")
        assert r.read_blocks(uid, last, 1) == b"\x01\x02\x03\x04"
    finally:
        r.write_blocks(uid, last, before)


def test_write_afi_and_inventory_filter(reader_env: ReaderEnv) -> None:
    r = reader_env.reader
    items = _tags(reader_env)
    uid = items[0].uid
    before = r.system_info(uid).afi
    other = 0xC2 if before != 0xC2 else 0x07
    try:
        r.write_afi(uid, other)
        assert r.system_info(uid).afi == other
        assert uid in [i.uid for i in r.inventory(afi=other)]
        assert uid not in [i.uid for i in r.inventory(afi=before)]
    finally:
        r.write_afi(uid, before)


def _eas_states(r: Reader, uids: list[str]) -> dict[str, bool]:
    """Each tag's EAS bit: EAS Alarm is not addressed, so every other tag is sent to Quiet
    (ISO 15693: a quiet tag ignores non-addressed commands) while one tag is asked."""
    states = {}
    try:
        for uid in uids:
            for other in uids:
                if other != uid:
                    r.stay_quiet(other)
            states[uid] = r.eas_alarm()
            r.reset_to_ready()
    finally:
        r.reset_to_ready()
    return states


def test_eas_set_alarm_reset(reader_env: ReaderEnv) -> None:
    _eas_set_alarm_reset(reader_env)


def _eas_set_alarm_reset(reader_env: ReaderEnv) -> None:
    r = reader_env.reader
    uids = [i.uid for i in _tags(reader_env)]
    before = _eas_states(r, uids)
    if reader_env.field is not None:
        assert before == {u: reader_env.field.tag(u).eas for u in uids}
    try:
        for uid in uids:
            r.set_eas(uid, False)
        assert r.eas_alarm() is False
        r.set_eas(uids[0], True)
        assert r.eas_alarm() is True
        r.set_eas(uids[0], False)
        assert r.eas_alarm() is False
    finally:  # put every tag's EAS bit back as it was (a real tag stays on the shelf)
        for uid, on in before.items():
            r.set_eas(uid, on)
    assert _eas_states(r, uids) == before


def test_eas_states_are_restored_as_found(reader_env: ReaderEnv) -> None:
    if reader_env.field is None:
        pytest.skip("sets a known mix of EAS bits first: simulator only")
    field = reader_env.field
    uids = [i.uid for i in _tags(reader_env)]
    for n, uid in enumerate(uids):
        field.tag(uid).eas = n % 2 == 0  # a mix: on, off, on
    expect = {u: n % 2 == 0 for n, u in enumerate(uids)}
    assert _eas_states(reader_env.reader, uids) == expect
    _eas_set_alarm_reset(reader_env)
    assert {u: field.tag(u).eas for u in uids} == expect


def test_outputs_inputs_rf_reset(reader_env: ReaderEnv) -> None:
    if reader_env.desk:
        pytest.skip("desk readers: LEDs, buzzer and inputs are not driven by pcsc15693")
    r = reader_env.reader
    r.set_outputs(green="on", buzzer="on", duration_s=0.2)
    if reader_env.device is not None:
        assert reader_env.device.outputs_now()["green"] == "on"
        reader_env.device.set_input(1, True)
        assert r.read_inputs()[1] is True
    else:
        r.read_inputs()
    r.rf_reset()
    assert r.inventory() is not None


def test_absent_tag_is_tag_not_found(reader_env: ReaderEnv) -> None:
    r = reader_env.reader
    with pytest.raises(TagNotFound):
        r.read_blocks(ABSENT, 0, 1)
    with pytest.raises(TagNotFound):
        r.system_info(ABSENT)
    assert r.metrics()["read_blocks_failures"] == 1


def test_block_out_of_range_is_a_status_error(reader_env: ReaderEnv) -> None:
    r = reader_env.reader
    uid = _tags(reader_env)[0].uid
    count = r.system_info(uid).block_count
    with pytest.raises(ReaderStatusError):
        r.read_blocks(uid, count, 1)


def test_write_dsfid_round_trip(reader_env: ReaderEnv) -> None:
    r = reader_env.reader
    item = _tags(reader_env)[0]
    before = r.system_info(item.uid).dsfid
    other = 0x06 if before != 0x06 else 0x00
    try:
        r.write_dsfid(item.uid, other)
        assert r.system_info(item.uid).dsfid == other
        assert {i.uid: i.dsfid for i in r.inventory()}[item.uid] == other
    finally:
        r.write_dsfid(item.uid, before)


def test_lock_dsfid_refuses_later_writes(reader_env: ReaderEnv) -> None:
    if reader_env.field is None:
        pytest.skip("locking a DSFID is irreversible: simulator only")
    r = reader_env.reader
    uid = _tags(reader_env)[0].uid
    r.write_dsfid(uid, 0x06)
    r.lock_dsfid(uid)
    with pytest.raises(TagLocked):
        r.write_dsfid(uid, 0x00)
    with pytest.raises(TagLocked):
        r.lock_dsfid(uid)
    assert r.system_info(uid).dsfid == 0x06
    assert r.metrics()["write_dsfid_failures"] == 1


def test_block_security_status(reader_env: ReaderEnv) -> None:
    r = reader_env.reader
    uid = _tags(reader_env)[0].uid
    sec = r.block_security(uid, 0, 4)
    assert len(sec) == 4 and all(0 <= s <= 0xFF for s in sec)
    if reader_env.field is not None:
        assert sec == (0, 0, 0, 0)
        reader_env.field.tag(uid).locked |= {1, 2}
        assert r.block_security(uid, 0, 4) == (0, 1, 1, 0)
        # a locked block also refuses writes
        with pytest.raises(TagLocked):
            r.write_blocks(uid, 1, bytes(4))


def test_stay_quiet_select_and_reset_to_ready(reader_env: ReaderEnv) -> None:
    if reader_env.desk:
        pytest.skip("desk readers: inventory is the reader's card detection (GET DATA), "
                    "which does not follow the ISO Quiet state")
    r = reader_env.reader
    items = _tags(reader_env)
    uid = items[0].uid
    try:
        r.stay_quiet(uid)
        assert uid not in [i.uid for i in r.inventory()]
        r.read_blocks(uid, 0, 1)  # a quiet tag still answers addressed commands
        r.reset_to_ready(uid)
        assert uid in [i.uid for i in r.inventory()]
        r.stay_quiet(uid)
        r.select(uid)  # Select wakes a quiet tag
        assert uid in [i.uid for i in r.inventory()]
        r.stay_quiet(uid)
        r.reset_to_ready()  # non-addressed: every tag
        assert sorted(i.uid for i in r.inventory()) == sorted(i.uid for i in items)
    finally:
        r.reset_to_ready()
