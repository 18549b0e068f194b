"""Sealed PINs: a libsodium sealed box (X25519 + XSalsa20-Poly1305, through PyNaCl) to
the site gateway's public key.

An edge box seals a patron's PIN with the gateway's public key (``[gateway] public_key``,
base64) before the PIN is written anywhere; only a gateway holding the private key
(``[gateway] private_key_file``, mode 0600) can open it. A sealed box is anonymous and
randomised: the same PIN seals to a different blob each time.

This module must not log, store or return a PIN in any form other than the sealed blob
(and, for :func:`open_pin`, the clear PIN handed to the caller in memory).
"""

from __future__ import annotations

import base64
import binascii
import os
import stat
from pathlib import Path

from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, PublicKey, SealedBox

from smartlib.errors import SealError

MAX_SECRET_BYTES = 64
"""The longest secret that may be sealed (a PIN or password, UTF-8)."""
SEALED_OVERHEAD = 48
"""Bytes a sealed box adds to its plaintext: an ephemeral public key (32) and a MAC (16)."""
MAX_SEALED_B64 = 4 * ((MAX_SECRET_BYTES + SEALED_OVERHEAD + 2) // 3)
"""The longest base64 text a sealed secret takes."""


def _key_bytes(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SealError(f"{what} is not base64: {exc}") from exc
    if len(raw) != 32:
        raise SealError(f"{what} must be 32 bytes (an X25519 key), got {len(raw)}")
    return raw


def public_key(text: str) -> PublicKey:
    """The gateway's public key from its base64 text (``[gateway] public_key``).

    Raises:
        SealError: not base64, or not 32 bytes.
    """
    return PublicKey(_key_bytes(text, "the gateway public key"))


def generate_keypair() -> tuple[PrivateKey, str]:
    """A new key pair: the private key and the public key as base64 text."""
    key = PrivateKey.generate()
    return key, base64.b64encode(bytes(key.public_key)).decode()


def public_text(key: PrivateKey) -> str:
    """The base64 text of ``key``'s public half (what the boxes are given)."""
    return base64.b64encode(bytes(key.public_key)).decode()


def write_private_key(key: PrivateKey, path: str | Path, *, overwrite: bool = False) -> None:
    """Write ``key`` (base64, one line) to ``path``, created with mode 0600.

    Raises:
        SealError: the file exists (without ``overwrite``) or cannot be written.
    """
    p = Path(path)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    try:
        fd = os.open(p, flags, 0o600)
    except FileExistsError as exc:
        raise SealError(f"{p} exists; refusing to overwrite a key") from exc
    except OSError as exc:
        raise SealError(f"cannot write {p}: {exc.strerror}") from exc
    with os.fdopen(fd, "w") as fh:
        os.fchmod(fh.fileno(), 0o600)
        fh.write(base64.b64encode(bytes(key)).decode() + "\n")


def load_private_key(path: str | Path) -> PrivateKey:
    """The gateway's private key from ``path`` (base64, written by :func:`write_private_key`).

    Raises:
        SealError: the file is missing, readable by group or others, or not a key.
    """
    p = Path(path)
    try:
        mode = p.stat().st_mode
        text = p.read_text()
    except OSError as exc:
        raise SealError(f"cannot read the gateway private key {p}: {exc.strerror}") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SealError(f"the gateway private key {p} is open to others "
                        f"(mode {stat.S_IMODE(mode):04o}); chmod 600 it")
    return PrivateKey(_key_bytes(text, f"the gateway private key {p}"))


def seal_pin(pin: str, key: PublicKey) -> str:
    """``pin`` sealed to ``key``, as base64 text.

    Raises:
        SealError: the PIN is empty or longer than :data:`MAX_SECRET_BYTES`.
    """
    raw = pin.encode()
    if not raw or len(raw) > MAX_SECRET_BYTES:
        raise SealError(f"a PIN to seal must be 1 to {MAX_SECRET_BYTES} bytes")
    return base64.b64encode(SealedBox(key).encrypt(raw)).decode()


def open_pin(sealed: str, key: PrivateKey) -> str:
    """The PIN inside ``sealed`` (base64 of a sealed box), opened with ``key``.

    Raises:
        SealError: not base64, or the box does not open with this key (a wrong key, or a
            blob that was tampered with); the message never holds the PIN.
    """
    try:
        raw = base64.b64decode(sealed, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SealError("the sealed PIN is not base64") from exc
    try:
        opened = SealedBox(key).decrypt(raw)
    except CryptoError as exc:
        raise SealError("the sealed PIN does not open with this gateway's key") from exc
    try:
        return opened.decode()
    except UnicodeDecodeError as exc:
        raise SealError("the sealed PIN is not UTF-8 text") from exc
