"""``smartlib sip2``: talk SIP2 to any ILS from the command line, one exchange per run.

Each command logs in (93), does one exchange and prints ONE JSON object: the parsed answer
with a snake_case name for every fixed and variable field, plus ``raw`` (the answer's frame
text). Booleans are JSON booleans; ``U`` and blank values are null. This output is a
contract used by acceptance tests outside the repository.

Exit codes: 0 a completed exchange (even when the ILS refused the request); 1 the ILS could
not be reached or the connection failed (a TLS certificate that is not trusted included);
2 a usage error (Click's, or a bad ``--date``, reported before connecting); 3 the ILS
refused the login; 4 a protocol or codec error. Every error is one line on stderr.
"""

from __future__ import annotations

import json
import ssl
import sys
from collections.abc import Callable
from typing import Any, NoReturn

import click

from sync.errors import Sip2ConnectionError, Sip2DateError, Sip2Error, Sip2LoginError
from sync.sip2.client import Sip2Client, client_tls_context
from sync.sip2.codec import TERMINATORS, Decoded
from sync.sip2.messages import Message
from sync.sip2.profiles import PROFILES

EXIT_CONNECTION = 1
EXIT_USAGE = 2
EXIT_LOGIN = 3
EXIT_PROTOCOL = 4


def _json_value(v: Any) -> Any:
    if isinstance(v, str):
        return None if v.strip() == "" or v == "U" else v
    if isinstance(v, tuple):
        return list(v)
    return v


def message_json(msg: Message, raw: bytes | None, charset: str) -> dict[str, Any]:
    """The CLI's JSON object for one decoded answer."""
    out: dict[str, Any] = {"command": msg.COMMAND, "message": type(msg).__name__}
    for name, value in msg.to_dict().items():
        if name in ("command", "message", "extra"):
            continue
        out[name] = [x for x in value] if isinstance(value, list) else _json_value(value)
    out["extra"] = [[c, v] for c, v in msg.extra]
    out["raw"] = raw.decode(charset, "replace").rstrip("\r\n") if raw is not None else None
    return out


def _fail(code: int, text: str) -> NoReturn:
    click.echo(f"smartlib sip2: {text}", err=True)
    sys.exit(code)


@click.group(name="sip2")
@click.option("--host", required=True, help="The ILS's SIP2 host.")
@click.option("--port", required=True, type=int, help="The ILS's SIP2 port.")
@click.option("--user", required=True, help="SIP2 login user (CN).")
@click.option("--password", required=True, help="SIP2 login password (CO).")
@click.option("--institution", required=True, help="Institution id (AO).")
@click.option("--location", default=None, help="Location code (CP) and checkin location.")
@click.option("--profile", type=click.Choice(sorted(PROFILES)), default="generic",
              show_default=True, help="ILS profile (charset, terminator, semantics).")
@click.option("--encoding", type=click.Choice(["utf-8", "latin-1", "cp850", "ascii"]),
              default=None, help="Charset on the wire (default: the profile's).")
@click.option("--error-detection/--no-error-detection", default=False, show_default=True,
              help="Send AY/AZ sequence and checksum.")
@click.option("--terminator", type=click.Choice(["cr", "crlf", "lf"]), default=None,
              help="Message terminator sent (default: the profile's); input accepts all.")
@click.option("--timeout", type=float, default=10.0, show_default=True,
              help="Seconds to wait for each answer.")
@click.option("--tls", is_flag=True, help="Connect with TLS (system CAs unless --tls-ca).")
@click.option("--tls-ca", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Trust only these PEM CA certificates (implies --tls).")
@click.option("--tls-insecure", is_flag=True,
              help="TLS without checking the certificate or host name (testing only; implies --tls).")
@click.option("--tls-server-name", default=None,
              help="Host name to check the certificate against (default: --host).")
@click.pass_context
def sip2(ctx: click.Context, host: str, port: int, user: str, password: str, institution: str,
         location: str | None, profile: str, encoding: str | None, error_detection: bool,
         terminator: str | None, timeout: float, tls: bool, tls_ca: str | None,
         tls_insecure: bool, tls_server_name: str | None) -> None:
    """Send one SIP2 request to an ILS and print the answer as JSON."""
    if tls_ca is not None and tls_insecure:
        raise click.UsageError("--tls-ca and --tls-insecure exclude each other")
    context: ssl.SSLContext | None = None
    if tls or tls_ca is not None or tls_insecure:
        try:
            context = client_tls_context(tls_ca, insecure=tls_insecure)
        except Sip2Error as exc:
            _fail(EXIT_CONNECTION, str(exc))
    ctx.obj = {"make": lambda: Sip2Client(
        host, port, user=user, password=password, institution=institution, location=location,
        profile=profile, charset=encoding, error_detection=error_detection,
        terminator=TERMINATORS[terminator] if terminator else None, timeout=timeout,
        connect_timeout=timeout, keepalive=False, tls=context,
        server_hostname=tls_server_name)}


def _run(ctx: click.Context, action: Callable[[Sip2Client], Message | Decoded],
         dates: dict[str, tuple[str, str | None]] | None = None) -> None:
    """Connect, run ``action``, print its answer; ``dates`` (option -> SIP2 field, value)
    are checked before connecting."""
    client: Sip2Client = ctx.obj["make"]()
    for option, (field, value) in (dates or {}).items():
        if value is not None:
            try:
                client.sip_date(value, field)
            except Sip2DateError as exc:
                _fail(EXIT_USAGE, f"bad {option}: {exc}")
    try:
        client.connect()
        result = action(client)
    except Sip2LoginError as exc:
        _fail(EXIT_LOGIN, f"login refused: {exc}")
    except Sip2ConnectionError as exc:
        _fail(EXIT_CONNECTION, str(exc))
    except Sip2Error as exc:
        _fail(EXIT_PROTOCOL, f"protocol error: {exc}")
    finally:
        client.close()
    raw: bytes | None
    if isinstance(result, Decoded):
        msg, raw = result.message, result.raw
    else:
        msg = result
        raw = client.last_response.raw if client.last_response is not None else None
    click.echo(json.dumps(message_json(msg, raw, client.codec.charset), ensure_ascii=False))


@sip2.command()
@click.pass_context
def status(ctx: click.Context) -> None:
    """SC Status (99) -> ACS Status (98)."""
    _run(ctx, lambda c: c.sc_status())


@sip2.command()
@click.option("--patron", required=True, help="Patron barcode (AA).")
@click.option("--pin", default=None, help="Patron PIN (AD).")
@click.pass_context
def patron(ctx: click.Context, patron: str, pin: str | None) -> None:
    """Patron Information (63) -> 64."""
    _run(ctx, lambda c: c.patron_information(patron, pin))


@sip2.command()
@click.option("--item", required=True, help="Item barcode (AB).")
@click.pass_context
def item(ctx: click.Context, item: str) -> None:
    """Item Information (17) -> 18."""
    _run(ctx, lambda c: c.item_information(item))


@sip2.command()
@click.option("--patron", required=True, help="Patron barcode (AA).")
@click.option("--pin", default=None, help="Patron PIN (AD).")
@click.option("--item", required=True, help="Item barcode (AB).")
@click.option("--no-block", is_flag=True, help="An offline transaction replayed (no block = Y).")
@click.option("--date", default=None, help="Transaction date YYYYMMDDZZZZHHMMSS (with --no-block).")
@click.pass_context
def checkout(ctx: click.Context, patron: str, pin: str | None, item: str, no_block: bool,
             date: str | None) -> None:
    """Checkout (11) -> 12."""
    _run(ctx, lambda c: c.checkout(patron, item, pin=pin, no_block=no_block,
                                   transaction_date=date), dates={"--date": ("transaction_date", date)})


@sip2.command()
@click.option("--item", required=True, help="Item barcode (AB).")
@click.option("--location", "checkin_location", default=None, help="Current location (AP).")
@click.pass_context
def checkin(ctx: click.Context, item: str, checkin_location: str | None) -> None:
    """Checkin (09) -> 10."""
    _run(ctx, lambda c: c.checkin(item, location=checkin_location))


@sip2.command()
@click.option("--patron", required=True, help="Patron barcode (AA).")
@click.option("--item", required=True, help="Item barcode (AB).")
@click.pass_context
def renew(ctx: click.Context, patron: str, item: str) -> None:
    """Renew (29) -> 30."""
    _run(ctx, lambda c: c.renew(patron, item))


@sip2.command()
@click.option("--patron", required=True, help="Patron barcode (AA).")
@click.pass_context
def end(ctx: click.Context, patron: str) -> None:
    """End Patron Session (35) -> 36."""
    _run(ctx, lambda c: c.end_patron_session(patron))


@sip2.command()
@click.argument("message")
@click.pass_context
def raw(ctx: click.Context, message: str) -> None:
    """Send MESSAGE as written (AY/AZ added with --error-detection) and print the answer."""
    _run(ctx, lambda c: c.send_raw(message))
