"""Reader classes by name, imported only when asked for.

Built-in names map to ``"module:Class"`` strings; third-party vendors add theirs to the
``smartlib.readers`` entry-point group. A vendor whose module fails to import breaks only
that vendor.

``sim`` is the FEIG driver: the simulator (``smartlib sim serve``) speaks the FEIG ISC
protocol byte for byte, so ``driver = "sim"`` only documents that ``url`` points at it
(a pty path or ``socket://127.0.0.1:PORT``). ``llrp`` is the UHF driver for fixed readers
speaking LLRP (``llrp://host:port``), the simulator's UHF reader included.
"""

from __future__ import annotations

import importlib
import inspect
from importlib.metadata import entry_points
from typing import Any

from drivers.errors import DriverArgumentError, ReaderError
from drivers.reader import Reader

GROUP = "smartlib.readers"

BUILTIN: dict[str, str] = {
    "feig": "drivers.feig.reader:FeigReader",
    "llrp": "drivers.llrp.reader:LlrpReader",
    "pcsc15693": "drivers.pcsc15693.base:PcscIso15693Reader",
    "sim": "drivers.feig.reader:FeigReader",
}


def _targets() -> dict[str, str]:
    found = {ep.name: ep.value for ep in entry_points(group=GROUP)}
    found.update(BUILTIN)  # built-ins cannot be shadowed by a plug-in
    return found


def available() -> list[str]:
    """Names of every known reader driver."""
    return sorted(_targets())


def reader_class(name: str) -> type[Reader]:
    """The class registered under ``name``.

    Raises:
        ReaderError: unknown name, a module that does not import, or not a Reader.
    """
    target = _targets().get(name)
    if target is None:
        raise ReaderError(f"unknown reader driver {name!r}; known: {', '.join(available())}")
    module, _, attr = target.partition(":")
    try:
        cls = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise ReaderError(f"reader driver {name!r} ({target}) cannot be loaded: {exc}") from exc
    if not (isinstance(cls, type) and issubclass(cls, Reader)):
        raise ReaderError(f"reader driver {name!r} ({target}) is not a Reader")
    return cls


def create_reader(name: str, url: str, **options: Any) -> Reader:
    """An unopened reader: ``create_reader("feig", "/dev/ttyUSB0", baudrate=38400)``.

    Options are the class's keyword arguments (for FEIG: baudrate, parity, com_address,
    timeout_s, antennas, retries, reopen_after, write_retries).

    Raises:
        ReaderError: as for :func:`reader_class`.
        DriverArgumentError: an option the class does not take, or a bad option value.
    """
    cls = reader_class(name)
    try:
        inspect.signature(cls).bind(url, **options)
    except TypeError as exc:
        known = [p for p in inspect.signature(cls).parameters if p != "url"]
        raise DriverArgumentError(
            f"reader driver {name!r} does not take these options ({exc}); "
            f"expected some of: {', '.join(known)}") from exc
    return cls(url, **options)  # type: ignore[call-arg]
