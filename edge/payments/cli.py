"""``smartlib pay``: the payments command group (``pay vietqr`` builds a VietQR payload).

The group is a :class:`smartlib.cli.LazyCommands`: later payment subcommands register in
:data:`SUBCOMMANDS` and are imported only when they run.
"""

from __future__ import annotations

from pathlib import Path

import click

from edge.payments.vietqr import SERVICE_ACCOUNT, SERVICE_CARD, VietQR, VietQRError, encode
from smartlib.cli import LazyCommands

SUBCOMMANDS = {"vietqr": "edge.payments.cli:vietqr"}

_OPTION = {"bank_bin": "bank", "purpose": "ref"}
"""The CLI option of a :class:`VietQRError` field where the names differ."""

pay = LazyCommands("pay", help="Payments at the kiosk (VietQR).", lazy=SUBCOMMANDS)


@click.command()
@click.option("--bank", "bank_bin", required=True, help="the beneficiary bank's BIN (6 digits)")
@click.option("--account", required=True, help="the account number (or card number, --card)")
@click.option("--amount", type=int, required=True, help="the amount in whole VND")
@click.option("--ref", "reference", default=None,
              help="the reference (purpose of transaction, at most 25 ASCII characters)")
@click.option("--card", is_flag=True, help="--account is a card number (service QRIBFTTC)")
@click.option("--png", "png", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="also write the QR code as a PNG image to this file")
@click.option("--scale", type=click.IntRange(1, 40), default=8, show_default=True,
              help="pixels per QR module in the PNG")
def vietqr(bank_bin: str, account: str, amount: int, reference: str | None, card: bool,
           png: Path | None, scale: int) -> None:
    """Print a dynamic NAPAS VietQR payload for one payment (and optionally its PNG)."""
    try:
        payload = encode(VietQR(bank_bin=bank_bin, account=account, amount=amount,
                                purpose=reference,
                                service=SERVICE_CARD if card else SERVICE_ACCOUNT))
    except VietQRError as exc:
        raise click.BadParameter(exc.message, param_hint=f"--{_OPTION.get(exc.field, exc.field)}") from exc
    click.echo(payload)
    if png is not None:
        import segno

        try:
            segno.make(payload, error="m", micro=False).save(str(png), kind="png", scale=scale,
                                                               border=4)
        except OSError as exc:
            raise click.ClickException(f"cannot write {png}: {exc.strerror}") from exc

