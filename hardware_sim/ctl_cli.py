"""``smartlib sim ctl``: talk to a running simulator's control API (hardware_sim.control_api)."""

from __future__ import annotations

import json
from typing import Any

import click
import httpx

from smartlib.cli import LazyCommands


@click.group(cls=LazyCommands, lazy={"card": "hardware_sim.card_ctl_cli:card"})
@click.option("--url", envvar="SMARTLIB_SIM_URL", default="http://127.0.0.1:7000",
              show_default=True, help="The simulator's control URL (env SMARTLIB_SIM_URL).")
@click.pass_context
def ctl(ctx: click.Context, url: str) -> None:
    """Control a running simulator (smartlib sim serve)."""
    ctx.ensure_object(dict)
    ctx.obj["sim_url"] = url


def _call(ctx: click.Context, method: str, path: str, body: Any = None) -> Any:
    url = ctx.obj["sim_url"].rstrip("/") + path
    try:
        resp = httpx.request(method, url, json=body, timeout=10)
    except httpx.HTTPError as exc:
        raise click.ClickException(f"cannot reach the simulator at {url}: {exc}") from exc
    if resp.status_code >= 400:
        try:
            detail = resp.json().get("detail", resp.text)
        except ValueError:
            detail = resp.text
        raise click.ClickException(f"{method} {path}: {resp.status_code} {detail}")
    return resp.json()


def _echo(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False))


@ctl.command()
@click.pass_context
def status(ctx: click.Context) -> None:
    """Zones, readers, outputs, inputs, counters and the modelled floor."""
    _echo(_call(ctx, "GET", "/status"))


@ctl.command()
@click.option("--item", help="Item id (ISO 28560-3 data is programmed for it).")
@click.option("--spec", help='A full tag spec as JSON, e.g. \'{"uid": "E004...", "memory": "..."}\'.')
@click.option("--zone", default="pad", show_default=True)
@click.option("--parts", type=int, default=None, help="Parts in the set.")
@click.option("--present", default=None, help="Only these parts (comma list): a partial set.")
@click.option("--isil", default=None)
@click.option("--afi", default=None, help="AFI (e.g. 0x07 secured, 0xC2 on loan).")
@click.option("--eas/--no-eas", default=None)
@click.pass_context
def place(ctx: click.Context, item: str | None, spec: str | None, zone: str, parts: int | None,
          present: str | None, isil: str | None, afi: str | None, eas: bool | None) -> None:
    """Place a tag (by item id or full spec) in a zone."""
    if bool(item) == bool(spec):
        raise click.UsageError("give exactly one of --item or --spec")
    body: dict[str, Any] = json.loads(spec) if spec else {"item": item}
    body["zone"] = zone
    for key, value in (("parts", parts), ("isil", isil), ("eas", eas)):
        if value is not None:
            body[key] = value
    if afi is not None:
        body["afi"] = int(afi, 0)
    if present:
        body["present"] = [int(p) for p in present.split(",")]
    _echo(_call(ctx, "POST", "/tags", body))


@ctl.command()
@click.argument("key")
@click.pass_context
def remove(ctx: click.Context, key: str) -> None:
    """Take a tag (UID) or all tags of an item (item id) out of the field."""
    _echo(_call(ctx, "DELETE", f"/tags/{key}"))


@ctl.command()
@click.option("--zone", default=None)
@click.pass_context
def clear(ctx: click.Context, zone: str | None) -> None:
    """Remove every tag (of one zone)."""
    _echo(_call(ctx, "POST", "/tags/clear", {"zone": zone}))


@ctl.command()
@click.argument("items", nargs=-1, required=True)
@click.option("--reader", default=None, help="The gate reader (default: the first).")
@click.option("--direction", type=click.Choice(["in", "out"]), default="out", show_default=True)
@click.option("--speed", "speed_m_s", type=float, default=1.2, show_default=True, help="m/s")
@click.pass_context
def walk(ctx: click.Context, items: tuple[str, ...], reader: str | None, direction: str,
         speed_m_s: float) -> None:
    """Walk a patron carrying ITEMS (item ids or UIDs) through a gate."""
    _echo(_call(ctx, "POST", "/walk", {"items": list(items), "reader": reader,
                                       "direction": direction, "speed_m_s": speed_m_s}))


@ctl.command()
@click.argument("reader")
@click.argument("kind")
@click.option("--count", type=int, default=1, show_default=True, help="0 = until cleared.")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE",
              help="e.g. seconds=2, bytes=5, status=0x83, rate=0.3 seed=1")
@click.pass_context
def fault(ctx: click.Context, reader: str, kind: str, count: int, params: tuple[str, ...]) -> None:
    """Arm a fault on READER: fail_write, fail_afi, fail_read, fail_system_info,
    corrupt_crc, timeout, garbage, tag_leaves, disconnect, hang, accept_error
    (``--param rate=0.3`` fires on that share of requests)."""
    parsed: dict[str, Any] = {}
    for p in params:
        k, _, v = p.partition("=")
        try:
            parsed[k] = int(v, 0)
        except ValueError:
            try:
                parsed[k] = float(v)
            except ValueError:
                parsed[k] = v
    _echo(_call(ctx, "POST", f"/readers/{reader}/faults",
                {"kind": kind, "count": count or None, "params": parsed}))


@ctl.command("clear-faults")
@click.argument("reader")
@click.pass_context
def clear_faults(ctx: click.Context, reader: str) -> None:
    """Disarm every fault of READER."""
    _echo(_call(ctx, "DELETE", f"/readers/{reader}/faults"))


@ctl.command()
@click.argument("reader")
@click.pass_context
def outputs(ctx: click.Context, reader: str) -> None:
    """READER's outputs now (green, red, buzzer, relay …)."""
    _echo(_call(ctx, "GET", f"/readers/{reader}")["outputs"])


@ctl.command()
@click.argument("reader")
@click.pass_context
def counters(ctx: click.Context, reader: str) -> None:
    """READER's counters and modelled floor."""
    st = _call(ctx, "GET", f"/readers/{reader}")
    _echo({"counters": st["counters"], "floor": st["floor"]})


@ctl.command("input")
@click.argument("reader")
@click.argument("number", type=int)
@click.argument("state", type=click.Choice(["on", "off"]))
@click.pass_context
def set_input(ctx: click.Context, reader: str, number: int, state: str) -> None:
    """Drive input NUMBER of READER (1 = IR beam A, 2 = beam B)."""
    _echo(_call(ctx, "POST", f"/readers/{reader}/inputs", {"number": number, "on": state == "on"}))


@ctl.command("ils")
@click.option("--outage", type=click.Choice(["on", "off"]), default=None,
              help="Drop every SIP2 connection and refuse new ones (on), or serve again (off).")
@click.option("--latency", type=click.FloatRange(0, 60), default=None,
              help="Seconds the demo ILS waits before each answer.")
@click.pass_context
def ils_faults(ctx: click.Context, outage: str | None, latency: float | None) -> None:
    """The embedded demo ILS's faults (outage, latency) and counters."""
    if outage is None and latency is None:
        _echo(_call(ctx, "GET", "/ils"))
        return
    body: dict[str, Any] = {}
    if outage is not None:
        body["outage"] = outage == "on"
    if latency is not None:
        body["latency_s"] = latency
    _echo(_call(ctx, "POST", "/ils/faults", body))


@ctl.group()
def bank() -> None:
    """The simulated bank (smartlib sim serve --bank-webhook URL)."""


@bank.command("pay")
@click.option("--ref", default=None, help="The payment's reference (the QR's purpose field).")
@click.option("--amount", type=click.IntRange(min=1), default=None,
              help="VND to pay (default: the amount in --qr).")
@click.option("--qr", "payload", default=None,
              help="The VietQR payload shown by the kiosk: its reference and amount are used.")
@click.option("--txn", "bank_txn_id", default=None,
              help="The bank transaction id (repeat one to simulate a duplicated notification).")
@click.pass_context
def bank_pay(ctx: click.Context, ref: str | None, amount: int | None, payload: str | None,
             bank_txn_id: str | None) -> None:
    """Pay a shown QR: the bank posts the signed notification to the centre's webhook."""
    if payload:
        from edge.payments.vietqr import VietQRError, decode

        try:
            qr = decode(payload)
        except VietQRError as exc:
            raise click.BadParameter(str(exc), param_hint="--qr") from exc
        ref = ref or qr.purpose
        amount = amount or qr.amount
    if not ref:
        raise click.UsageError("give --ref (or a --qr with a purpose)")
    if not amount:
        raise click.UsageError("give --amount (or a --qr with an amount)")
    _echo(_call(ctx, "POST", "/bank/pay", {"ref": ref, "amount": amount,
                                           "bank_txn_id": bank_txn_id}))
