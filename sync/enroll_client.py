"""``smartlib enroll``: a fresh box gets its identity, certificate and configuration from the
central console with a one-time code.

The box makes its own key (EC P-256; it never leaves the box) and sends a certificate signing
request with the code to ``POST {central}/api/enrol``. On first contact the box cannot know
the site CA, so it trusts the answer only when its HMAC-SHA256, keyed from the code (which
only the admin, the box and the centre know), matches; ``--ca-fingerprint`` also pins the CA
certificate (the fingerprint is printed with the code). It then checks that the certificate
was issued by that CA for its own key, and writes ``ca.crt``, ``DEVICE.crt``, ``DEVICE.key``
(0600) and ``smartlib.toml``. The code and the key are never logged.

The HMAC helpers are shared with the centre (:mod:`central.enroll`); this module imports
nothing of the agent, the gateway or the edge.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sync.errors import (
    EnrolAnswerError,
    EnrolCodeExpiredError,
    EnrolCodeUnknownError,
    EnrolCodeUsedError,
    EnrolConnectionError,
    EnrolError,
    EnrolRefusedError,
)

log = logging.getLogger(__name__)

_REFUSALS: dict[str, type[EnrolRefusedError]] = {
    "code_unknown": EnrolCodeUnknownError, "code_used": EnrolCodeUsedError,
    "code_expired": EnrolCodeExpiredError}
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
PENDING_KEY = "enrol-pending.key"


def normalize_code(code: str) -> str:
    """A code as typed (any case, dashes, spaces) in its canonical form."""
    return re.sub(r"[\s-]", "", code).upper()


def mac_key(code: str) -> bytes:
    """The key of the answer's HMAC, derived from the code."""
    return hashlib.sha256(b"smartlib-enrol-mac\0" + normalize_code(code).encode()).digest()


def bundle_mac(code: str, bundle: dict[str, Any]) -> str:
    """HMAC-SHA256 (hex) of the bundle's canonical JSON (sorted keys, no spaces, UTF-8)."""
    body = json.dumps(bundle, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(mac_key(code), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Enrolment:
    """What ``smartlib enroll`` wrote."""

    site: str
    device: str
    role: str
    config_path: Path
    ca_path: Path
    cert_path: Path
    key_path: Path


def _write(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.chmod(mode)
    tmp.replace(path)


def _pending_key(out: Path) -> ec.EllipticCurvePrivateKey:
    """The box's new key, written (0600) before it is sent for signing, so a crash after the
    centre used the code leaves the key the certificate is for; reused by a retry."""
    path = out / PENDING_KEY
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), None)
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return key
    key = ec.generate_private_key(ec.SECP256R1())
    _write(path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()), 0o600)
    return key


def _csr(key: ec.EllipticCurvePrivateKey) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "smartlib-enrol")])
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def _post(url: str, body: dict[str, str], verify: bool | str, timeout_s: float,
          http: httpx.Client | None) -> Any:
    try:
        resp = (http.post(url, json=body) if http is not None
                else httpx.post(url, json=body, verify=verify, timeout=timeout_s))
    except httpx.HTTPError as exc:
        raise EnrolConnectionError(f"cannot reach the central console at {url}: {exc}") from exc
    try:
        data = resp.json()
    except ValueError as exc:
        raise EnrolConnectionError(f"{url} answered {resp.status_code}, not JSON: is it the "
                                   "central console?") from exc
    if resp.status_code != 200:
        reason = str(data.get("reason", "")) if isinstance(data, dict) else ""
        detail = str(data.get("detail", "")) if isinstance(data, dict) else ""
        cls = _REFUSALS.get(reason, EnrolRefusedError)
        raise cls(reason or str(resp.status_code),
                  f"enrolment refused ({reason or resp.status_code}): {detail}")
    return data


def check_answer(code: str, answer: Any, key: ec.EllipticCurvePrivateKey,
                 ca_fingerprint: str | None) -> dict[str, Any]:
    """The bundle of an authentic answer.

    Raises:
        EnrolAnswerError: no valid bundle, a wrong HMAC, a CA other than the pinned one, or
            a certificate not issued by the CA for ``key``.
    """
    if not isinstance(answer, dict) or not isinstance(answer.get("bundle"), dict):
        raise EnrolAnswerError("the answer holds no enrolment bundle")
    bundle: dict[str, Any] = answer["bundle"]
    if not hmac.compare_digest(str(answer.get("mac", "")), bundle_mac(code, bundle)):
        raise EnrolAnswerError("the answer's HMAC does not match the code: it did not come "
                               "from the console that issued the code; nothing was written")
    try:
        ca = x509.load_pem_x509_certificate(str(bundle["ca_cert"]).encode())
        cert = x509.load_pem_x509_certificate(str(bundle["cert"]).encode())
        for field in ("site", "device", "role"):
            if not _ID.match(str(bundle[field])):
                raise EnrolAnswerError(f"the bundle's {field} {bundle[field]!r} is not an id")
        int(bundle["broker"]["port"])
        str(bundle["config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise EnrolAnswerError(f"the bundle is incomplete or malformed: {exc}") from exc
    if ca_fingerprint:
        pinned = ca_fingerprint.replace(":", "").lower()
        got = ca.fingerprint(hashes.SHA256()).hex()
        if not hmac.compare_digest(pinned, got):
            raise EnrolAnswerError(f"the CA's SHA-256 fingerprint is {got}, not the pinned "
                                   f"{pinned}")
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError) as exc:
        raise EnrolAnswerError(f"the certificate was not issued by the CA: {exc}") from exc
    if cert.public_key() != key.public_key():
        raise EnrolAnswerError("the certificate is not for this box's key")
    return bundle


_FILE_LINE = re.compile(r'^(ca_file|cert_file|key_file) = "([^"/][^"]*)"$', re.MULTILINE)


def local_config(text: str, out: Path) -> str:
    """The centre's ``smartlib.toml`` with its relative certificate paths made absolute
    (in ``out``), so the box's services find them from any working directory.

    Raises:
        EnrolAnswerError: the configuration is not TOML.
    """
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise EnrolAnswerError(f"the configuration sent is not TOML: {exc}") from exc
    base = out.resolve()
    return _FILE_LINE.sub(lambda m: f'{m[1]} = "{base / m[2]}"', text)


def enrol(central: str, code: str, out: Path, *, ca_fingerprint: str | None = None,
          ca_file: str | None = None, timeout_s: float = 30.0,
          http: httpx.Client | None = None) -> Enrolment:
    """Enrol this box; write its files into ``out``.

    Args:
        central: the console's base URL (``https://central.example:8090``).
        code: the one-time code.
        out: where the files go (made if missing).
        ca_fingerprint: the site CA's SHA-256 (hex, colons allowed) to pin.
        ca_file: verify the console's HTTPS certificate with this CA (default: the answer
            is authenticated by its HMAC only; see the module docstring).
        http: an HTTP client to send with (tests: the app's TestClient).

    Raises:
        EnrolError: refused (a typed subclass says why), unreachable, or a forged answer.
    """
    if not normalize_code(code):
        raise EnrolRefusedError("bad_request", "the code is empty")
    try:
        out.mkdir(parents=True, exist_ok=True)
        key = _pending_key(out)
    except (OSError, ValueError) as exc:
        raise EnrolError(f"cannot prepare the key in {out}: {exc}") from exc
    url = central.rstrip("/") + "/api/enrol"
    verify: bool | str = ca_file if ca_file else not url.startswith("https://")
    answer = _post(url, {"code": code, "csr": _csr(key)}, verify, timeout_s, http)
    bundle = check_answer(code, answer, key, ca_fingerprint)
    config = local_config(str(bundle["config"]), out)
    device = str(bundle["device"])
    done = Enrolment(site=str(bundle["site"]), device=device, role=str(bundle["role"]),
                     config_path=out / "smartlib.toml", ca_path=out / "ca.crt",
                     cert_path=out / f"{device}.crt", key_path=out / f"{device}.key")
    try:
        _write(done.ca_path, str(bundle["ca_cert"]).encode(), 0o644)
        _write(done.cert_path, str(bundle["cert"]).encode(), 0o644)
        (out / PENDING_KEY).chmod(0o600)
        (out / PENDING_KEY).replace(done.key_path)
        _write(done.config_path, config.encode(), 0o644)
    except OSError as exc:
        raise EnrolError(f"cannot write the enrolment into {out}: {exc}") from exc
    log.info("enrolled as %s/%s (%s) by %s", done.site, device, done.role, central)
    return done


CODE_ENV = "SMARTLIB_ENROL_CODE"


def read_code(code: str | None, code_file: str | None, *, stdin: Any = None,
              environ: Any = None) -> str:
    """The one-time code from, in order: ``--code-file``, ``--code -`` (a line on stdin),
    ``--code CODE`` (visible to every user in ``ps``), the ``SMARTLIB_ENROL_CODE``
    environment variable, or a hidden prompt when stdin is a terminal.

    Raises:
        click.UsageError: no code from any of them, or two ways at once.
    """
    import sys

    stdin = stdin if stdin is not None else sys.stdin
    environ = environ if environ is not None else os.environ
    if code is not None and code_file is not None:
        raise click.UsageError("give --code or --code-file, not both")
    if code_file is not None:
        try:
            text = Path(code_file).read_text(encoding="utf-8")
        except OSError as exc:
            raise click.UsageError(f"--code-file {code_file}: {exc.strerror}") from exc
        return text.strip()
    if code == "-":
        return stdin.readline().strip()
    if code is not None:
        return code
    if environ.get(CODE_ENV):
        return str(environ[CODE_ENV]).strip()
    if stdin.isatty():
        return str(click.prompt("enrolment code", hide_input=True)).strip()
    raise click.UsageError(f"no code: give --code - (stdin), --code-file FILE or "
                           f"{CODE_ENV}")


@click.command("enroll")
@click.option("--central", "central", required=True, metavar="URL",
              help="The central console's URL (https://…).")
@click.option("--code", default=None, metavar="CODE|-",
              help="The one-time code; '-' reads it from stdin. A code given here is "
                   "visible to other users of this machine (ps): prefer '-', --code-file, "
                   f"{CODE_ENV} or the prompt (a terminal, no --code).")
@click.option("--code-file", type=click.Path(dir_okay=False), default=None,
              help="Read the one-time code from this file.")
@click.option("--out", "out", type=click.Path(file_okay=False), default=".", show_default=True,
              help="Where to write smartlib.toml, ca.crt, DEVICE.crt and DEVICE.key.")
@click.option("--ca-fingerprint", default=None, metavar="SHA256",
              help="The site CA's fingerprint printed with the code: refuse any other CA.")
@click.option("--ca-file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Verify the console's HTTPS certificate with this CA.")
def enroll(central: str, code: str | None, code_file: str | None, out: str,
           ca_fingerprint: str | None, ca_file: str | None) -> None:
    """Enrol this box with a one-time code: its identity, certificate, CA and configuration.

    The code comes from stdin (--code -), a file (--code-file), SMARTLIB_ENROL_CODE, or a
    prompt on a terminal; --code CODE works but shows it to every user in ps."""
    target = Path(out)
    if (target / "smartlib.toml").exists():
        raise click.ClickException(f"{target / 'smartlib.toml'} exists: this box is enrolled "
                                   "already (move it away to enrol again)")
    secret = read_code(code, code_file)
    try:
        done = enrol(central, secret, target, ca_fingerprint=ca_fingerprint, ca_file=ca_file)
    except EnrolError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"enrolled {done.site}/{done.device} as {done.role}")
    for path in (done.config_path, done.ca_path, done.cert_path, done.key_path):
        click.echo(f"  wrote {path}")
