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
from collections.abc import Callable
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
