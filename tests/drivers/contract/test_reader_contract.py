"""The reader contract: what every Reader must do, run against the FEIG simulator (pty and
socket://), the LLRP (UHF) simulator, and a real reader with ``-m hardware --reader-url``.

ISO 15693-only operations (EAS, DSFID, block security, quiet/select, AFI lock) are
checked on HF back ends; on UHF the contract is that they are refused with a clear
:class:`ReaderError` (``test_hf_only_operations_are_refused_on_uhf``)."""

from __future__ import annotations

import pytest

from drivers.errors import ReaderError, ReaderStatusError, TagLocked, TagNotFound
from drivers.reader import InventoryItem, Reader, ReaderInfo
from drivers.tags import decode_tag
from drivers.tags.iso28560_4 import decode_uhf
from tests.drivers.contract.conftest import ReaderEnv

ABSENT = "E0040100FFFFFFFE"  # also a valid 4-word EPC that no simulated UHF tag has


def _hf_only(env: ReaderEnv) -> None:
    if env.uhf:
        pytest.skip("ISO 15693 only; UHF refuses it (test_hf_only_operations_are_refused_on_uhf)")


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
        assert i.antenna == "pad"
        if reader_env.uhf:  # a 96-bit UII with a peak RSSI
            assert len(i.uid) == 24 and i.rssi is not None and i.dsfid == 0
        else:
            assert len(i.uid) == 16 and i.uid.startswith("E0")
    if reader_env.field is not None:
        assert sorted(uids) == sorted(reader_env.placed_uids())


def test_read_blocks_and_system_info(reader_env: ReaderEnv) -> None:
    uid = _tags(reader_env)[0].uid
    info = reader_env.reader.system_info(uid)
    size = reader_env.reader.block_size
    assert info.uid == uid and info.block_size == size == (2 if reader_env.uhf else 4)
    assert info.block_count >= (32 if reader_env.uhf else 28)
    data = reader_env.reader.read_blocks(uid, 0, 8)
    assert len(data) == 8 * size
    if reader_env.uhf and reader_env.field is not None:  # the item is in the UII, with its AFI
        pc = reader_env.reader.read_bank(uid, 1, 1, 1)  # type: ignore[attr-defined]
        uhf = decode_uhf(pc + bytes.fromhex(uid))
        assert uhf.primary_item_id.startswith("3000") and uhf.owner_library == "VN-HN0001"
        assert uhf.afi == info.afi == 0x07
    elif reader_env.field is not None:
        tag = decode_tag(data)
        assert tag.primary_item_id.startswith("3000") and tag.isil == "VN-HN0001"


def test_write_blocks_round_trip(reader_env: ReaderEnv) -> None:
    r = reader_env.reader
    uid = _tags(reader_env)[0].uid
    info = r.system_info(uid)
    last = info.block_count - 1
    before = r.read_blocks(uid, last, 1)
    pattern = b"\x01\x02\x03\x04"[:r.block_size]
    try:
        r.write_blocks(uid, last, pattern)
        assert r.read_blocks(uid, last, 1) == pattern
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
    _hf_only(reader_env)
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
    _hf_only(reader_env)
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
    if reader_env.device is not None:  # green is GPO 1 on an LLRP reader
        assert reader_env.device.outputs_now()["gpo1" if reader_env.uhf else "green"] == "on"
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
    _hf_only(reader_env)
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
    _hf_only(reader_env)
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
    _hf_only(reader_env)
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
    _hf_only(reader_env)
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


def test_hf_only_operations_are_refused_on_uhf(reader_env: ReaderEnv) -> None:
    if not reader_env.uhf:
        pytest.skip("UHF only: HF readers do these (the tests above)")
    r = reader_env.reader
    uid = _tags(reader_env)[0].uid
    for call in (lambda: r.set_eas(uid, True), r.eas_alarm, lambda: r.write_dsfid(uid, 6),
                 lambda: r.block_security(uid, 0, 1), lambda: r.stay_quiet(uid),
                 lambda: r.select(uid), lambda: r.lock_afi(uid)):
        with pytest.raises(ReaderError):
            call()
    r.rf_reset()  # nothing to do on LLRP: the field is on only during a ROSpec
    assert uid in [i.uid for i in r.inventory()]
