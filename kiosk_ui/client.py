"""The kiosk's only link to the edge: HTTP calls (httpx) and the WebSocket event stream.

Everything here is blocking and GUI-free; the view-models run the HTTP calls on a
:class:`kiosk_ui.worker.TaskRunner` thread and receive events through
:class:`kiosk_ui.events.EventBridge`. This module follows ``docs/api.md`` and must not import
anything from ``edge``, ``drivers``, ``sync`` or ``hardware_sim``.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import quote

import httpx

from kiosk_ui.errors import EdgeApiError, EdgeUnreachable
from smartlib.logs import mask_identifier

log = logging.getLogger(__name__)

JSON = dict[str, Any]


class EdgeApi(Protocol):
    """What the kiosk needs from the edge; :class:`EdgeClient` and test fakes implement it."""

    def health(self) -> JSON: ...
    def info(self) -> JSON: ...
    def login(self, source: str, identifier: str, pin: str | None, language: str,
              scan_token: str | None = None) -> JSON: ...
    def login_card(self, language: str) -> JSON: ...
    def read_scan(self, raw: str) -> JSON: ...
    def end_session(self, session_id: str) -> None: ...
    def get_session(self, session_id: str) -> JSON: ...
    def checkout(self, session_id: str, items: list[str] | None = None) -> JSON: ...
    def return_items(self, session_id: str | None, items: list[str] | None = None) -> JSON: ...
    def renew(self, session_id: str, items: list[str] | None = None) -> JSON: ...
    def account(self, session_id: str) -> JSON: ...
    def receipt(self, session_id: str) -> JSON: ...
    def print_receipt(self, session_id: str) -> JSON: ...
    def return_receipt(self, transactions: list[str], language: str) -> JSON: ...
    def print_return_receipt(self, transactions: list[str], language: str) -> JSON: ...
    def payable_fines(self, session_id: str) -> JSON: ...
    def create_payment(self, session_id: str, fee_ids: list[str] | None = None) -> JSON: ...
    def payment_status(self, session_id: str, reference: str) -> JSON: ...
    def email_receipt(self, session_id: str, retry: bool = False) -> JSON: ...
    def payment_receipt(self, session_id: str, reference: str) -> JSON: ...
    def print_payment_receipt(self, session_id: str, reference: str) -> JSON: ...
    def email_payment_receipt(self, session_id: str, reference: str,
                              retry: bool = False) -> JSON: ...


def _error_from(resp: httpx.Response) -> EdgeApiError:
    try:
        body = resp.json()
        err = body.get("error", {}) if isinstance(body, dict) else {}
    except (json.JSONDecodeError, ValueError):
        err = {}
    if not isinstance(err, dict):
        err = {}
    code = str(err.get("code") or f"http_{resp.status_code}")
    texts = err.get("texts") if isinstance(err.get("texts"), dict) else {}
    return EdgeApiError(code, str(err.get("message", resp.reason_phrase)), texts, resp.status_code)


class EdgeClient:
    """Blocking HTTP client for the edge's patron routes (device token).

    Args:
        base_url: the edge, e.g. ``http://127.0.0.1:8080``.
        token: the device token sent as ``Authorization: Bearer``.
        timeout_s: per-request timeout; circulation calls may wait for the ILS, so keep it
            above the edge's ``policy.result_timeout_s``.
        transport: an httpx transport (tests use ``httpx.MockTransport``).

    Every call raises :class:`~kiosk_ui.errors.EdgeApiError` for the edge's error answers and
    :class:`~kiosk_ui.errors.EdgeUnreachable` when no answer came.
    """

    def __init__(self, base_url: str, token: str = "", timeout_s: float = 15.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        # A random id of this run: the edge counts each new one as a kiosk start (the box's
        # restart count in the central console).
        self.instance = uuid.uuid4().hex
        headers["X-Kiosk-Instance"] = self.instance
        self.base_url = base_url.rstrip("/")
        self.token = token
        self._http = httpx.Client(base_url=self.base_url, headers=headers,
                                  timeout=timeout_s, transport=transport)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def _call(self, method: str, path: str, body: JSON | None = None,
              params: dict[str, str] | None = None, timeout: float | None = None) -> Any:
        try:
            kw: dict[str, Any] = {"json": body, "params": params}
            if timeout is not None:
                kw["timeout"] = timeout
            resp = self._http.request(method, path, **kw)
        except httpx.HTTPError as exc:
            log.info("edge %s %s unreachable: %s", method, path, type(exc).__name__)
            raise EdgeUnreachable(str(exc)) from exc
        if resp.status_code >= 400:
            err = _error_from(resp)
            log.info("edge %s %s -> %s %s", method, path, resp.status_code, err.code)
            raise err
        if resp.status_code == 204 or not resp.content:
            return {}
        return resp.json()

    def health(self) -> JSON:
        """``GET /health``: edge status, gateway online/offline and the offline policy."""
        return dict(self._call("GET", "/health", timeout=3.0))

    def info(self) -> JSON:
        """``GET /info``: site name, opening hours, device id and languages."""
        return dict(self._call("GET", "/info", timeout=3.0))

    def login(self, source: str, identifier: str, pin: str | None, language: str,
              scan_token: str | None = None) -> JSON:
        """``POST /sessions`` with a barcode (and the scan token ``read_scan`` answered) or a
        typed number and PIN. Without a valid scan token the edge counts the credential as
        typed, which needs a PIN."""
        cred: JSON = {"source": source, "identifier": identifier}
        if pin:
            cred["pin"] = pin
        if scan_token:
            cred["scan_token"] = scan_token
        log.info("login source=%s patron=%s", source, mask_identifier(identifier))
        return dict(self._call("POST", "/sessions", {"credential": cred, "language": language}))

    def login_card(self, language: str) -> JSON:
        """``POST /sessions/card``: log in with the card now on the PC/SC reader."""
        return dict(self._call("POST", "/sessions/card", {"language": language}))

    def read_scan(self, raw: str) -> JSON:
        """``POST /scans``: the edge checks a keyboard-wedge scan by the scanner's rules.

        Returns:
            ``{"identifier": ..., "scan_token": ...}``: the patron identifier without
            affixes, and the single-use token that lets it log in as a scan.

        Raises:
            EdgeApiError: ``bad_scan`` (its message says why, never the scan) and the rest.
        """
        return dict(self._call("POST", "/scans", {"raw": raw}))

    def end_session(self, session_id: str) -> None:
        """``DELETE /sessions/{id}``: wipe the session on the edge."""
        self._call("DELETE", f"/sessions/{quote(session_id)}")

    def get_session(self, session_id: str) -> JSON:
        """``GET /sessions/{id}``."""
        return dict(self._call("GET", f"/sessions/{quote(session_id)}"))

    def checkout(self, session_id: str, items: list[str] | None = None) -> JSON:
        """``POST /sessions/{id}/checkout``; without items, the tags now on the pad."""
        body: JSON = {"items": items} if items else {}
        return dict(self._call("POST", f"/sessions/{quote(session_id)}/checkout", body))

    def return_items(self, session_id: str | None, items: list[str] | None = None) -> JSON:
        """Return items in a session, or anonymously (``POST /returns``) without one."""
        body: JSON = {"items": items} if items else {}
        path = f"/sessions/{quote(session_id)}/return" if session_id else "/returns"
        return dict(self._call("POST", path, body))

    def renew(self, session_id: str, items: list[str] | None = None) -> JSON:
        """``POST /sessions/{id}/renew`` for ``items``, or all loans when ``items`` is None."""
        body: JSON = {"items": items} if items is not None else {"all": True}
        return dict(self._call("POST", f"/sessions/{quote(session_id)}/renew", body))

    def account(self, session_id: str) -> JSON:
        """``GET /sessions/{id}/account``: loans, holds and fines."""
        return dict(self._call("GET", f"/sessions/{quote(session_id)}/account"))

    def receipt(self, session_id: str) -> JSON:
        """``GET /sessions/{id}/receipt?format=json``."""
        return dict(self._call("GET", f"/sessions/{quote(session_id)}/receipt",
                               params={"format": "json"}))

    def print_receipt(self, session_id: str) -> JSON:
        """``POST /sessions/{id}/receipt/print`` on the edge's thermal printer."""
        return dict(self._call("POST", f"/sessions/{quote(session_id)}/receipt/print"))

    def return_receipt(self, transactions: list[str], language: str) -> JSON:
        """``POST /returns/receipt``: the receipt of anonymous returns, by the
        ``transaction`` keys ``POST /returns`` answered."""
        return dict(self._call("POST", "/returns/receipt",
                               {"transactions": transactions, "language": language}))

    def print_return_receipt(self, transactions: list[str], language: str) -> JSON:
        """``POST /returns/receipt/print``: print the anonymous returns' receipt."""
        return dict(self._call("POST", "/returns/receipt/print",
                               {"transactions": transactions, "language": language}))

    def payable_fines(self, session_id: str) -> JSON:
        """``GET /sessions/{id}/fines``: the payable fines and their total."""
        return dict(self._call("GET", f"/sessions/{quote(session_id)}/fines"))

    def create_payment(self, session_id: str, fee_ids: list[str] | None = None) -> JSON:
        """``POST /sessions/{id}/payments`` for ``fee_ids`` (None: all): the VietQR."""
        body: JSON = {"fee_ids": fee_ids} if fee_ids is not None else {"all": True}
        return dict(self._call("POST", f"/sessions/{quote(session_id)}/payments", body))

    def payment_status(self, session_id: str, reference: str) -> JSON:
        """``GET /sessions/{id}/payments/{reference}``: pending, paid, refused or expired."""
        return dict(self._call("GET", f"/sessions/{quote(session_id)}/payments/"
                                      f"{quote(reference)}"))

    def email_receipt(self, session_id: str, retry: bool = False) -> JSON:
        """``POST /sessions/{id}/receipt/email`` to the patron's address from the ILS (never
        one typed here): ``{"sent", "to_masked", "repeated"}``; the edge sends each receipt
        once (a repeat answers the first outcome). ``retry``: again after a failed send."""
        body: JSON = {"retry": True} if retry else {}
        return dict(self._call("POST", f"/sessions/{quote(session_id)}/receipt/email", body))

    def _payment_receipt_path(self, session_id: str, reference: str) -> str:
        return f"/sessions/{quote(session_id)}/payments/{quote(reference)}/receipt"

    def payment_receipt(self, session_id: str, reference: str) -> JSON:
        """``GET /sessions/{id}/payments/{ref}/receipt``: a confirmed payment's receipt."""
        return dict(self._call("GET", self._payment_receipt_path(session_id, reference)))

    def print_payment_receipt(self, session_id: str, reference: str) -> JSON:
        """``POST …/payments/{ref}/receipt/print`` on the edge's thermal printer."""
        return dict(self._call("POST", self._payment_receipt_path(session_id, reference)
                               + "/print"))

    def email_payment_receipt(self, session_id: str, reference: str,
                              retry: bool = False) -> JSON:
        """``POST …/payments/{ref}/receipt/email`` to the ILS address, once per receipt."""
        body: JSON = {"retry": True} if retry else {}
        return dict(self._call("POST", self._payment_receipt_path(session_id, reference)
                               + "/email", body))


def events_url(base_url: str, token: str) -> str:
    """The WebSocket URL of ``/events`` for an ``http(s)://`` edge URL."""
    base = base_url.rstrip("/")
    if base.startswith("https://"):
        base = "wss://" + base[len("https://"):]
    elif base.startswith("http://"):
        base = "ws://" + base[len("http://"):]
    return f"{base}/events?token={quote(token)}"


class EventStream:
    """Reads the edge's ``/events`` WebSocket on its own thread, reconnecting when it drops.

    Args:
        url: the ``ws://.../events?token=...`` URL (see :func:`events_url`).
        on_event: called on the stream thread with each decoded JSON object.
        on_connected: called on the stream thread with True/False as the link comes and goes.
        retry_s: pause between reconnection attempts.
    """

    def __init__(self, url: str, on_event: Callable[[JSON], None],
                 on_connected: Callable[[bool], None] | None = None,
                 retry_s: float = 1.0) -> None:
        self.url = url
        self._on_event = on_event
        self._on_connected = on_connected or (lambda _up: None)
        self._retry_s = retry_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: Any = None
        self._lock = threading.Lock()

    def start(self) -> EventStream:
        """Start the reader thread (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="kiosk-events", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 3.0) -> None:
        """Close the socket and join the thread."""
        self._stop.set()
        with self._lock:
            conn = self._conn
        if conn is not None:
            try:
                conn.close()
            except OSError as exc:
                log.debug("closing event socket: %s", exc)
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _serve(self, conn: Any) -> None:
        with self._lock:
            self._conn = conn
        if self._stop.is_set():
            return
        self._on_connected(True)
        try:
            for raw in conn:
                try:
                    evt = json.loads(raw)
                except (json.JSONDecodeError, TypeError) as exc:
                    log.warning("bad event from edge (%s): %.80r", exc, raw)
                    continue
                if isinstance(evt, dict):
                    self._on_event(evt)
        finally:
            with self._lock:
                self._conn = None
            self._on_connected(False)

    def _run(self) -> None:
        from websockets.exceptions import WebSocketException
        from websockets.sync.client import connect

        while not self._stop.is_set():
            try:
                with connect(self.url, open_timeout=3, proxy=None, compression=None,
                             ping_interval=10, ping_timeout=10, close_timeout=1) as conn:
                    self._serve(conn)
            except (OSError, WebSocketException, TimeoutError) as exc:
                log.debug("event stream down: %s", exc)
            self._stop.wait(self._retry_s)
