"""``smartlib tag``: decode and encode library tag data from the command line.

Uses click only (drivers may not import smartlib). Its JSON output is a contract: the keys
are ``drivers.tags.model.JSON_KEYS`` (the issue's list plus ``detected_by`` and
``reversed_blocks``). Other modules add ``program`` and ``read`` below.
"""

from __future__ import annotations

import json
import sys

import click

from drivers.errors import TagFormatError
from drivers.tags import ItemTagData, decode_tag, decode_uhf, encode_tag, encode_uhf

UHF_FORMAT = "iso28560-4"


@click.group(name="tag")
def tag() -> None:
    """Decode and encode ISO 28560 / RFID501 library tag data."""


@tag.command()
@click.argument("hex_data", metavar="HEX")
@click.option("--format", "fmt", default="auto", show_default=True,
              type=click.Choice(["auto", "iso28560-3", "iso28560-2", "rfid501", UHF_FORMAT]),
              help=f"{UHF_FORMAT}: HEX is the EPC bank from word 1 (PC word + UII).")
@click.option("--reversed-blocks", is_flag=True, help="The 4-byte blocks are byte-reversed.")
@click.option("--dsfid", type=str, default=None, help="The tag's DSFID (hex, e.g. 06).")
@click.option("--user", "user_hex", type=str, default=None,
              help=f"{UHF_FORMAT} only: the user memory bank (MB11) as hex.")
@click.option("--lenient", is_flag=True, help="Print what decodes, with problems; exit 0.")
@click.option("--explain", is_flag=True, hidden=True,
              help="Accepted for compatibility: detected_by and reversed_blocks are always printed.")
def decode(hex_data: str, fmt: str, reversed_blocks: bool, dsfid: str | None,
           user_hex: str | None, lenient: bool, explain: bool) -> None:
    """Decode tag user memory given as HEX (spaces allowed); print one JSON object.

    The object always says which rule found the format (``detected_by``) and whether the
    4-byte blocks were byte-reversed (``reversed_blocks``). A blank tag's empty primary
    item id is listed in ``problems`` and exits 0, also without ``--lenient``; invalid
    data and unsupported ISO/IEC 15962 constructs exit 2 with the error on stderr. With
    ``--format iso28560-4`` HEX is a UHF tag's EPC bank from word 1 and ``--user`` its user
    memory; the JSON adds the PC word's fields (``afi``, ``toggle``, ...) and ``uii``.
    """
    del explain  # the keys it used to add are always there now
    if user_hex is not None and fmt != UHF_FORMAT:
        click.echo(f"error: --user is for --format {UHF_FORMAT} only", err=True)
        sys.exit(2)
    if fmt == UHF_FORMAT and (dsfid is not None or reversed_blocks):
        click.echo(f"error: --dsfid and --reversed-blocks do not apply to {UHF_FORMAT} (its "
                   "DSFID is the user memory's first byte)", err=True)
        sys.exit(2)
    try:
        memory = bytes.fromhex(hex_data.replace(":", " "))
        user = bytes.fromhex(user_hex.replace(":", " ")) if user_hex is not None else b""
        dsfid_value = int(dsfid, 16) if dsfid is not None else None
    except ValueError as exc:
        click.echo(f"error: not hexadecimal: {exc}", err=True)
        sys.exit(2)
    try:
        if fmt == UHF_FORMAT:
            result = decode_uhf(memory, user, strict=not lenient).to_json_dict()
        else:
            result = decode_tag(memory, dsfid=dsfid_value, fmt=fmt,
                                reversed_blocks=True if reversed_blocks else None,
                                lenient=lenient).to_json_dict()
    except TagFormatError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    click.echo(json.dumps(result, ensure_ascii=False))


@tag.command()
@click.option("--item", "item_id", required=True, help="Primary item identifier.")
@click.option("--isil", default="", help="Owner ISIL, e.g. VN-HN0001 (or just HN0001).")
@click.option("--country", default="VN", show_default=True, help="Owner country (ISO 3166).")
@click.option("--parts", default=1, show_default=True, type=int, help="Parts in the item.")
@click.option("--part", default=1, show_default=True, type=int, help="This part's number.")
@click.option("--type-of-usage", default=1, show_default=True, type=int)
@click.option("--format", "fmt", default="iso28560-3", show_default=True,
              type=click.Choice(["iso28560-3", "iso28560-2", UHF_FORMAT]))
@click.option("--blocks", default=None, type=int, help="Pad to this many 4-byte blocks.")
@click.option("--version", "version", default=None, type=click.Choice(["1", "2"]),
              help="ISO 28560-3 data model version [default: 1]; not for iso28560-2.")
@click.option("--afi", default="07", show_default=True,
              help=f"{UHF_FORMAT} only: the PC word's AFI (hex; 07 in stock, C2 on loan).")
def encode(item_id: str, isil: str, country: str, parts: int, part: int, type_of_usage: int,
           fmt: str, blocks: int | None, version: str | None, afi: str) -> None:
    """Print the user-memory image for an item as hex.

    With ``--format iso28560-4`` print ``{"epc": HEX, "user": HEX}``: the EPC bank from
    word 1 (PC word with the AFI, UII ``ISIL.ITEM``; ``--isil`` must be the full ISIL) and
    the user memory (set information, type of usage ``category << 4``).
    """
    if fmt == UHF_FORMAT:
        _encode_uhf(item_id, isil, parts, part, type_of_usage, blocks, version, afi)
        return
    item = ItemTagData(primary_item_id=item_id, parts_in_item=parts, part_number=part,
                       type_of_usage=type_of_usage, country=country, isil=isil)
    try:
        image = encode_tag(item, fmt=fmt, blocks=blocks,
                           version=None if version is None else int(version))
    except TagFormatError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    click.echo(image.hex().upper())


def _encode_uhf(item_id: str, isil: str, parts: int, part: int, type_of_usage: int,
                blocks: int | None, version: str | None, afi: str) -> None:
    if blocks is not None or version is not None:
        click.echo(f"error: --blocks and --version do not apply to {UHF_FORMAT}", err=True)
        sys.exit(2)
    try:
        afi_value = int(afi, 16)
    except ValueError:
        click.echo(f"error: --afi {afi!r} is not hexadecimal", err=True)
        sys.exit(2)
    try:
        if not 0 <= type_of_usage <= 15:
            raise TagFormatError("type of usage must be 0..15", "type_of_usage")
        memory = encode_uhf(item_id, owner_library=isil or None, afi=afi_value,
                            set_info=(parts, part) if parts > 1 else None,
                            type_of_usage=type_of_usage << 4)
    except TagFormatError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    click.echo(json.dumps({"epc": memory.epc.hex().upper(), "user": memory.user.hex().upper()}))

from drivers.station import program, read  # noqa: E402  (the tagging station's commands)

tag.add_command(program)
tag.add_command(read)
