"""The demo ILS's SIP2 server: a threaded TCP server that speaks SIP2 with our codec.

Each connection reads requests with a stream decoder (one TCP read is not one message),
accepts them with or without error detection, answers in one write with the request's
sequence number, and answers 96 to a request that fails its checksum, cannot be decoded,
or is not one it answers (an unknown command), and repeats its last answer on 97. Faults for tests and demos: latency, an outage switch, dropping idle
connections, corrupting or truncating the next answers, answering 96 instead, and
emulating a profile's charset and terminator.

TLS is optional: pass an ``ssl.SSLContext`` (server side) or a certificate and key file;
each connection then does its TLS handshake in its own thread (a failed handshake is
counted in ``tls_failures`` and closes that connection only).
"""

from __future__ import annotations

import json
import logging
import socket
import socketserver
import ssl
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hardware_sim.errors import IlsError
from hardware_sim.ils.circulation import Circulation
from hardware_sim.ils.data import (
    DEMO_ITEMS,
    DEMO_PATRONS,
    INSTITUTION,
    LOCATION,
    LOGIN_PASSWORD,
    LOGIN_USER,
    open_demo_db,
)
from smartlib.logs import TRACE, mask_text
from sync.errors import Sip2ChecksumError, Sip2Error
from sync.sip2.codec import Sip2Codec, Sip2StreamDecoder, UnknownMessage
from sync.sip2.messages import (
    LoginRequest,
    LoginResponse,
    Message,
    RequestAcsResend,
    RequestScResend,
    ScStatus,
)
from sync.sip2.profiles import get_profile

log = logging.getLogger(__name__)

_ANSWERED = frozenset(name[4:] for name in dir(Circulation) if name.startswith("_on_"))
"""The request types :class:`Circulation` answers (by class name)."""


@dataclass
class _Faults:
    latency: float = 0.0
    outage: bool = False
    idle_timeout: float | None = None
    corrupt_next: int = 0
    truncate_next: int = 0
    resend_next: int = 0
    garbage_next: int = 0
    garbage: bytes = b""


class _Handler(socketserver.BaseRequestHandler):
    server: _TcpServer

    def handle(self) -> None:
        self.server.owner._serve_connection(self.request)


class _TcpServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = False
    block_on_close = True

    def __init__(self, addr: tuple[str, int], owner: DemoIlsServer) -> None:
        self.owner = owner
        super().__init__(addr, _Handler)


def server_tls_context(cert: str | Path, key: str | Path | None = None, *,
                       client_ca: str | Path | None = None) -> ssl.SSLContext:
    """A server-side TLS context (TLS 1.2+) from PEM certificate and key files;
    ``client_ca``: require a client certificate issued by that CA (PEM).

    Raises:
        IlsError: a file is missing or not a matching certificate and key.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(str(cert), str(key) if key is not None else None)
    except (OSError, ssl.SSLError) as exc:
        raise IlsError(f"cannot load the TLS certificate {cert} / key {key}: {exc}") from exc
    if client_ca is not None:
        try:
            ctx.load_verify_locations(cafile=str(client_ca))
        except (OSError, ssl.SSLError) as exc:
            raise IlsError(f"cannot load the client CA file {client_ca}: {exc}") from exc
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


class DemoIlsServer:
    """The demo ILS, embeddable in tests, the simulator and ``smartlib sim ils serve``.

    Args:
        db_path: the SQLite file (filled with demo data if empty).
        host: the address to listen on.
        port: the port (0 = any free port; :meth:`start` returns it).
        user / password: the SIP2 login accepted (93).
        institution: the AO this ILS answers as.
        location: the ILS's own location.
        profile: the profile whose charset, terminator and holds field are emulated.
        idle_timeout: drop connections idle this long (None = never).
        latency: seconds to wait before each answer.
        require_login: refuse requests other than 93/99 before a successful login.
        seed: demo data seed when the database is empty.
        tls: a server-side ``ssl.SSLContext``: serve SIP2 over TLS.
        tls_cert / tls_key: PEM certificate (chain) and key files; builds the context
            when ``tls`` is not given (the key may be inside ``tls_cert``).

    Raises:
        IlsError: the certificate or key cannot be loaded.
    """

    def __init__(self, db_path: str | Path, host: str = "127.0.0.1", port: int = 0, *,
                 user: str = LOGIN_USER, password: str = LOGIN_PASSWORD,
                 institution: str = INSTITUTION, location: str = LOCATION,
                 profile: str = "generic", idle_timeout: float | None = None,
                 latency: float = 0.0, require_login: bool = True, seed: int = 7,
                 tls: ssl.SSLContext | None = None, tls_cert: str | Path | None = None,
                 tls_key: str | Path | None = None) -> None:
        if tls is None and tls_cert is not None:
            tls = server_tls_context(tls_cert, tls_key)
        elif tls_key is not None and tls_cert is None:
            raise IlsError("a TLS key needs its certificate (tls_cert)")
        self.tls = tls
        self.db_path = Path(db_path)
        self.host, self.port = host, port
        self.user, self.password = user, password
        self.institution, self.location = institution, location
        self.require_login = require_login
        self.faults = _Faults(latency=latency, idle_timeout=idle_timeout)
        self._db = open_demo_db(self.db_path, seed=seed)
        self.set_profile(profile)
        self.circulation = Circulation(self._db, institution=institution, location=location,
                                       holds_field=self.profile.holds_field,
                                       checkin_not_loaned_ok=self.profile.checkin_not_loaned_ok)
        self._server: _TcpServer | None = None
        self._thread: threading.Thread | None = None
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.counters = {"connections": 0, "requests": 0, "checksum_failures": 0,
                         "acs_resend_requests": 0, "sc_resend_requests": 0, "idle_drops": 0,
                         "outage_refusals": 0, "truncated": 0, "corrupted": 0, "logins": 0,
                         "tls_failures": 0, "undecodable_requests": 0, "unknown_requests": 0,
                         "unanswerable_requests": 0, "garbage": 0}
        self.received: list[str] = []
        """Command codes of every request received, in order (for tests)."""

    # ---- control --------------------------------------------------------------------------

    def start(self) -> int:
        """Listen and serve in a background thread; return the bound port."""
        if self._server is not None:
            return self.port
        try:
            self._server = _TcpServer((self.host, self.port), self)
        except OSError as exc:
            raise IlsError(f"cannot listen on {self.host}:{self.port}: {exc}") from exc
        self.port = self._server.server_address[1]
        self._stopping.clear()
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.1},
                                        name=f"demo-ils-{self.port}", daemon=True)
        self._thread.start()
        log.info("demo ILS listening on %s:%s", self.host, self.port)
        return self.port

    def stop(self) -> None:
        """Close every connection, stop serving and close the database (idempotent)."""
        self._stopping.set()
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            self.drop_connections()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        with self.circulation.lock:
            self._db.close()

    def __enter__(self) -> DemoIlsServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def set_outage(self, on: bool) -> None:
        """Switch an outage on (drop every connection, refuse new ones) or off."""
        self.faults.outage = on
        self.circulation.online = not on
        if on:
            self.drop_connections()

    def set_latency(self, seconds: float) -> None:
        """Wait this long before each answer."""
        self.faults.latency = max(0.0, seconds)

    def set_idle_timeout(self, seconds: float | None) -> None:
        """Drop connections idle this long (None = never), like Koha's client_timeout."""
        self.faults.idle_timeout = seconds

    def set_profile(self, name: str) -> None:
        """Emulate a profile's charset, terminator, delimiter, holds field (AS/CD) and its
        checkin answer for an item that was not on loan (ok = 0 when
        ``checkin_not_loaned_ok``, as Koha does).

        Raises:
            Sip2Error: no such profile.
        """
        prof = get_profile(name)
        self.profile = prof
        self.codec = Sip2Codec(prof.charset, terminator=prof.terminator, strict=False,
                               delimiter=prof.delimiter)
        if hasattr(self, "circulation"):
            self.circulation.holds_field = prof.holds_field
            self.circulation.checkin_not_loaned_ok = prof.checkin_not_loaned_ok

    def corrupt_next_responses(self, n: int = 1) -> None:
        """Send the next ``n`` answers with a wrong checksum (when the request had one)."""
        self.faults.corrupt_next = n

    def truncate_next_responses(self, n: int = 1) -> None:
        """Send half of the next ``n`` answers, then close the connection."""
        self.faults.truncate_next = n

    def garbage_next_responses(self, n: int = 1,
                               data: bytes = b"\x00\xff<html>502 Bad Gateway</html>\r") -> None:
        """Answer the next ``n`` requests with ``data`` (not SIP2) after applying them, as a
        broken proxy or a confused ILS would: the caller cannot know what happened."""
        self.faults.garbage_next, self.faults.garbage = n, data

    def request_resend_next(self, n: int = 1) -> None:
        """Answer the next ``n`` requests with 96 instead of applying them."""
        self.faults.resend_next = n

    def drop_connections(self) -> None:
        """Close every open client connection now."""
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError as exc:
                log.debug("demo ILS: shutdown of a connection failed: %s", exc)

    def duplicate_count(self) -> int:
        """How many circulation applications repeated an earlier one."""
        return self.circulation.duplicate_count()

    def stats(self) -> dict[str, Any]:
        """Database counts plus the server's counters."""
        return {**self.circulation.stats(), **self.counters}

    def login_info(self) -> dict[str, Any]:
        """What a client needs to try this ILS: port, login, demo patrons and items."""
        return {
            "host": self.host, "port": self.port, "tls": self.tls is not None,
            "profile": self.profile.name,
            "charset": self.profile.charset,
            "login": {"user": self.user, "password": self.password,
                      "institution": self.institution, "location": self.location},
            "patrons": [{"id": p.id, "pin": p.pin, "name": p.name, "note": p.note}
                        for p in DEMO_PATRONS[:3]],
            "items": list(DEMO_ITEMS["available"]),
        }

    def login_json(self) -> str:
        """:meth:`login_info` as one JSON line."""
        return json.dumps(self.login_info(), ensure_ascii=False)

    # ---- connection loop -------------------------------------------------------------------

    def _serve_connection(self, sock: socket.socket) -> None:
        if self.faults.outage or self._stopping.is_set():
            self.counters["outage_refusals"] += 1
            sock.close()
            return
        if self.tls is not None:
            try:
                sock.settimeout(5.0)
                sock = self.tls.wrap_socket(sock, server_side=True)
            except (ssl.SSLError, OSError) as exc:
                self.counters["tls_failures"] += 1
                log.info("demo ILS: TLS handshake failed: %s", exc)
                sock.close()
                return
        with self._lock:
            self._conns.add(sock)
        self.counters["connections"] += 1
        try:
            self._conversation(sock)
        except OSError as exc:
            log.debug("demo ILS: connection ended: %s", exc)
        finally:
            with self._lock:
                self._conns.discard(sock)
            sock.close()

    def _conversation(self, sock: socket.socket) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(0.2)
        decoder = Sip2StreamDecoder(self.codec)
        logged_in = not self.require_login
        last_answer: bytes | None = None
        last_io = time.monotonic()
        while not self._stopping.is_set():
            frame = decoder.next_frame()
            if frame is None:
                try:
                    data = sock.recv(65536)
                except TimeoutError:
                    idle = self.faults.idle_timeout
                    if idle is not None and time.monotonic() - last_io > idle:
                        self.counters["idle_drops"] += 1
                        log.info("demo ILS: dropping a connection idle for %.1fs", idle)
                        return
                    if self.faults.outage:
                        return
                    continue
                if not data:
                    return
                last_io = time.monotonic()
                decoder.receive_data(data)
                continue
            if log.isEnabledFor(TRACE):
                log.log(TRACE, "demo ILS << %s", mask_text(frame.decode(self.codec.charset, "replace")))
            self.counters["requests"] += 1
            with_checksum = len(frame) >= 6 and frame[-6:-4] == b"AZ"
            command = frame[:2].decode("ascii", "replace")
            try:
                decoded = self.codec.decode(frame)
            except Sip2ChecksumError:
                self.counters["checksum_failures"] += 1
                self.received.append(command)
                self._write(sock, self.codec.encode(RequestScResend(), error_detection=True))
                continue
            except Sip2Error as exc:
                # Garbled in transit as far as the ILS can tell: ask for it again (96), as
                # for a checksum failure, rather than leave the client waiting.
                self.received.append(command)
                log.warning("demo ILS: undecodable request %r: %s; answering 96", command, exc)
                self._ask_resend(sock, with_checksum, "undecodable_requests")
                continue
            msg = decoded.message
            if decoded.problems and not isinstance(msg, UnknownMessage):
                log.info("demo ILS: %s request decoded leniently: %s", command,
                         "; ".join(decoded.problems))
            self.received.append(command if isinstance(msg, UnknownMessage) else msg.COMMAND)
            if isinstance(msg, RequestAcsResend):
                self.counters["acs_resend_requests"] += 1
                if last_answer is not None:
                    self._write(sock, last_answer)
                continue
            if self.faults.resend_next > 0:
                self.faults.resend_next -= 1
                self.counters["sc_resend_requests"] += 1
                self._write(sock, self.codec.encode(RequestScResend(), error_detection=with_checksum))
                continue
            if isinstance(msg, LoginRequest):
                ok = msg.login_user_id == self.user and msg.login_password == self.password
                logged_in = ok
                self.counters["logins"] += int(ok)
                answer: Message = LoginResponse(ok=ok)
            elif not logged_in and not isinstance(msg, ScStatus):
                log.warning("demo ILS: %s before login; closing the connection", command)
                return
            elif isinstance(msg, UnknownMessage) or type(msg).__name__ not in _ANSWERED:
                # SIP2 has no "unsupported message" answer (the 98's BX lists what this ILS
                # supports); 96 is its only "could not take that" reply. A client that
                # resends the same request gets 96 again and must give up.
                log.warning("demo ILS: no answer for command %r; answering 96", command)
                self._ask_resend(sock, with_checksum, "unknown_requests")
                continue
            else:
                try:
                    answer = self.circulation.handle(msg)
                except Sip2Error as exc:
                    log.warning("demo ILS: cannot answer %s: %s; answering 96", command, exc)
                    self._ask_resend(sock, with_checksum, "unanswerable_requests")
                    continue
            if self.faults.latency:
                time.sleep(self.faults.latency)
            data = self.codec.encode(answer, decoded.sequence, error_detection=with_checksum)
            last_answer = data
            if self.faults.garbage_next > 0:
                self.faults.garbage_next -= 1
                self.counters["garbage"] += 1
                self._write(sock, self.faults.garbage)
                last_io = time.monotonic()
                continue
            if self.faults.truncate_next > 0:
                self.faults.truncate_next -= 1
                self.counters["truncated"] += 1
                self._write(sock, data[:len(data) // 2])
                return
            if with_checksum and self.faults.corrupt_next > 0:
                self.faults.corrupt_next -= 1
                self.counters["corrupted"] += 1
                body = data.rstrip(b"\r\n")
                bad = body[:-1] + (b"0" if body[-1:] != b"0" else b"1")
                self._write(sock, bad + data[len(body):])
                continue
            self._write(sock, data)
            last_io = time.monotonic()

    def _ask_resend(self, sock: socket.socket, with_checksum: bool, counter: str) -> None:
        """Answer 96 (request SC resend), mirroring the request's error detection."""
        self.counters[counter] += 1
        self._write(sock, self.codec.encode(RequestScResend(), error_detection=with_checksum))

    def _write(self, sock: socket.socket, data: bytes) -> None:
        if log.isEnabledFor(TRACE):
            log.log(TRACE, "demo ILS >> %s", mask_text(data.decode(self.codec.charset, "replace").rstrip()))
        sock.sendall(data)
