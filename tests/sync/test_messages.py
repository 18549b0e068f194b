"""Message models and topic names: valid payloads round-trip, invalid ones name the reason."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime

import pytest

from sync import topics
from sync.errors import InvalidMessageError, InvalidTopicError
from sync.messages import (
    MAX_BATCH,
    CacheDelta,
    CacheItem,
    CacheSnapshotChunk,
    DeviceStatus,
    LookupRequest,
    ResultBatch,
    TransactionBatch,
    TransactionRequest,
    TransactionResult,
    batch_entries,
    decode,
    decode_results,
    encode,
    validate,
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


def test_lookup_pin_is_not_in_repr_nor_on_the_wire() -> None:
    req = LookupRequest(request_id=str(uuid.uuid4()), kind="patron", site="s1",
                        device="kiosk-01", patron="2000001",
                        pin_sealed="c2VhbGVk").with_pin("1234")
    assert req.pin == "1234"
    assert "1234" not in repr(req) and b"1234" not in encode(req)
    assert decode(LookupRequest, encode(req)).pin is None


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
    timed = CacheDelta(site="s1", returned_items=["A"],
                       returned_at={"A": "2026-12-07T10:00:01.250+00:00"})  # type: ignore[dict-item]
    assert decode(CacheDelta, encode(timed)) == timed
    assert timed.returned_at["A"] == datetime(2026, 12, 7, 10, 0, 1, 250000, tzinfo=UTC)
    # A return's time orders it against loans at every edge: a time that is not one, or
    # has no zone, is refused (a cached mark that never compares would hide later loans).
    for bad in ("yesterday", "2026-12-07T10:00:01"):
        with pytest.raises(InvalidMessageError, match="returned_at"):
            decode(CacheDelta, json.dumps({"v": 1, "site": "s1", "returned_items": ["A"],
                                           "returned_at": {"A": bad}}))


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


# ---- batches ------------------------------------------------------------------------------

KEY2 = "6a3e8c1d-2b4f-4e5a-9c7d-8e9f0a1b2c3d"
# A TransactionBatch as the agent publishes it, written by hand.
BATCH_WIRE = (b'{"v":1,"site":"demo-site","device":"kiosk-01","transactions":['
              b'{"v":1,"key":"0f0e4a55-1c4b-4a8e-9d0c-6f2b8f3a2b11","kind":"checkout",'
              b'"site":"demo-site","device":"kiosk-01","patron":"2000001","item":"30001234",'
              b'"created_at":"2026-11-23T12:00:00Z","offline":true,"payload":{}},'
              b'{"v":1,"key":"6a3e8c1d-2b4f-4e5a-9c7d-8e9f0a1b2c3d","kind":"checkin",'
              b'"site":"demo-site","device":"kiosk-01","item":"30001234",'
              b'"created_at":"2026-11-23T12:00:05Z","offline":false,"payload":{}}]}')
# The same batch as encode() must write it (compact JSON, None fields left out).
BATCH_JSON = {"v": 1, "site": "demo-site", "device": "kiosk-01", "transactions": [
    {"v": 1, "key": KEY, "kind": "checkout", "site": "demo-site", "device": "kiosk-01",
     "patron": "2000001", "item": "30001234", "created_at": "2026-11-23T12:00:00Z",
     "offline": True, "payload": {}},
    {"v": 1, "key": KEY2, "kind": "checkin", "site": "demo-site", "device": "kiosk-01",
     "item": "30001234", "created_at": "2026-11-23T12:00:05Z", "offline": False,
     "payload": {}}]}

RESULT_BATCH_WIRE = (
    b'{"v":1,"site":"demo-site","device":"kiosk-01","results":['
    b'{"v":1,"key":"0f0e4a55-1c4b-4a8e-9d0c-6f2b8f3a2b11","kind":"checkout",'
    b'"site":"demo-site","device":"kiosk-01","status":"applied","ok":true,"item":"30001234",'
    b'"due_date":"2026-12-07","applied_at":"2026-11-23T12:00:01Z"},'
    b'{"v":1,"key":"6a3e8c1d-2b4f-4e5a-9c7d-8e9f0a1b2c3d","kind":"checkin",'
    b'"site":"demo-site","device":"kiosk-01","status":"refused","ok":false,"item":"30001234",'
    b'"screen_message":"Not on loan","applied_at":"2026-11-23T12:00:06Z","replayed":true}]}')
RESULT_BATCH_JSON = {"v": 1, "site": "demo-site", "device": "kiosk-01", "results": [
    {"v": 1, "key": KEY, "kind": "checkout", "site": "demo-site", "device": "kiosk-01",
     "status": "applied", "ok": True, "item": "30001234", "due_date": "2026-12-07",
     "items": [], "unrenewed_items": [], "applied_at": "2026-11-23T12:00:01Z",
     "replayed": False, "recovered": False},
    {"v": 1, "key": KEY2, "kind": "checkin", "site": "demo-site", "device": "kiosk-01",
     "status": "refused", "ok": False, "item": "30001234", "screen_message": "Not on loan",
     "items": [], "unrenewed_items": [], "applied_at": "2026-11-23T12:00:06Z",
     "replayed": True, "recovered": False}]}


def test_transaction_batch_decodes_from_hand_written_json_and_round_trips() -> None:
    batch = decode(TransactionBatch, BATCH_WIRE)
    assert (batch.site, batch.device) == ("demo-site", "kiosk-01")
    assert [(t.key, t.kind, t.item) for t in batch.transactions] == [
        (KEY, "checkout", "30001234"), (KEY2, "checkin", "30001234")]
    assert batch.transactions[0].patron == "2000001" and batch.transactions[1].patron is None
    assert batch.transactions[1].created_at == datetime(2026, 11, 23, 12, 0, 5, tzinfo=UTC)
    assert json.loads(encode(batch)) == BATCH_JSON
    assert decode(TransactionBatch, encode(batch)) == batch
    assert validate(TransactionBatch, json.loads(BATCH_WIRE)) == batch


def test_result_batch_decodes_from_hand_written_json_and_round_trips() -> None:
    batch = decode(ResultBatch, RESULT_BATCH_WIRE)
    assert [(r.key, r.status, r.ok, r.replayed) for r in batch.results] == [
        (KEY, "applied", True, False), (KEY2, "refused", False, True)]
    assert batch.results[0].due_date == "2026-12-07"
    assert batch.results[1].applied_at == datetime(2026, 11, 23, 12, 0, 6, tzinfo=UTC)
    assert json.loads(encode(batch)) == RESULT_BATCH_JSON
    assert decode(ResultBatch, encode(batch)) == batch


@pytest.mark.parametrize(("model", "field", "wire"), [
    (TransactionBatch, "transactions", BATCH_WIRE),
    (ResultBatch, "results", RESULT_BATCH_WIRE),
])
def test_a_batch_entry_of_another_device_is_refused_naming_its_index(model, field: str,
                                                                      wire: bytes) -> None:
    data = json.loads(wire)
    data[field][1]["device"] = "kiosk-02"
    with pytest.raises(InvalidMessageError) as err:
        validate(model, data)
    assert f"{field}[1] names demo-site/kiosk-02" in str(err.value)
    assert "demo-site/kiosk-01" in str(err.value)
    data[field][1]["device"] = "kiosk-01"
    data[field][0]["site"] = "other-site"
    with pytest.raises(InvalidMessageError, match=re.escape(f"{field}[0] names other-site/")):
        decode(model, json.dumps(data))


@pytest.mark.parametrize(("model", "field", "wire"), [
    (TransactionBatch, "transactions", BATCH_WIRE),
    (ResultBatch, "results", RESULT_BATCH_WIRE),
])
def test_empty_and_oversized_batches_are_refused(model, field: str, wire: bytes) -> None:
    data = json.loads(wire)
    entry = data[field][0]
    data[field] = []
    with pytest.raises(InvalidMessageError, match=f"{field}: List should have at least 1 item"):
        validate(model, data)
    # MAX_BATCH entries are fine, one more is not (distinct keys: a real backlog).
    data[field] = [{**entry, "key": str(uuid.UUID(int=i + 1))} for i in range(MAX_BATCH)]
    assert len(getattr(validate(model, data), field)) == MAX_BATCH
    assert len(batch_entries(model, data)) == MAX_BATCH
    data[field].append({**entry, "key": str(uuid.UUID(int=MAX_BATCH + 1))})
    with pytest.raises(InvalidMessageError, match=f"{field}: List should have at most {MAX_BATCH}"):
        validate(model, data)
    with pytest.raises(InvalidMessageError, match=f"{field} must be a list of 1 to {MAX_BATCH}"):
        batch_entries(model, data)
    data[field] = []
    with pytest.raises(InvalidMessageError, match=f"{field} must be a list of 1 to {MAX_BATCH}"):
        batch_entries(model, data)


@pytest.mark.parametrize(("model", "field", "wire"), [
    (TransactionBatch, "transactions", BATCH_WIRE),
    (ResultBatch, "results", RESULT_BATCH_WIRE),
])
@pytest.mark.parametrize(("mutate", "reason"), [
    (lambda d, f: d.pop("v"), "version None, expected 1"),
    (lambda d, f: d.update(v=2), "version 2, expected 1"),
    (lambda d, f: d.update(extra=1, more=2), "unknown field(s) ['extra', 'more']"),
    (lambda d, f: d.update(site="Bad/Site"), "site 'Bad/Site' must match"),
    (lambda d, f: d.pop("site"), "site None must match"),
    (lambda d, f: d.update(device="-kiosk"), "device '-kiosk' must match"),
    (lambda d, f: d.update({f: {"0": d[f][0]}}), "must be a list of 1 to"),
    (lambda d, f: d.update({f: None}), "must be a list of 1 to"),
])
def test_batch_entries_names_what_is_wrong_with_the_envelope(model, field: str, wire: bytes,
                                                             mutate, reason: str) -> None:
    data = json.loads(wire)
    mutate(data, field)
    with pytest.raises(InvalidMessageError) as err:
        batch_entries(model, data)
    assert str(err.value).startswith(f"{model.__name__}: ")
    assert reason in str(err.value)


def test_batch_entries_leaves_the_entries_to_be_validated_one_by_one() -> None:
    data = json.loads(BATCH_WIRE)
    data["transactions"][0]["key"] = "not-a-uuid"
    data["transactions"][1] = "not even an object"
    rows = batch_entries(TransactionBatch, data)  # the envelope is fine
    assert rows == data["transactions"]
    with pytest.raises(InvalidMessageError, match="key"):
        validate(TransactionRequest, rows[0])
    with pytest.raises(InvalidMessageError, match="expected a JSON object, got str"):
        validate(TransactionRequest, rows[1])


def test_decode_results_of_a_plain_result_is_one_result_and_no_errors() -> None:
    wire = (b'{"v":1,"key":"0f0e4a55-1c4b-4a8e-9d0c-6f2b8f3a2b11","kind":"checkout",'
            b'"site":"demo-site","device":"kiosk-01","status":"conflict","ok":false,'
            b'"item":"30001234","applied_at":"2026-11-23T12:00:01Z"}')
    good, bad = decode_results(wire)
    assert bad == []
    assert len(good) == 1 and isinstance(good[0], TransactionResult)
    assert (good[0].key, good[0].status, good[0].ok, good[0].item) == (
        KEY, "conflict", False, "30001234")
    with pytest.raises(InvalidMessageError, match="status"):
        decode_results(wire.replace(b'"conflict"', b'"maybe"'))  # a lone result is all or nothing


@pytest.mark.parametrize(("mutate", "reason"), [
    (lambda e: e.update(status="maybe"), "status"),
    (lambda e: e.pop("ok"), "ok"),
    (lambda e: e.update(v=3), "version 3"),
    (lambda e: e.update(device="gate-01"), "names demo-site/gate-01, not the batch's "
                                           "demo-site/kiosk-01"),
])
def test_decode_results_keeps_the_good_entries_of_a_batch(mutate, reason: str) -> None:
    data = json.loads(RESULT_BATCH_WIRE)
    third = {"v": 1, "key": "9b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e", "kind": "renew",
             "site": "demo-site", "device": "kiosk-01", "status": "applied", "ok": True,
             "item": "30005678", "applied_at": "2026-11-23T12:00:07Z"}
    data["results"].append(third)
    mutate(data["results"][1])
    good, bad = decode_results(json.dumps(data).encode())
    assert [r.key for r in good] == [KEY, third["key"]]
    assert [r.kind for r in good] == ["checkout", "renew"]
    assert len(bad) == 1 and isinstance(bad[0], InvalidMessageError)
    assert str(bad[0]).startswith("results[1]")
    assert reason in str(bad[0])


@pytest.mark.parametrize(("payload", "reason"), [
    (b"{", "not JSON"),
    (b"[1]", "expected a JSON object"),
    (b'{"v":1,"site":"demo-site","device":"kiosk-01","results":[]}', "results must be a list"),
    (b'{"v":2,"site":"demo-site","device":"kiosk-01","results":[{}]}', "version 2"),
    (b'{"v":1,"site":"demo-site","device":"Kiosk","results":[{}]}', "device 'Kiosk'"),
    (b'{"v":1,"site":"demo-site","device":"kiosk-01","results":[{}],"x":0}', "unknown field"),
    (b'{"v":1,"site":"demo-site","device":"kiosk-01","results":{"a":1}}', "results must be a list"),
])
def test_decode_results_raises_on_a_bad_envelope(payload: bytes, reason: str) -> None:
    with pytest.raises(InvalidMessageError) as err:
        decode_results(payload)
    assert reason in str(err.value)


def test_staff_accounts_carry_argon2_hashes_only_and_parse_back() -> None:
    from sync.messages import StaffAccounts

    good = {"v": 1, "site": "hn-01", "at": "2026-12-07T05:00:00Z", "accounts": [
        {"username": "lan", "role": "librarian", "password_hash": "$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA"}]}
    msg = decode(StaffAccounts, json.dumps(good))
    assert msg.accounts[0].role == "librarian" and not msg.accounts[0].disabled
    assert decode(StaffAccounts, encode(msg)) == msg
    for field, value in (("password_hash", "lan-password-1"), ("role", "root"),
                         ("username", "Lan Nguyen")):
        bad = json.loads(json.dumps(good))
        bad["accounts"][0][field] = value
        with pytest.raises(InvalidMessageError, match=field):
            decode(StaffAccounts, json.dumps(bad))
    ref = topics.parse(topics.staff_accounts("hn-01"))
    assert (ref.site, ref.device, ref.kind) == ("hn-01", None, "staff/accounts")
    assert topics.staff_accounts("hn-01") == "smartlib/v1/hn-01/staff/accounts"
