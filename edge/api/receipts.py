"""Receipt routes beyond JSON/text/ESC-POS (those are in :mod:`edge.api.patron`): the
session's receipt as a PDF download and e-mailed to the patron (text + PDF); and the receipt
of a confirmed fine payment (JSON, text, ESC/POS, PDF, printed, e-mailed).

An e-mail goes once per receipt (:class:`edge.receipt_mail.EmailOnce`): a repeated request
(a double press) answers the first outcome and sends nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from edge.api.deps import DeviceAuth, ServicesDep
from edge.api.payments import payment_desk
from edge.api.schemas import ErrorOut
from edge.errors import EdgeError
from edge.receipt import (
    build_payment_receipt,
    build_receipt,
    printer_bytes,
    receipt_pdf,
    receipt_text,
    site_now,
)
from edge.receipt_mail import ReceiptMailer, receipt_message
from edge.services.container import EdgeServices
from edge.services.sessions import Session

router = APIRouter(tags=["patron"], responses={
    code: {"model": ErrorOut} for code in (401, 404, 409, 422, 503)})


class EmailIn(BaseModel):
    """Where to send the receipt."""

    to: str | None = Field(None, max_length=254)
    """The patron's address as typed at the kiosk; unset: the address the library system
    gave for the patron (SIP2 BE, kept in the session; none: ``no_email_address``)."""
    retry: bool = False
    """After a *failed* send of this receipt, try again (a sent receipt is never re-sent)."""


class EmailedOut(BaseModel):
    sent: bool
    to_masked: str
    repeated: bool = False
    """True: this request sent nothing; it answers the first send of the same receipt."""


def _pdf_response(pdf: bytes) -> Response:
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": 'attachment; filename="receipt.pdf"'})


def _email(services: EdgeServices, session: Session, key: str, data: dict[str, Any],
           body: EmailIn) -> dict[str, Any]:
    to = body.to or session.email
    if not to:
        raise EdgeError("no_email_address", "no e-mail address is known for this patron: "
                        "give one in 'to'", status=409)
    settings = services.settings
    msg = receipt_message(data, session.language, sender=settings.smtp.sender, to=to,
                          pdf=receipt_pdf(data, session.language,
                                          font_dir=settings.printer.font_dir))
    send: Callable[[], None] = lambda: ReceiptMailer(settings.smtp).send(msg)  # noqa: E731
    outcome, repeated = services.receipt_emails.send(key, to, send, retry=body.retry)
    return outcome.answer(repeated)


@router.get("/sessions/{session_id}/receipt/pdf", response_class=Response,
            dependencies=[DeviceAuth],
            responses={200: {"content": {"application/pdf": {}}, "description": "the PDF"}})
def receipt_pdf_download(session_id: str, services: ServicesDep) -> Response:
    """The session's receipt as a PDF (DejaVu Sans, Vietnamese intact)."""
    session = services.sessions.get(session_id)
    data = build_receipt(session, services.settings.site.name,
                         site_now(services.settings.site.timezone))
    return _pdf_response(receipt_pdf(data, session.language,
                                      font_dir=services.settings.printer.font_dir))


@router.post("/sessions/{session_id}/receipt/email", response_model=EmailedOut,
             dependencies=[DeviceAuth])
def receipt_email(session_id: str, body: EmailIn, services: ServicesDep) -> dict[str, Any]:
    """E-mail the receipt (text and PDF) over the ``[smtp]`` relay with STARTTLS, once: the
    same receipt (the session with the same lines) asked again answers the first outcome."""
    session = services.sessions.get(session_id)
    data = build_receipt(session, services.settings.site.name,
                         site_now(services.settings.site.timezone))
    return _email(services, session, f"session/{session.id}/{len(session.lines)}", data, body)


# ---- a fine payment's receipt ------------------------------------------------------------


def payment_receipt(services: EdgeServices, session: Session,
                    reference: str) -> tuple[dict[str, Any], str]:
    """The receipt of the session patron's payment ``reference`` and its e-mail key.

    Raises:
        EdgeError: no such payment (404); ``payment_not_confirmed`` (409) while nothing of
            it has been taken by the library system (pending, expired, refused).
    """
    desk = payment_desk(services)
    payment = desk.status(session.patron_id, reference)
    if payment.status not in ("paid", "partial"):
        raise EdgeError("payment_not_confirmed", f"payment {reference} is {payment.status}: "
                        "a receipt is made once the library system has taken it", status=409)
    owed = payment.amount - payment.paid_amount if payment.status == "partial" else None
    data = build_payment_receipt(services.settings.site.name,
                                 site_now(services.settings.site.timezone), session.patron_id,
                                 payment.paid_amount, reference,
                                 fines=desk.paid_fines(session.patron_id, reference),
                                 language=session.language, owed=owed)
    return data, f"payment/{reference}/{payment.paid_amount}"


@router.get("/sessions/{session_id}/payments/{reference}/receipt", dependencies=[DeviceAuth],
            responses={200: {"content": {"text/plain": {}, "application/octet-stream": {},
                                         "application/pdf": {}}}})
def payment_receipt_get(session_id: str, reference: str, services: ServicesDep,
                        format: Literal["json", "text", "escpos", "pdf"] = Query("json")
                        ) -> Any:
    """A confirmed payment's receipt (amount paid, the fines, reference, library, time) as
    JSON, plain text, ESC/POS bytes (the ``[printer]`` mode) or PDF."""
    session = services.sessions.get(session_id)
    data, _key = payment_receipt(services, session, reference)
    if format == "text":
        return Response(receipt_text(data, session.language), media_type="text/plain")
    if format == "escpos":
        return Response(printer_bytes(data, session.language, services.settings.printer),
                        media_type="application/octet-stream")
    if format == "pdf":
        return _pdf_response(receipt_pdf(data, session.language,
                                         font_dir=services.settings.printer.font_dir))
    return data


@router.post("/sessions/{session_id}/payments/{reference}/receipt/print",
             dependencies=[DeviceAuth])
def payment_receipt_print(session_id: str, reference: str,
                          services: ServicesDep) -> dict[str, Any]:
    """Print a confirmed payment's receipt on the kiosk's printer."""
    session = services.sessions.get(session_id)
    data, _key = payment_receipt(services, session, reference)
    services.devices.print_bytes(printer_bytes(data, session.language, services.settings.printer))
    return {"printed": True}


@router.post("/sessions/{session_id}/payments/{reference}/receipt/email",
             response_model=EmailedOut, dependencies=[DeviceAuth])
def payment_receipt_email(session_id: str, reference: str, body: EmailIn,
                          services: ServicesDep) -> dict[str, Any]:
    """E-mail a confirmed payment's receipt, once per receipt (a partial payment's and the
    paid one's are two receipts)."""
    session = services.sessions.get(session_id)
    data, key = payment_receipt(services, session, reference)
    return _email(services, session, key, data, body)
