"""The WebSocket ``/events``: every bus event as one JSON message (token in the query)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from edge.api.deps import role_of

log = logging.getLogger(__name__)
router = APIRouter(tags=["events"])


@router.websocket("/events")
async def events(ws: WebSocket) -> None:
    """Stream events; closes with 4401 without a valid token."""
    services = ws.app.state.services
    if role_of(services, ws.query_params.get("token")) is None:
        await ws.close(code=4401)
        return
    await ws.accept()
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=1000)

    def deliver(event: dict[str, Any]) -> None:
        def put() -> None:
            if queue.full():
                log.warning("events client is too slow; dropping %s", event["type"])
            else:
                queue.put_nowait(event)

        loop.call_soon_threadsafe(put)

    unsubscribe = services.bus.subscribe(deliver)
    try:
        await ws.send_json({"type": "connectivity", "at": None,
                            "gateway": services.gateway_state()})
        receiver = asyncio.ensure_future(ws.receive_text())
        while True:
            getter = asyncio.ensure_future(queue.get())
            done, _ = await asyncio.wait({getter, receiver}, return_when=asyncio.FIRST_COMPLETED)
            if receiver in done:
                getter.cancel()
                receiver.result()  # raises WebSocketDisconnect when the client left
                receiver = asyncio.ensure_future(ws.receive_text())
                continue
            await ws.send_json(getter.result())
    except WebSocketDisconnect:
        log.debug("events client left")
    finally:
        unsubscribe()
