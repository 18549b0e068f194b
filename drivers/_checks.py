"""Argument checks shared by the drivers: they raise typed :class:`DriverArgumentError`\\ s.

Every message names the argument, the value received and what was expected. This module
does no I/O and holds no state.
"""

from __future__ import annotations

from typing import Any

from drivers.errors import DriverArgumentError, DriverArgumentTypeError


def check_int(name: str, value: Any, lo: int, hi: int) -> int:
    """Return ``value`` if it is an integer in ``lo..hi``.

    Args:
        name: how the message names the argument (e.g. ``"AFI"``).
        value: what the caller passed.
        lo: the smallest allowed value.
        hi: the largest allowed value.

    Raises:
        DriverArgumentTypeError: ``value`` is not an ``int`` (a ``bool`` is refused too).
        DriverArgumentError: ``value`` is outside ``lo..hi``.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise DriverArgumentTypeError(
            f"{name} must be an integer {lo}..{hi}, got {type(value).__name__} {value!r}")
    if not lo <= value <= hi:
        raise DriverArgumentError(f"{name} must be {lo}..{hi}, got {value}")
    return value


def check_bytes(name: str, value: Any) -> bytes:
    """Return ``value`` as ``bytes`` if it is bytes-like (bytes, bytearray, memoryview).

    Raises:
        DriverArgumentTypeError: ``value`` is not bytes-like.
    """
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise DriverArgumentTypeError(f"{name} must be bytes, got {type(value).__name__}")
    return bytes(value)


def check_block_range(first: Any, count: Any, *, max_count: int = 256) -> tuple[int, int]:
    """Check that ``count`` blocks from ``first`` lie within tag blocks 0..255.

    Args:
        first: the first block number.
        count: how many blocks.
        max_count: the most blocks one command may carry.

    Raises:
        DriverArgumentTypeError: ``first`` or ``count`` is not an integer.
        DriverArgumentError: ``first`` is outside 0..255, ``count`` below 1 or above
            ``max_count``, or ``first + count - 1`` beyond block 255.
    """
    check_int("first block", first, 0, 255)
    check_int("block count", count, 1, max_count)
    if first + count > 256:
        raise DriverArgumentError(
            f"blocks {first}..{first + count - 1} run past block 255; expected first + count <= 256")
    return first, count
