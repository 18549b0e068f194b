"""A site's PIN-sealing key pair for tests (the gateway's private key file, mode 0600, and
the public key the boxes are given: ``[gateway] private_key_file`` / ``public_key``), and
the encodings of a PIN that the privacy tests look for in captured bytes."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smartlib.sealing import generate_keypair, public_key, seal_pin, write_private_key


@dataclass(frozen=True)
class PinKeys:
    """One key pair, written to ``private_key_file``."""

    private_key: Any
    public_key: str
    private_key_file: Path

    def seal(self, pin: str) -> str:
        """``pin`` sealed as an edge seals it."""
        return seal_pin(pin, public_key(self.public_key))


def make_pin_keys(directory: Path, name: str = "gateway-pin.key") -> PinKeys:
    """A fresh key pair, its private half written to ``directory / name``."""
    key, public = generate_keypair()
    path = directory / name
    write_private_key(key, path)
    return PinKeys(key, public, path)


def pin_encodings(pin: str) -> dict[str, bytes]:
    """Ways a PIN could show up in bytes: as is, as a JSON string, UTF-16, hex, and the
    base64 (standard and URL-safe) of the PIN at each of the 3 alignments in a stream."""
    raw = pin.encode()
    out = {"ascii": raw, "json": b'"' + raw + b'"', "utf-16-le": pin.encode("utf-16-le"),
           "utf-16-be": pin.encode("utf-16-be"), "hex": binascii.hexlify(raw),
           "HEX": binascii.hexlify(raw).upper()}
    for shift in range(3):
        padded = b"\0" * shift + raw
        start, end = -(-shift * 8 // 6), (shift + len(raw)) * 8 // 6
        out[f"base64+{shift}"] = base64.b64encode(padded)[start:end]
        out[f"base64url+{shift}"] = base64.urlsafe_b64encode(padded)[start:end]
    return out


def pin_findings(pin: str, blobs: dict[str, bytes]) -> list[str]:
    """``name: encoding`` for each blob that holds ``pin`` in one of :func:`pin_encodings`."""
    encodings = pin_encodings(pin)
    return [f"{name}: {how}" for name, data in blobs.items()
            for how, enc in encodings.items() if enc in data]
