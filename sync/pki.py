"""The site CA: a private certificate authority for one library, made with ``cryptography``.

``smartlib ca init|issue|rotate|revoke`` and ``smartlib broker config --tls`` call it; the
central server holds the CA, the boxes receive its certificate and their own (see
docs/sync.md, "TLS and the site CA"). A CA directory holds:

* ``ca.key`` (mode 0600) and ``ca.crt``: the CA (EC P-256, ten years by default);
* ``issued.json``: every certificate issued (serial, identity, kind, expiry, where written),
  what ``rotate`` reissues and ``revoke`` revokes;
* ``crl.pem``: the certificate revocation list Mosquitto reads (``crlfile``), rewritten on
  every revoke and rotate (it is valid for ``CRL_DAYS``; rotate before it lapses).

Server certificates carry the host names and addresses as subject alternative names (server
auth); client certificates carry the broker user name as common name (Mosquitto's
``use_identity_as_username``) and the site as organizational unit (client auth).
This module writes files only; it never starts or signals a broker.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from sync.errors import PkiError

CA_DAYS = 3650
CERT_DAYS = 397
CRL_DAYS = 30
ROTATE_WITHIN_DAYS = 30
"""``rotate`` reissues what expires within this many days."""

Kind = Literal["server", "client"]
_PEM = serialization.Encoding.PEM


@dataclass(frozen=True)
class IssuedCert:
    """One certificate the CA issued (a row of ``issued.json``)."""

    serial: int
    kind: Kind
    name: str
    """The common name: a host name (server) or a broker user name (client)."""
    site: str
    hostnames: tuple[str, ...]
    not_after: str
    """ISO 8601, UTC."""
    cert_path: str
    key_path: str
    revoked: bool = False


@dataclass(frozen=True)
class SiteCa:
    """A site CA on disk; open one with :func:`open_ca`."""

    directory: Path
    site: str
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @property
    def cert_path(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def crl_path(self) -> Path:
        return self.directory / "crl.pem"

    @property
    def _index_path(self) -> Path:
        return self.directory / "issued.json"

    def issued(self) -> list[IssuedCert]:
        """Every certificate issued, oldest first."""
        try:
            rows = json.loads(self._index_path.read_text())
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            raise PkiError(f"cannot read {self._index_path}: {exc}") from exc
        return [IssuedCert(**{**r, "hostnames": tuple(r["hostnames"])}) for r in rows]

    def _save_index(self, rows: list[IssuedCert]) -> None:
        _write(self._index_path, json.dumps([asdict(r) for r in rows], indent=1).encode(), 0o644)


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` with ``mode`` from the first byte (a key is never readable by others)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        tmp.chmod(mode)
        tmp.replace(path)
    except OSError as exc:
        raise PkiError(f"cannot write {path}: {exc.strerror or exc}") from exc


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(_PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def init_ca(directory: Path, site: str, *, days: int = CA_DAYS, force: bool = False) -> SiteCa:
    """Create the site CA in ``directory`` (``ca.key`` 0600, ``ca.crt``, an empty CRL).

    Raises:
        PkiError: a CA is already there (without ``force``), or the directory is unwritable.
    """
    if (directory / "ca.key").exists() and not force:
        raise PkiError(f"{directory} already holds a CA (ca.key); use it, or pass --force")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"smartlib site CA {site}"),
                      x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, site)])
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write(directory / "ca.key", _key_pem(key), 0o600)
    _write(directory / "ca.crt", cert.public_bytes(_PEM), 0o644)
    ca = SiteCa(directory, site, key, cert)
    ca._save_index([])
    write_crl(ca)
    return ca


def open_ca(directory: Path) -> SiteCa:
    """Open the CA made by :func:`init_ca`.

    Raises:
        PkiError: ``ca.key`` or ``ca.crt`` is missing or not PEM.
    """
    try:
        key = serialization.load_pem_private_key((directory / "ca.key").read_bytes(), None)
        cert = x509.load_pem_x509_certificate((directory / "ca.crt").read_bytes())
    except FileNotFoundError as exc:
        raise PkiError(f"no site CA in {directory} ({exc.filename} missing); "
                       "run smartlib ca init first") from exc
    except (OSError, ValueError, TypeError) as exc:
        raise PkiError(f"cannot read the site CA in {directory}: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise PkiError(f"{directory / 'ca.key'} is not an EC key")
    ous = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
    return SiteCa(directory, str(ous[0].value) if ous else "", key, cert)


def _alt_names(hostnames: list[str]) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = []
    for h in hostnames:
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            out.append(x509.DNSName(h))
    return out


def _check_name(name: str) -> None:
    if not name or any(c in name for c in "/\\\n") or name.startswith("."):
        raise PkiError(f"invalid certificate name {name!r}")


def _issue(ca: SiteCa, *, kind: Kind, name: str, site: str, hostnames: list[str],
           out: Path, stem: str, days: int, not_before: dt.datetime | None) -> IssuedCert:
    _check_name(name)
    if kind == "server" and not hostnames:
        raise PkiError("a server certificate needs at least one host name (--server HOST)")
    key = ec.generate_private_key(ec.SECP256R1())
    cert_path, key_path = out / f"{stem}.crt", out / f"{stem}.key"
    cert = _sign(ca, key.public_key(), kind=kind, name=name, site=site, hostnames=hostnames,
                 days=days, not_before=not_before)
    _write(key_path, _key_pem(key), 0o600)
    _write(cert_path, cert.public_bytes(_PEM), 0o644)
    return _record(ca, cert, kind=kind, name=name, site=site, hostnames=hostnames,
                   cert_path=str(cert_path.resolve()), key_path=str(key_path.resolve()))


def _sign(ca: SiteCa, public_key: ec.EllipticCurvePublicKey, *, kind: Kind, name: str,
          site: str, hostnames: list[str], days: int,
          not_before: dt.datetime | None) -> x509.Certificate:
    start = not_before or (_now() - dt.timedelta(minutes=5))
    subject = [x509.NameAttribute(NameOID.COMMON_NAME, name)]
    if site:
        subject.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, site))
    usage = ExtendedKeyUsageOID.SERVER_AUTH if kind == "server" else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name(subject))
        .issuer_name(ca.cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
                       critical=False)
    )
    if hostnames:
        builder = builder.add_extension(x509.SubjectAlternativeName(_alt_names(hostnames)),
                                        critical=False)
    return builder.sign(ca.key, hashes.SHA256())


def _record(ca: SiteCa, cert: x509.Certificate, *, kind: Kind, name: str, site: str,
            hostnames: list[str], cert_path: str, key_path: str) -> IssuedCert:
    row = IssuedCert(serial=cert.serial_number, kind=kind, name=name, site=site,
                     hostnames=tuple(hostnames), not_after=cert.not_valid_after_utc.isoformat(),
                     cert_path=cert_path, key_path=key_path)
    ca._save_index([*ca.issued(), row])
    return row


def sign_client_csr(ca: SiteCa, csr_pem: bytes, user: str, *, site: str,
                    days: int = CERT_DAYS) -> tuple[bytes, IssuedCert]:
    """Sign a box's certificate signing request (its key never leaves the box) as the client
    certificate of broker user ``user`` of ``site``: the common name and site come from the
    arguments, never from the request. Returns the certificate (PEM) and its index row (no
    files: ``cert_path`` and ``key_path`` say where the box keeps them, ``"(enrolled)"``).

    Raises:
        PkiError: the request is not PEM, its signature is wrong, its key is not EC P-256,
            or ``user`` is not a valid name.
    """
    _check_name(user)
    try:
        csr = x509.load_pem_x509_csr(csr_pem)
    except ValueError as exc:
        raise PkiError(f"the certificate request is not a PEM CSR: {exc}") from exc
    if not csr.is_signature_valid:
        raise PkiError("the certificate request's signature is wrong")
    key = csr.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise PkiError("the certificate request's key must be EC P-256")
    cert = _sign(ca, key, kind="client", name=user, site=site, hostnames=[], days=days,
                 not_before=None)
    row = _record(ca, cert, kind="client", name=user, site=site, hostnames=[],
                  cert_path="(enrolled)", key_path="(enrolled)")
    return cert.public_bytes(_PEM), row


def fingerprint(cert_pem: bytes) -> str:
    """A certificate's SHA-256 fingerprint, as lowercase hex without separators."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    return cert.fingerprint(hashes.SHA256()).hex()


def issue_server(ca: SiteCa, hostnames: list[str], out: Path, *, days: int = CERT_DAYS,
                 stem: str = "server", not_before: dt.datetime | None = None) -> IssuedCert:
    """A server certificate for ``hostnames`` (names or IP addresses) in ``out/stem.crt|key``.

    Raises:
        PkiError: no host name, or ``out`` cannot be written.
    """
    return _issue(ca, kind="server", name=hostnames[0] if hostnames else "", site=ca.site,
                  hostnames=hostnames, out=out, stem=stem, days=days, not_before=not_before)


def issue_client(ca: SiteCa, user: str, out: Path, *, site: str | None = None,
                 days: int = CERT_DAYS, stem: str | None = None,
                 not_before: dt.datetime | None = None) -> IssuedCert:
    """A client certificate whose common name is the broker user ``user`` (a device id, or
    the gateway's user), in ``out/<stem or user>.crt|key``.

    Raises:
        PkiError: an invalid name, or ``out`` cannot be written.
    """
    return _issue(ca, kind="client", name=user, site=site if site is not None else ca.site,
                  hostnames=[], out=out, stem=stem or user, days=days, not_before=not_before)


def parse_device(spec: str) -> tuple[str, str]:
    """``SITE/DEVICE`` as ``(site, device)``.

    Raises:
        PkiError: not two non-empty parts.
    """
    site, sep, device = spec.partition("/")
    if not sep or not site or not device or "/" in device:
        raise PkiError(f"{spec!r}: expected SITE/DEVICE (demo-site/kiosk-01)")
    return site, device


def revoke(ca: SiteCa, name: str, site: str | None = None) -> list[IssuedCert]:
    """Revoke every certificate issued to client ``name`` (of ``site`` when given) and rewrite
    the CRL. Returns what was revoked.

    Raises:
        PkiError: nothing was issued to that name.
    """
    rows = ca.issued()
    hit = [r for r in rows if r.kind == "client" and r.name == name
           and (site is None or r.site == site) and not r.revoked]
    if not hit:
        where = f"{site}/{name}" if site else name
        raise PkiError(f"no unrevoked certificate was issued to {where}")
    serials = {r.serial for r in hit}
    ca._save_index([IssuedCert(**{**asdict(r), "revoked": True}) if r.serial in serials else r
                    for r in rows])
    write_crl(ca)
    return hit


def write_crl(ca: SiteCa, *, days: int = CRL_DAYS) -> Path:
    """Write ``crl.pem``: every revoked serial, signed by the CA, valid ``days``."""
    now = _now()
    builder = (x509.CertificateRevocationListBuilder()
               .issuer_name(ca.cert.subject)
               .last_update(now - dt.timedelta(minutes=5))
               .next_update(now + dt.timedelta(days=days)))
    for r in ca.issued():
        if r.revoked:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(r.serial)
                .revocation_date(now - dt.timedelta(minutes=5)).build())
    crl = builder.sign(ca.key, hashes.SHA256())
    _write(ca.crl_path, crl.public_bytes(_PEM), 0o644)
    return ca.crl_path


def due_for_rotation(ca: SiteCa, within_days: int = ROTATE_WITHIN_DAYS,
                     now: dt.datetime | None = None) -> list[IssuedCert]:
    """The newest unrevoked certificate of each identity, if it expires within ``within_days``."""
    limit = (now or _now()) + dt.timedelta(days=within_days)
    newest: dict[tuple[str, str, str], IssuedCert] = {}
    for r in ca.issued():
        if not r.revoked:
            newest[(r.kind, r.site, r.name)] = r
    return [r for r in newest.values() if dt.datetime.fromisoformat(r.not_after) <= limit]


def rotate(ca: SiteCa, within_days: int = ROTATE_WITHIN_DAYS,
           days: int = CERT_DAYS) -> list[IssuedCert]:
    """Reissue (new key, same names, same files) every certificate due within ``within_days``,
    and refresh the CRL. Returns the new certificates; restart or signal the broker and the
    boxes to load them."""
    out: list[IssuedCert] = []
    for r in due_for_rotation(ca, within_days):
        cert_path = Path(r.cert_path)
        out.append(_issue(ca, kind=r.kind, name=r.name, site=r.site, hostnames=list(r.hostnames),
                          out=cert_path.parent, stem=cert_path.stem, days=days, not_before=None))
    write_crl(ca)
    return out

