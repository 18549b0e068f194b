"""The edge client: request shapes, error decoding, unreachable edges, the event stream."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from kiosk_ui.client import EdgeClient, EventStream, events_url
from kiosk_ui.errors import EdgeApiError, EdgeUnreachable, KioskError
from tests.support.procs import free_port


def _client(handler: Any) -> EdgeClient:
    return EdgeClient("http://edge.test", "dev-token", transport=httpx.MockTransport(handler))


def test_requests_follow_the_contract() -> None:
    seen: list[tuple[str, str, Any, str]] = []

    def handler(req: httpx.Request) -> httpx.Response:
        body = json.loads(req.content) if req.content else None
        seen.append((req.method, req.url.path + (f"?{req.url.query.decode()}" if req.url.query else ""),
                     body, req.headers.get("authorization", "")))
        if req.method == "DELETE":
            return httpx.Response(204)
        return httpx.Response(200, json={"results": []})

    c = _client(handler)
    c.login("manual", "123456", "1234", "vi")
    c.login_card("en")
    c.checkout("s1")
    c.checkout("s1", ["3001"])
    c.return_items(None, ["3001"])
    c.return_items("s1")
    c.renew("s1", None)
    c.renew("s1", ["3001"])
    c.receipt("s1")
    c.print_receipt("s1")
    c.end_session("s1")
    c.close()
    assert seen == [
        ("POST", "/sessions", {"credential": {"source": "manual", "identifier": "123456", "pin": "1234"},
                               "language": "vi"}, "Bearer dev-token"),
        ("POST", "/sessions/card", {"language": "en"}, "Bearer dev-token"),
        ("POST", "/sessions/s1/checkout", {}, "Bearer dev-token"),
        ("POST", "/sessions/s1/checkout", {"items": ["3001"]}, "Bearer dev-token"),
        ("POST", "/returns", {"items": ["3001"]}, "Bearer dev-token"),
        ("POST", "/sessions/s1/return", {}, "Bearer dev-token"),
        ("POST", "/sessions/s1/renew", {"all": True}, "Bearer dev-token"),
        ("POST", "/sessions/s1/renew", {"items": ["3001"]}, "Bearer dev-token"),
        ("GET", "/sessions/s1/receipt?format=json", None, "Bearer dev-token"),
        ("POST", "/sessions/s1/receipt/print", None, "Bearer dev-token"),
        ("DELETE", "/sessions/s1", None, "Bearer dev-token"),
    ]


def test_barcode_login_sends_no_pin() -> None:
    bodies = []

    def handler(req: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(req.content))
        return httpx.Response(201, json={"id": "s"})

    _client(handler).login("barcode", "123456", None, "vi", scan_token="tok-1")
    assert bodies == [{"credential": {"source": "barcode", "identifier": "123456",
                                      "scan_token": "tok-1"}, "language": "vi"}]


def test_read_scan_sends_the_raw_scan_and_decodes_a_refusal() -> None:
    seen = []

    def handler(req: httpx.Request) -> httpx.Response:
        body = json.loads(req.content)
        seen.append((req.method, req.url.path, body, req.headers.get("authorization")))
        if body["raw"] == "\x1b1":
            return httpx.Response(409, json={"error": {
                "code": "bad_scan", "message": "scan has a control character U+001B at offset 0"}})
        return httpx.Response(200, json={"identifier": "123456"})

    c = _client(handler)
    assert c.read_scan("]C1123456#") == {"identifier": "123456"}
    with pytest.raises(EdgeApiError) as ei:
        c.read_scan("\x1b1")
    assert (ei.value.code, ei.value.status, ei.value.texts) == ("bad_scan", 409, {})
    assert seen[0] == ("POST", "/scans", {"raw": "]C1123456#"}, "Bearer dev-token")


def test_error_shape_is_decoded() -> None:
    body = {"error": {"code": "wrong_pin", "message": "PIN does not match",
                      "texts": {"vi": "Mã PIN không đúng", "en": "The PIN is wrong"}}}
    c = _client(lambda req: httpx.Response(401, json=body))
    with pytest.raises(EdgeApiError) as ei:
        c.login("manual", "1", "2", "vi")
    assert ei.value.code == "wrong_pin" and ei.value.status == 401
    assert ei.value.texts == {"vi": "Mã PIN không đúng", "en": "The PIN is wrong"}
    assert not ei.value.unreachable and not isinstance(ei.value, EdgeUnreachable)


def test_non_json_error_keeps_the_status() -> None:
    c = _client(lambda req: httpx.Response(502, text="bad gateway"))
    with pytest.raises(EdgeApiError) as ei:
        c.health()
    assert ei.value.code == "http_502" and ei.value.texts == {}


def test_unreachable_edge() -> None:
    c = EdgeClient(f"http://127.0.0.1:{free_port()}", "t", timeout_s=1)
    with pytest.raises(EdgeUnreachable) as ei:
        c.health()
    assert ei.value.unreachable and ei.value.code == "edge_unreachable" and ei.value.status == 0
    assert isinstance(ei.value, KioskError)   # the kiosk's own root, not the edge's EdgeError
    c.close()


def test_events_url() -> None:
    assert events_url("http://127.0.0.1:8080/", "a b") == "ws://127.0.0.1:8080/events?token=a%20b"
    assert events_url("https://edge:1", "t") == "wss://edge:1/events?token=t"


@pytest.fixture
def ws_server() -> Iterator[tuple[int, list[Any], threading.Event]]:
    """A local WebSocket server that sends two events (and one bad frame) to each client."""
    from websockets.sync.server import serve

    port = free_port()
    tokens: list[Any] = []
    connected = threading.Event()

    def handler(ws: Any) -> None:
        tokens.append(ws.request.path)
        connected.set()
        ws.send(json.dumps({"type": "tag_arrived", "item_id": "3001", "title": "Truyện Kiều"}))
        ws.send("not json")
        ws.send(json.dumps({"type": "connectivity", "gateway": "offline"}))
        from websockets.exceptions import ConnectionClosed

        try:
            ws.recv()
        except ConnectionClosed:
            return

    server = serve(handler, "127.0.0.1", port)
    t = threading.Thread(target=server.serve_forever, name="ws-test-server")
    t.start()
    yield port, tokens, connected
    server.shutdown()
    t.join(5)


def test_event_stream_delivers_events(ws_server: tuple[int, list[Any], threading.Event]) -> None:
    port, tokens, _ = ws_server
    got: list[dict[str, Any]] = []
    links: list[bool] = []
    done = threading.Event()

    def on_event(evt: dict[str, Any]) -> None:
        got.append(evt)
        if len(got) == 2:
            done.set()

    stream = EventStream(events_url(f"http://127.0.0.1:{port}", "dev"), on_event, links.append,
                         retry_s=0.1).start()
    try:
        assert done.wait(5)
    finally:
        stream.stop()
    assert [e["type"] for e in got] == ["tag_arrived", "connectivity"]
    assert tokens == ["/events?token=dev"]
    assert links[0] is True


def test_event_stream_retries_until_the_edge_is_up() -> None:
    port = free_port()
    links: list[bool] = []
    stream = EventStream(events_url(f"http://127.0.0.1:{port}", "t"), lambda e: None, links.append,
                         retry_s=0.05).start()
    import time
    time.sleep(0.3)   # a few refused attempts; the thread must keep trying, not die
    assert stream._thread is not None and stream._thread.is_alive()
    stream.stop()
    assert links == []
