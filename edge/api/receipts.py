"""Receipt routes beyond JSON/text/ESC-POS (those are in :mod:`edge.api.patron`): the
session's receipt as a PDF download, and e-mailed to the patron (text + PDF)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from edge.api.deps import DeviceAuth, ServicesDep
from edge.api.schemas import ErrorOut
from edge.errors import EdgeError
from edge.receipt import build_receipt, receipt_pdf, site_now
from edge.receipt_mail import ReceiptMailer, mask_address, receipt_message

router = APIRouter(tags=["patron"], responses={
    code: {"model": ErrorOut} for code in (401, 404, 409, 422, 503)})


class EmailIn(BaseModel):
    """Where to send the receipt."""

    to: str | None = Field(None, max_length=254)
    """The patron's address as typed at the kiosk; unset: the address the library system
    gave for the patron (SIP2 BE, kept in the session; none: ``no_email_address``)."""


class EmailedOut(BaseModel):
    sent: bool
    to_masked: str


@router.get("/sessions/{session_id}/receipt/pdf", response_class=Response,
            dependencies=[DeviceAuth],
            responses={200: {"content": {"application/pdf": {}}, "description": "the PDF"}})
def receipt_pdf_download(session_id: str, services: ServicesDep) -> Response:
    """The session's receipt as a PDF (DejaVu Sans, Vietnamese intact)."""
    session = services.sessions.get(session_id)
    data = build_receipt(session, services.settings.site.name,
                         site_now(services.settings.site.timezone))
    pdf = receipt_pdf(data, session.language, font_dir=services.settings.printer.font_dir)
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": 'attachment; filename="receipt.pdf"'})


@router.post("/sessions/{session_id}/receipt/email", response_model=EmailedOut,
             dependencies=[DeviceAuth])
def receipt_email(session_id: str, body: EmailIn, services: ServicesDep) -> dict[str, Any]:
    """E-mail the receipt (text and PDF) over the ``[smtp]`` relay with STARTTLS."""
    session = services.sessions.get(session_id)
    to = body.to or session.email
    if not to:
        raise EdgeError("no_email_address", "no e-mail address is known for this patron: "
                        "give one in 'to'", status=409)
    settings = services.settings
    data = build_receipt(session, settings.site.name, site_now(settings.site.timezone))
    msg = receipt_message(data, session.language, sender=settings.smtp.sender, to=to,
                          pdf=receipt_pdf(data, session.language,
                                          font_dir=settings.printer.font_dir))
    ReceiptMailer(settings.smtp).send(msg)
    return {"sent": True, "to_masked": mask_address(to)}
