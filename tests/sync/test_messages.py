"""Message models and topic names: valid payloads round-trip, invalid ones name the reason."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest

from sync import topics
from sync.errors import InvalidMessageError, InvalidTopicError
from sync.messages import (
    CacheDelta,
    CacheItem,
    CacheSnapshotChunk,
    DeviceStatus,
    LookupRequest,
    TransactionRequest,
    TransactionResult,
    decode,
    encode,
)

KEY = "0f0e4a55-1c4b-4a8e-9d0c-6f2b8f3a2b11"
# A request as the agent publishes it, written by hand (not produced by the code under test).
WIRE = (b'{"v":1,"key":"0f0e4a55-1c4b-4a8e-9d0c-6f2b8f3a2b11","kind":"checkout",'
        b'"site":"demo-site","device":"kiosk-01","patron":"2000001","item":"30001234",'
        b'"created_at":"2026-11-23T12:00:00Z","offline":true,'
        b'"payload":{"nb_due_date":"2026-12-07T12:00:00+07:00"}}')


def test_request_decodes_from_hand_written_json() -> None:
    req = decode(TransactionRequest, WIRE)
    assert req.key == KEY and req.kind == "checkout" and req.offline is True
    assert req.created_at == datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    assert req.payload == {"nb_due_date": "2026-12-07T12:00:00+07:00"}
    again = decode(TransactionRequest, encode(req))
    assert again == req


@pytest.mark.parametrize(("mutate", "reason"), [
    (lambda d: d.pop("v"), "version None"),
    (lambda d: d.update(v=2), "version 2"),
    (lambda d: d.update(key="not-a-uuid"), "key"),
    (lambda d: d.update(kind="steal"), "kind"),
    (lambda d: d.update(site="Bad/Site"), "site"),
    (lambda d: d.update(created_at="2026-11-23T12:00:00"), "timezone"),
    (lambda d: d.update(extra=1), "extra"),
    (lambda d: d.pop("item"), "needs both patron and item"),
])
def test_invalid_requests_are_rejected_with_a_reason(mutate, reason: str) -> None:
    data = json.loads(WIRE)
    mutate(data)
    with pytest.raises(InvalidMessageError) as err:
        decode(TransactionRequest, json.dumps(data).encode())
    assert reason in str(err.value)


@pytest.mark.parametrize("payload", [b"", b"\xff\xfe", b"[1,2]", b"null", b"{", b'"x"'])
def test_garbage_is_rejected(payload: bytes) -> None:
    with pytest.raises(InvalidMessageError):
        decode(TransactionRequest, payload)


def test_result_and_status_round_trip() -> None:
    res = TransactionResult(key=KEY, kind="checkin", site="s1", device="gate-01",
                            status="applied", ok=True, sort_bin="B2")
    assert decode(TransactionResult, encode(res)) == res
    st = DeviceStatus(site="s1", device="gate-01", state="offline")
    assert json.loads(encode(st))["state"] == "offline"


def test_lookup_pin_is_not_in_repr() -> None:
    req = LookupRequest(request_id=str(uuid.uuid4()), kind="patron", site="s1",
                        device="kiosk-01", patron="2000001", pin="1234")
    assert "1234" not in repr(req)
    assert decode(LookupRequest, encode(req)).pin == "1234"


def test_snapshot_chunk_checks_seq_and_kind() -> None:
    sid = str(uuid.uuid4())
    ok = CacheSnapshotChunk(snapshot_id=sid, site="s1", kind="items", seq=1, total=2,
                            items=[CacheItem(item_id="A")])
    assert ok.last and ok.rows == [CacheItem(item_id="A")]
    with pytest.raises(InvalidMessageError, match="below total"):
        decode(CacheSnapshotChunk, json.dumps({"v": 1, "snapshot_id": sid, "site": "s1",
                                               "kind": "items", "seq": 2, "total": 2}))
    with pytest.raises(InvalidMessageError, match="may not carry"):
        decode(CacheSnapshotChunk, json.dumps({"v": 1, "snapshot_id": sid, "site": "s1",
                                               "kind": "patrons", "seq": 0, "total": 1,
                                               "items": [{"v": 1, "item_id": "A"}]}))
    delta = CacheDelta(site="s1", returned_items=["A"], deleted_holds=[("A", "P")])
    assert decode(CacheDelta, encode(delta)) == delta


def test_topics_build_and_parse() -> None:
    assert topics.tx("demo-site", "kiosk-01") == "smartlib/v1/demo-site/kiosk-01/tx"
    assert topics.lookup_reply("s", "k") == "smartlib/v1/s/k/lookup/reply"
    assert topics.cache_delta("s") == "smartlib/v1/s/cache/delta"
    assert topics.staff_conflict("s") == "smartlib/v1/s/staff/conflict"
    assert topics.GATEWAY_TX == "$share/gateways/smartlib/v1/+/+/tx"
    ref = topics.parse("smartlib/v1/demo-site/kiosk-01/lookup/reply")
    assert (ref.site, ref.device, ref.kind) == ("demo-site", "kiosk-01", "lookup/reply")
    ref = topics.parse("smartlib/v1/demo-site/cache/snapshot")
    assert (ref.site, ref.device, ref.kind) == ("demo-site", None, "cache/snapshot")


@pytest.mark.parametrize("bad", [
    "smartlib/v2/s/k/tx", "other/v1/s/k/tx", "smartlib/v1/s/k/evil", "smartlib/v1/S/k/tx",
    "smartlib/v1/s/+/tx", "smartlib/v1/s/cache/other", "smartlib/v1/s/k", "",
])
def test_bad_topics_are_rejected(bad: str) -> None:
    with pytest.raises(InvalidTopicError):
        topics.parse(bad)


def test_reserved_device_ids() -> None:
    with pytest.raises(InvalidTopicError, match="reserved"):
        topics.tx("s", "cache")


def test_new_v1_models_validate_and_reject() -> None:
    from sync import topics
    from sync.errors import InvalidMessageError, InvalidTopicError
    from sync.messages import Alarm, LookupRequest, SnapshotRequest, decode, encode

    with pytest.raises(InvalidMessageError, match="account look-up needs a patron"):
        decode(LookupRequest, b'{"v":1,"request_id":"8f0a3c1e-4b5d-4e6f-8a9b-0c1d2e3f4a5b",'
                              b'"kind":"account","site":"s1","device":"kiosk-01"}')
    with pytest.raises(InvalidMessageError, match="kinds"):
        decode(SnapshotRequest, b'{"v":1,"request_id":"8f0a3c1e-4b5d-4e6f-8a9b-0c1d2e3f4a5b",'
                                b'"site":"s1","device":"gate-01","kinds":["books"]}')
    a = Alarm(site="s1", device="gate-01", alarm_id=7, kind="gate", detail={"direction": "out"})
    assert decode(Alarm, encode(a)) == a
    ref = topics.parse("smartlib/v1/s1/gate-01/snapshot/request")
    assert (ref.site, ref.device, ref.kind) == ("s1", "gate-01", "snapshot/request")
    with pytest.raises(InvalidTopicError):
        topics.parse("smartlib/v1/s1/gate-01/snapshot")
    assert topics.gateway_filters({"s1"})[0] == "$share/gateways/smartlib/v1/s1/+/tx"
