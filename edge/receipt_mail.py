"""E-mailed receipts: the message (the text, the PDF attached) and its delivery over SMTP.

Delivery always upgrades with STARTTLS and verifies the relay's certificate (the system's
CAs plus ``[smtp] ca_file``); a relay without STARTTLS is refused, never used in clear.
This module must not log the SMTP password or a whole patron address (:func:`mask_address`).
"""

from __future__ import annotations

import logging
import re
import smtplib
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from edge.errors import EdgeError
from edge.receipt import receipt_text, when_text
from smartlib.config import SmtpSection
from smartlib.logs import mask_email, mask_text

log = logging.getLogger(__name__)

ADDRESS = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+$")
"""What an address must look like (one plain ``local@domain.tld``, no display name)."""
SUBJECTS = {"vi": "Biên nhận", "en": "Receipt"}


class MailError(EdgeError):
    """The receipt could not be e-mailed (no relay configured, refused, unreachable)."""

    def __init__(self, message: str) -> None:
        super().__init__("mail_unavailable", message, status=503)


def mask_address(address: str) -> str:
    """``p***@example.org``: the first letter and the domain only."""
    return mask_email(address)


def receipt_message(receipt: dict[str, Any], language: str, *, sender: str, to: str,
                    pdf: bytes) -> EmailMessage:
    """The receipt's e-mail: its text as the body, the PDF as ``bien-nhan.pdf``.

    Raises:
        EdgeError: ``validation_error`` when ``to`` is not one plain address.
    """
    if not ADDRESS.match(to):
        raise EdgeError("validation_error", "the e-mail address is not valid", status=422)
    msg = EmailMessage()
    lang = language if language in SUBJECTS else "en"
    msg["Subject"] = f"{SUBJECTS[lang]} – {receipt['library']} – {when_text(receipt['when'])}"
    msg["From"] = sender
    msg["To"] = to
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = make_msgid(domain=sender.partition("@")[2] or None)
    msg.set_content(receipt_text(receipt, lang, width=72))
    msg.add_attachment(pdf, maintype="application", subtype="pdf",
                       filename="bien-nhan.pdf" if lang == "vi" else "receipt.pdf")
    return msg


class ReceiptMailer:
    """Sends receipt messages through the ``[smtp]`` relay.

    Args:
        smtp: the relay's settings.
        connect: makes the SMTP connection (``smtplib.SMTP``; injected by tests).
    """

    def __init__(self, smtp: SmtpSection,
                 connect: Callable[..., smtplib.SMTP] = smtplib.SMTP) -> None:
        self.smtp = smtp
        self._connect = connect

    def tls_context(self) -> ssl.SSLContext:
        """A verifying client context: the system's CAs and ``ca_file``."""
        ctx = ssl.create_default_context()
        if self.smtp.ca_file:
            ctx.load_verify_locations(cafile=self.smtp.ca_file)
        return ctx

    def send(self, msg: EmailMessage) -> None:
        """Deliver ``msg``: connect, STARTTLS, log in when a user is set, send.

        Raises:
            MailError: no relay configured, no STARTTLS offered, or the relay failed.
        """
        cfg = self.smtp
        if not cfg.host:
            raise MailError("no mail relay is configured ([smtp] host)")
        to = mask_address(str(msg["To"]))
        try:
            with self._connect(cfg.host, cfg.port, timeout=cfg.timeout_s) as conn:
                conn.ehlo()
                if not conn.has_extn("starttls"):
                    raise MailError(f"the mail relay {cfg.host} does not offer STARTTLS")
                conn.starttls(context=self.tls_context())
                conn.ehlo()
                if cfg.user:
                    conn.login(cfg.user, cfg.password.get_secret_value() if cfg.password else "")
                conn.send_message(msg)
        except MailError:
            log.warning("receipt to %s not sent: no STARTTLS at %s:%s", to, cfg.host, cfg.port)
            raise
        except (smtplib.SMTPException, OSError) as exc:
            # ssl.SSLError is an OSError; the message may echo the login: masked.
            why = mask_text(f"{type(exc).__name__}: {exc}")
            log.warning("receipt to %s not sent via %s:%s: %s", to, cfg.host, cfg.port, why)
            raise MailError(f"the mail relay failed ({type(exc).__name__})") from exc
        log.info("receipt e-mailed to %s via %s:%s", to, cfg.host, cfg.port)


EMAIL_EVENT = "receipt_email"
"""The ``device_events`` kind that journals one e-mailed receipt: ``{"key", "state"}`` with
``state`` ``sending`` (before the relay is called), ``sent`` or ``failed`` (with ``code``,
``message``, ``status``); ``to_masked`` only, never the whole address."""


@dataclass(frozen=True)
class EmailOutcome:
    """What became of one receipt's e-mail."""

    sent: bool
    to_masked: str
    code: str | None = None
    message: str | None = None
    status: int = 200

    def answer(self, repeated: bool) -> dict[str, Any]:
        """The route's answer; a failure is raised as its :class:`EdgeError` instead.

        Raises:
            EdgeError: the failure (``mail_unavailable`` ...), the first one's code and words.
        """
        if not self.sent:
            raise EdgeError(self.code or "mail_unavailable", self.message or "not sent",
                            status=self.status)
        return {"sent": True, "to_masked": self.to_masked, "repeated": repeated}


class EmailOnce:
    """One e-mail per receipt, enforced in the edge (a double press, a retried HTTP call).

    The first request for a key sends; a request while it is being sent waits for it and
    answers its outcome; a later one answers the recorded outcome without sending. Only after
    a *failed* send may a request with ``retry`` try again (a sent receipt is never sent
    twice). Each attempt is journaled (:data:`EMAIL_EVENT`) before the relay is called, so
    after a restart a key whose attempt has no outcome is answered as failed, not re-sent
    behind the patron's back.

    Args:
        events: the edge store's ``device_events`` repository (``record``, ``recent``).
        device: this kiosk's device id.
    """

    def __init__(self, events: Any, device: str, *, scan: int = 500) -> None:
        self.events, self.device, self.scan = events, device, scan
        self._lock = threading.Lock()
        # Keyed by (receipt, address): the address in memory only, never journaled whole.
        self._done: dict[tuple[str, str], EmailOutcome] = {}
        self._busy: dict[tuple[str, str], threading.Event] = {}

    def _journaled(self, key: str, masked: str) -> EmailOutcome | None:
        for e in self.events.recent(self.scan, device=self.device):
            if e.kind != EMAIL_EVENT or e.detail.get("key") != key or \
                    e.detail.get("to_masked") != masked:
                continue
            d = e.detail
            if d.get("state") == "sent":
                return EmailOutcome(True, str(d.get("to_masked") or ""))
            if d.get("state") == "failed":
                return EmailOutcome(False, str(d.get("to_masked") or ""), d.get("code"),
                                    d.get("message"), int(d.get("status") or 503))
            return EmailOutcome(False, str(d.get("to_masked") or ""), "mail_unavailable",
                                "the e-mail's outcome is unknown (the edge restarted while "
                                "sending)", 503)
        return None

    def send(self, key: str, to: str, deliver: Callable[[], None], *,
             retry: bool = False) -> tuple[EmailOutcome, bool]:
        """Deliver receipt ``key`` to ``to`` once: ``(outcome, repeated)``; ``repeated`` is
        True when this call sent nothing and answers an earlier attempt's outcome. Another
        address for the same receipt is another send (after a restart, only the masked
        address tells them apart)."""
        masked = mask_address(to)
        mem = (key, to.strip().lower())
        while True:
            with self._lock:
                done = self._done.get(mem)
                if done is None and mem not in self._busy:
                    done = self._journaled(key, masked)
                    if done is not None:
                        self._done[mem] = done
                if done is not None and not (retry and not done.sent):
                    return done, True
                busy = self._busy.get(mem)
                if busy is None:
                    mine = self._busy[mem] = threading.Event()
                    self._done.pop(mem, None)
                    break
            busy.wait()
            with self._lock:
                got = self._done.get(mem)
            if got is not None:
                return got, True
        outcome = EmailOutcome(False, masked, "mail_unavailable", "sending the e-mail failed",
                               503)
        try:
            self.events.record(self.device, EMAIL_EVENT, {"key": key, "state": "sending",
                                                          "to_masked": masked})
            deliver()
            outcome = EmailOutcome(True, masked)
        except EdgeError as exc:
            outcome = EmailOutcome(False, masked, exc.code, exc.message, exc.status)
        finally:
            try:
                self.events.record(self.device, EMAIL_EVENT, {
                    "key": key, "state": "sent" if outcome.sent else "failed",
                    "to_masked": masked, "code": outcome.code, "message": outcome.message,
                    "status": outcome.status})
            finally:
                with self._lock:
                    self._done[mem] = outcome
                    self._busy.pop(mem, None)
                mine.set()
        return outcome, False
