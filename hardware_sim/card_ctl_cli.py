"""``smartlib sim ctl card``: insert, remove and fault the simulator's virtual card.

The commands call the running simulator's control API (routes from
:func:`hardware_sim.card.card_router`) at the URL the ``ctl`` group puts in
``ctx.obj["sim_url"]`` (from ``--url`` or ``SMARTLIB_SIM_URL``).
"""

from __future__ import annotations

import json
from typing import Any

import click
import httpx

DEFAULT_SIM_URL = "http://127.0.0.1:7000"
"""The control API of ``smartlib sim serve`` with its default ``--control-port`` (the
``ctl`` group's ``--url`` default); used only when the group did not set a URL."""

CARD_KINDS = ("iso15693", "mifare-classic-1k", "mifare-classic-4k", "ultralight", "desfire")


def _call(method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    ctx = click.get_current_context()
    obj = ctx.obj if isinstance(ctx.obj, dict) else {}
    base = str(obj.get("sim_url") or DEFAULT_SIM_URL).rstrip("/")
    try:
        resp = httpx.request(method, base + path, json=body, timeout=10.0)
    except httpx.HTTPError as exc:
        raise click.ClickException(f"simulator control API at {base} unreachable: {exc}") from exc
    if resp.status_code >= 400:
        try:
            detail = resp.json().get("detail", resp.text)
        except ValueError:
            detail = resp.text
        raise click.ClickException(f"{method} {path} failed ({resp.status_code}): {detail}")
    result: dict[str, Any] = resp.json()
    return result


def _show(state: dict[str, Any]) -> None:
    click.echo(json.dumps(state, indent=2, sort_keys=True))


@click.group("card")
def card() -> None:
    """The virtual card on the simulated PC/SC reader."""


@card.command("insert")
@click.option("--uid", help="the card UID in hex (8 bytes: ISO 15693; 4 or 7: ISO 14443A)")
@click.option("--patron", help="a patron card: ISO 28560 data (type of usage 8) with this ID")
@click.option("--kind", type=click.Choice(CARD_KINDS), default=None,
              help="card type for --uid (default from the UID length)")
def insert(uid: str | None, patron: str | None, kind: str | None) -> None:
    """Put a card on the reader."""
    if (uid is None) == (patron is None):
        raise click.UsageError("give exactly one of --uid or --patron")
    _show(_call("POST", "/card/insert", {"uid": uid, "patron": patron, "kind": kind}))


@card.command("remove")
def remove() -> None:
    """Take the card off the reader."""
    _show(_call("POST", "/card/remove"))


@card.command("fault")
@click.argument("kind", type=click.Choice(["remove-mid-apdu", "status-word", "slow", "clear"]))
@click.option("--sw", help="status word for status-word, 4 hex digits (e.g. 6300)")
@click.option("--delay", "delay_s", type=float, default=1.0, show_default=True,
              help="seconds for slow")
@click.option("--count", type=int, default=1, show_default=True,
              help="how many APDUs the fault applies to")
def fault(kind: str, sw: str | None, delay_s: float, count: int) -> None:
    """Arm a fault for the next APDUs."""
    _show(_call("POST", "/card/fault",
                {"kind": kind, "sw": sw, "delay_s": delay_s, "count": count}))


@card.command("status")
def status() -> None:
    """Show the card, the vpcd connection and the armed faults."""
    _show(_call("GET", "/card"))
