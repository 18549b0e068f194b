"""Request limits of the edge API: a rate limit per client and a bound on body size.

:class:`RequestLimits` is a plain ASGI middleware (it leaves streaming answers alone):

* **Rate.** A token bucket per client address and, when the request carries a bearer
  token, per token (kept as a hash): ``[api] rate_per_s`` on average, ``rate_burst`` at
  once, for every request; ``POST /sessions`` (a typed or scanned login) also draws on a
  second bucket, ``login_rate_per_min`` / ``login_burst``. An empty bucket answers ``429
  rate_limited`` with ``Retry-After`` (whole seconds). Buckets live in memory; a restart
  refills them (wrong PINs are counted durably elsewhere: ``edge.services.pin_guard``).
* **Size.** A body above ``[api] max_body_bytes`` (by its ``Content-Length``, or as read)
  answers ``413 payload_too_large`` before any route sees it.

Refusals are logged once per client until it is let through again (never the body, the
token, or anything the request held). This module must not import the services.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from edge.api.schemas import ErrorOut
from edge.errors import EdgeError
from smartlib.config import ApiSection

log = logging.getLogger(__name__)

MAX_CLIENTS = 4096
"""Buckets kept per limiter at most (the least recently used goes first)."""

BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
LOGIN_PATHS = frozenset({"/sessions"})


@dataclass
class _Bucket:
    tokens: float
    at: float
    warned: bool = False


class TokenBuckets:
    """Token buckets by key: ``rate`` tokens per second, at most ``burst``. Thread-safe.

    Args:
        rate: tokens added per second.
        burst: the bucket's size (a new key starts full).
        clock: monotonic seconds (tests pass their own).
    """

    def __init__(self, rate: float, burst: int, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, keys: list[str]) -> float:
        """Take one token from each key's bucket if all have one: 0.0; else nothing is
        taken and the answer is the seconds until all have one again."""
        now = self.clock()
        with self._lock:
            buckets = [self._refilled(k, now) for k in keys]
            short = [b for b in buckets if b.tokens < 1.0]
            if short:
                return max((1.0 - b.tokens) / self.rate for b in short)
            for b in buckets:
                b.tokens -= 1.0
            return 0.0

    def first_refusal(self, keys: list[str]) -> bool:
        """True once per refusal streak of these keys (to log it once)."""
        with self._lock:
            fresh = [b for k in keys if (b := self._buckets.get(k)) and not b.warned]
            for b in fresh:
                b.warned = True
            return bool(fresh)

    def _refilled(self, key: str, now: float) -> _Bucket:
        b = self._buckets.get(key)
        if b is None:
            b = self._buckets[key] = _Bucket(float(self.burst), now)
            while len(self._buckets) > MAX_CLIENTS:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            b.tokens = min(float(self.burst), b.tokens + (now - b.at) * self.rate)
            if b.tokens >= 1.0:
                b.warned = False
        b.at = now
        return b


def client_keys(scope: Scope) -> list[str]:
    """The keys a request is limited by: its address, and its bearer token's hash."""
    client = scope.get("client")
    keys = [f"addr:{client[0] if client else 'unknown'}"]
    for name, value in scope.get("headers") or ():
        if name == b"authorization":
            digest = hashlib.sha256(value.strip()).hexdigest()[:32]
            keys.append(f"token:{digest}")
            break
    return keys


class RequestLimits:
    """The ASGI middleware (see the module docstring).

    Args:
        app: the wrapped ASGI app.
        api: the ``[api]`` section (rates, bursts, body size).
        clock: monotonic seconds for the buckets (tests pass their own).
    """

    def __init__(self, app: ASGIApp, api: ApiSection, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.app = app
        self.max_body = api.max_body_bytes
        self.requests = TokenBuckets(api.rate_per_s, api.rate_burst, clock=clock)
        self.logins = TokenBuckets(api.login_rate_per_min / 60, api.login_burst, clock=clock)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        keys = client_keys(scope)
        method = scope.get("method", "GET")
        wait = self.requests.take(keys)
        limiter = self.requests
        if not wait and method == "POST" and scope.get("path") in LOGIN_PATHS:
            wait = self.logins.take(keys)
            limiter = self.logins
        if wait:
            if limiter.first_refusal(keys):
                log.warning("rate limit: %s %s refused for %s (%s)", method, scope.get("path"),
                            keys[0], "logins" if limiter is self.logins else "requests")
            retry = max(1, math.ceil(wait))
            await _refuse(scope, send, EdgeError(
                "rate_limited", f"too many requests; retry in {retry} s", retry_after_s=retry),
                headers=[(b"retry-after", str(retry).encode())])
            return
        if scope["type"] != "http" or method not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body:
            await _refuse(scope, send, _too_large(self.max_body))
            return
        body, more = bytearray(), True
        while more:
            message = await receive()
            if message["type"] != "http.request":   # the client went away
                await self.app(scope, _replay_once(message, receive), send)
                return
            body += message.get("body", b"")
            more = bool(message.get("more_body", False))
            if len(body) > self.max_body:
                await _refuse(scope, send, _too_large(self.max_body))
                return
        await self.app(scope, _replay_once({"type": "http.request", "body": bytes(body),
                                            "more_body": False}, receive), send)


def _too_large(limit: int) -> EdgeError:
    return EdgeError("payload_too_large", f"the request body is larger than {limit} bytes",
                     max_bytes=limit)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers") or ():
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _replay_once(first: Message, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return first
        return await receive()

    return replay


async def _refuse(scope: Scope, send: Send, err: EdgeError,
                  headers: list[tuple[bytes, bytes]] | None = None) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008, "reason": err.code})
        return
    body = json.dumps(err.to_json(), ensure_ascii=False).encode()
    await send({"type": "http.response.start", "status": err.status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()), *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


LIMIT_RESPONSES: dict[int | str, dict[str, Any]] = {
    413: {"model": ErrorOut}, 429: {"model": ErrorOut}}
"""The OpenAPI answers every route may give because of these limits."""
