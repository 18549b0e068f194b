"""Each box process counts its own starts in the edge store (``serve``, ``sync``, and the
kiosk UI through ``/health``): the agent reports them, the central console shows the
restarts."""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient

from edge.api import create_app
from edge.services.container import EdgeServices
from edge.store import StoreError, open_store
from kiosk_ui.client import EdgeClient

DEV = {"Authorization": "Bearer dev-tok"}


def test_starts_are_counted_per_process_and_survive_a_reopen(tmp_path) -> None:
    path = tmp_path / "edge.db"
    with open_store(path) as store:
        assert store.meta.process_starts() == {}
        assert store.meta.count_start("serve") == 1
        assert store.meta.count_start("serve") == 2
        assert store.meta.count_start("sync") == 1
        with pytest.raises(StoreError, match="unknown process 'gateway'"):
            store.meta.count_start("gateway")
    with open_store(path) as store:
        assert store.meta.count_start("serve") == 3
        assert store.meta.process_starts() == {"serve": 3, "sync": 1}
        # A process that cannot open the store: one start per run id seen.
        assert store.meta.note_instance("kiosk", "run-a")
        assert not store.meta.note_instance("kiosk", "run-a")
        assert store.meta.note_instance("kiosk", "run-b")
        assert store.meta.process_starts()["kiosk"] == 2


def test_each_serve_start_is_counted(settings, reader) -> None:
    for expected in (1, 2):
        svc = EdgeServices.build(settings, reader=reader)
        svc.start(background=False, poll_pad=False)
        try:
            assert svc.store.meta.process_starts()["serve"] == expected
        finally:
            svc.stop()


def test_a_kiosk_run_counts_once_with_its_device_token(settings, services) -> None:
    app = create_app(settings, services, start_services=False)
    with TestClient(app) as client:
        for _ in range(3):  # the kiosk polls /health: one run is one start
            assert client.get("/health", headers={**DEV, "X-Kiosk-Instance": "a1"}).status_code == 200
        assert services.store.meta.process_starts()["kiosk"] == 1
        client.get("/health", headers={**DEV, "X-Kiosk-Instance": "b2"})  # it restarted
        assert services.store.meta.process_starts()["kiosk"] == 2
        # Without a valid token (anyone on the network): not counted, still answered.
        for headers in ({"X-Kiosk-Instance": "c3"},
                        {"Authorization": "Bearer wrong", "X-Kiosk-Instance": "c3"}):
            assert client.get("/health", headers=headers).status_code == 200
        assert services.store.meta.process_starts()["kiosk"] == 2


def test_the_kiosk_client_names_its_run_on_every_request() -> None:
    seen: list[str | None] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req.headers.get("x-kiosk-instance"))
        return httpx.Response(200, json={"status": "ok"})

    first = EdgeClient("http://edge.test", "dev", transport=httpx.MockTransport(handler))
    first.health()
    first.health()
    second = EdgeClient("http://edge.test", "dev", transport=httpx.MockTransport(handler))
    second.health()
    assert seen[0] and seen[0] == seen[1] != seen[2] and len(seen[2] or "") == 32
