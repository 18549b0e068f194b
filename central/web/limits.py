"""Bounds on what a request to the central console may send (issue 18, "Bad input").

:class:`BodyLimit` answers 413 to a request body over ``[central] max_body_bytes`` (by its
``Content-Length``, or once that many bytes have come), before any route reads it; the
enrolment API and the payment webhook take requests from anyone on the network.
:func:`json_object` parses a JSON body with its nesting checked first (the standard
library's parser recurses: 3,000 brackets raise ``RecursionError``), answering 400 for
malformed, too deep or non-object bodies.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sync.errors import TooDeepMessageError
from sync.mqtt import PayloadLimits, check_depth

log = logging.getLogger(__name__)

MAX_DEPTH = 32
"""JSON nesting a request body may have; the console's own bodies nest 2 deep at most."""


class BodyLimit:
    """ASGI middleware: 413 for a body over ``max_bytes`` (logged with the path and client)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, send, int(declared))
            return
        # Read the body here (within the bound), then hand it to the app in one piece.
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(scope, send, size)
                return
            chunks.append(chunk)
            more = bool(message.get("more_body"))
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, send: Send, size: int) -> None:
        client = scope.get("client")
        log.warning("request to %s from %s refused: body of %d+ bytes is over the limit of "
                    "%d", scope.get("path"), client[0] if client else "?", size, self.max_bytes)
        body = json.dumps({"detail": f"the request body is over {self.max_bytes} bytes"}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


def json_object(raw: bytes, expected: str = "a JSON object") -> dict[str, Any]:
    """``raw`` parsed as a JSON object, its nesting checked before parsing.

    Raises:
        HTTPException: 400 naming what was expected (malformed, too deep, not an object).
    """
    try:
        check_depth(raw, PayloadLimits(max_bytes=len(raw) + 1, max_depth=MAX_DEPTH))
        data = json.loads(raw)
    except TooDeepMessageError as exc:
        raise HTTPException(400, f"{exc}; expected {expected}") from exc
    except ValueError as exc:
        raise HTTPException(400, f"not JSON; expected {expected}") from exc
    if not isinstance(data, dict):
        raise HTTPException(400, f"expected {expected}")
    return data
