"""Request limits of the edge API (issue 18 §4, bad input): rate per client, sizes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from edge.api import create_app
from edge.api.limits import TokenBuckets

DEV = {"Authorization": "Bearer dev-tok"}
STAFF = {"Authorization": "Bearer staff-tok"}


def _app(settings, services, **api):
    limited = settings.model_copy(update={"api": settings.api.model_copy(update=api)})
    return create_app(limited, services, start_services=False)


@pytest.fixture
def client(settings, services) -> Iterator[TestClient]:
    # a refill so slow that no token comes back within the test
    app = _app(settings, services, rate_per_s=0.001, rate_burst=5,
               login_rate_per_min=0.001, login_burst=2)
    with TestClient(app) as c:
        yield c


def test_requests_beyond_the_burst_get_429_with_retry_after(client: TestClient) -> None:
    assert [client.get("/info").status_code for _ in range(5)] == [200] * 5
    r = client.get("/info")
    assert r.status_code == 429
    err = r.json()["error"]
    assert err["code"] == "rate_limited" and set(err["texts"]) == {"vi", "en"}
    assert int(r.headers["Retry-After"]) == err["detail"]["retry_after_s"] >= 1


def test_logins_have_their_own_smaller_bucket(client: TestClient) -> None:
    body = {"credential": {"source": "manual", "identifier": "2000001", "pin": "1234"}}
    assert [client.post("/sessions", headers=DEV, json=body).status_code
            for _ in range(2)] == [201, 201]
    r = client.post("/sessions", headers=DEV, json=body)
    assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limited"
    assert client.get("/health").status_code == 200   # other requests still pass


def test_buckets_are_per_client_and_per_token() -> None:
    now = [0.0]
    b = TokenBuckets(rate=1.0, burst=2, clock=lambda: now[0])
    assert [b.take(["addr:a"]) for _ in range(2)] == [0.0, 0.0]
    assert b.take(["addr:a"]) == pytest.approx(1.0)
    assert b.take(["addr:b"]) == 0.0                  # another client has its own
    # a token used from two addresses is limited as one
    assert b.take(["addr:c", "token:t"]) == 0.0
    assert b.take(["addr:d", "token:t"]) == 0.0
    assert b.take(["addr:e", "token:t"]) == pytest.approx(1.0)
    assert b.take(["addr:e"]) == 0.0                  # refused above: nothing was taken
    now[0] += 0.5
    assert b.take(["addr:a"]) == pytest.approx(0.5)   # half a token back
    now[0] += 0.5
    assert b.take(["addr:a"]) == 0.0


def test_a_body_above_the_limit_is_413_before_any_route(settings, services) -> None:
    with TestClient(_app(settings, services, max_body_bytes=2048)) as c:
        big = "x" * 3000
        r = c.post("/scans", headers=DEV, json={"raw": big})
        assert r.status_code == 413
        assert r.json()["error"]["code"] == "payload_too_large"
        assert r.json()["error"]["detail"]["max_bytes"] == 2048
        # a chunked body (no Content-Length) is bounded as it is read
        r = c.post("/scans", headers={**DEV, "Content-Type": "application/json"},
                   content=iter([b'{"raw": "', b"x" * 3000, b'"}']))
        assert r.status_code == 413
        r = c.post("/scans", headers=DEV, json={"raw": "1234"})
        assert r.status_code == 200


@pytest.mark.parametrize("items, what", [
    (["3" * 65], "an item id of 65 characters"),
    (["300\x00001"], "a control character"),
    ([""], "an empty item id"),
    ([f"3{i:06d}" for i in range(101)], "101 items"),
])
def test_item_lists_are_bounded(settings, services, items, what) -> None:
    with TestClient(create_app(settings, services, start_services=False)) as c:
        r = c.post("/sessions", headers=DEV, json={"credential": {
            "source": "manual", "identifier": "2000001", "pin": "1234"}})
        sid = r.json()["id"]
        for path, body in ((f"/sessions/{sid}/checkout", {"items": items}),
                           (f"/sessions/{sid}/return", {"items": items}),
                           (f"/sessions/{sid}/renew", {"items": items}),
                           ("/returns", {"items": items})):
            r = c.post(path, headers=DEV, json=body)
            assert r.status_code == 422, (what, path, r.text)
            assert r.json()["error"]["code"] == "validation_error"
        r = c.post("/sessions", headers=DEV, json={"credential": {
            "source": "manual", "identifier": "2" * 65, "pin": "1234"}})
        assert r.status_code == 422
        assert c.get(f"/sessions/{'a' * 65}", headers=DEV).status_code == 422
        assert c.get(f"/sessions/{'a' * 64}", headers=DEV).status_code == 404


def test_deep_malformed_or_mistyped_json_is_refused_and_the_api_goes_on(
        settings, services) -> None:
    with TestClient(_app(settings, services, login_burst=100)) as client:
        _bad_json(client)


def _bad_json(client: TestClient) -> None:
    json_ct = {**DEV, "Content-Type": "application/json"}
    deep = b'{"credential":' + b"[" * 3000 + b"]" * 3000 + b"}"  # the stdlib parser recurses
    for body in (deep, b'{"credential": {"source": "manual", "identifier": "20', b"[1, 2]"):
        r = client.post("/sessions", headers=json_ct, content=body)
        assert r.status_code in (400, 422), (body[:40], r.text)
        assert r.json()["error"]["code"] in ("http_error", "validation_error")
    for wrong in ({"credential": {"source": "manual", "identifier": 2000001, "pin": "1234"}},
                  {"credential": {"source": "manual", "identifier": "2000001", "pin": 1234}},
                  {"credential": "2000001"}, {"items": "3000077"}):
        r = client.post("/sessions", headers=DEV, json=wrong)
        assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error", wrong
    r = client.post("/scans", headers=DEV, json={"raw": "1234"})
    assert r.status_code == 200
