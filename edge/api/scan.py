"""The scan route (device token): a keyboard-wedge scan the kiosk read, checked by the edge.

A wedge scanner types into the kiosk's window, so the kiosk sees the keys; whether they were
a scan or a person typing stays the kiosk's call (timing and affixes, ``kiosk_ui.wedge``).
What a scan may hold is the scanner driver's rule (:mod:`drivers.scanner`: the configured
``[card_reader] scanner_prefix``/``scanner_suffix`` required and stripped, no control or
format characters, spaces trimmed, not empty, at most ``MAX_SCAN`` characters), and this
route is where the kiosk gets it applied: ``POST /scans {"raw": ...}`` answers the patron
identifier, or ``409 bad_scan`` with the reason (never the scan).

It only reads a scan: it does not log anyone in (the kiosk then sends ``POST /sessions``
with source ``barcode`` and the answer's ``scan_token``: :mod:`edge.services.scan_tokens`)
and it stores nothing on disk.
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from drivers.errors import ScannerError
from drivers.scanner import KeyboardWedgeScanner
from edge.api.deps import DeviceAuth, ServicesDep
from edge.api.schemas import ErrorOut
from edge.errors import EdgeError

router = APIRouter(tags=["patron"], responses={
    code: {"model": ErrorOut} for code in (401, 403, 409, 422)})


class ScanIn(BaseModel):
    """What the scanner typed, affixes included (a trailing CR/LF is allowed)."""

    model_config = ConfigDict(extra="forbid")
    raw: str = Field(max_length=1024)


class ScanOut(BaseModel):
    """The patron identifier the scan holds, and the token that lets it log in as a barcode."""

    identifier: str
    scan_token: str
    """Single use, for this identifier, good for ``policy.scan_token_s`` seconds: send it
    with ``POST /sessions`` (source ``barcode``) so the login counts as a scan."""


def wedge_suffix(configured: str) -> str:
    """The configured suffix as a wedge delivers it: CR/LF at its end are the Enter key that
    ends the scan, which the kiosk reads as "scan complete" and does not send as text."""
    return configured.rstrip("\r\n")


@router.post("/scans", response_model=ScanOut, dependencies=[DeviceAuth])
def read_scan(body: ScanIn, services: ServicesDep) -> ScanOut:
    """Check and normalise one keyboard-wedge scan (``bad_scan`` with the reason if unusable)."""
    c = services.settings.card_reader
    scanner = KeyboardWedgeScanner(prefix=c.scanner_prefix, suffix=wedge_suffix(c.scanner_suffix),
                                   name="kiosk-wedge")
    try:
        cred = scanner.feed(body.raw)
    except ScannerError as exc:   # the reason names what was wrong, never the scan's content
        raise EdgeError("bad_scan", str(exc)) from exc   # 409, as every refusal
    token = services.sessions.scan_tokens.issue(cred.identifier, "barcode")
    return ScanOut(identifier=cred.identifier, scan_token=token)
