"""The tagging station: ``smartlib tag program`` and ``smartlib tag read`` over any reader.

``program`` writes ISO 28560 data to the one tag on the antenna, the DSFID that names the
format (0x06 for ISO 28560-2; a stale 0x06 is cleared to 0x00 for ISO 28560-3), then its
secured state (AFI and/or EAS per ``--security``), each verified by reading back, and prints JSON. It
refuses a tag that already carries data anywhere in its user memory unless ``--overwrite``;
then every non-zero block after the new image is zeroed too (old bytes there would be read
as part of the new data), and the whole memory is read back and compared. Locked blocks
that would have to be written are reported before anything is written. ``read`` prints every tag on the antenna, decoded. Uses click only (drivers may
not import smartlib).
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

import click

from drivers.errors import (
    DriverError,
    FrameError,
    ReaderDisconnected,
    ReaderError,
    ReaderTimeout,
    TagFormatError,
    TagLocked,
    TagNotFound,
)
from drivers.reader import Reader
from drivers.registry import create_reader
from drivers.tags import DSFID_ISO28560_2, ItemTagData, SecurityPolicy, decode_tag, encode_tag

log = logging.getLogger("drivers.station")

EXIT_NO_TAG = 3
EXIT_HAS_DATA = 4
EXIT_LOCKED = 5
EXIT_READER = 6


def _fail(code: int, message: str, **extra: Any) -> None:
    click.echo(json.dumps({"error": message, **extra}, ensure_ascii=False), err=True)
    sys.exit(code)


def _reader_options(fn: Any) -> Any:
    for opt in reversed([
        click.option("--reader", "url", required=True, help="Reader URL: /dev/ttyUSB0, a pty, socket://host:port."),
        click.option("--driver", default="feig", show_default=True, help="Reader driver name."),
        click.option("--baudrate", type=int, default=38400, show_default=True),
        click.option("--timeout", "timeout_s", type=float, default=0.5, show_default=True),
    ]):
        fn = opt(fn)
    return fn


def _open(driver: str, url: str, baudrate: int, timeout_s: float) -> Reader:
    try:
        return create_reader(driver, url, baudrate=baudrate, timeout_s=timeout_s).open()
    except DriverError as exc:
        _fail(EXIT_READER, f"cannot open reader {url}: {exc}")
        raise  # unreachable


def _int(text: str | int) -> int:
    return text if isinstance(text, int) else int(text, 0)


def _locked_blocks(reader: Reader, uid: str, count: int) -> set[int]:
    """Locked block numbers, or an empty set if this reader cannot tell (then a locked
    block shows up as TagLocked on the write)."""
    try:
        return {i for i, sec in enumerate(reader.block_security(uid, 0, count)) if sec & 1}
    except (TagNotFound, ReaderTimeout, ReaderDisconnected, FrameError):
        raise
    except ReaderError as exc:  # the command is optional: not every reader has it
        log.info("block security status not available (%s); locks show on write", exc)
        return set()


def _runs(blocks: list[int]) -> list[tuple[int, int]]:
    """Consecutive block numbers as (first, count) runs."""
    runs: list[tuple[int, int]] = []
    for b in blocks:
        if runs and runs[-1][0] + runs[-1][1] == b:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((b, 1))
    return runs


def _ranges(blocks: list[int]) -> str:
    return ", ".join(str(f) if n == 1 else f"{f}-{f + n - 1}" for f, n in _runs(blocks))


@click.command("program")
@_reader_options
@click.option("--item", required=True, help="Primary item identifier (barcode).")
@click.option("--parts", type=int, default=1, show_default=True, help="Parts in the set.")
@click.option("--part", type=int, default=1, show_default=True, help="This part's number.")
@click.option("--isil", default="", help="Owner library ISIL (e.g. VN-HN0001).")
@click.option("--country", default="VN", show_default=True)
@click.option("--format", "fmt", type=click.Choice(["iso28560-3", "iso28560-2"]),
              default="iso28560-3", show_default=True)
@click.option("--security", "mode", type=click.Choice(["afi", "eas", "both"]), default="afi",
              show_default=True, help="How the secured state is stored.")
@click.option("--afi-secured", type=_int, default=0x07, show_default=True)
@click.option("--afi-released", type=_int, default=0xC2, show_default=True)
@click.option("--overwrite", is_flag=True, help="Overwrite a tag that already carries data.")
def program(url: str, driver: str, baudrate: int, timeout_s: float, item: str, parts: int,
            part: int, isil: str, country: str, fmt: str, mode: str, afi_secured: int,
            afi_released: int, overwrite: bool) -> None:
    """Write ISO 28560 data and the secured state to the one tag on the antenna."""
    try:
        policy = SecurityPolicy(mode, afi_secured, afi_released)
        data = ItemTagData(item, parts_in_item=parts, part_number=part, country=country, isil=isil)
        image = encode_tag(data, fmt=fmt)
    except TagFormatError as exc:
        raise click.BadParameter(str(exc)) from exc
    reader = _open(driver, url, baudrate, timeout_s)
    try:
        tags = reader.inventory()
        if len(tags) != 1:
            _fail(EXIT_NO_TAG, f"expected exactly one tag on the antenna, found {len(tags)}",
                  uids=[t.uid for t in tags])
        uid = tags[0].uid
        info = reader.system_info(uid)
        bs, total = info.block_size, info.block_count
        image += bytes(-len(image) % bs)  # whole blocks of this tag's size
        if len(image) > bs * total:
            _fail(EXIT_READER, f"data needs {len(image)} bytes, the tag has {bs * total}", uid=uid)
        current = reader.read_blocks(uid, 0, total)  # the whole user memory, as readers see it
        if any(current) and not overwrite:
            existing = decode_tag(current, dsfid=info.dsfid, lenient=True).to_json_dict()
            _fail(EXIT_HAS_DATA, "the tag already carries data; use --overwrite to replace it",
                  uid=uid, existing=existing)
        n_image = len(image) // bs
        # Old data after the new image (a longer earlier image) would be read as part of
        # it -- e.g. as broken ISO 28560-3 extension blocks -- so those blocks are zeroed.
        stale = [b for b in range(n_image, total) if any(current[b * bs:(b + 1) * bs])]
        locked = _locked_blocks(reader, uid, total)
        blocking = sorted((set(range(n_image)) | set(stale)) & locked)
        if blocking:
            _fail(EXIT_LOCKED, f"the tag has locked blocks {_ranges(blocking)} that would have "
                               "to be written; nothing was written", uid=uid, locked=blocking)
        try:
            reader.write_blocks(uid, 0, image, verify=True)
            for first, count in _runs(stale):
                reader.write_blocks(uid, first, bytes(count * bs), verify=True)
        except TagLocked as exc:
            _fail(EXIT_LOCKED, f"the tag has locked blocks and cannot be programmed: {exc}", uid=uid)
        expected = bytearray(current)
        expected[:len(image)] = image
        for b in stale:
            expected[b * bs:(b + 1) * bs] = bytes(bs)
        final = reader.read_blocks(uid, 0, total)
        if final != expected:
            bad = next(b for b in range(total)
                       if final[b * bs:(b + 1) * bs] != expected[b * bs:(b + 1) * bs])
            _fail(EXIT_READER, f"verify failed: block {bad} does not read back as written", uid=uid)
        # The DSFID says how the data is formatted: 0x06 for ISO 28560-2 (ISO/IEC 15962).
        # ISO 28560-3 has no DSFID of its own; a 0x06 left from an earlier -2 image would
        # make readers parse the new image as -2, so it is cleared.
        dsfid = info.dsfid
        if fmt == "iso28560-2" and dsfid != DSFID_ISO28560_2:
            dsfid = DSFID_ISO28560_2
        elif fmt == "iso28560-3" and dsfid == DSFID_ISO28560_2:
            dsfid = 0x00
        if dsfid != info.dsfid:
            try:
                reader.write_dsfid(uid, dsfid, verify=True)
            except TagLocked as exc:
                _fail(EXIT_LOCKED, f"data written, but the DSFID is locked at "
                                   f"{info.dsfid:#04x}: {exc}", uid=uid)
        target = policy.target("secured")
        if target.afi is not None:
            try:
                reader.write_afi(uid, target.afi, verify=True)
            except TagLocked as exc:
                _fail(EXIT_LOCKED, f"data written, but the AFI is locked: {exc}", uid=uid)
        eas_ok = None
        if target.eas is not None:
            reader.set_eas(uid, target.eas)
            eas_ok = reader.eas_alarm() == target.eas  # one tag on the antenna: its own answer
            if not eas_ok:
                _fail(EXIT_READER, "the EAS bit did not read back as set", uid=uid)
        # decoded from the whole memory, as kiosks and ``tag read`` will read it
        written = decode_tag(final, dsfid=dsfid).to_json_dict()
        click.echo(json.dumps({"uid": uid, "format": fmt, "dsfid": dsfid, "written": written,
                               "afi": target.afi, "eas": target.eas, "blocks": n_image,
                               "cleared_blocks": stale}, ensure_ascii=False))
    except DriverError as exc:
        _fail(EXIT_READER, f"{type(exc).__name__}: {exc}")
    finally:
        reader.close()


@click.command("read")
@_reader_options
@click.option("--afi-secured", type=_int, default=0x07, show_default=True)
@click.option("--afi-released", type=_int, default=0xC2, show_default=True)
def read(url: str, driver: str, baudrate: int, timeout_s: float, afi_secured: int,
         afi_released: int) -> None:
    """Print every tag on the antenna, decoded, as a JSON list."""
    policy = SecurityPolicy("afi", afi_secured, afi_released)
    reader = _open(driver, url, baudrate, timeout_s)
    out = []
    try:
        for t in reader.inventory():
            info = reader.system_info(t.uid)
            memory = reader.read_blocks(t.uid, 0, info.block_count)
            decoded = decode_tag(memory, dsfid=info.dsfid, lenient=True)
            out.append({"uid": t.uid, "antenna": t.antenna, "dsfid": info.dsfid, "afi": info.afi,
                        "security": str(policy.interpret(info.afi)),
                        "data": decoded.to_json_dict()})
    except DriverError as exc:
        _fail(EXIT_READER, f"{type(exc).__name__}: {exc}")
    finally:
        reader.close()
    click.echo(json.dumps(out, ensure_ascii=False))
