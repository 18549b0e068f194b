"""The SIP2 client: one TCP (optionally TLS) connection to an ILS, and a small pool of them.

The client is the thin transport around the sans-IO codec: it logs in with 93, keeps the
connection alive with 99 inside the profile's idle timeout, reconnects, logs in again and
resends once on EOF or reset, asks for a resend with 97 when an answer fails its checksum,
and resends its request when the ILS answers 96. It never retries after a timeout (the ILS
may have applied the request); the caller (the gateway's ledger) decides.
"""

from __future__ import annotations

import datetime as _dt
import logging
import queue
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from smartlib.logs import TRACE, mask_identifier, mask_text
from sync.errors import (
    Sip2ChecksumError,
    Sip2ConnectionError,
    Sip2DateError,
    Sip2Error,
    Sip2LoginError,
    Sip2NotSentError,
    Sip2PoolTimeout,
    Sip2ProtocolError,
    Sip2TimeoutError,
)
from sync.sip2.codec import Decoded, Sip2Codec, Sip2StreamDecoder, parse_date
from sync.sip2.messages import (
    EXPECTED_RESPONSE,
    AcsStatus,
    BlockPatron,
    Checkin,
    CheckinResponse,
    Checkout,
    CheckoutResponse,
    EndPatronSession,
    EndSessionResponse,
    FeePaid,
    FeePaidResponse,
    Hold,
    HoldResponse,
    ItemInformation,
    ItemInformationResponse,
    ItemStatusUpdate,
    ItemStatusUpdateResponse,
    LoginRequest,
    LoginResponse,
    Message,
    PatronInformation,
    PatronInformationResponse,
    PatronStatus,
    PatronStatusResponse,
    Renew,
    RenewAll,
    RenewAllResponse,
    RenewResponse,
    RequestAcsResend,
    RequestScResend,
    ScStatus,
)
from sync.sip2.profiles import Sip2Profile, get_profile

log = logging.getLogger(__name__)

R = TypeVar("R", bound=Message)
ExtraFields = Mapping[str, str] | Sequence[tuple[str, str]] | None

SUMMARY_POSITIONS = {"hold": 0, "overdue": 1, "charged": 2, "fine": 3, "recall": 4,
                     "unavailable": 5}
"""Which position of the 63's summary asks for which item list."""

_MAX_RESENDS = 3  # 96/97 rounds per exchange before giving up


class Sip2TlsError(Sip2ConnectionError):
    """The TLS handshake failed (``verify_failed``: the ILS's certificate was not trusted
    or did not match the host name)."""

    def __init__(self, message: str, *, verify_failed: bool = False) -> None:
        super().__init__(message)
        self.verify_failed = verify_failed


class Sip2TlsContext(ssl.SSLContext):
    """A client TLS context that knows what it trusts (named when a certificate is refused)."""

    trust: str = "the system CAs"


def client_tls_context(ca_file: str | Path | None = None, *, insecure: bool = False,
                       cert_file: str | Path | None = None,
                       key_file: str | Path | None = None) -> ssl.SSLContext:
    """A client TLS context (TLS 1.2+, host name checked): the system CAs, or only
    ``ca_file``; ``cert_file``/``key_file``: the client certificate to present (an ILS that
    asks for one); ``insecure`` checks nothing.

    Raises:
        Sip2TlsError: ``ca_file`` or the client certificate cannot be read as PEM.
    """
    ctx = Sip2TlsContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.trust = "nothing (insecure)"
    else:
        try:
            if ca_file is not None:
                ctx.load_verify_locations(cafile=str(ca_file))
                ctx.trust = f"CA file {ca_file}"
            else:
                ctx.load_default_certs()
        except (OSError, ssl.SSLError) as exc:
            raise Sip2TlsError(f"cannot load the TLS CA file {ca_file}: {exc}") from exc
    if cert_file is not None:
        try:
            ctx.load_cert_chain(str(cert_file), str(key_file) if key_file else None)
        except (OSError, ssl.SSLError) as exc:
            raise Sip2TlsError(f"cannot load the TLS client certificate {cert_file} / key "
                               f"{key_file}: {exc}") from exc
    return ctx


class Sip2Client:
    """A SIP2 connection to one ILS.

    Args:
        host: the ILS's host.
        port: its SIP2 port.
        user: the 93 login user (CN).
        password: the 93 login password (CO).
        institution: the institution id (AO) sent with every request.
        location: the location code (CP) sent at login and as the checkin location.
        profile: a :class:`Sip2Profile` or the name of a built-in one.
        terminal_password: the AC field, if the ILS wants one.
        tls: True for a default TLS context (system CAs, host name checked), or an
            ``ssl.SSLContext`` (see :func:`client_tls_context`). A failed handshake raises
            :class:`Sip2TlsError` and is not retried.
        server_hostname: the TLS server name (defaults to ``host``).
        timeout: seconds to wait for an answer.
        connect_timeout: seconds to wait for the TCP (and TLS) connection.
        keepalive: run a background thread that sends 99 before the idle timeout.
        charset / error_detection / terminator: override the profile's values.
        language: the 3-digit language code sent in 63/23.
        clock: a monotonic clock in seconds (``time.monotonic``); it times idleness for the
            keepalive and :attr:`idle_seconds`. Tests pass a fake one.
    """

    def __init__(self, host: str, port: int, *, user: str, password: str, institution: str,
                 location: str | None = None, profile: Sip2Profile | str = "generic",
                 terminal_password: str | None = None,
                 tls: bool | ssl.SSLContext | None = None, server_hostname: str | None = None,
                 timeout: float = 10.0, connect_timeout: float = 5.0, keepalive: bool = True,
                 charset: str | None = None, error_detection: bool | None = None,
                 terminator: bytes | None = None, language: str = "000",
                 clock: Callable[[], float] = time.monotonic) -> None:
        prof = get_profile(profile) if isinstance(profile, str) else profile
        changes: dict[str, Any] = {}
        if charset is not None:
            changes["charset"] = charset
        if error_detection is not None:
            changes["error_detection"] = error_detection
        if terminator is not None:
            changes["terminator"] = terminator
        self.profile = replace(prof, **changes) if changes else prof
        self.codec: Sip2Codec = self.profile.codec()
        self.host, self.port = host, port
        self.user, self._password = user, password
        self.institution, self.location = institution, location
        self.terminal_password = terminal_password
        self.tls = tls
        self.server_hostname = server_hostname or host
        self.timeout, self.connect_timeout = timeout, connect_timeout
        self.language = language
        self._keepalive_enabled = keepalive
        self._clock = clock
        self._sock: socket.socket | None = None
        self._decoder = Sip2StreamDecoder(self.codec)
        self._lock = threading.RLock()
        self._seq = 0
        self._last_io = self._clock()
        self._stop = threading.Event()
        self._ka_thread: threading.Thread | None = None
        self.last_request: bytes | None = None
        self.last_response: Decoded | None = None
        self.acs_status: AcsStatus | None = None
        self.stats = {"connects": 0, "reconnects": 0, "resends_after_eof": 0,
                      "acs_resend_requests": 0, "sc_resends": 0, "keepalives": 0,
                      "exchanges": 0}

    # ---- connection -------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Whether a socket is open (it may still have been closed by the peer)."""
        return self._sock is not None

    @property
    def idle_seconds(self) -> float:
        """Seconds since the last byte was sent or received."""
        return self._clock() - self._last_io

    def connect(self) -> LoginResponse:
        """Open the connection and log in; start the keepalive thread.

        Raises:
            Sip2ConnectionError: the ILS cannot be reached.
            Sip2LoginError: the ILS refused the login.
        """
        with self._lock:
            self._close_socket()
            resp = self._open_and_login()
        if self._keepalive_enabled and self._ka_thread is None:
            self._stop.clear()
            self._ka_thread = threading.Thread(target=self._keepalive_loop,
                                               name=f"sip2-keepalive-{self.host}:{self.port}",
                                               daemon=True)
            self._ka_thread.start()
        return resp

    def close(self) -> None:
        """Stop the keepalive thread and close the connection (idempotent)."""
        self._stop.set()
        t, self._ka_thread = self._ka_thread, None
        if t is not None and t is not threading.current_thread():
            t.join(timeout=self.timeout + 1)
        with self._lock:
            self._close_socket()

    def __enter__(self) -> Sip2Client:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _open_and_login(self) -> LoginResponse:
        self._open_socket()
        return self.login()

    def _open_socket(self) -> None:
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        except OSError as exc:
            raise Sip2ConnectionError(f"cannot connect to {self.host}:{self.port}: {exc}") from exc
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.tls:
                ctx = self.tls if isinstance(self.tls, ssl.SSLContext) else ssl.create_default_context()
                sock = ctx.wrap_socket(sock, server_hostname=self.server_hostname)
            sock.settimeout(self.timeout)
        except ssl.SSLCertVerificationError as exc:
            sock.close()
            trust = getattr(self.tls, "trust", "the system CAs")
            raise Sip2TlsError(f"TLS certificate of {self.server_hostname} ({self.host}:{self.port}) "
                               f"not trusted with {trust}: {exc.verify_message or exc}",
                               verify_failed=True) from exc
        except (OSError, ssl.SSLError) as exc:
            sock.close()
            raise Sip2TlsError(f"TLS handshake with {self.host}:{self.port} failed: {exc}") from exc
        self._sock = sock
        self._decoder = Sip2StreamDecoder(self.codec)
        self._last_io = self._clock()
        self.stats["connects"] += 1
        log.debug("sip2 connected to %s:%s", self.host, self.port)

    def _close_socket(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            try:
                sock.close()
            except OSError as exc:
                log.debug("sip2 close failed: %s", exc)

    def _keepalive_loop(self) -> None:
        interval = max(self.profile.keepalive_interval, 0.05)
        while not self._stop.wait(min(interval / 4, 5.0)):
            if self._sock is None or self.idle_seconds < interval:
                continue
            if not self._lock.acquire(blocking=False):
                continue
            try:
                if self._sock is not None and self.idle_seconds >= interval:
                    self._exchange(self._sc_status_msg(), AcsStatus)
                    self.stats["keepalives"] += 1
            except Sip2Error as exc:
                log.warning("sip2 keepalive to %s:%s failed: %s", self.host, self.port, exc)
                self._close_socket()
            finally:
                self._lock.release()

    # ---- exchange ---------------------------------------------------------------------

    def _next_seq(self) -> int:
        seq = self._seq
        self._seq = (self._seq + 1) % 10
        return seq

    def _send(self, frame: bytes) -> None:
        assert self._sock is not None
        if log.isEnabledFor(TRACE):
            log.log(TRACE, "sip2 >> %s", mask_text(frame.decode(self.codec.charset, "replace").rstrip()))
        self._sock.sendall(frame)
        self._last_io = self._clock()

    def _read(self) -> Decoded:
        """Read one frame; raises EOFError on a closed connection."""
        assert self._sock is not None
        while True:
            frame = self._decoder.next_frame()
            if frame is not None:
                if log.isEnabledFor(TRACE):
                    log.log(TRACE, "sip2 << %s", mask_text(frame.decode(self.codec.charset, "replace")))
                return self.codec.decode(frame)
            try:
                data = self._sock.recv(65536)
            except TimeoutError as exc:
                raise Sip2TimeoutError(
                    f"no answer from {self.host}:{self.port} within {self.timeout}s") from exc
            self._last_io = self._clock()
            if not data:
                raise EOFError("connection closed by the ILS"
                               + (" mid-message" if self._decoder.buffered else ""))
            self._decoder.receive_data(data)

    def _roundtrip(self, frame: bytes, seq: int | None) -> Decoded:
        """Send one frame and read its answer, handling 96 and checksum failures (97)."""
        self._send(frame)
        resends = 0
        while True:
            try:
                decoded = self._read()
            except Sip2ChecksumError as exc:
                resends += 1
                if resends > _MAX_RESENDS:
                    raise Sip2ProtocolError(f"answers keep failing their checksum: {exc}", "AZ") from exc
                log.warning("sip2 answer failed its checksum (%s); sending 97", exc)
                self.stats["acs_resend_requests"] += 1
                self._send(self.codec.encode(RequestAcsResend()))
                continue
            if isinstance(decoded.message, RequestScResend):
                resends += 1
                if resends > _MAX_RESENDS:
                    cmd = frame[:2].decode("ascii", "replace")
                    raise Sip2ProtocolError(
                        f"the ILS answered {resends} times 96 (request SC resend) to a {cmd!r} "
                        "request: it cannot read it or does not answer it", "command")
                self.stats["sc_resends"] += 1
                self._send(frame)
                continue
            if (seq is not None and decoded.sequence is not None and decoded.sequence != seq):
                log.warning("sip2 dropping a stale answer (sequence %s, expected %s)",
                            decoded.sequence, seq)
                continue
            return decoded

    def _exchange_frame(self, build: Callable[[int], bytes], *, login: bool = False,
                        resend: bool = True) -> Decoded:
        with self._lock:
            resent = False
            while True:
                if self._sock is None:
                    if login:
                        self._open_socket()
                    else:
                        try:
                            self._reconnect()
                        except Sip2Error as exc:
                            if resend or resent:
                                raise
                            # A circulation request (resend=False) that never left: say
                            # so, the caller may send it again without asking the ILS.
                            raise Sip2NotSentError(
                                f"cannot reach {self.host}:{self.port} to send the request "
                                f"(not sent): {exc}") from exc
                seq = self._next_seq()
                frame = build(seq)
                self.last_request = frame
                try:
                    decoded = self._roundtrip(frame, seq if self.codec.error_detection else None)
                except Sip2TimeoutError:
                    self._close_socket()
                    raise
                except (EOFError, ConnectionError, ssl.SSLError, OSError) as exc:
                    self._close_socket()
                    if resent or login:
                        raise Sip2ConnectionError(
                            f"connection to {self.host}:{self.port} lost: {exc}") from exc
                    if not resend:
                        raise Sip2ConnectionError(
                            f"connection to {self.host}:{self.port} lost after the request "
                            f"was sent; it may have been applied (not resent): {exc}",
                            maybe_applied=True) from exc
                    resent = True
                    self.stats["resends_after_eof"] += 1
                    log.info("sip2 connection lost (%s); reconnecting and resending once", exc)
                    continue
                except Sip2Error:
                    self._close_socket()
                    raise
                self.last_response = decoded
                self.stats["exchanges"] += 1
                return decoded

    def _reconnect(self) -> None:
        self.stats["reconnects"] += 1
        self._open_and_login()

    def _exchange(self, msg: Message, expect: type[R], *, resend: bool = True) -> R:
        decoded = self._exchange_frame(lambda seq: self.codec.encode(msg, seq), resend=resend)
        got = decoded.message
        if not isinstance(got, expect):
            raise Sip2ProtocolError(
                f"expected {expect.COMMAND} {expect.__name__} in answer to {msg.COMMAND}, "
                f"got {got.COMMAND} {type(got).__name__}")
        return got

    def exchange(self, msg: Message) -> Message:
        """Send any request and return the ILS's answer (checked against the expected type)."""
        decoded = self._exchange_frame(lambda seq: self.codec.encode(msg, seq))
        want = EXPECTED_RESPONSE.get(msg.COMMAND)
        if want is not None and decoded.message.COMMAND != want:
            raise Sip2ProtocolError(
                f"expected {want} in answer to {msg.COMMAND}, got {decoded.message.COMMAND}")
        return decoded.message

    def send_raw(self, msg: str | bytes | Message) -> Decoded:
        """Send one message as given and return the decoded answer.

        A ``str`` is the frame text without terminator; when error detection is on and the
        text has no ``AZ`` trailer, one is added. ``bytes`` are sent exactly as given.
        """
        if isinstance(msg, Message):
            m = msg
            return self._exchange_frame(lambda seq: self.codec.encode(m, seq))
        if isinstance(msg, bytes):
            data = msg
            return self._exchange_frame(lambda seq: data)
        text = msg.rstrip("\r\n")
        has_trailer = len(text) >= 6 and text[-6:-4] == "AZ"
        if has_trailer:
            return self._exchange_frame(
                lambda seq: text.encode(self.codec.charset) + self.codec.terminator)
        control = text[:2] in ("96", "97")
        return self._exchange_frame(
            lambda seq: self.codec.encode_text(text, seq, control=control))

    # ---- requests ---------------------------------------------------------------------

    def login(self) -> LoginResponse:
        """Send 93 on the open connection.

        Raises:
            Sip2LoginError: the ILS answered ok = 0.
        """
        msg = LoginRequest(uid_algorithm=self.profile.uid_algorithm,
                           pwd_algorithm=self.profile.pwd_algorithm,
                           login_user_id=self.user, login_password=self._password,
                           location_code=self.location)
        decoded = self._exchange_frame(lambda seq: self.codec.encode(msg, seq), login=True)
        resp = decoded.message
        if not isinstance(resp, LoginResponse):
            self._close_socket()
            raise Sip2ProtocolError(f"expected 94 in answer to 93, got {resp.COMMAND}")
        if not resp.ok:
            self._close_socket()
            raise Sip2LoginError(f"the ILS refused the SIP2 login of user {self.user!r}", "CN")
        return resp

    def _sc_status_msg(self) -> ScStatus:
        return ScStatus(status_code="0", max_print_width=f"{self.profile.max_print_width:03d}",
                        protocol_version="2.00")

    def sc_status(self) -> AcsStatus:
        """99 -> 98: the ILS's status (also used as the keepalive)."""
        resp = self._exchange(self._sc_status_msg(), AcsStatus)
        self.acs_status = resp
        return resp

    def sip_date(self, when: Any = None, field: str = "transaction_date") -> str:
        """A SIP2 date from None (now), a datetime/date, a SIP2 date, or an ISO 8601 string.

        A date without a time (an ISO ``2026-12-07`` due date) means the end of that day.

        Raises:
            Sip2DateError: ``when`` is not a date, or names an impossible one (the error
                names ``field``).
        """
        if when is None:
            return self.profile.date()
        if isinstance(when, str):
            if len(when) == 18 and when[:8].isdigit():
                parse_date(when, field)  # validates; raises Sip2DateError naming the field
                return when
            try:
                when = (_dt.date.fromisoformat(when) if len(when) == 10
                        else _dt.datetime.fromisoformat(when))
            except ValueError:
                raise Sip2DateError(f"not a SIP2 or ISO 8601 date: {when!r}", field) from None
        if isinstance(when, _dt.date) and not isinstance(when, _dt.datetime):
            when = _dt.datetime.combine(when, _dt.time(23, 59, 59))
        return self.profile.date(when)

    def _bc(self, barcode: str) -> str:
        return self.profile.normalize_barcode(barcode)

    def patron_information(self, patron_id: str, pin: str | None = None,
                           summary: str | None = None, *, start_item: int | None = None,
                           end_item: int | None = None) -> PatronInformationResponse:
        """63 -> 64.

        Args:
            patron_id: the patron's barcode.
            pin: the patron's PIN (AD), verified by the ILS (CQ in the answer).
            summary: a 10-character summary, or one of ``hold``, ``overdue``, ``charged``,
                ``fine``, ``recall``, ``unavailable`` to ask for that item list.
        """
        if summary is None:
            summ = " " * 10
        elif summary in SUMMARY_POSITIONS:
            pos = SUMMARY_POSITIONS[summary]
            summ = " " * pos + "Y" + " " * (9 - pos)
        else:
            summ = summary.ljust(10)[:10]
        log.debug("sip2 63 patron %s", mask_identifier(patron_id))
        msg = PatronInformation(language=self.language, transaction_date=self.sip_date(),
                                summary=summ, institution_id=self.institution,
                                patron_id=self._bc(patron_id),
                                terminal_password=self.terminal_password, patron_password=pin,
                                start_item=None if start_item is None else str(start_item),
                                end_item=None if end_item is None else str(end_item))
        return self._exchange(msg, PatronInformationResponse)

    def patron_status(self, patron_id: str, pin: str | None = None) -> PatronStatusResponse:
        """23 -> 24."""
        msg = PatronStatus(language=self.language, transaction_date=self.sip_date(),
                           institution_id=self.institution, patron_id=self._bc(patron_id),
                           terminal_password=self.terminal_password or "",
                           patron_password=pin or "")
        return self._exchange(msg, PatronStatusResponse)

    @staticmethod
    def _extra(extra_fields: ExtraFields) -> tuple[tuple[str, str], ...]:
        if not extra_fields:
            return ()
        items = extra_fields.items() if isinstance(extra_fields, Mapping) else extra_fields
        return tuple((str(k), str(v)) for k, v in items)

    def checkout(self, patron_id: str, item_id: str, *, pin: str | None = None,
                 no_block: bool = False, transaction_date: Any = None,
                 nb_due_date: Any = None, fee_acknowledged: bool | None = None,
                 extra_fields: ExtraFields = None, resend: bool = True) -> CheckoutResponse:
        """11 -> 12.

        Args:
            no_block: an offline transaction replayed later (the ILS must not refuse it for
                blocks); pass the original ``transaction_date`` and the ``nb_due_date`` the
                kiosk promised.
            transaction_date: a SIP2 date string or a datetime; default now.
            extra_fields: extension fields, e.g. ``{"XK": key}`` for the idempotency key.
            resend: resend once after a lost connection. The gateway passes False: the ILS
                may already have applied the request, and only the ledger may decide.

        Raises:
            Sip2ConnectionError: with ``maybe_applied`` set when ``resend`` is False and the
                connection broke after the request was sent.
        """
        msg = Checkout(renewal_policy=True, no_block=no_block,
                       transaction_date=self.sip_date(transaction_date),
                       nb_due_date=(None if nb_due_date is None
                                    else self.sip_date(nb_due_date, "nb_due_date")),
                       institution_id=self.institution, patron_id=self._bc(patron_id),
                       item_id=self._bc(item_id), terminal_password=self.terminal_password or "",
                       patron_password=pin, fee_acknowledged=fee_acknowledged,
                       extra=self._extra(extra_fields))
        return self._exchange(msg, CheckoutResponse, resend=resend)

    def checkin(self, item_id: str, *, no_block: bool = False, transaction_date: Any = None,
                return_date: Any = None, location: str | None = None,
                extra_fields: ExtraFields = None, resend: bool = True) -> CheckinResponse:
        """09 -> 10 (CT/CV/CY/DA routing hints are in the answer); ``resend`` as for checkout."""
        tdate = self.sip_date(transaction_date)
        msg = Checkin(no_block=no_block, transaction_date=tdate,
                      return_date=tdate if return_date is None else self.sip_date(return_date),
                      current_location=location or self.location or "",
                      institution_id=self.institution, item_id=self._bc(item_id),
                      terminal_password=self.terminal_password or "",
                      extra=self._extra(extra_fields))
        return self._exchange(msg, CheckinResponse, resend=resend)

    def renew(self, patron_id: str, item_id: str, *, pin: str | None = None,
              no_block: bool = False, transaction_date: Any = None, nb_due_date: Any = None,
              extra_fields: ExtraFields = None, resend: bool = True) -> RenewResponse:
        """29 -> 30; ``resend`` as for checkout."""
        msg = Renew(third_party_allowed=False, no_block=no_block,
                    transaction_date=self.sip_date(transaction_date),
                    nb_due_date=(None if nb_due_date is None
                                    else self.sip_date(nb_due_date, "nb_due_date")),
                    institution_id=self.institution, patron_id=self._bc(patron_id),
                    patron_password=pin, item_id=self._bc(item_id),
                    terminal_password=self.terminal_password, extra=self._extra(extra_fields))
        return self._exchange(msg, RenewResponse, resend=resend)

    def renew_all(self, patron_id: str, pin: str | None = None, *,
                  resend: bool = False) -> RenewAllResponse:
        """65 -> 66. Not resent after a broken connection unless ``resend`` (its effect
        cannot be told apart from the state before it)."""
        msg = RenewAll(transaction_date=self.sip_date(), institution_id=self.institution,
                       patron_id=self._bc(patron_id), patron_password=pin,
                       terminal_password=self.terminal_password)
        return self._exchange(msg, RenewAllResponse, resend=resend)

    def item_information(self, item_id: str) -> ItemInformationResponse:
        """17 -> 18."""
        msg = ItemInformation(transaction_date=self.sip_date(), institution_id=self.institution,
                              item_id=self._bc(item_id), terminal_password=self.terminal_password)
        return self._exchange(msg, ItemInformationResponse)

    def end_patron_session(self, patron_id: str, pin: str | None = None) -> EndSessionResponse:
        """35 -> 36."""
        msg = EndPatronSession(transaction_date=self.sip_date(), institution_id=self.institution,
                               patron_id=self._bc(patron_id),
                               terminal_password=self.terminal_password, patron_password=pin)
        return self._exchange(msg, EndSessionResponse)

    def fee_paid(self, patron_id: str, amount: str, *, fee_type: str = "01",
                 payment_type: str = "00", currency: str = "VND", pin: str | None = None,
                 fee_id: str | None = None, transaction_id: str | None = None,
                 resend: bool = False) -> FeePaidResponse:
        """37 -> 38. Not resent after a broken connection unless ``resend`` (a payment
        applied twice reduces the balance twice)."""
        msg = FeePaid(transaction_date=self.sip_date(), fee_type=fee_type,
                      payment_type=payment_type, currency_type=currency, fee_amount=amount,
                      institution_id=self.institution, patron_id=self._bc(patron_id),
                      terminal_password=self.terminal_password, patron_password=pin,
                      fee_identifier=fee_id, transaction_id=transaction_id)
        return self._exchange(msg, FeePaidResponse, resend=resend)

    def hold(self, patron_id: str, *, mode: str = "+", item_id: str | None = None,
             title: str | None = None, pickup_location: str | None = None,
             expiration_date: Any = None, hold_type: str | None = None,
             pin: str | None = None) -> HoldResponse:
        """15 -> 16 (mode ``+`` place, ``-`` cancel, ``*`` change)."""
        msg = Hold(hold_mode=mode, transaction_date=self.sip_date(),
                   expiration_date=None if expiration_date is None else self.sip_date(expiration_date),
                   pickup_location=pickup_location, hold_type=hold_type,
                   institution_id=self.institution, patron_id=self._bc(patron_id),
                   patron_password=pin, item_id=None if item_id is None else self._bc(item_id),
                   title=title, terminal_password=self.terminal_password)
        return self._exchange(msg, HoldResponse)

    def item_status_update(self, item_id: str, item_properties: str) -> ItemStatusUpdateResponse:
        """19 -> 20."""
        msg = ItemStatusUpdate(transaction_date=self.sip_date(), institution_id=self.institution,
                               item_id=self._bc(item_id), terminal_password=self.terminal_password,
                               item_properties=item_properties)
        return self._exchange(msg, ItemStatusUpdateResponse)

    def block_patron(self, patron_id: str, message: str, *,
                     card_retained: bool = False) -> PatronStatusResponse:
        """01 -> 24."""
        msg = BlockPatron(card_retained=card_retained, transaction_date=self.sip_date(),
                          institution_id=self.institution, blocked_card_message=message,
                          patron_id=self._bc(patron_id),
                          terminal_password=self.terminal_password or "")
        return self._exchange(msg, PatronStatusResponse)


class Sip2ConnectionPool:
    """A bounded pool of logged-in :class:`Sip2Client` connections for the gateway.

    ``with pool.connection() as client:`` borrows a client; a client whose connection
    failed inside the block is discarded, and an idle client is health-checked with 99
    before it is lent again.

    Args:
        factory: makes a new, not yet connected client.
        size: the most connections open at once.
        acquire_timeout: seconds to wait for a free connection.
        health_check_after: idle seconds after which a client is checked with 99.
    """

    def __init__(self, factory: Callable[[], Sip2Client], size: int = 4, *,
                 acquire_timeout: float = 30.0, health_check_after: float = 30.0) -> None:
        if size < 1:
            raise ValueError("pool size must be at least 1")
        self._factory = factory
        self.size = size
        self.acquire_timeout = acquire_timeout
        self.health_check_after = health_check_after
        self._idle: queue.LifoQueue[Sip2Client] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(size)
        self._lock = threading.Lock()
        self._all: set[Sip2Client] = set()
        self._closed = False
        self.stats = {"created": 0, "discarded": 0, "health_checks": 0}

    def _take(self) -> Sip2Client:
        try:
            client = self._idle.get_nowait()
        except queue.Empty:
            client = self._factory()
            client.connect()
            with self._lock:
                self._all.add(client)
                self.stats["created"] += 1
            return client
        if not client.connected or client.idle_seconds >= self.health_check_after:
            self.stats["health_checks"] += 1
            try:
                client.sc_status()
            except Sip2Error as exc:
                log.info("sip2 pooled connection failed its health check (%s); replacing", exc)
                self._discard(client)
                return self._take()
        return client

    def _discard(self, client: Sip2Client) -> None:
        client.close()
        with self._lock:
            self._all.discard(client)
            self.stats["discarded"] += 1

    @contextmanager
    def connection(self) -> Iterator[Sip2Client]:
        """Borrow a logged-in client.

        Raises:
            Sip2PoolTimeout: every connection stayed busy for ``acquire_timeout``.
            Sip2ConnectionError / Sip2LoginError: a new connection could not be made.
        """
        if self._closed:
            raise Sip2ConnectionError("the SIP2 pool is closed")
        if not self._slots.acquire(timeout=self.acquire_timeout):
            raise Sip2PoolTimeout(f"no SIP2 connection free within {self.acquire_timeout}s")
        client: Sip2Client | None = None
        try:
            client = self._take()
            yield client
        except (Sip2ConnectionError, Sip2ProtocolError):
            if client is not None:
                self._discard(client)
                client = None
            raise
        finally:
            if client is not None:
                if self._closed:
                    self._discard(client)
                else:
                    self._idle.put(client)
            self._slots.release()

    def close(self) -> None:
        """Close every connection (idle ones now; borrowed ones when returned)."""
        self._closed = True
        while True:
            try:
                client = self._idle.get_nowait()
            except queue.Empty:
                break
            self._discard(client)

    def __enter__(self) -> Sip2ConnectionPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["SUMMARY_POSITIONS", "Sip2Client", "Sip2ConnectionPool"]
